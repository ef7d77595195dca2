"""The local engine's data plane on pandas: the transforms and scores every in-memory table
uses (:class:`movierec.engines.base.EngineData`'s defaults). Pure functions of frames and
arrays; everything here runs in this process and grows with the table it is given.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.metrics import pairwise_prf, rating_errors, within_test_top_k
from movierec.schema import ITEM, PREDICTION, RATING, USER

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("rating", "all", "threshold")
"""Interaction modes of :func:`to_interactions` (see :mod:`movierec.interactions`)."""


def to_interactions(
    ratings: pd.DataFrame, mode: str = "rating", threshold: float = 3.0
) -> pd.DataFrame:
    """The table implicit ALS is fitted on, derived from explicit ``ratings`` (a new frame).

    Args:
        ratings: canonical ratings (USER, ITEM, RATING, optional TIMESTAMP).
        mode: ``rating`` (values unchanged), ``all`` (every value 1.0) or ``threshold``
            (rows with rating >= ``threshold`` kept with value 1.0, the others dropped).
        threshold: the cut-off of ``threshold`` mode, in rating units.

    Returns:
        The same columns; RATING is float64. ``rating`` mode returns ``ratings`` itself.

    Raises:
        ConfigError: an unknown mode or a non-finite threshold.
        DataError: ``threshold`` mode leaves no interaction.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown interactions mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "rating":
        return ratings
    if mode == "all":
        return ratings.assign(**{RATING: np.float64(1.0)})
    if not np.isfinite(threshold):
        raise ConfigError(f"interaction threshold must be a finite number, got {threshold}")
    kept = ratings.loc[ratings[RATING].to_numpy() >= threshold]
    if kept.empty:
        raise DataError(
            f"no rating is >= the interaction threshold {threshold}; "
            "lower --interaction-threshold or use --interactions rating"
        )
    log.debug("interactions: %d of %d ratings are >= %g", len(kept), len(ratings), threshold)
    return kept.assign(**{RATING: np.float64(1.0)}).reset_index(drop=True)


def holdout_rmse(model_predict: np.ndarray, actual: pd.Series) -> tuple[float, int]:
    """RMSE over the rows that have a prediction, and the number of cold-start rows left out.

    Raises:
        DataError: no row has a prediction (every user or movie is new).
    """
    pred = np.asarray(model_predict, dtype=np.float64)
    ok = ~np.isnan(pred)
    if not ok.any():
        raise DataError("no validation rating could be predicted (every user or movie is new)")
    return float(rating_errors(actual.to_numpy()[ok], pred[ok])["rmse"]), int((~ok).sum())


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


def fingerprint(ratings: pd.DataFrame) -> str:
    """SHA-256 of the (user, movie, rating) triples, independent of row order.

    Rows are sorted by (user, movie) before hashing the int32/int32/float64 arrays, so the
    same ratings give the same fingerprint however they were read.
    """
    order = np.lexsort((ratings[ITEM].to_numpy(), ratings[USER].to_numpy()))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ratings[USER].to_numpy(dtype=np.int32)[order]).tobytes())
    h.update(np.ascontiguousarray(ratings[ITEM].to_numpy(dtype=np.int32)[order]).tobytes())
    h.update(np.ascontiguousarray(ratings[RATING].to_numpy(dtype=np.float64)[order]).tobytes())
    return "sha256:" + h.hexdigest()


def clip_ratings(predicted: np.ndarray, scale: tuple[float, float] | None) -> np.ndarray:
    """``predicted`` (float64) with every value limited to ``scale = (lo, hi)``.

    NaN (cold start) stays NaN; ``scale`` None returns the values unchanged.
    """
    out = np.asarray(predicted, dtype=np.float64)
    if scale is None:
        return out
    return np.clip(out, scale[0], scale[1])
