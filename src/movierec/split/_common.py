"""Checks and small steps shared by the split definitions (empty tables, fractions, folds)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError


def check_non_empty(ratings: pd.DataFrame) -> None:
    """Raises DataError when ``ratings`` has no rows."""
    if len(ratings) == 0:
        raise DataError("cannot split an empty ratings table")


def check_fraction(test_fraction: float) -> float:
    """``test_fraction`` as a float strictly between 0 and 1, else ConfigError."""
    if isinstance(test_fraction, bool):
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction!r}")
    try:
        value = float(test_fraction)
    except (TypeError, ValueError):
        raise ConfigError(f"test fraction must be a number, got {test_fraction!r}") from None
    if not 0.0 < value < 1.0:
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction}")
    return value


def check_sides(train: pd.DataFrame, test: pd.DataFrame, what: str, hint: str) -> None:
    """Raises DataError naming ``what`` and ``hint`` when either side of a split is empty."""
    if len(train) == 0 or len(test) == 0:
        side = "train" if len(train) == 0 else "test"
        raise DataError(f"{what} left the {side} side empty; {hint}")


def position_within_user(users: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``order`` (grouped by user), each row's 0-based position within its
    user and its user's row count, both aligned with the sorted order."""
    codes, _ = pd.factorize(users[order], sort=False)
    sizes = np.bincount(codes)
    starts = np.cumsum(sizes) - sizes
    return np.arange(len(order)) - starts[codes], sizes[codes]


def fold_pairs(
    ratings: pd.DataFrame, ids: np.ndarray, folds: int, empty: Callable[[int], str]
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """One (train, validation) pair per fold: fold ``f`` validates on the rows with
    ``ids == f`` and trains on the others.

    Raises:
        DataError: fold ``f`` has no rows (message ``empty(f)``).
    """
    out = []
    for f in range(folds):
        mask = ids == f
        if not mask.any():
            raise DataError(empty(f))
        out.append(
            (ratings.loc[~mask].reset_index(drop=True), ratings.loc[mask].reset_index(drop=True))
        )
    return out
