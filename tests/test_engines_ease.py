"""EASE (engines/ease.py, engines/ease_model.py) against a dense numpy reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from movierec.engines.base import ALSParams
from movierec.engines.ease import (
    check_size,
    ease_weights,
    gram,
    interaction_matrix,
    memory_needed,
    sparsify_rows,
    top_n_from_scores,
    weights_dual,
    weights_primal,
)
from movierec.engines.ease_model import EaseModel, load_local
from movierec.engines.local_als import LocalEngine
from movierec.errors import ConfigError, EngineError, ModelError
from movierec.schema import ITEM, RANK, RATING, SCORE, USER


def reference_b(x: np.ndarray, lam: float) -> np.ndarray:
    """Steck's closed form with numpy's dense inverse: B = I − P·diag(1/diag(P))."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def random_ratings(n_users: int, n_items: int, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            USER: rng.integers(0, n_users, n).astype(np.int32) * 3 + 1,
            ITEM: rng.integers(0, n_items, n).astype(np.int32) * 7 + 2,
            RATING: rng.integers(1, 11, n).astype(np.float64) / 2,
        }
    )
    return df.drop_duplicates([USER, ITEM]).reset_index(drop=True)


def dense_x(df: pd.DataFrame, threshold: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    users = np.unique(df[USER])
    items = np.unique(df[ITEM])
    x = np.zeros((len(users), len(items)))
    keep = df if threshold is None else df[df[RATING] >= threshold]
    x[np.searchsorted(users, keep[USER]), np.searchsorted(items, keep[ITEM])] = 1.0
    return users, items, x


@pytest.mark.parametrize("shape", [(40, 25), (15, 60)])  # more users / more items than users
def test_primal_and_dual_match_numpy_reference(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    x = (rng.random(shape) < 0.3).astype(np.float64)
    lam = 3.0
    ref = reference_b(x, lam)
    xs = sp.csr_matrix(x)
    np.testing.assert_allclose(weights_primal(gram(xs), lam), ref, rtol=0, atol=2e-6)
    np.testing.assert_allclose(weights_dual(xs, lam), ref, rtol=0, atol=2e-6)
    b = ease_weights(xs, lam, max_items=1000)
    assert b.dtype == np.float32 and b.shape == (shape[1], shape[1])
    np.testing.assert_allclose(b, ref, rtol=0, atol=2e-6)
    assert np.all(np.diag(b) == 0)


def test_interaction_matrix_threshold_and_empty_rows() -> None:
    indptr = np.array([0, 3, 3, 5, 5])  # user 1 and user 3 rated nothing
    indices = np.array([0, 2, 3, 1, 2], dtype=np.int32)
    values = np.array([5.0, 2.0, 3.0, 1.0, 4.5], dtype=np.float32)
    x = interaction_matrix(indptr, indices, values, 4, 3.0).toarray()
    expected = np.zeros((4, 4))
    expected[0, [0, 3]] = 1
    expected[2, 2] = 1
    np.testing.assert_array_equal(x, expected)
    every = interaction_matrix(indptr, indices, values, 4, None)
    assert every.nnz == 5


def test_local_fit_scores_and_top_n_match_reference() -> None:
    df = random_ratings(30, 45, 500)
    engine = LocalEngine()
    data = engine.data(df)
    params = ALSParams(model="ease", reg_param=5.0, ease_threshold=3.0)
    model = engine.fit(data, params)
    users, items, x = dense_x(df, 3.0)
    s = x @ reference_b(x, 5.0)
    pairs = df.sample(50, random_state=0)
    got = model.predict(pairs)
    want = s[np.searchsorted(users, pairs[USER]), np.searchsorted(items, pairs[ITEM])]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    recs = model.recommend(None, 7, exclude=data)
    seen = set(zip(df[USER], df[ITEM]))
    for u_row, u in enumerate(users):
        mine = recs[recs[USER] == u].sort_values(RANK)
        unseen = [j for j in range(len(items)) if (u, items[j]) not in seen]
        assert len(mine) == min(7, len(unseen))
        assert list(mine[RANK]) == list(range(1, len(mine) + 1))
        rows = np.searchsorted(items, mine[ITEM].to_numpy())
        assert not any((u, items[j]) in seen for j in rows)
        # the listed scores are the reference scores, in descending order ...
        np.testing.assert_allclose(mine[SCORE], s[u_row, rows], rtol=0, atol=1e-5)
        assert (np.diff(mine[SCORE].to_numpy()) <= 0).all()
        # ... and no unlisted unseen movie scores higher than the last listed one
        rest = [j for j in unseen if j not in set(rows)]
        if rest:
            assert s[u_row, rest].max() <= s[u_row, rows].min() + 1e-5


def test_predict_unknown_is_nan_and_factors_refused() -> None:
    df = random_ratings(10, 12, 80)
    engine = LocalEngine()
    model = engine.fit(engine.data(df), ALSParams(model="ease", reg_param=1.0))
    pairs = pd.DataFrame({USER: [df[USER].iloc[0], 99999], ITEM: [99999, df[ITEM].iloc[0]]})
    assert np.isnan(model.predict(pairs)).all()
    with pytest.raises(EngineError, match="without latent factors"):
        model.factors()


def test_refused_above_item_limit_names_memory() -> None:
    with pytest.raises(EngineError, match=r"EASE on 30,000 movies needs about 10\.1 GiB"):
        check_size(30_000, 20_000)
    assert memory_needed(1000) == 12_000_000
    df = random_ratings(10, 40, 200)
    engine = LocalEngine()
    with pytest.raises(EngineError, match="ease_max_items = 5"):
        engine.fit(engine.data(df), ALSParams(model="ease", reg_param=1.0, ease_max_items=5))


def test_non_positive_lambda_refused() -> None:
    df = random_ratings(10, 12, 80)
    engine = LocalEngine()
    with pytest.raises(ConfigError, match="positive regParam"):
        engine.fit(engine.data(df), ALSParams(model="ease", reg_param=0.0))


def test_no_interaction_above_threshold_refused() -> None:
    df = random_ratings(10, 12, 80).assign(**{RATING: 1.0})
    engine = LocalEngine()
    with pytest.raises(EngineError, match="no interaction"):
        engine.fit(engine.data(df), ALSParams(model="ease", reg_param=1.0, ease_threshold=3.0))


def test_sparsify_rows_keeps_largest_magnitudes() -> None:
    b = np.array(
        [[0.0, -3.0, 1.0, 2.0], [1.0, 0.0, 1.0, -1.0], [5.0, 4.0, 0.0, -6.0], [0, 0, 0, 0]],
        dtype=np.float32,
    )
    s = sparsify_rows(b, 2).toarray()
    expected = np.array(
        [[0, -3, 0, 2], [1, 0, 1, 0], [5, 0, 0, -6], [0, 0, 0, 0]], dtype=np.float32
    )  # ties in magnitude keep the lower column
    np.testing.assert_array_equal(s, expected)
    np.testing.assert_array_equal(sparsify_rows(b, 10).toarray(), b)


def test_top_n_from_scores_ties_exclusion_and_short_rows() -> None:
    scores = np.array(
        [[1.0, 3.0, 3.0, 3.0, 0.5], [2.0, 2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0]]
    )
    seen = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 0]]))
    cols, vals, counts = top_n_from_scores(scores.copy(), seen, 3)
    assert counts.tolist() == [3, 3, 1]
    assert cols[0].tolist() == [2, 3, 0]
    assert cols[1].tolist() == [0, 1, 2]
    assert cols[2, :1].tolist() == [4] and vals[2, 0] == 5.0


