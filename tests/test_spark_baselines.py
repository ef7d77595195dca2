"""Spark baselines against the local baselines on the same data: equal to 1e-9, same lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import baselines as local
from movierec.engines.local_als import LocalData
from movierec.engines.spark import baselines as spark_baselines
from movierec.engines.spark import scoring
from movierec.errors import ConfigError, DataError
from movierec.evaluation import evaluate_baselines
from movierec.schema import GENRES, ITEM, PREDICTION, RANK, RATING, SCORE, TIMESTAMP, USER
from movierec.split import random_split

pytestmark = pytest.mark.spark

TOL = 1e-9


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, pairs): 3,000 seeded ratings with popularity ties; the pairs include unknown
    users and movies."""
    rng = np.random.default_rng(8)
    n = 3_000
    train = pd.DataFrame(
        {
            USER: rng.integers(0, 120, n),
            ITEM: rng.integers(0, 90, n),
            RATING: rng.integers(1, 11, n) / 2.0,
        }
    ).astype({USER: np.int32, ITEM: np.int32})
    pairs = pd.DataFrame({USER: rng.integers(0, 140, 500), ITEM: rng.integers(0, 100, 500)}).astype(
        np.int32
    )
    return train, pairs


def _aligned(got: Any, pairs: pd.DataFrame) -> np.ndarray:
    """The PREDICTION column of ``got`` in the row order of ``pairs`` (which has a ``row``)."""
    out = got.select("row", PREDICTION).toPandas().sort_values("row")
    assert out["row"].tolist() == pairs["row"].tolist()
    return out[PREDICTION].to_numpy()


