"""The service serves ``ease`` (plain, blended with implicit-als, top-k) and ``ials`` models
(issue 17): scorer answers against the engine's own top-N and an independent numpy
computation, and a real uvicorn server spoken to over HTTP.

Models are trained with the local engine on a slice of ml-latest-small (users <= 150,
movies with >= 3 of their ratings) so the dense B stays small (≈ 2k × 2k).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from movierec.engines import ALSParams, get_engine
from movierec.errors import ModelError
from movierec.model_io import save_model
from movierec.schema import GENRES, ITEM, RATING, TITLE, USER
from movierec.service.scorer import Scorer
from test_service import FOLD_IN_RTOL, Server

USERS = (1, 7, 42, 99, 150)


@pytest.fixture(scope="module")
def data(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    r = pd.read_csv(ml_small / "ratings.csv")
    r = r[r["userId"] <= 150]
    counts = r.groupby("movieId").size()
    r = r[r["movieId"].isin(counts.index[counts >= 3])]
    ratings = pd.DataFrame(
        {
            USER: r["userId"].astype(np.int32),
            ITEM: r["movieId"].astype(np.int32),
            RATING: r["rating"].astype(np.float64),
        }
    ).reset_index(drop=True)
    m = pd.read_csv(ml_small / "movies.csv")
    movies = pd.DataFrame(
        {ITEM: m["movieId"].astype(np.int32), TITLE: m["title"], GENRES: m["genres"]}
    )
    return ratings, movies


def _train(ratings: pd.DataFrame, movies: pd.DataFrame, out: Path, params: ALSParams) -> Any:
    engine = get_engine("local")
    model = engine.fit(engine.data(ratings), params)
    save_model(model, out, engine="local", train=ratings, movies=movies)
    return model


EASE = ALSParams(model="ease", reg_param=50.0, ease_threshold=3.0, seed=1)
BLEND = ALSParams(
    model="ease",
    reg_param=50.0,
    ease_threshold=3.0,
    ease_blend=0.6,
    ease_blend_reg=0.2,
    rank=8,
    max_iter=6,
    alpha=1.0,
    implicit_solver="cholesky",  # the partner's fold-in is the exact solve
    seed=1,
)
TOPK = ALSParams(model="ease", reg_param=50.0, ease_threshold=None, ease_topk=40, seed=1)
IALS = ALSParams(
    model="ials",
    rank=12,
    reg_param=0.005,
    max_iter=6,
    unobserved_weight=0.2,
    reg_exponent=1.0,
    implicit_solver="cholesky",  # the fold-in is the exact solve
    seed=1,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data: Any) -> dict[str, Any]:
    ratings, movies = data
    root = tmp_path_factory.mktemp("ease-models")
    out: dict[str, Any] = {"root": root, "ratings": ratings, "movies": movies}
    for name, params in (("ease", EASE), ("blend", BLEND), ("topk", TOPK), ("ials", IALS)):
        out[name] = _train(ratings, movies, root / name, params)
    return out


def _engine_top(model: Any, ratings: pd.DataFrame, users: Any, k: int = 10) -> pd.DataFrame:
    engine = get_engine("local")
    return model.recommend(np.asarray(users), k, engine.data(ratings))


@pytest.mark.parametrize("name", ["ease", "blend", "topk", "ials"])
def test_scorer_top_k_equals_engine(models: dict[str, Any], name: str) -> None:
    """Known users' top-10 lists and scores are the engine's (seen movies excluded); a
    new user posting a known user's ratings gets the same list (fold-in)."""
    s = Scorer.load(models["root"] / name)
    assert s.kind == ("ials" if name == "ials" else "ease")
    ratings = models["ratings"]
    want = _engine_top(models[name], ratings, USERS)
    for u in USERS:
        urow = s.user_row(str(u))
        assert urow is not None
        rows, scores = s.recommend_user(urow, 10)
        w = want[want[USER] == u]
        assert s.item_ids[rows].tolist() == w[ITEM].tolist(), (name, u)
        np.testing.assert_allclose(scores, w["score"], rtol=1e-9, atol=1e-9)
        seen_rows, seen_r = s.seen(urow)
        fold = s.fold_in(seen_rows, seen_r)
        rows2, scores2 = s.recommend_vector(fold, 10)
        assert rows2.tolist() == rows.tolist(), (name, u)
        np.testing.assert_allclose(scores2, scores, rtol=1e-6, atol=1e-6)


