"""Input checks shared by the Spark splits, metrics and baselines.

They raise the same :class:`~movierec.errors.DataError` messages as the pandas checks in
:mod:`movierec.metrics` and :mod:`movierec.baselines`. Checks that need the data (missing
values, emptiness) are aggregate *expressions*, so a caller folds them into the one job it
runs anyway instead of scanning the input once per check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from movierec.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row


def require_frame(df: Any, columns: Iterable[str], name: str) -> DataFrame:
    """``df`` itself when it is a Spark DataFrame holding ``columns``.

    Raises:
        DataError: ``df`` is not a Spark DataFrame, or a column is missing.
    """
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise DataError(f"{name} must be a Spark DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{name} is missing column(s) {missing}; has {list(df.columns)}", column=missing[0]
        )
    return df


def is_floating(df: DataFrame, column: str) -> bool:
    """True when ``column`` is a float or double column (so it can hold NaN)."""
    from pyspark.sql.types import DoubleType, FloatType

    return isinstance(df.schema[column].dataType, (DoubleType, FloatType))


def missing(df: DataFrame, column: str) -> Column:
    """Per-row flag: the value is null, or NaN in a floating column (pandas' ``isna``)."""
    from pyspark.sql import functions as F

    col = F.col(column)
    return col.isNull() | F.isnan(col) if is_floating(df, column) else col.isNull()


def count_if(flag: Column) -> Column:
    """Aggregate: number of rows where ``flag`` is true (0 on an empty input, never null)."""
    from pyspark.sql import functions as F

    return F.coalesce(F.sum(F.when(flag, 1).otherwise(0)), F.lit(0)).cast("long")


def missing_counts(df: DataFrame, columns: Sequence[str], prefix: str = "_na_") -> list[Column]:
    """One aggregate per column counting its missing values, aliased ``prefix + column``."""
    return [count_if(missing(df, c)).alias(prefix + c) for c in columns]


def raise_missing(row: Row, columns: Sequence[str], name: str, prefix: str = "_na_") -> None:
    """Raise the pandas checks' error for the first column of ``columns`` with missing values.

    Raises:
        DataError: ``"<name> has N missing value(s)"`` naming the column.
    """
    for c in columns:
        n = int(row[prefix + c])
        if n:
            raise DataError(f"{name} has {n} missing value(s)", column=c)


def one_row(df: DataFrame) -> Row:
    """The single row of an aggregate (``df.agg(...)`` always has exactly one)."""
    row = df.first()
    assert row is not None  # a global aggregate has one row, even on an empty input
    return row


@dataclass(frozen=True)
class ListsSummary:
    """What one validation job learned about a recommendations frame."""

    rows: int
    top_rows: int
    """Rows at rank <= k."""
    top_users: int
    """Users with at least one row at rank <= k."""
    users_with_two: int
    """Users with at least two rows at rank <= k."""


def check_lists(recs: DataFrame, k: int | None) -> ListsSummary:
    """Validate USER, ITEM, RANK of a recommendations frame in one job, as the local
    ``_validate_ranks`` does, and count its rows (``k=None``: every row counts as top).

    Raises:
        DataError: empty frame, missing values, ranks not numeric, not integers >= 1, a
            repeated (user, rank) or a movie listed twice for one user (the local messages,
            checked in the local order).
    """
    return lists_summary(lists_row(recs, k))


def lists_row(recs: DataFrame, k: int | None) -> Row:
    """The one job of :func:`check_lists`; :func:`lists_summary` raises on its result."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    from movierec.schema import ITEM, RANK, USER

    require_frame(recs, (USER, ITEM, RANK), "recommendations")
    rank = F.col(RANK)
    rank_type = recs.schema[RANK].dataType
    numeric = isinstance(rank_type, NumericType) and not isinstance(rank_type, BooleanType)
    in_top = F.lit(True) if k is None or not numeric else rank <= k
    bad = (rank < 1) | (rank != F.floor(rank)) if numeric else F.lit(False)
    per_user = recs.groupBy(USER).agg(
        F.count(F.lit(1)).alias("n"),
        F.count_distinct(rank).alias("n_rank"),
        F.count_distinct(ITEM).alias("n_item"),
        count_if(bad).alias("bad"),
        count_if(in_top).alias("top"),
        *missing_counts(recs, (USER, ITEM, RANK)),
    )
    total = one_row(
        per_user.agg(
            F.coalesce(F.sum("n"), F.lit(0)).alias("n"),
            F.coalesce(F.sum(F.col("n") - F.col("n_rank")), F.lit(0)).alias("dup_rank"),
            F.coalesce(F.sum(F.col("n") - F.col("n_item")), F.lit(0)).alias("dup_item"),
            F.coalesce(F.sum("bad"), F.lit(0)).alias("bad"),
            F.coalesce(F.sum("top"), F.lit(0)).alias("top"),
            count_if(F.col("top") >= 1).alias("top_users"),
            count_if(F.col("top") >= 2).alias("two"),
            *(
                F.coalesce(F.sum(f"_na_{c}"), F.lit(0)).alias(f"_na_{c}")
                for c in (USER, ITEM, RANK)
            ),
        )
    )
    from pyspark.sql import Row

    return Row(**total.asDict(), numeric=numeric)


def lists_summary(total: Row) -> ListsSummary:
    """Raise the local errors for a :func:`lists_row` result, else summarise it."""
    from movierec.schema import ITEM, RANK, USER

    if int(total["n"]) == 0:
        raise DataError("recommendations is empty")
    raise_missing(total, (USER, ITEM, RANK), "recommendations")
    if not total["numeric"]:
        raise DataError("recommendations ranks must be numeric", column=RANK)
    if int(total["bad"]):
        raise DataError("recommendations ranks must be integers >= 1 (1-based)", column=RANK)
    if int(total["dup_rank"]):
        raise DataError("recommendations has a repeated (user, rank)", column=RANK)
    if int(total["dup_item"]):
        raise DataError("recommendations lists a movie twice for the same user", column=ITEM)
    return ListsSummary(
        rows=int(total["n"]),
        top_rows=int(total["top"]),
        top_users=int(total["top_users"]),
        users_with_two=int(total["two"]),
    )
