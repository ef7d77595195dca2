"""The notebook facade on Spark: ``Recommender(engine=<your SparkSession>)`` as a guest,
``recommend_all`` as a Spark DataFrame, ``BiasedALSModel.recommendForAllUsers`` /
``recommendForUserSubset`` and ``ranking_frame`` for ``RankingEvaluator`` — each checked
against an independent numpy/pandas computation from the fitted factors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import movierec

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frames(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Users 1..60 of ml-latest-small (about 9k ratings), 80/20, and the movies table."""
    df = pd.read_csv(ml_small / "ratings.csv")
    df = df[df.userId <= 60].reset_index(drop=True)
    test = df.sample(frac=0.2, random_state=5)
    return df.drop(test.index), test, pd.read_csv(ml_small / "movies.csv")


@pytest.fixture(scope="module")
def on_spark(spark: Any, frames: Any) -> movierec.Recommender:
    train, _, movies = frames
    rec = movierec.Recommender("biased-als", engine=spark, rank=4, max_iter=3)
    yield rec.fit(train, movies=movies)
    rec.close()


def _expected_top(rec: movierec.Recommender, user: int, seen: set[int], n: int) -> pd.Series:
    fac = rec._state().model.factors()
    row = int(np.searchsorted(fac.user_ids, user))
    s = fac.item_factors.astype(np.float64) @ fac.user_factors[row].astype(np.float64)
    s = s + fac.global_mean + fac.user_bias[row] + fac.item_bias
    scores = pd.Series(s, index=fac.item_ids).drop(index=list(seen), errors="ignore")
    return scores.sort_values(ascending=False, kind="stable").head(n)


def test_guest_session_settings_are_left_alone(spark: Any) -> None:
    keys = ("spark.sql.shuffle.partitions", "spark.sql.execution.arrow.pyspark.enabled")
    before_partitions = spark.conf.get(keys[0])
    spark.conf.set(keys[0], "3")
    try:
        before = {k: spark.conf.get(k) for k in keys}
        checkpoint = spark.sparkContext.getCheckpointDir()
        engine = movierec.get_engine("spark", spark=spark)
        assert engine.name == "spark"
        assert {k: spark.conf.get(k) for k in keys} == before
        assert spark.sparkContext.getCheckpointDir() == checkpoint
    finally:
        spark.conf.set(keys[0], before_partitions)


def test_spark_recommend_matches_the_factors_and_excludes_seen(
    on_spark: movierec.Recommender, frames: Any
) -> None:
    train, _, _ = frames
    recs = on_spark.recommend([1, 2], n=5)
    for user in (1, 2):
        seen = set(train.loc[train.userId == user, "movieId"])
        mine = recs[recs.user_id == user]
        expected = _expected_top(on_spark, user, seen, 5)
        assert list(mine.movie_id) == list(expected.index)
        assert np.allclose(mine.score, expected.to_numpy())
        assert (mine.title != "").all()


def test_spark_recommend_all_stays_a_spark_dataframe(
    on_spark: movierec.Recommender, frames: Any
) -> None:
    from pyspark.sql import DataFrame

    train, _, _ = frames
    lists = on_spark.recommend_all(4)
    assert isinstance(lists, DataFrame)
    assert lists.columns == ["user_id", "rank", "movie_id", "title", "genres", "score"]
    assert lists.select("user_id").distinct().count() == train.userId.nunique()
    mine = lists.filter("user_id = 3").orderBy("rank").toPandas()
    local = on_spark.recommend([3], n=4)
    assert list(mine.movie_id) == list(local.movie_id)
    assert list(mine.title) == list(local.title)


