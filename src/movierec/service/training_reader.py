"""The part of a model folder that describes its training data, read and validated: the id
maps, each user's seen movies with their ratings (``serving/`` or ``train_ratings.parquet``),
the rating scale, titles and genres (:func:`training_data`, called by
:func:`movierec.service.model_reader.read_model`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.model_format import (
    ITEM_IDS,
    MOVIES,
    SERVING_ARRAYS,
    SERVING_DIR,
    SERVING_MOVIES,
    TRAIN_RATINGS,
    USER_IDS,
)
from movierec.service.model_files import ModelFiles
from movierec.service.train_index import SeenIndex, bincount, column, rows_of, seen_index


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The users, movies and ratings a model was trained on (shared by a model and its
    recommender sub-model when they were trained on the same data)."""

    user_originals: np.ndarray | None
    """Original ids by dense id, when the ids were remapped (``user_ids.npy``)."""
    item_originals: np.ndarray | None
    seen: SeenIndex
    rating_min: float
    rating_max: float
    titles: list[str]
    genres: list[list[str]]


def genre_list(text: Any) -> list[str]:
    """``"Comedy|Drama"`` -> ``["Comedy", "Drama"]`` (MovieLens's "no genres" marker dropped)."""
    return [x for x in str(text or "").split("|") if x and x != "(no genres listed)"]


def training_data(
    files: ModelFiles, meta: dict[str, Any], user_ids: np.ndarray, item_ids: np.ndarray
) -> TrainingData:
    """The training data of a model folder: the id maps (checked to cover ``user_ids`` /
    ``item_ids``), each user's seen movies (the ``serving/`` index, else the grouped
    ``train_ratings.parquet``), the rating scale (every rating finite and inside it), titles
    and genres; arrays read-only.

    Raises:
        ModelError: a file is unreadable or inconsistent with the model (named).
    """
    originals: list[np.ndarray | None] = []
    for name, dense in ((USER_IDS, user_ids), (ITEM_IDS, item_ids)):
        if not files.exists(name):
            originals.append(None)
            continue
        arr = files.npy(name)
        if arr.ndim != 1 or (len(dense) and (dense.min() < 0 or dense.max() >= len(arr))):
            raise ModelError(f"{files.folder / name}: id map does not cover the model's ids")
        originals.append(arr)
    if files.exists(f"{SERVING_DIR}/seen_indptr.npy"):
        seen = _serving_index(files, meta, len(user_ids), len(item_ids))
    else:
        table = files.parquet(TRAIN_RATINGS, ["user_id", "movie_id", "rating"])
        seen = seen_index(table, user_ids, item_ids, files.folder / TRAIN_RATINGS)
        del table
    lo, hi = _scale(meta, seen.seen_ratings, files.folder)
    r = seen.seen_ratings
    # min/max propagate NaN, so one NaN fails the range test too (no 25M-entry temporary)
    if len(r) and not (float(r.min()) >= lo and float(r.max()) <= hi):
        raise ModelError(
            f"{files.folder}: training ratings are not all finite numbers within the "
            f"training scale [{lo}, {hi}] (damaged seen_ratings)"
        )
    for arr in (seen.seen_indptr, seen.seen_items, seen.seen_ratings, seen.item_counts):
        arr.flags.writeable = False
    titles, genres = _movies(files, item_ids)
    return TrainingData(originals[0], originals[1], seen, lo, hi, titles, genres)


def _serving_index(
    files: ModelFiles, meta: dict[str, Any], n_users: int, n_items: int
) -> SeenIndex:
    """The ``serving/`` CSR, validated: shapes and dtypes, monotone offsets, item rows in
    range, counts consistent with the rows and with ``model.json``."""
    a = {name: files.npy(f"{SERVING_DIR}/{name}.npy") for name in SERVING_ARRAYS}
    indptr, items = a["seen_indptr"], a["seen_items"]
    ratings, counts = a["seen_ratings"], a["item_counts"]
    expected = (meta.get("training_data") or {}).get("ratings", len(items))
    bad = ModelError(
        f"{files.folder / SERVING_DIR}: serving index does not match the model (the folder "
        "mixes files of different models)"
    )
    if (
        indptr.shape != (n_users + 1,)
        or not np.issubdtype(indptr.dtype, np.integer)
        or items.ndim != 1
        or items.dtype != np.int32
        or ratings.shape != items.shape
        or ratings.dtype not in (np.float32, np.float64)
        or counts.shape != (n_items,)
        or not np.issubdtype(counts.dtype, np.integer)
        or len(items) != expected
        or int(indptr[0]) != 0
        or int(indptr[-1]) != len(items)
        or (np.diff(indptr) < 0).any()
    ):
        raise bad
    if len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items):
        raise bad
    if not np.array_equal(bincount(items, n_items), counts):
        raise bad
    return SeenIndex(indptr.astype(np.int64, copy=False), items, ratings, counts.astype(np.int64))


def _scale(meta: dict[str, Any], ratings: np.ndarray, folder: Path) -> tuple[float, float]:
    """The training rating scale [min, max] from model.json (from the ratings if absent)."""
    data = meta.get("training_data") or {}
    lo, hi = data.get("rating_min"), data.get("rating_max")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ModelError(f"{folder}: invalid rating scale [{lo}, {hi}] in model.json")
        return float(lo), float(hi)
    finite = ratings[np.isfinite(ratings)] if len(ratings) else ratings
    return (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)


def _movies(files: ModelFiles, item_ids: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Titles and genres by item row (empty when the folder has no movies)."""
    n = len(item_ids)
    titles: list[str] = [""] * n
    genres: list[list[str]] = [[] for _ in range(n)]
    if not files.exists(MOVIES):
        return titles, genres
    index = f"{SERVING_DIR}/{SERVING_MOVIES}"
    if files.exists(index):  # the same text by item row, without importing pyarrow
        try:
            data = json.loads(files.read(index))
        except ValueError as exc:
            raise ModelError(f"{files.folder / index}: unreadable ({exc})") from exc
        t = data.get("titles") if isinstance(data, dict) else None
        g = data.get("genres") if isinstance(data, dict) else None
        if not (isinstance(t, list) and isinstance(g, list)):
            raise ModelError(f"{files.folder / index}: no titles or genres lists")
        if len(t) != n or len(g) != n:
            raise ModelError(f"{files.folder / index}: {len(t)} titles for {n} movies")
        return [x if isinstance(x, str) else "" for x in t], [genre_list(x) for x in g]
    table = files.parquet(MOVIES)
    names = set(table.column_names)
    rows = rows_of(item_ids, column(table, "movie_id", files.folder / MOVIES))
    tl = table.column("title").to_pylist() if "title" in names else [None] * len(rows)
    gl = table.column("genres").to_pylist() if "genres" in names else [None] * len(rows)
    for r, t_, g_ in zip(rows.tolist(), tl, gl):
        if r < 0 or titles[r]:
            continue
        titles[r] = t_ or ""
        genres[r] = genre_list(g_)
    return titles, genres


__all__ = ["TrainingData", "genre_list", "training_data"]
