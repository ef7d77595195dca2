"""Scoring a model's predictions on Spark: twins of what :mod:`movierec.evaluation` and
:mod:`movierec.tuning` compute on pandas data.

* :func:`scored_rows` -- the test rows that have a prediction (evaluation's ``known`` rows);
* :func:`prediction_metrics` -- :func:`movierec.evaluation.prediction_metrics` in one job;
* :func:`holdout_rmse` -- :func:`movierec.tuning.holdout_rmse` in one job;
* :func:`evaluate_baselines` -- :func:`movierec.evaluation.evaluate_baselines` with the Spark
  baselines and metrics.

Predictions come either as a column PREDICTION of the test frame itself (what ALS's
``transform`` returns) or as a separate frame (USER, ITEM, PREDICTION) with one row per pair,
joined to the test rows on (USER, ITEM). A test row whose prediction is absent, null or NaN
is a cold-start row: left out of the metrics and counted, as the local code does with NaN.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from movierec.engines.spark._checks import count_if, missing, one_row, require_frame
from movierec.engines.spark.baselines import BiasBaseline, GlobalMean, MostPopular
from movierec.engines.spark.metrics import (
    _errors,
    _prf,
    beyond_accuracy,
    catalogue_top_k,
    within_result,
    within_summary,
)
from movierec.errors import DataError
from movierec.metrics import _check_k, _check_threshold
from movierec.schema import ITEM, PREDICTION, RATING, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["evaluate_baselines", "holdout_rmse", "prediction_metrics", "scored_rows"]


def _with_predictions(test: DataFrame, predictions: DataFrame | None) -> DataFrame:
    """``test`` with its PREDICTION column, joined from ``predictions`` when given."""
    if predictions is None:
        return require_frame(test, (USER, ITEM, RATING, PREDICTION), "test")
    tst = require_frame(test, (USER, ITEM, RATING), "test")
    pred = require_frame(predictions, (USER, ITEM, PREDICTION), "predictions")
    base = tst.drop(PREDICTION) if PREDICTION in tst.columns else tst
    return base.join(pred.select(USER, ITEM, PREDICTION), [USER, ITEM], "left")


def scored_rows(test: DataFrame, predictions: DataFrame | None = None) -> DataFrame:
    """The test rows (USER, ITEM, RATING, PREDICTION, ...) whose prediction is present and
    not NaN -- the rows :func:`movierec.evaluation.evaluate` scores. Lazy (no job).

    Raises:
        DataError: a required column is missing.
    """
    joined = _with_predictions(test, predictions)
    return joined.where(~missing(joined, PREDICTION))


def prediction_metrics(
    test: DataFrame, predictions: DataFrame | None, k: int, threshold: float
) -> dict[str, Any]:
    """:func:`movierec.evaluation.prediction_metrics` of the scored rows of ``test``:
    ``rmse``, ``mae``, ``mse``, ``n`` (= scored rows), ``pairwise`` and ``within_test_top_k``,
    all from ONE job (a window partitioned by user, per-user sums, a global sum).

    The local function takes predictions aligned with rows that are already free of NaN;
    here rows without a usable prediction are dropped first (:func:`scored_rows`).

    Raises:
        DataError: a column missing, missing actual ratings or ids, or no row with a
            prediction.
        ConfigError: ``k`` < 1 or ``threshold`` not finite.
    """
    k = _check_k(k)
    t = _check_threshold(threshold)
    row = within_summary(scored_rows(test, predictions), k, t)
    n_missing = int(row[f"_na_{RATING}"])
    if n_missing:
        raise DataError(f"actual contains {n_missing} NaN value(s)")
    if int(row["n"]) == 0:
        raise DataError("no ratings to evaluate: actual and predicted are empty")
    errors = _errors(row)
    return {
        "rmse": errors["rmse"],
        "mae": errors["mae"],
        "mse": errors["mse"],
        "n": errors["n"],
        "pairwise": _prf(row),
        "within_test_top_k": within_result(row, k),
    }


def holdout_rmse(valid: DataFrame, predictions: DataFrame | None = None) -> tuple[float, int]:
    """:func:`movierec.tuning.holdout_rmse`: RMSE over the validation rows that have a
    prediction, and the number of rows without one (cold start), in one job.

    Raises:
        DataError: a column missing, or no row could be predicted.
    """
    from pyspark.sql import functions as F

    joined = _with_predictions(valid, predictions)
    gap = missing(joined, PREDICTION)
    err = F.col(PREDICTION).cast("double") - F.col(RATING).cast("double")
    row = one_row(
        joined.agg(
            count_if(~gap).alias("n"),
            count_if(gap).alias("cold"),
            F.coalesce(F.sum(F.when(~gap, err * err)), F.lit(0.0)).alias("sse"),
        )
    )
    if int(row["n"]) == 0:
        raise DataError("no validation rating could be predicted (every user or movie is new)")
    return math.sqrt(float(row["sse"]) / int(row["n"])), int(row["cold"])


def evaluate_baselines(
    train: DataFrame,
    test: DataFrame,
    scored: DataFrame,
    k: int,
    threshold: float,
    movies: DataFrame | None = None,
) -> dict[str, Any]:
    """:func:`movierec.evaluation.evaluate_baselines` on Spark: global mean and user+movie bias
    (rating metrics on the ``scored`` rows: USER, ITEM, RATING) and most popular (catalogue
    top-k and beyond-accuracy of its lists for the test users, training movies excluded).

    The fitted tables and the popular lists (test users x k rows) are cached while they are
    used and released before returning.
    """
    out: dict[str, Any] = {}
    for name, baseline in (("global_mean", GlobalMean()), ("bias", BiasBaseline())):
        baseline.fit(train)
        try:
            out[name] = prediction_metrics(baseline.predict(scored), None, k, threshold)
        finally:
            baseline.release()
    popular = MostPopular().fit(train)
    recs = None
    try:
        recs = popular.recommend(test.select(USER), n=k, exclude=train).cache()
        assert popular.n_items_ is not None
        n_items = popular.n_items_  # training movies, as the local train[ITEM].nunique()
        out["most_popular"] = {
            "catalogue_top_k": catalogue_top_k(recs, test, k, threshold),
            "beyond_accuracy": beyond_accuracy(recs, train, movies, n_items, k),
        }
    finally:
        if recs is not None:
            recs.unpersist()
        popular.release()
    return out
