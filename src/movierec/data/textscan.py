"""Fast, line-numbered parsing of delimited ratings text.

The file is read as bytes in blocks of whole records (line breaks normalised, see
:mod:`movierec.data.textio`); each block's encoding is checked (:class:`EncodingGuess`),
control bytes are replaced by SUB (``\x1a``, so the cell holding one fails its rule, C2)
and double quotes dropped (R3). Per block, numpy finds line bounds and
counts separators per line, so lines with the wrong number of fields are rejected with their
exact line numbers; the remaining lines go through pandas' C parser (typed first, as strings
only for small pieces where a value does not parse) and on to
:class:`~movierec.data.builder.RatingsBuilder`.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec import schema
from movierec.data.builder import RatingsBuilder
from movierec.data.detect import TextLayout
from movierec.data.textio import EncodingGuess, has_control_bytes, iter_blocks
from movierec.errors import DataError

logger = logging.getLogger(__name__)

MIN_PIECE = 4096
"""Line ranges at most this long are read as strings when a typed parse fails."""
SPLIT_WAYS = 8
_UNIT_SEP = b"\x1f"
_WS_RUN = re.compile(rb"[ \t\f\v]+")
_WS_EDGE = re.compile(rb"^\x1f|\x1f$", re.MULTILINE)
_SUB = b"\x1a"
_CONTROLS = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_TO_SUB = bytes.maketrans(_CONTROLS, _SUB * len(_CONTROLS))
_TO_SUB_WS = bytes.maketrans(  # vertical tab and form feed separate whitespace fields
    bytes(c for c in _CONTROLS if c not in (11, 12)), _SUB * (len(_CONTROLS) - 2)
)


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _line_bounds(buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    return arr, starts, ends


def fetch_lines(path: Path, wanted: np.ndarray, encoding: str) -> list[str]:
    """Return the text of the given 1-based line numbers of ``path``, in the given order."""
    want = np.asarray(wanted, dtype=np.int64)
    found: dict[int, str] = {}
    targets = np.unique(want)
    for first, block in iter_blocks(path):
        count = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        sel = targets[(targets >= first) & (targets < first + count)]
        if len(sel):
            _, starts, ends = _line_bounds(block)
            for ln in sel:
                i = int(ln - first)
                found[int(ln)] = block[starts[i] : ends[i]].decode(_codec(encoding), "replace")
    return [found.get(int(ln), "") for ln in want]


def _transform(block: bytes, layout: TextLayout) -> tuple[bytes, int]:
    """The block as the C parser reads it: control bytes made SUB, quotes dropped, the
    separator as one byte (returned)."""
    buf = block
    if has_control_bytes(buf):
        buf = buf.translate(_TO_SUB_WS if layout.sep == "ws" else _TO_SUB)
    if b'"' in buf:
        buf = buf.replace(b'"', b"")
    if layout.sep == "::":
        return buf.replace(b"::", _UNIT_SEP), _UNIT_SEP[0]
    if layout.sep == "ws":
        buf = _WS_EDGE.sub(b"", _WS_RUN.sub(_UNIT_SEP, buf))
        return buf, _UNIT_SEP[0]
    return buf, ord(layout.sep)


def _read_fields(
    buf: bytes, layout: TextLayout, sep_byte: int, encoding: str, typed: bool
) -> pd.DataFrame:
    use = sorted(layout.positions.values())
    dtype: dict[int, Any] = {p: str for p in use}
    if typed:
        pos = layout.positions
        dtype[pos[schema.USER]] = np.int64 if layout.user_kind == "int" else str
        dtype[pos[schema.ITEM]] = np.int64 if layout.item_kind == "int" else str
        dtype[pos[schema.RATING]] = np.float64
        if schema.TIMESTAMP in pos:
            dtype[pos[schema.TIMESTAMP]] = np.int64
    # pandas-stubs versions disagree on read_csv's overloads for these arguments.
    read_csv: Any = pd.read_csv
    frame: pd.DataFrame = read_csv(
        io.BytesIO(buf),
        sep=chr(sep_byte),
        header=None,
        names=list(range(layout.nfields)),
        usecols=use,
        dtype=dtype,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        engine="c",
        lineterminator="\n",
        skip_blank_lines=False,
        encoding=encoding,
        encoding_errors="replace",
    )
    return frame


def _read_pieces(
    buf: bytes,
    gstarts: np.ndarray,
    lo: int,
    hi: int,
    layout: TextLayout,
    sep_byte: int,
    encoding: str,
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """Parse lines ``lo:hi`` of ``buf`` typed; where a value does not parse, split the range
    into pieces and retry, reading only small failing pieces as strings."""
    piece = buf[gstarts[lo] : gstarts[hi]]
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # huge numbers fail as ValueError
            df = _read_fields(piece, layout, sep_byte, encoding, typed=True)
        rating = df[layout.positions[schema.RATING]].to_numpy()
        if not np.isfinite(rating).all():
            raise ValueError("non-finite rating")
    except (ValueError, OverflowError, TypeError):
        if hi - lo <= MIN_PIECE:
            yield lo, hi, _read_fields(piece, layout, sep_byte, encoding, typed=False)
            return
        bounds = np.linspace(lo, hi, SPLIT_WAYS + 1).astype(int)
        for a, b in itertools.pairwise(bounds):
            if b > a:
                yield from _read_pieces(buf, gstarts, int(a), int(b), layout, sep_byte, encoding)
        return
    yield lo, hi, df


def _original_bounds(block: bytes, cache: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Line starts and ends in the untransformed ``block`` (computed once, kept in ``cache``)."""
    if not cache:
        _, s0, e0 = _line_bounds(block)
        cache.append((s0, e0))
    s0, e0 = cache[0]
    return s0, e0