def _dense_b(folder: Path) -> np.ndarray:
    """B from the folder's files, read with plain numpy (independent of the service)."""
    eng = folder / "engine"
    meta = json.loads((eng / "ease.json").read_text())
    n = len(np.load(eng / "item_ids.npy"))
    if meta["weights"] == "dense":
        return np.load(eng / "weights.npy")
    ip, ix, vals = (np.load(eng / f) for f in ("weights_indptr.npy", "weights_indices.npy",
                                               "weights_values.npy"))  # fmt: skip
    b = np.zeros((n, n), dtype=np.float32)
    for j in range(n):
        b[j, ix[ip[j] : ip[j + 1]]] = vals[ip[j] : ip[j + 1]]
    return b


@pytest.mark.parametrize("name", ["ease", "blend", "topk"])
def test_ease_scores_against_numpy(models: dict[str, Any], name: str) -> None:
    """Plain EASE: s_u = Σ of the B rows of the user's movies rated >= threshold; blend:
    (1−w)·z(s_u) + w·z(Y x_u), z over the movies outside X_u; similar movies: the top of B's row;
    explain: B[j, m] per liked movie, adding up to X_u·B at m."""
    folder = models["root"] / name
    s = Scorer.load(folder)
    b = _dense_b(folder).astype(np.float64)
    params = models[name].params
    ratings = models["ratings"]
    item_ids = s.item_ids
    for u in USERS[:3]:
        mine = ratings[ratings[USER] == u]
        liked = mine if params.ease_threshold is None else mine[mine[RATING] >= 3.0]
        x = np.isin(item_ids, liked[ITEM].to_numpy()).astype(np.float64)
        ease = x @ b
        urow = s.user_row(str(u))
        assert urow is not None
        if params.ease_blend > 0:
            uf = s.user_factors[urow].astype(np.float64)
            partner = s.item_factors.astype(np.float64) @ uf

            def z(v: np.ndarray, out: np.ndarray = x == 0) -> np.ndarray:
                return (v - v[out].mean()) / v[out].std()  # measured outside X_u

            expected = 0.4 * z(ease) + 0.6 * z(partner)
        else:
            expected = ease
        got = s.first_pass(s.query_user(urow))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
        m = int(np.argmax(np.where(x > 0, -np.inf, expected)))
        e = s.explain(urow, m, 500)
        assert e.factor_score == pytest.approx(float(ease[m]), abs=1e-9)
        assert e.contributions_sum == pytest.approx(float(ease[m]), abs=1e-9)
        assert e.score == pytest.approx(float(expected[m]), abs=1e-9)
    irow = 5
    sim_rows, sim_scores = s.similar(irow, 8)
    row = b[irow].copy()
    row[irow] = -np.inf
    order = np.lexsort((np.arange(len(row)), -row))[:8]
    assert sim_rows.tolist() == order.tolist()
    np.testing.assert_allclose(sim_scores, row[order], rtol=0, atol=1e-12)
    info = s.info()
    assert info["model"] == "ease" and info["ease"]["blend"] == params.ease_blend
    dense = info["ease"]["weights"] == "dense"
    assert dense == (params.ease_topk == 0)
    assert info["ease"]["memory_mapped"] is dense  # Linux: a sealed memfd mapping


def test_ease_weights_are_sealed_copies(models: dict[str, Any], tmp_path: Path) -> None:
    """The mapped B is a verified copy: changing weights.npy afterwards changes nothing
    served, and a folder whose weights.npy differs from the manifest is refused."""
    folder = tmp_path / "m"
    shutil.copytree(models["root"] / "ease", folder)
    s = Scorer.load(folder)
    urow = s.user_row("7")
    assert urow is not None
    before = s.recommend_user(urow, 10)
    weights = folder / "engine" / "weights.npy"
    arr = np.load(weights)
    arr[:] = 0.0
    np.save(weights, arr)
    after = s.recommend_user(urow, 10)
    assert before[0].tolist() == after[0].tolist()
    np.testing.assert_array_equal(before[1], after[1])
    with pytest.raises(ModelError, match="damaged or changed"):
        Scorer.load(folder)


