"""Outputs on a Hadoop filesystem: built in local staging, uploaded to a hidden temporary
folder beside the target and renamed into place (the target appears whole or not at all)."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from movierec.errors import MovierecError
from movierec.hadoopfs.fs import HadoopFS, _join, _name_of, _parent_of, session
from movierec.hadoopfs.redirects import _redirect
from movierec.hadoopfs.temps import (
    _OLD_MARK,
    _staging_dir,
    _temp_name,
    remove_stale_remote_temps,
)
from movierec.paths import is_remote, to_local

if TYPE_CHECKING:
    from movierec.config import SparkConfig

log = logging.getLogger(__name__)


def _check_target(fs: HadoopFS, target: str, replace_if: str | None) -> None:
    """Refuse an existing ``target`` that is not an earlier movierec output (no ``replace_if``
    marker in it), and create its parent folder."""
    if fs.exists(target) and not (replace_if and fs.exists(_join(target, replace_if))):
        raise MovierecError(f"{target} already exists and is not a movierec output; choose another")
    fs.mkdirs(_parent_of(target))


@contextlib.contextmanager
def remote_output(
    target: str, *, replace_if: str | None, spark_cfg: SparkConfig | None = None
) -> Iterator[Path]:
    """Yield a local path standing for the remote output ``target``; publish it on success.

    Before yielding: the target is checked (an existing target must hold the marker
    ``replace_if``, else it is refused), stale temporaries of killed runs are removed and the
    hidden remote temporary folder is created (a real write: an unwritable location fails
    here, before any work). The caller writes a file or folder at the yielded local path
    (it does not exist yet). On success it is uploaded into the remote temporary folder and
    renamed to ``target`` (an earlier output is moved aside first and deleted after). On
    error the remote temporary folder and the local staging are deleted; ``target`` is
    untouched.

    Raises:
        ConfigError: no filesystem for the scheme, or a Spark Connect session.
        MovierecError: ``target`` exists and is not a movierec output, or is not writable.
    """
    fs = session(spark_cfg)
    name = _name_of(target)
    parent = _parent_of(target)
    _check_target(fs, target, replace_if)
    remove_stale_remote_temps(fs, target)
    remote_tmp = _join(parent, _temp_name(name))
    staging = _staging_dir("out")
    local = staging / name
    published = False
    try:
        fs.mkdirs(remote_tmp)
        with _redirect(staging, remote_tmp):
            yield local
        if not local.exists():
            raise MovierecError(f"nothing was written for {target}")
        log.info("uploading %s to %s", local, target)
        if local.is_dir():
            fs.upload(local, remote_tmp)
            source = remote_tmp
        else:  # a single file: upload into the temp folder, then move it out
            fs.upload(local, _join(remote_tmp, name))
            source = _join(remote_tmp, name)
        old = None
        if fs.exists(target):
            old = _join(parent, _temp_name(name, _OLD_MARK))
            fs.rename(target, old)
        try:
            fs.rename(source, target)
        except BaseException:
            if old is not None and not fs.exists(target):
                try:
                    fs.rename(old, target)  # put the previous output back
                except MovierecError as exc:
                    log.error("the previous %s is at %s (%s)", target, old, exc)
            raise
        nested = _join(target, source.rsplit("/", 1)[-1])
        if fs.exists(nested):
            # Hadoop's rename moves into an existing folder: another run published `target`
            # between our check and our rename. Leave theirs; ours goes back to the temp name.
            fs.rename(nested, source)
            raise MovierecError(
                f"{target} was written by another run at the same time; this run's output is "
                f"not published"
            )
        published = True
        if old is not None:
            fs.delete(old)
        if source != remote_tmp:
            fs.delete(remote_tmp)
        log.info("output written to %s", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not published:
            try:
                fs.delete(remote_tmp)
            except MovierecError as exc:  # the error in flight matters more; say what is left
                log.warning("could not remove the temporary folder %s: %s", remote_tmp, exc)


@contextlib.contextmanager
def output_path(
    target: str | Path, *, replace_if: str | None, spark_cfg: SparkConfig | None = None
) -> Iterator[Path]:
    """A local path for ``target``: itself when local, else :func:`remote_output`'s staging."""
    if is_remote(target):
        with remote_output(str(target), replace_if=replace_if, spark_cfg=spark_cfg) as local:
            yield local
    else:
        yield to_local(target)


@contextlib.contextmanager
def atomic_output(
    target: str | Path, *, replace_if: str | None, spark_cfg: SparkConfig | None = None
) -> Iterator[Path]:
    """:func:`movierec.atomic.atomic_dir` for a local or remote folder ``target``: yield an
    empty temporary folder; on success it becomes ``target`` (uploaded when remote)."""
    from movierec.atomic import atomic_dir

    with (
        output_path(target, replace_if=replace_if, spark_cfg=spark_cfg) as local,
        atomic_dir(local, replace_if=replace_if) as tmp,
    ):
        yield tmp


def check_output(
    target: str | Path, *, replace_if: str | None, spark_cfg: SparkConfig | None = None
) -> None:
    """Before long work, check that ``target`` (local or remote) can be written later.

    Raises:
        MovierecError: it exists and is not replaceable, or its folder is not writable.
    """
    if not is_remote(target):
        from movierec.atomic import check_writable

        check_writable(to_local(target), replace_if=replace_if)
        return
    fs = session(spark_cfg)
    uri = str(target)
    _check_target(fs, uri, replace_if)
    probe = _join(_parent_of(uri), _temp_name(_name_of(uri), ".probe-"))
    fs.touch(probe)
    fs.delete(probe)