@pytest.mark.parametrize("topk", [0, 3])
def test_save_load_round_trip(tmp_path, topk: int) -> None:
    df = random_ratings(20, 15, 150)
    engine = LocalEngine()
    data = engine.data(df)
    params = ALSParams(model="ease", reg_param=2.0, ease_topk=topk)
    model = engine.fit(data, params)
    model.save(tmp_path / "m")
    with pytest.raises(ModelError, match="already exists"):
        model.save(tmp_path / "m")
    back = engine.load(tmp_path / "m", params)
    assert isinstance(back, EaseModel)
    pd.testing.assert_frame_equal(back.recommend(None, 5, data), model.recommend(None, 5, data))
    np.testing.assert_array_equal(back.predict(df), model.predict(df))
    if topk:
        assert back.weights.nnz == 3 * 15
    with pytest.raises(ModelError, match="metadata says 'als'"):
        load_local(tmp_path / "m", ALSParams(model="als"))


def test_session_rows_split_on_gaps_and_weight_the_gram() -> None:
    from movierec.engines.ease import session_rows, with_sessions

    # user 0 rates movies 0, 1 at t=0, 100 and movies 2, 3 a day later; user 1 rates 1, 3
    x = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 1, 0, 1]], dtype=np.float64))
    times = np.array([0.0, 100.0, 86400.0, 86500.0, 5.0, 7200.0])
    s = session_rows(x, times, 3600.0).toarray()
    np.testing.assert_array_equal(s, [[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 1]])
    rows = with_sessions(x, times, 2.0, 3600.0)
    g = (rows.T @ rows).toarray()
    assert g[0, 1] == pytest.approx(1 + 2.0)  # same session: counted 1 + weight times
    assert g[0, 2] == 1.0  # same user, different sessions: once
    assert g[1, 3] == 2.0  # two users, each in different sessions
    assert with_sessions(x, None, 2.0, 3600.0) is x
    assert with_sessions(x, times, 0.0, 3600.0) is x


