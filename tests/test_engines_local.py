"""The local (numba) ALS engine against plain numpy and against the Spark engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams, Factors
from movierec.engines.local_als import (
    LocalALSModel,
    LocalData,
    LocalEngine,
    objective,
    solve_items,
    solve_users,
)
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, RANK, RATING, SCORE, USER
from movierec.split import random_split

PLAIN = ALSParams(rank=10, reg_param=0.1, max_iter=15, seed=42)
BIASED = ALSParams(rank=10, reg_param=0.15, max_iter=15, seed=42, model="biased-als")
KINDS = {"als": PLAIN, "biased-als": BIASED}


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


@pytest.fixture(scope="module")
def models(engine: LocalEngine, handle: LocalData) -> dict[str, LocalALSModel]:
    return {kind: engine.fit(handle, p, track_objective=True) for kind, p in KINDS.items()}


def rmse(pred: np.ndarray, actual: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred[mask] - actual[mask]) ** 2)))


def sequential_scores(f: Factors, row: int) -> np.ndarray:
    """Every item's score for user row ``row``: Σ_f x_f·y_f summed in factor order (float64)."""
    x = f.user_factors[row].astype(np.float64)
    y = f.item_factors.astype(np.float64)
    s = np.zeros(len(y))
    for k in range(y.shape[1]):
        s = s + x[k] * y[:, k]
    if f.user_bias is not None and f.item_bias is not None:
        s = s + f.global_mean + f.user_bias[row] + f.item_bias
    return s


def brute_force_top(f: Factors, user: int, seen: set[int], n: int) -> list[tuple[int, float]]:
    row = int(np.searchsorted(f.user_ids, user))
    scores = sequential_scores(f, row)
    ranked = sorted(
        (-s, int(m)) for m, s in zip(f.item_ids.tolist(), scores.tolist()) if int(m) not in seen
    )
    return [(m, -s) for s, m in ranked[:n]]


def top_lists(recs: pd.DataFrame) -> pd.Series:
    return recs.groupby(USER)[ITEM].apply(frozenset)


def mean_overlap(a: pd.DataFrame, b: pd.DataFrame, n: int) -> float:
    la, lb = top_lists(a), top_lists(b)
    return float(np.mean([len(la[u] & lb[u]) / n for u in la.index]))


# --- 1. objective ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_objective_decreases_every_iteration(
    kind: str, models: dict[str, LocalALSModel], handle: LocalData
) -> None:
    model = models[kind]
    history = model.history
    assert len(history) == KINDS[kind].max_iter
    assert np.all(np.diff(history) < 0), history
    assert objective(model, handle) == pytest.approx(history[-1], rel=1e-9)


def test_objective_is_sparks_formula(models: dict[str, LocalALSModel], handle: LocalData) -> None:
    """Σ (r − x·y)² + λ(Σ n_u‖x_u‖² + Σ n_i‖y_i‖²), written out in pandas/numpy."""
    model = models["als"]
    train = handle.ratings
    u = np.searchsorted(model.user_ids, train[USER].to_numpy())
    i = np.searchsorted(model.item_ids, train[ITEM].to_numpy())
    x = model.user_factors.astype(np.float64)
    y = model.item_factors.astype(np.float64)
    err = train[RATING].to_numpy() - np.einsum("ij,ij->i", x[u], y[i])
    n_u = np.bincount(u, minlength=len(x))
    n_i = np.bincount(i, minlength=len(y))
    expected = np.sum(err**2) + 0.1 * (
        np.sum(n_u * np.sum(x**2, axis=1)) + np.sum(n_i * np.sum(y**2, axis=1))
    )
    assert model.history[-1] == pytest.approx(expected, rel=1e-9)


# --- 2. exactness of one half-step ----------------------------------------------------------


