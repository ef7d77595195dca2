"""uvicorn's HTTP/1.1 protocol with JSON error answers for malformed requests.

Below FastAPI, uvicorn's protocol (httptools) answers a request it cannot parse — bad
request line, bad header, invalid characters, a body that contradicts its framing — with
its own plain-text ``400 Invalid HTTP request received.`` :class:`JsonHttpToolsProtocol`
answers those with the service's JSON envelope instead (``{"error": "bad_request",
"detail": …}``, ``connection: close``), and bounds the request line: a URL longer than
:data:`MAX_URL_BYTES` gets a JSON 414 (httptools alone would buffer any length).

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


def _answer(status: int, reason: str, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose protocol-level errors are JSON (module docstring)."""

    _url_too_long = False

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._url_too_long = True
            raise ValueError("request target too long")  # httptools stops parsing: a 400

    def send_400_response(self, msg: str) -> None:
        if self._url_too_long:
            data = _answer(
                414,
                "URI Too Long",
                "uri_too_long",
                f"the request target is longer than {MAX_URL_BYTES} bytes",
            )
        else:
            data = _answer(400, "Bad Request", "bad_request", f"malformed HTTP request: {msg}")
        self.transport.write(data)
        self.transport.close()
