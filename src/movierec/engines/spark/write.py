"""Part-file writers: tables and rejects written by the executors into an output folder.

``out`` is a local folder (inside an atomic output's staging folder it maps to the remote
temporary folder, see :func:`movierec.hadoopfs.spark_uri`) or a Hadoop URI. Each table is
a Spark dataset folder ``NAME.parquet/`` of part files (readable by Spark, pandas and
pyarrow as one dataset), plus ``NAME.csv/`` part files with a header each. The rejects are
``rejects.parquet/`` plus, when there are at most ``csv_max_rows`` of them, one
``rejects.csv`` file in the local reader's format (written by one task, then renamed).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pyspark.sql import DataFrame, DataFrameWriter

from movierec import schema
from movierec.hadoopfs import HadoopFS, is_remote, spark_uri, to_local
from movierec.spark import is_connect

logger = logging.getLogger(__name__)

CSV_MAX_ROWS = 100_000
"""Rejects up to this many rows also get a single ``rejects.csv``."""


def _target(out: str | os.PathLike[str]) -> str:
    if isinstance(out, Path) or not is_remote(os.fspath(out)):
        return spark_uri(to_local(out))
    return os.fspath(out).rstrip("/")


def _csv(df: DataFrame) -> DataFrameWriter:
    """A CSV writer giving what pandas' ``to_csv(index=False)`` gives: header, ``"``
    quoting with doubled quotes, empty strings and nulls as empty fields, no trimming."""
    return (
        df.write.mode("overwrite")
        .option("header", True)
        .option("quote", '"')
        .option("escape", '"')
        .option("emptyValue", "")
        .option("nullValue", "")
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .option("lineSep", "\n")
    )


def write_table(df: DataFrame, out: str | os.PathLike[str], name: str, csv: bool) -> list[str]:
    """Write ``df`` as ``out/NAME.parquet/`` part files (and ``out/NAME.csv/`` when
    ``csv``); returns the dataset URIs written. Executors write; the driver sends no rows."""
    base = _target(out)
    written = [f"{base}/{name}.parquet"]
    df.write.mode("overwrite").parquet(written[0])
    if csv:
        written.append(f"{base}/{name}.csv")
        _csv(df).csv(written[1])
    return written


def _keys(rejects: DataFrame) -> list[str]:
    return ["file", schema.LINE] if "file" in rejects.columns else [schema.LINE]


def write_rejects(
    rejects: DataFrame, out: str | os.PathLike[str], csv_max_rows: int = CSV_MAX_ROWS
) -> list[str]:
    """Write ``rejects`` (columns ``line``, ``column``, ``reason``, ``raw`` [, ``file``])
    sorted by line as ``out/rejects.parquet/`` part files, and as the single file
    ``out/rejects.csv`` when it holds at most ``csv_max_rows`` rows (under Spark Connect
    with an output the client cannot reach, ``rejects.csv/`` holding one part file).
    Returns the URIs written. Runs a sort, a count and at most one single-task write."""
    base = _target(out)
    ordered = rejects.orderBy(*_keys(rejects))
    written = [f"{base}/rejects.parquet"]
    ordered.write.mode("overwrite").parquet(written[0])
    if rejects.count() > csv_max_rows:
        return written
    spark = rejects.sparkSession
    one = rejects.repartition(1).sortWithinPartitions(*_keys(rejects))
    target = f"{base}/rejects.csv"
    local = None if is_remote(base) else to_local(base)
    if is_connect(spark) and (local is None or not local.is_dir()):
        _csv(one).csv(target)
        written.append(target)
        return written
    tmp = f"{base}/_rejects-{uuid.uuid4().hex[:8]}"
    _csv(one).csv(tmp)
    if local is not None and local.is_dir():
        _move_local(Path(unquote(urlsplit(tmp).path)), local / "rejects.csv")
    else:
        _move_remote(HadoopFS(spark), tmp, target)
    written.append(target)
    return written


def _move_local(folder: Path, dest: Path) -> None:
    part = next(p for p in sorted(folder.iterdir()) if p.name.startswith("part-"))
    os.replace(part, dest)
    shutil.rmtree(folder, ignore_errors=True)


def _move_remote(fs: Any, folder: str, dest: str) -> None:
    part = next(n for n in sorted(fs.list(folder)) if n.startswith("part-"))
    if fs.exists(dest):
        fs.delete(dest)
    fs.rename(f"{folder}/{part}", dest)
    fs.delete(folder)
