"""Hidden temporary siblings of a remote output: their names (``.NAME.tmp-HEX-PID-HOST``) and
the clean-up of those left by killed runs on this host."""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid

from movierec.hadoopfs.fs import HadoopFS, _join, _name_of, _parent_of

log = logging.getLogger(__name__)

_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"


def _host() -> str:
    """This host's name as it appears in temporary folder names."""
    return re.sub(r"[^A-Za-z0-9.\-]", "_", socket.gethostname())


def _temp_name(name: str, mark: str = _TMP_MARK) -> str:
    return f".{name}{mark}{uuid.uuid4().hex[:8]}-{os.getpid()}-{_host()}"


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
