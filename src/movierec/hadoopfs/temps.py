"""Hidden temporary siblings of a remote output: their names (``.NAME.tmp-HEX-PID-HOST``, the
names of :mod:`movierec.atomic`) and the clean-up of those left by killed runs on this host;
the same for the local staging folders (``movierec-in-PID-HOST-*``, ``movierec-out-...``)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from movierec.hadoopfs.fs import HadoopFS, _join, _name_of, _parent_of

log = logging.getLogger(__name__)

_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"


def _host() -> str:
    """This host's name as it appears in temporary folder names."""
    from movierec.atomic import host_tag

    return host_tag()


def _temp_name(name: str, mark: str = _TMP_MARK) -> str:
    """``.NAME.tmp-HEX-PID-HOST`` (or ``.old-``, ``.probe-``): :func:`movierec.atomic.temp_name`."""
    from movierec.atomic import temp_name

    return temp_name(name, mark.strip(".-"))


_STAGING = re.compile(r"^movierec-(?:in|out)-(?P<pid>\d+)-(?P<host>[A-Za-z0-9._\-]+?)-[^-]+$")


def _staging_dir(kind: str) -> Path:
    """A private local staging folder ``movierec-KIND-PID-HOST-XXXX`` in the temp folder.

    Staging folders of killed runs (this host, process gone) are removed first: a staged
    input can be as large as the data.
    """
    from movierec.atomic import pid_alive

    root = Path(tempfile.gettempdir())
    host = _host()
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            m = _STAGING.match(entry.name)
            if m and m["host"] == host and not pid_alive(int(m["pid"])):
                shutil.rmtree(entry.path, ignore_errors=True)
                log.warning("removed %s, left behind by a killed run", entry.path)
    return Path(tempfile.mkdtemp(prefix=f"movierec-{kind}-{os.getpid()}-{host}-"))


def remove_stale_remote_temps(fs: HadoopFS, target: str) -> list[str]:
    """Delete hidden temporary siblings of ``target`` left by killed runs on this host."""
    from movierec.atomic import TEMP_NAME, pid_alive

    parent, name = _parent_of(target), _name_of(target)
    host = _host()
    removed: list[str] = []
    if not fs.is_dir(parent):
        return removed
    for entry in sorted(fs.list(parent)):
        m = TEMP_NAME.match(entry)
        if m is None or m["name"] != name:
            continue
        pid = m["pid"]
        if m["host"] != host or pid_alive(int(pid)):
            continue
        path = _join(parent, entry)
        if m["kind"] == "old" and not fs.exists(target):
            # killed between moving the previous output aside and publishing the new one
            fs.rename(path, target)
            log.warning("restored %s from %s, left aside by a killed run", target, entry)
            continue
        fs.delete(path)
        log.warning("removed %s, left behind by a killed run (process %s)", entry, pid)
        removed.append(path)
    return removed
