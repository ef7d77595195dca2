"""Seeded, engine-independent train/test splits and k-fold assignment.

Every split is decided per rating by a counter-based hash of (seed, salt, user, movie),
so it depends neither on row order nor on how an engine partitions the data: the same seed
gives the same split on every run, every engine and every cluster layout.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, TIMESTAMP, USER

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Distinct salts keep the hold-out split, the split comparison and the folds independent.
SALT_HOLDOUT = 1
SALT_COMPARE = 2
SALT_FOLDS = 3
SALT_PER_USER = 4
SALT_USER_FOLDS = 5
SALT_RECOMMENDER = 6


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def uniform_keys(ratings: pd.DataFrame, seed: int, salt: int) -> np.ndarray:
    """A reproducible pseudo-random number in [0, 1) for every (user, movie) row.

    Computed as SplitMix64(SplitMix64(seed·φ + salt) XOR (user << 32 | movie)) / 2^64
    with 53-bit resolution, so it is a pure function of the row's ids, the seed and the salt.
    """
    users = ratings[USER].to_numpy().astype(np.int64).astype(np.uint64)
    items = ratings[ITEM].to_numpy().astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = np.array([(seed & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64) * _GOLDEN + np.uint64(salt)
        key = _mix64(base)[0]
        x = ((users << np.uint64(32)) | (items & np.uint64(0xFFFFFFFF))) ^ key
        h = _mix64(x)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _check_non_empty(ratings: pd.DataFrame) -> None:
    if len(ratings) == 0:
        raise DataError("cannot split an empty ratings table")


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
    _check_non_empty(ratings)
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
    _check_non_empty(ratings)
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
    _check_non_empty(ratings)
    ids = fold_ids(ratings, folds, seed)
    out = []
    for f in range(folds):
        mask = ids == f
        if not mask.any():
            raise DataError(f"fold {f} of {folds} is empty: too few ratings for {folds} folds")
        out.append(
            (ratings.loc[~mask].reset_index(drop=True), ratings.loc[mask].reset_index(drop=True))
        )
    return out


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


# --------------------------------------------------------------------------- per-user stratified


def _check_fraction(test_fraction: float) -> float:
    if isinstance(test_fraction, bool):
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction!r}")
    try:
        value = float(test_fraction)
    except (TypeError, ValueError):
        raise ConfigError(f"test fraction must be a number, got {test_fraction!r}") from None
    if not 0.0 < value < 1.0:
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction}")
    return value


def _check_sides(train: pd.DataFrame, test: pd.DataFrame, what: str, hint: str) -> None:
    if len(train) == 0 or len(test) == 0:
        side = "train" if len(train) == 0 else "test"
        raise DataError(f"{what} left the {side} side empty; {hint}")


def _position_within_user(users: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``order`` (grouped by user), each row's 0-based position within its
    user and its user's row count, both aligned with the sorted order."""
    codes, _ = pd.factorize(users[order], sort=False)
    sizes = np.bincount(codes)
    starts = np.cumsum(sizes) - sizes
    return np.arange(len(order)) - starts[codes], sizes[codes]


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
    fraction = _check_fraction(test_fraction)
    _check_non_empty(ratings)
    keys = uniform_keys(ratings, seed, salt)
    users = ratings[USER].to_numpy()
    items = ratings[ITEM].to_numpy()
    order = np.lexsort((items, keys, users))  # by user, then key, then movie id
    position, sizes = _position_within_user(users, order)
    n_test = np.minimum(np.rint(fraction * sizes), sizes - 1)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = position < n_test
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    _check_sides(
        train,
        test,
        f"a per-user {1 - fraction:.0%}/{fraction:.0%} split of {len(ratings)} ratings",
        "users need more ratings (a user with n ratings gives round(fraction*n) to test, "
        "never all of them) or use a larger fraction",
    )
    return train, test


# --------------------------------------------------------------------------- time-based


