"""Model folders: save and load a trained model with everything needed to use it later.

Layout of a model folder (format version 1)::

    model.json            format version, engine, parameters, training-data fingerprint,
                          counts, metrics, config, versions, creation time
    factors.npz           user_ids, user_factors, item_ids, item_factors (float32), global_mean,
                          user_bias, item_bias (float64; zeros for plain ALS); no pickles
                          (``ease``: the ids with its blended implicit-als partner's
                          factors, or zero-width factors without a blend; its item-item
                          weights are in engine/, format ``movierec-ease``, see
                          :mod:`movierec.engines.ease_model`)
    engine/               the engine's native model (Spark: ALSModel.save output)
    train_ratings.parquet the training ratings (user_id, movie_id, rating): seen-item exclusion;
                          a folder of part files sorted by user when Spark's executors wrote it
    movies.parquet        titles and genres, when a movies file was given
    user_ids.npy / item_ids.npy   original ids by dense index, when ids were remapped
    serving/              (models trained in process) the training ratings indexed for the
                          HTTP service, read as plain
                          ``.npy`` arrays (no Parquet decoding at start-up):
                          seen_indptr.npy (int64, users + 1: CSR offsets by user row),
                          seen_items.npy (int32: item rows, i.e. positions in the id-sorted
                          item_ids, grouped by user row, ascending within a user),
                          seen_ratings.npy (the ratings in that order: float32 when that is
                          lossless, else float64), item_counts.npy (int64 ratings per item row),
                          movies.json ({"titles": [...], "genres": [...]} by item row: the
                          movies.parquet text for the service, without Parquet)
    recommender/          (``movierec run`` only, when top-N lists come from another model)
                          the ranking model, itself a complete model folder of this format
    manifest.json         size and SHA-256 of every other file (sub-folders too), written
                          last; ``model.json``'s ``integrity`` section records the factor-norm
                          bounds and that the manifest exists (see :mod:`movierec.model_format`)

``model.json`` may have a ``recommender`` section saying which model ranks (``movierec
run`` picks it; readers that ignore the section still read the rating model correctly):
``{"name": "rating-model"}`` (this model), ``{"name": "implicit-als", "path":
"recommender", …}`` (the sub-folder) or ``{"name": "most-popular"}`` (no model: the most
rated unseen movies), with ``why`` and ``validation_ndcg`` from the choice.

The factors load with plain numpy (``np.load(..., allow_pickle=False)``), so later
components can score without Spark. The names and constants of the format live in
:mod:`movierec.model_format` (standard library only; the HTTP service reads it too).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.atomic import atomic_dir
from movierec.engines.base import ALSParams, EngineData, Factors, Loaded, TrainedModel
from movierec.engines.ease_blend import aligned
from movierec.engines.frames import fingerprint as fingerprint  # re-exported
from movierec.errors import ModelError, MovierecError
from movierec.ids import align_column
from movierec.model_format import (
    FACTORS,
    ITEM_IDS,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    MODEL_JSON,
    MOVIES,
    RECOMMENDER_DIR,
    REQUIRED_FILES,
    SERVING_DIR,
    TRAIN_RATINGS,
    USER_IDS,
    check_model_dir,
    integrity_section,
    parse_meta,
    read_manifest,
    write_manifest,
)
from movierec.schema import ITEM, RATING, USER
from movierec.serving_index import write_serving_index

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MODEL_JSON",
    "RECOMMENDER_DIR",
    "REQUIRED_FILES",
    "SERVING_DIR",
    "TRAIN_RATINGS",
    "SavedModel",
    "align_test_ids",
    "fingerprint",
    "load_model_dir",
    "save_model",
]

log = logging.getLogger(__name__)


def _id_array_for_save(ids: np.ndarray) -> np.ndarray:
    """Original ids as a numpy array that loads without pickle (str -> fixed-width unicode)."""
    arr = np.asarray(ids)
    if arr.dtype == object:
        arr = arr.astype(str)
    return arr


@dataclass
class SavedModel:
    """A model folder read back: metadata, factors, training ratings, titles and id maps."""

    path: Path
    meta: dict[str, Any]
    factors: Factors
    movies: pd.DataFrame | None
    user_ids: np.ndarray | None
    item_ids: np.ndarray | None
    _train: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def engine_path(self) -> Path:
        return self.path / "engine"

    @property
    def train_path(self) -> Path:
        """``train_ratings.parquet``: one file, or a folder of part files (Spark)."""
        return self.path / TRAIN_RATINGS

    @property
    def train(self) -> pd.DataFrame:
        """The training ratings, read into this process on first use. An engine reads them
        where it works instead: ``engine.read_table(saved.train_path)``.

        Raises:
            ModelError: the file (or its parts) cannot be read.
        """
        if self._train is None:
            from movierec.lists import read_table

            try:
                self._train = read_table(self.train_path)
            except (OSError, ValueError, MovierecError) as exc:
                raise ModelError(f"{self.path}: training ratings unreadable ({exc})") from exc
        return self._train

    @property
    def params(self) -> ALSParams:
        """The hyper-parameters the model was trained with."""
        return ALSParams(**self.meta["params"])


def save_model(
    model: TrainedModel,
    target: Path,
    *,
    engine: str,
    train: pd.DataFrame | EngineData,
    movies: pd.DataFrame | None = None,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
    rejects: pd.DataFrame | Loaded | None = None,
    recommender: dict[str, Any] | None = None,
    recommender_model: TrainedModel | None = None,
) -> Path:
    """Write ``model`` and its context to the folder ``target`` atomically; return ``target``.

    An existing model folder at ``target`` is replaced; any other existing path is an error.
    ``train`` is a pandas table or an engine's table: in this process it is written as one
    ``train_ratings.parquet`` file plus the ``serving/`` index; a distributed engine's
    executors write ``train_ratings.parquet`` as a folder of part files sorted by user, and
    there is no ``serving/`` index (the service reads the parts). ``rejects`` (input rows
    rejected at load time: a table, or the :class:`Loaded` that holds them), when given, is
    kept in the folder (``rejects.csv``). ``recommender`` (``{"recommender": name, "why": …,
    …}`` as ``movierec run`` chooses it) becomes ``model.json``'s ``recommender`` section;
    ``recommender_model``, the ranking model when it is not ``model``, is saved as the
    complete model folder ``recommender/`` (same training data, ids and titles) inside
    ``target``.
    """
    factors = _factors(model)
    rows = train if isinstance(train, pd.DataFrame) else train.local_rows()
    if rows is not None:
        training_data = {
            "fingerprint": fingerprint(rows),
            "ratings": len(rows),
            "users": int(rows[USER].nunique()),
            "items": int(rows[ITEM].nunique()),
            "rating_min": float(rows[RATING].min()),
            "rating_max": float(rows[RATING].max()),
        }
    else:
        assert isinstance(train, EngineData)
        stats = train.stats()
        training_data = {
            "fingerprint": train.fingerprint(),
            "ratings": stats.rows,
            "users": stats.users,
            "items": stats.items,
            "rating_min": stats.rating_min,
            "rating_max": stats.rating_max,
        }
    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "engine": engine,
        "params": model.params.to_dict(),
        "training_data": training_data,
        "ids_mapped": {"users": user_ids is not None, "items": item_ids is not None},
        "has_titles": movies is not None,
        "metrics": metrics or {},
        "config": config or {},
        "versions": versions or {},
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if recommender is not None:
        info = dict(recommender)
        name = info.pop("recommender", info.pop("name", None))
        meta["recommender"] = {
            "name": name,
            **({"path": RECOMMENDER_DIR} if recommender_model is not None else {}),
            **info,
        }
    with atomic_dir(Path(target), replace_if=MODEL_JSON) as tmp:
        model.save(tmp / "engine")
        zero_u = np.zeros(len(factors.user_ids))
        zero_i = np.zeros(len(factors.item_ids))
        np.savez(
            tmp / FACTORS,
            user_ids=factors.user_ids,
            user_factors=factors.user_factors,
            item_ids=factors.item_ids,
            item_factors=factors.item_factors,
            global_mean=np.float64(factors.global_mean),
            user_bias=factors.user_bias if factors.user_bias is not None else zero_u,
            item_bias=factors.item_bias if factors.item_bias is not None else zero_i,
        )
        remote: dict[str, tuple[int, str]] = {}  # files executors wrote into a remote output
        if rows is not None:
            rows[[USER, ITEM, RATING]].to_parquet(tmp / TRAIN_RATINGS, index=False)
            write_serving_index(tmp / SERVING_DIR, rows, factors, movies)
        else:
            assert isinstance(train, EngineData)
            remote = train.write_ratings(tmp / TRAIN_RATINGS)
        if movies is not None:
            movies.to_parquet(tmp / MOVIES, index=False)
        if user_ids is not None:
            np.save(tmp / USER_IDS, _id_array_for_save(user_ids), allow_pickle=False)
        if item_ids is not None:
            np.save(tmp / ITEM_IDS, _id_array_for_save(item_ids), allow_pickle=False)
        if isinstance(rejects, Loaded):
            rejects.write_rejects(tmp)
        elif rejects is not None:
            from movierec.data import save_rejects

            save_rejects(rejects, tmp / "rejects.csv")
        if recommender_model is not None:
            save_model(
                recommender_model,
                tmp / RECOMMENDER_DIR,
                engine=engine,
                train=train,
                movies=movies,
                user_ids=user_ids,
                item_ids=item_ids,
                config=config,
                versions=versions,
            )
        meta["integrity"] = _integrity(factors)
        (tmp / MODEL_JSON).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        write_manifest(tmp, remote)  # last: it hashes every file above, model.json included
    log.info("model saved to %s", target)
    return Path(target)


def _factors(model: TrainedModel) -> Factors:
    """The model's factors. An item-item model (``ease``) has none: its user and movie ids,
    with the blended implicit-als partner's factors aligned to them (``ease_blend`` > 0: the
    service scores the blend from them) or zero-width matrices (plain EASE), so
    ``factors.npz`` and ``serving/`` still index the training data (B lives in ``engine/``)."""
    if model.params.model != "ease":
        return model.factors()
    user_ids = np.asarray(model.user_ids, dtype=np.int32)  # type: ignore[attr-defined]
    item_ids = np.asarray(model.item_ids, dtype=np.int32)  # type: ignore[attr-defined]
    partner: TrainedModel | None = getattr(model, "partner", None)
    if partner is not None:
        uf, itf = aligned(partner.factors(), user_ids, item_ids)
        return Factors(user_ids, uf.astype(np.float32), item_ids, itf.astype(np.float32))
    return Factors(
        user_ids,
        np.zeros((len(user_ids), 0), dtype=np.float32),
        item_ids,
        np.zeros((len(item_ids), 0), dtype=np.float32),
    )


def _integrity(factors: Factors) -> dict[str, Any]:
    """``model.json``'s ``integrity`` section: the factor-norm bounds readers check (the
    largest row norm of the saved factors times a margin; see :mod:`movierec.model_format`)."""

    def max_norm(f: np.ndarray) -> float:
        f = np.asarray(f, dtype=np.float64)
        return float(np.sqrt(np.einsum("ij,ij->i", f, f).max())) if f.size else 0.0

    return integrity_section(max_norm(factors.user_factors), max_norm(factors.item_factors))


def load_model_dir(path: Path) -> SavedModel:
    """Read a model folder written by :func:`save_model`.

    Every file read is checked against the folder's checksum manifest (when it has one;
    folders written before manifests load unverified), and every other listed file by
    size. ``train_ratings.parquet`` may be one file or a folder of Parquet part files; it is
    verified here but not read (:attr:`SavedModel.train` reads it on first use, an engine
    reads it where it works).

    Raises:
        ModelError: the folder is missing, incomplete, changed since it was saved, or
            written by an incompatible version.
    """
    path = check_model_dir(Path(path))
    meta_file = path / MODEL_JSON
    try:
        raw = meta_file.read_bytes()
    except OSError as exc:
        raise ModelError(f"{meta_file}: unreadable ({exc})") from exc
    meta = parse_meta(raw, path)
    missing = [name for name in REQUIRED_FILES if not (path / name).exists()]
    if missing:
        raise ModelError(
            f"{path}: model folder is incomplete: {', '.join(missing)} missing "
            "(copy the whole folder, or retrain the model)"
        )
    manifest = read_manifest(path, meta)
    if manifest is not None:
        manifest.check_sizes()
        for name in (MODEL_JSON, FACTORS, TRAIN_RATINGS, MOVIES, USER_IDS, ITEM_IDS):
            if (path / name).exists() or name in manifest.files:
                manifest.verify_path(name)
    else:
        log.warning("%s: no checksum manifest (saved by an older movierec): not verified", path)
    try:
        with np.load(path / FACTORS, allow_pickle=False) as z:
            factors = Factors(
                z["user_ids"],
                z["user_factors"],
                z["item_ids"],
                z["item_factors"],
                global_mean=float(z["global_mean"]),
                user_bias=z["user_bias"],
                item_bias=z["item_bias"],
            )
        movies_file = path / MOVIES
        movies = pd.read_parquet(movies_file) if movies_file.exists() else None
        user_ids = _load_ids(path / USER_IDS)
        item_ids = _load_ids(path / ITEM_IDS)
        ALSParams(**meta["params"])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: model folder is incomplete or damaged ({exc})") from exc
    return SavedModel(path, meta, factors, movies, user_ids, item_ids)


def _load_ids(file: Path) -> np.ndarray | None:
    return np.load(file, allow_pickle=False) if file.is_file() else None


def align_test_ids(loaded: Any, saved: SavedModel) -> pd.DataFrame:
    """Express a separately loaded ratings table in the dense ids of a saved model.

    Ids are matched through their original values (compared as text), so it works whether
    either side remapped its ids or not. A user or movie the model does not know gets an id
    that no known one has, so it is treated (and reported) as cold start.
    """
    ratings: pd.DataFrame = loaded.ratings.copy()
    for col, model_map, test_map, known in (
        (USER, saved.user_ids, loaded.user_ids, saved.factors.user_ids),
        (ITEM, saved.item_ids, loaded.item_ids, saved.factors.item_ids),
    ):
        if model_map is not None or test_map is not None:
            ratings[col] = align_column(ratings[col].to_numpy(), test_map, model_map, known)
    return ratings
