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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec import schema
from movierec.atomic import atomic_files
from movierec.config import DataConfig, SparkConfig
from movierec.data.builder import BuildResult, RatingsBuilder
from movierec.data.detect import HEADER_ALIASES, detect_layout, id_kind, norm_name, normalize_sep
from movierec.data.movies import load_movies_with_encoding, movies_format
from movierec.data.report import LoadedRatings, LoadReport
from movierec.data.textio import EncodingGuess, check_not_binary, has_bom, read_head, read_sample
from movierec.data.textscan import fetch_lines, parse_text
from movierec.errors import ConfigError, DataError, MovierecError, one_line
from movierec.hadoopfs import is_remote

logger = logging.getLogger(__name__)

ML_FILES: tuple[tuple[str, str, str], ...] = (
    ("u.data", "ml-100k", "u.item"),
    ("ratings.dat", "ml-dat", "movies.dat"),
    ("ratings.csv", "ml-csv", "movies.csv"),
)
"""(ratings file, layout, movies file) of the MovieLens releases, in lookup order."""

_LAYOUT_SEP = {"ml-100k": "\t", "ml-dat": "::", "ml-csv": ","}
_INT_ID_LAYOUTS = ("ml-100k", "ml-dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_PARQUET_BATCH = 1 << 20


@dataclass(frozen=True)
class Source:
    """A located ratings source: file, layout and (for MovieLens layouts) its movies file."""

    ratings: Path
    layout: str
    movies: Path | None = None
    explicit: bool = False


def _sibling(folder: Path, name: str) -> Path | None:
    p = folder / name
    return p if p.is_file() else None


def resolve_source(path: Path, fmt: str = "auto") -> Source:
    """Find the ratings file and its layout for ``path`` (a file or a folder) and ``fmt``.

    Folders are searched for ``u.data``, ``ratings.dat``, ``ratings.csv`` and ``*.parquet``
    (also one level down when the folder holds a single sub-folder).

    Raises:
        DataError: the path does not exist or the folder holds no ratings file.
    """
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    explicit = fmt != "auto"
    if path.is_dir():
        if fmt == "parquet":
            return Source(path, "parquet", explicit=True)
        for fname, layout, movies in ML_FILES:
            if fmt in ("auto", "delimited", layout) and (path / fname).is_file():
                used = "delimited" if fmt == "delimited" else layout
                return Source(path / fname, used, _sibling(path, movies), explicit)
        if fmt == "auto" and any(path.glob("*.parquet")):
            return Source(path, "parquet")
        subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subdirs) == 1:
            try:
                return resolve_source(subdirs[0], fmt)
            except DataError:
                pass
        wanted = "u.data, ratings.dat, ratings.csv or *.parquet"
        raise DataError(f"no ratings file in this folder (looked for {wanted})", path=str(path))
    if fmt == "parquet":
        return Source(path, "parquet", explicit=True)
    if fmt == "auto":
        head = read_head(path, 4)[0]
        if head.startswith(b"PAR1") or path.suffix.lower() in _PARQUET_SUFFIXES:
            return Source(path, "parquet")
        for fname, layout, movies in ML_FILES:
            if path.name == fname:
                return Source(path, layout, _sibling(path.parent, movies))
        return Source(path, "delimited")
    movies_name = {layout: movies for _, layout, movies in ML_FILES}.get(fmt)
    movies_path = _sibling(path.parent, movies_name) if movies_name else None
    return Source(path, fmt, movies_path, True)


def default_scale(layout: str, ratings_path: Path) -> tuple[float, float]:
    """MovieLens rating scale of a layout: 1-5 for ml-100k and ml-1m, else 0.5-5.

    ``ratings.dat`` of ml-10m (folder ``ml-10M100K``) has half stars, so the ml-dat layout
    is 0.5-5 when the folder name mentions 10m.
    """
    if layout == "ml-100k":
        return 1.0, 5.0
    if layout == "ml-dat" and "10m" not in ratings_path.parent.name.lower():
        return 1.0, 5.0
    return 0.5, 5.0


def _check_columns(columns: dict[str, str]) -> None:
    unknown = sorted(set(columns) - set(schema.RATING_COLUMNS))
    if unknown:
        raise ConfigError(
            f"data.columns: unknown key(s) {', '.join(unknown)}; "
            f"use {', '.join(schema.RATING_COLUMNS)}"
        )


@dataclass
class _Loaded:
    """What a format loader returns to :func:`load_ratings`."""

    result: BuildResult
    format: str
    has_timestamp: bool
    encoding: str | None


