"""Inputs and outputs on any Hadoop-compatible filesystem (HDFS, S3A, ABFS, GCS, ViewFs …).

A path with a URI scheme other than ``file`` (``hdfs://nn:8020/lake/ratings.csv``,
``s3a://bucket/runs/2026-11``) is reached through the Hadoop ``FileSystem`` API of the
running Spark driver, so every filesystem the cluster is configured for works, with the
cluster's own credentials and connectors. movierec itself reads and writes local folders:

* **inputs** (``--data``, ``--movies``, ``--model``) are copied into a private local
  staging folder first and read from there, so validation still names the line and column
  (the messages name the original URI) and the rejects file is complete;
* **outputs** (``--out``) are built in a local staging folder exactly as a local output
  would be, then uploaded to a hidden temporary folder next to the target
  (``.NAME.tmp-HEX-PID-HOST``) and renamed into place. The target appears whole or not at
  all; an earlier movierec output there is replaced, anything else is refused before any
  work. A run killed during the upload leaves only the hidden folder, which the next
  output to the same target removes (same host, process gone). On HDFS the final rename
  is atomic; on object stores (S3A) a rename is a copy, so readers should wait for it.

The parts of a Spark model that executors write (``engine/als``, the bias tables) go
straight to the remote temporary folder (:func:`spark_uri`), so a model saved from a
multi-node cluster is complete without a shared local filesystem.

``file://`` URIs and plain paths are local and bypass all of this. Spark Connect sessions
have no client-side access to the driver's Hadoop filesystem; URIs there are refused with
a clear error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from movierec.errors import ConfigError, DataError, MovierecError
from movierec.paths import is_remote, to_local
from movierec.paths import path_or_uri as path_or_uri  # re-exported for compatibility

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from movierec.config import SparkConfig

log = logging.getLogger(__name__)

_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"

_redirect_lock = threading.Lock()
_redirects: dict[Path, str] = {}
"""Local staging roots → the remote folder their single entry stands for (see spark_uri)."""


def _local_uri(path: Path) -> str:
    """A local path as a ``file:`` URI for Hadoop's ``Path(String)``, which does its own
    quoting: ``Path.as_uri()`` would percent-encode ``=``, spaces, ``+`` …, and Hadoop would
    take ``%3D`` literally (a file ``date%3D2026`` instead of ``date=2026``)."""
    return "file://" + str(Path(path).resolve())


def _name_of(uri: str) -> str:
    path = urlsplit(uri).path.rstrip("/")
    if not path:
        raise ConfigError(f"{uri}: name a file or folder, not the filesystem root")
    return path.rsplit("/", 1)[-1]


def _parent_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[0]


def _join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *[p.strip("/") for p in parts if p]])


def _java_message(exc: BaseException) -> str:
    """The first line of a Java exception's message (no stack trace)."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("at ") and "An error occurred while calling" not in line:
            return line.removeprefix(": ")[:400]
    return type(exc).__name__