def test_spark_predict_evaluate_and_similar(on_spark: movierec.Recommender, frames: Any) -> None:
    _, test, _ = frames
    ev = on_spark.evaluate(test, k=5)
    pred = on_spark.predict(test).prediction.to_numpy()
    ok = ~np.isnan(pred)
    assert pred[ok].max() <= 5.0 and pred[ok].min() >= 0.5
    rmse = float(np.sqrt(np.mean((pred[ok] - test.rating.to_numpy()[ok]) ** 2)))
    assert ev.rmse == pytest.approx(rmse, rel=1e-9)
    sims = on_spark.similar_items("Toy Story", n=3)
    assert len(sims) == 3 and 1 not in set(sims.movie_id)
    new = on_spark.recommend_for({1: 5.0, 260: 4.5, 296: 1.0}, n=3)
    assert len(new) == 3 and not {1, 260, 296} & set(new.movie_id)


def test_biased_als_model_recommend_for_all_users_and_ranking_evaluator(
    spark: Any, frames: Any
) -> None:
    from pyspark.ml.evaluation import RankingEvaluator

    from movierec.ml import BiasedALS, ranking_frame

    train, test, _ = frames
    train_df = spark.createDataFrame(train[["userId", "movieId", "rating"]])
    model = BiasedALS(
        userCol="userId", itemCol="movieId", rank=4, maxIter=3, seed=3, coldStartStrategy="drop"
    ).fit(train_df)
    recs = model.recommendForAllUsers(5, seen=train_df)
    assert recs.columns == ["userId", "recommendations"]
    got = {r.userId: [x.movieId for x in r.recommendations] for r in recs.collect()}
    assert set(got) == set(train.userId)
    # Independent: mu + b_u + b_i + x.y from the model's own tables, seen movies removed.
    uf = {r.id: np.asarray(r.features) for r in model.alsModel.userFactors.collect()}
    itf = {r.id: np.asarray(r.features) for r in model.alsModel.itemFactors.collect()}
    ub = dict(model.userBias.toPandas().to_numpy())
    ib = dict(model.itemBias.toPandas().to_numpy())
    items = sorted(itf)
    y = np.stack([itf[i] for i in items]).astype(np.float64)
    ibias = np.asarray([ib[i] for i in items])
    for user in (1, 17, 42):
        s = model.globalMean + ub[user] + ibias + y @ uf[user].astype(np.float64)
        scores = pd.Series(s, index=items).drop(
            index=list(set(train.loc[train.userId == user, "movieId"]))
        )
        assert got[user] == list(scores.sort_values(ascending=False, kind="stable").index[:5])
    subset = model.recommendForUserSubset(
        spark.createDataFrame(pd.DataFrame({"userId": [17]})), 5, seen=train_df
    )
    assert [x.movieId for x in subset.collect()[0].recommendations] == got[17]
    # RankingEvaluator on the shaped frame against precision@5 computed in pandas.
    test_df = spark.createDataFrame(test[["userId", "movieId", "rating"]])
    frame = ranking_frame(recs, test_df, userCol="userId", itemCol="movieId", threshold=3.5)
    spark_p = RankingEvaluator(metricName="precisionAtK", k=5).evaluate(frame)
    relevant = test[test.rating >= 3.5].groupby("userId").movieId.apply(set)
    mine = [len(set(got.get(u, [])) & rel) / 5 for u, rel in relevant.items()]
    assert spark_p == pytest.approx(float(np.mean(mine)), abs=1e-12)


@pytest.mark.slow
def test_workers_without_pandas_fail_in_one_line_naming_pyspark_python(tmp_path: Path) -> None:
    """A session whose Python workers are the system python3 (no pandas here) is refused
    before any work, in one line naming PYSPARK_PYTHON."""
    script = (
        "from pyspark.sql import SparkSession\n"
        "import movierec\n"
        "s = (SparkSession.builder.master('local[1]')"
        ".config('spark.pyspark.python', '/usr/bin/python3')"
        ".config('spark.ui.enabled', 'false')"
        ".config('spark.driver.memory', '512m').getOrCreate())\n"
        "try:\n"
        "    movierec.get_engine('spark', spark=s)\n"
        "except movierec.EngineError as e:\n"
        "    print('ERR:' + str(e))\n"
        "finally:\n"
        "    s.stop()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_PYTHON", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("ERR:")]
    assert lines, done.stdout + done.stderr[-2000:]
    assert "PYSPARK_PYTHON" in lines[0] and "pandas" in lines[0]
    assert len(done.stdout.strip().splitlines()) == 1


