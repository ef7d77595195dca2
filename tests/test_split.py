"""Splits: reproducible, disjoint, order-independent, close to the requested shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, USER
from movierec.split import (
    cold_start_counts,
    fold_ids,
    kfold,
    random_split,
    train_fraction_splits,
    uniform_keys,
)


@pytest.fixture()
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame(
        {
            USER: rng.integers(0, 500, n).astype(np.int32),
            ITEM: rng.integers(0, 2_000, n).astype(np.int32),
            RATING: rng.integers(1, 11, n) / 2.0,
        }
    )
    return df.drop_duplicates([USER, ITEM]).reset_index(drop=True)


def _pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(df[USER].tolist(), df[ITEM].tolist()))


def test_keys_are_uniform_and_seeded(ratings: pd.DataFrame) -> None:
    keys = uniform_keys(ratings, seed=42, salt=1)
    assert keys.min() >= 0.0 and keys.max() < 1.0
    # Each decile holds ~10% (binomial sd ~0.2 points at this size).
    hist, _ = np.histogram(keys, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / len(keys) - 0.1) < 0.01)
    assert np.array_equal(keys, uniform_keys(ratings, seed=42, salt=1))
    assert not np.array_equal(keys, uniform_keys(ratings, seed=43, salt=1))
    assert not np.array_equal(keys, uniform_keys(ratings, seed=42, salt=2))


def test_random_split_partitions_and_reproduces(ratings: pd.DataFrame) -> None:
    train, test = random_split(ratings, 0.2, seed=7)
    assert len(train) + len(test) == len(ratings)
    assert not (_pairs(train) & _pairs(test))
    assert abs(len(test) / len(ratings) - 0.2) < 0.01
    _, test2 = random_split(ratings, 0.2, seed=7)
    pd.testing.assert_frame_equal(test, test2)
    _, test3 = random_split(ratings, 0.2, seed=8)
    assert _pairs(test) != _pairs(test3)


def test_split_does_not_depend_on_row_order(ratings: pd.DataFrame) -> None:
    shuffled = ratings.sample(frac=1.0, random_state=3).reset_index(drop=True)
    _, test_a = random_split(ratings, 0.25, seed=1)
    _, test_b = random_split(shuffled, 0.25, seed=1)
    assert _pairs(test_a) == _pairs(test_b)


def test_train_fraction_splits_are_nested(ratings: pd.DataFrame) -> None:
    splits = train_fraction_splits(ratings, [0.6, 0.7, 0.75, 0.8], seed=42)
    previous: set[tuple[int, int]] = set()
    for fraction, train, test in splits:
        assert len(train) + len(test) == len(ratings)
        assert abs(len(train) / len(ratings) - fraction) < 0.01
        assert previous <= _pairs(train)
        previous = _pairs(train)


def test_kfold_each_rating_validated_once(ratings: pd.DataFrame) -> None:
    folds = kfold(ratings, 3, seed=42)
    seen: list[tuple[int, int]] = []
    for train, valid in folds:
        assert len(train) + len(valid) == len(ratings)
        assert not (_pairs(train) & _pairs(valid))
        seen.extend(zip(valid[USER].tolist(), valid[ITEM].tolist()))
    assert len(seen) == len(set(seen)) == len(ratings)
    sizes = np.bincount(fold_ids(ratings, 3, 42))
    assert np.all(np.abs(sizes / len(ratings) - 1 / 3) < 0.015)


def test_bad_arguments() -> None:
    df = pd.DataFrame({USER: [1, 2], ITEM: [1, 2], RATING: [1.0, 2.0]})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        random_split(df, 1.5, seed=1)
    with pytest.raises(ConfigError, match="at least 2 folds"):
        kfold(df, 1, seed=1)
    with pytest.raises(DataError, match="empty"):
        random_split(df.iloc[:0], 0.2, seed=1)
    with pytest.raises(DataError, match="left one side empty"):
        random_split(df.iloc[:1], 0.2, seed=1)


def test_cold_start_counts() -> None:
    train = pd.DataFrame({USER: [1, 1, 2], ITEM: [10, 11, 10], RATING: [1.0, 2.0, 3.0]})
    test = pd.DataFrame({USER: [1, 3, 2, 3], ITEM: [12, 10, 11, 13], RATING: [1.0] * 4})
    # rows: (1,12) new movie; (3,10) new user; (2,11) known both; (3,13) both new
    assert cold_start_counts(train, test) == {
        "test_rows": 4,
        "unknown_user_rows": 2,
        "unknown_movie_rows": 2,
        "cold_start_rows": 3,
    }
