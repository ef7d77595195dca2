"""The validation rules of ratings input, defined once, and their vectorised checks.

The rules below are shared by every reader (the local text and Parquet readers here, and
the Spark twin): each names what makes a row a reject and the reason it gets (the
vocabulary is :data:`movierec.data.report.REASONS`). The constants they use are defined in
this module.

Records (delimited text):
  R1. LF, CRLF and a lone CR each end a record, in any mix (:data:`LINE_BREAKS`); line
      numbers count records that way, from 1; a UTF-8 BOM is not part of line 1.
  R2. A record holding nothing but whitespace is not a row: it is neither read nor rejected.
  R3. A double quote (:data:`QUOTE`) is never part of a value: every one is dropped before
      the record is split, so an id wrapped in tripled quotes is the bare id. A quoted
      separator is not supported (the record then has the wrong field count).
  R4. Fields are split on the separator and stripped of surrounding whitespace; a record
      with another field count than the layout's is ``wrong_field_count``.
  R5. A row is a header only if it looks like one: a field is a known column name
      (:data:`HEADER_ALIASES`, compared without case, spaces, ``_`` and ``-``) or a name
      given in ``data.columns``, and no field is a number. Any other first row is data,
      validated like every row (``data.header = true`` also takes a first row without
      numbers as the header, and refuses one with numbers).
Cells (every source), checked in the order user, movie, rating, timestamp; the first
failing cell gives the reason:
  C1. An empty cell, or one of :data:`MISSING_MARKERS`, is ``missing_value``.
  C2. A cell holding a control character (:data:`CONTROL_CHARS`; a NUL byte included) is
      bad for its column: ``bad_user_id``, ``bad_movie_id``, ``non_numeric_rating``,
      ``bad_timestamp``.
  C3. Integer ids: an integral number (``42``, ``42.0``, ``4.2e1``); integers beyond int64
      are kept as their digit text. Text ids (a column detected as text): any text. Either
      kind: a fractional number, or a cell longer than :data:`MAX_ID_LENGTH` characters,
      is ``bad_user_id`` / ``bad_movie_id``; so is non-numeric text in an integer column.
  C4. A rating is a finite number (else ``non_numeric_rating``) within the scale
      ``[rating_min, rating_max]`` (else ``rating_out_of_range``).
  C5. A timestamp is an integral number of seconds that fits int64 (else ``bad_timestamp``).
File:
  F1. Repeated (user, movie) pairs are resolved by the duplicates policy; the rows dropped
      are ``duplicate`` rejects.
  F2. The reject limit is decided on the whole file: rejected rows / rows read above
      ``max_reject_fraction`` refuses the file. Layout detection samples the whole file, so
      bad rows at its top do not make it "not a ratings file".

The ``parse_*`` functions classify every cell of a raw column (strings from text files or
typed arrays from Parquet) as OK, MISSING, BAD or OUT_OF_RANGE and return parsed values;
rule F1 is :func:`movierec.data.duplicates.apply_duplicate_policy`. Both are used by
:class:`~movierec.data.builder.RatingsBuilder`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from movierec import schema
from movierec.data.rules import BAD as BAD
from movierec.data.rules import INT32_MAX as INT32_MAX
from movierec.data.rules import INT32_MIN as INT32_MIN
from movierec.data.rules import INT64_MAX as INT64_MAX
from movierec.data.rules import INT64_MIN as INT64_MIN
from movierec.data.rules import INT_DIGITS_PATTERN
from movierec.data.rules import MISSING as MISSING
from movierec.data.rules import MISSING_MARKERS as MISSING_MARKERS
from movierec.data.rules import OK as OK
from movierec.data.rules import OUT_OF_RANGE as OUT_OF_RANGE
from movierec.errors import quote_cell

# The cell status codes, integer bounds and missing markers (rule C1) are imported above from
# movierec.data.rules, where they are defined once (the Spark reader uses them too).

logger = logging.getLogger(__name__)


LINE_BREAKS = ("\r\n", "\r", "\n")
"""Record terminators of delimited text, any mix (rule R1)."""

QUOTE = '"'
"""Dropped everywhere from delimited text before splitting (rule R3)."""

CONTROL_CHARS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
"""Regex class of the control characters that make a cell bad (rule C2); tab, LF and CR are
separators or line breaks, not cell content."""

MAX_ID_LENGTH = 256
"""Longest id, in characters after stripping; a longer cell is a bad id (rule C3)."""

HEADER_ALIASES: dict[str, frozenset[str]] = {
    schema.USER: frozenset({"userid", "user", "uid", "users"}),
    schema.ITEM: frozenset({"movieid", "movie", "itemid", "item", "iid", "mid", "filmid"}),
    schema.RATING: frozenset({"rating", "ratings", "stars", "score", "rate"}),
    schema.TIMESTAMP: frozenset({"timestamp", "ts", "time", "unixtime", "epoch"}),
}
"""Header names recognised without a ``columns`` mapping (rule R5), compared after
:func:`norm_name`."""

_CONTROL = re.compile(CONTROL_CHARS)
_NORM = re.compile(r"[\s_\-]")


def norm_name(name: str) -> str:
    """A header name as compared with :data:`HEADER_ALIASES`: lower case, without quotes,
    whitespace, ``_`` and ``-``."""
    return _NORM.sub("", name.replace(QUOTE, "").strip().lower())


def header_role(name: str) -> str | None:
    """The canonical column (:data:`schema.RATING_COLUMNS`) a header name stands for, if any."""
    key = norm_name(name)
    for canon in schema.RATING_COLUMNS:
        if name.strip() == canon or key in HEADER_ALIASES[canon]:
            return canon
    return None


IdKind = str
"""``"int"``: ids are integers (non-numeric text is a bad id); ``"str"``: ids are text keys."""


@dataclass
class IdParse:
    """Parsed id column: ``status`` per cell, ``ints`` for integer ids, ``text`` for text keys.

    ``text`` is None unless the chunk holds text keys (``kind="str"``) or integers too
    large for int64, which are kept as their digit strings.
    """

    status: np.ndarray
    ints: np.ndarray
    text: np.ndarray | None = None


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values.dtype)) and not pd.api.types.is_bool_dtype(
        values.dtype
    )


def as_text(values: pd.Series) -> pd.Series:
    """Return ``values`` as an object Series of stripped strings (None/NaN become "")."""
    s = values.astype(object)
    nulls = s.isna().to_numpy()
    if nulls.any():
        s = s.where(~nulls, "")
    try:
        stripped = s.str.strip()
    except AttributeError:  # no str values at all
        return s.map(str).str.strip()
    if bool(stripped.isna().any()):  # non-str objects (numbers, bytes) give NaN in .str
        stripped = s.map(str).str.strip()
    return stripped


def _case_variants(word: str) -> set[str]:
    out = {""}
    for ch in word:
        out = {v + c for v in out for c in {ch.lower(), ch.upper()}}
    return out


_MISSING_SPELLINGS = frozenset(v for m in MISSING_MARKERS for v in _case_variants(m))
"""Every upper/lower-case spelling of the markers, so a hash lookup replaces ``str.lower``."""


def _missing_mask(s: pd.Series) -> np.ndarray:
    """True where a stripped text cell is empty or a missing marker (rule C1)."""
    return s.isin(_MISSING_SPELLINGS).to_numpy(dtype=bool)


def _lengths(s: pd.Series) -> np.ndarray:
    """Character count of every cell of a Series of str (faster than ``str.len``)."""
    return np.fromiter(map(len, s.tolist()), dtype=np.int64, count=len(s))


def control_mask(s: pd.Series) -> np.ndarray:
    """True where a text cell holds a control character (rule C2)."""
    out = np.zeros(len(s), dtype=bool)
    if len(s) and _CONTROL.search("".join(s.tolist())) is not None:
        out[:] = s.str.contains(CONTROL_CHARS, regex=True).to_numpy(dtype=bool)
    return out


def _integral(f: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(f) & (np.floor(f) == f) & (np.abs(f) < 2.0**63)


def _from_ints(
    arr: np.ndarray, status: np.ndarray, ints: np.ndarray, where: np.ndarray | None = None
) -> np.ndarray | None:
    """Store integer-typed ``arr`` into ``ints`` (at ``where``); returns text for > int64 values."""
    n = len(status)
    pos = np.arange(n) if where is None else where
    if arr.dtype == np.uint64 and bool((arr > INT64_MAX).any()):
        big = arr > INT64_MAX
        text = np.full(n, None, dtype=object)
        text[pos[big]] = [str(v) for v in arr[big]]
        ints[pos[~big]] = arr[~big].astype(np.int64)
        return text
    ints[pos] = arr.astype(np.int64, copy=False)
    return None


def _digits(text: str) -> tuple[bool, str]:
    """(negative, digits without sign and leading zeros) of a ``[+-]?\\d+`` text."""
    digits = text.lstrip("+-").lstrip("0") or "0"
    return text.startswith("-") and digits != "0", digits


def _int64_of_digits(text: str) -> int | None:
    """The value of a ``[+-]?\\d+`` text when it fits int64, else None (no int() of huge
    texts: Python refuses to convert more than a few thousand digits)."""
    neg, digits = _digits(text)
    if len(digits) > 19:
        return None
    v = -int(digits) if neg else int(digits)
    return v if INT64_MIN <= v <= INT64_MAX else None


def parse_ids(values: pd.Series, kind: IdKind = "int") -> IdParse:
    """Classify and parse one id column (rules C1-C3).

    Integer columns: integral numbers (``"42"``, ``"42.0"``, int dtypes) are ids; integers
    beyond int64 are kept as their digit text (sign and leading zeros dropped) when they have
    at most :data:`MAX_ID_LENGTH` digits; fractional numbers, infinities, longer digit runs
    and non-numeric text are BAD. Text columns (``kind="str"``): every non-missing stripped
    text of at most :data:`MAX_ID_LENGTH` characters is a key, except fractional numbers
    (``"1.5"``) and texts with a control character, which are BAD. Empty cells and the
    markers in :data:`MISSING_MARKERS` are MISSING.
    """
    n = len(values)
    status = np.zeros(n, dtype=np.int8)
    ints = np.zeros(n, dtype=np.int64)
    if kind == "str" and not _is_numeric(values):
        s = as_text(values)
        missing = _missing_mask(s)
        f = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            status[np.isfinite(f) & (np.floor(f) != f)] = BAD
        status[control_mask(s) | (_lengths(s) > MAX_ID_LENGTH)] = BAD
        status[missing] = MISSING
        return IdParse(status, ints, s.to_numpy(dtype=object))
    num = (
        values.to_numpy()
        if _is_numeric(values)
        else pd.to_numeric(values, errors="coerce").to_numpy()
    )
    if num.dtype.kind in "iu":
        return IdParse(status, ints, _from_ints(num, status, ints))
    f = num.astype(np.float64)
    good = _integral(f) & (np.abs(f) <= 2.0**53)
    ints[good] = f[good].astype(np.int64)
    rest = np.flatnonzero(~good)
    text: np.ndarray | None = None
    if len(rest) == 0:
        return IdParse(status, ints)
    if _is_numeric(values):
        status[rest] = np.where(np.isnan(f[rest]), MISSING, BAD)
        ok_big = rest[_integral(f[rest])]
        ints[ok_big] = f[ok_big].astype(np.int64)
        status[ok_big] = OK
        return IdParse(status, ints)
    # the few cells that are not plain numbers: missing markers, huge integers, junk
    s = as_text(values.iloc[rest])
    missing = _missing_mask(s)
    digits = s.str.fullmatch(INT_DIGITS_PATTERN).to_numpy(dtype=bool)
    too_long = _lengths(s) > MAX_ID_LENGTH
    digits &= ~too_long
    for j in np.flatnonzero(digits):
        cell = str(s.iat[int(j)])
        v = _int64_of_digits(cell)
        if v is not None:
            ints[rest[j]] = v
        else:
            if text is None:
                text = np.full(n, None, dtype=object)
            neg, digs = _digits(cell)
            text[rest[j]] = ("-" if neg else "") + digs
    fr = f[rest]
    near = ~digits & ~missing & ~too_long & _integral(fr)  # e.g. "1e17": integral, > 2**53
    ints[rest[near]] = fr[near].astype(np.int64)
    status[rest[~digits & ~near]] = BAD
    status[rest[missing]] = MISSING
    return IdParse(status, ints, text)


def parse_ratings(
    values: pd.Series, rating_min: float, rating_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Parse a rating column to float64; status OK, MISSING, BAD (not a finite number) or
    OUT_OF_RANGE (outside ``[rating_min, rating_max]``)."""
    numeric = _is_numeric(values)
    num = values if numeric else pd.to_numeric(values, errors="coerce")
    r = num.to_numpy(dtype=np.float64)
    status = np.zeros(len(r), dtype=np.int8)
    bad = np.flatnonzero(~np.isfinite(r))
    if len(bad):
        missing = np.isnan(r[bad]) if numeric else _missing_mask(as_text(values.iloc[bad]))
        status[bad] = np.where(missing, MISSING, BAD)
    with np.errstate(invalid="ignore"):
        out = (status == OK) & ((r < rating_min) | (r > rating_max))
    status[out] = OUT_OF_RANGE
    return r, status


