"""The service's findings of issue 16, one regression test each, on a real server.

A ``python -m movierec serve`` subprocess serves a copy of a small model (``live``); the
tests reload damaged folders into it and check that each is refused with a 422 and one log
line while the old model keeps answering exactly as before. Models: the local engine on
ml-latest-small (a few iterations: the checks do not depend on model quality).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from movierec.errors import ModelError
from movierec.schema import ITEM, USER
from movierec.service.scorer import Scorer
from test_service import API_KEY, Server, _free_port, _read_small, _train, reseal

ADMIN = {"X-API-Key": API_KEY}
USERS = (1, 42, 414)


@pytest.fixture(scope="module")
def hmodels(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> dict[str, Any]:
    """m1 (biased-als), other (trained on 60% of the ratings: other seen lists), live (a
    copy of m1, the folder served)."""
    ratings, movies = _read_small(ml_small)
    root = tmp_path_factory.mktemp("hardening") / "models"
    root.mkdir()
    m1, _ = _train(
        ratings, movies, root / "m1", rank=8, reg_param=0.1, max_iter=3, model="biased-als"
    )
    part = ratings.sample(frac=0.6, random_state=1)
    other, _ = _train(part, movies, root / "other", rank=8, reg_param=0.1, max_iter=3)
    shutil.copytree(m1, root / "live")
    return {"root": root, "m1": m1, "other": other, "live": root / "live", "ratings": ratings}


@pytest.fixture(scope="module")
def hserver(hmodels: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("hlog") / "server.log"
    srv = Server(hmodels["live"], hmodels["root"], log)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hclient(hserver: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hserver.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def expected(hmodels: dict[str, Any]) -> dict[int, list[Any]]:
    """The right top-10 list of each test user (m1's own scorer, in-process)."""
    s = Scorer.load(hmodels["m1"])
    out = {}
    for u in USERS:
        urow = s.user_row(u)
        assert urow is not None
        rows, scores = s.recommend_user(urow, 10)
        out[u] = [[s.item_out_ids[r], sc] for r, sc in zip(rows.tolist(), scores.tolist())]
    return out


def _lists(client: httpx.Client) -> dict[int, list[Any]]:
    got = {}
    for u in USERS:
        r = client.get(f"/users/{u}/recommendations", params={"k": 10})
        assert r.status_code == 200, r.text
        got[u] = [[i["movie_id"], i["score"]] for i in r.json()["items"]]
    return got


def _serves_m1_correctly(
    client: httpx.Client, server: Server, expected: dict[int, list[Any]], ratings: Any
) -> None:
    """The server is alive and answers m1's exact lists, none with an already-rated movie."""
    assert server.proc.poll() is None, server.log()[-2000:]
    got = _lists(client)
    assert got == expected
    for u in USERS:
        seen = set(ratings.loc[ratings[USER] == u, ITEM])
        assert not seen & {m for m, _ in got[u]}
    e = client.get("/users/1/recommendations/318/explain", params={"k": 3})
    assert e.status_code == 200 and len(e.json()["items"]) == 3


def _reload(client: httpx.Client, model_dir: str, **kw: Any) -> httpx.Response:
    return client.post(
        "/admin/reload", params={"wait": "true"}, json={"model_dir": model_dir}, headers=ADMIN, **kw
    )


def _copy(hmodels: dict[str, Any], name: str, source: str = "m1") -> Path:
    target = hmodels["root"] / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(hmodels[source], target)
    return target


def _refused(
    client: httpx.Client, server: Server, name: str, needle: str, version: str
) -> dict[str, Any]:
    """Reload ``name``: a 422 refusal naming ``needle``, one ERROR line, same version."""
    before = server.log().count("reload refused")
    r = _reload(client, name)
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "refused" and needle in body["error"], body
    lines = [ln for ln in server.log().splitlines() if "reload refused" in ln]
    assert len(lines) == before + 1
    assert name in lines[-1] and f"still serving model {version}" in lines[-1]
    assert client.get("/health").json()["model"]["version"] == version
    return body


# ---------------------------------------------------------------------- damaged models


def _nan_ratings(folder: Path) -> None:
    file = folder / "serving" / "seen_ratings.npy"
    np.save(file, np.full_like(np.load(file), np.nan))


def _huge_factors(folder: Path) -> None:
    z = dict(np.load(folder / "factors.npz"))
    z["user_factors"] = z["user_factors"] * np.float32(1e30)
    z["item_factors"] = z["item_factors"] * np.float32(1e30)
    np.savez(folder / "factors.npz", **z)


def _truncated_array(folder: Path) -> None:
    file = folder / "serving" / "seen_items.npy"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _mismatched_array(folder: Path) -> None:
    file = folder / "serving" / "item_counts.npy"
    counts = np.load(file)
    counts[0] += 1  # no longer the number of each movie's ratings
    np.save(file, counts)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "all_nan_seen_ratings": (_nan_ratings, "training ratings are not all finite"),
    "factors_times_1e30": (_huge_factors, "beyond the bound"),
    "truncated_array": (_truncated_array, "truncated"),
    "mismatched_array": (_mismatched_array, "serving index does not match"),
}


