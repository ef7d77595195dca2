"""Spark twins of the time-based splits of :mod:`movierec.split` (:func:`time_cut_seconds`,
:func:`time_split`, :func:`leave_last_k_out`), re-exported by :mod:`.split`.

Timestamps are read as the local split reads them (:func:`epoch_seconds`); a quantile cut is
an exact order statistic computed on the cluster with a bounded driver (:func:`kth_smallest`);
leave-last ranks each user's rows in a window partitioned by user.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from movierec.engines.spark._checks import count_if, one_row
from movierec.engines.spark._splitting import (
    FLAG,
    POS,
    TS,
    N,
    check_sides,
    empty_error,
    ratings_frame,
    sides,
)
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER
from movierec.split.temporal import _describe_seconds, _parse_cut

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, Row

EPOCH = "_epoch_seconds"
"""Column name :func:`kth_smallest` expects."""

BUCKETS = 4096
"""Value buckets per narrowing round of :func:`kth_smallest` (rows the driver collects)."""
EXACT_ROWS = 200_000
"""At most this many remaining rows: :func:`kth_smallest` collects their distinct values."""


def describe_seconds(seconds: float) -> str:
    """The local split's rendering of an epoch-second value in error messages."""
    return _describe_seconds(float(seconds))


def require_timestamps(df: DataFrame, split_name: str) -> None:
    """Schema check of the local ``_timestamps``: a numeric (not boolean) or timestamp
    TIMESTAMP column.

    Raises:
        DataError: no TIMESTAMP column, or one of another type (the local messages).
    """
    from pyspark.sql.types import BooleanType, NumericType, TimestampNTZType, TimestampType

    if TIMESTAMP not in df.columns:
        raise DataError(
            f"the {split_name} split needs timestamps, but the data has no timestamps "
            f"(no {TIMESTAMP!r} column); use a random or per-user split instead"
        )
    dtype = df.schema[TIMESTAMP].dataType
    if isinstance(dtype, (TimestampType, TimestampNTZType)):
        return
    if not isinstance(dtype, NumericType) or isinstance(dtype, BooleanType):
        raise DataError(
            f"the {split_name} split needs numeric epoch-second timestamps, got dtype "
            f"{dtype.simpleString()}",
            column=TIMESTAMP,
        )


