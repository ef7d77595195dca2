"""Evaluate a trained model on a held-out test set, beside simple baselines on the same split.

Three readings of precision/recall/F1 are reported (see the README for exact definitions):
``pairwise`` (each test pair a classification), ``within_test_top_k`` (the Surprise recipe)
and ``catalogue_top_k`` (each user's top-k unseen movies from the whole catalogue).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from movierec.baselines import BiasBaseline, GlobalMean, MostPopular
from movierec.engines.base import EngineData, TrainedModel, with_clipping
from movierec.errors import DataError
from movierec.metrics import (
    beyond_accuracy,
    catalogue_top_k,
    pairwise_prf,
    rating_errors,
    within_test_top_k,
)
from movierec.schema import ITEM, PREDICTION, RATING, USER
from movierec.split import cold_start_counts

log = logging.getLogger(__name__)


def prediction_metrics(
    test: pd.DataFrame, predicted: np.ndarray, k: int, threshold: float
) -> dict[str, Any]:
    """RMSE, MAE, MSE, pairwise and within-test top-k metrics of one set of predictions.

    ``predicted`` must be aligned with ``test`` rows and free of NaN.
    """
    actual = test[RATING].to_numpy(dtype=np.float64)
    errors = rating_errors(actual, predicted)
    frame = pd.DataFrame(
        {
            USER: test[USER].to_numpy(),
            ITEM: test[ITEM].to_numpy(),
            RATING: actual,
            PREDICTION: predicted,
        }
    )
    return {
        "rmse": errors["rmse"],
        "mae": errors["mae"],
        "mse": errors["mse"],
        "n": errors["n"],
        "pairwise": pairwise_prf(actual, predicted, threshold),
        "within_test_top_k": within_test_top_k(frame, k, threshold),
    }


def evaluate(
    model: TrainedModel,
    train: EngineData,
    test: pd.DataFrame,
    *,
    k: int = 10,
    threshold: float = 3.0,
    with_baselines: bool = True,
    movies: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (fitted on ``train``) on ``test``; optionally the baselines too.

    Rating metrics are computed on the test rows whose user and movie are in the training
    data (ALS cannot score the others); how many rows that leaves out is reported under
    ``coverage``, and the baselines are scored on exactly the same rows. The catalogue
    top-k reading covers every test user with at least one relevant movie (rating >=
    ``threshold``): a user the model cannot score counts with zero hits. Predicted ratings
    are clipped to the rating scale as ``model.params`` say (:func:`with_clipping`).

    Returns a dict with the keys of ``summary.json``'s ``test`` section, plus ``baselines``
    when requested.

    Raises:
        DataError: the test set is empty or no test row can be predicted.
    """
    if len(test) == 0:
        raise DataError("the test set is empty")
    train_ratings = train.ratings
    model = with_clipping(model, train_ratings)  # as its params say; no-op if already clipped
    coverage = cold_start_counts(train_ratings, test)
    predicted = model.predict(test)
    known = ~np.isnan(predicted)
    if not known.any():
        raise DataError(
            "no test rating can be predicted: no test user or movie is in the training data"
        )
    scored = test.loc[known].reset_index(drop=True)
    result: dict[str, Any] = prediction_metrics(scored, predicted[known], k, threshold)
    result["coverage"] = {**coverage, "scored_rows": int(known.sum())}
    test_users = np.unique(test[USER].to_numpy())
    recs = model.recommend(test_users, k, exclude=train)
    result["catalogue_top_k"] = catalogue_top_k(recs, test, k, threshold)
    n_items = int(train_ratings[ITEM].nunique())
    result["beyond_accuracy"] = beyond_accuracy(recs, train_ratings, movies, n_items, k)
    result["k"] = k
    result["threshold"] = threshold
    result["model"] = model.params.model
    result["params"] = model.params.to_dict()
    if with_baselines:
        result["baselines"] = evaluate_baselines(
            train_ratings, test, scored, k, threshold, movies=movies
        )
    return result


def evaluate_baselines(
    train: pd.DataFrame,
    test: pd.DataFrame,
    scored: pd.DataFrame,
    k: int,
    threshold: float,
    movies: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Global mean, user+item bias (rating metrics on ``scored`` rows) and most-popular (top-k)."""
    out: dict[str, Any] = {}
    for name, baseline in (("global_mean", GlobalMean()), ("bias", BiasBaseline())):
        baseline.fit(train)
        out[name] = prediction_metrics(scored, baseline.predict(scored), k, threshold)
    popular = MostPopular().fit(train)
    users = np.unique(test[USER].to_numpy())
    recs = popular.recommend(users, n=k, exclude=train)
    out["most_popular"] = {
        "catalogue_top_k": catalogue_top_k(recs, test, k, threshold),
        "beyond_accuracy": beyond_accuracy(recs, train, movies, int(train[ITEM].nunique()), k),
    }
    return out
