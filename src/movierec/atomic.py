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
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the previous output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_writable(target: Path, *, replace_if: str | None = None) -> None:
    """Check, before any long work, that ``target`` can be written later.

    The same checks as :func:`atomic_dir` makes when it starts (an existing ``target`` must
    hold the marker ``replace_if``; ``replace_if`` None skips that check, for files), plus a
    real write of a temporary file into the parent folder, which is created if missing.
    Nothing is left behind but that parent folder.

    Raises:
        MovierecError: ``target`` exists and is not replaceable, or its folder is not writable.
    """
    target = Path(target)
    if replace_if is not None and target.exists() and not (target / replace_if).is_file():
        raise MovierecError(
            f"{target} already exists and is not a movierec output; choose another folder"
        )
    parent = target.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise MovierecError(f"cannot write to {parent}: {blocking} is a file, not a folder")
    probe = parent / f".{target.name}.probe-{uuid.uuid4().hex[:8]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MovierecError(f"cannot write to {parent}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def atomic_files(*targets: Path) -> Iterator[list[Path]]:
    """Yield temporary sibling paths for ``targets``; rename them all into place on success.

    Readers never see a partial file, and on error no temporary file is left behind.

    Raises:
        MovierecError: a target's folder cannot be created or written.
    """
    paths = [Path(t) for t in targets]
    tag = uuid.uuid4().hex[:8]
    temps = [p.with_name(f".{p.name}.tmp-{tag}") for p in paths]
    try:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    except OSError as exc:
        raise MovierecError(f"cannot write {paths[0]}: {exc.strerror or exc}") from exc
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