def test_half_steps_solve_the_regularised_normal_equations(
    models: dict[str, LocalALSModel], handle: LocalData
) -> None:
    train = handle.ratings
    f = models["als"].factors()
    reg = 0.1
    users = solve_users(handle, f.item_factors, reg)
    items = solve_items(handle, users, reg)
    assert users.dtype == items.dtype == np.float32
    busiest = int(train[USER].value_counts().idxmax())
    for user in (1, 68, 414, busiest):
        mine = train[train[USER] == user]
        y = f.item_factors[np.searchsorted(f.item_ids, mine[ITEM].to_numpy())].astype(np.float64)
        r = mine[RATING].to_numpy()
        a = y.T @ y + reg * len(r) * np.eye(y.shape[1])
        expected = np.linalg.solve(a, y.T @ r)
        got = users[np.searchsorted(handle.user_ids, user)]
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
        # λ is scaled by the user's rating count: the unscaled solution is far away.
        unscaled = np.linalg.solve(y.T @ y + reg * np.eye(y.shape[1]), y.T @ r)
        assert np.max(np.abs(unscaled - expected)) > 1e-3
    for movie in (1, 296, 318):
        mine = train[train[ITEM] == movie]
        x = users[np.searchsorted(handle.user_ids, mine[USER].to_numpy())].astype(np.float64)
        r = mine[RATING].to_numpy()
        expected = np.linalg.solve(x.T @ x + reg * len(r) * np.eye(x.shape[1]), x.T @ r)
        got = items[np.searchsorted(handle.item_ids, movie)]
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def _rows_csr(
    lengths: list[int], rank: int, seed: int, duplicates: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A CSR with rows of the given lengths over 700 random float32 factor rows (indptr,
    indices, half-star values, src); with ``duplicates`` a third of the factor rows are
    copies of factor row 0, so rows gather identical vectors."""
    rng = np.random.default_rng(seed)
    n_src = 700
    src = (rng.standard_normal((n_src, rank)) / np.sqrt(rank)).astype(np.float32)
    if duplicates:
        src[rng.choice(n_src, n_src // 3, replace=False)] = src[0]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([rng.choice(n_src, n, replace=False) for n in lengths])
    values = (rng.integers(1, 11, len(indices)) / 2).astype(np.float32)
    return indptr, indices.astype(np.int32), values, src


def _numpy_solutions(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, src: np.ndarray, reg: float
) -> list[np.ndarray | None]:
    """np.linalg.solve of (YᵀY + reg·n·I) x = Yᵀv for every row (None for empty rows)."""
    out: list[np.ndarray | None] = []
    for r in range(len(indptr) - 1):
        sl = slice(indptr[r], indptr[r + 1])
        y = src[indices[sl]].astype(np.float64)
        v = values[sl].astype(np.float64)
        n = len(v)
        a = y.T @ y + reg * n * np.eye(src.shape[1])
        out.append(np.linalg.solve(a, y.T @ v) if n else None)
    return out


@pytest.mark.parametrize("rank", [1, 3, 10, 12, 30, 50, 64, 128])
@pytest.mark.parametrize(("reg", "duplicates"), [(0.1, False), (1e-4, True)])
def test_every_solve_path_matches_numpy(rank: int, reg: float, duplicates: bool) -> None:
    """Rows of every length the kernel treats differently — empty; the n×n dual system up
    to ``dual_limit(k)`` ratings (just below, at and just above it; the short-row path up
    to ``_DUAL_SMALL`` and the register tiles above it); primal rows of one or several
    gathered passes (``_CHUNK`` ratings) — at ranks whose Cholesky ends on a whole or a
    partial 4-row strip, with a small λ and repeated factor vectors, give numpy's solution
    of the same normal equations (YᵀY + reg·n·I) x = Yᵀv."""
    from movierec.engines import _local_kernels as K
    from movierec.engines import _local_plan as P

    lim = P.dual_limit(rank)
    lengths = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 31, 47, 48, 49, 97, 255, 600, 4, 1, 0, 11]
    lengths += [lim - 1, lim, lim + 1, lim + 2, 2 * lim + 3]
    lengths = [n for n in lengths if n >= 0]
    indptr, indices, values, src = _rows_csr(lengths, rank, rank, duplicates)
    expected = _numpy_solutions(indptr, indices, values, src, reg)
    dst = np.full((len(lengths), rank), -7.0, dtype=np.float32)
    assert K.solve_half(indptr, indices, values, src, reg, False, dst) == 0
    for r, want in enumerate(expected):
        if want is None:
            np.testing.assert_array_equal(dst[r], 0.0)
            continue
        np.testing.assert_allclose(dst[r], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    # Forcing every row through the primal path (dual_max 0), here with the prefetching
    # gather, gives the same answers.
    primal_plan = P.HalfPlan(bounds=np.array([0, len(lengths)], dtype=np.int64), dual_max=0)
    primal = np.empty_like(dst)
    assert K.solve_half(indptr, indices, values, src, reg, False, primal, primal_plan) == 0
    # ... and so does the prefetching gather, and gathers of other pass lengths.
    bounds = primal_plan.bounds
    for chunk, ahead in [(P.CHUNK, True), (1, False), (5, True), (100, False)]:
        out = np.empty_like(dst)
        args = (bounds, 0, P.DUAL_SMALL, chunk, ahead)
        assert K._solve_half(indptr, indices, values, src, reg, False, out, *args) == 0
        np.testing.assert_allclose(out, dst, rtol=1e-5, atol=1e-6 * np.abs(dst).max())
    np.testing.assert_allclose(primal, dst, rtol=1e-5, atol=1e-6 * np.abs(dst).max())


def test_solve_half_is_independent_of_the_task_split() -> None:
    """Any cut of the rows into parallel tasks gives bit-identical factors (every row is
    solved alone), and the planned cuts balance the work (:func:`_row_cost`)."""
    from movierec.engines import _local_kernels as K
    from movierec.engines import _local_plan as P

    rng = np.random.default_rng(5)
    lengths = rng.zipf(1.6, 3000).clip(0, 650).tolist()
    for rank in (10, 50):
        indptr, indices, values, src = _rows_csr(lengths, rank, 1)
        results = []
        for n_tasks in (1, 2, 3, 7):
            plan = P.plan_half(indptr, rank, 0.1, False, n_tasks)
            bounds, dual_max = plan.bounds, plan.dual_max
            assert bounds[0] == 0 and bounds[-1] == len(lengths) and len(bounds) == n_tasks + 1
            assert np.all(np.diff(bounds) >= 0)
            cost = P.row_cost(np.diff(indptr), rank, dual_max)
            work = np.diff(np.concatenate([[0.0], np.cumsum(cost)])[bounds])
            # No task exceeds an equal share by more than the costliest single row.
            biggest = float(np.max(cost))
            assert work.max() <= work.sum() / n_tasks + biggest
            dst = np.empty((len(lengths), rank), dtype=np.float32)
            K.solve_half(indptr, indices, values, src, 0.1, False, dst, plan)
            results.append(dst)
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("rank", [4, 12])
def test_unregularised_and_nonnegative_short_rows(rank: int) -> None:
    """reg_param = 0 and nonnegative never take the dual path (it needs λ > 0 and has no
    bounds): full-rank short rows still solve the plain normal equations, and nonnegative
    rows of every length meet the KKT conditions of their box-constrained problem."""
    from movierec.engines import _local_kernels as K
    from movierec.engines import _local_plan as P

    assert P.plan_half(np.array([0, 3, 9]), rank, 0.0, False, 2).dual_max == 0
    assert P.plan_half(np.array([0, 3, 9]), rank, 0.1, True, 2).dual_max == 0
    lengths = [rank + 1, rank + 3, 7, 8, 40, 300]
    lengths = [n for n in lengths if n > rank]
    indptr, indices, values, src = _rows_csr(lengths, rank, 11)
    dst = np.empty((len(lengths), rank), dtype=np.float32)
    assert K.solve_half(indptr, indices, values, src, 0.0, False, dst) == 0
    for r, want in enumerate(_numpy_solutions(indptr, indices, values, src, 0.0)):
        assert want is not None
        np.testing.assert_allclose(dst[r], want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    lengths = [1, 2, 5, 7, 8, 9, 30, 300]
    indptr, indices, values, src = _rows_csr(lengths, rank, 12)
    dst = np.empty((len(lengths), rank), dtype=np.float32)
    assert K.solve_half(indptr, indices, values, src, 0.1, True, dst) == 0
    assert np.all(dst >= 0)
    for r in range(len(lengths)):
        sl = slice(indptr[r], indptr[r + 1])
        y = src[indices[sl]].astype(np.float64)
        v = values[sl].astype(np.float64)
        a = y.T @ y + 0.1 * len(v) * np.eye(rank)
        b = y.T @ v
        x = dst[r].astype(np.float64)
        grad = a @ x - b
        tol = 1e-5 * np.abs(b).max()
        assert np.all(np.abs(grad[x > 0]) <= tol), grad
        assert np.all(grad[x == 0] >= -tol), grad


def test_cholesky_solve_upper_matches_numpy() -> None:
    """The blocked in-place Cholesky (whole 4-row strips, a partial last strip, register-tile
    updates, vector strip solves, the 4-lane back substitution) against numpy.linalg.solve
    for every size from 1 to 21 and 50; a matrix that is not positive definite is refused."""
    from numba import njit

    from movierec.engines import _local_kernels as K

    @njit(cache=False)
    def solve(a: np.ndarray, n: int, w: int) -> tuple[bool, np.ndarray]:
        x = np.zeros(w)
        dinv = np.zeros(w)
        tv = np.zeros((w, 4))
        ok = K._cholesky_solve_upper(a, n, w, x, dinv, tv)
        return ok, x

    rng = np.random.default_rng(3)
    for n in [*range(1, 22), 50]:
        w = (n + 1 + 3) // 4 * 4
        y = rng.standard_normal((n + 5, n))
        spd = y.T @ y + 0.1 * np.eye(n)
        b = rng.standard_normal(n)
        a = np.full((w, w), np.nan)  # rows past n are never read
        a[:n, :n] = np.triu(spd) + np.tril(rng.standard_normal((n, n)), -1)  # lower: junk
        a[:n, n] = b
        a[:n, n + 1 :] = 0.0
        ok, x = solve(a, n, w)
        assert ok
        np.testing.assert_allclose(x[:n], np.linalg.solve(spd, b), rtol=1e-9, atol=1e-10)
    for n in (3, 9):
        w = (n + 1 + 3) // 4 * 4
        a = np.zeros((w, w))
        a[:n, :n] = np.eye(n)
        a[n - 1, n - 1] = -1.0  # indefinite
        assert not solve(a, n, w)[0]


def test_register_tiles_and_gathers_match_numpy() -> None:
    """The LLVM-IR intrinsics: register-tile Gram blocks in all three modes (=, +=, −=) and
    all tile widths, and the factor-major gather (4×4 transposes plus leftovers) for ranks
    and row lengths that are and are not multiples of 4."""
    from numba import njit

    from movierec.engines import _local_kernels as K

    @njit(cache=False)
    def block_row(
        y: np.ndarray, m: int, i0: int, c0: int, c1: int, a: np.ndarray, mode: int
    ) -> None:
        K._block_row(y, m, i0, c0, c1, a, mode)

    @njit(cache=False)
    def gather_cols(
        indices: np.ndarray, values: np.ndarray, src: np.ndarray, start: int, n: int, yt: np.ndarray
    ) -> None:
        K._gather_cols(indices, values, src, start, n, yt)

    rng = np.random.default_rng(4)
    y = rng.standard_normal((37, 40))
    gram = y[:, :].T @ y
    for i0, c0, c1 in [(0, 0, 40), (4, 4, 28), (8, 12, 20), (36, 36, 40), (12, 16, 40)]:
        for mode, start in [(0, 5.0), (1, 5.0), (2, 5.0)]:
            a = np.full((40, 40), start)
            block_row(y, 37, i0, c0, c1, a, mode)
            want = np.full((40, 40), start)
            block = gram[i0 : i0 + 4, c0:c1]
            want[i0 : i0 + 4, c0:c1] = [block, start + block, start - block][mode]
            np.testing.assert_allclose(a, want, rtol=1e-12, atol=1e-12)
    for k in (1, 3, 4, 7, 10, 50):
        src = rng.standard_normal((30, k)).astype(np.float32)
        for n in (1, 3, 4, 5, 8, 11):
            indices = rng.integers(0, 30, n + 3).astype(np.int32)
            values = rng.standard_normal(n + 3).astype(np.float32)
            yt = np.full((k + 1, 16), -9.0)
            gather_cols(indices, values, src, 2, n, yt)
            np.testing.assert_array_equal(yt[:k, :n], src[indices[2 : 2 + n]].T.astype(np.float64))
            np.testing.assert_array_equal(yt[k, :n], values[2 : 2 + n].astype(np.float64))
            assert np.all(yt[:, n:] == -9.0)


def test_nonnegative_half_step_meets_the_kkt_conditions(
    models: dict[str, LocalALSModel], handle: LocalData
) -> None:
    train = handle.ratings
    f = models["als"].factors()
    users = solve_users(handle, f.item_factors, 0.1, nonnegative=True)
    assert np.all(users >= 0)
    for user in (1, 68, 414, 600):
        mine = train[train[USER] == user]
        y = f.item_factors[np.searchsorted(f.item_ids, mine[ITEM].to_numpy())].astype(np.float64)
        r = mine[RATING].to_numpy()
        a = y.T @ y + 0.1 * len(r) * np.eye(y.shape[1])
        b = y.T @ r
        x = users[np.searchsorted(handle.user_ids, user)].astype(np.float64)
        grad = a @ x - b  # KKT: grad = 0 where x > 0, grad >= 0 where x = 0
        tol = 1e-5 * np.abs(b).max()
        assert np.all(np.abs(grad[x > 0]) <= tol), grad
        assert np.all(grad[x == 0] >= -tol), grad
        assert (x == 0).any() and (x > 0).any()


def test_nonnegative_fit(engine: LocalEngine, handle: LocalData) -> None:
    params = ALSParams(rank=6, reg_param=0.1, max_iter=5, seed=1, nonnegative=True)
    model = engine.fit(handle, params, track_objective=True)
    f = model.factors()
    assert np.all(f.user_factors >= 0) and np.all(f.item_factors >= 0)
    assert np.all(np.diff(model.history) < 0)


# --- 4. scoring, cold start, determinism ----------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_recommend_matches_brute_force_and_excludes_seen(
    kind: str, models: dict[str, LocalALSModel], handle: LocalData
) -> None:
    model = models[kind]
    users = np.array([600, 1, 68, 414, 999_999], dtype=np.int32)  # unsorted, one unknown
    recs = model.recommend(users, 10, exclude=handle)
    assert list(recs.columns) == [USER, ITEM, SCORE, RANK]
    assert recs.dtypes.tolist() == [np.int32, np.int32, np.float64, np.int32]
    assert recs[USER].tolist() == sorted(recs[USER].tolist())
    assert sorted(recs[USER].unique().tolist()) == [1, 68, 414, 600]
    f = model.factors()
    train = handle.ratings
    for user in (1, 68, 414, 600):
        mine = recs[recs[USER] == user]
        assert mine[RANK].tolist() == list(range(1, 11))
        seen = set(train.loc[train[USER] == user, ITEM].tolist())
        expected = brute_force_top(f, user, seen, 10)
        assert mine[ITEM].tolist() == [m for m, _ in expected]
        np.testing.assert_array_equal(mine[SCORE].to_numpy(), [s for _, s in expected])
    # Scores are predictions, bit for bit.
    np.testing.assert_array_equal(model.predict(recs), recs[SCORE].to_numpy())
    # Without exclusion, seen movies compete; all users when users is None.
    everyone = model.recommend(None, 3, exclude=None)
    assert everyone[USER].nunique() == handle.n_users
    assert len(everyone) == 3 * handle.n_users


def test_ties_go_to_the_lower_movie_id() -> None:
    # Movies 10, 20, 30 share one factor vector; 40 scores higher, 50 lower.
    params = ALSParams(rank=2)
    item_ids = np.array([10, 20, 30, 40, 50], dtype=np.int32)
    items = np.array([[1, 1], [1, 1], [1, 1], [2, 2], [0, 0.5]], dtype=np.float32)
    model = LocalALSModel(params, np.array([7], np.int32), np.ones((1, 2)), item_ids, items)
    recs = model.recommend(None, 4, exclude=None)
    assert recs[ITEM].tolist() == [40, 10, 20, 30]
    seen = LocalEngine().data(
        pd.DataFrame({USER: [7, 7], ITEM: [10, 40], RATING: [1.0, 1.0]}).astype(
            {USER: np.int32, ITEM: np.int32}
        )
    )
    recs = model.recommend(np.array([7]), 10, exclude=seen)
    assert recs[ITEM].tolist() == [20, 30, 50] and recs[RANK].tolist() == [1, 2, 3]


def test_predict_row_order_and_cold_start(
    models: dict[str, LocalALSModel], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    test = split[1]
    for model in models.values():
        sample = test.iloc[:500].reset_index(drop=True)
        base = model.predict(sample)
        assert base.dtype == np.float64
        perm = np.random.default_rng(1).permutation(len(sample))
        np.testing.assert_array_equal(model.predict(sample.iloc[perm]), base[perm])
        unknown = pd.DataFrame(
            {USER: [999_999, int(sample[USER][0]), 999_999], ITEM: [1, 999_999, 999_999]}
        )
        assert np.isnan(model.predict(unknown)).all()
        assert len(model.predict(sample.iloc[:0])) == 0


def test_fit_is_deterministic_and_row_order_free(
    engine: LocalEngine, handle: LocalData, models: dict[str, LocalALSModel]
) -> None:
    for kind, params in KINDS.items():
        again = engine.fit(handle, params).factors()
        first = models[kind].factors()
        np.testing.assert_array_equal(again.user_factors, first.user_factors)
        np.testing.assert_array_equal(again.item_factors, first.item_factors)
    shuffled = handle.ratings.sample(frac=1.0, random_state=3)
    other = engine.fit(engine.data(shuffled), PLAIN).factors()
    np.testing.assert_array_equal(other.user_factors, models["als"].factors().user_factors)
    different = engine.fit(handle, ALSParams(rank=10, reg_param=0.1, max_iter=15, seed=43))
    assert not np.array_equal(different.factors().user_factors, other.user_factors)


def test_fits_from_several_threads(engine: LocalEngine, handle: LocalData) -> None:
    """Tuning fits in a thread pool; numba's workqueue layer aborts on concurrent launches."""
    from concurrent.futures import ThreadPoolExecutor

    params = [ALSParams(rank=4, max_iter=3, seed=s) for s in range(4)]
    alone = [engine.fit(handle, p).user_factors for p in params]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda p: engine.fit(handle, p).user_factors, params))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_biases_and_aggregates_match_pandas(
    engine: LocalEngine, handle: LocalData, models: dict[str, LocalALSModel]
) -> None:
    train = handle.ratings
    f = models["biased-als"].factors()
    mu = train[RATING].mean()
    item_sum = (train[RATING] - mu).groupby(train[ITEM]).agg(["sum", "count"])
    b_i = item_sum["sum"] / (item_sum["count"] + BIASED.bias_reg)
    user_sum = (
        (train[RATING] - mu - train[ITEM].map(b_i)).groupby(train[USER]).agg(["sum", "count"])
    )
    b_u = user_sum["sum"] / (user_sum["count"] + BIASED.bias_reg)
    assert f.global_mean == pytest.approx(mu, abs=1e-12)
    assert f.user_bias is not None and f.item_bias is not None
    np.testing.assert_allclose(f.item_bias, b_i.reindex(f.item_ids).to_numpy(), atol=1e-12)
    np.testing.assert_allclose(f.user_bias, b_u.reindex(f.user_ids).to_numpy(), atol=1e-12)
    assert models["als"].factors().user_bias is None

    users, items, values = engine.aggregates(handle)
    pd.testing.assert_series_equal(
        users, train[USER].value_counts().sort_index(), check_names=False, check_index_type=False
    )
    pd.testing.assert_series_equal(
        items, train[ITEM].value_counts().sort_index(), check_names=False, check_index_type=False
    )
    assert values.index.tolist() == sorted(train[RATING].unique().tolist())
    assert values.sum() == len(train) and values.dtype == np.int64