def parse_text(
    path: Path, layout: TextLayout, guess: EncodingGuess, builder: RatingsBuilder
) -> int:
    """Stream ``path`` through ``builder``; returns the number of blank lines skipped.

    ``guess`` decides each block's encoding (and ends as the file's).

    Raises:
        DataError: the file is not valid text in its encoding (names the line).
    """
    blank_total = 0
    for first, block in iter_blocks(path):
        encoding = _codec(guess.feed(block, first))
        buf, sep_byte = _transform(block, layout)
        arr, starts, ends = _line_bounds(buf)
        orig_bounds: list[tuple[np.ndarray, np.ndarray]] = []
        n = len(starts)
        line_no = first + np.arange(n, dtype=np.int64)
        seps = np.flatnonzero(arr == sep_byte)
        nfields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
        blank = ends == starts
        if blank.any():  # blank once quotes are gone: a record of quotes is not blank (R2)
            bi = np.flatnonzero(blank)
            s0, e0 = _original_bounds(block, orig_bounds)
            nonempty = bi[e0[bi] > s0[bi]]
            if len(nonempty):
                texts = [block[s0[i] : e0[i]].decode(encoding, "replace") for i in nonempty]
                blank[nonempty[[j for j, t in enumerate(texts) if t.strip()]]] = False
        skip = blank.copy()
        if layout.header_line is not None and first <= layout.header_line < first + n:
            skip[layout.header_line - first] = True
        good = (nfields == layout.nfields) & ~skip
        if layout.trailing_sep:  # the empty last field must stay empty
            good &= arr[np.maximum(ends - 1, 0)] == sep_byte

        def raw(
            idx: np.ndarray,
            block: bytes = block,
            bounds: list[Any] = orig_bounds,
            encoding: str = encoding,
        ) -> list[str]:
            s0, e0 = _original_bounds(block, bounds)
            return [block[s0[i] : e0[i]].decode(encoding, "replace") for i in idx]

        wrong = np.flatnonzero(~good & ~skip)
        if len(wrong):
            texts = raw(wrong)
            keep_wrong = [j for j, t in enumerate(texts) if t.strip()]
            blank_total += len(texts) - len(keep_wrong)
            builder.reject(
                line_no[wrong[keep_wrong]], "wrong_field_count", [texts[j] for j in keep_wrong]
            )
        blank_total += int(blank.sum())
        good_idx = np.flatnonzero(good)
        if len(good_idx) == 0:
            continue
        if len(good_idx) < n:
            drop = np.flatnonzero(~good)
            delta = np.bincount(starts[drop], minlength=len(buf) + 2)
            delta -= np.bincount(np.minimum(ends[drop] + 1, len(buf) + 1), minlength=len(buf) + 2)
            mask = np.cumsum(delta[: len(buf)].astype(np.int8), dtype=np.int8) > 0
            buf = arr[~mask].tobytes()
        gstarts = np.concatenate(([0], np.flatnonzero(np.frombuffer(buf, np.uint8) == 10) + 1))
        if gstarts[-1] != len(buf):
            gstarts = np.concatenate((gstarts, [len(buf)]))
        for lo, hi, df in _read_pieces(buf, gstarts, 0, len(good_idx), layout, sep_byte, encoding):
            if len(df) != hi - lo:  # pragma: no cover - guards the line bookkeeping
                raise DataError(
                    f"internal parse mismatch ({len(df)} rows for {hi - lo} lines)",
                    path=str(path),
                    line=first,
                )
            gi = good_idx[lo:hi]
            cols = {c: df[p] for c, p in layout.positions.items()}

            def raw_piece(pos: np.ndarray, gi: np.ndarray = gi) -> list[str]:
                return raw(gi[pos])

            builder.add(cols, line_no[gi], raw_piece)
    return blank_total
