"""The per-user stratified split: every user keeps the same share of ratings in train."""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.schema import ITEM, USER
from movierec.split._common import (
    check_fraction,
    check_non_empty,
    check_sides,
    position_within_user,
)
from movierec.split._hash import SALT_PER_USER, uniform_keys


def per_user_split(
    ratings: pd.DataFrame, test_fraction: float, seed: int, salt: int = SALT_PER_USER
) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""Per-user stratified split: every user keeps the same share of ratings in train.

    For a user with :math:`n` ratings, exactly
    :math:`t_u = \min(\mathrm{round}(f \cdot n),\; n - 1)` of them go to test, where
    ``round`` is Python's (half to even: 2.5 -> 2) and :math:`f` = ``test_fraction``; the
    :math:`t_u` ratings with the smallest :func:`uniform_keys` value (ties, i.e. a repeated
    (user, movie), broken by movie id) are the ones held out. So a user never loses all of
    their ratings, and users with one rating (or with :math:`\mathrm{round}(f \cdot n) = 0`)
    stay entirely in train. The split is a pure function of the ids, the seed and the salt.

    Raises:
        ConfigError: ``test_fraction`` is not strictly between 0 and 1.
        DataError: the table is empty, or one side of the split came out empty.
    """
    fraction = check_fraction(test_fraction)
    check_non_empty(ratings)
    keys = uniform_keys(ratings, seed, salt)
    users = ratings[USER].to_numpy()
    items = ratings[ITEM].to_numpy()
    order = np.lexsort((items, keys, users))  # by user, then key, then movie id
    position, sizes = position_within_user(users, order)
    n_test = np.minimum(np.rint(fraction * sizes), sizes - 1)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = position < n_test
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    check_sides(
        train,
        test,
        f"a per-user {1 - fraction:.0%}/{fraction:.0%} split of {len(ratings)} ratings",
        "users need more ratings (a user with n ratings gives round(fraction*n) to test, "
        "never all of them) or use a larger fraction",
    )
    return train, test
