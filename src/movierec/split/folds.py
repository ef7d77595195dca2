"""k-fold cross-validation: folds by rating and folds by user, each a pure function of the ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.errors import ConfigError
from movierec.schema import ITEM, USER
from movierec.split._common import check_non_empty, fold_pairs
from movierec.split._hash import SALT_FOLDS, SALT_USER_FOLDS, uniform_keys


def fold_ids(ratings: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Fold number in 0..folds-1 for each rating (k-fold by rating, about equal sizes)."""
    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    keys = uniform_keys(ratings, seed, SALT_FOLDS)
    return np.minimum((keys * folds).astype(np.int64), folds - 1)


def kfold(ratings: pd.DataFrame, folds: int, seed: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """k-fold cross-validation by rating: ``folds`` (train, validation) pairs.

    Every rating is in exactly one validation fold and in the training side of the others.

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: the table is empty or a fold came out empty.
    """
    check_non_empty(ratings)
    ids = fold_ids(ratings, folds, seed)
    return fold_pairs(
        ratings,
        ids,
        folds,
        lambda f: f"fold {f} of {folds} is empty: too few ratings for {folds} folds",
    )


def user_fold_ids(ratings: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    r"""Fold number in 0..folds-1 for each rating, the same for all of a user's ratings.

    A user's fold is :math:`\min(\lfloor \text{key}_u \cdot \text{folds}\rfloor,
    \text{folds} - 1)` with :math:`\text{key}_u` the :func:`uniform_keys` value of
    (user, movie 0) under a salt of its own, so it depends only on the user id and the seed
    (about equal numbers of users per fold, not of ratings).
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    users = pd.unique(ratings[USER])
    keys = uniform_keys(
        pd.DataFrame({USER: users, ITEM: np.zeros(len(users), dtype=np.int64)}),
        seed,
        SALT_USER_FOLDS,
    )
    user_fold = np.minimum((keys * folds).astype(np.int64), folds - 1)
    return user_fold[pd.Index(users).get_indexer(pd.Index(ratings[USER]))]


def kfold_by_user(
    ratings: pd.DataFrame, folds: int, seed: int
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """k-fold cross-validation by user: ``folds`` (train, validation) pairs.

    Users, not ratings, are assigned to folds (:func:`user_fold_ids`): all of a user's
    ratings are in the same validation fold and absent from that fold's training side, so
    every validation user is a cold-start user for the model trained on the other folds
    (useful for fold-in or popularity baselines, not for plain ALS scoring).

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: the table is empty or a fold came out empty (fewer users than folds).
    """
    check_non_empty(ratings)
    ids = user_fold_ids(ratings, folds, seed)
    return fold_pairs(
        ratings,
        ids,
        folds,
        lambda f: (
            f"user fold {f} of {folds} is empty: too few users ({ratings[USER].nunique()}) "
            f"for {folds} folds"
        ),
    )