def epoch_seconds(df: DataFrame) -> Column:
    """TIMESTAMP as the local split reads it: numbers as they are (a decimal as a double);
    a timestamp as whole seconds since the epoch, floored (a zone-less timestamp is UTC)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType, TimestampNTZType, TimestampType

    col = F.col(TIMESTAMP)
    dtype = df.schema[TIMESTAMP].dataType
    if isinstance(dtype, TimestampType):
        return F.floor(F.unix_micros(col) / 1_000_000)
    if isinstance(dtype, TimestampNTZType):
        micros = F.expr(
            f"timestampdiff(MICROSECOND, TIMESTAMP_NTZ'1970-01-01 00:00:00', `{TIMESTAMP}`)"
        )
        return F.floor(micros / 1_000_000)
    if isinstance(dtype, DecimalType):
        return col.cast("double")
    return col


def kth_smallest(frame: DataFrame, j: int, n: int, lo: float, hi: float) -> float:
    """The ``j``-th smallest (0-based) value of column :data:`EPOCH` over the ``n`` rows of
    ``frame``, all of which lie in [``lo``, ``hi``], exactly.

    Narrowing rounds: the rows in [lo, hi] are put in :data:`BUCKETS` value buckets,
    ``min(floor((t - lo) · BUCKETS / (hi - lo)), BUCKETS - 1)`` (monotone in t, so every bucket
    is a contiguous value range and the minimum and maximum land in different buckets); one
    aggregate job returns each bucket's count, minimum and maximum; the bucket holding the
    j-th value becomes the new [lo, hi] and j is shifted by the rows before it. When at most
    :data:`EXACT_ROWS` rows remain, their distinct values with counts are collected and
    walked in order. Each round strictly shrinks the set of distinct values, so it ends; the
    driver never holds more than ``max(BUCKETS, EXACT_ROWS)`` rows.
    """
    from pyspark.sql import functions as F

    value = F.col(EPOCH)
    while True:
        if lo == hi:
            return lo
        within = frame.where(value.between(lo, hi))
        if n <= EXACT_ROWS or float(hi) == float(lo):  # (longs beyond 2^53 may tie as doubles)
            for row in within.groupBy(EPOCH).count().orderBy(EPOCH).collect():
                if j < int(row["count"]):
                    return row[EPOCH]
                j -= int(row["count"])
            raise AssertionError("order statistic beyond the rows counted")
        scale = BUCKETS / (float(hi) - float(lo))
        bucket = F.least(F.floor((value.cast("double") - float(lo)) * scale), F.lit(BUCKETS - 1))
        rows = (
            within.groupBy(bucket.alias("_b"))
            .agg(F.count(F.lit(1)).alias("n"), F.min(value).alias("lo"), F.max(value).alias("hi"))
            .orderBy("_b")
            .collect()
        )
        for row in rows:
            if j < int(row["n"]):
                lo, hi, n = row["lo"], row["hi"], int(row["n"])
                break
            j -= int(row["n"])
        else:
            raise AssertionError("order statistic beyond the rows counted")


# --------------------------------------------------------------------------- time splits


def _time_stats(df: DataFrame, split_name: str, *extra: Column) -> Row:
    """One job: rows ``n``, missing timestamps ``na``, ``lo``/``hi`` and ``extra``; raises the
    local errors for an empty table and missing timestamps."""
    from pyspark.sql import functions as F

    ts = epoch_seconds(df)
    row = one_row(
        df.agg(
            F.count(F.lit(1)).alias("n"),
            count_if(ts.isNull() | F.isnan(ts.cast("double"))).alias("na"),
            F.min(ts).alias("lo"),
            F.max(ts).alias("hi"),
            *extra,
        )
    )
    n, n_missing = int(row["n"]), int(row["na"])
    if n == 0:
        raise empty_error()
    if n_missing:
        raise DataError(
            f"the {split_name} split needs timestamps, but the data has no timestamps for "
            f"{n_missing} of {n} ratings; drop those rows or use a random or per-user "
            "split instead",
            column=TIMESTAMP,
        )
    return row


def _quantile_cut(df: DataFrame, q: float, row: Row) -> float:
    """T = t_(j), j = min(ceil(q·n), n - 1), as the local :func:`time_cut_seconds`."""
    n = int(row["n"])
    # the local rounding guard: q*n a hair above an integer (0.7 * 10 = 7.000...01)
    j = min(math.ceil(round(q * n, 9)), n - 1)
    return float(
        kth_smallest(df.select(epoch_seconds(df).alias(EPOCH)), j, n, row["lo"], row["hi"])
    )


def time_cut_seconds(df: DataFrame, cut: int | float | str | datetime) -> float:
    """:func:`movierec.split.time_cut_seconds` on a Spark DataFrame: the same threshold T.

    A quantile cut is the exact order statistic t_(j), found on the cluster by
    :func:`movierec.engines.spark.timecut.kth_smallest` (a few aggregate jobs; the driver
    holds at most ``BUCKETS`` bucket counts and then at most ``EXACT_ROWS`` distinct
    timestamps, whatever the number of ratings). Other cuts need no data.

    Raises:
        ConfigError: ``cut`` is none of the accepted forms.
        DataError: a quantile cut on data that is empty, lacks a numeric TIMESTAMP column or
            has missing timestamps.
    """
    value = _parse_cut(cut)
    if isinstance(value, float) and 0.0 < value < 1.0:
        require_timestamps(ratings_frame(df), "time")
        return _quantile_cut(df, value, _time_stats(df, "time"))
    return _absolute_cut(value)


def _absolute_cut(value: int | float | pd.Timestamp) -> float:
    """Epoch seconds of a parsed absolute cut (the local arithmetic: a naive date is UTC)."""
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        stamp = value.tz_localize("UTC") if value.tzinfo is None else value
        return float((stamp - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1))
    return float(value)


def time_split(df: DataFrame, cut: int | float | str | datetime) -> tuple[DataFrame, DataFrame]:
    """:func:`movierec.split.time_split`: train = timestamp < T, test = timestamp >= T with T
    from :func:`time_cut_seconds`.

    Raises:
        ConfigError: ``cut`` cannot be read.
        DataError: the table is empty, has no TIMESTAMP column or missing timestamps, or one
            side of the split came out empty.
    """

    require_timestamps(ratings_frame(df), "time")
    try:
        value: object = _parse_cut(cut)
        config_error = None
    except ConfigError as exc:  # the local split checks the data first
        value, config_error = None, exc
    quantile = isinstance(value, float) and 0.0 < value < 1.0
    threshold = None if value is None or quantile else _absolute_cut(value)  # type: ignore[arg-type]
    ts = epoch_seconds(df)
    extra = [count_if(ts >= threshold).alias("t")] if threshold is not None else []
    row = _time_stats(df, "time", *extra)
    if config_error is not None:
        raise config_error
    if threshold is None:
        assert isinstance(value, float)
        threshold = _quantile_cut(df, value, row)
        n_test = int(one_row(df.agg(count_if(ts >= threshold).alias("t")))["t"])
    else:
        n_test = int(row["t"])
    check_sides(
        int(row["n"]),
        n_test,
        f"a time cut at {describe_seconds(threshold)} of ratings from "
        f"{describe_seconds(row['lo'])} to {describe_seconds(row['hi'])}",
        "choose a cut inside the data's time range",
    )
    return df.where(ts < threshold), df.where(ts >= threshold)


def leave_last_k_out(df: DataFrame, k: int = 1) -> tuple[DataFrame, DataFrame]:
    """:func:`movierec.split.leave_last_k_out`: each user's last ``k`` ratings by (timestamp,
    movie id) go to test; users with at most ``k`` ratings stay in train.

    A window partitioned by user ranks the rows by (timestamp, movie id, rating) descending.

    Raises:
        ConfigError: ``k`` is not an integer >= 1.
        DataError: the table is empty, has no TIMESTAMP column or missing timestamps, or no
            user has more than ``k`` ratings (empty test side).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"leave-last-k-out needs an integer k >= 1, got {k!r}")
    require_timestamps(ratings_frame(df), "leave-last-k-out")
    timed = df.withColumn(TS, epoch_seconds(df))
    order = [
        F.col(TS).desc(),
        F.col(ITEM).desc(),
        *(F.col(c).desc() for c in (RATING,) if c in df.columns),
    ]
    ranked = Window.partitionBy(USER).orderBy(*order)
    whole = ranked.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    flagged = (
        timed.withColumn(POS, F.row_number().over(ranked))
        .withColumn(N, F.count(F.lit(1)).over(whole))
        .withColumn(FLAG, (F.col(N) > k) & (F.col(POS) <= k))
    )
    row = _time_stats(flagged, "leave-last-k-out", count_if(F.col(FLAG)).alias("t"))
    check_sides(
        int(row["n"]),
        int(row["t"]),
        f"leave-last-{k}-out on {int(row['n'])} ratings",
        f"no user has more than {k} ratings; use a smaller k",
    )
    return sides(flagged, FLAG, [TS, POS, N, FLAG])