def test_global_mean(spark: Any, small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, pairs = small
    pairs = pairs.assign(row=np.arange(len(pairs)))
    model = local.GlobalMean().fit(train)
    twin = spark_baselines.GlobalMean().fit(spark.createDataFrame(train))
    assert twin.mean_ is not None and model.mean_ is not None
    assert abs(twin.mean_ - model.mean_) <= TOL
    got = twin.predict(spark.createDataFrame(pairs))
    assert got.columns == [*pairs.columns, PREDICTION]
    assert np.allclose(_aligned(got, pairs), model.predict(pairs), rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "params",
    [{}, {"reg_user": 0.0, "reg_item": 3.0, "iterations": 2, "clip": (1.0, 4.0)}],
)
def test_bias_baseline(
    spark: Any, small: tuple[pd.DataFrame, pd.DataFrame], params: dict[str, Any]
) -> None:
    train, pairs = small
    pairs = pairs.assign(row=np.arange(len(pairs)))
    model = local.BiasBaseline(**params).fit(train)
    twin = spark_baselines.BiasBaseline(**params).fit(spark.createDataFrame(train))
    try:
        assert twin.mean_ is not None and model.mean_ is not None
        assert abs(twin.mean_ - model.mean_) <= TOL
        assert twin.user_bias_ is not None and twin.item_bias_ is not None
        assert model.user_bias_ is not None and model.item_bias_ is not None
        for table, expected, key in (
            (twin.user_bias_, model.user_bias_, USER),
            (twin.item_bias_, model.item_bias_, ITEM),
        ):
            got = table.toPandas().set_index(key).iloc[:, 0].sort_index()
            assert got.index.tolist() == sorted(expected.index.tolist())
            assert np.allclose(got.to_numpy(), expected.sort_index().to_numpy(), rtol=0, atol=TOL)
        predicted = _aligned(twin.predict(spark.createDataFrame(pairs)), pairs)
        assert np.allclose(predicted, model.predict(pairs), rtol=0, atol=TOL)
    finally:
        twin.release()
    assert twin.user_bias_ is None


def test_bias_baseline_checks_like_local() -> None:
    with pytest.raises(ConfigError, match="reg_user must be a finite number >= 0"):
        spark_baselines.BiasBaseline(reg_user=-1.0)
    with pytest.raises(ConfigError, match="iterations must be an integer >= 1"):
        spark_baselines.BiasBaseline(iterations=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        spark_baselines.BiasBaseline().predict(None)  # type: ignore[arg-type]


def _lists(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[[USER, ITEM, SCORE, RANK]].astype({USER: np.int64, ITEM: np.int64, RANK: np.int64})
    return out.sort_values([USER, RANK]).reset_index(drop=True)


@pytest.mark.parametrize("n", [1, 10, 85, 200])
def test_most_popular(spark: Any, small: tuple[pd.DataFrame, pd.DataFrame], n: int) -> None:
    train, pairs = small
    users = [5, 3, 5, 130, 0, 77]  # repeats, a user unknown to training
    model = local.MostPopular().fit(train)
    twin = spark_baselines.MostPopular().fit(spark.createDataFrame(train))
    assert model.items_ is not None and twin.n_items_ == len(model.items_)
    s_train = spark.createDataFrame(train)
    try:
        for exclude, s_exclude in (
            (train, s_train),
            (None, None),
            (pairs, spark.createDataFrame(pairs)),
        ):
            expected = model.recommend(users, n, exclude=exclude)
            for who in (users, spark.createDataFrame([(u,) for u in users], f"{USER} int")):
                got = twin.recommend(who, n, exclude=s_exclude).toPandas()
                pd.testing.assert_frame_equal(_lists(got), _lists(expected))
    finally:
        twin.release()


def test_most_popular_errors(spark: Any, small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    twin = spark_baselines.MostPopular()
    with pytest.raises(RuntimeError, match="not fitted"):
        twin.recommend([1])
    twin.fit(spark.createDataFrame(small[0]))
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        twin.recommend([1], 0)
    with pytest.raises(DataError, match="users contains missing ids"):
        twin.recommend(spark.createDataFrame([(1,), (None,)], f"{USER} int"))
    with pytest.raises(DataError, match="users contains missing ids"):
        twin.recommend([1.0, float("nan")])
    twin.release()


@pytest.mark.parametrize("kind", ["GlobalMean", "BiasBaseline", "MostPopular"])
def test_fit_errors_match_local(spark: Any, kind: str) -> None:
    schema = f"{USER} int, {ITEM} int, {RATING} double"
    for rows in ([], [(1, None, 4.0), (1, 3, 4.0)]):
        df = spark.createDataFrame(rows, schema)
        with pytest.raises(DataError) as expected:
            getattr(local, kind)().fit(df.toPandas())
        with pytest.raises(DataError, match=f"^{re.escape(str(expected.value))}$"):
            getattr(spark_baselines, kind)().fit(df)


@pytest.mark.slow
def test_baselines_on_ml_small(spark: Any, ml_small: Path) -> None:
    ratings = pd.read_csv(ml_small / "ratings.csv")
    ratings.columns = [USER, ITEM, RATING, TIMESTAMP]
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32})
    train, test = random_split(ratings, 0.2, seed=9)
    movies = pd.read_csv(ml_small / "movies.csv").rename(columns={"movieId": ITEM})[[ITEM, GENRES]]
    known = test[test[USER].isin(train[USER]) & test[ITEM].isin(train[ITEM])]
    known = known.reset_index(drop=True)
    expected = evaluate_baselines(
        LocalData(train), LocalData(test), LocalData(known), 10, 3.0, movies=movies
    )
    s_train, s_test, s_known, s_movies = (
        spark.createDataFrame(f).cache() for f in (train, test, known, movies)
    )
    got = scoring.evaluate_baselines(s_train, s_test, s_known, 10, 3.0, movies=s_movies)
    _assert_same(expected, got)


def _assert_same(expected: Any, got: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert set(got) == set(expected), path
        for key in expected:
            _assert_same(expected[key], got[key], f"{path}.{key}")
    elif expected is None or isinstance(expected, int):
        assert got == expected, (path, expected, got)
    else:
        assert abs(got - expected) <= TOL * max(1.0, abs(expected)), (path, expected, got)
