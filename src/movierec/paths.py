"""Local paths and Hadoop URIs told apart (standard library only: no Spark, no I/O).

A value with a URI scheme other than ``file`` (``hdfs://nn:8020/x``, ``s3a://bucket/x``,
Hadoop's one-slash ``hdfs:/x``) is *remote* and stays a string, because ``Path`` would
collapse its ``//``; everything else (a plain path, ``file:///x``, ``file:/x``) becomes a
local :class:`~pathlib.Path`. Reaching a remote path is :mod:`movierec.hadoopfs`'s job; this
module only classifies and converts, so the config layer can use it without importing
Spark or the Hadoop I/O code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from movierec.errors import ConfigError

SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):/")
"""A URI scheme: ``hdfs://nn/x``, ``s3a://b/x``, and Hadoop's one-slash ``hdfs:/x``
(group 1 is the scheme; a Windows drive letter ``C:/`` is too short to match)."""


def is_remote(path: str | os.PathLike[str] | None) -> bool:
    """True when ``path`` is a URI with a scheme other than ``file`` (hdfs://, s3a://, …).

    A :class:`Path` is local by construction, and so is None.
    """
    if path is None or isinstance(path, Path):
        return False
    m = SCHEME.match(os.fspath(path))
    return m is not None and m.group(1).lower() != "file"


def to_local(path: str | os.PathLike[str]) -> Path:
    """A plain path or a ``file://`` URI as a local :class:`Path` (``~`` expanded).

    Raises:
        ConfigError: ``path`` is a remote URI (see :func:`is_remote`), or a ``file://`` URI
            that names a host.
    """
    if is_remote(path):
        raise ConfigError(f"{path} is not a local path")
    text = os.fspath(path)
    if SCHEME.match(text):  # file:// or file:/
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{text}: file:// URIs name no host (use file:///path)")
        return Path(unquote(parts.path))
    return Path(text).expanduser()


def path_or_uri(value: Any) -> Any:
    """Pydantic/CLI coercion: remote URIs stay strings, everything else becomes a Path
    (None stays None).

    Raises:
        ConfigError: as :func:`to_local`.
    """
    if value is None or isinstance(value, Path):
        return value
    return os.fspath(value) if is_remote(value) else to_local(value)


def remote_or_none(path: Path | str) -> str | None:
    """``path`` as a string when it is a Hadoop URI, else None."""
    return str(path) if is_remote(path) else None
