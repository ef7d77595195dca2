"""Top-N lists as files, and reading tables that are one file or a folder of part files.

The local engine writes ``recommendations.parquet`` and ``recommendations.csv`` as single
files; the Spark engine's executors write each as a folder of part files (Spark's layout:
``part-*.parquet`` / ``part-*.csv`` with a header each, plus ``_SUCCESS``), rows sorted by
user then rank across the parts in name order. :func:`read_table` reads either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.atomic import atomic_files
from movierec.errors import DataError, MovierecError
from movierec.schema import GENRES, ITEM, RANK, SCORE, TITLE, USER

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = [USER, RANK, ITEM, TITLE, GENRES, SCORE]
"""Columns of a recommendations file, in order."""


def decorate(
    recs: pd.DataFrame,
    movies: pd.DataFrame | None = None,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recommendations with original ids and, when ``movies`` is given, titles and genres.

    ``recs`` has USER, ITEM, SCORE, RANK in dense ids. Titles are joined on the dense movie
    id before ids are mapped back; a movie without a title gets an empty string.
    Columns: user_id, rank, movie_id, title, genres, score.
    """
    out = recs[[USER, RANK, ITEM, SCORE]].copy()
    if movies is not None:
        meta = movies[[ITEM, TITLE, GENRES]].drop_duplicates(ITEM)
        out = out.merge(meta, on=ITEM, how="left")
        out[TITLE] = out[TITLE].fillna("")
        out[GENRES] = out[GENRES].fillna("")
    else:
        out[TITLE] = ""
        out[GENRES] = ""
    if user_ids is not None:
        out[USER] = np.asarray(user_ids)[out[USER].to_numpy()]
    if item_ids is not None:
        out[ITEM] = np.asarray(item_ids)[out[ITEM].to_numpy()]
    return out.sort_values([USER, RANK], kind="stable").reset_index(drop=True)[OUTPUT_COLUMNS]


def save_recommendations(recs: pd.DataFrame, path: Path) -> list[Path]:
    """Write recommendations to ``path``: ``.parquet`` and/or ``.csv`` chosen by suffix.

    A path without either suffix gets both files (``path.parquet`` and ``path.csv``).
    Both files are written under temporary names first and then renamed, so readers never
    see a partial file. Returns the written paths.

    Raises:
        MovierecError: the folder is not writable.
    """
    targets = output_targets(Path(path))
    with atomic_files(*targets) as temps:
        for tmp, target in zip(temps, targets):
            if target.suffix == ".parquet":
                recs.to_parquet(tmp, index=False)
            else:
                recs.to_csv(tmp, index=False)
    return targets


def output_targets(path: Path) -> list[Path]:
    """Where lists for ``path`` go: ``path`` itself when it ends in ``.parquet`` or ``.csv``,
    else ``path.parquet`` and ``path.csv``."""
    if path.suffix in (".parquet", ".csv"):
        return [path]
    return [path.with_suffix(".parquet"), path.with_suffix(".csv")]


@contextlib.contextmanager
def replaced_atomically(target: Path) -> Iterator[Path]:
    """Yield where to write a file or folder standing for ``target``; put it in place after.

    Normally a temporary sibling (``.NAME.tmp-HEX``, not created) renamed to ``target`` on
    success, replacing an earlier file or folder of that name; removed on error. Inside the
    staging of a Hadoop output (see :func:`movierec.hadoopfs.spark_uri`) ``target`` itself:
    what Spark writes there goes straight to the remote temporary folder, published whole.

    Raises:
        MovierecError: the rename fails.
    """
    from movierec.hadoopfs import is_remote, spark_uri

    if is_remote(spark_uri(target)):
        yield target
        return
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        raise MovierecError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def part_files(folder: Path, suffix: str) -> list[Path]:
    """The data files of a Spark output folder, in name order (``_*`` and ``.*`` skipped)."""
    return sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file() and p.name.endswith(suffix) and not p.name.startswith(("_", "."))
    )


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet or CSV table (by suffix: ``.csv`` is CSV, anything else Parquet) that is
    one file or a folder of part files, read whole, parts in name order.

    For small tables and tests: it reads everything into this process.

    Raises:
        DataError: nothing at ``path``, or a folder without part files.
    """
    path = Path(path)
    csv = path.suffix == ".csv"
    if path.is_file():
        return pd.read_csv(path, usecols=columns) if csv else pd.read_parquet(path, columns=columns)
    if not path.is_dir():
        raise DataError("no such file or folder", path=str(path))
    parts = part_files(path, ".csv" if csv else ".parquet")
    if not parts:
        raise DataError("no part files in this folder", path=str(path))
    if csv:
        frames = [pd.read_csv(p, usecols=columns) for p in parts]
    else:
        frames = [pd.read_parquet(p, columns=columns) for p in parts]
    return pd.concat(frames, ignore_index=True)
