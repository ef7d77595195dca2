"""Splits by time: a global time cut and per-user leave-last-k-out."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, TIMESTAMP, USER
from movierec.split._common import check_non_empty, check_sides, position_within_user


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
        check_non_empty(ratings)
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
    check_non_empty(ratings)
    ts = _timestamps(ratings, "time")
    threshold = time_cut_seconds(ratings, cut)
    in_test = ts >= threshold
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    lo, hi = ts.min(), ts.max()
    check_sides(
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
    check_non_empty(ratings)
    ts = _timestamps(ratings, "leave-last-k-out")
    users = ratings[USER].to_numpy()
    items = ratings[ITEM].to_numpy()
    order = np.lexsort((items, ts, users))  # by user, then time, then movie id
    position, sizes = position_within_user(users, order)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = (sizes > k) & (position >= sizes - k)
    train = ratings.loc[~in_test].reset_index(drop=True)
    test = ratings.loc[in_test].reset_index(drop=True)
    check_sides(
        train,
        test,
        f"leave-last-{k}-out on {len(ratings)} ratings",
        f"no user has more than {k} ratings; use a smaller k",
    )
    return train, test