@pytest.mark.parametrize("sealed", [False, True], ids=["as-is", "manifest-rewritten"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_reload_refuses_damaged_model(
    hclient: httpx.Client,
    hserver: Server,
    hmodels: dict[str, Any],
    expected: dict[int, list[Any]],
    damage: str,
    sealed: bool,
) -> None:
    """seen_ratings all NaN, factors ×1e30, a truncated or inconsistent array: refused with
    422 and one log line, the old model serving on. As-is the checksum manifest refuses
    them; with the manifest rewritten to match, the validation behind it does."""
    version = hclient.get("/health").json()["model"]["version"]
    name = f"{damage}-{sealed}"
    folder = _copy(hmodels, name)
    change, needle = DAMAGE[damage]
    change(folder)
    if sealed:
        reseal(folder)
    _refused(hclient, hserver, name, needle if sealed else "damaged or changed", version)
    _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])


def test_reload_refuses_manifest_mismatch(
    hclient: httpx.Client, hserver: Server, hmodels: dict[str, Any], expected: Any
) -> None:
    """One title changed in movies.json (still valid JSON): only the manifest can tell."""
    version = hclient.get("/health").json()["model"]["version"]
    folder = _copy(hmodels, "retitled")
    index = folder / "serving" / "movies.json"
    index.write_text(index.read_text(encoding="utf-8").replace("Toy Story", "Toy Storm"))
    body = _refused(hclient, hserver, "retitled", "movies.json: damaged or changed", version)
    assert "manifest.json" in body["error"]
    _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])


def test_reload_refuses_legacy_folder_with_huge_factors(
    hclient: httpx.Client, hserver: Server, hmodels: dict[str, Any], expected: Any
) -> None:
    """A folder without manifest and bounds (older movierec) still gets the generic limit."""
    version = hclient.get("/health").json()["model"]["version"]
    folder = _copy(hmodels, "legacy-huge")
    meta = json.loads((folder / "model.json").read_text())
    del meta["integrity"]
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "manifest.json").unlink()
    _huge_factors(folder)
    _refused(hclient, hserver, "legacy-huge", "for any trained model", version)
    _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])


def _overwrite_in_place(source: Path, target: Path) -> None:
    """Copy ``source``'s bytes into ``target``'s existing inode (truncate, then write), as
    ``cp`` does: what a memory map of ``target`` would see change under it."""
    with open(target, "r+b") as f:
        f.truncate(0)
        f.write(source.read_bytes())


def test_other_models_files_copied_over_served_folder(
    hclient: httpx.Client, hserver: Server, hmodels: dict[str, Any], expected: Any
) -> None:
    """Another model's factors and serving index copied over the served folder (in place):
    the running model is unaffected (never lists an already-rated movie); a reload of the
    mixed folder is refused; once the whole other model is there, it loads."""
    live, other = hmodels["live"], hmodels["other"]
    assert _reload(hclient, "live").status_code == 200
    version = hclient.get("/health").json()["model"]["version"]
    try:
        for rel in ("factors.npz", *(f"serving/{p.name}" for p in (other / "serving").iterdir())):
            _overwrite_in_place(other / rel, live / rel)
        _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])
        _refused(hclient, hserver, "live", "damaged or changed", version)
        _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])
        for file in sorted(other.rglob("*")):  # now all of it (``cp -r other/. live/``)
            if file.is_file():
                target = live / file.relative_to(other)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
                _overwrite_in_place(file, target)
        r = _reload(hclient, "live")
        assert r.status_code == 200, r.text
        assert r.json()["version"] == Scorer.load(other).version != version
        part = Scorer.load(other)
        for u in USERS:  # now the other model's lists, without its users' seen movies
            got = hclient.get(f"/users/{u}/recommendations").json()["items"]
            urow = part.user_row(u)
            if urow is not None:
                seen = {part.item_out_ids[r] for r in part.seen_rows(urow).tolist()}
                assert not seen & {i["movie_id"] for i in got}
    finally:
        shutil.rmtree(live)
        shutil.copytree(hmodels["m1"], live)
        assert _reload(hclient, "live").status_code == 200


