"""The HTTP API: FastAPI app factory, metrics, body limit, hot reload.

Endpoints (the generated OpenAPI page is at ``/docs``; ids are the data's original ids):

* ``GET /health`` — model version, path, load time, counts; reload status.
* ``GET /metrics`` — Prometheus text: requests, errors and latency histograms by route.
* ``GET /users/{user_id}/recommendations?k=10`` — top-k unseen movies; ``genre`` filter
  (repeatable: a movie qualifies with any of them), ``exclude`` (repeatable or
  comma-separated movie ids), ``fallback=popular`` for unknown users (``"source": "popular"``).
* ``POST /recommendations?k=10`` — body ``{"ratings": [{"movie_id": 50, "rating": 5}, …]}``:
  fold-in with the training regularisation, top-k excluding the posted movies.
* ``GET /movies/{movie_id}/similar?k=10`` — cosine neighbours in factor space.
* ``GET /users/{user_id}/recommendations/{movie_id}/explain`` — the rated movies that
  contribute most to that score (definition in :mod:`movierec.service.scorer`).
* ``POST /admin/reload`` (and SIGHUP) — load a model folder in the background and swap it in
  atomically; a folder that fails to load or validate is refused, with one ``ERROR`` log
  line, and the current model keeps serving. Needs the API key when one is set.

Errors are JSON: ``{"error": "<kind>", "detail": "<reason>"}`` with 404 (unknown user,
movie or route), 422 (bad parameter or body), 413 (body too large), 401/403 (admin key),
409 (reload already running).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import hmac
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec.errors import ConfigError, ModelError
from movierec.service.scorer import Scorer

log = logging.getLogger("movierec.service")

MAX_K = 1000
"""Largest ``k`` any endpoint accepts."""
MAX_RATINGS = 10_000
"""Most ratings one fold-in request may post."""
MAX_EXCLUDE = 10_000
"""Most movie ids one ``exclude`` parameter may list."""
MAX_BODY_BYTES = 1 << 20
"""Default request body limit (1 MiB): 10,000 ratings take about 400 kB."""
API_KEY_ENV = "MOVIEREC_API_KEY"
INLINE_FOLD_IN = 200
"""Fold-ins of at most this many ratings are solved on the event loop (≈0.1 ms)."""
HEAVY = 1_000_000
"""Catalogue size (movies × rank) from which requests are scored in worker threads."""
T = TypeVar("T")
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---------------------------------------------------------------------- metrics


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """A tiny Prometheus registry: request counters, error counters, latency histograms.

    ``route`` is the route template (``/users/{user_id}/recommendations``), or
    ``unmatched`` for paths no route serves, so label cardinality stays bounded. An error is
    a response with status ≥ 400.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.errors: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = {}
        self.reloads: dict[str, int] = {"loaded": 0, "refused": 0}
        self.active = 0
        """HTTP requests received and not yet answered (event-loop thread only)."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            rkey = (method, route, status)
            self.requests[rkey] = self.requests.get(rkey, 0) + 1
            if status >= 400:
                self.errors[rkey] = self.errors.get(rkey, 0) + 1
            counts = self.buckets.get(key)
            if counts is None:
                counts = self.buckets[key] = [0] * (len(LATENCY_BUCKETS) + 1)
                self.sums[key] = 0.0
            counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.sums[key] += seconds

    def count_reload(self, result: str) -> None:
        with self._lock:
            self.reloads[result] = self.reloads.get(result, 0) + 1

    def render(
        self,
        scorer: Scorer,
        started: float,
        batcher: FirstPassBatcher | None = None,
        worker: dict[str, int] | None = None,
    ) -> str:
        """The Prometheus text. With ``worker`` (``movierec serve --workers N``) every value
        is this worker process's own, and ``movierec_worker_info`` says which worker it is:
        sum the workers' series to get the service's."""
        out: list[str] = []
        if worker is not None:
            labels = ",".join(f'{k}="{v}"' for k, v in worker.items())
            out += [
                "# HELP movierec_worker_info The worker process that produced these metrics "
                "(value 1); every metric here counts this worker only, one of "
                f"{worker['workers']} (movierec serve --workers).",
                "# TYPE movierec_worker_info gauge",
                f"movierec_worker_info{{{labels}}} 1",
            ]
        with self._lock:
            out += [
                "# HELP movierec_http_requests_total HTTP requests by method, route and status.",
                "# TYPE movierec_http_requests_total counter",
            ]
            for (m, r, s), n in sorted(self.requests.items()):
                labels = f'method="{m}",route="{_label(r)}",status="{s}"'
                out.append(f"movierec_http_requests_total{{{labels}}} {n}")
            out += [
                "# HELP movierec_http_request_errors_total HTTP responses with status >= 400.",
                "# TYPE movierec_http_request_errors_total counter",
            ]
            for (m, r, s), n in sorted(self.errors.items()):
                labels = f'method="{m}",route="{_label(r)}",status="{s}"'
                out.append(f"movierec_http_request_errors_total{{{labels}}} {n}")
            out += [
                "# HELP movierec_http_request_duration_seconds Request latency by route.",
                "# TYPE movierec_http_request_duration_seconds histogram",
            ]
            for (m, r), counts in sorted(self.buckets.items()):
                base = f'method="{m}",route="{_label(r)}"'
                total = 0
                for le, n in zip((*LATENCY_BUCKETS, float("inf")), counts):
                    total += n
                    bound = "+Inf" if le == float("inf") else repr(le)
                    out.append(
                        f'movierec_http_request_duration_seconds_bucket{{{base},le="{bound}"}} '
                        f"{total}"
                    )
                out.append(
                    f"movierec_http_request_duration_seconds_sum{{{base}}} {self.sums[(m, r)]}"
                )
                out.append(f"movierec_http_request_duration_seconds_count{{{base}}} {total}")
            out += [
                "# HELP movierec_model_reloads_total Model reloads by result (loaded, refused).",
                "# TYPE movierec_model_reloads_total counter",
            ]
            for result, n in sorted(self.reloads.items()):
                out.append(f'movierec_model_reloads_total{{result="{result}"}} {n}')
        info = f'version="{scorer.version}",model="{scorer.kind}",rank="{scorer.rank}"'
        out += [
            "# HELP movierec_model_info The model being served (value 1).",
            "# TYPE movierec_model_info gauge",
            f"movierec_model_info{{{info}}} 1",
            "# HELP movierec_model_users Users in the model being served.",
            "# TYPE movierec_model_users gauge",
            f"movierec_model_users {scorer.n_users}",
            "# HELP movierec_model_movies Movies in the model being served.",
            "# TYPE movierec_model_movies gauge",
            f"movierec_model_movies {scorer.n_items}",
            "# HELP movierec_uptime_seconds Seconds since the service started.",
            "# TYPE movierec_uptime_seconds gauge",
            f"movierec_uptime_seconds {time.monotonic() - started:.3f}",
        ]
        if batcher is not None:
            out += [
                "# HELP movierec_first_pass_batches_total Batched first scoring passes "
                "(large catalogues).",
                "# TYPE movierec_first_pass_batches_total counter",
                f"movierec_first_pass_batches_total {batcher.batches}",
                "# HELP movierec_first_pass_vectors_total Requests scored in those batches.",
                "# TYPE movierec_first_pass_vectors_total counter",
                f"movierec_first_pass_vectors_total {batcher.vectors}",
            ]
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- ASGI middleware


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a request body beyond the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


FastHandler = Callable[[str, Request], Awaitable[Response]]
FastPost = Callable[[Scope, Receive, Send, ASGIApp], Awaitable[bool]]


class FastRoute:
    """A GET route answered without FastAPI's routing and parameter machinery.

    ``handler(path_param, request)`` is the same coroutine FastAPI calls for that route
    (it parses its own query parameters); ``route`` is the registered FastAPI route, kept
    for the OpenAPI page and for any request the pattern does not take (HEAD, a trailing
    slash, …), so answers are the same either way. Measured: FastAPI's dispatch costs
    more per request than the scoring on small models.
    """

    def __init__(self, prefix: str, suffix: str, handler: FastHandler, route: Any) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.handler = handler
        self.route = route

    def param(self, path: str) -> str | None:
        """The path parameter if ``path`` is ``prefix + one non-empty segment + suffix``."""
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        value = path[len(self.prefix) : len(path) - len(self.suffix)]
        return value if value and "/" not in value else None


class ObserveMiddleware:
    """Pure ASGI: body size limit, then request/error counters and latency by route; the
    hot GET routes (:class:`FastRoute`) are dispatched here directly."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body: int,
        fast: list[FastRoute] | None = None,
        fast_post: list[FastPost] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.fast = fast if fast is not None else []
        self.fast_post = fast_post if fast_post is not None else []

    async def _fast(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a hot route directly; False when ``scope`` is not one. A fast POST
        handler gets the app behind this middleware too, for bodies it declines."""
        if scope["method"] == "POST":
            for post in self.fast_post:
                if await post(scope, receive, send, self.app):
                    return True
            return False
        if scope["method"] != "GET":
            return False
        path = scope["path"]
        for fast in self.fast:
            value = fast.param(path)
            if value is None:
                continue
            scope["route"] = fast.route  # for the metrics' route label
            try:
                response = await fast.handler(value, Request(scope, receive, send))
            except Exception:
                log.exception("error answering %s", path)
                response = _error(500, "internal server error")
            await response(scope, receive, send)
            return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        self.metrics.active += 1

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body:
                await _send_error(send_wrapper, BodyTooLarge(self.max_body))
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise BodyTooLarge(self.max_body)
                return message

            try:
                if not await self._fast(scope, limited_receive, send_wrapper):
                    await self.app(scope, limited_receive, send_wrapper)
            except BodyTooLarge as exc:
                if not response_started:
                    await _send_error(send_wrapper, exc)
        finally:
            self.metrics.active -= 1
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                scope.get("method", ""), template, status, time.perf_counter() - started
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, exc: StarletteHTTPException) -> None:
    body = _json_bytes({"error": _kind(exc.status_code), "detail": exc.detail})
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


def _kind(status: int) -> str:
    return _KINDS.get(status, "error")


# ---------------------------------------------------------------------- first-pass batching


Finish = Callable[[np.ndarray], Any]


class FirstPassBatcher:
    """Coalesces the float32 first scoring pass of concurrent requests into one product.

    A request awaits :meth:`score` with its query vector and a ``finish`` function (the
    rest of its scoring, given its first-pass row); whatever requests are waiting when the
    worker thread becomes free go together into one ``(b, rank) @ (rank, n_items)``
    product, so the item matrix (12 MB at 60k movies × rank 50) is streamed from memory
    once per batch instead of once per request, and every request's ``finish`` runs in the
    same worker job (one thread hand-off per request). An idle service computes batches of
    one (no added wait).

    ``threads=False`` computes each batch on the event loop instead (no hand-offs): the
    batch is then whatever requests reached the scorer during one turn of the loop. That
    suits several worker processes (``movierec serve --workers N``), where the processes,
    not threads, keep the cores busy.
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        max_batch: int = 64,
        metrics: Metrics | None = None,
        threads: bool = True,
    ) -> None:
        self._executor = executor
        self._threads = threads
        self._metrics = metrics  # its ``active`` count: HTTP requests being served now
        self._max = max_batch
        self._pending: list[tuple[Scorer, np.ndarray, bool, Finish, asyncio.Future[Any]]] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.batches = 0
        self.vectors = 0

    async def first_pass(self, scorer: Scorer, x: np.ndarray, unit: bool) -> np.ndarray:
        """The first-pass scores of ``x`` (one row of a batched product)."""
        out: np.ndarray = await self.score(scorer, x, unit, _identity)
        return out

    async def score(self, scorer: Scorer, x: np.ndarray, unit: bool, finish: Finish) -> Any:
        """``finish(first pass of x)``, computed in a worker thread with the batch — or
        right here when no other request is being scored (a lone request gains nothing
        from a batch, and a thread hand-off costs more than its ~0.3 ms of scoring)."""
        if self._in_flight == 0 and (self._metrics is None or self._metrics.active <= 1):
            self.batches += 1
            self.vectors += 1
            return finish(scorer.first_pass(x, unit))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((scorer, x, unit, finish, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        self._in_flight += 1
        try:
            return await future
        finally:
            self._in_flight -= 1

    @staticmethod
    def _job(
        scorer: Scorer, xs: np.ndarray, unit: bool, finishes: list[Finish]
    ) -> list[tuple[bool, Any]]:
        first = scorer.first_pass(xs, unit)
        results: list[tuple[bool, Any]] = []
        for i, finish in enumerate(finishes):
            try:
                results.append((True, finish(first[i])))
            except Exception as exc:  # that request's error, not the batch's
                results.append((False, exc))
        return results

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self._max]
                del self._pending[: self._max]
                groups: dict[tuple[int, bool], list[Any]] = {}
                for item in batch:  # a reload can put two models in one batch
                    groups.setdefault((id(item[0]), item[2]), []).append(item)
                for items in groups.values():
                    scorer, unit = items[0][0], items[0][2]
                    xs = np.stack([item[1] for item in items])
                    finishes = [item[3] for item in items]
                    try:
                        if self._threads:
                            out = await loop.run_in_executor(
                                self._executor, self._job, scorer, xs, unit, finishes
                            )
                        else:
                            out = self._job(scorer, xs, unit, finishes)
                    except Exception as exc:
                        for item in items:
                            if not item[4].done():
                                item[4].set_exception(exc)
                        continue
                    self.batches += 1
                    self.vectors += len(items)
                    for (ok, value), item in zip(out, items):
                        if item[4].done():  # the request may have been cancelled
                            continue
                        if ok:
                            item[4].set_result(value)
                        else:
                            item[4].set_exception(value)
        finally:
            self._draining = False


def _identity(first: np.ndarray) -> np.ndarray:
    return first


# ---------------------------------------------------------------------- state and reload


class ServiceState:
    """The model being served, where models may come from, and the reload machinery."""

    def __init__(self, scorer: Scorer, model_dir: Path, model_root: Path, api_key: str) -> None:
        self.scorer = scorer
        self.model_dir = model_dir
        self.model_root = model_root
        self.api_key = api_key
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.reloading = False
        self.last_reload: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[dict[str, Any]]] = set()  # referenced until done
        self.batcher: FirstPassBatcher | None = None
        self.worker: dict[str, int] | None = None
        self.tag = ""
        """Log prefix naming the worker (empty in a single process)."""
        """``{"index", "workers", "pid"}`` in a worker of ``movierec serve --workers N``."""
        self._control_fd: int | None = None
        self._notify_fd: int | None = None
        self._control_buffer = b""
        self._pending: Path | None = None

    def attach_worker(self, index: int, workers: int, control_fd: int, notify_fd: int) -> None:
        """Make this state one worker of several (called in the forked worker process):
        reloads it starts are written to ``notify_fd`` for the parent to relay, and reloads
        relayed from the other workers arrive on ``control_fd`` (see
        :mod:`movierec.service.workers`)."""
        self.worker = {"index": index, "workers": workers, "pid": os.getpid()}
        self.tag = f"worker {index} (pid {os.getpid()}): "
        self._control_fd = control_fd
        self._notify_fd = notify_fd

    def listen_control(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start reading relayed reloads on the event loop (workers only)."""
        if self._control_fd is None:
            return False
        os.set_blocking(self._control_fd, False)
        loop.add_reader(self._control_fd, self._on_control)
        return True

    def stop_control(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._control_fd is not None:
            loop.remove_reader(self._control_fd)

    def _on_control(self) -> None:
        assert self._control_fd is not None
        try:
            chunk = os.read(self._control_fd, 65536)
        except BlockingIOError:
            return
        if not chunk:  # the parent is gone; it stops this worker too
            asyncio.get_running_loop().remove_reader(self._control_fd)
            return
        self._control_buffer += chunk
        *lines, self._control_buffer = self._control_buffer.split(b"\n")
        for line in lines:
            try:
                path = Path(json.loads(line)["model_dir"])
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed reload message: %r", line[:200])
                continue
            log.info("%sreload relayed from another worker: %s", self.tag, path)
            self.follow(path)

    def follow(self, path: Path) -> None:
        """Load ``path`` now, or right after the reload that is running (the newest
        request wins)."""
        if self.trigger(path) is None:
            self._pending = path

    def resolve(self, requested: str | None) -> Path:
        """The model folder a reload should read: the current one, or ``requested`` under
        the model root (relative paths are taken from the root).

        Raises:
            PermissionError: the path resolves outside the model root.
        """
        if requested is None or not requested.strip():
            return self.model_dir
        path = Path(requested)
        if not path.is_absolute():
            path = self.model_root / path
        path = path.resolve()
        if not path.is_relative_to(self.model_root):
            raise PermissionError(
                f"model path {requested!r} is outside the model root {self.model_root}"
            )
        return path

    def begin_reload(self) -> bool:
        with self._lock:
            if self.reloading:
                return False
            self.reloading = True
            return True

    def reload_blocking(self, path: Path) -> dict[str, Any]:
        """Load ``path``; swap it in on success (callers hold the reload flag)."""
        old = self.scorer
        started = time.perf_counter()
        try:
            new = Scorer.load(path)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            log.error(
                "%sreload refused: %s; still serving model %s from %s",
                self.tag,
                reason,
                old.version,
                old.path,
            )
            self.metrics.count_reload("refused")
            result = {"status": "refused", "path": str(path), "error": reason}
        else:
            self.scorer = new  # one reference assignment: requests see the old or the new
            self.model_dir = path
            log.info(
                "%sreloaded: now serving model %s from %s (was %s) after %.2f s",
                self.tag,
                new.version,
                path,
                old.version,
                time.perf_counter() - started,
            )
            self.metrics.count_reload("loaded")
            result = {"status": "loaded", "path": str(path), "version": new.version}
        result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self._lock:
            self.last_reload = result
            self.reloading = False
        return result

    async def reload(self, path: Path) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, self.reload_blocking, path)
        if self._pending is not None:  # relayed while this one ran
            pending, self._pending = self._pending, None
            self.follow(pending)
        return result

    def trigger(self, path: Path, relay: bool = False) -> asyncio.Task[dict[str, Any]] | None:
        """Start a background reload of ``path``; None when one is already running.

        ``relay``: in a worker of several, also have the other workers load ``path``.
        """
        if not self.begin_reload():
            return None
        log.info("%sreloading model from %s in the background", self.tag, path)
        if relay and self._notify_fd is not None and self.worker is not None:
            try:
                line = json.dumps({"worker_pid": self.worker["pid"], "model_dir": str(path)})
                os.write(self._notify_fd, (line + "\n").encode())
            except OSError as exc:
                log.error("cannot relay the reload to the other workers: %s", exc)
        task = asyncio.get_running_loop().create_task(self.reload(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


# ---------------------------------------------------------------------- request/response models


class Item(BaseModel):
    movie_id: int | str = Field(description="The data's original movie id.")
    title: str
    genres: list[str]
    score: float = Field(
        description="Predicted rating (rating models), preference x_u.y_i (implicit-als), "
        "cosine similarity (similar), number of ratings (popular) or contribution to the "
        "score (explain)."
    )


class UserRecommendations(BaseModel):
    user_id: str
    source: Literal["model", "popular"]
    model_version: str
    items: list[Item]


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    movie_id: int | str = Field(description="The data's original movie id.")
    rating: float = Field(allow_inf_nan=False)


class FoldInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratings: list[RatingIn] = Field(max_length=MAX_RATINGS)


class FoldInRecommendations(BaseModel):
    source: Literal["fold-in", "popular"]
    model_version: str
    rated: int = Field(description="Posted movies known to the model (used in the fold-in).")
    unknown_movies: list[int | str]
    user_bias: float
    items: list[Item]


class SimilarMovies(BaseModel):
    movie_id: int | str
    title: str
    genres: list[str]
    model_version: str
    items: list[Item]


class ExplainItem(Item):
    rating: float = Field(description="The user's rating of this movie.")


class Explanation(BaseModel):
    user_id: str
    movie_id: int | str
    title: str
    genres: list[str]
    score: float = Field(description="μ + b_u + b_m + x_u·y_m (x_u·y_m for implicit-als)")
    baseline: float = Field(description="μ + b_u + b_m (0 for plain ALS)")
    factor_score: float = Field(description="x_u·y_m")
    contributions_sum: float = Field(description="Σ of every rated movie's contribution")
    definition: str
    model_version: str
    items: list[ExplainItem]


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_dir: str | None = Field(
        default=None,
        description="Model folder, absolute or relative to the model root; default: the "
        "folder being served (re-read from disk).",
    )


class ErrorBody(BaseModel):
    error: str
    detail: Any


EXPLAIN_DEFINITION = (
    "contribution of rated movie j = r~_j * y_j' A^-1 y_m, with r~ the user's residual "
    "ratings (r - mu - b_u - b_j; r for plain ALS) and A = Y_I'Y_I + regParam*n*I the "
    "user's normal-equation matrix; the contributions of all rated movies sum to x_u.y_m"
)


IMPLICIT_EXPLAIN = (
    "implicit-als: contribution of rated movie j = c_j * y_j' A^-1 y_m, with c_j = 1 + "
    "alpha*r_j the confidence of the interaction (0 for r_j <= 0) and A = Y'Y + "
    "sum_j alpha*|r_j| y_j y_j' + regParam*n*I the user's implicit normal-equation matrix; "
    "the contributions of all rated movies sum to the preference score x_u.y_m"
)


# ---------------------------------------------------------------------- helpers


Top = tuple[np.ndarray, np.ndarray]


def _finish_user(s: Scorer, urow: int, k: int, ex: Any, mask: Any, first: np.ndarray) -> Top:
    return s.recommend_user(urow, k, ex, mask, first)


def _finish_fold(s: Scorer, fold: Any, k: int, ex: Any, mask: Any, first: np.ndarray) -> Top:
    return s.recommend_vector(fold, k, ex, mask, first)


def _finish_similar(s: Scorer, irow: int, k: int, mask: Any, first: np.ndarray) -> Top:
    return s.similar(irow, k, mask, first)


def _join(rows: np.ndarray, more: np.ndarray | None) -> np.ndarray:
    """Two row lists as one (``more`` may be None)."""
    return rows if more is None or not len(more) else np.concatenate([rows, more])


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_json_bytes(obj), status_code=status, media_type="application/json")


def _error(status: int, detail: Any) -> Response:
    return _json({"error": _kind(status), "detail": detail}, status)


class BadParam(Exception):
    """A query parameter failed validation (answered with 422 and this message)."""


def _multi(q: QueryParams, name: str) -> list[str]:
    """Values of a repeatable, comma-separated query parameter."""
    return [v.strip() for value in q.getlist(name) for v in value.split(",") if v.strip()]


def _param_k(q: QueryParams) -> int:
    raw = q.get("k")
    if raw is None:
        return 10
    try:
        k = int(raw)
    except ValueError:
        raise BadParam(f"query.k: must be an integer, got {raw!r}") from None
    if not 1 <= k <= MAX_K:
        raise BadParam(f"query.k: must be between 1 and {MAX_K}, got {k}")
    return k


def _param_fallback(q: QueryParams) -> str:
    value = q.get("fallback", "none")
    if value not in ("none", "popular"):
        raise BadParam(f"query.fallback: must be 'none' or 'popular', got {value!r}")
    return value


def _filters(
    scorer: Scorer, q: QueryParams, exclude: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(genre mask, excluded rows) from the ``genre`` and ``exclude`` parameters."""
    genres = _multi(q, "genre")
    try:
        mask = scorer.genre_mask(genres) if genres else None
    except KeyError as exc:
        raise BadParam(f"query.genre: {exc.args[0]}") from None
    ids = _multi(q, "exclude") if exclude else []
    if len(ids) > MAX_EXCLUDE:
        raise BadParam(f"query.exclude: {len(ids)} movies listed; at most {MAX_EXCLUDE} allowed")
    return mask, (scorer.item_rows(ids)[0] if ids else None)


def _bad(exc: BadParam) -> Response:
    return _json({"error": "invalid_request", "detail": str(exc)}, 422)


# Query parameters are parsed by the handlers themselves (FastAPI's per-parameter machinery
# costs more than the scoring on small models); they are documented here for OpenAPI.
_QUERY_DOCS: dict[str, dict[str, Any]] = {
    "k": {
        "name": "k",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
        "description": f"How many movies (1..{MAX_K}).",
    },
    "genre": {
        "name": "genre",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Only movies with any of these genres (comma-separated or repeated; "
        "case-insensitive). An unknown genre is a 422.",
    },
    "exclude": {
        "name": "exclude",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": f"Movie ids never to return (comma-separated or repeated; at most "
        f"{MAX_EXCLUDE}).",
    },
    "fallback": {
        "name": "fallback",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["none", "popular"], "default": "none"},
        "description": "popular: answer for an unknown user (or a fold-in with no known "
        'movie) with the most popular movies, marked "source": "popular".',
    },
}


def _doc(*names: str) -> dict[str, Any]:
    return {"parameters": [_QUERY_DOCS[n] for n in names]}


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown user or movie"},
    422: {"model": ErrorBody, "description": "Invalid parameter or body"},
}


# ---------------------------------------------------------------------- the app


def create_app(
    model_dir: Path | str,
    *,
    model_root: Path | str | None = None,
    api_key: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    offload_from: int = HEAVY,
    scorer: Scorer | None = None,
    score_threads: bool = True,
) -> FastAPI:
    """The service for the model folder ``model_dir`` (loaded now, before returning).

    ``model_root`` bounds where ``POST /admin/reload`` may load models from (default: the
    parent folder of ``model_dir``). ``api_key`` protects the admin routes; None reads
    ``$MOVIEREC_API_KEY``, and an empty key leaves them open. Requests are scored in
    worker threads when the model has at least ``offload_from`` movies × rank. ``scorer``:
    ``model_dir`` already loaded (used when its path is ``model_dir``). ``score_threads``:
    batched large-catalogue scoring in worker threads (one process) or on the event loop
    (``False``: for ``movierec serve --workers N``, see :class:`FirstPassBatcher`).

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
    state = ServiceState(scorer, model_path, root, key)
    # Large catalogues (movies × rank ≥ offload_from): the float32 first pass of
    # concurrent requests is batched into one matrix product (the item matrix is read once
    # per batch, not once per request), and the rest of each request runs in worker
    # threads (numpy releases the GIL), so both cores work while the event loop keeps
    # parsing and answering. Small catalogues are scored inline: hand-offs would cost more
    # than they save.
    workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="score")
    batcher = FirstPassBatcher(workers, metrics=state.metrics, threads=score_threads)
    state.batcher = batcher

    def heavy(scorer: Scorer) -> bool:
        return scorer.n_items * scorer.rank >= offload_from

    async def compute(scorer: Scorer, fn: Callable[..., T], *args: Any) -> T:
        if not heavy(scorer):
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(workers, fn, *args)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hooked = False
        if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
            try:
                loop.add_signal_handler(signal.SIGHUP, _on_sighup)
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
            workers.shutdown(wait=False)

    def _on_sighup() -> None:
        log.info("%sSIGHUP received", state.tag)
        if state.trigger(state.model_dir) is None:
            # a reload is running: read the folder again right after it (its files may have
            # been replaced since that reload started)
            state.follow(state.model_dir)
            log.info(
                "%sSIGHUP: a reload is running; the model folder is read again after it", state.tag
            )

    app = FastAPI(
        title="movierec",
        summary="Movie recommendations from an ALS model: known users, new users by fold-in, "
        "similar movies, explanations, hot reload.",
        version=_package_version(),
        lifespan=lifespan,
    )
    app.state.service = state
    fast: list[FastRoute] = []  # filled below, once the handlers exist
    fast_post: list[FastPost] = []
    app.add_middleware(
        ObserveMiddleware,
        metrics=state.metrics,
        max_body=max_body_bytes,
        fast=fast,
        fast_post=fast_post,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _error(exc.status_code, exc.detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        reason = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return _json({"error": "invalid_request", "detail": reason, "errors": errors}, 422)

    # ------------------------------------------------------------------ operations

    @app.get("/health", tags=["operations"], summary="Liveness and the model being served")
    async def health() -> Response:
        scorer = state.scorer
        sub = scorer.recommender
        return _json(
            {
                "status": "ok",
                "model": scorer.info(),
                "serving": scorer.serving(),
                "recommender": {
                    "name": scorer.recommender_name,
                    "why": scorer.recommender_why,
                    "model": sub.info() if sub is not None else None,
                },
                "model_root": str(state.model_root),
                "reload": {"in_progress": state.reloading, "last": state.last_reload},
                "uptime_seconds": round(time.monotonic() - state.started, 3),
                "worker": state.worker,
            }
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
    )
    async def metrics() -> Response:
        return Response(
            state.metrics.render(state.scorer, state.started, state.batcher, state.worker),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # ------------------------------------------------------------------ recommendations

    @app.get(
        "/users/{user_id}/recommendations",
        tags=["recommendations"],
        summary="Top-k unseen movies for a known user",
        response_model=UserRecommendations,
        responses=ERRORS,
        openapi_extra=_doc("k", "genre", "exclude", "fallback"),
    )
    async def user_recommendations(user_id: str, request: Request) -> Response:
        scorer = state.scorer
        ranker = scorer.ranker  # None: the recommender is most-popular
        lists = ranker if ranker is not None else scorer
        q = request.query_params
        try:
            k = _param_k(q)
            fallback = _param_fallback(q)
            mask, ex = _filters(lists, q)
        except BadParam as exc:
            return _bad(exc)
        urow = lists.user_row(user_id)
        if urow is None:
            if fallback != "popular":
                return _error(404, f"unknown user {user_id!r} (use fallback=popular)")
            rows, scores = lists.popular(k, ex, mask)
            source = "popular"
        elif ranker is None:
            rows, scores = lists.popular(k, _join(lists.seen_rows(urow), ex), mask)
            source = "popular"
        else:
            if heavy(ranker):
                rows, scores = await batcher.score(
                    ranker,
                    ranker.query_user(urow),
                    False,
                    functools.partial(_finish_user, ranker, urow, k, ex, mask),
                )
            else:
                rows, scores = ranker.recommend_user(urow, k, ex, mask)
            source = "model"
        return _json(
            {
                "user_id": user_id,
                "source": source,
                "model_version": scorer.version,
                "items": lists.items(rows, scores),
            }
        )

    @app.post(
        "/recommendations",
        tags=["recommendations"],
        summary="Top-k movies for a new user from their ratings (fold-in)",
        response_model=FoldInRecommendations,
        responses=ERRORS,
        openapi_extra=_doc("k", "genre", "exclude", "fallback"),
    )
    async def fold_in_recommendations(body: FoldInRequest, request: Request) -> Response:
        ranker = state.scorer.ranker  # None: the recommender is most-popular
        version = state.scorer.version
        scorer = ranker if ranker is not None else state.scorer
        q = request.query_params
        try:
            k = _param_k(q)
            fallback = _param_fallback(q)
            mask, ex = _filters(scorer, q)
        except BadParam as exc:
            return _bad(exc)
        seen: set[str] = set()
        keys: list[str] = []
        for r in body.ratings:
            key = str(r.movie_id).strip()
            if key in seen:
                return _error(422, f"body.ratings: movie {r.movie_id!r} is rated more than once")
            seen.add(key)
            if not scorer.rating_min <= r.rating <= scorer.rating_max:
                return _error(
                    422,
                    f"body.ratings: rating {r.rating} of movie {r.movie_id!r} is outside the "
                    f"model's scale [{scorer.rating_min}, {scorer.rating_max}]",
                )
            keys.append(key)
        found = scorer.lookup_items(keys)  # one vectorised lookup; −1 = unknown
        known = found >= 0
        rows = found[known]
        values = np.fromiter((r.rating for r in body.ratings), np.float64, len(keys))[known]
        unknown = [r.movie_id for r, ok in zip(body.ratings, known.tolist()) if not ok]
        if not len(rows) or ranker is None:
            if not len(rows) and fallback != "popular":
                return _error(
                    422,
                    "body.ratings: none of the rated movies is known to the model; post "
                    "ratings of known movies or use fallback=popular",
                )
            prow, pscore = scorer.popular(k, _join(rows, ex), mask)
            return _json(
                {
                    "source": "popular",
                    "model_version": version,
                    "rated": len(rows),
                    "unknown_movies": unknown,
                    "user_bias": 0.0,
                    "items": scorer.items(prow, pscore),
                }
            )
        try:  # a k×k solve: cheaper inline than a thread hand-off unless many are posted
            if len(rows) > INLINE_FOLD_IN:
                fold = await compute(scorer, scorer.fold_in, rows, values)
            else:
                fold = scorer.fold_in(rows, values)
        except ValueError as exc:
            return _error(422, str(exc))
        if heavy(scorer):
            top, scores = await batcher.score(
                scorer, fold.x, False, functools.partial(_finish_fold, scorer, fold, k, ex, mask)
            )
        else:
            top, scores = scorer.recommend_vector(fold, k, ex, mask)
        return _json(
            {
                "source": "fold-in",
                "model_version": version,
                "rated": len(rows),
                "unknown_movies": unknown,
                "user_bias": fold.user_bias,
                "items": scorer.items(top, scores),
            }
        )

    @app.get(
        "/movies/{movie_id}/similar",
        tags=["movies"],
        summary="Nearest movies in factor space (cosine similarity)",
        response_model=SimilarMovies,
        responses=ERRORS,
        openapi_extra=_doc("k", "genre"),
    )
    async def similar(movie_id: str, request: Request) -> Response:
        version = state.scorer.version
        scorer = state.scorer.similar_model
        q = request.query_params
        try:
            k = _param_k(q)
            mask, _ = _filters(scorer, q, exclude=False)
        except BadParam as exc:
            return _bad(exc)
        irow = scorer.item_row(movie_id)
        if irow is None:
            return _error(404, f"unknown movie {movie_id!r}")
        if heavy(scorer):
            rows, scores = await batcher.score(
                scorer,
                scorer.query_movie(irow),
                True,
                functools.partial(_finish_similar, scorer, irow, k, mask),
            )
        else:
            rows, scores = scorer.similar(irow, k, mask)
        return _json(
            {
                "movie_id": scorer.item_out_ids[irow],
                "title": scorer.titles[irow],
                "genres": scorer.genres[irow],
                "model_version": version,
                "items": scorer.items(rows, scores),
            }
        )

    @app.get(
        "/users/{user_id}/recommendations/{movie_id}/explain",
        tags=["recommendations"],
        summary="The user's rated movies that contribute most to their score for a movie",
        response_model=Explanation,
        responses=ERRORS,
        openapi_extra=_doc("k"),
    )
    async def explain(user_id: str, movie_id: str, request: Request) -> Response:
        scorer = state.scorer
        try:
            k = _param_k(request.query_params)
        except BadParam as exc:
            return _bad(exc)
        urow = scorer.user_row(user_id)
        if urow is None:
            return _error(404, f"unknown user {user_id!r}")
        irow = scorer.item_row(movie_id)
        if irow is None:
            return _error(404, f"unknown movie {movie_id!r}")
        if not scorer.ratings_loaded():  # just after a (re)load: wait off the event loop
            await asyncio.get_running_loop().run_in_executor(None, scorer.wait_ratings)
        try:
            e = await compute(scorer, scorer.explain, urow, irow, k)
        except np.linalg.LinAlgError as exc:
            return _error(422, f"cannot explain: {exc}")
        except ModelError as exc:
            return _error(503, str(exc))
        items = scorer.items(e.item_rows, e.contributions)
        for item, rating in zip(items, e.ratings.tolist()):
            item["rating"] = rating
        return _json(
            {
                "user_id": user_id,
                "movie_id": scorer.item_out_ids[irow],
                "title": scorer.titles[irow],
                "genres": scorer.genres[irow],
                "score": e.score,
                "baseline": e.baseline,
                "factor_score": e.factor_score,
                "contributions_sum": e.contributions_sum,
                "definition": IMPLICIT_EXPLAIN if scorer.implicit else EXPLAIN_DEFINITION,
                "model_version": scorer.version,
                "items": items,
            }
        )

    def _route(path: str) -> Any:
        return next(r for r in app.routes if getattr(r, "path", None) == path)

    fold_in_route = _route("/recommendations")

    async def fast_fold_in(scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> bool:
        """``POST /recommendations`` whose JSON body validates: answered by the handler
        directly. Any other body goes on to FastAPI (replayed), which answers it exactly
        as without this path (422 with its reasons)."""
        if scope["path"] != "/recommendations":
            return False
        ctype = b""
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                ctype = value.split(b";", 1)[0].strip().lower()
        if ctype not in (b"", b"application/json"):
            return False
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return True
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            body = FoldInRequest.model_validate_json(raw) if raw else None
        except ValueError:  # pydantic's ValidationError is a ValueError
            body = None
        if body is None:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": raw, "more_body": False}
                return await receive()

            await inner(scope, replay, send)
            return True
        scope["route"] = fold_in_route  # for the metrics' route label
        try:
            response = await fold_in_recommendations(body, Request(scope, receive, send))
        except Exception:
            log.exception("error answering POST /recommendations")
            response = _error(500, "internal server error")
        await response(scope, receive, send)
        return True

    fast_post.append(fast_fold_in)

    fast += [
        FastRoute(
            "/users/",
            "/recommendations",
            user_recommendations,
            _route("/users/{user_id}/recommendations"),
        ),
        FastRoute("/movies/", "/similar", similar, _route("/movies/{movie_id}/similar")),
    ]

    # ------------------------------------------------------------------ admin

    @app.post(
        "/admin/reload",
        tags=["admin"],
        summary="Load a model folder in the background and swap it in",
        status_code=202,
        responses={
            200: {"description": "Loaded (wait=true)"},
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            409: {"model": ErrorBody},
            422: {"model": ErrorBody, "description": "Model refused (wait=true)"},
        },
    )
    async def reload(
        body: Annotated[ReloadRequest | None, Body()] = None,
        wait: Annotated[
            bool, Query(description="Answer when the load has finished (200 or 422).")
        ] = False,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        if state.api_key:
            given = x_api_key
            if given is None and authorization and authorization.lower().startswith("bearer "):
                given = authorization[7:].strip()
            if given is None:
                return _error(401, "this route needs the API key (X-API-Key header)")
            if not hmac.compare_digest(given.encode(), state.api_key.encode()):
                return _error(403, "wrong API key")
        try:
            path = state.resolve(body.model_dir if body is not None else None)
        except PermissionError as exc:
            log.error("reload refused: %s", exc)
            return _error(403, str(exc))
        task = state.trigger(path, relay=True)
        if task is None:
            return _error(409, "a reload is already running")
        if not wait:
            return _json({"status": "loading", "path": str(path)}, 202)
        result = await task
        return _json(result, 200 if result["status"] == "loaded" else 422)

    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("movierec")
    except PackageNotFoundError:
        return "0"
