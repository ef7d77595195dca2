"""The ``[als]`` section of :mod:`movierec.config`: one model fit's hyper-parameters, and the
model kinds whose defaults differ from plain ALS's (:data:`MODEL_DEFAULTS`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from movierec.config._base import ImplicitSolver, ModelKind, _Section

BIASED_ALS_DEFAULTS: dict[str, Any] = {"rank": 40, "reg_param": 0.15, "max_iter": 25}
"""Defaults of ``model = "biased-als"`` where they differ from plain ALS's: the best of a
5-fold study on ml-latest-small (benchmarks/results/biased_defaults.md)."""


EASE_DEFAULTS: dict[str, Any] = {"reg_param": 200.0, "rank": 50, "max_iter": 15}
"""Defaults of ``model = "ease"`` where they differ from plain ALS's: ``reg_param`` is EASE's
λ (the L2 weight on the item-item matrix B; see the README's Models section); rank,
max_iter (and alpha) describe the implicit-als partner of a blend (``ease_blend``), the same
as the ``implicit-als`` candidate's defaults."""

IALS_DEFAULTS: dict[str, Any] = {"rank": 256, "reg_param": 0.00111, "max_iter": 16}
"""Defaults of ``model = "ials"`` where they differ from plain ALS's (rank = d, reg_param =
λ, max_iter = epochs), with ``unobserved_weight`` α0 = 0.3 and ``reg_exponent`` ν = 1.25: the
best NDCG@10 of a seeded 5-fold study on ml-latest-small following Rendle et al.'s recipe
(``python benchmarks/ials_tuning.py --no-ease``, results in
benchmarks/results/ials_tuning.md: NDCG@10 0.3565, P@10 0.2964; the runner-up ν = 1,
λ = 0.006 gives 0.3562)."""

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "biased-als": BIASED_ALS_DEFAULTS,
    "ials": IALS_DEFAULTS,
    "ease": EASE_DEFAULTS,
}


