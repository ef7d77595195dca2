"""``movierec serve --workers N``: N forked uvicorn processes behind one port.

How it works:

* The parent binds N listening sockets on the same address with ``SO_REUSEPORT``
  (:func:`movierec.service.sockets.bind_reuseport`, after a probe bind without it, so a
  port held by anything else — another ``movierec serve`` too — is still a clear "port in
  use" error). The kernel spreads new connections over the N
  sockets by a hash of the client address, so keep-alive connections are shared evenly
  (one shared socket would let whichever worker wakes first take them all).
* The parent loads the model once and then forks the workers: they start serving at once
  and share the loaded arrays copy-on-write (read-only, so the pages stay shared until a
  worker reloads: a reloaded model is that worker's own copy). Each worker is one uvicorn
  event loop with its own metrics.
* Hot reload reaches every worker: SIGHUP to the parent is forwarded to each worker (each
  re-reads its model folder), and a ``POST /admin/reload`` answered by one worker is
  relayed through the parent to the others, which load the same folder. A worker that is
  still loading a model queues the request and loads the newest folder asked for next.
* SIGINT/SIGTERM to the parent stop the workers gracefully. A worker that dies otherwise
  stops the whole service (exit status 1): a half-sized service with a possibly stale
  model is worse than a restart by the process supervisor. Workers exit if the parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import selectors
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("movierec.service")

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (best effort), and exit
    at once if the parent ``parent`` already died before the request was armed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed parent
        log.debug("parent-death signal unavailable on this platform")
    if os.getppid() != parent:
        os._exit(0)


def notify_reload(fd: int, worker_pid: int, model_dir: Path) -> None:
    """Tell the parent (pipe ``fd``) that worker ``worker_pid`` reloads ``model_dir``; the
    parent relays it to the other workers (one JSON line ``{"worker_pid", "model_dir"}``)."""
    _write_line(fd, {"worker_pid": worker_pid, "model_dir": str(model_dir)})


class RelayReader:
    """The worker's side of the relay: JSON lines ``{"model_dir": …}`` from the parent,
    fed in chunks as they are read from the control pipe."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Path]:
        """The model folders of the complete lines in ``chunk`` (malformed ones logged)."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(Path(json.loads(line)["model_dir"]))
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed reload message: %r", line[:200])
        return out


def _write_line(fd: int, obj: Any) -> None:
    """One JSON line to a pipe (atomic below PIPE_BUF; longer lines are written whole)."""
    data = (json.dumps(obj) + "\n").encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


def run_workers(
    socks: list[socket.socket],
    start_worker: Callable[[int, socket.socket, int, int], None],
) -> int:
    """Fork one worker per socket and supervise them until they stop.

    ``start_worker(index, sock, control_fd, notify_fd)`` runs in the child and serves until
    shutdown: it reads relayed reload requests (JSON lines ``{"model_dir": …}``) from
    ``control_fd`` and writes the reloads it starts itself to ``notify_fd``.

    Returns the exit status for the parent: 0 after a requested shutdown, 1 when a worker
    died on its own (the others are stopped then).
    """
    notify_r, notify_w = os.pipe()
    parent = os.getpid()
    children: dict[int, tuple[int, int]] = {}  # pid -> (index, control write end)
    for index, sock in enumerate(socks):
        control_r, control_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                os.close(notify_r)
                os.close(control_w)
                for fd in (w for _, w in children.values()):
                    os.close(fd)
                for other in socks:
                    if other is not sock:
                        other.close()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                # A SIGHUP (reload) before the app installs its handler must not kill the
                # worker (which would stop the whole service): ignored until then.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                _die_with_parent(parent)
                start_worker(index, sock, control_r, notify_w)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # anything: log it, and never run the parent's code
                log.exception("worker %d failed", index)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(control_r)
        children[pid] = (index, control_w)
    os.close(notify_w)
    for sock in socks:
        sock.close()  # the workers hold them; the parent must not accept connections
    log.info("%d workers started (pids %s)", len(children), ", ".join(map(str, children)))

    stopping = False

    def forward(sig: int) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def on_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping %d workers", len(children))
        stopping = True
        forward(signal.SIGTERM)

    def on_hup(signum: int, frame: Any) -> None:
        log.info("SIGHUP received: every worker reloads its model folder")
        forward(signal.SIGHUP)

    old = {
        signal.SIGINT: signal.signal(signal.SIGINT, on_stop),
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
        signal.SIGHUP: signal.signal(signal.SIGHUP, on_hup),
    }
    status = 0
    buffer = b""
    selector = selectors.DefaultSelector()
    selector.register(notify_r, selectors.EVENT_READ)
    try:
        while children:
            for _key, _ in selector.select(timeout=0.2):
                try:
                    chunk = os.read(notify_r, 65536)
                except InterruptedError:
                    continue
                if not chunk:
                    selector.unregister(notify_r)
                    continue
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    _relay(line, children)
            while children:
                try:
                    pid, wait_status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    children.clear()
                    break
                if pid == 0:
                    break
                entry = children.pop(pid, None)
                if entry is None:  # not one of ours (a library's child process)
                    continue
                index, control_w = entry
                os.close(control_w)
                if not stopping:
                    log.error(
                        "worker %d (pid %d) exited unexpectedly (%s); stopping the service",
                        index,
                        pid,
                        _describe(wait_status),
                    )
                    status = 1
                    stopping = True
                    forward(signal.SIGTERM)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        selector.close()
        os.close(notify_r)
    return status


def _relay(line: bytes, children: dict[int, tuple[int, int]]) -> None:
    """Pass a worker's reload to every other worker."""
    try:
        msg = json.loads(line)
        origin = int(msg["worker_pid"])
        model_dir = str(msg["model_dir"])
    except (ValueError, KeyError, TypeError):
        log.warning("ignored a malformed message from a worker: %r", line[:200])
        return
    log.info("worker pid %d reloads %s: relaying to the other workers", origin, model_dir)
    for pid, (_, control_w) in children.items():
        if pid == origin:
            continue
        try:
            _write_line(control_w, {"model_dir": model_dir})
        except OSError as exc:  # that worker is exiting
            log.warning("cannot relay the reload to worker pid %d: %s", pid, exc)


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by signal {os.WTERMSIG(wait_status)}"
    return f"exit status {os.waitstatus_to_exitcode(wait_status)}"
