"""The ``[recommend]`` and ``[interactions]`` sections of :mod:`movierec.config`: the top-N
output and which model makes the lists, and what implicit-als is fitted on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from movierec.config._base import _Section


class RecommendConfig(_Section):
    """Top-N recommendation output, and which model makes the lists."""

    n: int = Field(default=10, ge=1)
    """Recommendations per user."""
    recommender: Literal["auto", "rating-model", "implicit-als", "ials", "ease", "most-popular"] = (
        "auto"
    )
    """``auto``: the candidate with the best catalogue NDCG@k on a validation split of the
    development data; or force one. ``rating-model`` is the tuned (lowest-RMSE) model."""
    ease_lambdas: list[float] = Field(default_factory=lambda: [200.0, 100.0, 400.0])
    """λ values the ``ease`` candidate tries on the validation split (the best is its
    configuration; one value = a fixed λ; the first is used when ``ease`` is forced with
    ``recommender``). A tuned λ (``--models ease`` with a ranking objective) replaces them."""
    implicit_rank: int = Field(default=50, ge=1)
    implicit_reg_param: float = Field(default=0.2, ge=0.0)
    implicit_max_iter: int = Field(default=15, ge=1)
    implicit_alpha: float = Field(default=1.0, ge=0.0)
    """Settings of the ``implicit-als`` candidate (rank 50, regParam 0.2, 15 iterations,
    alpha 1: the best of a small search on ml-latest-small, see the README)."""

    @field_validator("ease_lambdas")
    @classmethod
    def _lambdas(cls, v: list[float]) -> list[float]:
        if not v or any(not lam > 0 for lam in v):
            raise ValueError("ease_lambdas must list at least one positive value")
        return v


class InteractionsConfig(_Section):
    """What implicit-als is fitted on (see :mod:`movierec.interactions`)."""

    mode: Literal["rating", "all", "threshold"] = "rating"
    """``rating``: the raw rating (confidence 1 + alpha·r, Spark's behaviour); ``all``: every
    rating is one interaction; ``threshold``: only ratings >= ``threshold`` are interactions.
    Movies rated below the threshold are still never recommended to that user."""
    threshold: float | None = None
    """Cut-off of ``threshold`` mode (rating units); None = the evaluation threshold."""