def parse_timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a timestamp column to int64 epoch seconds; status OK, MISSING or BAD (not an
    integral number of seconds that fits int64). datetime64 columns are converted."""
    n = len(values)
    status = np.zeros(n, dtype=np.int8)
    ts = np.zeros(n, dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        dt = pd.to_datetime(values, utc=True)
        missing = dt.isna().to_numpy()
        ns = dt.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ts = ns // 1_000_000_000
        status[missing] = MISSING
        return ts, status
    numeric = _is_numeric(values)
    num = values.to_numpy() if numeric else pd.to_numeric(values, errors="coerce").to_numpy()
    if num.dtype.kind in "iu":
        if _from_ints(num, status, ts) is not None:
            status[num > INT64_MAX] = BAD
        return ts, status
    f = num.astype(np.float64)
    good = _integral(f) & (np.abs(f) <= 2.0**53)
    ts[good] = f[good].astype(np.int64)
    rest = np.flatnonzero(~good)
    if len(rest) == 0:
        return ts, status
    if numeric:
        status[rest] = np.where(np.isnan(f[rest]), MISSING, BAD)
        return ts, status
    s = as_text(values.iloc[rest])
    missing = _missing_mask(s)
    digits = s.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
    for j in np.flatnonzero(digits):
        v = _int64_of_digits(str(s.iat[int(j)]))
        if v is None:
            digits[j] = False
        else:
            ts[rest[j]] = v
    status[rest[~digits]] = BAD
    status[rest[missing]] = MISSING
    return ts, status


def quote(text: str, limit: int = 60) -> str:
    """Quote ``text`` on one line for an error message, truncated to ``limit`` characters
    (:func:`movierec.errors.quote_cell`)."""
    return quote_cell(text, limit)
