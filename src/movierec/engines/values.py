"""The plain values the engine contract passes around (re-exported by
:mod:`movierec.engines.base`): what one ALS fit is given (:class:`ALSParams`) and produces
(:class:`Factors`), a table's counts (:class:`TableStats`), what a list writer wrote
(:class:`WrittenLists`), titles and original ids (:class:`Catalog`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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


_KIND_DEFAULT: Any = object()
"""Marks rank / reg_param / max_iter not given: :meth:`ALSParams.__post_init__` fills in
the model kind's default (``ALSConfig``'s, with :data:`~movierec.config.BIASED_ALS_DEFAULTS`
/ :data:`~movierec.config.IALS_DEFAULTS` for those kinds)."""


def _config_default(name: str) -> Any:
    """The default of ``ALSConfig.<name>`` (defaults live in :mod:`movierec.config` only)."""
    return ALSConfig.model_fields[name].default


@dataclass(frozen=True)
class ALSParams:
    """Hyper-parameters of one ALS fit (Spark MLlib semantics).

    ``alpha`` is the confidence scale of ``implicit-als`` (Spark's ``alpha``); the explicit
    models ignore it. ``rank``, ``reg_param`` and ``max_iter`` left out take the model
    kind's defaults from :class:`~movierec.config.ALSConfig` (the one config source):

    >>> ALSParams(model="biased-als").rank, ALSParams().rank
    (40, 10)
    """

    rank: int = _KIND_DEFAULT
    reg_param: float = _KIND_DEFAULT
    max_iter: int = _KIND_DEFAULT
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
    and highest rating (see :func:`movierec.engines.clipping.prediction_scale`)."""
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
        unset = [n for n in ("rank", "reg_param", "max_iter") if getattr(self, n) is _KIND_DEFAULT]
        if unset:
            try:
                defaults = ALSConfig(model=self.model)  # type: ignore[arg-type]
            except ValueError:  # an unknown kind is refused where it is used, not here
                defaults = ALSConfig()
            for name in unset:
                object.__setattr__(self, name, getattr(defaults, name))
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


@dataclass(frozen=True)
class TableStats:
    """Counts of a ratings table: rows, distinct users and movies, lowest/highest rating
    (NaN when the table is empty)."""

    rows: int
    users: int
    items: int
    rating_min: float
    rating_max: float


@dataclass(frozen=True)
class WrittenLists:
    """What :meth:`EngineData.write_recommendations` wrote: distinct users, rows, and the
    names of the outputs (files, or folders of part files on a cluster)."""

    users: int
    rows: int
    files: list[str]


class Catalog:
    """Titles and original ids of a dataset: ``movies`` (ITEM, TITLE, GENRES) or None, and
    the original user/movie ids by dense id (None when that column was not remapped).

    These are driver-side values, bounded by the number of movies and users. A distributed
    engine subclasses it to keep its own copies and collect the driver-side ones on demand.
    """

    def __init__(
        self,
        movies: pd.DataFrame | None = None,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> None:
        self._movies, self._user_ids, self._item_ids = movies, user_ids, item_ids

    @property
    def movies(self) -> pd.DataFrame | None:
        return self._movies

    @property
    def user_ids(self) -> np.ndarray | None:
        return self._user_ids

    @property
    def item_ids(self) -> np.ndarray | None:
        return self._item_ids
