"""The hot routes answered inside the middleware (``FastPaths``: the two GETs and the
fold-in POST) answer byte for byte what FastAPI's own routes answer, for good and bad
requests alike.

Two apps on the same model, in-process (httpx's ASGI transport): one as served, one with
the fast paths switched off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from movierec.service.app import create_app
from test_service import _read_small, _samples, _train


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    ratings, movies = _read_small(ml_small)
    out = tmp_path_factory.mktemp("fastpath") / "m"
    _train(ratings, movies, out, rank=8, reg_param=0.15, max_iter=3, model="biased-als")
    return out


GOOD = {"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 50, "rating": 3.5}]}
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/users/7/recommendations", {"params": {"k": 5}}),
    ("GET", "/users/7/recommendations", {"params": {"k": 3, "genre": "Comedy", "exclude": "1,2"}}),
    ("GET", "/users/999999/recommendations", {}),
    ("GET", "/users/999999/recommendations", {"params": {"fallback": "popular", "k": 3}}),
    ("GET", "/users/7/recommendations", {"params": {"k": 0}}),
    ("GET", "/users/7/recommendations", {"params": {"genre": "NoSuchGenre"}}),
    ("GET", "/movies/1/similar", {"params": {"k": 4}}),
    ("GET", "/movies/abc/similar", {}),
    ("POST", "/recommendations", {"params": {"k": 5}, "json": GOOD}),
    (
        "POST",
        "/recommendations",
        {
            "content": b'{"ratings": [{"movie_id": 1, "rating": 4}]}',
            "headers": {"content-type": "application/json; charset=utf-8"},
        },
    ),
    ("POST", "/recommendations", {"json": {"ratings": [{"movie_id": 1, "rating": 99}]}}),
    ("POST", "/recommendations", {"json": {"ratings": [{"movie_id": 1}]}}),
    ("POST", "/recommendations", {"json": {"ratings": [], "extra": 1}}),
    (
        "POST",
        "/recommendations",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ),
    ("POST", "/recommendations", {"content": b"", "headers": {"content-type": "application/json"}}),
    (
        "POST",
        "/recommendations",
        {"content": b'{"ratings": []}', "headers": {"content-type": "text/plain"}},
    ),
    (
        "POST",
        "/recommendations",
        {
            "json": {"ratings": [{"movie_id": 424242, "rating": 4}]},
            "params": {"fallback": "popular"},
        },
    ),
]


async def _answers(app: Any) -> list[tuple[int, str, bytes]]:
    transport = httpx.ASGITransport(app=app)
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for method, path, kw in REQUESTS:
            r = await client.request(method, path, **kw)
            out.append((r.status_code, r.headers.get("content-type", ""), r.content))
    return out


def _counted(param: Any, taken: dict[str, int], key: str) -> Any:
    def counted(path: str) -> Any:
        value = param(path)
        if value is not None:
            taken[key] += 1
        return value

    return counted


def test_fast_paths_answer_as_fastapi_does(model: Path) -> None:
    fast_app = create_app(model)
    slow_app = create_app(model, fast_paths=False)

    taken = {"get": 0, "post": 0}
    fast_paths = fast_app.state.fast_paths
    for route in fast_paths.get:
        route.param = _counted(route.param, taken, "get")
    assert len(fast_paths.post) == 1
    real_post = fast_paths._post

    async def counted_post(*args: Any) -> bool:
        taken["post"] += 1
        answered: bool = await real_post(*args)
        return answered

    fast_paths._post = counted_post

    fast = asyncio.run(_answers(fast_app))
    reference = asyncio.run(_answers(slow_app))
    for req, got, want in zip(REQUESTS, fast, reference):
        assert got == want, req
    statuses = [s for s, _, _ in fast]
    assert statuses.count(200) >= 6 and 404 in statuses and 422 in statuses
    # Every hot GET was answered by the fast path; every POST went through it first (it
    # hands the bodies that do not validate on to FastAPI).
    assert taken["get"] == 8 and taken["post"] == 9


def test_fast_paths_are_counted_by_route(model: Path) -> None:
    app = create_app(model)

    async def run() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/users/7/recommendations")
            await client.get("/movies/1/similar")
            await client.post("/recommendations", json=GOOD)
            return (await client.get("/metrics")).text

    text = asyncio.run(run())
    for route, method in (
        ("/users/{user_id}/recommendations", "GET"),
        ("/movies/{movie_id}/similar", "GET"),
        ("/recommendations", "POST"),
    ):
        labels = frozenset({("method", method), ("route", route), ("status", "200")})
        assert _samples(text)[("movierec_http_requests_total", labels)] == 1, (route, method)