def _load_text(src: Source, cfg: DataConfig, lo: float, hi: float, keep_lines: bool) -> _Loaded:
    path = src.ratings
    check_not_binary(path)
    guess = EncodingGuess(path, cfg.encoding or None, has_bom(path))
    head, whole = read_head(path)
    if not whole:  # whole lines only: a character cut at the end is not an encoding error
        head = head[: max(head.rfind(b"\n"), head.rfind(b"\r")) + 1]
    sample = read_sample(path, EncodingGuess(path, cfg.encoding or None, guess.bom).feed(head, 1))
    if cfg.sep:
        sep: str | None = normalize_sep(cfg.sep)
    elif src.explicit and src.layout in _LAYOUT_SEP:
        sep = _LAYOUT_SEP[src.layout]
    else:
        sep = None
    layout = detect_layout(
        sample,
        path,
        sep=sep,
        header=cfg.header,
        columns=cfg.columns,
        int_ids=src.layout in _INT_ID_LAYOUTS,
    )
    builder = RatingsBuilder(
        path=str(path),
        has_timestamp=layout.has_timestamp,
        rating_min=lo,
        rating_max=hi,
        user_kind=layout.user_kind,
        item_kind=layout.item_kind,
        columns=layout.names,
    )
    blanks = parse_text(path, layout, guess, builder)
    if blanks:
        logger.debug("%s: skipped %d blank lines", path, blanks)
    result = builder.finish(
        cfg.duplicates,
        cfg.max_reject_fraction,
        lambda lines: fetch_lines(path, lines, guess.encoding),
        keep_lines=keep_lines,
    )
    fmt = src.layout
    if fmt == "ml-csv" and not src.explicit and (layout.sep != "," or layout.header_line is None):
        fmt = "delimited"
    return _Loaded(result, fmt, layout.has_timestamp, guess.encoding)


def _parquet_columns(names: list[str], columns: dict[str, str], path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for canon, wanted in columns.items():
        if wanted not in names:
            raise DataError(
                f"column {wanted!r} (for {canon}) is not in the Parquet columns {names}",
                path=str(path),
            )
        found[canon] = wanted
    for canon in schema.RATING_COLUMNS:
        if canon in found:
            continue
        for n in names:
            if n == canon or norm_name(n) in HEADER_ALIASES[canon]:
                found[canon] = n
                break
    missing = [c for c in (schema.USER, schema.ITEM, schema.RATING) if c not in found]
    if missing:
        raise DataError(
            f"cannot find the {', '.join(missing)} column(s) among the Parquet columns "
            f"{names}; set data.columns",
            path=str(path),
        )
    return found


def _plain(value: Any) -> Any:
    """A numpy scalar as the plain Python value (so reprs read ``7.0``, not ``np.float64(7.0)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _load_parquet(src: Source, cfg: DataConfig, lo: float, hi: float, keep_lines: bool) -> _Loaded:
    import pyarrow as pa
    import pyarrow.dataset as ds

    path = src.ratings
    try:
        dataset = ds.dataset(str(path), format="parquet")
        names = list(dataset.schema.names)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        msg = str(exc).split(". ")[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"not a readable Parquet file or folder: {one_line(msg, 100)}", path=str(path)
        ) from exc
    mapping = _parquet_columns(names, cfg.columns, path)
    source_cols = list(dict.fromkeys(mapping.values()))

    def batches() -> Any:
        try:
            yield from dataset.to_batches(columns=source_cols, batch_size=_PARQUET_BATCH)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read Parquet data: {exc}", path=str(path)) from exc

    kinds = {}
    for canon in (schema.USER, schema.ITEM):
        typ = dataset.schema.field(mapping[canon]).type
        if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
            kinds[canon] = "int"
        else:
            head = dataset.head(1000, columns=[mapping[canon]]).column(0).to_pylist()
            kinds[canon] = id_kind([str(v).strip() for v in head if v is not None])
    builder = RatingsBuilder(
        path=str(path),
        has_timestamp=schema.TIMESTAMP in mapping,
        rating_min=lo,
        rating_max=hi,
        user_kind=kinds[schema.USER],
        item_kind=kinds[schema.ITEM],
        columns=mapping,
    )

    def row_repr(df: pd.DataFrame, positions: np.ndarray) -> list[str]:
        return [
            ", ".join(f"{c}={_plain(df[c].iat[int(p)])!r}" for c in source_cols) for p in positions
        ]

    row = 0
    for batch in batches():
        df = batch.to_pandas()
        cols = {canon: df[src_name] for canon, src_name in mapping.items()}
        lines = np.arange(row + 1, row + 1 + len(df), dtype=np.int64)

        def raw_rows(pos: np.ndarray, df: pd.DataFrame = df) -> list[str]:
            return row_repr(df, pos)

        builder.add(cols, lines, raw_rows)
        row += len(df)

    def raw_of_lines(lines: np.ndarray) -> list[str]:
        wanted = {int(x) for x in lines}
        found: dict[int, str] = {}
        start = 0
        for batch in batches():
            df = batch.to_pandas()
            sel = [ln for ln in wanted if start < ln <= start + len(df)]
            for ln, text in zip(sel, row_repr(df, np.asarray(sel) - start - 1)):
                found[ln] = text
            start += len(df)
        return [found.get(int(x), "") for x in lines]

    result = builder.finish(
        cfg.duplicates, cfg.max_reject_fraction, raw_of_lines, keep_lines=keep_lines
    )
    return _Loaded(result, "parquet", schema.TIMESTAMP in mapping, None)


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
    loader: Callable[..., _Loaded] = _load_parquet if src.layout == "parquet" else _load_text
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
