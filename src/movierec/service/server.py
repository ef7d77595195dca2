"""Run the service with uvicorn: ``serve(model_dir, host, port)``.

The listening socket is bound *before* the model is loaded, so a port already in use fails
at once with a one-line :class:`~movierec.errors.MovierecError`; uvicorn then serves on
that socket (one process, one event loop; SIGINT/SIGTERM stop it gracefully, SIGHUP
reloads the model). ``workers=N`` (N > 1) forks N such processes after the model is loaded
(see :mod:`movierec.service.workers`).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from movierec.errors import MovierecError

log = logging.getLogger("movierec.service")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0 picks a free one).

    Raises:
        MovierecError: the port is in use, the address is not local, or binding failed.
    """
    if not 0 <= port <= 65535:
        raise MovierecError(f"port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise MovierecError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise listen_error(exc, host, port) from exc
    sock.set_inheritable(True)
    return sock


def listen_error(
    exc: OSError,
    host: str,
    port: int,
    in_use: str = "the port is already in use (is another server running? choose another "
    "with --port)",
) -> MovierecError:
    """The one-line error for a failed bind/listen on ``host:port`` (``in_use`` says what a
    taken port means where the caller binds)."""
    if exc.errno == errno.EADDRINUSE:
        return MovierecError(f"cannot listen on {host}:{port}: {in_use}")
    if exc.errno == errno.EACCES:
        return MovierecError(
            f"cannot listen on {host}:{port}: permission denied (ports below 1024 need "
            "privileges; choose another with --port)"
        )
    return MovierecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _single_threaded_blas() -> None:
    """One BLAS thread per process unless the environment says otherwise.

    Each request's matrix-vector product is small; a multi-threaded BLAS only adds thread
    hand-offs, and under concurrent load its threads fight the event loop for the cores
    (measured: 3-10x slower top-k on a 2-core machine). Takes effect only when numpy is
    not imported yet (as in ``movierec serve``).
    """
    if "numpy" in sys.modules:
        log.debug("numpy already imported; BLAS threads left as they are")
        return
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    model_dir: Path | str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    model_root: Path | str | None = None,
    api_key: str | None = None,
    log_level: str = "info",
    access_log: bool = False,
    workers: int = 1,
) -> int:
    """Serve ``model_dir`` over HTTP until SIGINT/SIGTERM; the exit status (0, or 1 when a
    worker of several died).

    ``api_key`` None reads ``$MOVIEREC_API_KEY``. Binds 127.0.0.1 unless told otherwise;
    serving another interface without an API key logs a warning. ``workers`` > 1: that many
    server processes share the port (:mod:`movierec.service.workers`); SIGHUP to this
    process reloads the model in every worker.

    Raises:
        MovierecError: the port is in use (or cannot be bound), the model cannot be loaded,
            or ``workers`` < 1.
    """
    if workers < 1:
        raise MovierecError(f"--workers must be at least 1, got {workers}")
    _single_threaded_blas()
    if workers > 1:
        from movierec.service.workers import bind_reuseport

        socks = bind_reuseport(host, port, workers)
    else:
        socks = [bind_socket(host, port)]
    sock = socks[0]
    try:
        from movierec.service.scorer import Scorer

        # Read the model while the web stack imports: pyarrow and numpy release the GIL.
        with ThreadPoolExecutor(1, thread_name_prefix="preload") as pool:
            preload = pool.submit(Scorer.load, Path(model_dir).resolve())
            import uvicorn

            from movierec.service.app import API_KEY_ENV, create_app

            scorer = preload.result()
        # One process: large-catalogue scoring runs in threads (numpy releases the GIL), so
        # both cores work. Several processes keep the cores busy themselves: scoring then
        # stays on each event loop (no thread hand-offs; measured lower CPU per request).
        app = create_app(
            model_dir,
            model_root=model_root,
            api_key=api_key,
            scorer=scorer,
            score_threads=workers == 1,
        )
        key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
        if not _is_loopback(host) and not key:
            log.warning(
                "serving on %s without an API key: anyone who can reach it can reload "
                "models; set %s",
                host,
                API_KEY_ENV,
            )
        bound = sock.getsockname()
        log.info(
            "movierec service on http://%s:%d (API docs at /docs)",
            host if ":" not in host else f"[{host}]",
            bound[1],
        )
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=access_log,
            lifespan="on",
            timeout_graceful_shutdown=10,
            server_header=False,
        )
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
            return 0
        from movierec.service.workers import run_workers

        # Forking with a thread running is unsafe: let the background rating read finish.
        if not scorer.wait_ratings(timeout=3600):
            raise MovierecError(
                f"{model_dir}: the training ratings are still loading after an hour; "
                "cannot start the workers safely"
            )
        state = app.state.service

        def start_worker(index: int, wsock: socket.socket, control: int, notify: int) -> None:
            state.attach_worker(index, workers, control, notify)
            log.info("worker %d of %d serving (pid %d)", index, workers, os.getpid())
            uvicorn.Server(config).run(sockets=[wsock])

        return run_workers(socks, start_worker)
    finally:
        for s in socks:
            s.close()
