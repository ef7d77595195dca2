"""Ratings read, validated and canonicalised by Spark: :func:`read_ratings`.

The Spark twin of :func:`movierec.data.load_ratings`: the same sources (plus JSON, ORC,
folders of part files, globs and SQL tables), the same layout detection, rules, reject
reasons, line numbers, duplicate policy, dense ids and report, computed on the executors.
The driver reads at most 64 KiB + 8 x 16 KiB of one file to detect a layout and receives
counts, the first three rejects of a refused file, one row per input split and per file;
nothing that grows with the number of ratings.

Spark jobs of one call: a file listing and sample read (small), the line numbering, the
encoding scan (unless ``data.encoding`` is set; one row), one count by reason, the
canonical ratings (cached), the rejects (cached; counted again to check
``rows_read == rows_kept + rejected``) and, with a movies file, its encoding scan (unless
set) and one count over it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from movierec import schema
from movierec.config import DataConfig
from movierec.data.readers import _check_columns, default_scale
from movierec.data.report import REASONS, LoadReport
from movierec.engines.spark.classify import (
    COLUMN,
    REASON,
    check_limits,
    classify,
    count_rows,
    value_rejects,
)
from movierec.engines.spark.dups import resolve_duplicates
from movierec.engines.spark.ids import ORIGINAL, dense_ids, id_mode, key_column
from movierec.engines.spark.movies import read_movies
from movierec.engines.spark.numbering import FILE, LINE, ORD, check_numbered
from movierec.engines.spark.source import Located, locate
from movierec.engines.spark.text import bad_line_error, parse_text
from movierec.engines.spark.typed import parse_typed
from movierec.engines.spark.write import write_rejects, write_table
from movierec.errors import ConfigError, EngineError
from movierec.hadoopfs import is_remote, spark_uri

logger = logging.getLogger(__name__)

ID_COLUMNS = ("_u", "_u_txt", "_i", "_i_txt")


@dataclass
class SparkLoaded:
    """Validated ratings on the cluster, with their rejects, report and id tables.

    ``ratings``: ``user_id`` int, ``movie_id`` int, ``rating`` double and, when the source
    has one, ``timestamp`` long (cached). ``rejects``: ``line`` (1-based line, or row for
    records and tables), ``column``, ``reason``, ``raw`` and, for a text input of several
    files, ``file`` (cached). ``user_ids``/``item_ids``: (dense id int, ``original``: long
    for integer ids, string for text keys) when that column was remapped, else None.
    ``movies``: ``movie_id`` (same mapping), ``title``, ``genres``, or None. Use as a
    context manager, or call :meth:`unpersist`, to free the cached frames.
    """

    ratings: DataFrame
    rejects: DataFrame
    report: LoadReport
    user_ids: DataFrame | None = None
    item_ids: DataFrame | None = None
    movies: DataFrame | None = None

    def unpersist(self) -> None:
        """Drop every cached frame of this load from the executors' storage."""
        for df in (self.ratings, self.rejects, self.user_ids, self.item_ids, self.movies):
            if df is not None:
                df.unpersist()

    def __enter__(self) -> SparkLoaded:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unpersist()


def _scale(loc: Located, cfg: DataConfig) -> tuple[float, float]:
    name = Path(urlsplit(loc.shown).path) if is_remote(loc.shown) else Path(loc.shown)
    lo_default, hi_default = default_scale(loc.layout, name)
    lo = lo_default if cfg.rating_min is None else float(cfg.rating_min)
    hi = hi_default if cfg.rating_max is None else float(cfg.rating_max)
    if lo > hi:
        raise ConfigError(f"data.rating_min ({lo}) is greater than data.rating_max ({hi})")
    return lo, hi


def _movies(
    spark: SparkSession, cfg: DataConfig, loc: Located, item_ids: DataFrame | None
) -> tuple[DataFrame | None, str | None]:
    """The movies table (or None) and the encoding its file was decoded with."""
    if cfg.movies is not None:
        given = cfg.movies
        uri = str(given) if is_remote(str(given)) else spark_uri(Path(given))
        return read_movies(spark, uri, str(given), item_ids, cfg.encoding)
    if loc.movies is None:
        return None, None
    return read_movies(spark, loc.movies, loc.movies_shown or loc.movies, item_ids, cfg.encoding)


