"""BiasedALS as a pyspark.ml Estimator: the Spark engine's numbers, clipping, persistence,
Pipeline and CrossValidator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams
from movierec.engines.spark_als import SparkEngine
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, USER
from movierec.split import random_split

pytestmark = pytest.mark.spark

PARAMS = ALSParams(model="biased-als", rank=6, reg_param=0.1, max_iter=5, bias_reg=4.0, seed=7)


@pytest.fixture(scope="module")
def split(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users 1..150 of ml-latest-small (about 25k ratings), 80/20 at random."""
    df = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    df = df.loc[df[USER] <= 150, [USER, ITEM, RATING]]
    df = df.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64}).reset_index(drop=True)
    return random_split(df, 0.2, seed=42)


def _estimator(**kw: Any) -> Any:
    from movierec.ml import BiasedALS

    base = {
        "rank": PARAMS.rank,
        "regParam": PARAMS.reg_param,
        "maxIter": PARAMS.max_iter,
        "biasReg": PARAMS.bias_reg,
        "seed": PARAMS.seed,
    }
    return BiasedALS(**{**base, **kw})


@pytest.fixture(scope="module")
def fitted(spark: Any, split: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    train, _ = split
    return _estimator(clipPredictions=False).fit(spark.createDataFrame(train))


def _predict(model: Any, spark: Any, test: pd.DataFrame) -> np.ndarray:
    frame = model.transform(spark.createDataFrame(test.assign(row=np.arange(len(test)))))
    pdf = frame.toPandas().sort_values("row")
    return pdf["prediction"].to_numpy(dtype=np.float64)


def test_same_numbers_as_the_spark_engine(
    spark: Any, split: tuple[pd.DataFrame, pd.DataFrame], fitted: Any
) -> None:
    train, test = split
    engine = SparkEngine(spark)
    handle = engine.data(train)
    reference = engine.fit(handle, PARAMS)
    try:
        want = reference.predict(test)
        factors = reference.factors()
    finally:
        reference.release()
        handle.release()
    # Biases: identical arithmetic, so identical numbers.
    assert fitted.globalMean == pytest.approx(train[RATING].mean(), rel=1e-12)
    assert fitted.globalMean == pytest.approx(factors.global_mean, rel=1e-12)
    ub = fitted.userBias.toPandas().set_index(USER)["user_bias"]
    ib = fitted.itemBias.toPandas().set_index(ITEM)["item_bias"]
    np.testing.assert_allclose(ub.reindex(factors.user_ids), factors.user_bias, atol=1e-12)
    np.testing.assert_allclose(ib.reindex(factors.item_ids), factors.item_bias, atol=1e-12)
    # Hand check of one movie's bias: sum(r - mean) / (n + biasReg).
    movie = int(train[ITEM].value_counts().index[0])
    r = train.loc[train[ITEM] == movie, RATING].to_numpy()
    assert ib[movie] == pytest.approx((r - fitted.globalMean).sum() / (len(r) + 4), rel=1e-12)
    # Predictions: same ALS on the same residuals (float32 factors).
    got = _predict(fitted, spark, test)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert ok.sum() > 0.8 * len(test)
    np.testing.assert_allclose(got[ok], want[ok], atol=2e-4)


def test_predictions_are_clipped_to_the_training_scale(
    spark: Any, split: tuple[pd.DataFrame, pd.DataFrame], fitted: Any
) -> None:
    train, test = split
    raw = _predict(fitted, spark, test)
    ok = ~np.isnan(raw)
    fitted.set(fitted.clipPredictions, True)
    try:
        assert fitted.ratingScale() == (train[RATING].min(), train[RATING].max()) == (0.5, 5.0)
        clipped = _predict(fitted, spark, test)
    finally:
        fitted.set(fitted.clipPredictions, False)
    assert (raw[ok] > 5.0).any()  # otherwise this test could not fail
    np.testing.assert_array_equal(np.isnan(clipped), ~ok)
    np.testing.assert_allclose(clipped[ok], np.clip(raw[ok], 0.5, 5.0), rtol=1e-12)
    # An explicit scale wins over the data's.
    model = _estimator(minRating=1.0, maxRating=4.0, maxIter=2).fit(spark.createDataFrame(train))
    pred = _predict(model, spark, test)
    assert np.nanmin(pred) == 1.0 and np.nanmax(pred) == 4.0


def test_cold_start_nan_or_drop(spark: Any, fitted: Any) -> None:
    rows = pd.DataFrame(
        {USER: np.array([1, 99999, 1], np.int32), ITEM: np.array([1, 1, 999999], np.int32)}
    )
    frame = spark.createDataFrame(rows)
    pred = fitted.transform(frame).toPandas()
    assert list(pred.columns) == [USER, ITEM, "prediction"]
    by_pair = pred.set_index([USER, ITEM])["prediction"]  # Spark keeps no row order
    assert np.isfinite(by_pair[(1, 1)]) and by_pair.drop((1, 1)).isna().all()
    assert len(by_pair) == 3
    dropped = fitted.copy({fitted.coldStartStrategy: "drop"}).transform(frame).toPandas()
    assert dropped[[USER, ITEM]].values.tolist() == [[1, 1]]


def test_save_and_load(
    spark: Any, split: tuple[pd.DataFrame, pd.DataFrame], fitted: Any, tmp_path: Path
) -> None:
    from movierec.ml import BiasedALS, BiasedALSModel

    _, test = split
    fitted.write().save(str(tmp_path / "model"))
    fitted.write().overwrite().save(str(tmp_path / "model"))  # replacing a saved model works
    loaded = BiasedALSModel.load(str(tmp_path / "model"))
    assert loaded.uid == fitted.uid and loaded.getRank() == PARAMS.rank
    assert loaded.ratingScale() == fitted.ratingScale()
    assert loaded.getClipPredictions() is False
    np.testing.assert_array_equal(_predict(loaded, spark, test), _predict(fitted, spark, test))
    est = _estimator(userCol="u", coldStartStrategy="drop")
    est.save(str(tmp_path / "estimator"))
    back = BiasedALS.load(str(tmp_path / "estimator"))
    assert back.getUserCol() == "u" and back.getColdStartStrategy() == "drop"
    assert back.getBiasReg() == PARAMS.bias_reg and back.uid == est.uid


def test_pipeline_with_other_column_names(
    spark: Any, split: tuple[pd.DataFrame, pd.DataFrame], fitted: Any, tmp_path: Path
) -> None:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import SQLTransformer

    train, test = split
    names = {USER: "userId", ITEM: "movieId", RATING: "stars"}
    stage = SQLTransformer(statement="SELECT *, CAST(stars AS DOUBLE) AS score FROM __THIS__")
    est = _estimator(userCol="userId", itemCol="movieId", ratingCol="score", predictionCol="guess")
    model = Pipeline(stages=[stage, est]).fit(spark.createDataFrame(train.rename(columns=names)))
    model.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    frame = spark.createDataFrame(test.rename(columns=names).assign(row=np.arange(len(test))))
    out = loaded.transform(frame).toPandas().sort_values("row")
    assert {"userId", "movieId", "stars", "score", "guess"} <= set(out.columns)
    # Same fit as the canonical-column estimator, clipped to the data's 0.5..5.
    want = np.clip(_predict(fitted, spark, test), 0.5, 5.0)
    np.testing.assert_allclose(out["guess"].to_numpy(np.float64), want, atol=1e-12)


@pytest.mark.slow
def test_cross_validator_picks_the_better_regularisation(
    spark: Any, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    train, test = split
    est = _estimator(coldStartStrategy="drop")
    grid = ParamGridBuilder().addGrid(est.regParam, [0.1, 3.0]).build()
    evaluator = RegressionEvaluator(metricName="rmse", labelCol=RATING)
    cv = CrossValidator(
        estimator=est, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, seed=3
    )
    cv_model = cv.fit(spark.createDataFrame(train))
    metrics = cv_model.avgMetrics
    assert len(metrics) == 2 and all(np.isfinite(metrics))
    # The two settings differ (regParam 3 squashes the factors to ~0, leaving the biases);
    # the best model is the one with the lower mean validation RMSE, refitted on all of train.
    assert abs(metrics[0] - metrics[1]) > 1e-3
    best = cv_model.bestModel
    assert best.getRegParam() == [0.1, 3.0][int(np.argmin(metrics))]
    # The refitted best model's test RMSE, by the evaluator and by numpy, agree.
    scored = best.transform(spark.createDataFrame(test))
    pdf = scored.toPandas()
    numpy_rmse = float(np.sqrt(np.mean((pdf["prediction"] - pdf[RATING]) ** 2)))
    assert evaluator.evaluate(scored) == pytest.approx(numpy_rmse, rel=1e-9)
    assert numpy_rmse < 1.0


def test_bad_input(spark: Any) -> None:
    frame = spark.createDataFrame(pd.DataFrame({USER: [1], ITEM: [2], RATING: [3.0]}))
    with pytest.raises(ConfigError, match="coldStartStrategy"):
        _estimator(coldStartStrategy="zero").fit(frame)
    with pytest.raises(ConfigError, match="biasReg"):
        _estimator(biasReg=-1.0).fit(frame)
    with pytest.raises(DataError, match="no column"):
        _estimator(ratingCol="stars").fit(frame)
    with pytest.raises(DataError, match="empty"):
        _estimator().fit(frame.limit(0))
