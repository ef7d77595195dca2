"""Movie metadata readers: MovieLens ``u.item``, ``movies.dat`` and ``movies.csv``.

The file is decoded as a whole: in ``data.encoding`` when set, else UTF-8 when valid, else
cp1252 or Latin-1 (:func:`movierec.data.textio.decode_all`), so a Latin-1 file keeps its
accented titles; LF, CRLF and lone CR all end a line.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from movierec import schema
from movierec.data.textio import check_not_binary, decode_all
from movierec.data.validate import OK, as_text, parse_ids
from movierec.errors import DataError, one_line, quote_cells

logger = logging.getLogger(__name__)

ML100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
"""The 19 genre flags of ml-100k's ``u.item``, in column order (from ``u.genre``)."""

MOVIES_FORMATS = ("ml-100k", "ml-dat", "ml-csv")
_ID_NAMES = ("movieid", "movie_id", "itemid", "item_id", "id", "movie", "item")
_TITLE_NAMES = ("title", "name", "movie_title")
_GENRE_NAMES = ("genres", "genre")


def movies_format(path: Path) -> str:
    """Guess the movies layout from the file name: ``u.item``, ``*.dat`` or CSV."""
    if path.name == "u.item":
        return "ml-100k"
    if path.suffix.lower() == ".dat":
        return "ml-dat"
    return "ml-csv"


def _read_lines(text: str) -> list[tuple[int, str]]:
    return [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]


def _parse_100k(path: Path, text: str) -> pd.DataFrame:
    rows = []
    bad = 0
    n_flags = len(ML100K_GENRES)
    for _, line in _read_lines(text):
        parts = line.split("|")
        if len(parts) < 5 + n_flags:
            bad += 1
            continue
        flags = parts[-n_flags:]
        genres = "|".join(g for g, f in zip(ML100K_GENRES, flags) if f.strip() == "1")
        title = "|".join(parts[1 : len(parts) - n_flags - 3])
        rows.append((parts[0], title, genres))
    if bad:
        logger.warning("%s: skipped %d malformed movie lines", path, bad)
    return pd.DataFrame(rows, columns=["id", schema.TITLE, schema.GENRES], dtype=object)


def _parse_dat(path: Path, text: str) -> pd.DataFrame:
    rows = []
    bad = 0
    for _, line in _read_lines(text):
        parts = line.split("::")
        if len(parts) < 3:
            bad += 1
            continue
        rows.append((parts[0], "::".join(parts[1:-1]), parts[-1]))
    if bad:
        logger.warning("%s: skipped %d malformed movie lines", path, bad)
    return pd.DataFrame(rows, columns=["id", schema.TITLE, schema.GENRES], dtype=object)


def _pick(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {n.strip().lower(): n for n in names}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return None


def _parse_csv(path: Path, text: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"cannot read the movies file: {one_line(str(exc), 160)}", path=str(path)
        ) from exc
    names = [str(c) for c in df.columns]
    id_col, title_col = _pick(names, _ID_NAMES), _pick(names, _TITLE_NAMES)
    if id_col is None or title_col is None:
        raise DataError(
            f"the movies file needs a movie id and a title column; header is {quote_cells(names)}",
            path=str(path),
        )
    genre_col = _pick(names, _GENRE_NAMES)
    genres = df[genre_col] if genre_col is not None else pd.Series([""] * len(df), dtype=object)
    return pd.DataFrame(
        {
            "id": df[id_col].to_numpy(object),
            schema.TITLE: df[title_col].to_numpy(object),
            schema.GENRES: genres.to_numpy(object),
        }
    )


def load_movies(
    path: str | Path,
    fmt: str | None = None,
    item_ids: np.ndarray | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a movies file into ITEM (int32), TITLE and GENRES columns (see :mod:`movierec.schema`).

    ``fmt`` is "ml-100k" (``u.item``: pipe-separated, 19 genre flags), "ml-dat"
    (``movies.dat``: ``id::title::genres``) or "ml-csv" (CSV with a header holding a movie id,
    a title and optionally a genres column); None guesses from the file name. ``item_ids``
    (the originals of remapped rating ids) maps movie ids to the same dense ids; movies the
    ratings never mention are then dropped. Without it, ids must be integers that fit int32.
    Rows with a bad id and repeated ids (after the first) are skipped with a warning.
    ``encoding`` None detects it (see the module docstring).

    Raises:
        DataError: the file is missing, binary, not valid text in ``encoding``, has no
            id/title columns, or holds no movies.
    """
    return load_movies_with_encoding(path, fmt, item_ids, encoding)[0]


def load_movies_with_encoding(
    path: str | Path,
    fmt: str | None = None,
    item_ids: np.ndarray | None = None,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """:func:`load_movies`, plus the encoding the file was decoded with."""
    p = Path(path)
    if not p.is_file():
        raise DataError("movies file not found", path=str(p))
    fmt = fmt or movies_format(p)
    if fmt not in MOVIES_FORMATS:
        raise DataError(f"unknown movies format {fmt!r}; use one of {', '.join(MOVIES_FORMATS)}")
    check_not_binary(p, "movies")
    text, enc = decode_all(p.read_bytes(), p, encoding or None)
    raw = {"ml-100k": _parse_100k, "ml-dat": _parse_dat, "ml-csv": _parse_csv}[fmt](p, text)
    if raw.empty:
        raise DataError("no movies in the movies file", path=str(p))
    if item_ids is not None and item_ids.dtype == object:
        keys = as_text(raw["id"])
        codes = pd.Index(item_ids).get_indexer(pd.Index(keys.to_numpy(object)))
        ok = codes >= 0
        dense = codes
    else:
        parsed = parse_ids(raw["id"], "int")
        ok = parsed.status == OK
        if parsed.text is not None:
            ok &= np.array([t is None for t in parsed.text], dtype=bool)
        if item_ids is not None:
            dense = pd.Index(item_ids).get_indexer(pd.Index(parsed.ints))
            ok &= dense >= 0
        else:
            dense = parsed.ints
            ok &= (dense >= -(2**31)) & (dense <= 2**31 - 1)
    dropped = int((~ok).sum())
    if dropped:
        why = "not rated or not mapped" if item_ids is not None else "bad or out-of-range id"
        logger.warning("%s: skipped %d movies (%s)", p, dropped, why)
    out = pd.DataFrame(
        {
            schema.ITEM: np.asarray(dense)[ok].astype(np.int32),
            schema.TITLE: raw[schema.TITLE].to_numpy(object)[ok],
            schema.GENRES: raw[schema.GENRES].to_numpy(object)[ok],
        }
    )
    dup = out[schema.ITEM].duplicated(keep="first")
    if dup.any():
        logger.warning("%s: skipped %d repeated movie ids", p, int(dup.sum()))
        out = out[~dup.to_numpy()]
    out[schema.TITLE] = out[schema.TITLE].astype(str).str.strip()
    out[schema.GENRES] = out[schema.GENRES].astype(str).str.strip()
    logger.debug("%s: %d movies, decoded as %s", p, len(out), enc)
    return out.reset_index(drop=True), enc
