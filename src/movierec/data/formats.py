"""The two format loaders behind :func:`movierec.data.load_ratings`: delimited text
(detected layout, streamed through the builder) and Parquet (read in record batches)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec import schema
from movierec.config import DataConfig
from movierec.data.builder import BuildResult, RatingsBuilder
from movierec.data.detect import HEADER_ALIASES, detect_layout, id_kind, norm_name, normalize_sep
from movierec.data.sources import INT_ID_LAYOUTS, LAYOUT_SEP, Source
from movierec.data.textio import EncodingGuess, check_not_binary, has_bom, read_head, read_sample
from movierec.data.textscan import fetch_lines, parse_text
from movierec.errors import DataError, one_line

logger = logging.getLogger(__name__)

PARQUET_BATCH = 1 << 20
"""Rows per Parquet record batch."""


@dataclass
class Loaded:
    """What a format loader returns to :func:`load_ratings`."""

    result: BuildResult
    format: str
    has_timestamp: bool
    encoding: str | None


def load_text(src: Source, cfg: DataConfig, lo: float, hi: float, keep_lines: bool) -> Loaded:
    path = src.ratings
    check_not_binary(path)
    guess = EncodingGuess(path, cfg.encoding or None, has_bom(path))
    head, whole = read_head(path)
    if not whole:  # whole lines only: a character cut at the end is not an encoding error
        head = head[: max(head.rfind(b"\n"), head.rfind(b"\r")) + 1]
    sample = read_sample(path, EncodingGuess(path, cfg.encoding or None, guess.bom).feed(head, 1))
    if cfg.sep:
        sep: str | None = normalize_sep(cfg.sep)
    elif src.explicit and src.layout in LAYOUT_SEP:
        sep = LAYOUT_SEP[src.layout]
    else:
        sep = None
    layout = detect_layout(
        sample,
        path,
        sep=sep,
        header=cfg.header,
        columns=cfg.columns,
        int_ids=src.layout in INT_ID_LAYOUTS,
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
    return Loaded(result, fmt, layout.has_timestamp, guess.encoding)


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


def load_parquet(src: Source, cfg: DataConfig, lo: float, hi: float, keep_lines: bool) -> Loaded:
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
            yield from dataset.to_batches(columns=source_cols, batch_size=PARQUET_BATCH)
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
    return Loaded(result, "parquet", schema.TIMESTAMP in mapping, None)
