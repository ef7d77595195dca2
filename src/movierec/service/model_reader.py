"""Read and validate a model folder into frozen arrays (numpy only: no Spark, no pandas).

:func:`read_model` reads what :func:`movierec.model_io.save_model` wrote — ``model.json``,
``factors.npz``, the id maps, each user's seen movies with their ratings (the ``serving/``
index when the folder has one, else ``train_ratings.parquet``), titles and genres — into
private memory, checking every file it reads against the folder's checksum manifest (see
:mod:`movierec.service.model_files`), and validates the whole model before anyone may
serve it:

* ``model.json``: format and version, model kind and parameters, the rating scale;
* factors: shapes against the rank, finite values, every row norm within the bound
  recorded at save time (``integrity.factor_norm_bound``; a generic limit for older
  folders), unique 1-d integer ids, finite biases;
* id maps that cover the ids; a seen-movies index whose offsets, item rows, counts and
  ratings (finite, within the training scale) agree with each other and with
  ``model.json``; titles by movie row.

Anything else raises :class:`~movierec.errors.ModelError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.model_format import (
    FACTOR_KEYS,
    FACTORS,
    LEGACY_NORM_LIMIT,
    MODEL_JSON,
    MODEL_KINDS,
    check_model_dir,
    norm_bounds,
    parse_meta,
    read_manifest,
)
from movierec.service.ease_weights import EaseWeights, read_ease
from movierec.service.model_files import ModelFiles
from movierec.service.training_reader import TrainingData, training_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelParams:
    """The hyper-parameters the service needs (``model.json``'s ``params``)."""

    kind: str
    rank: int
    reg_param: float
    bias_reg: float
    alpha: float
    nonnegative: bool
    unobserved_weight: float = 0.0
    """``ials``'s α0."""
    reg_exponent: float = 1.0
    """``ials``'s ν."""
    ease_blend: float = 0.0
    """``ease``: weight of the implicit-als partner (0: plain EASE, no factors)."""
    ease_blend_reg: float = 0.0
    """``ease``: the partner's regParam (its fold-in's)."""

    @property
    def biased(self) -> bool:
        return self.kind == "biased-als"

    @property
    def implicit(self) -> bool:
        """Spark-style implicit-feedback ALS (Hu, Koren & Volinsky), the fold-in system of
        :mod:`movierec.service.foldin` (also an ``ease`` blend's partner's)."""
        return self.kind == "implicit-als" or (self.kind == "ease" and self.ease_blend > 0)

    @property
    def ials(self) -> bool:
        return self.kind == "ials"

    @property
    def factor_rank(self) -> int:
        """Columns of ``factors.npz``'s factors: the rank; for ``ease`` the blended
        partner's rank, 0 without a blend."""
        if self.kind == "ease" and self.ease_blend == 0:
            return 0
        return self.rank


@dataclass(frozen=True, eq=False)
class ModelArrays:
    """One validated model folder in memory (arrays read-only, rows sorted by id)."""

    path: Path
    meta: dict[str, Any]
    version: str
    """First 12 hex digits of the manifest's SHA-256 (of model.json's for older folders)."""
    params: ModelParams
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray
    """float32, (users, rank), C order."""
    item_factors: np.ndarray
    global_mean: float
    user_bias: np.ndarray
    """float64 (zeros unless ``biased-als``)."""
    item_bias: np.ndarray
    data: TrainingData
    bytes_read: int
    ease: EaseWeights | None = None
    """``ease`` models: the item-item weights (``engine/``)."""


def read_model(path: Path | str, *, base: ModelArrays | None = None) -> ModelArrays:
    """Read and validate the model folder ``path`` (module docstring).

    ``base``: a model whose training data this one shares when both were trained on the
    same data (a ``recommender/`` sub-model); not read again then.

    Raises:
        ModelError: missing, damaged, changed or inconsistent files (the message says which).
    """
    folder = check_model_dir(Path(path))
    raw = _read_meta(folder)
    meta = parse_meta(raw, folder)
    manifest = read_manifest(folder, meta)
    if manifest is None:
        log.warning("%s: no checksum manifest (saved by an older movierec): not verified", folder)
        version = hashlib.sha256(raw).hexdigest()[:12]
    else:
        manifest.verify(MODEL_JSON, hashlib.sha256(raw).hexdigest(), len(raw))
        manifest.check_sizes()
        version = manifest.digest[:12]
    files = ModelFiles(folder, manifest)
    params = _params(meta, folder)
    f = _factors(files, params, meta)
    user_ids, item_ids = f["user_ids"], f["item_ids"]
    if base is not None and _same_data(meta, user_ids, item_ids, base):
        data = base.data
    else:
        data = training_data(files, meta, user_ids, item_ids)
    ease = read_ease(files, item_ids) if params.kind == "ease" else None
    if ease is not None and ease.blend != params.ease_blend:
        raise ModelError(
            f"{folder}: blend {ease.blend} in engine/ease.json, {params.ease_blend} in model.json"
        )
    return ModelArrays(
        path=folder,
        meta=meta,
        version=version,
        params=params,
        user_ids=user_ids,
        item_ids=item_ids,
        user_factors=f["user_factors"],
        item_factors=f["item_factors"],
        global_mean=float(f["global_mean"]),
        user_bias=f["user_bias"],
        item_bias=f["item_bias"],
        data=data,
        bytes_read=files.bytes_read + len(raw),
        ease=ease,
    )


def _read_meta(folder: Path) -> bytes:
    try:
        return (folder / MODEL_JSON).read_bytes()
    except OSError as exc:
        raise ModelError(f"{folder / MODEL_JSON}: unreadable ({exc.strerror or exc})") from exc


def _params(meta: dict[str, Any], folder: Path) -> ModelParams:
    params = meta.get("params")
    if not isinstance(params, dict):
        raise ModelError(f"{folder}: model.json has no params")
    kind = params.get("model", "als")
    if kind not in MODEL_KINDS:
        raise ModelError(
            f"{folder}: model kind {kind!r} is not supported (only {', '.join(MODEL_KINDS)})"
        )
    rank = params.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ModelError(f"{folder}: invalid rank {rank!r} in model.json")
    values = {}
    for name, default in (
        ("reg_param", None),
        ("bias_reg", 0.0),
        ("alpha", 1.0),
        ("unobserved_weight", 0.0),
        ("reg_exponent", 1.0),
        ("ease_blend", 0.0),
        ("ease_blend_reg", 0.0),
    ):
        v = params.get(name, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < math.inf:
            raise ModelError(f"{folder}: invalid {name} {v!r} in model.json")
        values[name] = float(v)
    return ModelParams(
        kind,
        rank,
        values["reg_param"],
        values["bias_reg"],
        values["alpha"],
        bool(params.get("nonnegative", False)),
        values["unobserved_weight"],
        values["reg_exponent"],
        values["ease_blend"] if kind == "ease" else 0.0,
        values["ease_blend_reg"],
    )


def _factors(files: ModelFiles, params: ModelParams, meta: dict[str, Any]) -> dict[str, Any]:
    """``factors.npz`` validated and sorted by id (module docstring)."""
    file = files.folder / FACTORS
    a = files.npz(FACTORS, FACTOR_KEYS)
    uid, iid = a["user_ids"], a["item_ids"]
    uf, itf = a["user_factors"], a["item_factors"]
    for name, ids in (("user_ids", uid), ("item_ids", iid)):
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ModelError(f"{file}: {name} must be a 1-d integer array")
    bounds = norm_bounds(meta)
    limits = bounds if bounds is not None else (LEGACY_NORM_LIMIT, LEGACY_NORM_LIMIT)
    for name, f, ids, limit in (
        ("user_factors", uf, uid, limits[0]),
        ("item_factors", itf, iid, limits[1]),
    ):
        if f.shape != (len(ids), params.factor_rank):
            raise ModelError(
                f"{file}: {name} has shape {f.shape}, expected ({len(ids)}, "
                f"{params.factor_rank}) (rank {params.factor_rank} from model.json)"
            )
        if not np.issubdtype(f.dtype, np.floating) or not np.isfinite(f).all():
            raise ModelError(f"{file}: {name} contains NaN or infinite values")
        f64 = f.astype(np.float64)
        worst = float(np.sqrt(np.einsum("ij,ij->i", f64, f64).max())) if f.size else 0.0
        if not worst <= limit:
            raise ModelError(
                f"{file}: {name} has a row of norm {worst:.4g}, beyond the bound {limit:.4g} "
                + ("recorded at training" if bounds is not None else "for any trained model")
            )
    ub = np.asarray(a["user_bias"], dtype=np.float64)
    ib = np.asarray(a["item_bias"], dtype=np.float64)
    if ub.shape != uid.shape or ib.shape != iid.shape:
        raise ModelError(f"{file}: bias arrays do not match the id arrays")
    gm = np.asarray(a["global_mean"], dtype=np.float64)
    if gm.shape != ():
        raise ModelError(f"{file}: global_mean must be one number")
    mean = float(gm)
    if not (np.isfinite(ub).all() and np.isfinite(ib).all() and math.isfinite(mean)):
        raise ModelError(f"{file}: biases contain NaN or infinite values")
    if not params.biased:
        mean, ub, ib = 0.0, np.zeros_like(ub), np.zeros_like(ib)
    # Rows sorted by id (save_model writes them sorted; sort defensively).
    uo = np.argsort(uid, kind="stable")
    io_ = np.argsort(iid, kind="stable")
    user_ids = np.ascontiguousarray(uid[uo]).astype(np.int64)
    item_ids = np.ascontiguousarray(iid[io_]).astype(np.int64)
    if (np.diff(user_ids) == 0).any() or (np.diff(item_ids) == 0).any():
        raise ModelError(f"{file}: duplicate user or movie ids")
    out = {
        "user_ids": user_ids,
        "item_ids": item_ids,
        "user_factors": np.ascontiguousarray(uf[uo], dtype=np.float32),
        "item_factors": np.ascontiguousarray(itf[io_], dtype=np.float32),
        "global_mean": mean,
        "user_bias": np.ascontiguousarray(ub[uo]),
        "item_bias": np.ascontiguousarray(ib[io_]),
    }
    for value in out.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return out


def _same_data(
    meta: dict[str, Any], user_ids: np.ndarray, item_ids: np.ndarray, base: ModelArrays
) -> bool:
    """Whether a model was trained on ``base``'s data, with the same users and movies."""
    mine = (meta.get("training_data") or {}).get("fingerprint")
    theirs = (base.meta.get("training_data") or {}).get("fingerprint")
    return (
        mine is not None
        and mine == theirs
        and np.array_equal(user_ids, base.user_ids)
        and np.array_equal(item_ids, base.item_ids)
        and meta.get("ids_mapped") == base.meta.get("ids_mapped")
    )
