"""Classify parsed rows (kept or rejected with a reason), count them, enforce the limit.

The reason of a row is the first failing check of :data:`movierec.data.rules.CHECKS`
(after ``wrong_field_count``), the same order as the local
:class:`~movierec.data.builder.RatingsBuilder`. :func:`count_rows` runs one aggregation
job; the driver receives one row per reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movierec import schema
from movierec.data import rules
from movierec.data.report import REASONS
from movierec.engines.spark.numbering import FILE, LINE, ORD
from movierec.engines.spark.parsed import PREFIX, Parsed
from movierec.errors import MAX_MESSAGE, DataError, join_within, quote_cell, shorten_middle

REASON, COLUMN = "_reason", "_column"
_SKIP, _KEPT = "_skip", "_kept"


def classify(parsed: Parsed) -> DataFrame:
    """``parsed.df`` with ``_reason`` (null for kept and skipped rows) and ``_column``
    (the source column at fault, "" for the whole row)."""
    reason = F.when(F.col("_wrong"), F.lit("wrong_field_count"))
    column = F.when(F.col("_wrong"), F.lit(""))
    for canon, status, why in rules.CHECKS:
        if canon == schema.TIMESTAMP and not parsed.has_timestamp:
            continue
        failed = F.col(f"{PREFIX[canon]}_st") == status
        reason = reason.when(failed, F.lit(why))
        column = column.when(failed, F.lit(parsed.names[canon]))
    live = ~F.col("_skip")
    return parsed.df.withColumn(REASON, F.when(live, reason)).withColumn(
        COLUMN, F.when(live, column)
    )


@dataclass(frozen=True)
class IdStats:
    """Over the kept rows of one id column: smallest and largest integer id (None when
    none), and how many ids are text keys."""

    lo: int | None
    hi: int | None
    texts: int


@dataclass(frozen=True)
class Counts:
    """What one pass over the classified rows found (see :func:`count_rows`)."""

    rows_read: int
    kept: int
    rejected: dict[str, int]
    bad_encoding: int
    unnumbered: int
    ids: dict[str, IdStats] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """Rows rejected before the duplicate policy."""
        return sum(self.rejected.values())


def count_rows(classified: DataFrame) -> Counts:
    """Count rows read, kept and rejected per reason, undecodable and unnumbered lines,
    and the id ranges of the kept rows, in one job."""
    group = (
        F.when(F.col("_skip"), F.lit(_SKIP)).otherwise(F.coalesce(F.col(REASON), F.lit(_KEPT)))
    ).alias("g")
    aggs = [
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(F.col("_bad_enc"), 1).otherwise(0)).alias("bad_enc"),
        F.sum(F.when(F.col(LINE).isNull(), 1).otherwise(0)).alias("unnumbered"),
    ]
    for p in ("_u", "_i"):
        aggs += [
            F.min(p).alias(f"{p}_lo"),
            F.max(p).alias(f"{p}_hi"),
            F.count(f"{p}_txt").alias(f"{p}_n"),
        ]
    rows = {r["g"]: r for r in classified.groupBy(group).agg(*aggs).collect()}
    n = {g: int(r["n"]) for g, r in rows.items()}
    rejected = {why: n[why] for why in REASONS if n.get(why)}
    ids: dict[str, IdStats] = {}
    kept = rows.get(_KEPT)
    for canon, p in ((schema.USER, "_u"), (schema.ITEM, "_i")):
        if kept is None:
            ids[canon] = IdStats(None, None, 0)
        else:
            ids[canon] = IdStats(kept[f"{p}_lo"], kept[f"{p}_hi"], int(kept[f"{p}_n"]))
    return Counts(
        rows_read=sum(v for g, v in n.items() if g != _SKIP),
        kept=n.get(_KEPT, 0),
        rejected=rejected,
        bad_encoding=sum(int(r["bad_enc"] or 0) for r in rows.values()),
        unnumbered=sum(int(r["unnumbered"] or 0) for r in rows.values()),
        ids=ids,
    )


def check_limits(classified: DataFrame, counts: Counts, max_fraction: float, shown: str) -> None:
    """The local reader's refusals, with the same one-line messages.

    Raises:
        DataError: no data rows at all; a share of rejected rows above ``max_fraction``
            (quotes the first three rejects, fetched with one bounded job); no row left.
    """
    if counts.rows_read == 0:
        raise DataError("no ratings (the file has no data rows)", path=shown)
    n_bad, n = counts.n_rejected, counts.rows_read
    if n_bad / n > max_fraction:
        firsts = (
            classified.where(F.col(REASON).isNotNull())
            .orderBy(ORD)
            .select(LINE, COLUMN, REASON, F.substring("_raw", 1, rules.MAX_RAW).alias("raw"))
            .limit(3)
            .collect()
        )
        head = (
            f"{n_bad:,} of {n:,} rows rejected "
            f"({n_bad / n:.1%} > max_reject_fraction {max_fraction:.0%}); "
            "first bad lines: "
        )
        parts = [
            f"line {r[LINE]} ({r[REASON]}"
            + (f" in {quote_cell(r[COLUMN])}" if r[COLUMN] else "")
            + f"): {quote_cell(r['raw'])}"
            for r in firsts
        ]  # the local reader's message (RatingsBuilder.finish), same budget
        budget = MAX_MESSAGE - len(head) - len(shorten_middle(shown)) - 2
        raise DataError(head + join_within(parts, budget), path=shown)
    if counts.kept == 0:
        raise DataError(f"no valid ratings: all {n:,} rows were rejected", path=shown)


def value_rejects(classified: DataFrame) -> DataFrame:
    """The rows rejected by a check: ``line``, ``column``, ``reason``, ``raw`` (at most
    :data:`~movierec.data.rules.MAX_RAW` characters) and the hidden ``_file``/``_ord``."""
    return classified.where(F.col(REASON).isNotNull()).select(
        F.col(LINE).alias(schema.LINE),
        F.col(COLUMN).alias("column"),
        F.col(REASON).alias(schema.REASON),
        F.substring("_raw", 1, rules.MAX_RAW).alias(schema.RAW),
        F.col(FILE),
        F.col(ORD),
    )
