"""Top-N recommendation lists: titles and original ids joined in, and written to files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.atomic import atomic_files
from movierec.engines.base import EngineData, TrainedModel
from movierec.errors import DataError
from movierec.ids import lookup_ids
from movierec.schema import GENRES, ITEM, RANK, RATING, SCORE, TITLE, USER

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = [USER, RANK, ITEM, TITLE, GENRES, SCORE]


def decorate(
    recs: pd.DataFrame,
    movies: pd.DataFrame | None = None,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recommendations with original ids and, when ``movies`` is given, titles and genres.

    ``recs`` has USER, ITEM, SCORE, RANK in dense ids. Titles are joined on the dense movie
    id before ids are mapped back; a movie without a title gets an empty string.
    Columns: user_id, rank, movie_id, title, genres, score.
    """
    out = recs[[USER, RANK, ITEM, SCORE]].copy()
    if movies is not None:
        meta = movies[[ITEM, TITLE, GENRES]].drop_duplicates(ITEM)
        out = out.merge(meta, on=ITEM, how="left")
        out[TITLE] = out[TITLE].fillna("")
        out[GENRES] = out[GENRES].fillna("")
    else:
        out[TITLE] = ""
        out[GENRES] = ""
    if user_ids is not None:
        out[USER] = np.asarray(user_ids)[out[USER].to_numpy()]
    if item_ids is not None:
        out[ITEM] = np.asarray(item_ids)[out[ITEM].to_numpy()]
    return out.sort_values([USER, RANK], kind="stable").reset_index(drop=True)[OUTPUT_COLUMNS]


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


def save_recommendations(recs: pd.DataFrame, path: Path) -> list[Path]:
    """Write recommendations to ``path``: ``.parquet`` and/or ``.csv`` chosen by suffix.

    A path without either suffix gets both files (``path.parquet`` and ``path.csv``).
    Both files are written under temporary names first and then renamed, so readers never
    see a partial file. Returns the written paths.

    Raises:
        MovierecError: the folder is not writable.
    """
    path = Path(path)
    targets = (
        [path]
        if path.suffix in (".parquet", ".csv")
        else [path.with_suffix(".parquet"), path.with_suffix(".csv")]
    )
    with atomic_files(*targets) as temps:
        for tmp, target in zip(temps, targets):
            if target.suffix == ".parquet":
                recs.to_parquet(tmp, index=False)
            else:
                recs.to_csv(tmp, index=False)
    return targets


def map_user_ids(
    requested: list[str], user_ids: np.ndarray | None, known: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Translate user ids as typed by a person to dense ids; also return the unknown ones."""
    dense = lookup_ids(np.asarray(requested, dtype=object), user_ids, known)
    unknown = [r for r, d in zip(requested, dense.tolist()) if d < 0]
    return dense[dense >= 0].astype(np.int32), unknown