def test_ials_fold_in_reproduces_trained_factors(models: dict[str, Any]) -> None:
    """The service's ials fold-in solves Rendle et al.'s system with the training
    regulariser: every user's own movies give back their trained factors, equal to an
    independent dense minimisation of the iALS loss for one user; explain adds up."""
    s = Scorer.load(models["root"] / "ials")
    assert s.ials and s.info()["unobserved_weight"] == 0.2
    worst = 0.0
    for u in range(s.n_users):
        rows, r = s.seen(u)
        fold = s.fold_in(rows, r)
        trained = s.user_factors[u].astype(np.float64)
        worst = max(worst, float(np.abs(fold.x - trained).max() / np.abs(trained).max()))
    assert worst <= 10 * FOLD_IN_RTOL, worst
    # minimise Σ_{i∈I}(1 − x·y_i)² + α0 Σ_all (x·y_i)² + λ(|I| + α0·N)^ν ‖x‖² directly
    u = 3
    rows, r = s.seen(u)
    y = s.item_factors.astype(np.float64)
    a = 0.2 * y.T @ y + y[rows].T @ y[rows] + 0.005 * (len(rows) + 0.2 * s.n_items) * np.eye(12)
    dense = np.linalg.solve(a, y[rows].sum(axis=0))
    np.testing.assert_allclose(s.fold_in(rows, r).x, dense, rtol=1e-6, atol=1e-7)
    e = s.explain(u, 0, 5)
    assert e.contributions_sum == pytest.approx(e.factor_score, abs=1e-5)


@pytest.fixture(scope="module")
def server(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        models["root"] / "blend", models["root"], tmp_path_factory.mktemp("log") / "ease.log"
    )
    yield srv
    srv.stop()


def test_http_serves_blended_ease(server: Server, models: dict[str, Any]) -> None:
    """Over HTTP: /health describes the EASE model, known users get the engine's lists,
    posting a user's ratings gives the same list, similar movies come from B."""
    ratings = models["ratings"]
    want = _engine_top(models["blend"], ratings, USERS)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        health = c.get("/health").json()
        assert health["model"]["model"] == "ease"
        assert health["model"]["ease"]["blend"] == 0.6
        assert health["model"]["scores"].startswith("EASE")
        for u in USERS[:3]:
            got = c.get(f"/users/{u}/recommendations", params={"k": 10}).json()
            w = want[want[USER] == u]
            assert got["source"] == "model"
            assert [i["movie_id"] for i in got["items"]] == w[ITEM].tolist()
            np.testing.assert_allclose([i["score"] for i in got["items"]], w["score"], atol=1e-9)
            mine = ratings[ratings[USER] == u]
            body = {
                "ratings": [
                    {"movie_id": int(m), "rating": float(v)}
                    for m, v in zip(mine[ITEM], mine[RATING])
                ]
            }
            f = c.post("/recommendations", params={"k": 10}, json=body).json()
            assert f["source"] == "fold-in"
            assert [i["movie_id"] for i in f["items"]] == w[ITEM].tolist()
        # a brand-new user who liked two movies and disliked one
        new = {
            "ratings": [
                {"movie_id": 1, "rating": 5.0},
                {"movie_id": 260, "rating": 4.5},
                {"movie_id": 2, "rating": 1.0},
            ]
        }
        f = c.post("/recommendations", params={"k": 5}, json=new).json()
        assert f["source"] == "fold-in" and len(f["items"]) == 5
        assert not {1, 260, 2} & {i["movie_id"] for i in f["items"]}
        sim = c.get("/movies/1/similar", params={"k": 5})
        assert sim.status_code == 200, sim.text
        assert len(sim.json()["items"]) == 5
        e = c.get(f"/users/{USERS[0]}/recommendations/{want[ITEM].iloc[0]}/explain").json()
        assert e["definition"].startswith("ease")
        assert e["contributions_sum"] == pytest.approx(e["factor_score"], abs=1e-9)


def test_http_serves_ials(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    ratings = models["ratings"]
    want = _engine_top(models["ials"], ratings, USERS[:2])
    srv = Server(
        models["root"] / "ials", models["root"], tmp_path_factory.mktemp("log") / "ials.log"
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/health").json()["model"]["model"] == "ials"
            for u in USERS[:2]:
                w = want[want[USER] == u]
                got = c.get(f"/users/{u}/recommendations", params={"k": 10}).json()
                assert [i["movie_id"] for i in got["items"]] == w[ITEM].tolist()
                mine = ratings[ratings[USER] == u]
                body = {
                    "ratings": [
                        {"movie_id": int(m), "rating": float(v)}
                        for m, v in zip(mine[ITEM], mine[RATING])
                    ]
                }
                f = c.post("/recommendations", params={"k": 10}, json=body).json()
                assert [i["movie_id"] for i in f["items"]] == w[ITEM].tolist()
    finally:
        srv.stop()