def test_local_fit_with_sessions_matches_reference() -> None:
    from movierec.schema import TIMESTAMP

    df = random_ratings(25, 30, 400, seed=3)
    rng = np.random.default_rng(4)
    df[TIMESTAMP] = rng.integers(0, 20_000, len(df))
    engine = LocalEngine()
    data = engine.data(df)
    params = ALSParams(
        model="ease", reg_param=3.0, ease_threshold=3.0, ease_session_weight=1.5,
        ease_session_gap=2000.0,
    )  # fmt: skip
    model = engine.fit(data, params)
    users, items, x = dense_x(df, 3.0)
    liked = df[df[RATING] >= 3.0].sort_values([USER, TIMESTAMP])
    sessions = []
    for _, grp in liked.groupby(USER):
        t = grp[TIMESTAMP].to_numpy()
        cut = np.flatnonzero(np.diff(t) > 2000.0) + 1
        sessions += np.split(grp[ITEM].to_numpy(), cut)
    s = np.zeros((len(sessions), len(items)))
    for r, movies in enumerate(sessions):
        s[r, np.searchsorted(items, movies)] = 1.0
    g = x.T @ x + 1.5 * s.T @ s
    p = np.linalg.inv(g + 3.0 * np.eye(len(items)))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(
        model.predict(df),
        (x @ b)[np.searchsorted(users, df[USER]), np.searchsorted(items, df[ITEM])],
        rtol=0,
        atol=1e-5,
    )


def z_outside(v: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Each row standardised by the mean and population std of its entries outside
    ``inputs`` (the blend's definition), with numpy's nan-aware reductions."""
    measured = np.where(inputs, np.nan, v)
    return (v - np.nanmean(measured, axis=1, keepdims=True)) / np.nanstd(
        measured, axis=1, keepdims=True
    )


def test_blend_standardises_outside_the_users_interactions() -> None:
    from movierec.engines.ease_blend import standardise

    rng = np.random.default_rng(3)
    v = rng.normal(size=(4, 9))
    inputs = rng.random((4, 9)) < 0.3
    inputs[0] = True  # a user holding the whole catalogue: measured on the whole row
    inputs[1] = False
    got = standardise(v, inputs)
    np.testing.assert_allclose(got[1:], z_outside(v[1:], inputs[1:]), atol=1e-12)
    np.testing.assert_allclose(got[0], standardise(v[:1])[0], atol=1e-12)
    np.testing.assert_allclose(got[1], standardise(v)[1], atol=1e-12)
    np.testing.assert_allclose(standardise(v[2], inputs[2]), got[2], atol=1e-12)  # one row
    assert not np.isnan(standardise(np.ones((2, 3)), inputs[:2, :3])).any()  # constant rows


def test_blend_with_implicit_partner_matches_manual_blend(tmp_path) -> None:
    from movierec.engines.ease_blend import partner_params, standardise

    df = random_ratings(30, 40, 500, seed=5)
    engine = LocalEngine()
    data = engine.data(df)
    params = ALSParams(
        model="ease", reg_param=5.0, rank=4, max_iter=3, alpha=1.0, seed=1, ease_blend=0.4,
        ease_blend_reg=0.1,
    )  # fmt: skip
    model = engine.fit(data, params)
    ease_only = engine.fit(data, ALSParams(model="ease", reg_param=5.0))
    partner = engine.fit(data, partner_params(params))
    assert partner.params.model == "implicit-als" and partner.params.reg_param == 0.1
    users, items, x = dense_x(df, 3.0)
    f = partner.factors()
    als = f.user_factors.astype(np.float64) @ f.item_factors.astype(np.float64).T
    pairs = pd.DataFrame({USER: np.repeat(users, len(items)), ITEM: np.tile(items, len(users))})
    e = ease_only.predict(pairs).reshape(len(users), len(items))
    want = 0.6 * z_outside(e, x > 0) + 0.4 * z_outside(als, x > 0)
    assert not np.allclose(want, 0.6 * standardise(e) + 0.4 * standardise(als), atol=1e-3)
    np.testing.assert_allclose(
        model.predict(pairs).reshape(len(users), len(items)), want, rtol=0, atol=1e-9
    )
    a = e - e.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(standardise(e), a / a.std(axis=1, keepdims=True), atol=1e-12)
    model.save(tmp_path / "m")
    back = engine.load(tmp_path / "m", params)
    pd.testing.assert_frame_equal(back.recommend(None, 5, data), model.recommend(None, 5, data))
