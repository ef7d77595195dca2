"""``ials`` (Rendle et al.'s iALS) in the local engine, and the CG solve of both implicit
models against the exact one: half-steps against a dense numpy reference of the loss, the
objective, fold-in, save/load, Spark's refusal, ranking quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.baselines import MostPopular
from movierec.config import IALS_DEFAULTS, ALSConfig, build_config
from movierec.engines.base import ALSParams
from movierec.engines.local_als import LocalData, LocalEngine, implicit_half_step
from movierec.errors import ConfigError, ModelError
from movierec.ials import fold_in
from movierec.metrics import catalogue_top_k
from movierec.schema import ITEM, RATING, USER
from movierec.split import random_split

SMALL = ALSParams(model="ials", rank=6, reg_param=0.02, unobserved_weight=0.3, max_iter=6, seed=3)


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    df = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    return df.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})


@pytest.fixture(scope="module")
def split(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return random_split(ratings, 0.2, seed=42)


@pytest.fixture(scope="module")
def engine() -> LocalEngine:
    return LocalEngine()


@pytest.fixture(scope="module")
def handle(engine: LocalEngine, split: tuple[pd.DataFrame, pd.DataFrame]) -> LocalData:
    return engine.data(split[0])


def tiny() -> tuple[pd.DataFrame, LocalData, np.ndarray]:
    """30 users × 25 movies, about a third rated; some values ≤ 0 (not observed by iALS).
    Returns the table, its LocalData and the dense user × movie value matrix (0 = none)."""
    rng = np.random.default_rng(0)
    rows = [
        (u, 100 + i, float(rng.choice([-1.0, 0.0, 0.5, 3.0, 5.0], p=[0.1, 0.1, 0.2, 0.3, 0.3])))
        for u in range(1, 31)
        for i in range(25)
        if rng.random() < 0.35
    ]
    df = pd.DataFrame(rows, columns=[USER, ITEM, RATING]).astype({USER: np.int32, ITEM: np.int32})
    data = LocalData(df)
    dense = np.zeros((data.n_users, data.n_items))
    dense[np.searchsorted(data.user_ids, df[USER]), np.searchsorted(data.item_ids, df[ITEM])] = df[
        RATING
    ]
    return df, data, dense


def dense_solutions(y: np.ndarray, values: np.ndarray, p: ALSParams) -> np.ndarray:
    """Every row's minimiser of its part of the loss written out over all |Y| columns:
    Σ_j (α0 + o_j)·s_j² − 2·Σ_j o_j·s_j + λ(|o| + α0·|Y|)^ν‖x‖² with s_j = x·y_j and
    o_j = [v_j > 0], i.e. (Yᵀ diag(α0 + o) Y + reg·I) x = Yᵀo, solved by numpy."""
    out = []
    for v in values:
        o = (v > 0).astype(np.float64)
        reg = p.reg_param * (o.sum() + p.unobserved_weight * len(y)) ** p.reg_exponent
        a = y.T @ ((p.unobserved_weight + o)[:, None] * y) + reg * np.eye(y.shape[1])
        out.append(np.linalg.solve(a, y.T @ o))
    return np.array(out)


def dense_loss(x: np.ndarray, y: np.ndarray, dense: np.ndarray, p: ALSParams) -> float:
    """Rendle et al.'s loss, pair by pair over the full user × movie matrix."""
    s = x @ y.T
    o = dense > 0
    a0, nu = p.unobserved_weight, p.reg_exponent
    reg_u = (o.sum(axis=1) + a0 * y.shape[0]) ** nu
    reg_i = (o.sum(axis=0) + a0 * x.shape[0]) ** nu
    penalty = p.reg_param * (reg_u @ np.sum(x**2, axis=1) + reg_i @ np.sum(y**2, axis=1))
    return float(np.sum((s[o] - 1.0) ** 2) + a0 * np.sum(s**2) + penalty)


