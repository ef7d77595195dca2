"""Online scoring from a model folder, in plain numpy (no Spark, no numba, no pandas).

:meth:`Scorer.load` reads what :func:`movierec.model_io.save_model` wrote — ``model.json``,
``factors.npz``, each user's seen movies and the titles (from the memory-mapped ``serving/``
index when the folder has one, else ``train_ratings.parquet`` and ``movies.parquet``), the id
maps, and the recommender model ``model.json`` names (see :meth:`Scorer.load`) — validates
it, and answers:

* **known user top-k**: ``μ + b_u + b_i + x_u·y_i`` over every movie (float64 from the float32
  factors, summed in the engines' order), the user's training movies excluded, ties broken by
  ascending movie id as the engines do;
* **fold-in** of a new user's ratings with the *same* regularisation as training: with
  ``I`` the rated movies (n of them) and ``Y_I`` their factors,

  - ``biased-als``: ``b_u = Σ_I (r − μ − b_i) / (n + bias_reg)`` (exactly the training
    formula), residuals ``r̃ = r − μ − b_u − b_i``;
  - ``als``: ``μ = b_u = b_i = 0``, ``r̃ = r``;
  - ``x = (Y_Iᵀ Y_I + reg_param·n·I)⁻¹ Y_Iᵀ r̃`` (Lawson-Hanson NNLS when the model is
    ``nonnegative``), residuals rounded to float32 first as the engines' ALS reads them.

  - ``implicit-als`` (Spark's ``implicitPrefs``, as the local engine's kernel): ratings v
    as float32, confidence ``c = 1 + alpha·|v|``, preference ``p = [v > 0]``,
    ``n = #{v > 0}``, ``x = (YᵀY + Σ_I (c − 1) y yᵀ + reg_param·n·I)⁻¹ Σ_I c·p·y`` with
    ``YᵀY`` over *every* movie (precomputed at load); scores are preferences ``x·y_i``.

  Training ends with a user half-step against the final item factors, so folding in a
  known user's own training ratings gives back that user's trained factors (to float32
  rounding);
* **similar movies**: cosine similarity of item factor vectors (a zero vector has cosine 0);
* **explain**: the user's rated movies that contribute most to ``x_u·y_m``. Because ``x_u``
  is the solution of the fold-in system, ``x_u·y_m = Σ_{j∈I} r̃_j · (y_jᵀ A⁻¹ y_m)`` with
  ``A = Y_Iᵀ Y_I + reg_param·n·I``: each rated movie ``j`` contributes
  ``c_j = r̃_j · y_jᵀ A⁻¹ y_m`` (its residual rating times its fold-in weight toward ``m``),
  and the contributions add up to the factor part of the score exactly (up to rounding;
  for ``nonnegative`` models the unconstrained decomposition is reported). For
  ``implicit-als`` the same holds with the implicit system: ``c_j = c_j·p_j · y_jᵀ A⁻¹ y_m``
  (confidence of the interaction times its weight toward ``m``; ``A`` as in the fold-in);
* **popular**: movies by number of training ratings, ties by ascending movie id.

Ids: the scorer works in *rows* (positions in the id-sorted factor arrays). Ids from the
outside are the data's original ids (as text); they map to the model's dense ids through
``user_ids.npy`` / ``item_ids.npy`` when the ids were remapped, and back on the way out.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError

log = logging.getLogger(__name__)

MODEL_FORMAT = "movierec-model"
"""Same values as :mod:`movierec.model_io` (not imported: it pulls in pandas and pydantic)."""
MODEL_FORMAT_VERSION = 1
MODEL_KINDS = ("als", "biased-als", "implicit-als")
RECOMMENDERS = ("rating-model", "most-popular", *MODEL_KINDS)
"""What ``model.json``'s optional ``recommender`` section may name (see :meth:`Scorer.load`):
a model kind is a sub-folder model."""

SERVING_DIR = "serving"
"""Same as :data:`movierec.model_io.SERVING_DIR`."""

_FACTOR_KEYS = (
    "user_ids",
    "user_factors",
    "item_ids",
    "item_factors",
    "global_mean",
    "user_bias",
    "item_bias",
)


@dataclass(frozen=True)
class FoldIn:
    """A folded-in user: factors ``x`` (float64), bias ``b_u``, the rated item rows."""

    x: np.ndarray
    user_bias: float
    item_rows: np.ndarray
    ratings: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Decomposition of one user's score for one movie (see the module docstring)."""

    score: float
    baseline: float
    """μ + b_u + b_m (0 for plain ALS)."""
    factor_score: float
    """x_u·y_m with the model's stored user factors."""
    contributions_sum: float
    """Σ_j c_j over all of the user's rated movies (≈ factor_score)."""
    item_rows: np.ndarray
    """The top rated movies by contribution, descending."""
    contributions: np.ndarray
    ratings: np.ndarray