class HadoopFS:
    """The driver's Hadoop ``FileSystem`` API, reached through the Spark session's JVM.

    Every method takes full URIs. Java failures become :class:`MovierecError` with the Java
    message (a missing connector is named, with the setting that adds it).

    Raises:
        ConfigError: the session is a Spark Connect session (no JVM on this side).
    """

    def __init__(self, spark: SparkSession) -> None:
        try:
            sc = spark.sparkContext
            self._jvm = sc._jvm
            self._conf = sc._jsc.hadoopConfiguration()
        except Exception as exc:  # Spark Connect: no SparkContext on the client
            raise ConfigError(
                "Hadoop paths (hdfs://, s3a://, …) need a classic Spark session: with "
                "--remote (Spark Connect) the client cannot reach the cluster's filesystem; "
                "copy the data locally, or run movierec on the cluster with --master"
            ) from exc
        if self._jvm is None:
            raise ConfigError("the Spark session has no JVM gateway (is it stopped?)")

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)  # type: ignore[union-attr]

    def _fs(self, uri: str) -> Any:
        try:
            return self._path(uri).getFileSystem(self._conf)
        except Exception as exc:
            msg = _java_message(exc)
            scheme = uri.split(":", 1)[0]
            if "ClassNotFoundException" in msg or "No FileSystem for scheme" in msg:
                raise ConfigError(
                    f"{uri}: Spark has no Hadoop filesystem for '{scheme}://' ({msg}); add its "
                    "connector, e.g. --conf spark.jars.packages=org.apache.hadoop:hadoop-aws:"
                    "<Spark's Hadoop version> for s3a://"
                ) from exc
            raise MovierecError(f"{uri}: {msg}") from exc

    def _call(self, uri: str, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except MovierecError:
            raise
        except Exception as exc:
            raise MovierecError(f"cannot {what} {uri}: {_java_message(exc)}") from exc

    def exists(self, uri: str) -> bool:
        return bool(self._call(uri, "check", self._fs(uri).exists, self._path(uri)))

    def is_dir(self, uri: str) -> bool:
        fs = self._fs(uri)
        p = self._path(uri)
        return bool(
            self._call(uri, "check", lambda: fs.exists(p) and fs.getFileStatus(p).isDirectory())
        )

    def list(self, uri: str) -> list[str]:
        """Names of the entries of folder ``uri``."""
        statuses = self._call(uri, "list", self._fs(uri).listStatus, self._path(uri))
        return [str(s.getPath().getName()) for s in statuses]

    def mkdirs(self, uri: str) -> None:
        if not self._call(uri, "create", self._fs(uri).mkdirs, self._path(uri)):
            raise MovierecError(f"cannot create {uri}")

    def delete(self, uri: str) -> None:
        """Delete ``uri`` (recursively); a missing path is fine."""
        self._call(uri, "delete", self._fs(uri).delete, self._path(uri), True)

    def rename(self, src: str, dst: str) -> None:
        if not self._call(src, "rename", self._fs(src).rename, self._path(src), self._path(dst)):
            raise MovierecError(f"cannot rename {src} to {dst}")

    def touch(self, uri: str) -> None:
        """Create the empty file ``uri`` (a real write: proves the folder is writable)."""
        fs = self._fs(uri)
        self._call(uri, "write", lambda: fs.create(self._path(uri), True).close())

    def download(self, uri: str, local: Path) -> None:
        """Copy file or folder ``uri`` to the local path ``local`` (which must not exist)."""
        dst = self._path(_local_uri(local))
        self._call(uri, "read", self._fs(uri).copyToLocalFile, False, self._path(uri), dst, True)

    def upload(self, local: Path, uri: str) -> None:
        """Copy the local file or folder tree ``local`` into ``uri``, merging with what is
        already there (files of the same name are overwritten)."""
        local = Path(local)
        fs = self._fs(uri)
        if local.is_file():
            src = self._path(_local_uri(local))
            self._call(uri, "write", fs.copyFromLocalFile, False, True, src, self._path(uri))
            return
        self.mkdirs(uri)
        for root, dirs, files in os.walk(local):
            rel = Path(root).relative_to(local).as_posix()
            base = uri if rel == "." else _join(uri, rel)
            for d in dirs:
                self.mkdirs(_join(base, d))
            for f in files:
                src = self._path(_local_uri(Path(root) / f))
                dst = self._path(_join(base, f))
                self._call(dst.toString(), "write", fs.copyFromLocalFile, False, True, src, dst)


def session(spark_cfg: SparkConfig | None = None) -> HadoopFS:
    """The Hadoop filesystem of the process-wide Spark session (built from ``spark_cfg`` if
    there is none yet: reaching hdfs:// or s3a:// needs a JVM, even for the local engine)."""
    from movierec.spark import get_spark

    log.info("reaching a Hadoop filesystem through Spark")
    return HadoopFS(get_spark(spark_cfg))


def spark_uri(path: Path) -> str:
    """The URI Spark should read or write for the local path ``path``.

    Normally ``path`` as a ``file://`` URI (so a cluster never resolves it against its
    default filesystem). Inside a staging folder of a remote output or input (see
    :func:`remote_output`, :func:`staged_model`) it is the corresponding remote URI, so
    executors write model parts straight to the remote folder.
    """
    p = Path(path).resolve()
    with _redirect_lock:
        items = list(_redirects.items())
    for root, remote in items:
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        if rel.parts:
            # atomic_dir builds NAME as .NAME.tmp-HEX and renames it at the end: remote
            # parts go straight to NAME. The top entry is the output itself.
            parts = [_atomic_name(part) for part in rel.parts[1:]]
            return _join(remote, *parts)
    return _local_uri(p)


_ATOMIC_TEMP = re.compile(r"^\.(.+)\.tmp-[0-9a-f]{8}$")


def _atomic_name(part: str) -> str:
    m = _ATOMIC_TEMP.match(part)
    return m.group(1) if m else part


@contextlib.contextmanager
def _redirect(root: Path, remote: str) -> Iterator[None]:
    with _redirect_lock:
        _redirects[root.resolve()] = remote
    try:
        yield
    finally:
        with _redirect_lock:
            _redirects.pop(root.resolve(), None)


def _host() -> str:
    """This host's name as it appears in temporary folder names."""
    return re.sub(r"[^A-Za-z0-9.\-]", "_", socket.gethostname())


def _temp_name(name: str, mark: str = _TMP_MARK) -> str:
    return f".{name}{mark}{uuid.uuid4().hex[:8]}-{os.getpid()}-{_host()}"


def _check_target(fs: HadoopFS, target: str, replace_if: str | None) -> None:
    """Refuse an existing ``target`` that is not an earlier movierec output (no ``replace_if``
    marker in it), and create its parent folder."""
    if fs.exists(target) and not (replace_if and fs.exists(_join(target, replace_if))):
        raise MovierecError(f"{target} already exists and is not a movierec output; choose another")
    fs.mkdirs(_parent_of(target))


def remove_stale_remote_temps(fs: HadoopFS, target: str) -> list[str]:
    """Delete hidden temporary siblings of ``target`` left by killed runs on this host."""
    from movierec.atomic import pid_alive

    parent, name = _parent_of(target), _name_of(target)
    host = _host()
    removed: list[str] = []
    if not fs.is_dir(parent):
        return removed
    for entry in sorted(fs.list(parent)):
        mark = next((m for m in (_TMP_MARK, _OLD_MARK) if entry.startswith(f".{name}{m}")), None)
        if mark is None:
            continue
        try:
            _, pid, owner = entry[len(f".{name}{mark}") :].split("-", 2)
            stale = owner == host and not pid_alive(int(pid))
        except ValueError:
            continue
        if not stale:
            continue
        path = _join(parent, entry)
        if mark == _OLD_MARK and not fs.exists(target):
            # killed between moving the previous output aside and publishing the new one
            fs.rename(path, target)
            log.warning("restored %s from %s, left aside by a killed run", target, entry)
            continue
        fs.delete(path)
        log.warning("removed %s, left behind by a killed run (process %s)", entry, pid)
        removed.append(path)
    return removed


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
    staging = Path(tempfile.mkdtemp(prefix="movierec-out-"))
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
    probe = _join(_parent_of(uri), f".{_name_of(uri)}.probe-{uuid.uuid4().hex[:8]}")
    fs.touch(probe)
    fs.delete(probe)


# ------------------------------------------------------------------------------ inputs

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
    staging = Path(tempfile.mkdtemp(prefix="movierec-in-"))
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