class ALSConfig(_Section):
    """Hyper-parameters of one model fit (Spark MLlib semantics for the ALS kinds).

    ``biased-als``, ``ials`` and ``ease`` have their own defaults (:data:`BIASED_ALS_DEFAULTS`,
    :data:`IALS_DEFAULTS`, :data:`EASE_DEFAULTS`); a value given in the file or on the
    command line wins.
    """

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model") in MODEL_DEFAULTS:
            return {**MODEL_DEFAULTS[data["model"]], **data}
        return data

    model: ModelKind = "als"
    """``als`` (Spark MLlib ALS on the ratings), ``biased-als`` (mean + user and movie
    biases, ALS on the residuals), ``implicit-als`` (Spark MLlib's implicit-feedback ALS:
    every rating is an interaction; scores rank movies, they are not ratings), ``ials``
    (iALS as Rendle et al. 2022 formulate it: binary preferences, a weight
    ``unobserved_weight`` on every unobserved pair, frequency-scaled regularisation; a
    ranking model, local engine only) or ``ease`` (Steck's EASE item-item model;
    ``reg_param`` is its λ; scores rank movies)."""
    rank: int = Field(default=10, ge=1)
    reg_param: float = Field(default=0.1, ge=0.0)
    max_iter: int = Field(default=15, ge=1)
    bias_reg: float = Field(default=5.0, ge=0.0)
    """Damping of the biased model's biases: b = sum(residual) / (count + bias_reg)."""
    nonnegative: bool = False
    num_blocks: int = Field(default=4, ge=1)
    """Number of user and item blocks; it changes results slightly, so it is fixed, not derived."""
    checkpoint_interval: int = Field(default=10, ge=1)
    alpha: float = Field(default=1.0, ge=0.0)
    """Confidence scale of ``implicit-als`` (Spark's ``alpha``): a rating r > 0 is an
    interaction with confidence 1 + alpha·r; ignored by the explicit models."""
    implicit_solver: ImplicitSolver = "cg"
    """How ``implicit-als`` and ``ials`` solve each row's k×k system in the local engine:
    ``cg`` takes ``cg_steps`` conjugate-gradient steps warm-started from the previous
    iteration's factors (O(n·k + k²) per row and step, as the `implicit` library does);
    ``cholesky`` solves exactly (O(n·k² + k³) per row, Spark's own way). ``nonnegative``
    always solves exactly; the Spark engine always solves exactly."""
    cg_steps: int = Field(default=3, ge=1)
    """Conjugate-gradient steps per row and half-step of ``implicit_solver = "cg"``."""
    unobserved_weight: float = Field(default=0.3, ge=0.0)
    """``ials``'s α0: the weight of the squared score of every (user, movie) pair in the
    loss, Σ_obs (ŷ − 1)² + α0·Σ_all ŷ² (computed through the Gramian, never pair by pair)."""
    reg_exponent: float = Field(default=1.25, ge=0.0)
    """``ials``'s ν: each user's regulariser is reg_param·(|I_u| + α0·|I|)^ν (|I_u| the
    user's movies, |I| all movies), each movie's likewise; ν = 0 is a plain reg_param."""
    init_std: float = Field(default=0.1, gt=0.0)
    """``ials``'s σ: factors start as N(0, σ/√rank) draws."""
    clip_predictions: bool = True
    """Clip predicted ratings to the rating scale wherever they are scored (RMSE/MAE in
    tuning, evaluation, the split comparison, ``evaluate-protocol``); top-N ranks by the
    unclipped scores. Not applied to ``implicit-als`` (its scores are not ratings)."""
    rating_scale: tuple[float, float] | None = None
    """``[lo, hi]`` to clip to; None = the training data's lowest and highest rating."""
    ease_threshold: float | None = 3.0
    """``ease``: a rating >= this is an interaction (X_ui = 1); lower ratings are left out of
    X (those movies are still never recommended to that user). None = every rating. 3.0
    matches the default relevance threshold (``[evaluation] threshold``)."""
    ease_topk: int = Field(default=0, ge=0)
    """``ease``: keep only the k largest-magnitude weights of each row of the item-item
    matrix B (0 = keep B dense). The Spark engine broadcasts B to its executors as these
    sparse rows (items·k values; 0 broadcasts every weight)."""
    ease_session_weight: float = Field(default=1.0, ge=0.0)
    """``ease``: co-occurrences of two movies rated in one session (ratings of a user less
    than ``ease_session_gap`` apart) count 1 + this in XᵀX (other co-occurrences count 1).
    Needs timestamps (without them: plain EASE); 0 = plain EASE. 1.0: see the README's
    Models section (validation gain on ml-latest-small)."""
    ease_session_gap: float = Field(default=3600.0, gt=0.0)
    """``ease``: seconds between two consecutive ratings of a user that start a new session."""
    ease_blend: float = Field(default=0.6, ge=0.0, le=1.0)
    """``ease``: weight w of an implicit-als partner fitted on the same ratings; scores are
    (1 − w)·z(EASE) + w·z(implicit-als), z standardising each user's row (0 = plain EASE;
    0.6: see the README's Models section). The partner uses this section's rank, max_iter
    and alpha and regParam ``ease_blend_reg`` (the ``ease`` candidate of ``run``: the
    ``implicit-als`` candidate's settings)."""
    ease_blend_reg: float = Field(default=0.2, ge=0.0)
    """``ease``: regParam of the blended implicit-als partner."""
    ease_max_items: int = Field(default=20000, ge=1)
    """``ease``: refuse to fit on more movies than this; the dense items×items matrices need
    about 12 bytes per entry (20,000 movies: 4.5 GiB)."""

    @field_validator("rating_scale")
    @classmethod
    def _scale(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"rating_scale must be [lo, hi] with lo < hi, got {list(v)}")
        return v