def _genre_list(text: Any) -> list[str]:
    """``"Comedy|Drama"`` -> ``["Comedy", "Drama"]`` (MovieLens's "no genres" marker dropped)."""
    return [x for x in str(text or "").split("|") if x and x != "(no genres listed)"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _rows_of(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row of each value in ``sorted_ids`` (int32), −1 where absent.

    O(n): a subtraction when the ids are consecutive, a lookup table when their range is
    small; binary search otherwise.
    """
    vals = np.asarray(values)
    if not np.issubdtype(vals.dtype, np.integer):
        vals = vals.astype(np.int64)
    n = len(sorted_ids)
    if n == 0 or len(vals) == 0:
        return np.full(vals.shape, -1, dtype=np.int32)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    vmin, vmax = int(vals.min()), int(vals.max())
    inside = lo <= vmin and vmax <= hi
    span = hi - lo + 1
    if inside and span == n:
        if vals.dtype == np.int32:
            return np.subtract(vals, np.int32(lo), dtype=np.int32)
        return np.subtract(vals, lo, dtype=np.int64).astype(np.int32)
    if span <= 4 * (n + len(vals)) + 1_000_000:
        table = np.full(span, -1, dtype=np.int32)
        table[np.asarray(sorted_ids, dtype=np.int64) - lo] = np.arange(n, dtype=np.int32)
        if inside:
            # In chunks: the int64 index temporaries stay small (fresh memory is slow).
            out = np.empty(vals.shape, dtype=np.int32)
            step = 1 << 20
            for i in range(0, len(vals), step):
                np.take(
                    table,
                    np.subtract(vals[i : i + step], lo, dtype=np.int64),
                    out=out[i : i + step],
                )
            return out
        ok = (vals >= lo) & (vals <= hi)
        out = np.full(vals.shape, -1, dtype=np.int32)
        out[ok] = table[vals[ok].astype(np.int64) - lo]
        return out
    v64 = vals.astype(np.int64, copy=False)
    pos = np.minimum(np.searchsorted(sorted_ids, v64), n - 1)
    return np.where(sorted_ids[pos] == v64, pos, -1).astype(np.int32)


def _parquet_parts(path: Path) -> list[Path]:
    """``path`` itself, or for a folder of part files (Spark's layout) its ``*.parquet``
    files in name order (``_SUCCESS``, ``.crc`` and other hidden files skipped)."""
    if not path.is_dir():
        return [path]
    parts = sorted(
        p for p in path.iterdir() if p.suffix == ".parquet" and not p.name.startswith(("_", "."))
    )
    if not parts:
        raise ModelError(f"{path}: no Parquet part files in this folder")
    return parts


def _parquet_names(path: Path) -> list[str]:
    """Column names of a Parquet file or of the first part of a folder of parts."""
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(_parquet_parts(path)[0], memory_map=True).schema_arrow.names)


def _read_parquet(path: Path, columns: list[str]) -> Any:
    """``columns`` of a Parquet file, or of a folder of part files concatenated in name
    order (the rows of a model folder Spark's executors wrote, sorted by user)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = _parquet_parts(path)
    tables = [pq.ParquetFile(p, memory_map=True).read(columns=columns) for p in parts]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _column(table: Any, name: str, file: Path) -> np.ndarray:
    """A numeric Parquet column as a numpy array, zero-copy when possible.

    Goes through the Arrow buffer directly: ``to_numpy`` would import pandas (0.4 s).
    """
    import pyarrow as pa

    if name not in table.column_names:
        raise ModelError(f"{file}: no {name} column")
    col = table.column(name)
    if col.null_count:
        raise ModelError(f"{file}: column {name} has {col.null_count} missing values")
    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    kinds = {
        pa.int8(): np.int8,
        pa.int16(): np.int16,
        pa.int32(): np.int32,
        pa.int64(): np.int64,
        pa.float32(): np.float32,
        pa.float64(): np.float64,
    }
    if arr.type not in kinds:
        if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
            raise ModelError(f"{file}: column {name} has type {arr.type}, expected numbers")
        arr = arr.cast(pa.float64() if pa.types.is_floating(arr.type) else pa.int64())
    dtype = np.dtype(kinds[arr.type])
    if len(arr) == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
    )


def _bincount(values: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount`` in chunks of 1M (its int64 copy of the input stays small)."""
    counts = np.zeros(n, dtype=np.int64)
    step = 1 << 20
    for i in range(0, len(values), step):
        counts += np.bincount(values[i : i + step], minlength=n)
    return counts


def _group_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable permutation sorting non-negative ``keys`` < ``n_keys`` (LSD radix, 16 bits)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = (keys >> 16).astype(np.uint16)[order]
    return order[np.argsort(high, kind="stable")]


_BLOCK = 64


def _top_values(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows holding the ``k`` best finite scores (and a few more), ascending.

    For small ``k`` the rows are dealt into 64 interleaved groups of ``n // 64``: block
    ``j`` is rows ``j, j + n//64, j + 2·n//64, …`` (so block maxima are one vectorised
    elementwise maximum over 64 contiguous slices). Only blocks whose maximum reaches
    the k-th largest block maximum can hold a top-k score (any score below it is beaten by
    k block maxima), so later steps see a few hundred candidates instead of the whole
    catalogue. −inf and NaN scores are dropped.
    """
    n = len(scores)
    if n > 2 * k * _BLOCK:
        nb = n // _BLOCK
        bmax = scores[: nb * _BLOCK].reshape(_BLOCK, nb).max(axis=0)
        threshold = np.partition(bmax, nb - k)[nb - k]
        if threshold > -np.inf:
            blocks = np.flatnonzero(bmax >= threshold)
        else:
            blocks = np.flatnonzero(bmax > -np.inf)
        cand = (blocks[None, :] + nb * _BLOCK_OFFSETS[:, None]).ravel()
        if nb * _BLOCK < n:  # the last n mod 64 rows are always candidates
            cand = np.concatenate([cand, np.arange(nb * _BLOCK, n)])
        cand.sort()
        return cand[scores[cand] > -np.inf]
    return np.flatnonzero(scores > -np.inf)


_BLOCK_OFFSETS = np.arange(_BLOCK)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest scores, best first; ties by ascending row.

    Scores of −inf (excluded) or NaN are never selected; fewer than ``k`` rows come back
    when fewer are eligible.
    """
    if k <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    cand = _top_values(scores, k)
    cs = scores[cand]
    if len(cand) > 4 * k:
        threshold = np.partition(cs, len(cs) - k)[len(cs) - k]
        keep = cs >= threshold
        cand, cs = cand[keep], cs[keep]
    return cand[np.lexsort((cand, -cs))[:k]].astype(np.int64, copy=False)


def kth_best(scores: np.ndarray, k: int) -> float:
    """The k-th highest finite score (the lowest one when fewer are finite; −inf if none)."""
    if len(scores) == 0:
        return -np.inf
    cs = scores[_top_values(scores, k)]
    if len(cs) == 0:
        return -np.inf
    if len(cs) <= k:
        return float(cs.min())
    return float(np.partition(cs, len(cs) - k)[len(cs) - k])


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lawson-Hanson: argmin ½xᵀax − bᵀx subject to x ≥ 0 (``a`` SPD), as the engines solve it."""
    k = len(b)
    tol = 1e-12 * max(float(np.abs(b).max(initial=0.0)), 1e-300)
    x = np.zeros(k)
    passive = np.zeros(k, dtype=bool)
    for _ in range(3 * k + 10):
        w = b - a @ x
        w[passive] = -np.inf
        best = int(np.argmax(w))
        if not w[best] > tol:
            break
        passive[best] = True
        for _ in range(3 * k + 10):
            idx = np.flatnonzero(passive)
            s = np.zeros(k)
            s[idx] = np.linalg.solve(a[np.ix_(idx, idx)], b[idx])
            if (s[idx] > 0).all():
                x = s
                break
            neg = idx[s[idx] <= 0]
            gaps = x[neg] - s[neg]
            steps = np.where(gaps > 0, x[neg] / np.where(gaps > 0, gaps, 1.0), 0.0)
            j = int(np.argmin(steps))
            x = x + steps[j] * (s - x)
            x[neg[j]] = 0.0
            passive[neg[j]] = False
            drop = passive & (x <= 0)
            x[drop] = 0.0
            passive[drop] = False
    return x


class Scorer:
    """One loaded model, immutable after :meth:`load` (safe to share between requests)."""

    # Set by load() (read from the folder, or shared with the base model for sub-models).
    user_originals: np.ndarray | None
    item_originals: np.ndarray | None
    seen_indptr: np.ndarray
    seen_items: np.ndarray
    item_counts: np.ndarray
    n_ratings: int
    rating_min: float
    rating_max: float
    titles: list[str]
    genres: list[list[str]]
    popular_rows: np.ndarray
    item_out_ids: list[Any]
    genre_names: dict[str, str]
    _genre_masks: dict[str, np.ndarray]
    _user_text: dict[str, int] | None
    _item_text: dict[str, int] | None

    def __init__(self) -> None:
        # Every attribute is set by load(); the constructor is private in spirit.
        self.path = Path()
        self.meta: dict[str, Any] = {}
        self.version = ""
        self.loaded_at = ""
        self.load_seconds = 0.0
        self.shared_from: Scorer | None = None
        """The model whose training data, ids and titles this one shares (sub-models)."""
        self.recommender_name = "rating-model"
        self.recommender: Scorer | None = None
        """The model that answers top-k lists when it is not this one (``model/recommender``)."""
        self.recommender_why = ""

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: Path | str, *, base: Scorer | None = None) -> Scorer:
        """Read and validate a model folder (and the recommender model it names).

        ``model.json`` may have a ``recommender`` section (written by ``movierec run``):
        ``{"name": "implicit-als", "path": "recommender", …}`` (or another model kind) —
        top-k lists come from the model folder at that relative path (loaded too, sharing
        this model's training data, ids and titles when they are the same data) — or
        ``{"name": "most-popular"}`` — top-k lists are the most popular unseen movies —
        or ``{"name": "rating-model"}`` (the default): this model ranks too. ``base``: the
        model a sub-model shares data with (internal).

        Raises:
            ModelError: missing, damaged or incompatible files (the message says which).
        """
        started = time.perf_counter()
        self = cls()
        self.path = Path(path)
        meta_file = self.path / "model.json"
        if not meta_file.is_file():
            raise ModelError(f"{self.path}: not a movierec model folder (no model.json)")
        try:
            raw = meta_file.read_bytes()
            meta = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{meta_file}: unreadable ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
            raise ModelError(f"{meta_file}: not a movierec model")
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise ModelError(
                f"{self.path}: model format version {meta.get('format_version')} is not "
                f"supported (this service reads version {MODEL_FORMAT_VERSION})"
            )
        self.meta = meta
        self.version = hashlib.sha256(raw).hexdigest()[:12]
        try:
            self._read_params(meta.get("params"))
            self._read_factors()
            if base is not None and self._same_data(base):
                self._share(base)
            else:
                self._read_ids()
                self._read_train()
                self._read_movies()
        except ModelError:
            raise
        except Exception as exc:  # any reader failure (zip, parquet, npy) means damaged files
            raise ModelError(
                f"{self.path}: model folder is incomplete or damaged ({type(exc).__name__}: {exc})"
            ) from exc
        self._prepare()
        if base is None:
            self._read_recommender(meta.get("recommender"))
        self.loaded_at = _now()
        self.load_seconds = time.perf_counter() - started
        log.info(
            "model %s loaded from %s in %.2f s: %s rank %d, %d users, %d movies, %d ratings%s",
            self.version,
            self.path,
            self.load_seconds,
            self.kind,
            self.rank,
            self.n_users,
            self.n_items,
            self.n_ratings,
            "" if base is not None else f"; top-k lists from {self.serving()['recommendations']}",
        )
        return self

    def _read_recommender(self, section: Any) -> None:
        """The ``recommender`` section of ``model.json`` (see :meth:`load`)."""
        if section is None:
            return
        if not isinstance(section, dict) or section.get("name") not in RECOMMENDERS:
            raise ModelError(
                f"{self.path}: model.json names an unknown recommender {section!r} "
                f"(expected one of {', '.join(RECOMMENDERS)})"
            )
        name = section["name"]
        self.recommender_name = name
        self.recommender_why = str(section.get("why", ""))
        if name not in MODEL_KINDS:
            return
        rel = section.get("path")
        if not isinstance(rel, str) or not rel:
            raise ModelError(f"{self.path}: the recommender section of model.json has no path")
        sub = (self.path / rel).resolve()
        if not sub.is_relative_to(self.path.resolve()) or sub == self.path.resolve():
            raise ModelError(f"{self.path}: recommender path {rel!r} is outside the model folder")
        try:
            self.recommender = Scorer.load(sub, base=self)
        except ModelError as exc:
            raise ModelError(f"{self.path}: recommender model: {exc}") from exc
        if self.recommender.kind != name:
            raise ModelError(
                f"{sub}: model kind {self.recommender.kind!r}, but model.json says {name!r}"
            )

    def _same_data(self, base: Scorer) -> bool:
        """Whether this model was trained on ``base``'s data, with the same users and movies."""
        mine = (self.meta.get("training_data") or {}).get("fingerprint")
        theirs = (base.meta.get("training_data") or {}).get("fingerprint")
        return (
            mine is not None
            and mine == theirs
            and np.array_equal(self.user_ids, base.user_ids)
            and np.array_equal(self.item_ids, base.item_ids)
            and self.meta.get("ids_mapped") == base.meta.get("ids_mapped")
        )

    def _share(self, base: Scorer) -> None:
        """Take the training data, id maps and titles from ``base`` (no file read)."""
        self.shared_from = base
        self.user_originals = base.user_originals
        self.item_originals = base.item_originals
        self.seen_indptr = base.seen_indptr
        self.seen_items = base.seen_items
        self.item_counts = base.item_counts
        self.n_ratings = base.n_ratings
        self.rating_min, self.rating_max = base.rating_min, base.rating_max
        self.titles = base.titles
        self.genres = base.genres

    @property
    def ranker(self) -> Scorer | None:
        """The model whose top-k lists are served: this one, the recommender sub-model,
        or None when the most popular movies are (``recommender`` = ``most-popular``)."""
        if self.recommender_name == "most-popular":
            return None
        return self.recommender if self.recommender is not None else self

    def serving(self) -> dict[str, str]:
        """Which model answers what (for /health and the logs)."""
        ranker = self.ranker
        if ranker is None:
            lists = "most-popular (number of training ratings)"
        elif ranker is self:
            lists = f"{self.kind} (this model)"
        else:
            lists = f"{ranker.kind} ({ranker.path.name}/)"
        return {
            "recommendations": lists,
            "fold_in": lists,
            "similar": f"{self.similar_model.kind} factors",
            "explain": f"{self.kind} (this model)",
        }

    @property
    def similar_model(self) -> Scorer:
        """Similar movies come from the ranking model's factors when it has factors."""
        ranker = self.ranker
        return ranker if ranker is not None else self

    def _read_params(self, params: Any) -> None:
        if not isinstance(params, dict):
            raise ModelError(f"{self.path}: model.json has no params")
        kind = params.get("model", "als")
        if kind not in MODEL_KINDS:
            raise ModelError(
                f"{self.path}: model kind {kind!r} is not supported (only {', '.join(MODEL_KINDS)})"
            )
        rank = params.get("rank")
        reg = params.get("reg_param")
        bias_reg = params.get("bias_reg", 0.0)
        if not isinstance(rank, int) or rank < 1:
            raise ModelError(f"{self.path}: invalid rank {rank!r} in model.json")
        if not isinstance(reg, (int, float)) or not reg >= 0:
            raise ModelError(f"{self.path}: invalid reg_param {reg!r} in model.json")
        if not isinstance(bias_reg, (int, float)) or not bias_reg >= 0:
            raise ModelError(f"{self.path}: invalid bias_reg {bias_reg!r} in model.json")
        alpha = params.get("alpha", 1.0)
        if not isinstance(alpha, (int, float)) or not alpha >= 0:
            raise ModelError(f"{self.path}: invalid alpha {alpha!r} in model.json")
        self.kind: str = kind
        self.biased = kind == "biased-als"
        self.implicit = kind == "implicit-als"
        self.alpha = float(alpha)
        self.rank: int = rank
        self.reg_param = float(reg)
        self.bias_reg = float(bias_reg)
        self.nonnegative = bool(params.get("nonnegative", False))

    def _read_factors(self) -> None:
        file = self.path / "factors.npz"
        with np.load(file, allow_pickle=False) as z:
            missing = [k for k in _FACTOR_KEYS if k not in z.files]
            if missing:
                raise ModelError(f"{file}: missing arrays {', '.join(missing)}")
            a = {k: z[k] for k in _FACTOR_KEYS}
        uid, iid = a["user_ids"], a["item_ids"]
        uf, itf = a["user_factors"], a["item_factors"]
        for name, ids in (("user_ids", uid), ("item_ids", iid)):
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
                raise ModelError(f"{file}: {name} must be a 1-d integer array")
        for name, f, ids in (("user_factors", uf, uid), ("item_factors", itf, iid)):
            if f.shape != (len(ids), self.rank):
                raise ModelError(
                    f"{file}: {name} has shape {f.shape}, expected ({len(ids)}, {self.rank}) "
                    f"(rank {self.rank} from model.json)"
                )
            if not np.isfinite(f).all():
                raise ModelError(f"{file}: {name} contains NaN or infinite values")
        ub = np.asarray(a["user_bias"], dtype=np.float64)
        ib = np.asarray(a["item_bias"], dtype=np.float64)
        if ub.shape != uid.shape or ib.shape != iid.shape:
            raise ModelError(f"{file}: bias arrays do not match the id arrays")
        mean = float(a["global_mean"])
        if not (np.isfinite(ub).all() and np.isfinite(ib).all() and math.isfinite(mean)):
            raise ModelError(f"{file}: biases contain NaN or infinite values")
        if not self.biased:
            mean, ub, ib = 0.0, np.zeros_like(ub), np.zeros_like(ib)
        # Rows sorted by id (save_model writes them sorted; sort defensively).
        uo = np.argsort(uid, kind="stable")
        io = np.argsort(iid, kind="stable")
        self.user_ids = np.ascontiguousarray(uid[uo]).astype(np.int64)
        self.item_ids = np.ascontiguousarray(iid[io]).astype(np.int64)
        if (np.diff(self.user_ids) == 0).any() or (np.diff(self.item_ids) == 0).any():
            raise ModelError(f"{file}: duplicate user or movie ids")
        self.user_factors = np.ascontiguousarray(uf[uo], dtype=np.float32)
        self.item_factors = np.ascontiguousarray(itf[io], dtype=np.float32)
        self.global_mean = mean
        self.user_bias = np.ascontiguousarray(ub[uo])
        self.item_bias = np.ascontiguousarray(ib[io])

    def _read_ids(self) -> None:
        """Original ids (``user_ids.npy`` / ``item_ids.npy``) by dense id, when remapped."""
        self.user_originals = None
        self.item_originals = None
        for attr, name, dense in (
            ("user_originals", "user_ids.npy", self.user_ids),
            ("item_originals", "item_ids.npy", self.item_ids),
        ):
            file = self.path / name
            if not file.is_file():
                continue
            arr = np.load(file, allow_pickle=False)
            if arr.ndim != 1 or (len(dense) and (dense.min() < 0 or dense.max() >= len(arr))):
                raise ModelError(f"{file}: id map does not cover the model's ids")
            setattr(self, attr, arr)

    def _read_train(self) -> None:
        """Each user's seen movies as a CSR over user rows (item rows; ratings in the same
        order).

        Training tables are usually stored sorted by user (MovieLens files are); then the
        row offsets come from a binary search per user, no sort is needed, and the rating
        column — only explanations use it — is read by a background thread after the
        model is live (it is half the bytes of the file). Otherwise the ratings are grouped
        by a stable 16-bit radix sort and read at once (slower: ~2 s for 25M ratings).
        """
        if (self.path / SERVING_DIR / "seen_indptr.npy").is_file():
            self._read_index()
            return
        file = self.path / "train_ratings.parquet"
        if "rating" not in _parquet_names(file):
            raise ModelError(f"{file}: no rating column")
        table = _read_parquet(file, ["user_id", "movie_id"])
        users = _column(table, "user_id", file)
        items = _column(table, "movie_id", file)
        del table
        n_users = len(self.user_ids)
        mismatch = ModelError(
            f"{file}: training ratings name users or movies that have no factors "
            "(the folder mixes files of different models)"
        )
        order = None
        if len(users) < 2 or not (users[1:] < users[:-1]).any():
            ids = self.user_ids.astype(users.dtype) if len(users) else self.user_ids
            left = np.searchsorted(users, ids, side="left")
            right = np.searchsorted(users, ids, side="right")
            if int((right - left).sum()) != len(users):
                raise mismatch
            indptr = np.append(left, len(users)).astype(np.int64)
            irows = _rows_of(self.item_ids, items)
        else:
            urows = _rows_of(self.user_ids, users)
            if (urows < 0).any():
                raise mismatch
            indptr = np.zeros(n_users + 1, dtype=np.int64)
            np.cumsum(_bincount(urows, n_users), out=indptr[1:])
            order = _group_order(urows, n_users)
            del urows
            irows = _rows_of(self.item_ids, items[order])
        del users, items
        if len(irows) and int(irows.min()) < 0:
            raise mismatch
        self.seen_indptr = indptr
        self.seen_items = irows
        self.item_counts = _bincount(irows, len(self.item_ids))
        self.n_ratings = len(irows)
        self._ratings: np.ndarray | None = None
        self._ratings_error = ""
        self._ratings_ready = threading.Event()
        if order is not None:
            self._read_ratings(file, order)
            self._ratings_ready.set()
        else:
            threading.Thread(
                target=self._read_ratings_later, args=(file,), name="movierec-ratings", daemon=True
            ).start()
        data = self.meta.get("training_data") or {}
        lo, hi = data.get("rating_min"), data.get("rating_max")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            self.rating_min, self.rating_max = float(lo), float(hi)
        else:
            r = self.ratings
            self.rating_min = float(r.min()) if len(r) else 0.0
            self.rating_max = float(r.max()) if len(r) else 0.0

    def _read_index(self) -> None:
        """The ``serving/`` index :func:`movierec.model_io.save_model` writes: the same CSR
        as the Parquet path builds, memory-mapped (pages are read when first touched), so
        start-up does not depend on the number of ratings. Validated: shapes, monotone
        offsets, item rows in range, counts consistent with ``model.json``."""
        folder = self.path / SERVING_DIR
        arrays = {}
        for name in ("seen_indptr", "seen_items", "seen_ratings", "item_counts"):
            arrays[name] = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        indptr, items = arrays["seen_indptr"], arrays["seen_items"]
        ratings, counts = arrays["seen_ratings"], arrays["item_counts"]
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        expected = (self.meta.get("training_data") or {}).get("ratings", len(items))
        bad = ModelError(
            f"{folder}: serving index does not match the model (the folder mixes files of "
            "different models)"
        )
        if (
            indptr.shape != (n_users + 1,)
            or items.ndim != 1
            or items.dtype != np.int32
            or ratings.shape != items.shape
            or ratings.dtype not in (np.float32, np.float64)
            or counts.shape != (n_items,)
            or len(items) != expected
            or int(indptr[0]) != 0
            or int(indptr[-1]) != len(items)
            or (np.diff(indptr) < 0).any()
            or int(counts.sum()) != len(items)
        ):
            raise bad
        if len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items):
            raise bad
        self.seen_indptr = np.asarray(indptr)
        self.seen_items = items
        self.item_counts = np.asarray(counts, dtype=np.int64)
        self.n_ratings = len(items)
        self._ratings = ratings
        self._ratings_error = ""
        self._ratings_ready = threading.Event()
        self._ratings_ready.set()
        data = self.meta.get("training_data") or {}
        lo, hi = data.get("rating_min"), data.get("rating_max")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            self.rating_min, self.rating_max = float(lo), float(hi)
        else:
            self.rating_min = float(ratings.min()) if len(ratings) else 0.0
            self.rating_max = float(ratings.max()) if len(ratings) else 0.0

    def _read_ratings(self, file: Path, order: np.ndarray | None) -> None:
        table = _read_parquet(file, ["rating"])
        r = _column(table, "rating", file)
        if len(r) != self.n_ratings:
            raise ModelError(
                f"{file}: the rating column has {len(r)} rows, expected {self.n_ratings}"
            )
        self._ratings = np.asarray(r if order is None else r[order], dtype=np.float64)

    def _read_ratings_later(self, file: Path) -> None:
        started = time.perf_counter()
        try:
            self._read_ratings(file, None)
        except Exception as exc:
            self._ratings_error = f"{type(exc).__name__}: {exc}"
            log.error("%s: cannot read training ratings (%s)", file, self._ratings_error)
        else:
            log.debug("training ratings read in %.2f s", time.perf_counter() - started)
        finally:
            self._ratings_ready.set()

    def ratings_loaded(self) -> bool:
        """Whether the training ratings are in memory (see :meth:`_read_train`)."""
        if self.shared_from is not None:
            return self.shared_from.ratings_loaded()
        return self._ratings_ready.is_set()

    def wait_ratings(self, timeout: float = 120.0) -> bool:
        if self.shared_from is not None:
            return self.shared_from.wait_ratings(timeout)
        return self._ratings_ready.wait(timeout)

    @property
    def ratings(self) -> np.ndarray:
        """Training ratings in ``seen_items`` order (waits for the background read).

        Raises:
            ModelError: they could not be read.
        """
        if self.shared_from is not None:
            return self.shared_from.ratings
        if not self._ratings_ready.wait(120):
            raise ModelError(f"{self.path}: training ratings are still loading")
        if self._ratings is None:
            raise ModelError(f"{self.path}: training ratings unavailable ({self._ratings_error})")
        return self._ratings

    def _read_movies(self) -> None:
        n = len(self.item_ids)
        self.titles = [""] * n
        self.genres = [[] for _ in range(n)]
        file = self.path / "movies.parquet"
        if not file.is_file():
            return
        index = self.path / SERVING_DIR / "movies.json"
        if index.is_file():  # the same text by item row, without importing pyarrow
            data = json.loads(index.read_bytes())
            titles, genres = data.get("titles"), data.get("genres")
            if not (isinstance(titles, list) and isinstance(genres, list)):
                raise ModelError(f"{index}: no titles or genres lists")
            if len(titles) != n or len(genres) != n:
                raise ModelError(f"{index}: {len(titles)} titles for {n} movies")
            self.titles = [t if isinstance(t, str) else "" for t in titles]
            self.genres = [_genre_list(g) for g in genres]
            return
        import pyarrow.parquet as pq

        table = pq.ParquetFile(file).read()
        names = set(table.column_names)
        if "movie_id" not in names:
            raise ModelError(f"{file}: no movie_id column")
        rows = _rows_of(self.item_ids, _column(table, "movie_id", file))
        titles = table.column("title").to_pylist() if "title" in names else [None] * len(rows)
        genres = table.column("genres").to_pylist() if "genres" in names else [None] * len(rows)
        for r, t, g in zip(rows.tolist(), titles, genres):
            if r < 0 or self.titles[r]:
                continue
            self.titles[r] = t or ""
            self.genres[r] = _genre_list(g)

    def _prepare(self) -> None:
        """Derived arrays for fast requests."""
        self.n_users = len(self.user_ids)
        self.n_items = len(self.item_ids)
        self.item_f64 = np.ascontiguousarray(self.item_factors, dtype=np.float64)
        norms = np.linalg.norm(self.item_f64, axis=1)
        self.item_unit = self.item_f64 / np.where(norms > 0, norms, 1.0)[:, None]
        self._item_norm_max = float(norms.max()) if len(norms) else 0.0
        self.item_unit32 = self.item_unit.astype(np.float32)
        # Transposed copies (rank × movies, contiguous) for the first pass: x @ Yᵀ then
        # streams each factor's row once; measured 2-3x faster than Y @ x for one vector on
        # 60k × 50 (OpenBLAS, one thread), and faster for batches up to 32 too.
        self._item_t32 = np.ascontiguousarray(self.item_factors.T)
        self._unit_t32 = np.ascontiguousarray(self.item_unit32.T)
        self._bias32 = (self.global_mean + self.item_bias).astype(np.float32)
        self._bias_abs_max = float(np.abs(self.global_mean + self.item_bias).max(initial=0.0))
        # Implicit fold-in: YᵀY of every item factor (float64 from float32), as training has it.
        self._gram = self.item_f64.T @ self.item_f64 if self.implicit else None
        base = self.shared_from
        if base is not None:
            self.popular_rows = base.popular_rows
            self.item_out_ids = base.item_out_ids
            self._genre_masks = base._genre_masks
            self.genre_names = base.genre_names
            self._user_text = base._user_text
            self._item_text = base._item_text
            return
        self.popular_rows = np.lexsort((np.arange(self.n_items), -self.item_counts))
        out = (
            self.item_originals[self.item_ids] if self.item_originals is not None else self.item_ids
        )
        self.item_out_ids = out.tolist()
        masks: dict[str, np.ndarray] = {}
        self.genre_names = {}
        for r, gl in enumerate(self.genres):
            for g in gl:
                key = g.lower()
                if key not in masks:
                    masks[key] = np.zeros(self.n_items, dtype=bool)
                    self.genre_names[key] = g
                masks[key][r] = True
        self._genre_masks = masks
        # Original id text -> row, built once when ids were remapped (else parsed as ints).
        self._user_text = None
        self._item_text = None
        if self.user_originals is not None:
            self._user_text = {
                str(v): r for r, v in enumerate(self.user_originals[self.user_ids].tolist())
            }
        if self.item_originals is not None:
            self._item_text = {str(v): r for r, v in enumerate(self.item_out_ids)}

    # ------------------------------------------------------------------ ids and metadata

    @staticmethod
    def _int_row(sorted_ids: np.ndarray, text: str) -> int | None:
        try:
            value = int(text.strip())
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                return None
            if not (math.isfinite(f) and f == round(f)):
                return None
            value = int(f)
        pos = int(np.searchsorted(sorted_ids, value))
        if pos < len(sorted_ids) and int(sorted_ids[pos]) == value:
            return pos
        return None

    def user_row(self, user_id: Any) -> int | None:
        """Row of a user given by original id (text or number), or None if unknown."""
        text = str(user_id)
        if self._user_text is not None:
            return self._user_text.get(text.strip())
        return self._int_row(self.user_ids, text)

    def item_row(self, movie_id: Any) -> int | None:
        """Row of a movie given by original id (text or number), or None if unknown."""
        text = str(movie_id)
        if self._item_text is not None:
            return self._item_text.get(text.strip())
        return self._int_row(self.item_ids, text)

    def lookup_items(self, keys: list[str]) -> np.ndarray:
        """Rows (int64) of movies given by original id text, −1 where unknown.

        One vectorised search for integer ids (the common case); per key otherwise.
        """
        if self._item_text is not None:
            table = self._item_text
            return np.fromiter((table.get(k, -1) for k in keys), np.int64, len(keys))
        try:
            values = np.array([int(k) for k in keys], dtype=np.int64)
        except (ValueError, OverflowError):
            rows = [self.item_row(k) for k in keys]
            return np.array([-1 if r is None else r for r in rows], dtype=np.int64)
        if not len(values) or not len(self.item_ids):
            return np.full(len(values), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.item_ids, values), len(self.item_ids) - 1)
        return np.where(self.item_ids[pos] == values, pos, -1).astype(np.int64)

    def item_rows(self, movie_ids: list[Any]) -> tuple[np.ndarray, list[Any]]:
        """(rows of the known movies, the unknown ids as given)."""
        rows, unknown = [], []
        for m in movie_ids:
            r = self.item_row(m)
            if r is None:
                unknown.append(m)
            else:
                rows.append(r)
        return np.asarray(rows, dtype=np.int64), unknown

    def genre_mask(self, genres: list[str]) -> np.ndarray | None:
        """Movies having at least one of ``genres`` (case-insensitive); None for no filter.

        Raises:
            KeyError: a genre no movie of the model has (the message lists the known ones).
        """
        if not genres:
            return None
        mask = np.zeros(self.n_items, dtype=bool)
        for g in genres:
            m = self._genre_masks.get(g.strip().lower())
            if m is None:
                known = ", ".join(sorted(self.genre_names.values())) or "none"
                raise KeyError(f"unknown genre {g!r}; known genres: {known}")
            mask |= m
        return mask

    def seen(self, urow: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, ratings) of a known user's training ratings."""
        lo, hi = self.seen_indptr[urow], self.seen_indptr[urow + 1]
        return self.seen_items[lo:hi], self.ratings[lo:hi]

    def seen_rows(self, urow: int) -> np.ndarray:
        """Item rows of a known user's training ratings."""
        return self.seen_items[self.seen_indptr[urow] : self.seen_indptr[urow + 1]]

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """The response form of scored rows: movie_id (original), title, genres, score."""
        return [
            {
                "movie_id": self.item_out_ids[r],
                "title": self.titles[r],
                "genres": self.genres[r],
                "score": s,
            }
            for r, s in zip(rows.tolist(), scores.tolist())
        ]

    def info(self) -> dict[str, Any]:
        """What /health reports about this model."""
        return {
            "path": str(self.path),
            "version": self.version,
            "created_at": self.meta.get("created_at"),
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "engine": self.meta.get("engine"),
            "model": self.kind,
            "scores": "preference x_u.y_i" if self.implicit else "predicted rating",
            "rank": self.rank,
            "reg_param": self.reg_param,
            **({"alpha": self.alpha} if self.implicit else {}),
            "users": self.n_users,
            "movies": self.n_items,
            "ratings": self.n_ratings,
            "titles": any(self.titles),
            "ratings_loaded": self.ratings_loaded(),
        }

    # ------------------------------------------------------------------ scoring

    def _exact(self, x: np.ndarray, user_bias: float, rows: np.ndarray, unit: bool) -> np.ndarray:
        """Exact float64 scores of ``rows``, with the engines' arithmetic.

        ``unit``: cosine similarity (unit item vectors, no biases); else
        ``((x·y_i + μ) + b_u) + b_i``. The dot product is the sequential sum
        Σ_f x_f·y_if (``np.cumsum`` along the factors), as the engines' top-N kernel
        computes it, so scores match theirs bit for bit and identical item vectors tie
        exactly (then the lower movie id wins).
        """
        y = (self.item_unit if unit else self.item_f64)[rows]
        s = np.cumsum(y * x, axis=1)[:, -1] if y.shape[1] else np.zeros(len(rows))
        if self.biased and not unit:
            s += self.global_mean
            s += user_bias
            s += self.item_bias[rows]
        return s

    def first_pass(self, xs: np.ndarray, unit: bool = False) -> np.ndarray:
        """float32 dot products of query vectors with every item: ``(b, n_items)`` for a
        ``(b, rank)`` batch, ``(n_items,)`` for one vector.

        The approximate first pass of :meth:`_best`. A batch reads the item matrix once for
        all its vectors (one matrix-matrix product), which is what makes concurrent
        requests on a large catalogue cheap (see :class:`movierec.service.app`).
        """
        yt = self._unit_t32 if unit else self._item_t32
        out: np.ndarray = np.asarray(xs, dtype=np.float32) @ yt
        return out

    def _best(
        self,
        x: np.ndarray,
        user_bias: float,
        k: int,
        banned: tuple[np.ndarray | None, ...],
        mask: np.ndarray | None,
        unit: bool = False,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by exact score (``banned`` rows and rows outside ``mask`` skipped).

        Every item is scored first in float32 (:meth:`first_pass`: one BLAS product on half
        the memory of float64, plus the biases), then every item within the float32
        rounding bound of the k-th best is rescored exactly (:meth:`_exact`) and the final
        top-k comes from those exact scores. The result (rows, scores, tie order) is
        therefore the exact float64 one, whatever rounding the first pass did. ``first``:
        that first pass, when already computed (it is modified in place).
        """
        x = np.asarray(x, dtype=np.float64)
        s = self.first_pass(x, unit) if first is None else first
        offset = 0.0
        if self.biased and not unit:
            s += self._bias32
            s += np.float32(user_bias)
            offset = self._bias_abs_max + abs(user_bias)
        self._ban(s, banned, mask)
        kth = kth_best(s, k)
        if kth == -np.inf:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # float32 rounding, any summation order: the dot product is off by at most
        # (rank + 1)·u·‖x‖·‖y‖ (x rounded too), each of the two bias additions by
        # u·|partial sum|; u = 2^-24. The margin is 8x that bound.
        xy = math.sqrt(float(x @ x)) * (1.0 if unit else self._item_norm_max)
        margin = 8.0 * 2.0**-24 * ((self.rank + 4) * xy + 3.0 * offset)
        cand = np.flatnonzero(s >= kth - margin)
        exact = self._exact(x, user_bias, cand, unit)
        sel = top_k(exact, k)
        return cand[sel], exact[sel]

    @staticmethod
    def _ban(s: np.ndarray, banned: tuple[np.ndarray | None, ...], mask: np.ndarray | None) -> None:
        for rows in banned:
            if rows is not None and len(rows):
                s[rows] = -np.inf
        if mask is not None:
            s[~mask] = -np.inf

    def recommend_user(
        self,
        urow: int,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k unseen rows for a known user, also skipping ``exclude`` rows and ``~mask``.

        ``first``: :meth:`first_pass` of :meth:`query_user` when already computed.
        """
        seen = self.seen_rows(urow)
        x, bu = self.user_factors[urow], float(self.user_bias[urow])
        return self._best(x, bu, k, (seen, exclude), mask, first=first)

    def query_user(self, urow: int) -> np.ndarray:
        """The vector a known user's first pass is computed for."""
        return self.user_factors[urow]

    def query_movie(self, irow: int) -> np.ndarray:
        """The vector a similar-movies first pass is computed for (``unit=True``)."""
        return self.item_unit[irow]

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> FoldIn:
        """Factors of a user with these ratings, item factors fixed (module docstring).

        Raises:
            ValueError: no ratings, or a system that is not positive definite
                (only possible when reg_param is 0).
        """
        rows = np.asarray(item_rows, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        if len(rows) == 0:
            raise ValueError("no rated movie is known to the model")
        if self.implicit:
            a, y, weight = self._implicit_system(rows, r)
            b = y.T @ weight
            bu = 0.0
        else:
            resid, bu = self._residuals(rows, r)
            a, y = self._normal_matrix(rows)
            b = y.T @ resid
        if self.nonnegative:
            x = _nnls(a, b)
        else:
            try:
                x = np.linalg.solve(a, b)
            except np.linalg.LinAlgError as exc:
                raise ValueError(f"fold-in system is singular ({exc})") from exc
        return FoldIn(x, bu, rows, r)

    def _residuals(
        self, rows: np.ndarray, r: np.ndarray, bu: float | None = None
    ) -> tuple[np.ndarray, float]:
        """(residuals rounded to float32 as ALS reads them, b_u) for ratings ``r`` of ``rows``."""
        if not self.biased:
            return r.astype(np.float32).astype(np.float64), 0.0
        ib = self.item_bias[rows]
        if bu is None:
            bu = float(np.sum(r - self.global_mean - ib) / (len(r) + self.bias_reg))
        resid = r - self.global_mean - bu - ib
        return resid.astype(np.float32).astype(np.float64), bu

    def _implicit_system(
        self, rows: np.ndarray, r: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, Y_I, w) of one user's implicit-feedback normal equations ``A x = Y_Iᵀ w``.

        Spark's ``computeFactors(implicitPrefs=true)`` as the local engine's kernel solves
        it: ratings v read as float32, confidence c = 1 + alpha·|v|, preference p = 1 if
        v > 0 else 0, n = the number of v > 0;
        ``A = YᵀY + Σ_j (c_j − 1) y_j y_jᵀ + reg_param·n·I`` (YᵀY over every movie,
        precomputed at load) and ``w_j = c_j·p_j``.
        """
        v = r.astype(np.float32).astype(np.float64)
        extra = self.alpha * np.abs(v)
        y = self.item_f64[rows]
        assert self._gram is not None
        a = self._gram + y.T @ (y * extra[:, None])
        positive = v > 0
        a[np.diag_indices_from(a)] += self.reg_param * float(np.count_nonzero(positive))
        weight = np.where(positive, 1.0 + extra, 0.0)
        return a, y, weight

    def _normal_matrix(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Y_Iᵀ Y_I + reg_param·n·I, Y_I) in float64."""
        y = self.item_f64[rows]
        a = y.T @ y
        a[np.diag_indices_from(a)] += self.reg_param * len(rows)
        return a, y

    def recommend_vector(
        self,
        fold: FoldIn,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows for a folded-in user, the rated movies and ``exclude`` skipped.

        ``first``: :meth:`first_pass` of ``fold.x`` when already computed.
        """
        banned = (fold.item_rows, exclude)
        return self._best(fold.x, fold.user_bias, k, banned, mask, first=first)

    def similar(
        self,
        irow: int,
        k: int,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k movies with the highest cosine similarity to ``irow`` (itself excluded).

        ``first``: :meth:`first_pass` (``unit=True``) of :meth:`query_movie` when computed.
        """
        itself = np.asarray([irow], dtype=np.int64)
        x = self.item_unit[irow]
        return self._best(x, 0.0, k, (itself,), mask, unit=True, first=first)

    def popular(
        self,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Most-rated movies (score = number of training ratings), skipping ``exclude``."""
        ok = np.ones(self.n_items, dtype=bool)
        if exclude is not None and len(exclude):
            ok[exclude] = False
        if mask is not None:
            ok &= mask
        rows = self.popular_rows[ok[self.popular_rows]][:k]
        return rows, self.item_counts[rows].astype(np.float64)

    def predict(self, urow: int, irow: int) -> float:
        """The model's score of one known (user, movie) pair (the engines' arithmetic)."""
        x = self.user_factors[urow].astype(np.float64)
        rows = np.asarray([irow], dtype=np.int64)
        return float(self._exact(x, float(self.user_bias[urow]), rows, unit=False)[0])

    def explain(self, urow: int, irow: int, k: int) -> Explanation:
        """The user's rated movies contributing most to their score for ``irow``.

        Contribution of rated movie j: ``c_j = r̃_j · y_jᵀ A⁻¹ y_m`` (module docstring; for
        ``implicit-als`` r̃_j is the confidence c_j·p_j and A the implicit system); the
        ``k`` largest come back, descending (ties by ascending movie id).
        """
        rows, ratings = self.seen(urow)
        r = np.asarray(ratings, dtype=np.float64)
        bu = float(self.user_bias[urow])
        if self.implicit:
            a, y, resid = self._implicit_system(rows.astype(np.int64), r)
        else:
            resid, _ = self._residuals(rows.astype(np.int64), r, bu if self.biased else None)
            a, y = self._normal_matrix(rows.astype(np.int64))
        w = np.linalg.solve(a, self.item_f64[irow])
        contrib = resid * (y @ w)
        x = self.user_factors[urow].astype(np.float64)
        factor = float(np.cumsum(x * self.item_f64[irow])[-1]) if self.rank else 0.0
        baseline = (self.global_mean + bu + float(self.item_bias[irow])) if self.biased else 0.0
        order = np.lexsort((rows, -contrib))[:k]
        return Explanation(
            score=self.predict(urow, irow),
            baseline=baseline,
            factor_score=factor,
            contributions_sum=float(contrib.sum()),
            item_rows=rows[order].astype(np.int64),
            contributions=contrib[order],
            ratings=r[order],
        )
