"""Which configurations a tuning run tries: a grid, seeded random samples, or Optuna's TPE.

A :class:`Candidate` is one ALS configuration. :func:`grid_candidates` and
:func:`random_candidates` list them up front (so the fold-major driver in
:mod:`movierec.tuning` can run and prune them fold by fold); Optuna proposes them one at a
time (:func:`make_study`), with :func:`margin_pruner` applying the same pruning rule as
the other two methods.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from movierec.config import TuningConfig
from movierec.engines.base import ALSParams
from movierec.errors import ConfigError

log = logging.getLogger(__name__)

SALT_RANDOM_SEARCH = 0x5EA5C4
"""Mixed into the seed of random search so it does not reuse the splits' random stream."""

DEFAULT_MARGIN = {"rmse": 0.02, "ranking": 0.10}
"""Relative pruning margins (see :func:`is_hopeless` and the README's tuning section)."""


@dataclass(frozen=True)
class Candidate:
    """One configuration; ``bias_reg``/``alpha`` (and ials's ``unobserved_weight`` α0,
    ``reg_exponent`` ν) None = the base parameters' values."""

    model: str
    rank: int
    reg_param: float
    max_iter: int
    bias_reg: float | None = None
    alpha: float | None = None
    unobserved_weight: float | None = None
    reg_exponent: float | None = None

    def params(self, base: ALSParams) -> ALSParams:
        """``base`` with this configuration's values (``ease``: its λ only; the rank and
        iterations in ``base`` describe a blended partner)."""
        if self.model == "ease":
            return replace(base, model=self.model, reg_param=self.reg_param)
        return replace(
            base,
            model=self.model,
            rank=self.rank,
            reg_param=self.reg_param,
            max_iter=self.max_iter,
            bias_reg=base.bias_reg if self.bias_reg is None else self.bias_reg,
            alpha=base.alpha if self.alpha is None else self.alpha,
            unobserved_weight=(
                base.unobserved_weight if self.unobserved_weight is None else self.unobserved_weight
            ),
            reg_exponent=base.reg_exponent if self.reg_exponent is None else self.reg_exponent,
        )

    def row(self, base: ALSParams) -> dict[str, Any]:
        """The configuration as a results row: model, rank, regParam, maxIter, and biasReg
        (biased-als), alpha (implicit-als) or unobservedWeight and regExponent (ials), the
        values actually used."""
        p = self.params(base)
        out: dict[str, Any] = {
            "model": self.model,
            "rank": self.rank,
            "regParam": self.reg_param,
            "maxIter": self.max_iter,
        }
        if p.biased:
            out["biasReg"] = p.bias_reg
        if p.model == "implicit-als":
            out["alpha"] = p.alpha
        if p.ials:
            out["unobservedWeight"] = p.unobserved_weight
            out["regExponent"] = p.reg_exponent
        return out


def grid_candidates(cfg: TuningConfig) -> list[Candidate]:
    """Every (model, rank, regParam, maxIter) of the grid, in the config's fixed order; an
    ials point once per (α0, ν) of :meth:`TuningConfig.ials_settings`."""
    out: list[Candidate] = []
    for m, r, g, i in cfg.configurations():
        if m == "ials":
            out.extend(Candidate(m, r, g, i, None, None, a0, nu) for a0, nu in cfg.ials_settings())
        else:
            out.append(Candidate(m, r, g, i))
    return out


