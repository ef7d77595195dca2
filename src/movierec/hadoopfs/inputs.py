"""Inputs on a Hadoop filesystem: copied into a private local staging folder, with errors about
the staged copy named by their remote URI."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from movierec.errors import DataError
from movierec.hadoopfs.fs import _join, _name_of, _parent_of, session
from movierec.hadoopfs.redirects import _redirect
from movierec.hadoopfs.temps import _staging_dir
from movierec.paths import is_remote, to_local

if TYPE_CHECKING:
    from movierec.config import SparkConfig

log = logging.getLogger(__name__)


_MOVIES_SIBLINGS = ("movies.csv", "movies.dat", "u.item")


@contextlib.contextmanager
def staged_input(uri: str, spark_cfg: SparkConfig | None = None) -> Iterator[Path]:
    """Copy the remote file or folder ``uri`` into a private local folder and yield its path.

    For a single file, the MovieLens movies file beside it (``movies.csv``, ``movies.dat``
    or ``u.item``), when there is one, is copied too, so a release folder's titles are found
    as they are locally. The copy is deleted afterwards.

    Raises:
        DataError: ``uri`` does not exist or cannot be read.
        ConfigError: no filesystem for the scheme, or a Spark Connect session.
    """
    fs = session(spark_cfg)
    if not fs.exists(uri):
        raise DataError("no such file or folder", path=uri)
    staging = _staging_dir("in")
    try:
        local = staging / _name_of(uri)
        log.info("copying %s to %s", uri, local)
        fs.download(uri, local)
        if local.is_file():
            for sibling in _MOVIES_SIBLINGS:
                remote = _join(_parent_of(uri), sibling)
                if sibling != local.name and fs.exists(remote):
                    fs.download(remote, staging / sibling)
        yield local
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_model(uri: str | Path, spark_cfg: SparkConfig | None = None) -> Iterator[Path]:
    """A local model folder for ``uri``: itself when local, else a staged copy whose Spark
    parts are read from the remote folder itself (see :func:`spark_uri`)."""
    if not is_remote(uri):
        yield to_local(uri)
        return
    with staged_input(str(uri), spark_cfg) as local, _redirect(local.parent, str(uri)):
        yield local


def remote_name(path: str, local: Path, uri: str) -> str | None:
    """The remote URI of ``path`` when it lies in the staging of ``uri`` (see
    :func:`staged_input`, which staged it at ``local``), else None."""
    try:
        parts = Path(path).relative_to(local.parent).parts
    except ValueError:
        return None
    if parts and parts[0] == local.name:
        return _join(uri, *parts[1:])
    return _join(_parent_of(uri), *parts)  # a sibling copied beside a single file (movies)


def relocate_error(exc: DataError, local: Path, uri: str) -> DataError:
    """``exc`` with a path inside the staging of ``uri`` named by its remote URI."""
    path = remote_name(exc.path, local, uri) if exc.path is not None else None
    if path is None:
        return exc
    return DataError(exc.reason, path=path, line=exc.line, column=exc.column)
