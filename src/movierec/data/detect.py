"""Layout detection for delimited ratings text: separator, header, columns, id kinds.

Works on a :class:`~movierec.data.textio.Sample` of the file (its first records and
windows spread over the rest) and returns a :class:`TextLayout`, or raises one clear
:class:`~movierec.errors.DataError` for files that are not ratings. The header rule (R5 in
:mod:`movierec.data.validate`): the first record is a header only if it looks like one — a
field is a known column name (:data:`~movierec.data.validate.HEADER_ALIASES`) or a name
given in ``data.columns``; anything else is data, validated (and rejected with its line
number) like every other row; so is a record holding a number. With ``data.header = true``
a first record without a known name is taken as the header (its columns used by position)
unless it holds a number, which is refused: that record is data.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from movierec import schema
from movierec.data.header import (
    fields_text,
    find_alias,
    header_problem,
    id_kind,
    is_number,
    map_header,
    named_columns,
    positional_mapping,
)
from movierec.data.textio import Sample
from movierec.data.validate import (
    HEADER_ALIASES,
    QUOTE,
    norm_name,
)
from movierec.errors import MAX_MESSAGE, DataError, join_within, quote_cell, quote_cells

__all__ = [
    "HEADER_ALIASES",
    "SEPARATORS",
    "TextLayout",
    "detect_layout",
    "id_kind",
    "norm_name",
    "normalize_sep",
]

logger = logging.getLogger(__name__)
SEPARATORS = ("::", "\t", ",", ";", "|", "ws")
"""Separators tried by detection, in order of preference; "ws" = runs of whitespace."""

SEP_ALIASES = {
    "\\t": "\t",
    "tab": "\t",
    "\t": "\t",
    ",": ",",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "::": "::",
    "whitespace": "ws",
    "ws": "ws",
    " ": "ws",
    "space": "ws",
}


TRAILING_SHARE = 0.9
"""Share of sampled records ending with an empty field that makes it a trailing separator."""


def normalize_sep(sep: str) -> str:
    """Map a user-facing separator (``\\t``, ``tab``, ``,``, ``::``, ``whitespace``) to the
    internal form; any other single character is used as is.

    Raises:
        DataError: an empty or multi-character separator other than ``::``.
    """
    if sep in SEP_ALIASES:
        return SEP_ALIASES[sep]
    if len(sep) == 1 and sep not in '\n\r"':
        return sep
    raise DataError(
        f"unsupported separator {quote_cell(sep)}; "
        "use '\\t', ',', '::', 'whitespace' or one character"
    )


def sep_label(sep: str) -> str:
    """Human-readable name of an internal separator."""
    return {"\t": "tab", "ws": "whitespace"}.get(sep, repr(sep))


@dataclass
class TextLayout:
    """How to parse a delimited ratings file (the result of :func:`detect_layout`).

    ``trailing_sep``: every record ends with a separator, so ``nfields`` counts one empty
    last field, which must stay empty (else the record has the wrong field count).
    """

    sep: str
    nfields: int
    positions: dict[str, int]
    names: dict[str, str]
    header_line: int | None = None
    has_timestamp: bool = False
    user_kind: str = "int"
    item_kind: str = "int"
    trailing_sep: bool = False
    plausible: int = 0
    problems: list[str] = field(default_factory=list)
    positional_header: bool = False


def split_fields(line: str, sep: str) -> list[str]:
    """Split one record on ``sep`` (internal form) after dropping double quotes (rule R3),
    stripping spaces from the fields (rule R4)."""
    line = line.replace(QUOTE, "")
    parts = line.split() if sep == "ws" else line.split(sep)
    return [p.strip() for p in parts]


def _occurs(sample: Sample, sep: str) -> bool:
    """Whether ``sep`` occurs in a sampled record at all (else it cannot be the separator)."""
    return any(sep in text for _, text in sample.head) or any(sep in t for t in sample.body)


def evaluate_layout(
    sample: Sample, sep: str, header: bool | None, columns: dict[str, str]
) -> TextLayout:
    """Work out field count, header and column positions of ``sample`` under one separator.

    The result's ``plausible`` counts sampled data records with the right number of fields,
    non-empty ids and a numeric rating; ``problems`` says why a layout cannot work.
    """
    head_rows = [split_fields(text, sep) for _, text in sample.head]
    body_rows = [split_fields(text, sep) for text in sample.body]
    first = sample.head[0] if sample.head else None
    first_fields = head_rows[0] if head_rows else []
    layout = TextLayout(sep=sep, nfields=len(first_fields), positions={}, names={})
    is_header, problem = header_problem(first, first_fields, header, columns)
    if problem:
        layout.problems.append(problem)
        return layout
    data = (head_rows[1:] if is_header else head_rows) + body_rows
    if is_header:
        assert first is not None
        layout.header_line = first[0]
        names = first_fields
        layout.nfields = len(names)
        positions, problem = map_header(names, columns)
        if problem:
            layout.problems.append(problem)
            return layout
        layout.names = {c: names[j] for c, j in positions.items()}
        layout.positional_header = not columns and any(
            find_alias(names, c) is None for c in (schema.USER, schema.ITEM, schema.RATING)
        )
    else:
        if not data:
            layout.problems.append("no data lines")
            return layout
        counts = Counter(len(r) for r in data)
        layout.nfields = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        mapped = positional_mapping(columns)
        if named_columns(columns):
            layout.problems.append(
                "data.columns names header columns, but the file has no header row; "
                "give 0-based positions instead"
            )
            return layout
        if mapped is not None:
            positions = mapped
            if any(p >= layout.nfields for p in positions.values()):
                layout.problems.append(
                    f"a data.columns position is beyond the {layout.nfields} fields"
                )
                return layout
        elif layout.nfields in (3, 4, 5):
            width = layout.nfields
            same = [r for r in data if len(r) == width]
            if sum(r[-1] == "" for r in same) >= TRAILING_SHARE * len(same):
                width -= 1  # a separator at the end of every line: the last field is empty
                layout.trailing_sep = True
            if width == 5:
                layout.problems.append(f"found {fields_text(width)} per line")
                return layout
            positions = dict(zip(schema.RATING_COLUMNS, range(width)))
        else:
            layout.problems.append(f"found {fields_text(layout.nfields)} per line")
            return layout
        layout.names = {c: c for c in positions}
    for canon in (schema.USER, schema.ITEM, schema.RATING):
        if canon not in positions:
            layout.problems.append(f"no {canon} column")
            return layout
    layout.positions = positions
    layout.has_timestamp = schema.TIMESTAMP in positions
    k, pu, pi, pr = (
        layout.nfields,
        positions[schema.USER],
        positions[schema.ITEM],
        positions[schema.RATING],
    )
    good = [r for r in data if len(r) == k and r[pu] and r[pi] and is_number(r[pr])]
    layout.plausible = len(good)
    layout.user_kind = id_kind([r[pu] for r in good])
    layout.item_kind = id_kind([r[pi] for r in good])
    if not data:
        layout.problems.append("no data lines after the header")
    return layout


def detect_layout(
    sample: Sample,
    path: Path,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: dict[str, str] | None = None,
    int_ids: bool = False,
) -> TextLayout:
    """Choose separator, header and columns of a delimited ratings file from a sample.

    Tries ``sep`` (internal form) or each of :data:`SEPARATORS` and keeps the one under
    which most sampled records look like ratings. ``int_ids`` forces integer id columns.

    Raises:
        DataError: "no ratings" for an empty or header-only file; ``data.header`` set on a
            file whose first record is data; otherwise one message naming the file, what was
            expected and the first lines (quoted, truncated).
    """
    if not sample.head and not sample.body:
        if sample.whole:
            raise DataError("no ratings (the file is empty)", path=str(path))
        raise DataError(
            "not a ratings file: no line break in its first 64 KiB (a ratings line is "
            f"short); it starts with {quote_cell(sample.start)}",
            path=str(path),
        )
    cols = dict(columns or {})
    tried = [sep] if sep else [s for s in SEPARATORS if s == "ws" or _occurs(sample, s)]
    candidates = [evaluate_layout(sample, s, header, cols) for s in tried]
    usable = [c for c in candidates if not c.problems and c.plausible > 0]
    if usable:
        best = max(usable, key=lambda c: c.plausible)  # first wins ties: preference order
        if int_ids:
            best.user_kind = best.item_kind = "int"
        if best.positional_header:
            logger.warning(
                "%s: header %s not recognised; using the columns by position",
                path,
                quote_cells(best.names.values()),
            )
        elif best.header_line is None and header is None and sample.head:
            ln, text = sample.head[0]
            if not any(is_number(f) for f in split_fields(text, best.sep)):
                logger.warning(
                    "%s: line %d %s is not a known header, so it is read as data (set "
                    "data.header = true if it is a header)",
                    path,
                    ln,
                    quote_cell(text),
                )
        logger.debug("detected layout: %s", best)
        return best
    if (
        any(c.problems == ["no data lines after the header"] for c in candidates)
        and len(sample.head) == 1
        and not sample.body
    ):
        raise DataError("no ratings (only a header line)", path=str(path))
    shown_lines = [f"line {ln}: {quote_cell(text)}" for ln, text in sample.head[:3]] or [
        quote_cell(text) for text in sample.body[:3]
    ]
    first_text = sample.head[0][1] if sample.head else sample.body[0]
    first = first_text.lstrip()[:1]

    def fail(message: str) -> DataError:
        budget = MAX_MESSAGE - len(str(path)) - len(message) - 16
        shown = join_within(shown_lines, max(budget, 40), ", ")
        return DataError(f"{message}; first lines: {shown}", path=str(path))

    if first == "<":
        hint = " (it looks like HTML or XML)"
    elif first in ("{", "["):
        hint = " (it looks like JSON)"
    else:
        header_errors = [p for c in candidates for p in c.problems if p.startswith("data.header")]
        if header_errors:
            raise DataError(header_errors[0], path=str(path))
        mapping = [
            p
            for c in candidates
            if c.nfields >= 3
            for p in c.problems
            if " per line" not in p and not p.startswith("no data lines")
        ]
        if mapping:
            raise fail(mapping[0])
        widest = max(c.nfields for c in candidates)
        hint = f" (found {fields_text(widest)} per line)" if widest < 3 else ""
    where = (
        f"separated by {sep_label(sep)}"
        if sep
        else "separated by tab, comma, semicolon, pipe, '::' or spaces"
    )
    raise fail(f"not a ratings file{hint}: expected user, movie, rating[, timestamp] {where}")