def _sig(x: float) -> float:
    """``x`` rounded to 4 significant digits (readable tables; the fit uses this value)."""
    return float(f"{x:.4g}")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return _sig(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def random_candidates(cfg: TuningConfig, seed: int) -> list[Candidate]:
    """``cfg.trials`` configurations drawn independently with a generator seeded by ``seed``.

    model: uniform over ``models``; rank: uniform integer in ``rank_range`` (inclusive);
    regParam: log-uniform in ``reg_range``; maxIter: uniform over ``max_iters``; biasReg
    (biased-als only), alpha (implicit-als only) and α0 (ials only): log-uniform in their
    ranges; ν (ials only): uniform in ``ials_reg_exponent_range``. ``ease``
    draws only its λ (regParam), log-uniform in ``ease_lambda_range`` (rank, maxIter 0). Floats are
    rounded to 4 significant digits. A repeated draw is kept (it is evaluated once per
    occurrence, with the same result), so the number of trials is exactly ``trials``.
    """
    rng = np.random.default_rng([seed, SALT_RANDOM_SEARCH])
    out = []
    for _ in range(cfg.trials):
        model = str(cfg.models[int(rng.integers(len(cfg.models)))])
        if model == "ease":  # λ only: rank and maxIter do not apply (0)
            out.append(Candidate(model, 0, _log_uniform(rng, *cfg.ease_lambda_range), 0))
            continue
        rank = int(rng.integers(cfg.rank_range[0], cfg.rank_range[1] + 1))
        reg = _log_uniform(rng, *cfg.reg_range)
        iters = int(cfg.max_iters[int(rng.integers(len(cfg.max_iters)))])
        bias_reg = _log_uniform(rng, *cfg.bias_reg_range) if model == "biased-als" else None
        alpha = _log_uniform(rng, *cfg.alpha_range) if model == "implicit-als" else None
        a0 = nu = None
        if model == "ials":
            a0 = _log_uniform(rng, *cfg.ials_unobserved_weight_range)
            lo, hi = cfg.ials_reg_exponent_range
            nu = _sig(float(rng.uniform(lo, hi)))
        out.append(Candidate(model, rank, reg, iters, bias_reg, alpha, a0, nu))
    return out


def margin(cfg: TuningConfig) -> float:
    """The relative pruning margin in use."""
    if cfg.prune_margin is not None:
        return cfg.prune_margin
    return DEFAULT_MARGIN["rmse" if cfg.ranking is None else "ranking"]


def is_hopeless(value: float, reference: float, rel_margin: float, lower_is_better: bool) -> bool:
    """True when ``value`` is worse than ``reference`` by more than ``rel_margin`` (relative).

    Both are means over the *same* completed folds (so a hard fold does not count against
    one configuration only). RMSE: value > reference·(1 + margin); ranking metrics:
    value < reference·(1 − margin).
    """
    if lower_is_better:
        return value > reference * (1.0 + rel_margin)
    return value < reference * (1.0 - rel_margin)


# --------------------------------------------------------------------------- optuna


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError("--search optuna needs Optuna: pip install 'movierec[tune]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_study(cfg: TuningConfig, seed: int) -> Any:
    """An Optuna study: seeded TPE sampler, :func:`margin_pruner` (or none if pruning is off).

    Raises:
        ConfigError: Optuna is not installed.
    """
    optuna = _import_optuna()
    lower = cfg.ranking is None
    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner: Any = (
        _margin_pruner_class(optuna)(margin(cfg), lower)
        if cfg.prune
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        direction="minimize" if lower else "maximize", sampler=sampler, pruner=pruner
    )


def suggest(trial: Any, cfg: TuningConfig) -> Candidate:
    """The configuration Optuna's ``trial`` proposes, over the same space as random search."""
    models = list(dict.fromkeys(cfg.models))
    model = models[0] if len(models) == 1 else str(trial.suggest_categorical("model", models))
    if model == "ease":
        lam = float(trial.suggest_float("easeLambda", *cfg.ease_lambda_range, log=True))
        return Candidate(model, 0, _sig(lam), 0)
    rank = int(trial.suggest_int("rank", cfg.rank_range[0], cfg.rank_range[1]))
    reg = float(trial.suggest_float("regParam", cfg.reg_range[0], cfg.reg_range[1], log=True))
    iters_choices = list(dict.fromkeys(cfg.max_iters))
    iters = (
        iters_choices[0]
        if len(iters_choices) == 1
        else int(trial.suggest_categorical("maxIter", iters_choices))
    )
    bias_reg = alpha = None
    if model == "biased-als":
        bias_reg = float(trial.suggest_float("biasReg", *cfg.bias_reg_range, log=True))
    if model == "implicit-als":
        alpha = float(trial.suggest_float("alpha", *cfg.alpha_range, log=True))
    a0 = nu = None
    if model == "ials":
        a0 = float(
            trial.suggest_float("unobservedWeight", *cfg.ials_unobserved_weight_range, log=True)
        )
        nu = float(trial.suggest_float("regExponent", *cfg.ials_reg_exponent_range))
    return Candidate(
        model,
        rank,
        _sig(reg),
        iters,
        _sig_or_none(bias_reg),
        _sig_or_none(alpha),
        _sig_or_none(a0),
        _sig_or_none(nu),
    )


def enqueued(cand: Candidate, cfg: TuningConfig) -> dict[str, Any]:
    """``cand`` as the parameter dict :func:`suggest` will read back from an enqueued trial."""
    out: dict[str, Any] = (
        {"easeLambda": cand.reg_param}
        if cand.model == "ease"
        else {"rank": cand.rank, "regParam": cand.reg_param}
    )
    if len(set(cfg.models)) > 1:
        out["model"] = cand.model
    if cand.model == "ease":
        return out
    if len(set(cfg.max_iters)) > 1:
        out["maxIter"] = cand.max_iter
    if cand.model == "biased-als" and cand.bias_reg is not None:
        out["biasReg"] = cand.bias_reg
    if cand.model == "implicit-als" and cand.alpha is not None:
        out["alpha"] = cand.alpha
    if cand.model == "ials" and cand.unobserved_weight is not None:
        out["unobservedWeight"] = cand.unobserved_weight
    if cand.model == "ials" and cand.reg_exponent is not None:
        out["regExponent"] = cand.reg_exponent
    return out


def _sig_or_none(x: float | None) -> float | None:
    return None if x is None else _sig(x)


def _margin_pruner_class(optuna: Any) -> type:
    """The margin pruner class, built on Optuna's BasePruner (Optuna is imported lazily)."""

    class _MarginPruner(optuna.pruners.BasePruner):
        """Prune a trial whose running mean after step f (folds 1..f+1) is worse than the best
        completed trial's running mean after the same step by more than the margin."""

        def __init__(self, rel_margin: float, lower_is_better: bool) -> None:
            self.rel_margin = rel_margin
            self.lower_is_better = lower_is_better

        def prune(self, study: Any, trial: Any) -> bool:
            step = trial.last_step
            if step is None:
                return False
            value = trial.intermediate_values[step]
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            refs = [t.intermediate_values[step] for t in done if step in t.intermediate_values]
            if not refs:
                return False
            ref = min(refs) if self.lower_is_better else max(refs)
            return is_hopeless(value, ref, self.rel_margin, self.lower_is_better)

    return _MarginPruner


def margin_pruner(rel_margin: float, lower_is_better: bool) -> Any:
    """An Optuna pruner applying :func:`is_hopeless`'s rule (see ``_margin_pruner_class``).

    Raises:
        ConfigError: Optuna is not installed.
    """
    return _margin_pruner_class(_import_optuna())(rel_margin, lower_is_better)
