"""Top-N recommendation lists for people: a user's liked movies beside their list, user ids as
typed; writing lists with titles lives in :mod:`movierec.lists` (re-exported here)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from movierec.engines.base import Catalog, EngineData, TrainedModel
from movierec.errors import DataError
from movierec.ids import lookup_ids
from movierec.lists import OUTPUT_COLUMNS, decorate, save_recommendations
from movierec.schema import ITEM, RANK, RATING, SCORE, USER

log = logging.getLogger(__name__)


def top_rated(
    train: pd.DataFrame,
    users: np.ndarray,
    n: int = 5,
    movies: pd.DataFrame | None = None,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each user's ``n`` highest-rated training movies (ties: lower movie id first).

    Columns: user_id, movie_id, title, genres, rating; ids mapped back to the originals.
    Shown beside recommendations so a person can judge them.
    """
    mine = train.loc[train[USER].isin(np.asarray(users)), [USER, ITEM, RATING]]
    mine = mine.sort_values([USER, RATING, ITEM], ascending=[True, False, True], kind="stable")
    top = mine.groupby(USER, sort=True).head(n).copy()
    top[RANK] = top.groupby(USER).cumcount() + 1
    top[SCORE] = top[RATING]
    out = decorate(top[[USER, ITEM, SCORE, RANK]], movies, user_ids, item_ids)
    return out.rename(columns={SCORE: RATING}).drop(columns=[RANK])


def recommend_for_users(
    model: TrainedModel,
    seen: EngineData,
    users: np.ndarray | None,
    n: int,
) -> pd.DataFrame:
    """Top-``n`` unseen movies for ``users`` (None = every user in the model).

    Raises:
        DataError: none of the requested users is known to the model.
    """
    recs = model.recommend(users, n, exclude=seen)
    if users is not None and len(recs) == 0:
        raise DataError("none of the requested users is in the model")
    return recs


def map_user_ids(
    requested: list[str], user_ids: np.ndarray | None, known: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Translate user ids as typed by a person to dense ids; also return the unknown ones."""
    dense = lookup_ids(np.asarray(requested, dtype=object), user_ids, known)
    unknown = [r for r, d in zip(requested, dense.tolist()) if d < 0]
    return dense[dense >= 0].astype(np.int32), unknown


SAMPLE_USERS = 3
"""Users whose lists a run's summary quotes for the report (see :func:`recommendation_sample`)."""
SAMPLE_LIKED = 10
"""Highest-rated movies shown beside each sampled user's list."""


def pick_users(user_counts: pd.Series, k: int = SAMPLE_USERS) -> list[tuple[str, int]]:
    """Up to ``k`` users, deterministically: the fewest ratings, the median, the most (ties:
    lowest id). ``user_counts`` is ratings per user by dense id (the EDA aggregate). Returns
    (description, dense id) pairs."""
    counts = pd.DataFrame({USER: user_counts.index.to_numpy(), "n": user_counts.to_numpy()})
    counts = counts.loc[counts["n"] > 0].sort_values(["n", USER], kind="stable")
    counts = counts.reset_index(drop=True)
    if counts.empty:
        return []
    last = len(counts) - 1
    out: list[tuple[str, int]] = []
    for pos, what in ((0, "fewest ratings"), (last // 2, "median"), (last, "most ratings")):
        user, n = int(counts[USER].iloc[pos]), int(counts["n"].iloc[pos])
        if all(user != d for _, d in out):
            out.append((f"{what}: {n:,} rated", user))
    return out[:k]


def recommendation_sample(
    recs: EngineData,
    train: EngineData,
    user_counts: pd.Series,
    catalog: Catalog | None,
    liked: int = SAMPLE_LIKED,
) -> list[dict[str, Any]]:
    """The lists of a few users (:func:`pick_users`) beside their highest-rated training
    movies, with titles and original ids: what the report shows, as JSON-ready records.

    Only those users' rows are collected from the engine (at most their lists and their
    ratings), so the sample stays small whatever the size of the data.
    """
    picks = pick_users(user_counts)
    if not picks:
        return []
    dense = np.asarray([d for _, d in picks], dtype=np.int64)
    cat = catalog or Catalog()
    lists = decorate(recs.rows_of_users(dense), cat.movies, cat.user_ids, cat.item_ids)
    top = top_rated(
        train.rows_of_users(dense), dense, liked, cat.movies, cat.user_ids, cat.item_ids
    )
    originals = dense if cat.user_ids is None else np.asarray(cat.user_ids)[dense]
    out = []
    for (label, _), original in zip(picks, originals.tolist(), strict=True):
        key = str(original)
        mine = lists.loc[lists[USER].astype(str) == key].drop(columns=[USER])
        theirs = top.loc[top[USER].astype(str) == key].drop(columns=[USER])
        out.append(
            {
                "label": label,
                "user": original,
                "recommendations": mine.to_dict(orient="records"),
                "top_rated": theirs.to_dict(orient="records"),
            }
        )
    return out


__all__ = [
    "OUTPUT_COLUMNS",
    "decorate",
    "map_user_ids",
    "pick_users",
    "recommend_for_users",
    "recommendation_sample",
    "save_recommendations",
    "top_rated",
]