def test_served_npy_overwritten_in_place_no_sigbus(
    hclient: httpx.Client, hserver: Server, hmodels: dict[str, Any], expected: Any
) -> None:
    """Overwriting (and shrinking) the served arrays in place: the server keeps answering
    exactly as before (its arrays are private copies, never memory maps of the files)."""
    live = hmodels["live"]
    assert _reload(hclient, "live").status_code == 200
    try:
        for rel in (
            "serving/seen_items.npy",
            "serving/seen_ratings.npy",
            "serving/seen_indptr.npy",
        ):
            with open(live / rel, "r+b") as f:
                f.truncate(64)
                f.write(b"\0" * 64)
        with open(live / "factors.npz", "r+b") as f:
            f.truncate(10)
        for _ in range(3):
            _serves_m1_correctly(hclient, hserver, expected, hmodels["ratings"])
        assert "SIGBUS" not in hserver.log() and "Traceback" not in hserver.log()
    finally:
        shutil.rmtree(live)
        shutil.copytree(hmodels["m1"], live)
        assert _reload(hclient, "live").status_code == 200


# ---------------------------------------------------------------------- requests


def test_reload_path_with_nul_byte_is_json_422(hclient: httpx.Client, hserver: Server) -> None:
    for body in ({"model_dir": "m1\x00/../x"}, {"model_dir": "\x00"}):
        r = hclient.post("/admin/reload", params={"wait": "true"}, json=body, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_request" and "NUL" in r.json()["detail"]
    assert hserver.proc.poll() is None


def test_reload_of_missing_folder_says_missing(hclient: httpx.Client, hmodels: Any) -> None:
    r = _reload(hclient, "no-such-model")
    assert r.status_code == 422
    assert "no-such-model does not exist" in r.json()["error"]
    with pytest.raises(ModelError, match="does not exist"):
        Scorer.load(hmodels["root"] / "no-such-model")
    with pytest.raises(ModelError, match="not a movierec model folder"):
        Scorer.load(hmodels["root"])


@pytest.mark.parametrize(
    ("rating", "needle"),
    [
        ({"movie_id": True, "rating": 5}, "movie_id"),
        ({"movie_id": 1, "rating": "5"}, "rating"),
        ({"movie_id": 1, "rating": True}, "rating"),
        ({"movie_id": 1.0, "rating": 5}, "movie_id"),
        ({"movie_id": [1], "rating": 5}, "movie_id"),
    ],
)
def test_strict_request_types(hclient: httpx.Client, rating: dict[str, Any], needle: str) -> None:
    """A JSON true is not movie 1, "5" is not a rating (nor true, nor 1.0 a movie id)."""
    r = hclient.post("/recommendations", json={"ratings": [rating, {"movie_id": 50, "rating": 4}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and needle in r.json()["detail"]
    ok = hclient.post("/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}]})
    assert ok.status_code == 200  # an integer rating and integer id are fine


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(ln.lower().split(": ", 1) for ln in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "kind"),
    [
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "bad_request"),
        (b"GET /h\xffealth HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            431,
            "headers_too_large",
        ),
        (
            b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nabcde",
            400,
            "bad_request",
        ),
    ],
    ids=["garbage", "bad-header", "non-ascii", "bad-version", "long-url", "big-headers", "cl-te"],
)
def test_http_layer_errors_are_json(
    hserver: Server, request_bytes: bytes, status: int, kind: str
) -> None:
    """Malformed HTTP, an over-long URL or huge headers: JSON errors from the HTTP layer."""
    got, headers, body = _raw(hserver.port, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == kind
    assert hserver.proc.poll() is None


def test_app_errors_are_json(hclient: httpx.Client) -> None:
    """Errors from every layer of the app are the JSON envelope (validated against the
    declared ``ErrorBody`` model), with a bounded ``detail``."""
    from movierec.service.schemas import ErrorBody

    answers = []
    r = hclient.put("/health")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    answers.append(r)
    r = hclient.get("/nothing/here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    answers.append(r)
    exclude = ",".join(["1"] * 10_001)
    r = hclient.get("/users/1/recommendations", params={"exclude": exclude})
    assert r.status_code == 422 and len(r.json()["detail"]) <= 300
    answers.append(r)
    bad = {"ratings": [{"movie_id": "x", "rating": "bad"} for _ in range(500)]}
    r = hclient.post("/recommendations", json=bad)
    assert r.status_code == 422 and len(r.json()["detail"]) <= 300
    assert len(r.json()["errors"]) == 20 and "more" in r.json()["detail"]
    answers.append(r)
    answers.append(hclient.post("/admin/reload"))  # no key: 401
    answers.append(hclient.get("/users/1/recommendations/424242/explain"))
    answers.append(hclient.post("/recommendations", content=b"x" * (2 << 20)))  # 413
    for r in answers:
        assert r.status_code >= 400 and r.headers["content-type"] == "application/json"
        ErrorBody.model_validate(r.json())


def test_unexpected_exception_is_json_500(hmodels: dict[str, Any]) -> None:
    """An exception no handler expects: a JSON 500 (in-process app, both dispatch paths)."""
    import asyncio

    from movierec.service import handlers
    from movierec.service.app import create_app

    async def boom(*args: Any) -> Any:
        raise RuntimeError("boom")

    async def run(fast: bool) -> list[httpx.Response]:
        app = create_app(hmodels["m1"], fast_paths=fast)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return [await c.get("/users/1/recommendations"), await c.get("/movies/1/similar")]

    saved = handlers.known_user, handlers.similar
    handlers.known_user = handlers.similar = boom  # type: ignore[assignment]
    try:
        for fast in (True, False):
            for r in asyncio.run(run(fast)):
                assert r.status_code == 500, (fast, r.text)
                assert r.json() == {"error": "internal_error", "detail": "internal server error"}
    finally:
        handlers.known_user, handlers.similar = saved


# ---------------------------------------------------------------------- start-up, health


def _serve(model: Path, *args: str, key: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_API_KEY"}
    if key is not None:
        env["MOVIEREC_API_KEY"] = key
    cmd = [sys.executable, "-m", "movierec", "serve", "--model", str(model), *args]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_non_loopback_bind_without_key_refuses_to_start(hmodels: dict[str, Any]) -> None:
    port = str(_free_port())
    for host in ("0.0.0.0", "::", "example.invalid"):
        proc = _serve(hmodels["m1"], "--host", host, "--port", port, key=None)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out
        errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
        assert (
            len(errors) == 1
            and "without an API key" in errors[0]
            and "--insecure-no-key" in errors[0]
        )
    for args, key in ((["--insecure-no-key"], None), ([], API_KEY)):
        proc = _serve(hmodels["m1"], "--host", "0.0.0.0", "--port", port, *args, key=key)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            r = httpx.post(f"http://127.0.0.1:{port}/admin/reload", params={"wait": "true"})
            assert r.status_code == (200 if key is None else 401)  # the key, when set
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        if key is None:
            assert "--insecure-no-key" in out and "WARNING" in out


def test_health_version_differs_outside_model_json(
    hclient: httpx.Client, hmodels: dict[str, Any]
) -> None:
    """Two folders with the same model.json but different titles get different versions."""
    a = _copy(hmodels, "titles-a")
    b = _copy(hmodels, "titles-b")
    index = b / "serving" / "movies.json"
    index.write_text(index.read_text(encoding="utf-8").replace("Toy Story", "Toy Storm"))
    reseal(b)
    assert (a / "model.json").read_bytes() == (b / "model.json").read_bytes()
    versions = []
    try:
        for name in ("titles-a", "titles-b"):
            r = _reload(hclient, name)
            assert r.status_code == 200, r.text
            versions.append(hclient.get("/health").json()["model"]["version"])
        assert versions[0] != versions[1]
        assert all(re.fullmatch(r"[0-9a-f]{12}", v) for v in versions)
        assert versions == [Scorer.load(a).version, Scorer.load(b).version]
    finally:
        assert _reload(hclient, "live").status_code == 200