# --- config -----------------------------------------------------------------------------------


def test_config_defaults_live_in_config() -> None:
    cfg = ALSConfig(model="ials")
    assert (cfg.rank, cfg.reg_param, cfg.max_iter) == (
        IALS_DEFAULTS["rank"],
        IALS_DEFAULTS["reg_param"],
        IALS_DEFAULTS["max_iter"],
    )
    assert ALSConfig(model="ials", rank=7).rank == 7
    params = ALSParams.from_config(
        build_config(overrides={"als": {"model": "ials", "unobserved_weight": 0.7}}).als, seed=1
    )
    assert params.ials and params.implicit and not params.biased
    assert params.unobserved_weight == 0.7 and params.reg_exponent == cfg.reg_exponent
    # ALSParams' own defaults are read from the config, not repeated.
    plain = ALSParams()
    for name in ("implicit_solver", "cg_steps", "unobserved_weight", "reg_exponent", "init_std"):
        assert getattr(plain, name) == getattr(ALSConfig(), name), name
    with pytest.raises(ConfigError, match="ials scores are not ratings"):
        build_config(overrides={"tuning": {"models": ["ials"], "objective": "rmse"}})
    with pytest.raises(ConfigError, match="implicit_solver"):
        build_config(overrides={"als": {"implicit_solver": "lu"}})


# --- one half-step, the objective, fold-in ------------------------------------------------


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_half_steps_minimise_the_written_out_loss(solver: str) -> None:
    _, data, dense = tiny()
    rng = np.random.default_rng(1)
    y = rng.standard_normal((data.n_items, SMALL.rank)).astype(np.float32)
    steps = {"cg_steps": 60} if solver == "cg" else {}
    params = ALSParams(**{**SMALL.to_dict(), "implicit_solver": solver, **steps})
    tol = {"rtol": 1e-5, "atol": 1e-6} if solver == "cholesky" else {"rtol": 1e-3, "atol": 1e-4}
    users = implicit_half_step(data, y, params, users=True)
    np.testing.assert_allclose(users, dense_solutions(y.astype(np.float64), dense, params), **tol)
    items = implicit_half_step(data, users, params, users=False)
    want = dense_solutions(users.astype(np.float64), dense.T, params)
    np.testing.assert_allclose(items, want, **tol)
    # ν, α0 and λ all enter: other values give other factors.
    for change in ({"reg_exponent": 0.5}, {"unobserved_weight": 0.1}, {"reg_param": 0.05}):
        other = implicit_half_step(data, y, ALSParams(**{**params.to_dict(), **change}))
        assert np.abs(other - users).max() > 1e-3
    with pytest.raises(ConfigError, match="not an implicit model"):
        implicit_half_step(data, y, ALSParams(rank=6))


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_objective_decreases_and_is_the_written_out_loss(solver: str, engine: LocalEngine) -> None:
    _, data, dense = tiny()
    params = ALSParams(**{**SMALL.to_dict(), "implicit_solver": solver, "max_iter": 10})
    model = engine.fit(data, params, track_objective=True)
    history = model.history
    assert len(history) == 10
    assert np.all(np.diff(history) <= 1e-7 * np.abs(history[1:])), history
    x = model.user_factors.astype(np.float64)
    y = model.item_factors.astype(np.float64)
    assert history[-1] == pytest.approx(dense_loss(x, y, dense, params), rel=1e-9)


