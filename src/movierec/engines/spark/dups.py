"""The duplicate policy of :func:`movierec.data.validate.apply_duplicate_policy` on Spark.

One window partitioned by (user key, movie key) ranks each pair's rows: "first"/"mean"
keep the earliest in input order, "last" the latest, "latest" the largest timestamp (ties
and files without timestamps: the later row); "mean" gives the kept row the pair's mean
rating and latest timestamp; "error" refuses the first repeated pair with the local
reader's message. The window shuffles the kept rows once; a partition holds one pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from movierec import schema
from movierec.engines.spark.numbering import FILE, LINE, ORD
from movierec.errors import DataError

logger = logging.getLogger(__name__)

RANK = "_rn"
POLICIES = ("latest", "first", "last", "mean", "error")


def _order(policy: str, has_ts: bool) -> list[Column]:
    if policy in ("first", "mean", "error"):
        return [F.col(ORD).asc()]
    if policy == "last" or not has_ts:
        return [F.col(ORD).desc()]
    return [F.col("_t").desc(), F.col(ORD).desc()]


@dataclass
class Resolved:
    """Rows after the duplicate policy: ``ratings`` (one per pair, lazy), ``rejects`` (the
    duplicates: ``line``, ``column`` "", ``reason`` "duplicate", ``raw``, ``_file``,
    ``_ord``; lazy) and ``cached``, the repeated pairs' keys (unpersist once both are
    computed), or None when no pair repeats."""

    ratings: DataFrame
    rejects: DataFrame
    cached: DataFrame | None = None


def _as_rejects(rows: DataFrame) -> DataFrame:
    return rows.select(
        F.col(LINE).alias(schema.LINE),
        F.lit("").alias("column"),
        F.lit("duplicate").alias(schema.REASON),
        F.col("_raw").alias(schema.RAW),
        F.col(FILE),
        F.col(ORD),
    )


def resolve_duplicates(
    kept: DataFrame,
    keys: tuple[str, str],
    policy: str,
    has_ts: bool,
    shown: str,
) -> Resolved:
    """Apply ``policy`` to ``kept`` (columns ``_ord``, ``_line``, ``_file``, ``_raw``,
    ``_r``, optional ``_t`` and the two non-null key columns ``keys``).

    One aggregation finds the repeated pairs (cached; in a MovieLens release there are
    none, and then nothing else runs). Only the rows of repeated pairs go through the
    window; the others are joined out of it (a broadcast join when the repeated pairs are
    few, as Spark's adaptive execution decides).

    Raises:
        DataError: ``policy`` is "error" and a pair repeats (one bounded job finds it), or
            an unknown policy.
    """
    if policy not in POLICIES:
        raise DataError(
            f"unknown duplicates policy {policy!r}; use latest, first, last, mean or error"
        )
    on = list(keys)
    repeated = (
        kept.groupBy(*on).agg(F.count(F.lit(1)).alias("_n")).where("_n > 1").select(*on)
    ).persist()
    if repeated.count() == 0:
        repeated.unpersist()
        return Resolved(kept, _as_rejects(kept.where(F.lit(False))))
    if policy == "latest" and not has_ts:
        logger.warning(
            "%s has no timestamps: duplicates policy 'latest' keeps the later line of "
            "each repeated (user, movie) pair instead",
            shown,
        )
    pair = Window.partitionBy(*on)
    involved = kept.join(repeated, on=on, how="left_semi")
    ranked = involved.withColumn(RANK, F.row_number().over(pair.orderBy(*_order(policy, has_ts))))
    if policy == "error":
        try:
            _refuse_repeats(kept, ranked, keys, shown)
        finally:
            repeated.unpersist()
    if policy == "mean":
        ranked = ranked.withColumn("_r", F.avg("_r").over(pair))
        if has_ts:
            ranked = ranked.withColumn("_t", F.max("_t").over(pair))
    single = kept.join(repeated, on=on, how="left_anti")
    ratings = single.unionByName(ranked.where(F.col(RANK) == 1).drop(RANK))
    return Resolved(ratings, _as_rejects(ranked.where(F.col(RANK) > 1)), repeated)


def _refuse_repeats(kept: DataFrame, ranked: DataFrame, keys: tuple[str, str], shown: str) -> None:
    first = ranked.where(F.col(RANK) > 1).orderBy(ORD).select(*keys, LINE).first()
    if first is None:
        return
    u, i = first[keys[0]], first[keys[1]]
    same = (
        kept.where((F.col(keys[0]) == F.lit(u)) & (F.col(keys[1]) == F.lit(i)))
        .orderBy(ORD)
        .select(LINE)
        .limit(6)
        .collect()
    )
    lines = [int(r[LINE]) for r in same]
    shown_lines = ", ".join(str(x) for x in lines[:5]) + (", ..." if len(lines) > 5 else "")
    raise DataError(
        f"duplicate rating for user {u}, movie {i} on lines {shown_lines} "
        "(duplicates policy 'error'; use latest, first, last or mean to merge them)",
        path=shown,
        line=int(first[LINE]),
    )