@pytest.mark.slow
def test_get_engine_adopts_a_notebooks_running_session_unchanged() -> None:
    """A session the notebook built first is used as it is by get_engine("spark"): its
    shuffle partitions, checkpoint folder and log level stay; stop_spark leaves it running."""
    script = (
        "from pyspark.sql import SparkSession\n"
        "import movierec\n"
        "from movierec.spark import stop_spark\n"
        "s = (SparkSession.builder.master('local[1]')"
        ".config('spark.sql.shuffle.partitions', '7')"
        ".config('spark.ui.enabled', 'false')"
        ".config('spark.driver.memory', '512m').getOrCreate())\n"
        "engine = movierec.get_engine('spark')\n"
        "print('SAME', engine.spark is s)\n"
        "print('PARTS', s.conf.get('spark.sql.shuffle.partitions'))\n"
        "print('CKPT', s.sparkContext.getCheckpointDir())\n"
        "stop_spark()\n"
        "print('ALIVE', s.range(3).count())\n"
        "s.stop()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SPARK_LOCAL_IP": "127.0.0.1"}
    env["PYSPARK_PYTHON"] = sys.executable
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    out = dict(ln.split(" ", 1) for ln in done.stdout.splitlines() if " " in ln)
    assert out.get("SAME") == "True", done.stdout + done.stderr[-2000:]
    assert out["PARTS"] == "7"
    assert out["CKPT"] == "None"
    assert out["ALIVE"] == "3"


def test_fit_on_a_spark_dataframe_validates_on_the_cluster(spark: Any, frames: Any) -> None:
    """A Spark DataFrame is read by the engine's executor-side reader (same rules: the 9.5
    rating is not trained on) and recommendations come back in its ids, seen excluded."""
    train, _, movies = frames
    bad = pd.DataFrame({"userId": [1], "movieId": [1], "rating": [9.5], "timestamp": [0]})
    sdf = spark.createDataFrame(pd.concat([train, bad], ignore_index=True))
    rec = movierec.Recommender("als", engine=spark, rank=3, max_iter=2)
    try:
        rec.fit(sdf, movies=movies)
        assert rec._state().handle.count() == len(train)
        seen = set(train.loc[train.userId == 1, "movieId"])
        got = rec.recommend([1], n=5)
        assert len(got) == 5 and not seen & set(got.movie_id)
        assert (got.title != "").all()
    finally:
        rec.close()


def test_fit_on_loaded_spark_ratings_borrows_them(spark: Any, frames: Any) -> None:
    """``fit(movierec.load_ratings(spark_df))`` trains on the executor-validated ratings as
    loaded (the 9.5 rating is not trained on), without copying or freeing them; the local
    engine collects the same rows."""
    train, _, movies = frames
    bad = pd.DataFrame({"userId": [1], "movieId": [1], "rating": [9.5], "timestamp": [0]})
    sdf = spark.createDataFrame(pd.concat([train, bad], ignore_index=True))
    with movierec.load_ratings(sdf, movies=spark.createDataFrame(movies)) as loaded:
        assert loaded.report.rows_kept == len(train)
        assert loaded.report.rejected == {"rating_out_of_range": 1}
        rec = movierec.Recommender("als", engine=spark, rank=3, max_iter=2)
        try:
            rec.fit(loaded)
            assert rec._state().handle.df is loaded.ratings  # borrowed, not copied
            seen = set(train.loc[train.userId == 1, "movieId"])
            got = rec.recommend([1], n=5)
            assert len(got) == 5 and not seen & set(got.movie_id)
            assert (got.title != "").all()
        finally:
            rec.close()
        assert loaded.ratings.is_cached  # close() left the load's cache alone
        local = movierec.Recommender("als", rank=3, max_iter=2).fit(loaded)
        assert local._state().handle.count() == len(train)
        local.close()
