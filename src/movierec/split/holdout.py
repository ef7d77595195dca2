"""The final hold-out split chosen by method name, and the cold-start count of a split."""

from __future__ import annotations

import pandas as pd

from movierec.errors import ConfigError
from movierec.schema import ITEM, USER
from movierec.split.per_user import per_user_split
from movierec.split.temporal import leave_last_k_out, time_split
from movierec.split.uniform import random_split


def cold_start_counts(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, int]:
    """Count test rows whose user or movie never appears in train (ALS cannot score them)."""
    known_users = test[USER].isin(pd.unique(train[USER]))
    known_items = test[ITEM].isin(pd.unique(train[ITEM]))
    return {
        "test_rows": len(test),
        "unknown_user_rows": int((~known_users).sum()),
        "unknown_movie_rows": int((~known_items).sum()),
        "cold_start_rows": int((~(known_users & known_items)).sum()),
    }


def holdout_split(
    ratings: pd.DataFrame,
    method: str,
    test_fraction: float,
    seed: int,
    *,
    time_cut: str | None = None,
    leave_last: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The final hold-out split by ``method``: (development part, test part).

    ``random``: :func:`random_split`; ``per-user``: :func:`per_user_split`; ``time``:
    :func:`time_split` at ``time_cut`` (epoch seconds, an ISO date or a quantile; default the
    ``1 - test_fraction`` quantile of the timestamps); ``leave-last``: :func:`leave_last_k_out`
    with ``leave_last`` ratings per user.

    Raises:
        ConfigError: unknown method or bad parameters.
        DataError: the split needs timestamps the data lacks, or a side came out empty.
    """
    if method == "random":
        return random_split(ratings, test_fraction, seed)
    if method == "per-user":
        return per_user_split(ratings, test_fraction, seed)
    if method == "time":
        return time_split(ratings, time_cut if time_cut is not None else 1.0 - test_fraction)
    if method == "leave-last":
        return leave_last_k_out(ratings, leave_last)
    raise ConfigError(f"unknown split method {method!r}; use random, per-user, time or leave-last")
