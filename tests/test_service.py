"""The HTTP service (issue 6): a real uvicorn server on 127.0.0.1, spoken to over HTTP.

Models are trained with the local engine (no JVM) on ml-latest-small. One server process
(``python -m movierec serve``) serves the whole module; tests that reload models put the
original model back before they finish.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from movierec.engines import ALSParams, get_engine
from movierec.errors import MovierecError
from movierec.model_io import save_model
from movierec.schema import GENRES, ITEM, RATING, TITLE, USER
from movierec.service.scorer import Scorer

API_KEY = "test-key-123"
FOLD_IN_RTOL = 1e-7
"""max |fold-in − trained| / max |trained| per user. Measured on ml-latest-small: 5.6e-8
(biased-als) — float32 rounding of the stored factors (2^-24 ≈ 6e-8 relative)."""


# ---------------------------------------------------------------------- fixtures


def _read_small(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    r = pd.read_csv(ml_small / "ratings.csv")
    ratings = pd.DataFrame(
        {
            USER: r["userId"].astype(np.int32),
            ITEM: r["movieId"].astype(np.int32),
            RATING: r["rating"].astype(np.float64),
        }
    )
    m = pd.read_csv(ml_small / "movies.csv")
    movies = pd.DataFrame(
        {ITEM: m["movieId"].astype(np.int32), TITLE: m["title"], GENRES: m["genres"]}
    )
    return ratings, movies


def _train(
    ratings: pd.DataFrame, movies: pd.DataFrame | None, out: Path, **params: Any
) -> tuple[Path, Any]:
    engine = get_engine("local")
    data = engine.data(ratings)
    model = engine.fit(data, ALSParams(**params))
    save_model(model, out, engine="local", train=ratings, movies=movies)
    return out, model


@pytest.fixture(scope="module")
def small(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _read_small(ml_small)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, small: Any) -> dict[str, Any]:
    """A model root with: m1 (biased-als), m2 (plain als), bad (damaged), and outside/."""
    ratings, movies = small
    base = tmp_path_factory.mktemp("service")
    root = base / "models"
    root.mkdir()
    m1, model1 = _train(
        ratings, movies, root / "m1", rank=10, reg_param=0.15, max_iter=10, model="biased-als"
    )
    m2, model2 = _train(ratings, movies, root / "m2", rank=8, reg_param=0.1, max_iter=8)
    bad = root / "bad"
    shutil.copytree(m1, bad)
    (bad / "factors.npz").write_bytes(b"PK\x03\x04 this is not a zip file")
    future = root / "future"
    shutil.copytree(m1, future)
    meta = json.loads((future / "model.json").read_text())
    meta["format_version"] = 99
    (future / "model.json").write_text(json.dumps(meta))
    outside = base / "outside"
    shutil.copytree(m2, outside)
    (root / "link").symlink_to(outside, target_is_directory=True)
    return {
        "root": root,
        "m1": m1,
        "m2": m2,
        "bad": bad,
        "future": future,
        "outside": outside,
        "model1": model1,
        "model2": model2,
        "ratings": ratings,
        "movies": movies,
    }


def reseal(folder: Path) -> None:
    """Re-write a model folder's checksum manifest after a test changed its files on
    purpose, so the checks *behind* the manifest are what refuses (or accepts) them."""
    from movierec.model_format import write_manifest

    write_manifest(folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    """Poll ``url``/health until it answers 200; fail with the server's log if the process
    exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.05)


