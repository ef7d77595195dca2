"""Error responses of the service: always JSON ``{"error": kind, "detail": reason}``.

Handlers raise :class:`ApiError` (404 unknown user, 422 bad value, …); FastAPI's own
errors (unknown route, wrong method, request validation) and any unexpected exception
(500) are mapped to the same envelope by the handlers :func:`install` registers. Request
validation errors add ``"errors": [{"loc", "msg", "type"}, …]``. The HTTP layer below
FastAPI (malformed requests) is wrapped in :mod:`movierec.service.http_protocol`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("movierec.service")

KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    422: "invalid_request",
    431: "headers_too_large",
    500: "internal_error",
    503: "unavailable",
}
MAX_LISTED_ERRORS = 20
"""Most validation errors listed in one 422 (a body of 10,000 bad ratings is one answer)."""
MAX_DETAIL = 300
"""Longest ``detail`` text of a validation error, in characters."""


def kind(status: int) -> str:
    """The ``error`` word of an HTTP status."""
    return KINDS.get(status, "error")


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON (NaN and infinity refused)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(json_bytes(obj), status_code=status, media_type="application/json")


def error_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error envelope with ``status``."""
    response = json_response({"error": kind(status), "detail": detail}, status)
    if headers:
        response.headers.update(headers)
    return response


class ApiError(Exception):
    """An answer other than 200 from a handler: ``status`` and the ``detail`` text."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def validation_response(errors: Iterable[Mapping[str, Any]]) -> Response:
    """The 422 for request validation errors (pydantic/FastAPI error dicts): ``detail``
    joins ``loc: msg`` of each (bounded), ``errors`` lists them."""
    listed: list[dict[str, Any]] = []
    total = 0
    for e in errors:
        total += 1
        if len(listed) < MAX_LISTED_ERRORS:
            loc = [str(p) for p in e.get("loc", ())]
            listed.append({"loc": loc, "msg": e.get("msg", ""), "type": e.get("type")})
    parts: list[str] = []
    size = 0
    for e in listed:
        text = f"{'.'.join(e['loc'])}: {e['msg']}"[: MAX_DETAIL - 30]
        if parts and size + len(text) + 2 > MAX_DETAIL - 30:
            break
        parts.append(text)
        size += len(text) + 2
    reason = "; ".join(parts) or "invalid request"
    if total > len(parts):
        reason += f"; and {total - len(parts)} more"
    return json_response({"error": "invalid_request", "detail": reason, "errors": listed}, 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_response(exc.errors())


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.detail)


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error")


def install(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app`` (module docstring)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _internal)
