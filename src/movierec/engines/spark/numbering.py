"""Line and row numbers computed on the cluster.

A file scan gives every row ``monotonically_increasing_id()`` (``_mid``: consecutive
within a Spark partition) and its input split (``_metadata.file_path`` and
``file_block_start``). One aggregation counts the rows of each split; the driver orders the
splits (file, then byte offset), turns the counts into offsets and broadcasts that table
back, so ``line = offset of the split + (_mid - first _mid of the split) + 1``. The driver
holds one row per input split (≈ input size / 128 MB), never a row per rating.

Both jobs scan the same files with the same plan, so Spark cuts the same splits. If it did
not (the cluster's default parallelism changed between the two jobs), rows would find no
split in the table; :func:`check_numbered` turns that into an error instead of wrong lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from movierec.errors import EngineError

FILE, BLOCK, MID = "_file", "_block", "_mid"
LINE, ORD, FIRST = "_line", "_ord", "_first_nonblank"
_SCHEMA = f"{FILE} string, {BLOCK} long, _m0 long, _base_line long, _base_ord long, {FIRST} long"


def scan_columns(table: bool = False) -> list[Column]:
    """The columns a scan needs for numbering: ``_file`` and ``_block`` (the input split;
    for tables, which may not be files, the Spark partition) and ``_mid``."""
    mid = F.monotonically_increasing_id()
    if table:
        return [F.lit("").alias(FILE), F.shiftright(mid, 33).alias(BLOCK), mid.alias(MID)]
    return [
        F.col("_metadata.file_path").alias(FILE),
        F.col("_metadata.file_block_start").alias(BLOCK),
        mid.alias(MID),
    ]


@dataclass(frozen=True)
class Numbered:
    """``df`` with ``_line`` (1-based line in its file, or 1-based row over all files),
    ``_ord`` (0-based position over all files in path order) and ``_first_nonblank`` (line
    of its file's first non-blank row, null when none); ``files`` in path order."""

    df: DataFrame
    files: list[str]


def number_rows(
    spark: SparkSession, df: DataFrame, *, per_file: bool, nonblank: Column | None = None
) -> Numbered:
    """Number the rows of ``df`` (which has the :func:`scan_columns`) on the cluster.

    ``per_file``: lines restart at 1 in each file (text); else rows are numbered over all
    files in path order (Parquet, ORC, JSON, tables). ``nonblank`` marks the rows that count
    for ``_first_nonblank``. Runs one aggregation job; the result is lazy.
    """
    flag = F.lit(None).cast("long") if nonblank is None else F.when(nonblank, F.col(MID))
    stats = (
        df.groupBy(FILE, BLOCK)
        .agg(F.count(F.lit(1)).alias("n"), F.min(MID).alias("m0"), F.min(flag).alias("nb"))
        .collect()
    )
    rows: list[tuple[Any, ...]] = []
    files: list[str] = []
    first: dict[str, int | None] = {}
    line_base = ord_base = 0
    for r in sorted(stats, key=lambda r: (r[FILE], r[BLOCK])):
        if not files or files[-1] != r[FILE]:
            files.append(r[FILE])
            first[r[FILE]] = None
            if per_file:
                line_base = 0
        if first[r[FILE]] is None and r["nb"] is not None:
            first[r[FILE]] = line_base + (r["nb"] - r["m0"]) + 1
        rows.append((r[FILE], r[BLOCK], r["m0"], line_base, ord_base))
        line_base += r["n"]
        ord_base += r["n"]
    table = spark.createDataFrame([(*row, first[row[0]]) for row in rows], _SCHEMA)
    offset = F.col(MID) - F.col("_m0")
    out = (
        df.join(F.broadcast(table), on=[FILE, BLOCK], how="left")
        .withColumn(LINE, F.col("_base_line") + offset + 1)
        .withColumn(ORD, F.col("_base_ord") + offset)
        .drop("_m0", "_base_line", "_base_ord")
    )
    return Numbered(out, files)


def check_numbered(unnumbered_rows: int) -> None:
    """Raise when rows of the second scan found no split of the first (see module doc).

    Raises:
        EngineError: ``unnumbered_rows`` > 0.
    """
    if unnumbered_rows:
        raise EngineError(
            f"{unnumbered_rows:,} input rows could not be numbered: Spark split the input "
            "differently between two scans (did the number of executors change?); set "
            "spark.sql.files.minPartitionNum to pin the splits, or retry"
        )
