"""Write folders and files atomically: build under a temporary name, then rename into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from movierec.errors import MovierecError


@contextlib.contextmanager
def atomic_dir(target: Path, *, replace_if: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``target``; rename it to ``target`` on success.

    On any error the temporary folder is removed and ``target`` is untouched, so no
    half-written output is ever left behind. An existing ``target`` is replaced only when it
    contains the marker file ``replace_if`` (i.e. it is an earlier output of the same kind);
    otherwise an error is raised before anything is written.

    Raises:
        MovierecError: ``target`` exists and is not replaceable, or its parent is not writable.
    """
    target = Path(target)
    if target.exists() and not (replace_if and (target / replace_if).is_file()):
        raise MovierecError(
            f"{target} already exists and is not a movierec output; choose another folder"
        )
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as exc:
        raise MovierecError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        if target.exists():
            old = parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
