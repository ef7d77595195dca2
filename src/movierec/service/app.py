"""The FastAPI app: ``create_app(model_dir)`` wires the service together.

The endpoints are in :mod:`movierec.service.routes`; what they compute in
:mod:`movierec.service.handlers`; the state and hot reload in :mod:`movierec.service.state`;
body limit, metrics and the fast paths in :mod:`movierec.service.middleware`. Errors are
JSON ``{"error": "<kind>", "detail": "<reason>"}`` (:mod:`movierec.service.http_errors`):
404 unknown user, movie or route; 422 bad parameter or body; 413 body too large; 401/403
admin key; 409 reload already running; 500 anything unexpected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

from movierec.errors import ConfigError
from movierec.service import API_KEY_ENV, handlers, http_errors
from movierec.service.middleware import FastGet, FastPaths, FastPost, ObserveMiddleware
from movierec.service.params import ListQuery, SimilarQuery
from movierec.service.routes import router
from movierec.service.scorer import Scorer
from movierec.service.state import HEAVY, ServiceState

__all__ = ["API_KEY_ENV", "MAX_BODY_BYTES", "create_app"]

log = logging.getLogger("movierec.service")

MAX_BODY_BYTES = 1 << 20
"""Default request body limit (1 MiB): 10,000 ratings take about 400 kB."""


def create_app(
    model_dir: Path | str,
    *,
    model_root: Path | str | None = None,
    api_key: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    offload_from: int = HEAVY,
    scorer: Scorer | None = None,
    score_threads: bool = True,
    fast_paths: bool = True,
) -> FastAPI:
    """The service for the model folder ``model_dir`` (loaded now, before returning).

    ``model_root`` bounds where ``POST /admin/reload`` may load models from (default: the
    parent folder of ``model_dir``). ``api_key`` protects the admin routes; None reads
    ``$MOVIEREC_API_KEY``, and an empty key leaves them open. Requests are scored in
    worker threads when the model has at least ``offload_from`` movies × rank. ``scorer``:
    ``model_dir`` already loaded (used when its path is ``model_dir``). ``score_threads``:
    batched large-catalogue scoring in worker threads (one process) or on the event loop
    (``False``: for ``movierec serve --workers N``). ``fast_paths`` False leaves every
    request to FastAPI's dispatch (the reference the fast paths are tested against).

    Raises:
        ModelError: the model folder cannot be loaded.
        ConfigError: ``model_dir`` is not inside ``model_root``.
    """
    model_path = Path(model_dir).resolve()
    root = Path(model_root).resolve() if model_root is not None else model_path.parent
    if not model_path.is_relative_to(root):
        raise ConfigError(f"model folder {model_path} is not inside the model root {root}")
    key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
    if scorer is None or scorer.path.resolve() != model_path:
        scorer = Scorer.load(model_path)
    state = ServiceState(
        scorer, model_path, root, key, offload_from=offload_from, score_threads=score_threads
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hooked = False
        if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
            try:
                loop.add_signal_handler(signal.SIGHUP, _on_sighup, state)
                hooked = True
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                # Event loops without signal support (e.g. some embedded servers) raise here.
                log.info("SIGHUP reload not available (%s); use POST /admin/reload", exc)
        state.listen_control(loop)
        try:
            yield
        finally:
            state.stop_control(loop)
            if hooked:
                loop.remove_signal_handler(signal.SIGHUP)
            state.executor.shutdown(wait=False)

    app = FastAPI(
        title="movierec",
        summary="Movie recommendations from an ALS model: known users, new users by fold-in, "
        "similar movies, explanations, hot reload.",
        version=_package_version(),
        lifespan=lifespan,
    )
    app.state.service = state
    app.include_router(router)
    http_errors.install(app)
    fast = FastPaths(state)
    fast.enabled = fast_paths
    routes = {r.path: r for r in router.routes if isinstance(r, APIRoute)}
    fast.get += [
        FastGet(
            "/users/",
            "/recommendations",
            ListQuery,
            handlers.known_user,
            routes["/users/{user_id}/recommendations"],
        ),
        FastGet(
            "/movies/",
            "/similar",
            SimilarQuery,
            handlers.similar,
            routes["/movies/{movie_id}/similar"],
        ),
    ]
    fast.post.append(
        FastPost("/recommendations", ListQuery, handlers.fold_in, routes["/recommendations"])
    )
    app.state.fast_paths = fast
    app.add_middleware(ObserveMiddleware, metrics=state.metrics, max_body=max_body_bytes, fast=fast)
    return app


def _on_sighup(state: ServiceState) -> None:
    log.info("%sSIGHUP received", state.tag)
    if state.trigger(state.model_dir) is None:
        # a reload is running: read the folder again right after it (its files may have
        # been replaced since that reload started)
        state.follow(state.model_dir)
        log.info(
            "%sSIGHUP: a reload is running; the model folder is read again after it", state.tag
        )


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("movierec")
    except PackageNotFoundError:
        return "0"
