"""Write folders and files atomically: build under a temporary name, then rename into place.

**Temporary names.** Every temporary entry movierec makes beside an output is named
``.NAME.KIND-HEX-PID-HOST`` (:func:`temp_name`): ``tmp`` for an output being built (a file
or a folder), ``old`` for a previous output moved aside (fallback below), ``probe`` for a
writability probe. The name says whose it is, so a later run can recognise what a killed
run left: :func:`remove_stale_temps` deletes every such entry in the output's folder whose
host is this host and whose process is gone (files and folders, whatever NAME); entries of
live processes, of other hosts (a shared filesystem) or with other names are left alone.
Every :func:`atomic_dir`, :func:`atomic_files` and :func:`check_writable` calls it first.

**Replacing a folder without a gap.** On Linux the new folder and the previous output are
swapped in one step with ``renameat2(RENAME_EXCHANGE)`` (through ctypes; Linux 3.15+, glibc
2.28+, and most local filesystems: ext4, xfs, btrfs, tmpfs); the previous output is then
under the temporary name and is deleted. A reader, or a kill at any moment, sees the
previous output whole or the new one whole, never neither. Where the exchange is not
available (another OS, an older kernel or C library, a filesystem that refuses it, e.g.
some network filesystems) the fallback is two renames: the previous output is moved aside
to ``.NAME.old-...`` and the new folder renamed into place. Between the two renames ``NAME``
is briefly absent; a run killed there leaves the previous output whole under the ``old``
name, and the next run puts it back before anything else. Files are replaced by one
``os.replace``, which is atomic everywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from movierec.errors import MovierecError

log = logging.getLogger(__name__)

OWNER_FILE = ".movierec-owner"
"""Owner file (``host pid``) in temporary folders of movierec versions before the names said
whose they are; such folders are still cleaned up (see :func:`remove_stale_temps`)."""

TEMP_KINDS = ("tmp", "old", "probe")
TEMP_NAME = re.compile(
    r"^\.(?P<name>.+)\.(?P<kind>tmp|old|probe)-(?P<tag>[0-9a-f]{8})-(?P<pid>\d+)-(?P<host>.+)$"
)
"""A temporary entry made by :func:`temp_name`."""
_LEGACY_TMP = re.compile(r"^\.(?P<name>.+)\.tmp-[0-9a-f]{8}$")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def host_tag() -> str:
    """This host's name as it appears in temporary names (``-`` and letters kept)."""
    return re.sub(r"[^A-Za-z0-9.\-]", "_", socket.gethostname())


def temp_name(name: str, kind: str = "tmp") -> str:
    """A fresh hidden temporary name for ``name``: ``.NAME.KIND-HEX-PID-HOST``."""
    if kind not in TEMP_KINDS:
        raise ValueError(f"unknown temporary kind {kind!r}")
    return f".{name}.{kind}-{uuid.uuid4().hex[:8]}-{os.getpid()}-{host_tag()}"


