"""The service's ASGI middleware: body size limit, metrics, and the fast paths.

:class:`ObserveMiddleware` wraps the FastAPI app (pure ASGI): it refuses bodies over the
limit (by ``Content-Length`` and while streaming: 413), counts every request by route
template with its latency (:mod:`movierec.service.metrics`), and hands the hot routes to
:class:`FastPaths` — the one seam where FastAPI's dispatch is skipped.

**Fast paths.** ``GET /users/{id}/recommendations``, ``GET /movies/{id}/similar`` and
``POST /recommendations`` are answered here by the same handler functions the FastAPI
routes call (:mod:`movierec.service.handlers`), with the same parameter and body models
(:mod:`movierec.service.params`, :mod:`movierec.service.schemas`) and the same error
envelopes; the response is the handler's validated model serialized by pydantic, as
FastAPI does. Measured: FastAPI's routing and dependency solving cost more per request
than the scoring on small models (``benchmarks/SERVICE.md``). A fold-in body that does not
validate, another content type, a HEAD request or a path with a trailing slash goes on to
FastAPI unchanged (the body is replayed), so every answer is FastAPI's own either way;
``tests/test_service_fastpath.py`` requires identical bytes for good and bad requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec.service.http_errors import (
    ApiError,
    error_response,
    json_bytes,
    kind,
    validation_response,
)
from movierec.service.metrics import ServiceMetrics
from movierec.service.params import QueryInvalid, parse_query
from movierec.service.schemas import FoldInRequest
from movierec.service.state import ServiceState

log = logging.getLogger("movierec.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
GetHandler = Callable[[ServiceState, str, Any], Awaitable[BaseModel]]
PostHandler = Callable[[ServiceState, FoldInRequest, Any], Awaitable[BaseModel]]


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a request body beyond the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class FastGet:
    """A GET route ``prefix + {one path segment} + suffix`` answered by ``handler(state,
    segment, query)``; ``route`` is the registered FastAPI route (for the metrics' label)."""

    def __init__(
        self, prefix: str, suffix: str, query: type[BaseModel], handler: GetHandler, route: Any
    ) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.query = query
        self.handler = handler
        self.route = route

    def param(self, path: str) -> str | None:
        """The path parameter if ``path`` is ``prefix + one non-empty segment + suffix``."""
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        value = path[len(self.prefix) : len(path) - len(self.suffix)]
        return value if value and "/" not in value else None


class FastPost:
    """``POST path`` with a :class:`FoldInRequest` JSON body, answered by ``handler(state,
    body, query)`` when the body validates."""

    def __init__(self, path: str, query: type[BaseModel], handler: PostHandler, route: Any) -> None:
        self.path = path
        self.query = query
        self.handler = handler
        self.route = route


async def _answer(scope: Scope, receive: Receive, send: Send, call: Awaitable[BaseModel]) -> None:
    """Run a handler; send its model as JSON, or the error envelope FastAPI would send."""
    try:
        model = await call
    except ApiError as exc:
        response = error_response(exc.status, exc.detail)
    except Exception:
        log.exception("error answering %s %s", scope["method"], scope["path"])
        response = error_response(500, "internal server error")
    else:
        body = model.__pydantic_serializer__.to_json(model)
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await response(scope, receive, send)


class FastPaths:
    """The hot routes answered without FastAPI's dispatch (module docstring)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.get: list[FastGet] = []
        self.post: list[FastPost] = []
        self.enabled = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> bool:
        """Answer ``scope`` if it is a hot route; False otherwise."""
        if not self.enabled:
            return False
        method = scope["method"]
        if method == "GET":
            path = scope["path"]
            for fast in self.get:
                value = fast.param(path)
                if value is not None:
                    scope["route"] = fast.route  # for the metrics' route label
                    try:
                        query = parse_query(fast.query, scope["query_string"])
                    except QueryInvalid as exc:
                        await validation_response(exc.errors)(scope, receive, send)
                        return True
                    await _answer(scope, receive, send, fast.handler(self.state, value, query))
                    return True
        elif method == "POST":
            for post in self.post:
                if scope["path"] == post.path:
                    return await self._post(post, scope, receive, send, inner)
        return False

    async def _post(
        self, post: FastPost, scope: Scope, receive: Receive, send: Send, inner: ASGIApp
    ) -> bool:
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
        except ValidationError:
            body = None
        if body is None:  # FastAPI answers it (its own 422), from the replayed body
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": raw, "more_body": False}
                return await receive()

            await inner(scope, replay, send)
            return True
        scope["route"] = post.route
        try:
            query = parse_query(post.query, scope["query_string"])
        except QueryInvalid as exc:
            await validation_response(exc.errors)(scope, receive, send)
            return True
        await _answer(scope, receive, send, post.handler(self.state, body, query))
        return True


class ObserveMiddleware:
    """Pure ASGI: body size limit, then request/error counters and latency by route; the
    hot routes go to ``fast`` (module docstring)."""

    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, max_body: int, fast: FastPaths
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.fast = fast

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
                if not await self.fast(scope, limited_receive, send_wrapper, self.app):
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
    body = json_bytes({"error": kind(exc.status_code), "detail": exc.detail})
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
