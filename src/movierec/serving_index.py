"""The ``serving/`` index of a saved model folder: the training ratings as plain ``.npy``
arrays by factor row, and titles/genres as JSON, so the HTTP service starts without
decoding Parquet (the layout is in :mod:`movierec.model_io`'s docstring)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.engines.base import Factors
from movierec.schema import GENRES, ITEM, RATING, TITLE, USER

log = logging.getLogger(__name__)


def write_serving_index(
    folder: Path, train: pd.DataFrame, factors: Factors, movies: pd.DataFrame | None
) -> None:
    """Write ``folder`` (``serving/`` of a model folder, :mod:`movierec.model_io`): the
    training ratings ``train`` indexed by the rows of ``factors``' sorted ids — seen_indptr,
    seen_items, seen_ratings, item_counts (``.npy``) and, with ``movies``, movies.json.
    Skipped, with a log line, when the ids are not sorted or some training user or movie
    has no factors (the service then reads the Parquet file)."""
    user_ids = np.asarray(factors.user_ids, dtype=np.int64)
    item_ids = np.asarray(factors.item_ids, dtype=np.int64)
    u = train[USER].to_numpy(dtype=np.int64)
    i = train[ITEM].to_numpy(dtype=np.int64)
    urows = np.searchsorted(user_ids, u)
    irows = np.searchsorted(item_ids, i)
    ok_u = (urows < len(user_ids)) & (user_ids[np.minimum(urows, len(user_ids) - 1)] == u)
    ok_i = (irows < len(item_ids)) & (item_ids[np.minimum(irows, len(item_ids) - 1)] == i)
    if (np.diff(user_ids) <= 0).any() or (np.diff(item_ids) <= 0).any():
        log.info("no serving index: factor ids are not sorted")
        return
    if len(train) and (not len(user_ids) or not len(item_ids) or not (ok_u.all() and ok_i.all())):
        log.info("no serving index: some training users or movies have no factors")
        return
    order = np.lexsort((irows, urows))
    ratings = train[RATING].to_numpy(dtype=np.float64)[order]
    narrow = ratings.astype(np.float32)
    folder.mkdir()
    indptr = np.zeros(len(user_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(urows, minlength=len(user_ids)), out=indptr[1:])
    np.save(folder / "seen_indptr.npy", indptr)
    np.save(folder / "seen_items.npy", irows[order].astype(np.int32))
    lossless = np.array_equal(narrow.astype(np.float64), ratings)
    np.save(folder / "seen_ratings.npy", narrow if lossless else ratings)
    np.save(folder / "item_counts.npy", np.bincount(irows, minlength=len(item_ids)))
    if movies is not None:
        titles = [""] * len(item_ids)
        genres = [""] * len(item_ids)
        m_ids = movies[ITEM].to_numpy(dtype=np.int64)
        pos = np.minimum(np.searchsorted(item_ids, m_ids), max(len(item_ids) - 1, 0))
        found = (item_ids[pos] == m_ids) if len(item_ids) else np.zeros(len(m_ids), dtype=bool)
        t_col = movies[TITLE] if TITLE in movies else pd.Series([None] * len(movies))
        g_col = movies[GENRES] if GENRES in movies else pd.Series([None] * len(movies))
        taken = np.zeros(len(item_ids), dtype=bool)
        for r, ok, t, g in zip(pos.tolist(), found.tolist(), t_col.tolist(), g_col.tolist()):
            if ok and not taken[r]:  # the first row of a movie wins, as the service reads
                taken[r] = True
                titles[r] = t if isinstance(t, str) else ""
                genres[r] = g if isinstance(g, str) else ""
        text = json.dumps({"titles": titles, "genres": genres}, ensure_ascii=False)
        (folder / "movies.json").write_text(text, encoding="utf-8")


__all__ = ["write_serving_index"]
