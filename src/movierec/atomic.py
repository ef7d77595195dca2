"""Write folders and files atomically: build under a temporary name, then rename into place."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from movierec.errors import MovierecError

log = logging.getLogger(__name__)

OWNER_FILE = ".movierec-owner"
"""Written into every temporary output folder: ``host pid`` of the process building it, so
a later run can tell a folder left by a killed process from one still being written."""


def pid_alive(pid: int) -> bool:
    """True when a process with id ``pid`` exists on this host (someone else's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temporary siblings of ``target`` left by killed runs; return what was removed.

    A folder ``.NAME.tmp-*`` is stale when its owner file names this host and a process id
    that no longer exists. Folders of live processes, of other hosts (a shared filesystem)
    or without an owner file are left alone.
    """
    removed = []
    host = socket.gethostname()
    for tmp in Path(target).parent.glob(f".{Path(target).name}.tmp-*"):
        try:
            owner_host, pid = (tmp / OWNER_FILE).read_text(encoding="utf-8").split()
            stale = owner_host == host and not pid_alive(int(pid))
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(tmp, ignore_errors=True)
            log.warning("removed %s, left behind by a killed run (process %s)", tmp, pid)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_dir(target: Path, *, replace_if: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``target``; rename it to ``target`` on success.

    On any error the temporary folder is removed and ``target`` is untouched, so no
    half-written output is ever left behind. A process killed outright (SIGKILL) cannot clean
    up; its hidden ``.NAME.tmp-*`` folder is removed by the next ``atomic_dir`` on ``target``
    (see :func:`remove_stale_temps`). An existing ``target`` is replaced only when it
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
        remove_stale_temps(target)
        tmp = parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}", encoding="utf-8")
    except OSError as exc:
        raise MovierecError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
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