class Server:
    def __init__(self, model: Path, root: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        env = dict(os.environ, MOVIEREC_API_KEY=API_KEY)
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "movierec",
                "serve",
                "--model",
                str(model),
                "--port",
                str(self.port),
                "--model-root",
                str(root),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.url, self.proc, log)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(models["m1"], models["root"], tmp_path_factory.mktemp("log") / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


ADMIN = {"X-API-Key": API_KEY}


def _reload(client: httpx.Client, model_dir: str | None = None, **kw: Any) -> httpx.Response:
    body = {"model_dir": model_dir} if model_dir is not None else None
    return client.post("/admin/reload", params={"wait": "true"}, json=body, headers=ADMIN, **kw)


def _version(client: httpx.Client) -> str:
    return str(client.get("/health").json()["model"]["version"])


# ---------------------------------------------------------------------- operations


def test_health_reports_model(client: httpx.Client, models: dict[str, Any]) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    m = body["model"]
    assert m["model"] == "biased-als" and m["rank"] == 10
    assert (m["users"], m["movies"], m["ratings"]) == (610, 9724, 100836)
    assert m["path"] == str(models["m1"].resolve())
    assert len(m["version"]) == 12 and m["loaded_at"] and m["titles"] is True


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of a Prometheus text page by (name, labels), parsed by prometheus_client
    (label order in the text is the library's choice)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_prometheus_text(client: httpx.Client) -> None:
    client.get("/users/1/recommendations")
    client.get("/users/no-such-user/recommendations")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    samples = _samples(text)
    route = ("route", "/users/{user_id}/recommendations")
    get = ("method", "GET")
    assert ("movierec_http_requests_total", frozenset({get, route, ("status", "200")})) in samples
    assert (
        "movierec_http_request_errors_total",
        frozenset({get, route, ("status", "404")}),
    ) in samples
    assert (
        "movierec_http_request_duration_seconds_bucket",
        frozenset({get, route, ("le", "+Inf")}),
    ) in samples
    assert "# TYPE movierec_http_request_duration_seconds histogram" in text
    assert "movierec_model_info{" in text


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/health",
        "/metrics",
        "/users/{user_id}/recommendations",
        "/recommendations",
        "/movies/{movie_id}/similar",
        "/users/{user_id}/recommendations/{movie_id}/explain",
        "/admin/reload",
    ):
        assert p in paths, p
    params = {p["name"] for p in paths["/users/{user_id}/recommendations"]["get"]["parameters"]}
    assert {"user_id", "k", "genre", "exclude", "fallback"} <= params
    assert client.get("/docs").status_code == 200


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


# ---------------------------------------------------------------------- known users


def test_known_user_matches_engine_top_k(client: httpx.Client, models: dict[str, Any]) -> None:
    """Same lists and scores as the engine's batch recommend (seen movies excluded)."""
    engine = get_engine("local")
    ratings = models["ratings"]
    users = [1, 42, 414, 610]
    expected = models["model1"].recommend(np.array(users), 10, engine.data(ratings))
    titles = models["movies"].set_index(ITEM)[TITLE]
    for u in users:
        r = client.get(f"/users/{u}/recommendations", params={"k": 10})
        assert r.status_code == 200
        body = r.json()
        assert body["source"] == "model" and body["user_id"] == str(u)
        items = body["items"]
        want = expected[expected[USER] == u]
        assert [i["movie_id"] for i in items] == want[ITEM].tolist()
        np.testing.assert_allclose([i["score"] for i in items], want["score"], rtol=0, atol=1e-12)
        assert items[0]["title"] == titles[items[0]["movie_id"]]
        assert isinstance(items[0]["genres"], list)
        seen = set(ratings.loc[ratings[USER] == u, ITEM])
        assert not seen & {i["movie_id"] for i in items}


def test_genre_filter_and_exclude(client: httpx.Client) -> None:
    base = client.get("/users/1/recommendations", params={"k": 5}).json()["items"]
    top = base[0]["movie_id"]
    r = client.get("/users/1/recommendations", params={"k": 5, "exclude": f"{top},999999"})
    items = r.json()["items"]
    assert [i["movie_id"] for i in items] == [i["movie_id"] for i in base[1:]] + [
        items[-1]["movie_id"]
    ]
    comedy = client.get("/users/1/recommendations", params={"k": 20, "genre": "comedy"}).json()
    assert len(comedy["items"]) == 20
    assert all("Comedy" in i["genres"] for i in comedy["items"])
    both = client.get(
        "/users/1/recommendations", params=[("k", "20"), ("genre", "Horror"), ("genre", "War")]
    ).json()["items"]
    assert all({"Horror", "War"} & set(i["genres"]) for i in both)
    scores = [i["score"] for i in both]
    assert scores == sorted(scores, reverse=True)


def test_k_bounds(client: httpx.Client) -> None:
    assert len(client.get("/users/1/recommendations", params={"k": 1}).json()["items"]) == 1
    assert len(client.get("/users/1/recommendations", params={"k": 1000}).json()["items"]) == 1000


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"k": 0}, "query.k"),
        ({"k": 1001}, "query.k"),
        ({"k": "ten"}, "query.k"),
        ({"fallback": "maybe"}, "query.fallback"),
        ({"genre": "Nope"}, "unknown genre 'Nope'"),
        ({"exclude": ",".join(["1"] * 10_001)}, "query.exclude"),
    ],
)
def test_bad_parameters_are_422(client: httpx.Client, params: dict[str, Any], needle: str) -> None:
    r = client.get("/users/1/recommendations", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_request" and needle in body["detail"]


def test_unknown_user_404_or_popular_fallback(client: httpx.Client, models: dict[str, Any]) -> None:
    r = client.get("/users/123456/recommendations")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found" and "123456" in r.json()["detail"]
    r = client.get("/users/123456/recommendations", params={"k": 3, "fallback": "popular"})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "popular"
    counts = models["ratings"][ITEM].value_counts()
    assert [i["movie_id"] for i in body["items"]] == counts.index[:3].tolist()
    assert [i["score"] for i in body["items"]] == counts.iloc[:3].astype(float).tolist()
    r = client.get(
        "/users/123456/recommendations",
        params={"k": 2, "fallback": "popular", "exclude": str(counts.index[0])},
    )
    assert [i["movie_id"] for i in r.json()["items"]] == counts.index[1:3].tolist()


# ---------------------------------------------------------------------- fold-in


def test_fold_in_reproduces_trained_user_factors(models: dict[str, Any]) -> None:
    for name in ("m1", "m2"):
        scorer = Scorer.load(models[name])
        worst = 0.0
        for u in range(scorer.n_users):
            rows, r = scorer.seen(u)
            fold = scorer.fold_in(rows, r)
            trained = scorer.user_factors[u].astype(np.float64)
            worst = max(worst, float(np.abs(fold.x - trained).max() / np.abs(trained).max()))
            if scorer.biased:
                assert fold.user_bias == pytest.approx(scorer.user_bias[u], abs=1e-12)
        assert worst <= FOLD_IN_RTOL, (name, worst)


def test_post_fold_in_of_own_ratings_gives_own_list(
    client: httpx.Client, models: dict[str, Any]
) -> None:
    ratings = models["ratings"]
    for u in (1, 77, 600):
        mine = ratings[ratings[USER] == u]
        body = {
            "ratings": [
                {"movie_id": int(m), "rating": float(v)} for m, v in zip(mine[ITEM], mine[RATING])
            ]
        }
        folded = client.post("/recommendations", params={"k": 10}, json=body)
        assert folded.status_code == 200, folded.text
        f = folded.json()
        assert f["source"] == "fold-in" and f["rated"] == len(mine) and f["unknown_movies"] == []
        known = client.get(f"/users/{u}/recommendations", params={"k": 10}).json()["items"]
        assert [i["movie_id"] for i in f["items"]] == [i["movie_id"] for i in known]
        np.testing.assert_allclose(
            [i["score"] for i in f["items"]], [i["score"] for i in known], atol=1e-5
        )


def test_fold_in_new_user(client: httpx.Client) -> None:
    body = {
        "ratings": [
            {"movie_id": 1, "rating": 5},
            {"movie_id": 260, "rating": 4.5},
            {"movie_id": "1196", "rating": 4},
            {"movie_id": 99999999, "rating": 3},
        ]
    }
    r = client.post("/recommendations", params={"k": 5, "exclude": "2571"}, json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["rated"] == 3 and out["unknown_movies"] == [99999999]
    ids = [i["movie_id"] for i in out["items"]]
    assert len(ids) == 5 and not {1, 260, 1196, 2571} & set(ids)


@pytest.mark.parametrize(
    ("body", "params", "needle"),
    [
        ({"ratings": [{"movie_id": 99999999, "rating": 4}]}, {}, "none of the rated movies"),
        ({"ratings": []}, {}, "none of the rated movies"),
        (
            {"ratings": [{"movie_id": 1, "rating": 4}, {"movie_id": 1, "rating": 3}]},
            {},
            "more than once",
        ),
        ({"ratings": [{"movie_id": 1, "rating": 50}]}, {}, "outside the model's scale"),
        ({"ratings": [{"movie_id": 1}]}, {}, "rating"),
        ({"ratings": [{"movie_id": 1, "rating": 4, "extra": 1}]}, {}, "extra"),
        ({"nope": []}, {}, "ratings"),
        ({"ratings": [{"movie_id": 1, "rating": 4}]}, {"k": 0}, "query.k"),
    ],
)
def test_fold_in_invalid_is_422(
    client: httpx.Client, body: dict[str, Any], params: dict[str, Any], needle: str
) -> None:
    r = client.post("/recommendations", params=params, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and needle in json.dumps(r.json())


def test_fold_in_malformed_json_and_fallback(client: httpx.Client) -> None:
    r = client.post(
        "/recommendations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = client.post(
        "/recommendations",
        params={"k": 2, "fallback": "popular"},
        json={"ratings": [{"movie_id": 99999999, "rating": 4}]},
    )
    assert r.status_code == 200 and r.json()["source"] == "popular"
    assert len(r.json()["items"]) == 2


def test_body_size_limit(client: httpx.Client) -> None:
    big = {"ratings": [{"movie_id": i, "rating": 4.0} for i in range(40_000)]}
    r = client.post("/recommendations", json=big)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no content-length: counted while streaming
        yield b'{"ratings": ['
        for _ in range(2000):
            yield b'{"movie_id": 1, "rating": 4.0},' * 50
        yield b"]}"

    r = client.post(
        "/recommendations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


# ---------------------------------------------------------------------- similar, explain


def test_similar_movies_cosine(client: httpx.Client, models: dict[str, Any]) -> None:
    r = client.get("/movies/1/similar", params={"k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["movie_id"] == 1 and body["title"] == "Toy Story (1995)"
    items = body["items"]
    assert len(items) == 5 and 1 not in {i["movie_id"] for i in items}
    f = models["model1"].factors()
    y = f.item_factors.astype(np.float64)
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    cos = unit @ unit[np.searchsorted(f.item_ids, 1)]
    cos[np.searchsorted(f.item_ids, 1)] = -np.inf
    best = np.argsort(-cos, kind="stable")[:5]
    assert [i["movie_id"] for i in items] == f.item_ids[best].tolist()
    np.testing.assert_allclose([i["score"] for i in items], cos[best], atol=1e-12)
    g = client.get("/movies/1/similar", params={"k": 5, "genre": "Documentary"}).json()
    assert all("Documentary" in i["genres"] for i in g["items"])
    assert client.get("/movies/424242424/similar").status_code == 404
    assert client.get("/movies/1/similar", params={"k": 0}).status_code == 422


def test_explain_contributions_add_up(client: httpx.Client, models: dict[str, Any]) -> None:
    r = client.get("/users/1/recommendations/318/explain", params={"k": 5})
    assert r.status_code == 200
    e = r.json()
    assert e["movie_id"] == 318 and e["title"].startswith("Shawshank")
    assert e["score"] == pytest.approx(e["baseline"] + e["factor_score"], abs=1e-12)
    assert e["contributions_sum"] == pytest.approx(e["factor_score"], abs=1e-5)
    ratings = models["ratings"]
    mine = dict(zip(*(ratings.loc[ratings[USER] == 1, c] for c in (ITEM, RATING))))
    items = e["items"]
    assert len(items) == 5
    assert all(i["movie_id"] in mine and i["rating"] == mine[i["movie_id"]] for i in items)
    contrib = [i["score"] for i in items]
    assert contrib == sorted(contrib, reverse=True)
    pred = models["model1"].predict(pd.DataFrame({USER: [1], ITEM: [318]}))[0]
    assert e["score"] == pytest.approx(pred, abs=1e-9)
    assert client.get("/users/9999/recommendations/318/explain").status_code == 404
    assert client.get("/users/1/recommendations/424242424/explain").status_code == 404


# ---------------------------------------------------------------------- admin and reload


def test_admin_key_enforced(client: httpx.Client) -> None:
    r = client.post("/admin/reload", params={"wait": "true"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = client.post("/admin/reload", params={"wait": "true"}, headers={"X-API-Key": "wrong"})
    assert r.status_code == 403
    r = client.post(
        "/admin/reload",
        params={"wait": "true"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert r.status_code == 200 and r.json()["status"] == "loaded"


@pytest.mark.parametrize("path", ["../outside", "/etc", "link", "m1/../../outside"])
def test_model_path_escaping_root_refused(
    client: httpx.Client, server: Server, models: dict[str, Any], path: str
) -> None:
    before = _version(client)
    r = _reload(client, path)
    assert r.status_code == 403
    assert "outside the model root" in r.json()["detail"]
    assert _version(client) == before
    assert "reload refused" in server.log()


@pytest.mark.parametrize(("name", "needle"), [("bad", "damaged"), ("future", "version 99")])
def test_corrupt_model_refused_old_keeps_serving(
    client: httpx.Client, server: Server, name: str, needle: str
) -> None:
    before = _version(client)
    r = _reload(client, name)
    assert r.status_code == 422
    assert r.json()["status"] == "refused" and needle in r.json()["error"]
    assert _version(client) == before
    assert client.get("/users/1/recommendations").status_code == 200
    health = client.get("/health").json()
    assert health["reload"]["last"]["status"] == "refused"
    refused = [ln for ln in server.log().splitlines() if "reload refused" in ln and name in ln]
    assert refused and "still serving model " + before in refused[-1]
    metrics = client.get("/metrics").text
    assert 'movierec_model_reloads_total{result="refused"}' in metrics


def test_hot_reload_under_concurrent_load(
    client: httpx.Client, server: Server, models: dict[str, Any]
) -> None:
    """Requests keep flowing while models swap back and forth: no request fails."""
    v1 = _version(client)
    stop = threading.Event()
    failures: list[str] = []
    versions: set[str] = set()
    counts = [0]
    body = {"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 50, "rating": 4}]}

    def hammer(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not stop.is_set():
                try:
                    if i % 2:
                        r = c.get(f"/users/{1 + i}/recommendations", params={"k": 10})
                    else:
                        r = c.post("/recommendations", params={"k": 10}, json=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                counts[0] += 1
                if r.status_code != 200 or len(r.json()["items"]) != 10:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        for target in ("m2", "m1", "m2", "m1"):
            r = _reload(client, target)
            assert r.status_code == 200 and r.json()["status"] == "loaded", r.text
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert counts[0] > 50
    assert len(versions) == 2  # both models answered
    assert _version(client) == v1


def test_reload_in_background_and_conflict(client: httpx.Client) -> None:
    r = client.post("/admin/reload", json={"model_dir": "m2"}, headers=ADMIN)
    assert r.status_code == 202 and r.json()["status"] == "loading"
    deadline = time.monotonic() + 30
    while client.get("/health").json()["reload"]["in_progress"] and time.monotonic() < deadline:
        time.sleep(0.02)
    health = client.get("/health").json()
    assert health["model"]["model"] == "als" and health["reload"]["last"]["status"] == "loaded"
    assert _reload(client, "m1").status_code == 200
    assert client.get("/health").json()["model"]["model"] == "biased-als"


def test_sighup_rereads_model_folder(
    client: httpx.Client, server: Server, models: dict[str, Any]
) -> None:
    root = models["root"]
    live = root / "live"
    shutil.copytree(models["m1"], live)
    try:
        assert _reload(client, "live").status_code == 200
        v1 = _version(client)
        staged = root / ".live-new"
        shutil.copytree(models["m2"], staged)
        old = root / ".live-old"
        os.replace(live, old)
        os.replace(staged, live)
        shutil.rmtree(old)
        server.proc.send_signal(signal.SIGHUP)
        v2 = _version(client)
        deadline = time.monotonic() + 30
        while (v2 == v1 or client.get("/health").json()["reload"]["in_progress"]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
            v2 = _version(client)
        assert v2 != v1
        assert client.get("/health").json()["model"]["model"] == "als"
        assert "SIGHUP received" in server.log()
    finally:
        assert _reload(client, "m1").status_code == 200
        shutil.rmtree(live, ignore_errors=True)


# ---------------------------------------------------------------------- server and scorer


def test_port_in_use_is_a_clear_error(models: dict[str, Any]) -> None:
    from movierec.service.server import DEFAULT_HOST, serve

    assert DEFAULT_HOST == "127.0.0.1"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MovierecError, match=f"127.0.0.1:{port}.*already in use"):
            serve(models["m1"], "127.0.0.1", port)
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "movierec",
                "serve",
                "--model",
                str(models["m1"]),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert cli.returncode == 2
    assert "already in use" in cli.stderr


def test_model_outside_root_at_startup(models: dict[str, Any]) -> None:
    from movierec.errors import ConfigError
    from movierec.service.app import create_app

    with pytest.raises(ConfigError, match="not inside the model root"):
        create_app(models["outside"], model_root=models["root"])


def test_service_does_not_import_pyspark() -> None:
    code = (
        "import movierec.service.app, movierec.service.server, movierec.service.scorer, sys; "
        "assert not any(m.startswith('pyspark') for m in sys.modules); "
        "assert not {'movierec.pipeline', 'movierec.model_io', 'pandas'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_scorer_maps_original_string_ids(small: Any, tmp_path: Path) -> None:
    """Remapped ids (strings): the scorer speaks the original ids in and out."""
    ratings, movies = small
    users, uidx = np.unique(ratings[USER].to_numpy(), return_inverse=True)
    items, iidx = np.unique(ratings[ITEM].to_numpy(), return_inverse=True)
    dense = pd.DataFrame(
        {USER: uidx.astype(np.int32), ITEM: iidx.astype(np.int32), RATING: ratings[RATING]}
    )
    dmovies = movies[movies[ITEM].isin(items)].copy()
    dmovies[ITEM] = np.searchsorted(items, dmovies[ITEM]).astype(np.int32)
    engine = get_engine("local")
    model = engine.fit(engine.data(dense), ALSParams(rank=6, max_iter=5, model="biased-als"))
    out = tmp_path / "strid"
    save_model(
        model,
        out,
        engine="local",
        train=dense,
        movies=dmovies,
        user_ids=np.array([f"u{u}" for u in users]),
        item_ids=np.array([f"m{i}" for i in items]),
    )
    s = Scorer.load(out)
    urow = s.user_row("u1")
    assert urow is not None and s.user_row("1") is None
    rows, scores = s.recommend_user(urow, 5)
    got = s.items(rows, scores)
    assert all(isinstance(i["movie_id"], str) and i["movie_id"].startswith("m") for i in got)
    toy = s.item_row("m1")
    assert toy is not None and s.titles[toy] == "Toy Story (1995)"
    seen = set(ratings.loc[ratings[USER] == 1, ITEM])
    assert not {int(i["movie_id"][1:]) for i in got} & seen


def test_scorer_refuses_inconsistent_folders(models: dict[str, Any], tmp_path: Path) -> None:
    from movierec.errors import ModelError

    for name in ("bad", "future"):
        with pytest.raises(ModelError):
            Scorer.load(models[name])
    mixed = tmp_path / "mixed"
    shutil.copytree(models["m1"], mixed)
    z = dict(np.load(mixed / "factors.npz"))
    z["item_factors"] = z["item_factors"][:, :5]
    np.savez(mixed / "factors.npz", **z)
    with pytest.raises(ModelError, match="damaged or changed"):  # the manifest sees it first
        Scorer.load(mixed)
    reseal(mixed)  # a consistent manifest: the shape checks behind it
    with pytest.raises(ModelError, match="rank 10"):
        Scorer.load(mixed)
    torn = tmp_path / "torn"
    shutil.copytree(models["m1"], torn)
    items = np.load(torn / "serving" / "seen_items.npy")
    np.save(torn / "serving" / "seen_items.npy", items[:-1])
    reseal(torn)
    with pytest.raises(ModelError, match="serving index does not match"):
        Scorer.load(torn)
    with pytest.raises(ModelError, match="not a movierec model folder"):
        Scorer.load(tmp_path)


@pytest.mark.parametrize("layout", ["file", "parts"])
def test_scorer_unsorted_training_file_same_answers(
    models: dict[str, Any], tmp_path: Path, layout: str
) -> None:
    """A training table not sorted by user (radix-grouped at load) gives the same scorer as
    the serving index (``serving/``) does — as one Parquet file, or as a folder of Parquet
    part files (Spark's layout)."""
    shuffled = tmp_path / "shuffled"
    shutil.copytree(models["m1"], shuffled)
    shutil.rmtree(shuffled / "serving")  # read the Parquet file instead of the index
    train = pd.read_parquet(shuffled / "train_ratings.parquet")
    train = train.sample(frac=1.0, random_state=3)
    target = shuffled / "train_ratings.parquet"
    if layout == "file":
        train.to_parquet(target, index=False)
    else:
        target.unlink()
        target.mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(train)), 3)):
            train.iloc[part].to_parquet(target / f"part-{i:05d}.snappy.parquet", index=False)
        (target / "_SUCCESS").write_bytes(b"")
    reseal(shuffled)
    a, b = Scorer.load(models["m1"]), Scorer.load(shuffled)
    assert (models["m1"] / "serving" / "movies.json").is_file()
    assert a.titles == b.titles and a.genres == b.genres and any(a.titles)
    assert np.array_equal(a.seen_indptr, b.seen_indptr)
    assert np.array_equal(a.item_counts, b.item_counts)
    for u in (0, 5, 300, 609):
        ra, rb = a.seen(u), b.seen(u)
        assert dict(zip(ra[0].tolist(), ra[1].tolist())) == dict(
            zip(rb[0].tolist(), rb[1].tolist())
        )
        for x, y in zip(a.recommend_user(u, 10), b.recommend_user(u, 10)):
            assert np.array_equal(x, y)


def test_scorer_top_k_is_exact(models: dict[str, Any]) -> None:
    """The float32 first pass never changes the answer: same rows, scores and tie order as
    scoring every movie exactly."""
    from movierec.service.scorer import top_k

    s = Scorer.load(models["m1"])
    drama = s.genre_mask(["Drama"])
    every = np.arange(s.n_items)
    for u in range(0, s.n_users, 7):
        x = s.user_factors[u].astype(np.float64)
        exact = s._exact(x, float(s.user_bias[u]), every, unit=False)
        exact[s.seen_rows(u)] = -np.inf
        for k, mask in ((1, None), (10, None), (50, drama)):
            e = exact.copy()
            if mask is not None:
                e[~mask] = -np.inf
            want = top_k(e, k)
            rows, scores = s.recommend_user(u, k, mask=mask)
            assert np.array_equal(rows, want) and np.array_equal(scores, e[want])
        i = u % s.n_items
        cos = s._exact(s.item_unit[i], 0.0, every, unit=True)
        cos[i] = -np.inf
        rows, scores = s.similar(i, 10)
        assert np.array_equal(rows, top_k(cos, 10)) and np.array_equal(scores, cos[rows])


def test_threaded_scoring_same_answers(client: httpx.Client, models: dict[str, Any]) -> None:
    """Large catalogues are scored in worker threads: same answers, concurrent requests OK.

    Runs a second real uvicorn server, in a thread of this process, with the offload
    threshold at 0 so the small model takes the threaded path.
    """
    import uvicorn

    from movierec.service.app import create_app

    app = create_app(models["m1"], model_root=models["root"], api_key="", offload_from=0)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        paths = [
            "/users/1/recommendations?k=10",
            "/movies/1/similar?k=10",
            "/users/1/recommendations/318/explain?k=5",
        ]
        for p in paths:
            assert httpx.get(url + p).json()["items"] == client.get(p).json()["items"]
        body = {"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 50, "rating": 4}]}
        want = client.post("/recommendations", json=body).json()["items"]
        results: list[bool] = []

        def worker() -> None:
            with httpx.Client(base_url=url) as c:
                for _ in range(20):
                    results.append(c.post("/recommendations", json=body).json()["items"] == want)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 80 and all(results)
        metrics = httpx.get(url + "/metrics").text
        assert "movierec_first_pass_vectors_total" in metrics
    finally:
        srv.should_exit = True
        thread.join(15)


# ---------------------------------------------------------------------- implicit, run's recommender


@pytest.fixture(scope="module")
def implicit_model(models: dict[str, Any]) -> tuple[Path, Any]:
    ratings, movies = models["ratings"], models["movies"]
    return _train(
        ratings,
        movies,
        models["root"] / "imp",
        rank=10,
        reg_param=0.05,
        max_iter=8,
        model="implicit-als",
        alpha=2.0,
        implicit_solver="cholesky",  # fold-in is the exact solve; CG training stops near it
    )


def test_implicit_fold_in_reproduces_trained_user_factors(
    implicit_model: tuple[Path, Any], models: dict[str, Any]
) -> None:
    """Fold-in solves Spark's implicit system (confidence 1 + alpha·r, regParam·n) with the
    precomputed YᵀY: every user's own ratings give back their trained factors; explain
    decomposes the preference score exactly; scores are x_u·y_i as the engine predicts."""
    path, model = implicit_model
    s = Scorer.load(path)
    assert s.implicit and s.alpha == 2.0 and s.info()["scores"].startswith("preference")
    worst = 0.0
    for u in range(s.n_users):
        rows, r = s.seen(u)
        fold = s.fold_in(rows, r)
        trained = s.user_factors[u].astype(np.float64)
        worst = max(worst, float(np.abs(fold.x - trained).max() / np.abs(trained).max()))
        assert fold.user_bias == 0.0
    assert worst <= FOLD_IN_RTOL, worst
    # An independent dense computation of the implicit objective's minimiser for one user:
    # minimise Σ_i c_i (p_i − x·y_i)² + λ n‖x‖² over *every* movie (c = 1, p = 0 unrated).
    u = 17
    y = s.item_factors.astype(np.float64)
    c = np.ones(s.n_items)
    p = np.zeros(s.n_items)
    rows, r = s.seen(u)
    c[rows] = 1.0 + 2.0 * r.astype(np.float32).astype(np.float64)
    p[rows] = 1.0
    dense = np.linalg.solve(
        (y * c[:, None]).T @ y + 0.05 * len(rows) * np.eye(s.rank),
        (y * (c * p)[:, None]).T @ np.ones(s.n_items),
    )
    np.testing.assert_allclose(s.fold_in(rows, r).x, dense, rtol=1e-9, atol=1e-12)
    e = s.explain(u, 0, 5)
    assert e.baseline == 0.0 and e.score == pytest.approx(e.factor_score, abs=1e-12)
    assert e.contributions_sum == pytest.approx(e.factor_score, abs=1e-6)
    movie = int(s.item_ids[0])
    engine_score = model.predict(pd.DataFrame({USER: [int(s.user_ids[u])], ITEM: [movie]}))[0]
    assert e.score == pytest.approx(float(engine_score), abs=1e-6)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    """`movierec run --engine local` on ml-latest-small with a one-point grid and the
    shipped EASE blend as its recommender."""
    from click.testing import CliRunner

    from movierec.cli import cli

    out = tmp_path_factory.mktemp("run") / "out"
    args = [
        "run", "--engine", "local", "--data", str(ml_small / "ratings.csv"), "--movies",
        str(ml_small / "movies.csv"), "--out", str(out), "-q", "--models", "biased-als",
        "--ranks", "10", "--reg-params", "0.15", "--max-iters", "10", "--folds", "2",
        "--train-fractions", "0.8",
        # the shipped ranker (EASE blended with implicit-als), forced: no validation fits
        "--recommender", "ease",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_run_saves_and_serves_its_recommender(
    run_dir: Path, tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]
) -> None:
    """`run` saves the ranking model beside the rating model; the service answers top-k
    lists (known users and fold-in) from it and explanations from the rating model."""
    summary = json.loads((run_dir / "summary.json").read_text())
    chosen = summary["recommendations"]["recommender"]
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["recommender"]["name"] == chosen
    assert meta["params"]["model"] == "biased-als"
    if chosen not in ("rating-model", "most-popular"):
        sub = json.loads((run_dir / "model" / "recommender" / "model.json").read_text())
        assert sub["params"]["model"] == chosen and meta["recommender"]["path"] == "recommender"
        assert sub["training_data"]["fingerprint"] == meta["training_data"]["fingerprint"]
    srv = Server(run_dir / "model", run_dir, tmp_path_factory.mktemp("log") / "run.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            health = c.get("/health").json()
            assert health["recommender"]["name"] == chosen
            assert health["serving"]["explain"].startswith("biased-als")
            recs = pd.read_parquet(run_dir / "recommendations.parquet")
            ratings = models["ratings"]
            for u in (1, 414):
                got = c.get(f"/users/{u}/recommendations", params={"k": 10}).json()
                want = recs[recs["user_id"] == u].sort_values("rank")
                # The service's list is the one `run` wrote for this user, scores too.
                assert [i["movie_id"] for i in got["items"]] == want["movie_id"].tolist()
                np.testing.assert_allclose(
                    [i["score"] for i in got["items"]], want["score"], rtol=1e-6, atol=1e-9
                )
                mine = ratings[ratings[USER] == u]
                body = {
                    "ratings": [
                        {"movie_id": int(m), "rating": float(v)}
                        for m, v in zip(mine[ITEM], mine[RATING])
                    ]
                }
                folded = c.post("/recommendations", params={"k": 10}, json=body).json()
                assert [i["movie_id"] for i in folded["items"]] == want["movie_id"].tolist()
            e = c.get("/users/1/recommendations/318/explain").json()
            assert e["baseline"] != 0.0  # the biased rating model, not the ranker
            assert e["score"] == pytest.approx(e["baseline"] + e["factor_score"], abs=1e-12)
    finally:
        srv.stop()


def test_most_popular_recommender_is_served(
    models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A model folder whose recommender is most-popular answers top-k lists with the most
    rated unseen movies, marked "source": "popular"."""
    root = tmp_path_factory.mktemp("popular")
    save_model(
        models["model1"],
        root / "m",
        engine="local",
        train=models["ratings"],
        movies=models["movies"],
        recommender={"recommender": "most-popular", "why": "test"},
    )
    ratings = models["ratings"]
    counts = ratings.groupby(ITEM).size()
    order = sorted(counts.index, key=lambda m: (-counts[m], m))
    srv = Server(root / "m", root, tmp_path_factory.mktemp("log") / "pop.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/health").json()["serving"]["recommendations"].startswith("most-popular")
            seen = set(ratings.loc[ratings[USER] == 1, ITEM])
            got = c.get("/users/1/recommendations", params={"k": 5}).json()
            assert got["source"] == "popular"
            assert [i["movie_id"] for i in got["items"]] == [m for m in order if m not in seen][:5]
            assert [i["score"] for i in got["items"]] == [
                float(counts[i["movie_id"]]) for i in got["items"]
            ]
            posted = order[:3]
            body = {"ratings": [{"movie_id": int(m), "rating": 4.0} for m in posted]}
            f = c.post("/recommendations", params={"k": 3}, json=body).json()
            assert f["source"] == "popular" and f["rated"] == 3
            assert [i["movie_id"] for i in f["items"]] == order[3:6]
    finally:
        srv.stop()
