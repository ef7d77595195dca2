"""Where the ratings are: a file or MovieLens folder resolved to one ratings source, its
layout and its movies file, and each MovieLens layout's rating scale."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from movierec.data.textio import read_head
from movierec.errors import DataError

ML_FILES: tuple[tuple[str, str, str], ...] = (
    ("u.data", "ml-100k", "u.item"),
    ("ratings.dat", "ml-dat", "movies.dat"),
    ("ratings.csv", "ml-csv", "movies.csv"),
)
"""(ratings file, layout, movies file) of the MovieLens releases, in lookup order."""

LAYOUT_SEP = {"ml-100k": "\t", "ml-dat": "::", "ml-csv": ","}
INT_ID_LAYOUTS = ("ml-100k", "ml-dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Source:
    """A located ratings source: file, layout and (for MovieLens layouts) its movies file."""

    ratings: Path
    layout: str
    movies: Path | None = None
    explicit: bool = False


def _sibling(folder: Path, name: str) -> Path | None:
    p = folder / name
    return p if p.is_file() else None


def resolve_source(path: Path, fmt: str = "auto") -> Source:
    """Find the ratings file and its layout for ``path`` (a file or a folder) and ``fmt``.

    Folders are searched for ``u.data``, ``ratings.dat``, ``ratings.csv`` and ``*.parquet``
    (also one level down when the folder holds a single sub-folder).

    Raises:
        DataError: the path does not exist or the folder holds no ratings file.
    """
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    explicit = fmt != "auto"
    if path.is_dir():
        if fmt == "parquet":
            return Source(path, "parquet", explicit=True)
        for fname, layout, movies in ML_FILES:
            if fmt in ("auto", "delimited", layout) and (path / fname).is_file():
                used = "delimited" if fmt == "delimited" else layout
                return Source(path / fname, used, _sibling(path, movies), explicit)
        if fmt == "auto" and any(path.glob("*.parquet")):
            return Source(path, "parquet")
        subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subdirs) == 1:
            try:
                return resolve_source(subdirs[0], fmt)
            except DataError:
                pass
        wanted = "u.data, ratings.dat, ratings.csv or *.parquet"
        raise DataError(f"no ratings file in this folder (looked for {wanted})", path=str(path))
    if fmt == "parquet":
        return Source(path, "parquet", explicit=True)
    if fmt == "auto":
        head = read_head(path, 4)[0]
        if head.startswith(b"PAR1") or path.suffix.lower() in _PARQUET_SUFFIXES:
            return Source(path, "parquet")
        for fname, layout, movies in ML_FILES:
            if path.name == fname:
                return Source(path, layout, _sibling(path.parent, movies))
        return Source(path, "delimited")
    movies_name = {layout: movies for _, layout, movies in ML_FILES}.get(fmt)
    movies_path = _sibling(path.parent, movies_name) if movies_name else None
    return Source(path, fmt, movies_path, True)


def default_scale(layout: str, ratings_path: Path) -> tuple[float, float]:
    """MovieLens rating scale of a layout: 1-5 for ml-100k and ml-1m, else 0.5-5.

    ``ratings.dat`` of ml-10m (folder ``ml-10M100K``) has half stars, so the ml-dat layout
    is 0.5-5 when the folder name mentions 10m.
    """
    if layout == "ml-100k":
        return 1.0, 5.0
    if layout == "ml-dat" and "10m" not in ratings_path.parent.name.lower():
        return 1.0, 5.0
    return 0.5, 5.0
