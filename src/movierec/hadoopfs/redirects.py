"""Spark URIs for local staging paths: parts written by executors go straight to the remote
folder a staging folder stands for (:func:`spark_uri`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from movierec.hadoopfs.fs import _join, _local_uri

_redirect_lock = threading.Lock()
_redirects: dict[Path, str] = {}
"""Local staging roots → the remote folder their single entry stands for (see spark_uri)."""


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


def _atomic_name(part: str) -> str:
    from movierec.atomic import published_name

    return published_name(part)


@contextlib.contextmanager
def _redirect(root: Path, remote: str) -> Iterator[None]:
    with _redirect_lock:
        _redirects[root.resolve()] = remote
    try:
        yield
    finally:
        with _redirect_lock:
            _redirects.pop(root.resolve(), None)