def read_ratings(spark: SparkSession, cfg: DataConfig) -> SparkLoaded:
    """Read, validate and canonicalise the ratings of ``cfg`` on the cluster.

    The source is ``cfg.table`` (a Spark SQL table), ``cfg.path`` (a file, a MovieLens
    folder, a folder of part files or a glob; local or any Hadoop URI, read by the
    executors) or the cached dataset ``cfg.dataset``. Everything else follows
    :func:`movierec.data.load_ratings`: rejects with line numbers and reasons, the reject
    limit, dense ids (in sorted order), the duplicate policy and the movies file.

    Raises:
        ConfigError: no source, unknown ``columns`` keys, rating_min > rating_max, or an
            encoding Spark cannot decode.
        DatasetError: ``cfg.dataset`` is unknown or not downloaded.
        DataError: what the local reader raises (missing input, not a ratings file, no
            ratings, too many rejected rows, a duplicate under "error", a bad movies file),
            plus unreadable Parquet/ORC/JSON and unknown tables.
        EngineError: the input changed between Spark's scans (counts disagree).
    """
    t0 = time.perf_counter()
    _check_columns(cfg.columns)
    loc = locate(spark, cfg)
    lo, hi = _scale(loc, cfg)
    if loc.kind == "text":
        parsed = parse_text(spark, loc, cfg, lo, hi)
    else:
        parsed = parse_typed(spark, loc, cfg, lo, hi)
    ts = ["_t"] if parsed.has_timestamp else []
    with contextlib.ExitStack() as temps, contextlib.ExitStack() as on_error:
        # One parse, cached for the passes below (counts, ratings, rejects) and dropped
        # once the ratings and rejects, cached themselves, are computed.
        classified = (
            classify(parsed)
            .where(~F.col("_skip"))
            .select(
                LINE, ORD, FILE, "_skip", "_bad_enc", REASON, COLUMN, "_raw", *ID_COLUMNS, "_r", *ts
            )
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        temps.callback(classified.unpersist)
        counts = count_rows(classified)
        check_numbered(counts.unnumbered)
        if counts.bad_encoding:
            raise bad_line_error(parsed, loc.shown)
        check_limits(classified, counts, cfg.max_reject_fraction, loc.shown)
        modes = {
            schema.USER: id_mode(parsed.user_kind, counts.ids[schema.USER]),
            schema.ITEM: id_mode(parsed.item_kind, counts.ids[schema.ITEM]),
        }
        kept = classified.where(F.col(REASON).isNull()).select(
            ORD,
            LINE,
            FILE,
            "_raw",
            key_column("_u", modes[schema.USER]).alias("_uk"),
            key_column("_i", modes[schema.ITEM]).alias("_ik"),
            "_r",
            *ts,
        )
        resolved = resolve_duplicates(kept, ("_uk", "_ik"), cfg.duplicates, bool(ts), loc.shown)
        if resolved.cached is not None:
            temps.callback(resolved.cached.unpersist)
        ratings, tables = _dense(resolved.ratings, kept, modes, bool(ts))
        for df in (ratings, *[t for t in tables.values() if t is not None]):
            on_error.callback(df.unpersist)
        rows_kept = ratings.count()
        multi = loc.kind == "text" and len(parsed.files) > 1
        rejects = (
            value_rejects(classified)
            .unionByName(resolved.rejects)
            .select(
                schema.LINE,
                "column",
                schema.REASON,
                schema.RAW,
                *([F.col(FILE).alias("file")] if multi else []),
            )
            .persist()
        )
        on_error.callback(rejects.unpersist)
        n_rejects = rejects.count()
        if counts.rows_read != rows_kept + n_rejects:
            raise EngineError(
                f"{loc.shown}: {counts.rows_read:,} rows read but {rows_kept:,} kept and "
                f"{n_rejects:,} rejected; the input changed while it was read"
            )
        movies, movies_encoding = _movies(spark, cfg, loc, tables[schema.ITEM])
        on_error.pop_all()
    duplicates = counts.kept - rows_kept
    rejected = dict(counts.rejected) | ({"duplicate": duplicates} if duplicates else {})
    report = LoadReport(
        path=loc.shown,
        format=parsed.format,
        rows_read=counts.rows_read,
        rows_kept=rows_kept,
        rejected={r: rejected[r] for r in REASONS if r in rejected},
        duplicates=duplicates,
        has_timestamp=parsed.has_timestamp,
        rating_min=lo,
        rating_max=hi,
        ids_mapped=any(t is not None for t in tables.values()),
        encoding=parsed.encoding if loc.kind == "text" else None,
        movies_encoding=movies_encoding,
    )
    _log(report, time.perf_counter() - t0)
    return SparkLoaded(ratings, rejects, report, tables[schema.USER], tables[schema.ITEM], movies)


def _dense(
    deduped: DataFrame, kept: DataFrame, modes: dict[str, str], has_ts: bool
) -> tuple[DataFrame, dict[str, DataFrame | None]]:
    """The canonical ratings (cached, lazy) and the id tables (cached) of the columns
    whose ids are remapped (None for the others)."""
    tables: dict[str, DataFrame | None] = {}
    ratings = deduped
    for canon, key in ((schema.USER, "_uk"), (schema.ITEM, "_ik")):
        if modes[canon] == "keep":
            tables[canon] = None
            ratings = ratings.withColumn(canon, F.col(key))
        else:
            table = dense_ids(kept, key, canon).persist()
            tables[canon] = table
            ratings = ratings.join(table.withColumnRenamed(ORIGINAL, key), on=key)
    cols = [
        F.col(schema.USER).cast("int"),
        F.col(schema.ITEM).cast("int"),
        F.col("_r").cast("double").alias(schema.RATING),
    ]
    if has_ts:
        cols.append(F.col("_t").cast("long").alias(schema.TIMESTAMP))
    return ratings.select(*cols).persist(), tables


def _log(report: LoadReport, seconds: float) -> None:
    logger.info(
        "loaded %d ratings from %s [%s] on Spark in %.2fs",
        report.rows_kept,
        report.path,
        report.format,
        seconds,
    )
    if report.rejected:
        logger.warning(
            "%s: %d of %d rows not kept (%s)",
            report.path,
            report.rows_read - report.rows_kept,
            report.rows_read,
            ", ".join(f"{k}: {v}" for k, v in report.rejected.items()),
        )


__all__ = ["SparkLoaded", "read_ratings", "write_rejects", "write_table"]
