"""The one error hierarchy of movierec.

The CLI turns any :class:`MovierecError` into a one-line message and exit code 2;
anything else is a bug and exits with code 3 after logging the traceback.

Every message is ONE line of at most :data:`MAX_MESSAGE` characters: line breaks are
folded into spaces and an over-long message is cut with "...". Code that quotes input
(cells, lines, header names) in a message uses :func:`quote_cell` / :func:`quote_cells`,
which bound each quoted value and how many are shown, so the part that matters (what is
wrong, where) is not the part that gets cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_MESSAGE = 290
"""Longest error message, in characters (the CLI's ``error: `` prefix keeps it under 300)."""

MAX_CELL = 40
"""Longest quoted value in a message (before the ``...`` mark)."""

MAX_PATH = 120
"""Longest path in a :class:`DataError` location (longer ones keep their start and end)."""

_BREAKS = re.compile(r"\s*[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+\s*")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (line breaks folded into one space), at most ``limit`` characters.

    A longer text keeps its first ``limit - 3`` characters followed by ``...``.
    """
    flat = _BREAKS.sub(" ", str(text))
    return flat if len(flat) <= limit else flat[: max(limit - 3, 0)] + "..."


def shorten_middle(text: str, limit: int = MAX_PATH) -> str:
    """``text`` cut in the middle (``...``) to at most ``limit`` characters; for paths."""
    if len(text) <= limit:
        return text
    head = (limit - 3) // 2
    return text[:head] + "..." + text[len(text) - (limit - 3 - head) :]


def quote_cell(text: object, limit: int = MAX_CELL) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters (``'abc...'`` marks a cut): one line,
    with control characters escaped, for quoting input in a message."""
    s = str(text)
    return repr(s if len(s) <= limit else s[:limit] + "...")


def quote_cells(cells: Iterable[object], *, most: int = 4, limit: int = MAX_CELL) -> str:
    """At most ``most`` values as a bracketed list of :func:`quote_cell` quotes, with
    ``+N more`` when there are more: ``['userId', 'movieId', 'stars', +2 more]``."""
    items = list(cells)
    shown = [quote_cell(c, limit) for c in items[:most]]
    if len(items) > most:
        shown.append(f"+{len(items) - most} more")
    return "[" + ", ".join(shown) + "]"


def join_within(parts: Iterable[str], budget: int, sep: str = "; ") -> str:
    """Join as many of ``parts`` as fit in ``budget`` characters, adding ``(+N more)`` for the
    ones left out; the first part is always shown (cut to the budget if need be)."""
    items = list(parts)
    if not items:
        return ""
    out = items[0]
    for n in range(1, len(items)):
        left = len(items) - n - 1
        tail = f" (+{left} more)" if left else ""
        candidate = out + sep + items[n]
        if len(candidate) + len(tail) > budget:
            return one_line(out, budget) + f" (+{len(items) - n} more)"
        out = candidate
    return one_line(out, budget)


class MovierecError(Exception):
    """Base class for every error movierec raises on purpose.

    The message (the first argument) is made one line of at most :data:`MAX_MESSAGE`
    characters (see :func:`one_line`).
    """

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (one_line(args[0]), *args[1:])
        super().__init__(*args)


class ConfigError(MovierecError):
    """A configuration value or combination of options is invalid."""


class DataError(MovierecError):
    """Input data is missing, malformed, or cannot be used.

    ``path``, ``line`` (1-based) and ``column`` locate the problem when known; they are
    included in the message (a very long path is shortened in the middle). ``reason`` keeps
    the message without the location.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = message
        self.path = path
        self.line = line
        self.column = column
        where = []
        if path is not None:
            where.append(shorten_middle(str(path)))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {quote_cell(column)}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class DatasetError(MovierecError):
    """A named dataset is unknown, or its download or checksum failed."""


class ModelError(MovierecError):
    """A model directory is missing, incomplete, or from an incompatible version."""


class EngineError(MovierecError):
    """The compute engine (e.g. Spark) could not start or failed."""
