"""The engine contract: fit -> model; model -> predictions, top-N, factors; save/load.

The pipeline talks only to this interface, so a second engine (e.g. an in-process one)
plugs in without a rewrite. Data crosses the boundary as pandas DataFrames in the
canonical schema (:mod:`movierec.schema`); an engine may keep its own cached copy of a
dataset behind an opaque :class:`EngineData` handle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from movierec.config import ALSConfig

MODELS = ("als", "biased-als", "implicit-als", "ials", "ease")
"""``als``: Spark MLlib ALS on the ratings. ``biased-als``: global mean + damped user and
movie biases, with ALS fitted on the residuals (prediction = mean + b_u + b_i + x_u·y_i).
``implicit-als``: Spark MLlib's implicit-feedback ALS (Hu, Koren & Volinsky; every rating is
an interaction with confidence 1 + alpha·|r|); its "prediction" x_u·y_i is a preference
score for ranking (about 0..1), not a rating. ``ials``: iALS in Rendle et al.'s form
(binary preferences, weight α0 on all unobserved pairs, frequency-scaled regularisation;
local engine only); its scores are preferences too. ``ease``: Steck's EASE item-item model
(:mod:`movierec.engines.ease`; ``reg_param`` is its λ); its scores rank movies, they are not
ratings."""

RANKING_MODELS = ("implicit-als", "ials", "ease")
"""Kinds whose scores rank movies but are not ratings (no RMSE, no clipping)."""


def _config_default(name: str) -> Any:
    """The default of ``ALSConfig.<name>`` (defaults live in :mod:`movierec.config` only)."""
    return ALSConfig.model_fields[name].default


@dataclass(frozen=True)
class ALSParams:
    """Hyper-parameters of one ALS fit (Spark MLlib semantics).

    ``alpha`` is the confidence scale of ``implicit-als`` (Spark's ``alpha``); the explicit
    models ignore it.
    """

    rank: int = 10
    reg_param: float = 0.1
    max_iter: int = 15
    seed: int = 42
    model: str = "als"
    bias_reg: float = 5.0
    nonnegative: bool = False
    num_blocks: int = 4
    checkpoint_interval: int = 10
    alpha: float = 1.0
    clip_predictions: bool = True
    rating_scale: tuple[float, float] | None = None
    """``(lo, hi)`` that predicted ratings are clipped to; None = the training data's lowest
    and highest rating (see :func:`prediction_scale`)."""
    ease_threshold: float | None = 3.0
    """``ease``: ratings >= this are its interactions (None: every rating)."""
    ease_topk: int = 0
    """``ease``: keep the k largest-magnitude weights per row of B (0: dense B)."""
    ease_max_items: int = 20000
    """``ease``: refuse to fit on more movies than this (the dense items×items matrices)."""
    ease_session_weight: float = 0.0
    """``ease``: extra weight of co-occurrences within one rating session (0: none). The
    ``ease_*`` defaults here are plain EASE for library use; movierec's configured defaults
    (sessions and blend on) come from :class:`movierec.config.ALSConfig` via from_config."""
    ease_session_gap: float = 3600.0
    """``ease``: seconds between two ratings of a user that start a new session."""
    ease_blend: float = 0.0
    """``ease``: weight of an implicit-als partner's scores (rank, max_iter, alpha of these
    params, regParam ``ease_blend_reg``) blended with EASE's (0: plain EASE)."""
    ease_blend_reg: float = 0.2
    """``ease``: regParam of the blended implicit-als partner."""
    implicit_solver: str = _config_default("implicit_solver")
    """``cg`` or ``cholesky``: how the local engine solves implicit-als / ials rows."""
    cg_steps: int = _config_default("cg_steps")
    unobserved_weight: float = _config_default("unobserved_weight")
    """ials's α0."""
    reg_exponent: float = _config_default("reg_exponent")
    """ials's ν."""
    init_std: float = _config_default("init_std")
    """ials's σ (factors start as N(0, σ/√rank))."""

    def __post_init__(self) -> None:
        if self.rating_scale is not None:  # a list when read back from JSON metadata
            lo, hi = (float(v) for v in self.rating_scale)
            object.__setattr__(self, "rating_scale", (lo, hi))

    @property
    def biased(self) -> bool:
        return self.model == "biased-als"

    @property
    def implicit(self) -> bool:
        """True for ``implicit-als`` and ``ials``: scores are preferences, not predicted
        ratings (no clipping, no RMSE, fitted on interactions)."""
        return self.model in ("implicit-als", "ials")

    @property
    def ials(self) -> bool:
        """True for ``ials`` (Rendle et al.'s iALS)."""
        return self.model == "ials"

    @property
    def ranking(self) -> bool:
        """True for kinds whose scores rank movies but are not ratings
        (:data:`RANKING_MODELS`): no RMSE, no clipping."""
        return self.model in RANKING_MODELS

    @classmethod
    def from_config(cls, cfg: ALSConfig, seed: int) -> ALSParams:
        return cls(
            rank=cfg.rank,
            reg_param=cfg.reg_param,
            max_iter=cfg.max_iter,
            seed=seed,
            model=cfg.model,
            bias_reg=cfg.bias_reg,
            nonnegative=cfg.nonnegative,
            num_blocks=cfg.num_blocks,
            checkpoint_interval=cfg.checkpoint_interval,
            alpha=cfg.alpha,
            clip_predictions=cfg.clip_predictions,
            rating_scale=cfg.rating_scale,
            ease_threshold=cfg.ease_threshold,
            ease_topk=cfg.ease_topk,
            ease_max_items=cfg.ease_max_items,
            ease_session_weight=cfg.ease_session_weight,
            ease_session_gap=cfg.ease_session_gap,
            ease_blend=cfg.ease_blend,
            ease_blend_reg=cfg.ease_blend_reg,
            implicit_solver=cfg.implicit_solver,
            cg_steps=cfg.cg_steps,
            unobserved_weight=cfg.unobserved_weight,
            reg_exponent=cfg.reg_exponent,
            init_std=cfg.init_std,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Factors:
    """Latent factors as plain arrays: row ``j`` of ``user_factors`` belongs to ``user_ids[j]``.

    A prediction is ``global_mean + user_bias[u] + item_bias[i] + user_factors[u] @
    item_factors[i]``; for plain ALS the mean is 0 and the biases are zeros.
    """

    user_ids: np.ndarray
    user_factors: np.ndarray
    item_ids: np.ndarray
    item_factors: np.ndarray
    global_mean: float = 0.0
    user_bias: np.ndarray | None = None
    item_bias: np.ndarray | None = None


class EngineData(ABC):
    """An engine's handle on one ratings table (e.g. a cached Spark DataFrame)."""

    @property
    @abstractmethod
    def ratings(self) -> pd.DataFrame:
        """The canonical pandas table this handle was made from."""

    def release(self) -> None:  # noqa: B027 - optional hook
        """Free engine-side resources (cache); the handle must not be used afterwards."""


class TrainedModel(ABC):
    """A fitted ALS model."""

    params: ALSParams

    @abstractmethod
    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Predicted ratings for the (USER, ITEM) rows of ``pairs``, in row order.

        For ``implicit-als`` the values are preference scores x_u·y_i (for ranking, roughly
        0..1), not ratings.

        Rows whose user or movie was not in the training data get NaN (cold start); callers
        count and report them.
        """

    @abstractmethod
    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` movies per user: columns USER, ITEM, SCORE, RANK (1-based).

        ``users`` None means every user the model knows. Movies the user has in
        ``exclude`` (normally the training ratings) are never recommended. Ties in score are
        broken by ascending movie id, so lists are deterministic.
        """

    @abstractmethod
    def factors(self) -> Factors:
        """The user and item factors as numpy arrays (float32), sorted by id."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the engine's native model format to ``path`` (a folder that must not exist)."""

    def release(self) -> None:  # noqa: B027 - optional hook
        """Free engine-side resources (cached tables); the model must not be used afterwards."""


class Engine(ABC):
    """Factory for data handles and models of one compute engine."""

    name: ClassVar[str]
    max_concurrent_fits: ClassVar[int | None] = None
    """How many fits may run at once from different threads (None: no limit). An engine that
    already uses every core inside one fit sets 1."""

    @abstractmethod
    def data(self, ratings: pd.DataFrame) -> EngineData:
        """Make (and cache) the engine's copy of a canonical ratings table."""

    @abstractmethod
    def fit(self, train: EngineData, params: ALSParams) -> TrainedModel:
        """Fit ALS on ``train`` with ``params``; deterministic for a given seed."""

    @abstractmethod
    def load(self, path: Path, params: ALSParams) -> TrainedModel:
        """Load a model written by :meth:`TrainedModel.save`; ``params`` come from its metadata."""

    @abstractmethod
    def aggregates(self, data: EngineData) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(ratings per user, per movie, per rating value), computed by the engine."""


# --- prediction clipping -------------------------------------------------------------------


def prediction_scale(params: ALSParams, train: pd.DataFrame) -> tuple[float, float] | None:
    """The ``(lo, hi)`` range predicted ratings are clipped to, or None for no clipping.

    None when ``params.clip_predictions`` is off or the model is a ranking model
    (``implicit-als``, ``ease``: its scores are not ratings); else ``params.rating_scale``
    when set, else the lowest and highest rating of ``train`` (the data's rating scale as
    the model saw it). None too when ``train`` has no ratings or only one distinct value (no
    scale to take).

    Raises:
        ConfigError: the configured scale is empty (lo >= hi).
    """
    from movierec.errors import ConfigError
    from movierec.schema import RATING

    if not params.clip_predictions or params.ranking:
        return None
    if params.rating_scale is None:
        values = train[RATING].to_numpy(dtype=np.float64)
        if len(values) == 0 or values.min() == values.max():
            return None
        return float(values.min()), float(values.max())
    lo, hi = params.rating_scale
    if not lo < hi:
        raise ConfigError(f"rating scale must have lo < hi, got [{lo}, {hi}]")
    return float(lo), float(hi)


def clip_ratings(predicted: np.ndarray, scale: tuple[float, float] | None) -> np.ndarray:
    """``predicted`` (float64) with every value limited to ``scale = (lo, hi)``.

    NaN (cold start) stays NaN; ``scale`` None returns the values unchanged.
    """
    out = np.asarray(predicted, dtype=np.float64)
    if scale is None:
        return out
    return np.clip(out, scale[0], scale[1])


class ClippedModel(TrainedModel):
    """A fitted model whose predicted ratings are clipped to a rating scale.

    Only :meth:`predict` (the ratings that RMSE/MAE score) is clipped. :meth:`recommend`
    ranks by the unclipped scores: clipping would turn every prediction above the top of the
    scale into a tie and leave the order to movie ids. ``params.rating_scale`` holds the
    scale actually applied, so a saved model records it.
    """

    def __init__(self, inner: TrainedModel, scale: tuple[float, float]) -> None:
        self.inner = inner
        self.scale = scale
        self.params = replace(inner.params, rating_scale=scale)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return clip_ratings(self.inner.predict(pairs), self.scale)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        return self.inner.recommend(users, n, exclude)

    def factors(self) -> Factors:
        return self.inner.factors()

    def save(self, path: Path) -> None:
        self.inner.save(path)

    def release(self) -> None:
        self.inner.release()


def with_clipping(model: TrainedModel, train: pd.DataFrame) -> TrainedModel:
    """``model`` wrapped so its predictions are clipped as its params say (see
    :func:`prediction_scale`; ``train`` is the data it was fitted on). Returned unchanged
    when clipping is off, the model is ``implicit-als``, or it is already clipped.
    """
    if isinstance(model, ClippedModel):
        return model
    scale = prediction_scale(model.params, train)
    return model if scale is None else ClippedModel(model, scale)


def fit_clipped(engine: Engine, train: EngineData, params: ALSParams) -> TrainedModel:
    """``engine.fit(train, params)`` with predictions clipped as ``params`` say: the one
    way every scoring step (tuning, evaluation, split comparison, protocol) fits a model."""
    return with_clipping(engine.fit(train, params), train.ratings)
