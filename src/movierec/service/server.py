"""Run the service with uvicorn: ``serve(model_dir, host, port)``.

The listening socket is bound *before* the model is loaded, so a port already in use fails
at once with a one-line :class:`~movierec.errors.MovierecError`; uvicorn then serves on
that socket (one process, one event loop; SIGINT/SIGTERM stop it gracefully, SIGHUP
reloads the model). ``workers=N`` (N > 1) forks N such processes after the model is loaded
(see :mod:`movierec.service.workers`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from movierec.errors import MovierecError
from movierec.service import API_KEY_ENV
from movierec.service.sockets import bind_reuseport, bind_socket, is_loopback

log = logging.getLogger("movierec.service")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


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
    insecure_no_key: bool = False,
) -> int:
    """Serve ``model_dir`` over HTTP until SIGINT/SIGTERM; the exit status (0, or 1 when a
    worker of several died).

    ``api_key`` None reads ``$MOVIEREC_API_KEY``. Binds 127.0.0.1 unless told otherwise;
    serving another interface without an API key is refused unless ``insecure_no_key``
    (then the admin routes are open to anyone who can reach the port; a warning is
    logged). ``workers`` > 1: that many server processes share the port
    (:mod:`movierec.service.workers`); SIGHUP to this process reloads the model in every
    worker. Malformed HTTP is answered with JSON too (:mod:`movierec.service.http_protocol`).

    Raises:
        MovierecError: the port is in use (or cannot be bound), the model cannot be loaded,
            ``workers`` < 1, or a non-loopback ``host`` without an API key.
    """
    if workers < 1:
        raise MovierecError(f"--workers must be at least 1, got {workers}")
    key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
    if not is_loopback(host) and not key:
        if not insecure_no_key:
            raise MovierecError(
                f"refusing to serve on {host} without an API key: anyone who can reach it "
                f"could reload models; set {API_KEY_ENV}, bind 127.0.0.1, or pass "
                "--insecure-no-key"
            )
        log.warning(
            "serving on %s without an API key (--insecure-no-key): anyone who can reach it "
            "can reload models",
            host,
        )
    _single_threaded_blas()
    socks = bind_reuseport(host, port, workers) if workers > 1 else [bind_socket(host, port)]
    sock = socks[0]
    try:
        from movierec.service.scorer import Scorer

        # Read the model while the web stack imports: pyarrow and numpy release the GIL.
        with ThreadPoolExecutor(1, thread_name_prefix="preload") as pool:
            preload = pool.submit(Scorer.load, Path(model_dir).resolve())
            import uvicorn

            from movierec.service.app import create_app
            from movierec.service.http_protocol import JsonHttpToolsProtocol

            scorer = preload.result()
        # One process: large-catalogue scoring runs in threads (numpy releases the GIL), so
        # both cores work. Several processes keep the cores busy themselves: scoring then
        # stays on each event loop (no thread hand-offs; measured lower CPU per request).
        app = create_app(
            model_dir,
            model_root=model_root,
            api_key=key,
            scorer=scorer,
            score_threads=workers == 1,
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
            http=JsonHttpToolsProtocol,
            ws="none",
        )
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
            return 0
        from movierec.service.workers import run_workers

        state = app.state.service

        def start_worker(index: int, wsock: socket.socket, control: int, notify: int) -> None:
            state.attach_worker(index, workers, control, notify)
            log.info("worker %d of %d serving (pid %d)", index, workers, os.getpid())
            uvicorn.Server(config).run(sockets=[wsock])

        return run_workers(socks, start_worker)
    finally:
        for s in socks:
            s.close()