def published_name(part: str) -> str:
    """The name an output built as ``part`` is published under: ``NAME`` for a temporary
    ``.NAME.tmp-...`` (also the ``.NAME.tmp-HEX`` of earlier versions), else ``part``."""
    m = TEMP_NAME.match(part)
    if m and m["kind"] == "tmp":
        return m["name"]
    legacy = _LEGACY_TMP.match(part)
    return legacy["name"] if legacy else part


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (also someone else's)."""
    if pid <= 0:
        return True  # not a real process id: never treat as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


_pid_alive = pid_alive  # the old private name, kept for callers


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temps(target: Path) -> list[Path]:
    """Clean up what killed runs left beside ``target``; return the entries handled.

    See :func:`clean_stale_temps` (``target``'s folder); temporary folders of earlier
    versions (``.TARGET.tmp-HEX`` with an owner file naming this host and a dead process)
    are deleted too.
    """
    return clean_stale_temps(Path(target).parent, legacy=Path(target).name)


def clean_stale_temps(folder: Path, *, legacy: str | None = None) -> list[Path]:
    """Clean up what killed runs left in ``folder``; return the entries handled.

    Every ``.NAME.KIND-HEX-PID-HOST`` entry (any NAME, file or folder) whose host is this
    host and whose process is gone is deleted — except an ``old`` entry whose ``NAME`` is
    missing: that is a previous output moved aside by a run killed mid-replace, and it is
    renamed back to ``NAME``. ``legacy`` names an output whose ``.NAME.tmp-HEX`` folders of
    earlier versions are checked too (through their owner file).
    """
    handled: list[Path] = []
    host = host_tag()
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return handled
    for entry in entries:
        path = Path(entry.path)
        m = TEMP_NAME.match(entry.name)
        if m is not None:
            if m["host"] != host or pid_alive(int(m["pid"])):
                continue
            final = Path(folder) / m["name"]
            if m["kind"] == "old" and not final.exists() and not final.is_symlink():
                try:
                    os.replace(path, final)
                except OSError as exc:
                    log.warning("could not restore %s from %s: %s", final, entry.name, exc)
                    continue
                what = "restored %s, moved aside by a killed run (process %s)"
                log.warning(what, final, m["pid"])
            else:
                _remove(path)
                what = "removed %s, left behind by a killed run (process %s)"
                log.warning(what, path, m["pid"])
            handled.append(path)
        elif legacy and entry.name.startswith(f".{legacy}.tmp-") and _legacy_stale(path):
            shutil.rmtree(path, ignore_errors=True)
            log.warning("removed %s, left behind by a killed run", path)
            handled.append(path)
    return handled


def _legacy_stale(path: Path) -> bool:
    if not _LEGACY_TMP.match(path.name):
        return False
    try:
        owner_host, pid = (path / OWNER_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return False
    return host_tag() == re.sub(r"[^A-Za-z0-9.\-]", "_", owner_host) and not pid_alive(int(pid))


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (``renameat2(RENAME_EXCHANGE)``).

    Returns False, having changed nothing, where the exchange is not available (not Linux,
    no ``renameat2`` in the C library, or the kernel or filesystem refuses it).

    Raises:
        OSError: the exchange failed for another reason (e.g. a path is missing).
    """
    if _RENAMEAT2 is None:
        return False
    rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_EXCHANGE:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _replace_dir(tmp: Path, target: Path) -> None:
    """Publish the folder ``tmp`` as ``target``, replacing the folder there (module docstring)."""
    if exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # it holds the previous output now
        return
    old = target.parent / temp_name(target.name, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)  # put the previous output back
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: Path, *, replace_if: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``target``; rename it to ``target`` on success.

    On any error the temporary folder is removed and ``target`` is untouched, so no
    half-written output is ever left behind. A process killed outright (SIGKILL) cannot clean
    up; what it left is removed by the next run (see :func:`remove_stale_temps`). An existing
    ``target`` is replaced — in one step where the OS allows (module docstring) — only when
    it contains the marker file ``replace_if`` (i.e. it is an earlier output of the same
    kind); otherwise an error is raised before anything is written.

    Raises:
        MovierecError: ``target`` exists and is not replaceable, or its parent is not writable.
    """
    target = Path(target)
    parent = target.parent
    with contextlib.suppress(OSError):
        remove_stale_temps(target)  # may put back a previous output first
    if target.exists() and not (replace_if and (target / replace_if).is_file()):
        raise MovierecError(
            f"{target} already exists and is not a movierec output; choose another folder"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / temp_name(target.name)
        tmp.mkdir()
    except OSError as exc:
        raise MovierecError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        if target.exists():
            _replace_dir(tmp, target)
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
    probe = parent / temp_name(target.name, "probe")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MovierecError(f"cannot write to {parent}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def atomic_files(*targets: Path) -> Iterator[list[Path]]:
    """Yield temporary sibling paths for ``targets``; rename them all into place on success.

    Readers never see a partial file, and on error no temporary file is left behind; what a
    killed run left is removed by the next call for the same folder
    (:func:`remove_stale_temps`).

    Raises:
        MovierecError: a target's folder cannot be created or written.
    """
    paths = [Path(t) for t in targets]
    temps = [p.with_name(temp_name(p.name)) for p in paths]
    try:
        for parent in dict.fromkeys(p.parent for p in paths):
            parent.mkdir(parents=True, exist_ok=True)
            clean_stale_temps(parent)
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    except OSError as exc:
        raise MovierecError(f"cannot write {paths[0]}: {exc.strerror or exc}") from exc
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
