"""Layout detection for delimited ratings text: separator, header, columns, id kinds.

Works on the first lines of a file (:func:`sample_lines`) and returns a :class:`TextLayout`,
or raises one clear :class:`~movierec.errors.DataError` for files that are not ratings.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from movierec import schema
from movierec.data.validate import MISSING_MARKERS, quote
from movierec.errors import DataError

logger = logging.getLogger(__name__)
SEPARATORS = ("::", "\t", ",", "ws")
"""Separators tried by detection, in order of preference; "ws" = runs of whitespace."""

SEP_ALIASES = {
    "\\t": "\t",
    "tab": "\t",
    "\t": "\t",
    ",": ",",
    "comma": ",",
    "::": "::",
    "whitespace": "ws",
    "ws": "ws",
    " ": "ws",
    "space": "ws",
}

HEADER_ALIASES: dict[str, frozenset[str]] = {
    schema.USER: frozenset({"userid", "user", "uid", "users"}),
    schema.ITEM: frozenset({"movieid", "movie", "itemid", "item", "iid", "mid", "filmid"}),
    schema.RATING: frozenset({"rating", "ratings", "stars", "score", "rate"}),
    schema.TIMESTAMP: frozenset({"timestamp", "ts", "time", "unixtime", "epoch"}),
}
"""Header names recognised without a ``columns`` mapping (lower-case, without _ - or space)."""

SAMPLE_BYTES = 64 * 1024
SAMPLE_LINES = 200
BOM = b"\xef\xbb\xbf"


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
        f"unsupported separator {sep!r}; use '\\t', ',', '::', 'whitespace' or one character"
    )


def sep_label(sep: str) -> str:
    """Human-readable name of an internal separator."""
    return {"\t": "tab", "ws": "whitespace"}.get(sep, repr(sep))


@dataclass
class TextLayout:
    """How to parse a delimited ratings file (the result of :func:`detect_layout`)."""

    sep: str
    nfields: int
    positions: dict[str, int]
    names: dict[str, str]
    header_line: int | None = None
    has_timestamp: bool = False
    user_kind: str = "int"
    item_kind: str = "int"
    quoted: bool = False
    plausible: int = 0
    problems: list[str] = field(default_factory=list)
    positional_header: bool = False


def read_head(path: Path, nbytes: int = SAMPLE_BYTES) -> tuple[bytes, bool]:
    """Return the first ``nbytes`` of ``path`` (BOM removed) and whether that is the whole file."""
    with open(path, "rb") as fh:
        head = fh.read(nbytes + 1)
    whole = len(head) <= nbytes
    head = head[:nbytes]
    if head.startswith(BOM):
        head = head[len(BOM) :]
    return head, whole


def check_not_binary(head: bytes, path: Path) -> None:
    """Raise DataError when ``head`` looks like binary data rather than text.

    Raises:
        DataError: the start of the file is an image, archive or other binary data.
    """
    kinds = [
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x89PNG", "a PNG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a zip archive; unpack it first (or use `movierec datasets fetch`)"),
        (b"\x1f\x8b", "gzip-compressed; decompress it first"),
        (b"PAR1", "a Parquet file; use format 'parquet'"),
    ]
    for magic, what in kinds:
        if head.startswith(magic):
            raise DataError(f"not a text ratings file: it is {what}", path=str(path))
    sample = head[:8192]
    if b"\x00" in sample:
        hint = (
            " (UTF-16 text is not supported; convert it to UTF-8)"
            if sample[:2]
            in (
                b"\xff\xfe",
                b"\xfe\xff",
            )
            else ""
        )
        raise DataError(
            f"not a text ratings file: binary data{hint}; first bytes: {sample[:16]!r}",
            path=str(path),
        )


def decode_error(
    exc: UnicodeDecodeError, data: bytes, first_line: int, path: Path, encoding: str
) -> DataError:
    """Build the DataError for undecodable bytes, with the line where they occur."""
    line = first_line + data.count(b"\n", 0, exc.start)
    bad = data[exc.start : exc.start + 4]
    return DataError(
        f"not valid {encoding} text (bytes {bad!r}); set data.encoding (e.g. 'latin-1')",
        path=str(path),
        line=line,
    )


def sample_lines(head: bytes, whole: bool, encoding: str, path: Path) -> list[tuple[int, str]]:
    """Decode the head of a file into up to :data:`SAMPLE_LINES` non-blank ``(line, text)`` pairs.

    Raises:
        DataError: the head is not valid text in ``encoding``.
    """
    if not whole:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else head
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as exc:
        if whole or exc.start < len(head) - 4:
            raise decode_error(exc, head, 1, path, encoding) from exc
        text = head[: exc.start].decode(encoding)  # a character cut at the sample's end
    out: list[tuple[int, str]] = []
    for i, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            out.append((i, line))
            if len(out) >= SAMPLE_LINES:
                break
    return out


def split_fields(line: str, sep: str) -> list[str]:
    """Split one line on ``sep`` (internal form) and strip spaces and double quotes from fields."""
    parts = line.split() if sep == "ws" else line.split(sep)
    return [p.strip().strip('"').strip() for p in parts]


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return bool(np.isfinite(value))


def _fields(n: int) -> str:
    return "1 field" if n == 1 else f"{n} fields"


def norm_name(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().strip('"').lower())


def _positional_mapping(columns: dict[str, str]) -> dict[str, int] | None:
    if columns and all(v.strip().isdigit() for v in columns.values()):
        return {k: int(v) for k, v in columns.items()}
    return None


def _looks_like_header(rows: list[list[str]], columns: dict[str, str]) -> bool:
    first = rows[0]
    if columns and _positional_mapping(columns) is None:
        present = {f.lower() for f in first}
        if any(v.lower() in present for v in columns.values()):
            return True
    if any(norm_name(f) in HEADER_ALIASES[schema.RATING] for f in first):
        return True
    non_numeric = [j for j, f in enumerate(first) if not _is_number(f)]
    if not non_numeric:
        return False
    if len(rows) < 2:
        return len(first) > 2 and not _is_number(first[2])
    second = rows[1]
    return any(j < len(second) and _is_number(second[j]) for j in non_numeric)


def _map_header(names: list[str], columns: dict[str, str]) -> tuple[dict[str, int], str | None]:
    """Find canonical columns in a header row; returns (positions, problem)."""
    lowered = [n.lower() for n in names]
    if columns and _positional_mapping(columns) is None:
        pos: dict[str, int] = {}
        for canon, wanted in columns.items():
            if wanted in names:
                pos[canon] = names.index(wanted)
            elif wanted.lower() in lowered:
                pos[canon] = lowered.index(wanted.lower())
            else:
                return {}, f"column {wanted!r} (for {canon}) is not in the header {names}"
        for canon in (schema.USER, schema.ITEM, schema.RATING):
            if canon not in pos:
                found = _find_alias(names, canon)
                if found is None:
                    return {}, f"no {canon} column in the header {names}; add it to data.columns"
                pos[canon] = found
        if schema.TIMESTAMP not in pos:
            ts = _find_alias(names, schema.TIMESTAMP)
            if ts is not None:
                pos[schema.TIMESTAMP] = ts
        return pos, None
    pos = {}
    for canon in schema.RATING_COLUMNS:
        found = _find_alias(names, canon)
        if found is not None:
            pos[canon] = found
    if all(c in pos for c in (schema.USER, schema.ITEM, schema.RATING)):
        return pos, None
    if len(names) in (3, 4):
        return dict(zip(schema.RATING_COLUMNS, range(len(names)))), None
    return {}, (
        f"the header {names} has no recognisable user, movie and rating columns; "
        "set data.columns (e.g. user_id=uid, movie_id=iid, rating=stars)"
    )


def _find_alias(names: list[str], canon: str) -> int | None:
    for j, n in enumerate(names):
        if n == canon or norm_name(n) in HEADER_ALIASES[canon]:
            return j
    return None


def id_kind(values: list[str]) -> str:
    vals = [v for v in values if v.lower() not in MISSING_MARKERS]
    if not vals:
        return "int"
    non_numeric = sum(not _is_number(v) for v in vals)
    return "str" if non_numeric * 2 > len(vals) else "int"


def evaluate_layout(
    sample: list[tuple[int, str]], sep: str, header: bool | None, columns: dict[str, str]
) -> TextLayout:
    """Work out field count, header and column positions of ``sample`` under one separator.

    The result's ``plausible`` counts sample data lines with the right number of fields,
    non-empty ids and a numeric rating; ``problems`` says why a layout cannot work.
    """
    rows = [split_fields(text, sep) for _, text in sample]
    layout = TextLayout(sep=sep, nfields=len(rows[0]), positions={}, names={})
    layout.quoted = any('"' in text for _, text in sample)
    is_header = header if header is not None else _looks_like_header(rows, columns)
    data = rows[1:] if is_header else rows
    if is_header:
        layout.header_line = sample[0][0]
        names = rows[0]
        layout.nfields = len(names)
        positions, problem = _map_header(names, columns)
        if problem:
            layout.problems.append(problem)
            return layout
        layout.names = {c: names[j] for c, j in positions.items()}
        layout.positional_header = not columns and any(
            _find_alias(names, c) is None for c in (schema.USER, schema.ITEM, schema.RATING)
        )
    else:
        counts = Counter(len(r) for r in data)
        layout.nfields = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        mapped = _positional_mapping(columns)
        if columns and mapped is None:
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
            if data and all(len(r) == width and r[-1] == "" for r in data):
                width -= 1  # a separator at the end of every line: ignore the empty last field
            if width == 5:
                layout.problems.append(f"found {_fields(width)} per line")
                return layout
            positions = dict(zip(schema.RATING_COLUMNS, range(width)))
        else:
            layout.problems.append(f"found {_fields(layout.nfields)} per line")
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
    good = [r for r in data if len(r) == k and r[pu] and r[pi] and _is_number(r[pr])]
    layout.plausible = len(good)
    layout.user_kind = id_kind([r[pu] for r in good])
    layout.item_kind = id_kind([r[pi] for r in good])
    if not data:
        layout.problems.append("no data lines after the header")
    return layout


def detect_layout(
    sample: list[tuple[int, str]],
    path: Path,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: dict[str, str] | None = None,
    int_ids: bool = False,
) -> TextLayout:
    """Choose separator, header and columns of a delimited ratings file from its first lines.

    Tries ``sep`` (internal form) or each of :data:`SEPARATORS` and keeps the one under
    which most sample lines look like ratings. ``int_ids`` forces integer id columns.

    Raises:
        DataError: "no ratings" for an empty or header-only file; otherwise one message
            naming the file, what was expected and the first lines (quoted, truncated).
    """
    if not sample:
        raise DataError("no ratings (the file is empty)", path=str(path))
    cols = dict(columns or {})
    candidates = [evaluate_layout(sample, s, header, cols) for s in ([sep] if sep else SEPARATORS)]
    usable = [c for c in candidates if not c.problems and c.plausible > 0]
    if usable:
        best = max(usable, key=lambda c: c.plausible)  # first wins ties: preference order
        if int_ids:
            best.user_kind = best.item_kind = "int"
        if best.positional_header:
            logger.warning(
                "%s: header %s not recognised; using the columns by position",
                path,
                list(best.names.values()),
            )
        logger.debug("detected layout: %s", best)
        return best
    if (
        any(c.problems == ["no data lines after the header"] for c in candidates)
        and len(sample) == 1
    ):
        raise DataError("no ratings (only a header line)", path=str(path))
    shown = ", ".join(f"line {ln}: {quote(text)}" for ln, text in sample[:3])
    first = sample[0][1].lstrip()[:1]
    if first == "<":
        hint = " (it looks like HTML or XML)"
    elif first in ("{", "["):
        hint = " (it looks like JSON)"
    else:
        mapping = [
            p
            for c in candidates
            if c.nfields >= 3
            for p in c.problems
            if " per line" not in p and not p.startswith("no data lines")
        ]
        if mapping:
            raise DataError(f"{mapping[0]}; first lines: {shown}", path=str(path))
        widest = max(c.nfields for c in candidates)
        hint = f" (found {_fields(widest)} per line)" if widest < 3 else ""
    where = (
        f"separated by {sep_label(sep)}" if sep else "separated by tab, comma, '::' or whitespace"
    )
    raise DataError(
        f"not a ratings file{hint}: expected 3 or 4 fields per line (user, movie, rating"
        f"[, timestamp]) {where}, optionally under a header; first lines: {shown}",
        path=str(path),
    )
