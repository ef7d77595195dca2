"""uvicorn's HTTP/1.1 protocol with JSON error answers for malformed requests.

Below FastAPI, uvicorn's protocol (httptools) answers a request it cannot parse — bad
request line, bad header, invalid characters, a body that contradicts its framing — with
its own plain-text ``400 Invalid HTTP request received.`` :class:`JsonHttpToolsProtocol`
answers those with the service's JSON envelope instead (``{"error": "bad_request",
"detail": …}``, ``connection: close``), and bounds what httptools alone would buffer
without limit: a URL longer than :data:`MAX_URL_BYTES` gets a JSON 414, headers over
:data:`MAX_HEADER_BYTES` in all a JSON 431.

What still cannot answer in JSON, and why: a client that sends nothing parseable before
closing or timing out gets no answer at all (there is no request to answer); TLS is not
used by the service; and uvicorn's own fallbacks — ``500 Internal Server Error`` when an
app fails before answering, ``503`` over ``limit_concurrency`` — are plain text but not
reachable here: the app's outermost layer (Starlette's error middleware with the
service's handler) answers every exception in JSON, and ``limit_concurrency`` is not set.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_URL_BYTES = 256 * 1024
"""Longest request target (path + query) accepted: 10,000 excluded ids fit comfortably."""
MAX_HEADER_BYTES = 64 * 1024
"""Most header bytes (names and values) one request may send."""


def _answer(status: int, reason: str, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose protocol-level errors are JSON (module docstring)."""

    _too_large = ""
    _header_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._too_large = "url"
            raise ValueError("request target too long")  # httptools stops parsing: a 400

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._too_large = "headers"
            raise ValueError("request headers too large")
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        if self._too_large == "url":
            data = _answer(
                414,
                "URI Too Long",
                "uri_too_long",
                f"the request target is longer than {MAX_URL_BYTES} bytes",
            )
        elif self._too_large == "headers":
            data = _answer(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"the request headers are larger than {MAX_HEADER_BYTES} bytes",
            )
        else:
            data = _answer(400, "Bad Request", "bad_request", f"malformed HTTP request: {msg}")
        self.transport.write(data)
        self.transport.close()
