"""Load ratings (and movies) from MovieLens layouts, delimited text or Parquet.

:func:`load_ratings` is the one entry point: it finds the ratings file (a file, a MovieLens
folder or a named dataset), detects its layout, streams it through the vectorised
validation in :mod:`movierec.data.builder` and returns canonical frames plus a report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from movierec import schema
from movierec.atomic import atomic_files
from movierec.config import DataConfig, SparkConfig
from movierec.data.formats import Loaded, load_parquet, load_text
from movierec.data.movies import load_movies_with_encoding, movies_format
from movierec.data.report import LoadedRatings, LoadReport
from movierec.data.sources import default_scale, resolve_source
from movierec.errors import ConfigError, DataError, MovierecError
from movierec.hadoopfs import is_remote

logger = logging.getLogger(__name__)


def _check_columns(columns: dict[str, str]) -> None:
    unknown = sorted(set(columns) - set(schema.RATING_COLUMNS))
    if unknown:
        raise ConfigError(
            f"data.columns: unknown key(s) {', '.join(unknown)}; "
            f"use {', '.join(schema.RATING_COLUMNS)}"
        )


def _source_path(cfg: DataConfig) -> Path:
    if cfg.path is not None:
        return Path(cfg.path).expanduser()
    if cfg.dataset:
        from movierec.data.datasets import resolve_dataset

        return resolve_dataset(cfg.dataset, download=True)
    raise ConfigError(
        "no ratings source: set data.path (a file or folder) or data.dataset "
        "(see `movierec datasets list`)"
    )


def load_ratings(
    cfg: DataConfig, spark: SparkConfig | None = None, *, keep_lines: bool = False
) -> LoadedRatings:
    """Load, validate and canonicalise the ratings described by ``cfg`` (and its movies).

    The source is ``cfg.path`` (a ratings file or a MovieLens folder) or else the cached
    dataset ``cfg.dataset``. A ``path`` or ``movies`` on a Hadoop filesystem (``hdfs://``,
    ``s3a://`` …) is first copied to a private local folder through the Spark session
    (built from ``spark`` if there is none yet; see :mod:`movierec.hadoopfs`), and errors
    and the load report name the original URIs. Rows that fail validation go to
    ``rejects`` with their line number and a reason; ids that are not integers fitting
    int32 are remapped to dense ints (originals in ``user_ids``/``item_ids``); repeated
    (user, movie) pairs are resolved by ``cfg.duplicates``. Movies come from ``cfg.movies``
    or the MovieLens folder. Text is decoded as ``cfg.encoding`` says, or else as detected
    (:mod:`movierec.data.textio`); the report names the encodings used. ``keep_lines``
    keeps the source line of every kept row in ``LoadedRatings.lines``.

    Raises:
        ConfigError: no source configured, unknown ``columns`` keys, or rating_min > rating_max.
        DatasetError: ``cfg.dataset`` is unknown or not downloaded.
        DataError: missing file, wrong format, "no ratings", too many rejected rows,
            a duplicate under ``duplicates="error"``, or an unreadable movies file.
    """
    if is_remote(cfg.path) or is_remote(cfg.movies):
        return _load_remote(cfg, spark, keep_lines)
    t0 = time.perf_counter()
    _check_columns(cfg.columns)
    src = resolve_source(_source_path(cfg), cfg.format)
    lo_default, hi_default = default_scale(src.layout, src.ratings)
    lo = lo_default if cfg.rating_min is None else float(cfg.rating_min)
    hi = hi_default if cfg.rating_max is None else float(cfg.rating_max)
    if lo > hi:
        raise ConfigError(f"data.rating_min ({lo}) is greater than data.rating_max ({hi})")
    loader: Callable[..., Loaded] = load_parquet if src.layout == "parquet" else load_text
    got = loader(src, cfg, lo, hi, keep_lines)
    result = got.result
    movies_path = cfg.movies if cfg.movies is not None else src.movies
    movies = None
    movies_encoding = None
    if movies_path is not None:
        mfmt = movies_format(Path(movies_path))
        movies, movies_encoding = load_movies_with_encoding(
            movies_path, mfmt, result.item_ids, encoding=cfg.encoding
        )
    report = LoadReport(
        path=str(src.ratings),
        format=got.format,
        rows_read=result.rows_read,
        rows_kept=len(result.ratings),
        rejected=result.rejected,
        duplicates=result.duplicates,
        has_timestamp=got.has_timestamp,
        rating_min=lo,
        rating_max=hi,
        ids_mapped=result.user_ids is not None or result.item_ids is not None,
        encoding=got.encoding,
        movies_encoding=movies_encoding,
    )
    fmt = got.format
    ratings = result.ratings
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "loaded %d ratings (%d users, %d movies) from %s [%s] in %.2fs",
            len(ratings),
            ratings[schema.USER].nunique(),
            ratings[schema.ITEM].nunique(),
            src.ratings,
            fmt,
            time.perf_counter() - t0,
        )
    if result.rejected:
        logger.warning(
            "%s: %d of %d rows not kept (%s)",
            src.ratings,
            result.rows_read - len(ratings),
            result.rows_read,
            ", ".join(f"{k}: {v}" for k, v in result.rejected.items()),
        )
    return LoadedRatings(
        ratings=ratings,
        rejects=result.rejects,
        report=report,
        user_ids=result.user_ids,
        item_ids=result.item_ids,
        movies=movies,
        lines=result.lines,
    )


def _load_remote(cfg: DataConfig, spark: SparkConfig | None, keep_lines: bool) -> LoadedRatings:
    """:func:`load_ratings` for inputs on a Hadoop filesystem: stage them, load, rename."""
    from movierec.hadoopfs import relocate_error, remote_name, staged_input

    with contextlib.ExitStack() as stack:
        staged: dict[str, tuple[Path, str]] = {}
        local_cfg = cfg
        for field in ("path", "movies"):
            value = getattr(cfg, field)
            if is_remote(value):
                local = stack.enter_context(staged_input(str(value), spark))
                staged[field] = (local, str(value))
                local_cfg = local_cfg.model_copy(update={field: local})
        try:
            loaded = load_ratings(local_cfg, keep_lines=keep_lines)
        except DataError as exc:
            for local, uri in staged.values():
                exc = relocate_error(exc, local, uri)
            raise exc from None
        if "path" in staged:
            local, uri = staged["path"]
            shown = remote_name(loaded.report.path, local, uri)
            report = dataclasses.replace(loaded.report, path=shown or uri)
            loaded = dataclasses.replace(loaded, report=report)
        return loaded


def save_rejects(rejects: pd.DataFrame, path: str | Path) -> None:
    """Write ``rejects`` as CSV (UTF-8, header, no index) atomically: temp file + os.replace.

    Raises:
        DataError: the file cannot be written.
    """
    target = Path(path)
    try:
        with atomic_files(target) as (tmp,), open(tmp, "w", encoding="utf-8", newline="") as fh:
            rejects.to_csv(fh, index=False, lineterminator="\n")
    except MovierecError as exc:
        raise DataError(f"cannot write the rejects file: {exc}", path=str(target)) from exc
