"""EASE on the Spark engine equals EASE on the local engine (scores, top-N, model folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams
from movierec.engines.local_als import LocalEngine
from movierec.engines.spark_als import SparkEngine
from movierec.errors import EngineError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

pytestmark = pytest.mark.spark


def fixture_ratings() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 900
    df = pd.DataFrame(
        {
            USER: rng.integers(0, 40, n).astype(np.int32) * 5 + 3,
            ITEM: (rng.zipf(1.6, n) % 60).astype(np.int32) * 11 + 1,
            RATING: rng.integers(1, 11, n).astype(np.float64) / 2,
        }
    ).drop_duplicates([USER, ITEM])
    df[TIMESTAMP] = rng.integers(0, 50_000, len(df)).astype(np.int64)  # rating sessions
    # one user whose every rating is below the threshold: no interactions, still listed
    low = pd.DataFrame({USER: [999, 999], ITEM: [1, 12], RATING: [1.0, 2.0], TIMESTAMP: [0, 1]})
    return pd.concat([df, low], ignore_index=True)


@pytest.fixture(scope="module")
def engine(spark: Any) -> SparkEngine:
    return SparkEngine(spark)


@pytest.mark.parametrize(("topk", "sessions"), [(0, 0.0), (8, 0.0), (0, 1.5)])
def test_spark_ease_equals_local(engine: SparkEngine, topk: int, sessions: float) -> None:
    df = fixture_ratings()
    params = ALSParams(
        model="ease", reg_param=4.0, ease_threshold=3.0, ease_topk=topk,
        ease_session_weight=sessions, ease_session_gap=5000.0,
    )  # fmt: skip
    local = LocalEngine()
    l_data = local.data(df)
    s_data = engine.data(df)
    try:
        l_model = local.fit(l_data, params)
        s_model = engine.fit(s_data, params)
        try:
            l_recs = l_model.recommend(None, 6, exclude=l_data)
            s_recs = s_model.recommend(None, 6, exclude=s_data)
            assert 999 in set(s_recs[USER])
            pd.testing.assert_frame_equal(
                s_recs.drop(columns="score"), l_recs.drop(columns="score")
            )
            np.testing.assert_allclose(s_recs["score"], l_recs["score"], rtol=1e-12, atol=1e-12)
            some = np.unique(df[USER])[:5]
            pd.testing.assert_frame_equal(
                s_model.recommend(some, 3, exclude=s_data),
                l_model.recommend(some, 3, exclude=l_data),
                check_exact=False,
                rtol=1e-12,
            )
            pairs = pd.concat(
                [df[[USER, ITEM]].head(30), pd.DataFrame({USER: [12345, 3], ITEM: [1, 777777]})],
                ignore_index=True,
            )
            np.testing.assert_allclose(
                s_model.predict(pairs), l_model.predict(pairs), rtol=1e-12, atol=1e-12
            )
        finally:
            s_model.release()
    finally:
        s_data.release()


def test_spark_ease_model_folder_loads_on_both_engines(engine: SparkEngine, tmp_path: Path) -> None:
    df = fixture_ratings()
    params = ALSParams(model="ease", reg_param=4.0, ease_topk=10)
    data = engine.data(df)
    local = LocalEngine()
    try:
        model = engine.fit(data, params)
        model.save(tmp_path / "m")
        want = model.recommend(None, 5, exclude=data)
        back = engine.load(tmp_path / "m", params)
        pd.testing.assert_frame_equal(back.recommend(None, 5, exclude=data), want)
        l_back = local.load(tmp_path / "m", params)
        got = l_back.recommend(None, 5, exclude=local.data(df))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
        model.release()
        back.release()
    finally:
        data.release()


def test_spark_ease_refuses_above_item_limit(engine: SparkEngine) -> None:
    data = engine.data(fixture_ratings())
    try:
        with pytest.raises(EngineError, match="ease_max_items = 10"):
            engine.fit(data, ALSParams(model="ease", reg_param=1.0, ease_max_items=10))
    finally:
        data.release()


def test_spark_blend_matches_its_parts(engine: SparkEngine, tmp_path: Path) -> None:
    from movierec.engines.ease_blend import partner_params, standardise

    df = fixture_ratings()
    params = ALSParams(
        model="ease", reg_param=4.0, rank=3, max_iter=3, seed=2, ease_blend=0.5,
        ease_blend_reg=0.1,
    )  # fmt: skip
    data = engine.data(df)
    try:
        model = engine.fit(data, params)
        plain = engine.fit(data, ALSParams(model="ease", reg_param=4.0))
        assert model.partner is not None
        assert model.partner.params == partner_params(params)
        f = model.partner.factors()
        users, items = np.unique(df[USER]), np.unique(df[ITEM])
        pairs = pd.DataFrame({USER: np.repeat(users, len(items)), ITEM: np.tile(items, len(users))})
        e = plain.predict(pairs).reshape(len(users), len(items))
        uf = np.zeros((len(users), f.user_factors.shape[1]))
        uf[np.searchsorted(users, f.user_ids)] = f.user_factors
        vf = np.zeros((len(items), f.item_factors.shape[1]))
        vf[np.searchsorted(items, f.item_ids)] = f.item_factors
        liked = df[df[RATING] >= params.ease_threshold]
        inputs = np.zeros((len(users), len(items)), dtype=bool)
        inputs[np.searchsorted(users, liked[USER]), np.searchsorted(items, liked[ITEM])] = True
        want = 0.5 * standardise(e, inputs) + 0.5 * standardise(uf @ vf.T, inputs)
        got = model.predict(pairs).reshape(len(users), len(items))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        recs = model.recommend(users[:4], 3, exclude=data)
        for u, grp in recs.groupby(USER):
            row = np.searchsorted(users, u)
            np.testing.assert_allclose(
                grp["score"], got[row, np.searchsorted(items, grp[ITEM])], atol=1e-9
            )
        model.save(tmp_path / "blend")
        back = engine.load(tmp_path / "blend", params)
        pd.testing.assert_frame_equal(back.recommend(users[:4], 3, exclude=data), recs)
        for m in (model, plain, back):
            m.release()
    finally:
        data.release()


def test_spark_ease_tables_stay_on_the_executors_and_equal_local(engine: SparkEngine) -> None:
    """recommend_table / predict_table return Spark tables (no driver rows) whose content is
    the local engine's lists and scores: listed users are the distinct users of the table
    asked for (an unknown user gets no list), scored rows keep every input row (duplicates
    too) and an unknown user or movie scores NaN."""
    from movierec.engines.spark.table import SparkData

    df = fixture_ratings()
    params = ALSParams(model="ease", reg_param=4.0, ease_threshold=3.0)
    local = LocalEngine()
    l_data = local.data(df)
    s_data = engine.data(df)
    known = np.unique(df[USER])[:4]
    asked = pd.DataFrame(
        {
            USER: np.r_[known, known[:2], [12345, known[0]]].astype(np.int32),
            ITEM: np.r_[df[ITEM].to_numpy()[:6], [1, 777777]].astype(np.int32),
            RATING: np.full(8, 4.0),
        }
    )
    s_asked = engine.data(asked)
    s_model = engine.fit(s_data, params)
    l_model = local.fit(l_data, params)
    try:
        with s_model.recommend_table(s_asked, 5, exclude=s_data) as recs:
            assert isinstance(recs, SparkData) and recs.local_rows() is None
            got = recs.ratings.sort_values([USER, "rank"]).reset_index(drop=True)
        want = l_model.recommend(known, 5, exclude=l_data)
        pd.testing.assert_frame_equal(got[want.columns], want, check_exact=False, rtol=1e-12)
        with s_model.predict_table(s_asked) as scored:
            assert isinstance(scored, SparkData) and scored.local_rows() is None
            rows = scored.ratings
        assert len(rows) == len(asked)
        merged = asked.merge(
            rows[[USER, ITEM, "prediction"]].drop_duplicates([USER, ITEM]), on=[USER, ITEM]
        )
        expected = l_model.predict(merged[[USER, ITEM]])
        assert np.isnan(expected).sum() == 2  # the unknown user and the unknown movie
        np.testing.assert_allclose(merged["prediction"], expected, rtol=1e-12, atol=1e-12)
    finally:
        s_model.release()
        s_asked.release()
        s_data.release()
