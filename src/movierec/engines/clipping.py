"""Predicted ratings clipped to the rating scale (the default of every explicit model).

:func:`fit_clipped` is the one way every scoring step (tuning, evaluation, split comparison,
protocol) fits a model. Clipping applies to predicted ratings only, never to top-N scores.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.engines.base import (
    ALSParams,
    Engine,
    EngineData,
    Factors,
    TrainedModel,
)
from movierec.engines.frames import clip_ratings as clip_ratings  # re-exported
from movierec.errors import ConfigError
from movierec.schema import RATING


def prediction_scale(
    params: ALSParams, train: pd.DataFrame | EngineData
) -> tuple[float, float] | None:
    """The ``(lo, hi)`` range predicted ratings are clipped to, or None for no clipping.

    None when ``params.clip_predictions`` is off or the model is a ranking model
    (``implicit-als``, ``ials``, ``ease``: its scores are not ratings); else
    ``params.rating_scale`` when set, else the lowest and highest rating of ``train`` (the
    data's rating scale as the model saw it; a pandas table or an engine's table, whose
    :meth:`~EngineData.stats` computes them where it lives). None too when ``train`` has no
    ratings or only one distinct value (no scale to take).

    Raises:
        ConfigError: the configured scale is empty (lo >= hi).
    """
    if not params.clip_predictions or params.ranking:
        return None
    if params.rating_scale is None:
        rows = train if isinstance(train, pd.DataFrame) else train.local_rows()
        if rows is not None:
            values = rows[RATING].to_numpy(dtype=np.float64)
            if len(values) == 0:
                return None
            lo, hi = float(values.min()), float(values.max())
        else:
            assert isinstance(train, EngineData)
            stats = train.stats()
            if stats.rows == 0:
                return None
            lo, hi = stats.rating_min, stats.rating_max
        return None if lo == hi else (lo, hi)
    lo, hi = params.rating_scale
    if not lo < hi:
        raise ConfigError(f"rating scale must have lo < hi, got [{lo}, {hi}]")
    return float(lo), float(hi)


class ClippedModel(TrainedModel):
    """A fitted model whose predicted ratings are clipped to a rating scale.

    Only :meth:`predict` and :meth:`predict_table` (the ratings that RMSE/MAE score) are
    clipped. :meth:`recommend` ranks by the unclipped scores: clipping would turn every
    prediction above the top of the scale into a tie and leave the order to movie ids.
    ``params.rating_scale`` holds the scale actually applied, so a saved model records it.
    """

    def __init__(self, inner: TrainedModel, scale: tuple[float, float]) -> None:
        self.inner = inner
        self.scale = scale
        self.params = replace(inner.params, rating_scale=scale)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return clip_ratings(self.inner.predict(pairs), self.scale)

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        return self.inner.predict_table(pairs, scale or self.scale)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        return self.inner.recommend(users, n, exclude)

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        return self.inner.recommend_table(users, n, exclude)

    def factors(self) -> Factors:
        return self.inner.factors()

    def save(self, path: Path) -> None:
        self.inner.save(path)

    def release(self) -> None:
        self.inner.release()


def with_clipping(model: TrainedModel, train: pd.DataFrame | EngineData) -> TrainedModel:
    """``model`` wrapped so its predictions are clipped as its params say (see
    :func:`prediction_scale`; ``train`` is the data it was fitted on). Returned unchanged
    when clipping is off, the model is a ranking model, or it is already clipped.
    """
    if isinstance(model, ClippedModel):
        return model
    scale = prediction_scale(model.params, train)
    return model if scale is None else ClippedModel(model, scale)


def fit_clipped(engine: Engine, train: EngineData, params: ALSParams) -> TrainedModel:
    """``engine.fit(train, params)`` with predictions clipped as ``params`` say: the one
    way every scoring step (tuning, evaluation, split comparison, protocol) fits a model."""
    return with_clipping(engine.fit(train, params), train)
