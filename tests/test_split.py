"""Splits: reproducible, disjoint, order-independent, close to the requested shares."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER
from movierec.split import (
    cold_start_counts,
    fold_ids,
    kfold,
    kfold_by_user,
    leave_last_k_out,
    per_user_split,
    random_split,
    time_cut_seconds,
    time_split,
    train_fraction_splits,
    uniform_keys,
    user_fold_ids,
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


# ============================================================== issue 5: more splitters


@pytest.fixture()
def timed() -> pd.DataFrame:
    """~6k ratings by 300 users with 1-40 ratings each and heavily tied timestamps."""
    rng = np.random.default_rng(11)
    rows = []
    for u in range(300):
        n = int(rng.integers(1, 41))
        for i in rng.choice(1_000, size=n, replace=False):
            rows.append(
                (u * 7 + 3, int(i), float(rng.integers(1, 11)) / 2, int(rng.integers(0, 50)))
            )
    df = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIMESTAMP])
    return df.sample(frac=1.0, random_state=5).reset_index(drop=True)


def _shuffled(df: pd.DataFrame) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=99).reset_index(drop=True)


# ---------------------------------------------------------------- per_user_split


def _hand_ratings() -> pd.DataFrame:
    # uniform_keys(seed=7, salt=SALT_PER_USER=4) of these rows, smallest first:
    #   user 1: 14 (0.0047), 11 (0.0522), 12 (0.1794), 13 (0.5481), 10 (0.8520)
    #   user 2: 22 (0.1145), 21 (0.1746), 23 (0.2518), 20 (0.7869)
    #   user 3: 30 (a single rating)
    users = [1] * 5 + [2] * 4 + [3]
    items = [10, 11, 12, 13, 14, 20, 21, 22, 23, 30]
    return pd.DataFrame({USER: users, ITEM: items, RATING: [3.0] * 10})


def test_per_user_split_hand_case() -> None:
    df = _hand_ratings()
    # f = 0.5: user 1 round(2.5) = 2 (half to even) -> {14, 11}; user 2 round(2.0) = 2 ->
    # {22, 21}; user 3 round(0.5) = 0 -> stays in train
    train, test = per_user_split(df, 0.5, seed=7)
    assert _pairs(test) == {(1, 14), (1, 11), (2, 22), (2, 21)}
    assert len(train) == 6 and (3, 30) in _pairs(train)
    # f = 0.9: user 1 round(4.5) = 4 = n - 1 -> {14, 11, 12, 13}; user 2 round(3.6) = 4,
    # capped at n - 1 = 3 -> {22, 21, 23}; user 3 round(0.9) = 1, capped at 0
    train, test = per_user_split(df, 0.9, seed=7)
    assert _pairs(test) == {(1, 14), (1, 11), (1, 12), (1, 13), (2, 22), (2, 21), (2, 23)}
    assert _pairs(train) == {(1, 10), (2, 20), (3, 30)}


def ref_per_user(df: pd.DataFrame, fraction: float, seed: int) -> set[tuple[int, int]]:
    keys = uniform_keys(df, seed, 4).tolist()
    by_user: dict[int, list[tuple[float, int]]] = {}
    for u, i, key in zip(df[USER].tolist(), df[ITEM].tolist(), keys):
        by_user.setdefault(u, []).append((key, i))
    out = set()
    for u, entries in by_user.items():
        n_test = min(round(fraction * len(entries)), len(entries) - 1)
        for _, i in sorted(entries)[:n_test]:
            out.add((u, i))
    return out


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.5, 0.75])
def test_per_user_split_matches_reference(timed: pd.DataFrame, fraction: float) -> None:
    train, test = per_user_split(timed, fraction, seed=3)
    assert _pairs(test) == ref_per_user(timed, fraction, 3)
    assert len(train) + len(test) == len(timed) and not (_pairs(train) & _pairs(test))
    # every user keeps at least one rating in train; shares match round(f * n) per user
    n = timed.groupby(USER).size()
    n_test = test.groupby(USER).size().reindex(n.index, fill_value=0)
    assert set(train[USER]) == set(timed[USER])
    expected = np.minimum(np.array([round(fraction * v) for v in n]), n.to_numpy() - 1)
    assert np.array_equal(n_test.to_numpy(), expected)


def test_per_user_split_order_independent_and_seeded(timed: pd.DataFrame) -> None:
    _, a = per_user_split(timed, 0.2, seed=1)
    _, b = per_user_split(_shuffled(timed), 0.2, seed=1)
    _, c = per_user_split(timed, 0.2, seed=2)
    assert _pairs(a) == _pairs(b)
    assert _pairs(a) != _pairs(c)
    # a different salt from random_split: not the same draw
    _, r = random_split(timed, 0.2, seed=1)
    assert _pairs(a) != _pairs(r)


def test_per_user_split_errors() -> None:
    df = _hand_ratings()
    with pytest.raises(ConfigError, match="between 0 and 1"):
        per_user_split(df, 0.0, seed=1)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        per_user_split(df, True, seed=1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty ratings"):
        per_user_split(df.iloc[:0], 0.2, seed=1)
    # 0.05 * 5 = 0.25 rounds to 0 for everyone -> nothing held out
    with pytest.raises(DataError, match="left the test side empty"):
        per_user_split(df, 0.05, seed=1)


# ---------------------------------------------------------------- time_split


def _hand_timed() -> pd.DataFrame:
    # 10 ratings; sorted timestamps: 100 100 150 200 200 200 250 300 350 400
    return pd.DataFrame(
        {
            USER: [1, 1, 1, 2, 2, 2, 3, 3, 3, 4],
            ITEM: [10, 11, 12, 10, 13, 14, 11, 12, 15, 16],
            RATING: [4.0] * 10,
            TIMESTAMP: [350, 100, 200, 150, 200, 400, 100, 250, 200, 300],
        }
    )


def test_time_split_hand_case() -> None:
    df = _hand_timed()
    # T = 200 (epoch seconds): train = ts < 200 -> 100, 100, 150 (3 rows); test 7 rows
    train, test = time_split(df, 200)
    assert sorted(train[TIMESTAMP]) == [100, 100, 150]
    assert sorted(test[TIMESTAMP]) == [200, 200, 200, 250, 300, 350, 400]
    # the same instant as an ISO date-time (UTC), as a date-time with an offset, as a string
    # number and as a float
    for cut in ["1970-01-01T00:03:20", "1970-01-01T01:03:20+01:00", "200", 200.0]:
        _, t = time_split(df, cut)
        assert _pairs(t) == _pairs(test), cut
    # quantile 0.8: n = 10, j = ceil(0.8 * 10) = 8 -> T = sorted[8] = 350: 8 rows below it
    assert time_cut_seconds(df, 0.8) == 350.0
    train, test = time_split(df, 0.8)
    assert len(train) == 8 and sorted(test[TIMESTAMP]) == [350, 400]
    # quantile 0.7: 0.7 * 10 = 7.000000000000001 in floating point, read as 7 -> j = 7
    # -> T = sorted[7] = 300; 7 rows below it (a naive ceil would give j = 8)
    assert time_cut_seconds(df, 0.7) == 300.0
    # quantile 0.45: j = ceil(4.5) = 5 -> T = sorted[5] = 200, a tie: all three 200s go to
    # test, so only 3 of 10 (not 5) are in train
    assert time_cut_seconds(df, "0.45") == 200.0
    # quantile 0.99: j = ceil(9.9) = 10, capped at n - 1 = 9 -> T = 400
    assert time_cut_seconds(df, 0.99) == 400.0


def test_time_split_dates() -> None:
    day = 86_400
    df = pd.DataFrame(
        {
            USER: [1, 2, 3],
            ITEM: [1, 1, 1],
            RATING: [1.0, 2.0, 3.0],
            TIMESTAMP: [0, 10 * day, 20 * day],  # 1970-01-01, -11, -21
        }
    )
    assert time_cut_seconds(df, "1970-01-11") == 10 * day
    train, test = time_split(df, "1970-01-05")
    assert train[USER].tolist() == [1] and sorted(test[USER]) == [2, 3]
    # datetime64 timestamps are accepted too
    as_dt = df.assign(**{TIMESTAMP: pd.to_datetime(df[TIMESTAMP], unit="s")})
    _, test_dt = time_split(as_dt, 10 * day)
    assert sorted(test_dt[USER]) == [2, 3]


def ref_time_split(df: pd.DataFrame, q: float) -> set[tuple[int, int]]:
    ts = sorted(df[TIMESTAMP].tolist())
    n = len(ts)
    j = min(math.ceil(Fraction(str(q)) * n), n - 1)  # exact arithmetic
    cut = ts[j]
    return {(u, i) for u, i, t in zip(df[USER], df[ITEM], df[TIMESTAMP]) if t >= cut}


@pytest.mark.parametrize("q", [0.1, 0.3, 0.5, 0.7, 0.8, 0.9])
def test_time_split_quantile_matches_reference(timed: pd.DataFrame, q: float) -> None:
    # distinct timestamps so the quantile's share is exact
    df = timed.assign(**{TIMESTAMP: np.arange(len(timed)) * 13 + 1_000_000_000})
    df = _shuffled(df)
    train, test = time_split(df, q)
    assert _pairs(test) == ref_time_split(df, q)
    assert len(train) == math.ceil(Fraction(str(q)) * len(df))
    assert train[TIMESTAMP].max() < test[TIMESTAMP].min()
    # heavily tied timestamps: still the reference, never a tie split across the cut
    train, test = time_split(timed, q)
    assert _pairs(test) == ref_time_split(timed, q)
    assert train[TIMESTAMP].max() < test[TIMESTAMP].min()


def test_time_split_errors(timed: pd.DataFrame) -> None:
    no_ts = timed.drop(columns=[TIMESTAMP])
    with pytest.raises(DataError, match=r"time split needs timestamps.*data has no timestamps"):
        time_split(no_ts, 0.8)
    with pytest.raises(DataError, match=r"time split needs timestamps.*data has no timestamps"):
        time_split(no_ts, 1_000)
    holes = timed.assign(**{TIMESTAMP: timed[TIMESTAMP].astype("float").where(timed.index != 3)})
    with pytest.raises(DataError, match="no timestamps for 1 of"):
        time_split(holes, 0.8)
    with pytest.raises(DataError, match="left the test side empty"):
        time_split(timed, 10_000)
    with pytest.raises(DataError, match="left the train side empty"):
        time_split(timed, "1960-01-01")
    with pytest.raises(ConfigError, match="neither epoch seconds"):
        time_split(timed, "last tuesday")
    with pytest.raises(ConfigError):
        time_split(timed, True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="finite"):
        time_split(timed, float("nan"))
    with pytest.raises(DataError, match="empty ratings"):
        time_split(timed.iloc[:0], 0.5)


# ---------------------------------------------------------------- leave_last_k_out


def test_leave_last_k_out_hand_case() -> None:
    df = _hand_timed()
    # k = 1, order by (timestamp, movie):
    #   user 1: (100, 11) (200, 12) (350, 10) -> test (1, 10)
    #   user 2: (150, 10) (200, 13) (400, 14) -> test (2, 14)
    #   user 3: (100, 11) (200, 15) (250, 12) -> test (3, 12)
    #   user 4: one rating -> train
    train, test = leave_last_k_out(df)
    assert _pairs(test) == {(1, 10), (2, 14), (3, 12)}
    assert (4, 16) in _pairs(train) and len(train) == 7
    # k = 2 -> also (1, 12), (2, 13), (3, 15); user 4 still in train
    _, test = leave_last_k_out(df, k=2)
    assert _pairs(test) == {(1, 10), (1, 12), (2, 14), (2, 13), (3, 12), (3, 15)}
    # k = 3: every user has <= 3 ratings -> empty test side
    with pytest.raises(DataError, match="no user has more than 3 ratings"):
        leave_last_k_out(df, k=3)


def test_leave_last_k_out_ties_broken_by_movie_id() -> None:
    # all at the same time: the "latest" are the largest movie ids, whatever the row order
    df = pd.DataFrame({USER: [5] * 4, ITEM: [40, 10, 30, 20], RATING: 1.0, TIMESTAMP: 7})
    _, test = leave_last_k_out(df, k=2)
    assert _pairs(test) == {(5, 40), (5, 30)}
    _, test = leave_last_k_out(df.iloc[::-1], k=2)
    assert _pairs(test) == {(5, 40), (5, 30)}


def ref_leave_last(df: pd.DataFrame, k: int) -> set[tuple[int, int]]:
    by_user: dict[int, list[tuple[int, int]]] = {}
    for u, i, t in zip(df[USER].tolist(), df[ITEM].tolist(), df[TIMESTAMP].tolist()):
        by_user.setdefault(u, []).append((t, i))
    out = set()
    for u, entries in by_user.items():
        if len(entries) > k:
            out |= {(u, i) for _, i in sorted(entries)[-k:]}
    return out


@pytest.mark.parametrize("k", [1, 2, 5, 20])
def test_leave_last_k_out_matches_reference(timed: pd.DataFrame, k: int) -> None:
    train, test = leave_last_k_out(timed, k=k)
    assert _pairs(test) == ref_leave_last(timed, k)
    assert len(train) + len(test) == len(timed)
    _, test_b = leave_last_k_out(_shuffled(timed), k=k)
    assert _pairs(test_b) == _pairs(test)


def test_leave_last_k_out_errors(timed: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"leave-last-k-out split needs timestamps.*no timestamps"):
        leave_last_k_out(timed.drop(columns=[TIMESTAMP]))
    with pytest.raises(ConfigError, match="k >= 1"):
        leave_last_k_out(timed, k=0)
    with pytest.raises(ConfigError, match="k >= 1"):
        leave_last_k_out(timed, k=1.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty ratings"):
        leave_last_k_out(timed.iloc[:0])


# ---------------------------------------------------------------- kfold_by_user


def test_kfold_by_user_keeps_users_together(timed: pd.DataFrame) -> None:
    folds = kfold_by_user(timed, 5, seed=42)
    assert len(folds) == 5
    seen_users: list[int] = []
    seen: set[tuple[int, int]] = set()
    for train, valid in folds:
        assert len(train) + len(valid) == len(timed)
        assert not (set(train[USER]) & set(valid[USER]))  # each user on one side only
        seen_users.extend(set(valid[USER]))
        seen |= _pairs(valid)
    assert sorted(seen_users) == sorted(set(timed[USER]))  # every user validated once
    assert seen == _pairs(timed)
    # about equal numbers of users per fold (300 users: 60 each, binomial sd ~7)
    sizes = [valid[USER].nunique() for _, valid in folds]
    assert all(abs(s - 60) < 25 for s in sizes), sizes


def test_kfold_by_user_pure_function_of_user_and_seed(timed: pd.DataFrame) -> None:
    ids = user_fold_ids(timed, 4, seed=1)
    by_user = dict(zip(timed[USER].tolist(), ids.tolist()))
    assert len(set(zip(timed[USER].tolist(), ids.tolist()))) == len(by_user)  # one fold per user
    # shuffled rows, and a subset of the users, give every remaining user the same fold
    sub = _shuffled(timed[timed[USER] % 2 == 1])
    assert dict(zip(sub[USER].tolist(), user_fold_ids(sub, 4, seed=1).tolist())) == {
        u: f for u, f in by_user.items() if u % 2 == 1
    }
    assert not np.array_equal(ids, user_fold_ids(timed, 4, seed=2))
    a = kfold_by_user(timed, 3, seed=9)
    b = kfold_by_user(_shuffled(timed), 3, seed=9)
    for (_, va), (_, vb) in zip(a, b):
        assert _pairs(va) == _pairs(vb)


def test_kfold_by_user_errors() -> None:
    df = pd.DataFrame({USER: [1, 1, 2], ITEM: [1, 2, 1], RATING: [1.0, 2.0, 3.0]})
    with pytest.raises(ConfigError, match="at least 2 folds"):
        kfold_by_user(df, 1, seed=1)
    with pytest.raises(DataError, match=r"too few users \(2\) for 5 folds"):
        kfold_by_user(df, 5, seed=1)
    with pytest.raises(DataError, match="empty ratings"):
        kfold_by_user(df.iloc[:0], 2, seed=1)
