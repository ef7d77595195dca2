"""The validation rules of a ratings row, defined once for both readers.

Two implementations apply these rules: pandas/numpy in :mod:`movierec.data.validate` (the
local reader) and Spark column expressions in :mod:`movierec.engines.spark.cells` (the Spark
reader). Both import the constants below, and ``tests/test_spark_reader.py`` runs both on
the same corpus of good and bad rows and asserts the same kept rows, rejects and counts.

A cell is classified as OK, MISSING, BAD or OUT_OF_RANGE (ratings only). The checks of one
row run in the order of :data:`CHECKS`; the first failing one names the row's reason and
column. What each status accepts, for a text cell ``s`` (``t`` = ``s`` stripped of
:data:`TEXT_SPACE`, ``n`` = ``s`` stripped of :data:`NUMBER_SPACE`):

* MISSING: ``t.lower()`` is in :data:`MISSING_MARKERS`.
* a finite number: ``n`` matches :data:`NUMBER_PATTERN` and its value is finite (the
  numbers ``pandas.to_numeric`` accepts; ``1e400`` overflows and is not finite).
* integer id: a finite integral number of magnitude <= :data:`EXACT_FLOAT_INT`; else
  ``t`` matching :data:`INT_DIGITS_PATTERN` (exact; beyond int64 the digits are kept as a
  text key, normalised like Python's ``str(int(t))``); else an integral number below
  2**63 (``1e17``); else BAD.
* text id: any ``t`` except a finite non-integral number (``1.5`` is BAD).
* rating: a finite number, else MISSING (marker) or BAD (``non_numeric_rating``); outside
  ``[rating_min, rating_max]`` it is OUT_OF_RANGE.
* timestamp: an integral number of magnitude <= :data:`EXACT_FLOAT_INT`, or ``t`` matching
  :data:`INT_DIGITS_PATTERN` within int64; else BAD (``bad_timestamp``).

Typed columns (Parquet, ORC, JSON, tables): nulls and float NaN are MISSING, infinities and
fractional ids are BAD, integer types are taken as they are.
"""

from __future__ import annotations

from movierec import schema

OK, MISSING, BAD, OUT_OF_RANGE = 0, 1, 2, 3
"""Cell status codes."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT_INT = 2**53
"""Integral floats up to this magnitude are exact integers."""

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "nat", "null", "none"})
"""Cell texts (case-insensitive, stripped) that count as a missing value."""

NUMBER_SPACE = " \t\x0b\x0c\r"
"""Characters skipped around a number by the number parser (C ``isspace`` within a line)."""

TEXT_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
"""Characters Python's ``str.strip()`` removes: the stripping of text ids and markers."""

NUMBER_PATTERN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
"""A decimal number in text (ASCII digits): ``5``, ``+5``, ``5.``, ``.5``, ``1e3``."""

INT_DIGITS_PATTERN = r"[+-]?\d+"
"""An integer written as digits (an exact id of any length, or a timestamp within int64)."""

MAX_RAW = 1000
"""Longest ``raw`` text kept in the rejects (characters)."""

CHECKS: tuple[tuple[str, int, str], ...] = (
    (schema.USER, MISSING, "missing_value"),
    (schema.USER, BAD, "bad_user_id"),
    (schema.ITEM, MISSING, "missing_value"),
    (schema.ITEM, BAD, "bad_movie_id"),
    (schema.RATING, MISSING, "missing_value"),
    (schema.RATING, BAD, "non_numeric_rating"),
    (schema.RATING, OUT_OF_RANGE, "rating_out_of_range"),
    (schema.TIMESTAMP, MISSING, "missing_value"),
    (schema.TIMESTAMP, BAD, "bad_timestamp"),
)
"""(canonical column, status, reason) in the order a row's cells are checked; a row with a
wrong number of fields is ``wrong_field_count`` before any of these, and a repeated
(user, movie) pair resolved away by the duplicate policy is ``duplicate`` after them."""


def java_class(chars: str) -> str:
    """The characters ``chars`` as the body of a Java regex character class (``\\uXXXX``
    escapes, ranges merged), for Spark's ``rlike``/``regexp_replace``."""
    codes = sorted({ord(c) for c in chars})
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = codes[i], codes[j]
        parts.append(f"\\u{lo:04X}" if lo == hi else f"\\u{lo:04X}-\\u{hi:04X}")
        i = j + 1
    return "".join(parts)
