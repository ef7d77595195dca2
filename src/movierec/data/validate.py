"""Vectorised validation of raw rating cells and the duplicate policy.

The ``parse_*`` functions classify every cell of a raw column (strings from text files or
typed arrays from Parquet) as OK, MISSING, BAD or OUT_OF_RANGE and return parsed values;
:func:`apply_duplicate_policy` resolves repeated (user, movie) pairs. Both are used by
:class:`~movierec.data.builder.RatingsBuilder`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The rule constants are defined once, in movierec.data.rules (the Spark reader uses them too).
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
from movierec.errors import DataError

logger = logging.getLogger(__name__)

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


def _missing_mask(s: pd.Series) -> np.ndarray:
    short = s.str.len().to_numpy() <= 4
    out = np.zeros(len(s), dtype=bool)
    if short.any():
        out[short] = s[short].str.lower().isin(MISSING_MARKERS).to_numpy()
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


def parse_ids(values: pd.Series, kind: IdKind = "int") -> IdParse:
    """Classify and parse one id column.

    Integer columns: integral numbers (``"42"``, ``"42.0"``, int dtypes) are ids; integers
    beyond int64 are kept as their digit text; fractional numbers, infinities and
    non-numeric text are BAD. Text columns (``kind="str"``): every non-missing stripped text
    is a key, except fractional numbers (``"1.5"``), which are BAD. Empty cells and the
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
    for j in np.flatnonzero(digits):
        v = int(str(s.iat[int(j)]))
        if INT64_MIN <= v <= INT64_MAX:
            ints[rest[j]] = v
        else:
            if text is None:
                text = np.full(n, None, dtype=object)
            text[rest[j]] = str(v)
    fr = f[rest]
    near = ~digits & ~missing & _integral(fr)  # e.g. "1e17": integral but beyond 2**53
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
    digits = s.str.fullmatch(r"[+-]?\d{1,18}").to_numpy(dtype=bool)
    if digits.any():
        ts[rest[digits]] = s[digits].astype(np.int64).to_numpy()
    status[rest[~digits]] = BAD
    status[rest[missing]] = MISSING
    return ts, status


def quote(text: str, limit: int = 60) -> str:
    """Quote ``text`` on one line for an error message, truncated to ``limit`` characters."""
    short = text if len(text) <= limit else text[:limit] + "..."
    return repr(short)


def apply_duplicate_policy(
    policy: str,
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    ts: np.ndarray | None,
    lines: np.ndarray,
    *,
    describe: Callable[[int, int], tuple[object, object]] = lambda u, i: (u, i),
    path: str | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Resolve repeated (user, movie) pairs.

    Returns ``(keep, ratings, ts)``: ``keep`` is a boolean mask of rows to keep (None when
    there are no duplicates); ``ratings``/``ts`` are possibly updated copies (for "mean",
    the kept first occurrence carries the group's mean rating and latest timestamp).
    Policies: "latest" keeps the row with the largest timestamp (ties and files without
    timestamps: the later line), "first"/"last" keep by file order, "mean" averages.

    Raises:
        DataError: ``policy == "error"`` and a pair repeats (names the first repeated pair
            and its lines); or an unknown policy.
    """
    key = (users.astype(np.int64) << 32) | (items.astype(np.int64) & 0xFFFFFFFF)
    dup_any = pd.Series(key).duplicated(keep=False).to_numpy()
    if not dup_any.any():
        return None, ratings, ts
    # from here on only the rows of repeated pairs are looked at
    idx = np.flatnonzero(dup_any)
    sub_key = key[idx]
    sub = pd.Series(sub_key)
    if policy == "error":
        first = int(idx[np.flatnonzero(sub.duplicated(keep="first").to_numpy())[0]])
        same = idx[sub_key == key[first]]
        shown = ", ".join(str(x) for x in lines[same[:5]]) + (", ..." if len(same) > 5 else "")
        u, i = describe(int(users[first]), int(items[first]))
        raise DataError(
            f"duplicate rating for user {u}, movie {i} on lines {shown} "
            "(duplicates policy 'error'; use latest, first, last or mean to merge them)",
            path=path,
            line=int(lines[first]),
        )
    keep = ~dup_any
    if policy in ("first", "mean"):
        keep[idx[~sub.duplicated(keep="first").to_numpy()]] = True
    elif policy == "last" or (policy == "latest" and ts is None):
        if policy == "latest":
            logger.warning(
                "%s has no timestamps: duplicates policy 'latest' keeps the later line of "
                "each repeated (user, movie) pair instead",
                path or "the ratings file",
            )
        keep[idx[~sub.duplicated(keep="last").to_numpy()]] = True
    elif policy == "latest":
        assert ts is not None
        order = np.lexsort((idx, ts[idx], sub_key))
        sk = sub_key[order]
        last_in_group = np.r_[sk[1:] != sk[:-1], True]
        keep[idx[order][last_in_group]] = True
    else:
        raise DataError(
            f"unknown duplicates policy {policy!r}; use latest, first, last, mean or error"
        )
    if policy == "mean":
        frame = pd.DataFrame({"k": sub_key, "r": ratings[idx]})
        ratings = ratings.copy()
        ratings[idx] = frame.groupby("k", sort=False)["r"].transform("mean").to_numpy()
        if ts is not None:
            ts = ts.copy()
            frame["t"] = ts[idx]
            ts[idx] = frame.groupby("k", sort=False)["t"].transform("max").to_numpy()
    return keep, ratings, ts