def test_errors(engine: LocalEngine, handle: LocalData, models: dict[str, LocalALSModel]) -> None:
    with pytest.raises(EngineError, match="n must be at least 1"):
        models["als"].recommend(None, 0, exclude=handle)
    with pytest.raises(EngineError, match="LocalData"):
        engine.fit(object(), PLAIN)  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="empty"):
        engine.fit(engine.data(handle.ratings.iloc[:0]), PLAIN)
    with pytest.raises(EngineError, match="positive definite"):
        engine.fit(handle, ALSParams(rank=10, reg_param=0.0, max_iter=1))


# --- 5. save / load -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_save_load_round_trip_is_exact(
    kind: str,
    tmp_path: Path,
    engine: LocalEngine,
    models: dict[str, LocalALSModel],
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    model = models[kind]
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "local.npz").is_file()
    assert (tmp_path / "m" / "als" / "metadata" / "part-00000").is_file()
    assert (tmp_path / "m" / "biases" / "mean.json").is_file() == (kind == "biased-als")
    loaded = engine.load(tmp_path / "m", KINDS[kind])
    a, b = loaded.factors(), model.factors()
    for name in ("user_ids", "user_factors", "item_ids", "item_factors"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.global_mean == b.global_mean
    np.testing.assert_array_equal(loaded.predict(split[1]), model.predict(split[1]))
    with pytest.raises(ModelError, match="already exists"):
        model.save(tmp_path / "m")
    with pytest.raises(ModelError, match="rank"):
        engine.load(tmp_path / "m", ALSParams(rank=3, model=kind))
    with pytest.raises(ModelError):
        engine.load(tmp_path / "nowhere", KINDS[kind])


# --- 3 and 5 against Spark ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_models(spark: Any, split: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    """One Spark fit per model kind on the same split (and the seconds each took)."""
    from movierec.engines.spark_als import SparkEngine

    engine = SparkEngine(spark)
    data = engine.data(split[0])
    out: dict[str, Any] = {"engine": engine, "data": data}
    for kind, params in KINDS.items():
        started = time.perf_counter()
        out[kind] = engine.fit(data, params)
        out[kind + ":seconds"] = time.perf_counter() - started
        out[kind + ":predict"] = out[kind].predict(split[1])
    return out


@pytest.mark.spark
@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_with_spark(
    kind: str,
    spark_models: dict[str, Any],
    models: dict[str, LocalALSModel],
    engine: LocalEngine,
    handle: LocalData,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    test = split[1]
    local, remote = models[kind], spark_models[kind]
    lp, sp = local.predict(test), spark_models[kind + ":predict"]
    # Same cold-start rows, and RMSE within 0.01 on the rows both score.
    np.testing.assert_array_equal(np.isnan(lp), np.isnan(sp))
    both = ~np.isnan(lp) & ~np.isnan(sp)
    actual = test[RATING].to_numpy()
    r_local, r_spark = rmse(lp, actual, both), rmse(sp, actual, both)
    assert abs(r_local - r_spark) <= 0.01, (r_local, r_spark)

    # Top-10 lists, seen excluded. Spark's lists are scored from its own factors with the
    # local scorer (checked against brute force above and against Spark's recommend below).
    f = remote.factors()
    as_local = LocalALSModel(
        KINDS[kind],
        f.user_ids,
        f.user_factors,
        f.item_ids,
        f.item_factors,
        f.global_mean,
        f.user_bias,
        f.item_bias,
    )
    spark_top = as_local.recommend(None, 10, exclude=handle)
    local_top = local.recommend(None, 10, exclude=handle)
    overlap = mean_overlap(local_top, spark_top, 10)
    # Baseline: the local engine against itself with another seed. Measured on this split:
    # als 0.31 vs Spark / 0.30 seed-to-seed, biased-als 0.37 / 0.35 (random lists: 0.001).
    # Rank-10 top lists on 80k ratings are dominated by rarely rated movies whose factors
    # depend on the random start, so lists differ between seeds of any one engine as much as
    # between engines; the bound asks for at least three quarters of that agreement.
    reseeded = engine.fit(handle, ALSParams(**{**KINDS[kind].to_dict(), "seed": 7}))
    baseline = mean_overlap(local_top, reseeded.recommend(None, 10, exclude=handle), 10)
    assert overlap >= 0.2, overlap
    assert overlap >= 0.75 * baseline, (overlap, baseline)


@pytest.mark.spark
@pytest.mark.parametrize("kind", list(KINDS))
def test_spark_loads_a_locally_trained_model(
    kind: str,
    tmp_path: Path,
    spark_models: dict[str, Any],
    models: dict[str, LocalALSModel],
    handle: LocalData,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    model = models[kind]
    model.save(tmp_path / "local")
    loaded = spark_models["engine"].load(tmp_path / "local", KINDS[kind])
    sample = split[1].iloc[:2000].reset_index(drop=True)
    # Spark's transform sums the dot product in float32.
    np.testing.assert_allclose(loaded.predict(sample), model.predict(sample), rtol=1e-5, atol=1e-5)
    # Spark's scorer uses the same float64 arithmetic: same lists, same scores.
    users = np.array([1, 414])
    theirs = loaded.recommend(users, 5, exclude=spark_models["data"])
    ours = model.recommend(users, 5, exclude=handle)
    assert theirs[[USER, ITEM, RANK]].values.tolist() == ours[[USER, ITEM, RANK]].values.tolist()
    np.testing.assert_allclose(theirs[SCORE].to_numpy(), ours[SCORE].to_numpy(), rtol=1e-12)

    # And the other way: a Spark model folder loads in the local engine.
    spark_model = spark_models[kind]
    spark_model.save(tmp_path / "spark")
    mine = LocalEngine().load(tmp_path / "spark", KINDS[kind])
    np.testing.assert_allclose(
        mine.predict(split[1]), spark_models[kind + ":predict"], rtol=1e-5, atol=1e-5
    )
