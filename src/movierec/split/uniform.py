"""Splits drawn by thresholding one uniform key per rating: random and nested train-fraction."""

from __future__ import annotations

import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.split._common import check_non_empty
from movierec.split._hash import SALT_COMPARE, SALT_HOLDOUT, uniform_keys


def random_split(
    ratings: pd.DataFrame, test_fraction: float, seed: int, salt: int = SALT_HOLDOUT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ratings at random into (train, test) with about ``test_fraction`` in test.

    Each rating goes to test when its :func:`uniform_keys` value is below ``test_fraction``;
    the realised share is binomial around the target (±0.3 points at 100k ratings).

    Raises:
        ConfigError: ``test_fraction`` is not strictly between 0 and 1.
        DataError: the table is empty, or one side of the split came out empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction}")
    check_non_empty(ratings)
    in_test = uniform_keys(ratings, seed, salt) < test_fraction
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    if len(train) == 0 or len(test) == 0:
        raise DataError(
            f"a {1 - test_fraction:.0%}/{test_fraction:.0%} split of {len(ratings)} ratings "
            "left one side empty; use more data or another fraction"
        )
    return train, test


def train_fraction_splits(
    ratings: pd.DataFrame, train_fractions: list[float], seed: int
) -> list[tuple[float, pd.DataFrame, pd.DataFrame]]:
    """One (fraction, train, test) split per train fraction, nested by construction.

    All fractions share the same per-rating key, so the 60% training set is contained in
    the 70% one and so on: differences between rows of a comparison come from the amount
    of training data, not from a different draw.
    """
    check_non_empty(ratings)
    keys = uniform_keys(ratings, seed, SALT_COMPARE)
    out = []
    for fraction in train_fractions:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"train fraction must be between 0 and 1, got {fraction}")
        in_train = keys < fraction
        out.append(
            (
                fraction,
                ratings.loc[in_train].reset_index(drop=True),
                ratings.loc[~in_train].reset_index(drop=True),
            )
        )
    return out
