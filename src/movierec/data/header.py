"""The header rule (R5 in :mod:`movierec.data.validate`) and the column mapping of delimited
ratings text: whether a first record is a header, where each canonical column is, and
whether sampled ids are integers or text keys."""

from __future__ import annotations

import re

import numpy as np

from movierec import schema
from movierec.data.validate import HEADER_ALIASES, MISSING_MARKERS, header_role
from movierec.errors import quote_cell, quote_cells

ZERO_PADDED = re.compile(r"[+-]?0\d+")
"""An integer written with leading zeros (``0345``): the zeros are part of an id."""


def is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return bool(np.isfinite(value))


def fields_text(n: int) -> str:
    return "1 field" if n == 1 else f"{n} fields"


def positional_mapping(columns: dict[str, str]) -> dict[str, int] | None:
    if columns and all(v.strip().isdigit() for v in columns.values()):
        return {k: int(v) for k, v in columns.items()}
    return None


def named_columns(columns: dict[str, str]) -> bool:
    return bool(columns) and positional_mapping(columns) is None


def header_like(first: list[str], columns: dict[str, str]) -> bool:
    """Rule R5: a field is a known column name, or a name given in ``columns``, and no field
    is a number (``user,5,4.0`` is data whose user id is "user")."""
    if any(is_number(f) for f in first):
        return False
    if named_columns(columns):
        present = {f.lower() for f in first}
        if any(v.lower() in present for v in columns.values()):
            return True
    return any(header_role(f) is not None for f in first)


def find_alias(names: list[str], canon: str) -> int | None:
    for j, n in enumerate(names):
        if header_role(n) == canon:
            return j
    return None


def map_header(names: list[str], columns: dict[str, str]) -> tuple[dict[str, int], str | None]:
    """Find canonical columns in a header row; returns (positions, problem)."""
    lowered = [n.lower() for n in names]
    shown = quote_cells(names, most=5, limit=24)
    if named_columns(columns):
        pos: dict[str, int] = {}
        for canon, wanted in columns.items():
            if wanted in names:
                pos[canon] = names.index(wanted)
            elif wanted.lower() in lowered:
                pos[canon] = lowered.index(wanted.lower())
            else:
                return {}, (
                    f"column {quote_cell(wanted)} (for {canon}) is not in the header {shown}"
                )
        for canon in (schema.USER, schema.ITEM, schema.RATING):
            if canon not in pos:
                found = find_alias(names, canon)
                if found is None:
                    return {}, f"no {canon} column in the header {shown}; add it to data.columns"
                pos[canon] = found
        if schema.TIMESTAMP not in pos:
            ts = find_alias(names, schema.TIMESTAMP)
            if ts is not None:
                pos[schema.TIMESTAMP] = ts
        return pos, None
    pos = {}
    for canon in schema.RATING_COLUMNS:
        found = find_alias(names, canon)
        if found is not None:
            pos[canon] = found
    missing = [c for c in (schema.USER, schema.ITEM, schema.RATING) if c not in pos]
    if not missing:
        return pos, None
    by_position = dict(zip(schema.RATING_COLUMNS, range(len(names))))
    consistent = all(by_position.get(canon) == j for canon, j in pos.items())
    if len(names) in (3, 4) and consistent:
        return by_position, None  # e.g. User-ID;ISBN;Book-Rating: used by position
    what = " and ".join(c.removesuffix("_id") for c in missing)
    return {}, (
        f"no {what} column in the header {shown}; name it "
        f"({', '.join(sorted(HEADER_ALIASES[missing[0]])[:3])} ...) or set data.columns"
    )


def id_kind(values: list[str]) -> str:
    """``"str"`` when sampled ids are mostly non-numeric or written with leading zeros
    (``0345``: the zeros are part of the id), else ``"int"``."""
    vals = [v for v in values if v.lower() not in MISSING_MARKERS]
    if not vals:
        return "int"
    non_numeric = sum(not is_number(v) for v in vals)
    zero_padded = any(ZERO_PADDED.fullmatch(v) for v in vals if "0" in v[:2])
    return "str" if non_numeric * 2 > len(vals) or zero_padded else "int"


def header_problem(
    first: tuple[int, str] | None, fields: list[str], header: bool | None, cols: dict[str, str]
) -> tuple[bool, str | None]:
    """Whether the first record is the header, or why it cannot be (``data.header`` set)."""
    if first is None or header is False:
        if header and first is None:
            return False, "data.header is true, but line 1 is too long to be a header"
        return False, None
    if header_like(fields, cols):
        return True, None
    if header is None:
        return False, None
    if any(is_number(f) for f in fields):
        return False, (
            f"data.header is true, but line {first[0]} holds numbers, so it is data, "
            f"not a header: {quote_cell(first[1])}; drop --header (or set data.header = false)"
        )
    return True, None
