"""Evaluate a trained model on a held-out test set, beside simple baselines on the same split.

Three readings of precision/recall/F1 are reported (see the README for exact definitions):
``pairwise`` (each test pair a classification), ``within_test_top_k`` (the Surprise recipe)
and ``catalogue_top_k`` (each user's top-k unseen movies from the whole catalogue).

Every step runs on the engine's data plane (:class:`~movierec.engines.base.EngineData`):
only the metric dicts come back.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from movierec.engines.base import Catalog, EngineData, TrainedModel
from movierec.engines.clipping import with_clipping
from movierec.engines.frames import prediction_metrics as _prediction_metrics
from movierec.errors import DataError

log = logging.getLogger(__name__)


def prediction_metrics(
    test: pd.DataFrame, predicted: np.ndarray, k: int, threshold: float
) -> dict[str, Any]:
    """RMSE, MAE, MSE, pairwise and within-test top-k metrics of one set of predictions.

    ``predicted`` must be aligned with ``test`` rows and free of NaN.
    """
    return _prediction_metrics(test, predicted, k, threshold)


def _catalog(movies: Catalog | pd.DataFrame | None) -> Catalog | None:
    return Catalog(movies) if isinstance(movies, pd.DataFrame) else movies


def evaluate(
    model: TrainedModel,
    train: EngineData,
    test: pd.DataFrame | EngineData,
    *,
    k: int = 10,
    threshold: float = 3.0,
    with_baselines: bool = True,
    movies: Catalog | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (fitted on ``train``) on ``test``; optionally the baselines too.

    Rating metrics are computed on the test rows whose user and movie are in the training
    data (ALS cannot score the others); how many rows that leaves out is reported under
    ``coverage``, and the baselines are scored on exactly the same rows. The catalogue
    top-k reading covers every test user with at least one relevant movie (rating >=
    ``threshold``): a user the model cannot score counts with zero hits. Predicted ratings
    are clipped to the rating scale as ``model.params`` say (:func:`with_clipping`).
    ``test`` is a table of ``train``'s engine (or a pandas frame copied into it); ``movies``
    (a :class:`Catalog`, or a movies frame) gives the genres of the diversity metric.

    Returns a dict with the keys of ``summary.json``'s ``test`` section, plus ``baselines``
    when requested.

    Raises:
        DataError: the test set is empty or no test row can be predicted.
    """
    tst = test if isinstance(test, EngineData) else train.derive(test)
    try:
        return _evaluate(model, train, tst, k, threshold, with_baselines, _catalog(movies))
    finally:
        if tst is not test:
            tst.release()


def _evaluate(
    model: TrainedModel,
    train: EngineData,
    test: EngineData,
    k: int,
    threshold: float,
    with_baselines: bool,
    catalog: Catalog | None,
) -> dict[str, Any]:
    if test.count() == 0:
        raise DataError("the test set is empty")
    model = with_clipping(model, train)  # as its params say; no-op if already clipped
    coverage = train.cold_start_counts(test)
    with model.predict_table(test) as scored, scored.predicted() as known:
        n_known = known.count()
        if n_known == 0:
            raise DataError(
                "no test rating can be predicted: no test user or movie is in the training data"
            )
        result: dict[str, Any] = known.prediction_metrics(k, threshold)
        result["coverage"] = {**coverage, "scored_rows": int(n_known)}
        with model.recommend_table(test, k, exclude=train) as recs:
            result["catalogue_top_k"] = recs.catalogue_top_k(test, k, threshold)
            result["beyond_accuracy"] = recs.beyond_accuracy(train, catalog, k)
        result["k"] = k
        result["threshold"] = threshold
        result["model"] = model.params.model
        result["params"] = model.params.to_dict()
        if with_baselines:
            result["baselines"] = evaluate_baselines(train, test, known, k, threshold, catalog)
    return result


def evaluate_baselines(
    train: EngineData,
    test: EngineData,
    scored: EngineData,
    k: int,
    threshold: float,
    movies: Catalog | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Global mean, user+item bias (rating metrics on the ``scored`` rows: the test rows the
    model predicted) and most-popular (top-k of every test user), fitted on ``train``."""
    out: dict[str, Any] = {}
    for name in ("global_mean", "bias"):
        with train.fit_baseline(name) as baseline, baseline.predict_table(scored) as predicted:
            out[name] = predicted.prediction_metrics(k, threshold)
    with (
        train.fit_baseline("most_popular") as popular,
        popular.recommend_table(test, k, exclude=train) as recs,
    ):
        out["most_popular"] = {
            "catalogue_top_k": recs.catalogue_top_k(test, k, threshold),
            "beyond_accuracy": recs.beyond_accuracy(train, _catalog(movies), k),
        }
    return out
