"""The ``[split]``, ``[tuning]`` and ``[evaluation]`` sections of :mod:`movierec.config`: the
hold-out split, the cross-validated hyper-parameter search, and how results are scored.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from movierec.config._base import ModelKind, _Section
from movierec.config.als import ALSConfig


def _all_models() -> list[ModelKind]:
    return ["als", "biased-als"]


class SplitConfig(_Section):
    """Hold-out split and the split-ratio comparison."""

    method: Literal["random", "per-user", "time", "leave-last"] = "random"
    """How the final test set is held out: at random by rating, the same share of each user's
    ratings, everything after a time cut, or each user's last ratings."""
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of ratings held out as the final test set (random and per-user; for ``time``
    without ``time_cut`` the cut is the ``1 - test_fraction`` quantile of the timestamps)."""
    time_cut: str | None = None
    """For ``time``: epoch seconds, an ISO date (2015-01-01) or a quantile in (0, 1)."""
    leave_last: int = Field(default=1, ge=1)
    """For ``leave-last``: how many of each user's most recent ratings are held out."""
    train_fractions: list[float] = Field(default_factory=lambda: [0.6, 0.7, 0.75, 0.8])
    """Train shares compared by ``compare-splits`` (the rest of each split is its test set)."""

    @field_validator("train_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("at least one train fraction is needed")
        for f in v:
            if not 0.0 < f < 1.0:
                raise ValueError(f"train fraction {f} is not between 0 and 1")
        return v


class TuningConfig(_Section):
    """k-fold cross-validated search over ALS hyper-parameters (grid, random or Optuna)."""

    models: list[ModelKind] = Field(default_factory=lambda: _all_models())
    """Model kinds searched; the best (model, rank, regParam, maxIter) wins. ``implicit-als``
    needs a ranking objective (its scores are not ratings)."""
    ranks: list[int] = Field(default_factory=lambda: [8, 10, 12])
    reg_params: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.15])
    max_iters: list[int] = Field(default_factory=lambda: [10, 15])
    """Grid values; ``random`` and ``optuna`` also draw maxIter from this list."""
    folds: int = Field(default=3, ge=2)
    parallelism: int = Field(default=2, ge=1)
    """How many fits run at once (threads submitting Spark jobs)."""
    search: Literal["grid", "random", "optuna"] = "grid"
    """``grid``: every combination of the lists above; ``random``: ``trials`` seeded samples
    from the ranges below; ``optuna``: ``trials`` trials of Optuna's seeded TPE sampler
    (``pip install 'movierec[tune]'``)."""
    trials: int = Field(default=20, ge=1)
    """Configurations tried by ``random`` and ``optuna``."""
    objective: str = "rmse"
    """``rmse`` (lower wins), or ``ndcg@K`` / ``recall@K`` (higher wins): catalogue-wide top-K
    lists on each validation fold, that fold's training movies excluded, relevance = rating
    >= the evaluation threshold."""
    rank_range: list[int] = Field(default_factory=lambda: [4, 64])
    """[low, high] of the rank drawn by random/optuna (integers, uniform, inclusive)."""
    reg_range: list[float] = Field(default_factory=lambda: [0.01, 1.0])
    """[low, high] of regParam for random/optuna (log-uniform)."""
    bias_reg_range: list[float] = Field(default_factory=lambda: [1.0, 30.0])
    """[low, high] of biased-als's bias damping for random/optuna (log-uniform)."""
    alpha_range: list[float] = Field(default_factory=lambda: [0.1, 20.0])
    """[low, high] of implicit-als's alpha for random/optuna (log-uniform)."""
    ease_lambdas: list[float] = Field(default_factory=lambda: [50.0, 100.0, 200.0, 400.0, 800.0])
    """Grid values of EASE's λ (its regParam) when ``models`` has ``ease`` (rank and maxIter
    do not apply to it: its rows show 0)."""
    ease_lambda_range: list[float] = Field(default_factory=lambda: [10.0, 5000.0])
    """[low, high] of EASE's λ for random/optuna (log-uniform)."""
    ials_unobserved_weights: list[float] = Field(
        default_factory=lambda: [ALSConfig.model_fields["unobserved_weight"].default]
    )
    """Grid values of ials's α0 (each ials grid point is tried with every α0 and ν; the
    default is the one ``[als]`` default). ials's λ, rank and epochs are ``reg_params``,
    ``ranks`` and ``max_iters`` (its useful λ are small: ≈ 0.0005–0.01)."""
    ials_reg_exponents: list[float] = Field(
        default_factory=lambda: [ALSConfig.model_fields["reg_exponent"].default]
    )
    """Grid values of ials's ν."""
    ials_unobserved_weight_range: list[float] = Field(default_factory=lambda: [0.01, 1.0])
    """[low, high] of ials's α0 for random/optuna (log-uniform)."""
    ials_reg_exponent_range: list[float] = Field(default_factory=lambda: [0.5, 1.5])
    """[low, high] of ials's ν for random/optuna (uniform)."""
    prune: bool = True
    """Stop hopeless configurations after a fold (see ``prune_margin``)."""
    prune_margin: float | None = Field(default=None, gt=0.0)
    """Relative margin of the pruning rule; None = 0.02 for rmse, 0.10 for ranking metrics."""

    def configurations(self) -> list[tuple[ModelKind, int, float, int]]:
        """Every (model, rank, regParam, maxIter) of the grid, in a fixed order; ``ease``
        contributes one (ease, 0, λ, 0) per value of ``ease_lambdas``."""
        out: list[tuple[ModelKind, int, float, int]] = []
        for model in self.models:
            if model == "ease":
                out.extend((model, 0, lam, 0) for lam in self.ease_lambdas)
            else:
                out.extend(itertools.product([model], self.ranks, self.reg_params, self.max_iters))
        return out

    def ials_settings(self) -> list[tuple[float, float]]:
        """Every (α0, ν) an ials grid point is tried with, in a fixed order."""
        return list(itertools.product(self.ials_unobserved_weights, self.ials_reg_exponents))

    def planned_fits(self) -> int:
        """Upper bound on the fits of the search (pruning only makes it smaller)."""
        if self.search != "grid":
            return self.trials * self.folds
        extra = len(self.ials_settings()) - 1
        n = sum(1 + (extra if c[0] == "ials" else 0) for c in self.configurations())
        return n * self.folds

    @property
    def ranking(self) -> tuple[str, int] | None:
        """(metric, k) of a ranking objective, e.g. ("ndcg", 10); None for rmse."""
        if self.objective == "rmse":
            return None
        name, k = self.objective.split("@")
        return name, int(k)

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: str) -> str:
        v = v.strip().lower()
        if v == "rmse":
            return v
        name, _, k = v.partition("@")
        if name not in ("ndcg", "recall") or not k.isdigit() or int(k) < 1:
            raise ValueError(f"objective {v!r} is not rmse, ndcg@K or recall@K (K >= 1)")
        return f"{name}@{int(k)}"

    @model_validator(mode="after")
    def _non_empty(self) -> TuningConfig:
        for name in ("models", "ranks", "reg_params", "max_iters"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} must list at least one value")
        if any(r < 1 for r in self.ranks) or any(m < 1 for m in self.max_iters):
            raise ValueError("ranks and max_iters must be positive")
        if any(r < 0 for r in self.reg_params):
            raise ValueError("reg_params must be non-negative")
        if not self.ease_lambdas or any(not lam > 0 for lam in self.ease_lambdas):
            raise ValueError("ease_lambdas must list positive values")
        ranges = (
            "rank_range",
            "reg_range",
            "bias_reg_range",
            "alpha_range",
            "ease_lambda_range",
            "ials_unobserved_weight_range",
            "ials_reg_exponent_range",
        )
        for name in ranges:
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high")
        for name in ("ials_unobserved_weights", "ials_reg_exponents"):
            values = getattr(self, name)
            if not values or any(not (v >= 0 and math.isfinite(v)) for v in values):
                raise ValueError(f"{name} must list non-negative numbers")
        ranking_only = [m for m in self.models if m in ("implicit-als", "ials", "ease")]
        if self.objective == "rmse" and ranking_only:
            raise ValueError(
                f"{ranking_only[0]} scores are not ratings: tune it with objective ndcg@K or "
                "recall@K"
            )
        return self


class EvaluationConfig(_Section):
    """Evaluation settings."""

    k: int = Field(default=10, ge=1)
    """List length for the top-k metrics."""
    threshold: float = 3.0
    """A rating >= threshold counts as relevant / liked."""
