"""Pieces shared by the Spark splits (:mod:`.split`, :mod:`.timesplit`): flag a test side,
count both sides in one job, raise the local split errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.engines.spark._checks import count_if, one_row, require_frame
from movierec.errors import DataError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

KEY, FLAG, POS, N, TS = "_split_key", "_split_test", "_split_pos", "_split_n", "_split_ts"
"""Temporary columns of a split (dropped from its results)."""


def ratings_frame(df: object) -> DataFrame:
    """``df`` when it is a Spark DataFrame with USER and ITEM, else a DataError."""
    return require_frame(df, (USER, ITEM), "ratings")


def empty_error() -> DataError:
    """The local split's error for an empty table."""
    return DataError("cannot split an empty ratings table")


def tiebreak(df: DataFrame) -> list[str]:
    """Columns that order rows the local tie-breaks leave equal (a repeated (user, movie))."""
    return [c for c in (RATING, TIMESTAMP) if c in df.columns]


def sides(flagged: DataFrame, flag: str, drop: list[str]) -> tuple[DataFrame, DataFrame]:
    """(rows where ``flag`` is false, rows where it is true), without the ``drop`` columns."""
    from pyspark.sql import functions as F

    train = flagged.where(~F.col(flag)).drop(*drop)
    test = flagged.where(F.col(flag)).drop(*drop)
    return train, test


def side_counts(flagged: DataFrame, flag: str, *extra: Column) -> Row:
    """One job: total rows ``n``, test rows ``t`` and any ``extra`` aggregates."""
    from pyspark.sql import functions as F

    total = F.count(F.lit(1)).alias("n")
    return one_row(flagged.agg(total, count_if(F.col(flag)).alias("t"), *extra))


def check_sides(n: int, n_test: int, what: str, hint: str) -> None:
    """The local ``_check_sides``: a DataError naming the empty side."""
    if n_test == 0 or n_test == n:
        side = "train" if n_test == n else "test"
        raise DataError(f"{what} left the {side} side empty; {hint}")