def _timestamps(ratings: pd.DataFrame, split_name: str) -> np.ndarray:
    """The TIMESTAMP column as int64 epoch seconds (or float), or a DataError naming the split."""
    if TIMESTAMP not in ratings.columns:
        raise DataError(
            f"the {split_name} split needs timestamps, but the data has no timestamps "
            f"(no {TIMESTAMP!r} column); use a random or per-user split instead"
        )
    col = ratings[TIMESTAMP]
    n_missing = int(col.isna().sum())
    if n_missing:
        raise DataError(
            f"the {split_name} split needs timestamps, but the data has no timestamps for "
            f"{n_missing} of {len(col)} ratings; drop those rows or use a random or per-user "
            "split instead",
            column=TIMESTAMP,
        )
    if pd.api.types.is_datetime64_any_dtype(col):
        utc = pd.to_datetime(col, utc=True)
        return ((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataError(
            f"the {split_name} split needs numeric epoch-second timestamps, got dtype {col.dtype}",
            column=TIMESTAMP,
        )
    return col.to_numpy()


def _parse_cut(cut: int | float | str | datetime) -> int | float | pd.Timestamp:
    if isinstance(cut, datetime):
        return pd.Timestamp(cut)
    if isinstance(cut, bool):
        raise ConfigError(f"time cut must be epoch seconds, a date or a quantile, got {cut!r}")
    if isinstance(cut, (int, np.integer)):
        return int(cut)
    if isinstance(cut, (float, np.floating)):
        if not math.isfinite(cut):
            raise ConfigError(f"time cut must be finite, got {cut!r}")
        return float(cut)
    if isinstance(cut, str):
        text = cut.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return _parse_cut(float(text))
        except ValueError:
            pass
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError):
            stamp = None
        if stamp is None or pd.isna(stamp):
            raise ConfigError(
                f"time cut {cut!r} is neither epoch seconds, an ISO date (e.g. 2015-01-01 or "
                "2015-01-01T12:00:00Z) nor a quantile in (0, 1)"
            )
        return stamp
    raise ConfigError(
        f"time cut must be epoch seconds, an ISO date string or a quantile in (0, 1), got {cut!r}"
    )


def time_cut_seconds(ratings: pd.DataFrame, cut: int | float | str | datetime) -> float:
    r"""Resolve ``cut`` to the epoch-second threshold :math:`T` used by :func:`time_split`.

    * an ``int`` (or a string of one), or a float outside (0, 1): epoch seconds;
    * a float strictly between 0 and 1 (or a string of one): a quantile ``q`` of the
      ratings' timestamps: with :math:`t_{(0)} \le \dots \le t_{(n-1)}` sorted,
      :math:`T = t_{(j)}`, :math:`j = \min(\lceil q n \rceil, n - 1)` -- the smallest
      timestamp with at least :math:`q n` ratings strictly before it when timestamps are
      distinct (0.8: the timestamp below which 80% of ratings fall; a tie at :math:`T` goes
      to test as a whole);
    * any other string (a numeric string such as ``"2015"`` is a number: write
      ``"2015-01-01"`` for a date), or a ``datetime``: an ISO 8601 date or date-time
      (``"2015-01-01"``, ``"2015-01-01T12:00:00+02:00"``); without a time zone it is UTC.

    Raises:
        ConfigError: ``cut`` is none of the above.
        DataError: the data has no (or missing) timestamps (quantile cuts only; the
            timestamps themselves are checked by :func:`time_split`).
    """
    value = _parse_cut(cut)
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_localize("UTC") if value.tzinfo is None else value
        return float((stamp - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1))
    if isinstance(value, float) and 0.0 < value < 1.0:
        _check_non_empty(ratings)
        ts = np.sort(_timestamps(ratings, "time"))
        # round() guards against q*n landing a hair above an integer (0.7 * 10 = 7.000...01)
        j = min(math.ceil(round(value * len(ts), 9)), len(ts) - 1)
        return float(ts[j])
    return float(value)


def time_split(
    ratings: pd.DataFrame, cut: int | float | str | datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global time cut: train = ratings with timestamp < T, test = timestamp >= T.

    ``cut`` is epoch seconds, an ISO date string or a quantile in (0, 1); see
    :func:`time_cut_seconds` for exactly how it becomes :math:`T`. Every user's and every
    movie's ratings are cut at the same instant, so test users and movies first seen after
    :math:`T` are cold-start (count them with :func:`cold_start_counts`).

    Raises:
        ConfigError: ``cut`` cannot be read.
        DataError: the table is empty, has no TIMESTAMP column or missing timestamps, or one
            side of the split came out empty.
    """
    _check_non_empty(ratings)
    ts = _timestamps(ratings, "time")
    threshold = time_cut_seconds(ratings, cut)
    in_test = ts >= threshold
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    lo, hi = ts.min(), ts.max()
    _check_sides(
        train,
        test,
        f"a time cut at {_describe_seconds(threshold)} of ratings from "
        f"{_describe_seconds(lo)} to {_describe_seconds(hi)}",
        "choose a cut inside the data's time range",
    )
    return train, test


def _describe_seconds(seconds: float) -> str:
    try:
        text = pd.Timestamp(float(seconds), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError):
        return f"t={float(seconds):g}"
    return f"t={float(seconds):.0f} ({text} UTC)"


def leave_last_k_out(ratings: pd.DataFrame, k: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user leave-last-k-out: each user's ``k`` most recent ratings go to test.

    Each user's ratings are ordered by (timestamp, movie id) -- the movie id breaks ties in
    time deterministically, so the result does not depend on row order -- and the last ``k``
    are held out. Users with at most ``k`` ratings stay entirely in train.

    Raises:
        ConfigError: ``k`` is not an integer >= 1.
        DataError: the table is empty, has no TIMESTAMP column or missing timestamps, or no
            user has more than ``k`` ratings (empty test side).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"leave-last-k-out needs an integer k >= 1, got {k!r}")
    _check_non_empty(ratings)
    ts = _timestamps(ratings, "leave-last-k-out")
    users = ratings[USER].to_numpy()
    items = ratings[ITEM].to_numpy()
    order = np.lexsort((items, ts, users))  # by user, then time, then movie id
    position, sizes = _position_within_user(users, order)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = (sizes > k) & (position >= sizes - k)
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    _check_sides(
        train,
        test,
        f"leave-last-{k}-out on {len(ratings)} ratings",
        f"no user has more than {k} ratings; use a smaller k",
    )
    return train, test


# --------------------------------------------------------------------------- k-fold by user


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
    _check_non_empty(ratings)
    ids = user_fold_ids(ratings, folds, seed)
    out = []
    for f in range(folds):
        mask = ids == f
        if not mask.any():
            n_users = ratings[USER].nunique()
            raise DataError(
                f"user fold {f} of {folds} is empty: too few users ({n_users}) for {folds} folds"
            )
        out.append(
            (ratings.loc[~mask].reset_index(drop=True), ratings.loc[mask].reset_index(drop=True))
        )
    return out


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
