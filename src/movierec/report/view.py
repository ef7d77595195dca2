"""The report's view model: tables, cells and figures as plain data for the templates.

Nothing here is HTML. Text is plain text (the templates escape it); the few kinds of markup a
cell may carry (bold, code, a star) are flags that ``templates/macros.html.j2`` turns into
tags. So a value read from a run folder can never become markup by mistake.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` (plain), optionally bold, as code, followed by ``after``
    (plain, not bold) and a ★ marker."""

    text: str
    strong: bool = False
    code: bool = False
    after: str = ""
    star: bool = False

    def bold(self) -> Cell:
        return Cell(self.text, True, self.code, self.after, self.star)


def cells(values: Iterable[str | Cell]) -> list[Cell]:
    """Plain strings as cells; cells as they are."""
    return [v if isinstance(v, Cell) else Cell(v) for v in values]


@dataclass
class Table:
    """A captioned table. The first cell of a row is a row header unless ``row_header`` is off;
    ``numeric`` right-aligns a column; ``cell_classes`` adds CSS classes per column;
    ``row_classes`` per row (e.g. "best")."""

    caption: str
    headers: list[str]
    rows: list[list[Cell]]
    numeric: list[bool] = field(default_factory=list)
    row_header: bool = True
    row_classes: list[str] = field(default_factory=list)
    cell_classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.headers)
        self.numeric = list(self.numeric) or [False] * n
        self.cell_classes = list(self.cell_classes) or [""] * n

    def th_class(self, j: int) -> str:
        return "num" if self.numeric[j] else ""

    def td_class(self, j: int) -> str:
        return " ".join(c for c in ("num" if self.numeric[j] else "", self.cell_classes[j]) if c)

    def row_class(self, i: int) -> str:
        return self.row_classes[i] if i < len(self.row_classes) else ""


def table(
    headers: Sequence[str],
    rows: Iterable[Iterable[str | Cell]],
    *,
    caption: str,
    numeric: Sequence[bool] = (),
    row_header: bool = True,
    row_classes: Sequence[str] = (),
    cell_classes: Sequence[str] = (),
) -> Table:
    """A :class:`Table` from plain strings or cells."""
    return Table(
        caption,
        list(headers),
        [cells(r) for r in rows],
        list(numeric),
        row_header,
        list(row_classes),
        list(cell_classes),
    )


@dataclass(frozen=True)
class Figure:
    """An embedded PNG: a data URI, its alt text, and a caption (``caption_code``: the caption
    is a file name, shown as code)."""

    src: str
    alt: str
    caption: str
    caption_code: bool = False


def figure(path: Path, alt: str, caption: str, caption_code: bool = False) -> Figure:
    """``path`` (a PNG) embedded as a base64 data URI."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Figure(f"data:image/png;base64,{data}", alt, caption, caption_code)


@dataclass(frozen=True)
class Missing:
    """A plot the page wanted that is not in the run folder (``name`` without ``.png``)."""

    name: str


class Plots:
    """The run folder's plots: looked up by name, remembering which ones a section used."""

    def __init__(self, plots_dir: Path) -> None:
        self.dir = plots_dir
        self.files = sorted(plots_dir.glob("*.png")) if plots_dir.is_dir() else []
        self.used: set[str] = set()

    def get(self, name: str, alt: str, caption: str) -> Figure | Missing:
        file = self.dir / f"{name}.png"
        if not file.is_file():
            return Missing(name)
        self.used.add(file.name)
        return figure(file, alt, caption)

    def take(self, path: Path, alt: str, caption: str) -> Figure:
        self.used.add(path.name)
        return figure(path, alt, caption)

    def rest(self) -> list[Figure]:
        """Every plot no section used, captioned with its file name."""
        return [
            figure(p, f"Plot {p.stem.replace('_', ' ')}", f"plots/{p.name}", caption_code=True)
            for p in self.files
            if p.name not in self.used
        ]
