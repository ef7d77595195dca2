"""The driver's Hadoop ``FileSystem`` API as :class:`HadoopFS`, and URI string helpers.

:func:`session` reaches it through the process-wide Spark session (building one from the
Spark settings if there is none yet).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from movierec.errors import ConfigError, MovierecError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from movierec.config import SparkConfig

log = logging.getLogger(__name__)


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