def test_fold_in_reproduces_trained_factors(engine: LocalEngine, handle: LocalData) -> None:
    """Training ends with an exact user half-step against the final item factors, so folding
    a training user's own movies in gives back that user's factors."""
    params = ALSParams(
        model="ials", rank=24, reg_param=0.01, unobserved_weight=0.3, reg_exponent=1.0,
        max_iter=4, implicit_solver="cholesky",
    )  # fmt: skip
    model = engine.fit(handle, params)
    train = handle.ratings
    gram = model.item_factors.astype(np.float64).T @ model.item_factors.astype(np.float64)
    busiest = int(train[USER].value_counts().idxmax())
    scale = float(np.abs(model.user_factors).max())
    for user in (1, 68, 414, busiest):
        movies = train.loc[train[USER] == user, ITEM].to_numpy()
        row = int(np.searchsorted(model.user_ids, user))
        got = model.fold_in(movies)
        np.testing.assert_allclose(got, model.user_factors[row], rtol=1e-4, atol=1e-5 * scale)
        rows = np.searchsorted(model.item_ids, movies)
        direct = fold_in(
            model.item_factors, rows, reg_param=0.01, unobserved_weight=0.3, reg_exponent=1.0,
            gram=gram,
        )  # fmt: skip
        np.testing.assert_allclose(direct, got, rtol=1e-5, atol=1e-6 * scale)
    # Unknown movies are ignored; a model of another kind has no ials fold-in.
    np.testing.assert_array_equal(model.fold_in([10**8]), np.zeros(24, np.float32))
    other = engine.fit(handle, ALSParams(rank=4, max_iter=1))
    with pytest.raises(ModelError, match="ials"):
        other.fold_in([1])


# --- engines, persistence -----------------------------------------------------------------


def test_spark_engine_refuses_ials() -> None:
    """Local-only, with a one-line error that says so (before any JVM work)."""
    from movierec.engines.spark_als import SparkEngine

    with pytest.raises(ConfigError, match="local-only") as info:
        SparkEngine(None).fit(None, ALSParams(model="ials"))  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and "--engine local" in str(info.value)


def test_save_load_round_trip(tmp_path: Path, engine: LocalEngine) -> None:
    df, data, _ = tiny()
    model = engine.fit(data, SMALL)
    model.save(tmp_path / "m")
    loaded = engine.load(tmp_path / "m", SMALL)
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))
    np.testing.assert_array_equal(loaded.factors().user_factors, model.user_factors)
    with pytest.raises(ModelError, match="ials"):
        engine.load(tmp_path / "m", ALSParams(**{**SMALL.to_dict(), "model": "implicit-als"}))


# --- ranking: CG within 0.003 NDCG@10 of the exact solve --------------------------------------


def ndcg(model: object, handle: LocalData, test: pd.DataFrame) -> float:
    recs = model.recommend(np.unique(test[USER].to_numpy()), 10, handle)  # type: ignore[attr-defined]
    return float(catalogue_top_k(recs, test, 10, 3.0)["ndcg"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["implicit-als", "ials"])
def test_cg_ranks_as_well_as_the_exact_solve(
    kind: str, engine: LocalEngine, handle: LocalData, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """ml-latest-small hold-out (random 20 %, seed 42), NDCG@10 with relevance >= 3:
    implicit-als as ``run`` ships it (rank 50, regParam 0.2, 15 iterations, alpha 1) and
    ials with its defaults, each by 3 warm-started CG steps and by Cholesky."""
    test = split[1]
    if kind == "implicit-als":
        base = ALSParams(rank=50, reg_param=0.2, max_iter=15, alpha=1.0, model="implicit-als")
    else:
        base = ALSParams.from_config(ALSConfig(model="ials"), seed=42)
    scores = {
        solver: ndcg(
            engine.fit(handle, ALSParams(**{**base.to_dict(), "implicit_solver": solver})),
            handle,
            test,
        )
        for solver in ("cg", "cholesky")
    }
    assert abs(scores["cg"] - scores["cholesky"]) <= 0.003, scores
    popular = (
        MostPopular()
        .fit(handle.ratings)
        .recommend(np.unique(test[USER].to_numpy()), n=10, exclude=handle.ratings)
    )
    assert scores["cg"] >= float(catalogue_top_k(popular, test, 10, 3.0)["ndcg"]) + 0.1, scores
