"""Which model makes the top-N lists: candidates, the validation choice, the test check.

Rating prediction and ranking are different jobs: the lowest-RMSE model is often a poor
ranker. :func:`choose_recommender` measures every candidate's catalogue NDCG@k on a
validation split of the development data; :func:`recommender_test` checks the winner once on
the hold-out test set beside most-popular. Every step runs on the engine's data plane.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import Any

import pandas as pd

from movierec.config import RunConfig
from movierec.engines.base import ALSParams, Engine, EngineData, TrainedModel
from movierec.errors import ConfigError
from movierec.interactions import fit_model
from movierec.rankers import RANKERS, alternatives, ranker_candidates
from movierec.split import SALT_RECOMMENDER
from movierec.tuning import TuningResult

log = logging.getLogger(__name__)

RECOMMENDERS = ("rating-model", "als", "biased-als", "implicit-als", *RANKERS, "most-popular")
"""Candidates of :func:`choose_recommender`, in tie-break order. ``rating-model`` is the
tuned rating model (als or biased-als); the other explicit kind competes under its own name."""
EXPLICIT = ("als", "biased-als")


def interaction_spec(cfg: RunConfig) -> tuple[str, float]:
    """(mode, threshold) of :func:`movierec.interactions.to_interactions` for this run."""
    return cfg.interactions.mode, cfg.interaction_threshold


def rating_params(tuning: TuningResult, base: ALSParams) -> ALSParams:
    """The rating model: the tuned best for the rmse objective; with a ranking objective the
    completed explicit configuration with the lowest mean RMSE (``base`` if none was tried)."""
    if tuning.objective == "rmse":
        return tuning.best_params(base)
    return tuning.best_rating_params(base) or base


def refit_note(tuning: TuningResult, best: ALSParams) -> dict[str, Any]:
    """What was refitted after tuning, and whether it is the tuning's best configuration."""
    same = best == tuning.best_params(best)
    label = ", ".join(
        f"{k}={v}" for k, v in tuning.best.items() if not k.endswith(("_mean", "_std"))
    )
    note = (
        f"the tuning's best configuration ({label}) is the rating model"
        if same
        else f"the tuning's best configuration ({label}) is the {tuning.best['model']} "
        "recommender candidate; the rating model is the lowest-RMSE explicit configuration"
    )
    return {
        "rating_model": {k: v for k, v in best.to_dict().items() if k != "seed"},
        "is_tuning_best": same,
        "note": note,
        "evaluation_fit": "all development ratings (the hold-out test set scores it)",
        "final_fit": "all ratings (the saved model)",
    }


def implicit_params(cfg: RunConfig, tuning: TuningResult | None = None) -> ALSParams:
    """The ``implicit-als`` candidate's parameters: the best tuned implicit-als configuration
    when the search tried it (ranking objective), else the ``[recommend]`` section's."""
    r = cfg.recommend
    params = ALSParams(
        rank=r.implicit_rank,
        reg_param=r.implicit_reg_param,
        max_iter=r.implicit_max_iter,
        alpha=r.implicit_alpha,
        seed=cfg.seed,
        model="implicit-als",
        num_blocks=cfg.als.num_blocks,
        checkpoint_interval=cfg.als.checkpoint_interval,
    )
    tuned = tuning.best_of_model("implicit-als", params) if tuning is not None else None
    return tuned or params


def recommender_candidates(
    rating: ALSParams, cfg: RunConfig, tuning: TuningResult | None = None
) -> dict[str, ALSParams | None]:
    """Name -> parameters of every candidate (most-popular: None), in :data:`RECOMMENDERS`
    order. The explicit kind that is not the rating model uses its best tuned configuration,
    or the rating model's values with the other kind."""
    out: dict[str, ALSParams | None] = {"rating-model": rating}
    for kind in EXPLICIT:
        if kind == rating.model:
            continue
        tuned = tuning.best_of_model(kind, rating) if tuning is not None else None
        out[kind] = tuned or replace(rating, model=kind)
    out["implicit-als"] = implicit_params(cfg, tuning)
    out.update(ranker_candidates(cfg, tuning))  # ials (when the engines have it), ease
    out["most-popular"] = None
    return out


def fit_recommender(
    engine: Engine, handle: EngineData, choice: dict[str, Any], cfg: RunConfig
) -> TrainedModel:
    """Fit the chosen recommender's parameters (``choice["params"]``) on ``handle``; an
    implicit model is fitted on the configured interactions. Recommend with
    ``exclude=handle`` so every rated movie stays excluded.

    Raises:
        ConfigError: the choice is most-popular (no model to fit).
    """
    if choice.get("params") is None:
        raise ConfigError(f"recommender {choice['recommender']!r} has no ALS model to fit")
    params = ALSParams(**choice["params"])
    return fit_model(engine, handle, params, *interaction_spec(cfg))


def ranking_verdict(
    test_metrics: dict[str, Any], baselines: dict[str, Any], choice: dict[str, Any]
) -> list[str]:
    """Plain sentences: does each model scored on the test set beat most-popular on catalogue
    NDCG@k? One for the rating model, one for the chosen recommender when it is a different
    model. Each quotes both numbers."""
    popular = float(baselines["most_popular"]["catalogue_top_k"]["ndcg"])
    k = test_metrics["catalogue_top_k"].get("k", "k")

    def say(name: str, ndcg: float) -> str:
        verb = "beats" if ndcg > popular else "does NOT beat"
        return (
            f"{name} {verb} most-popular on catalogue NDCG@{k} on the test set "
            f"({ndcg:.4f} vs {popular:.4f})"
        )

    out = [say(f"the rating model ({test_metrics.get('model', 'rating model')})",
               float(test_metrics["catalogue_top_k"]["ndcg"]))]  # fmt: skip
    test = choice.get("test") or {}
    if choice.get("recommender") not in (None, "rating-model", "most-popular") and test:
        out.append(
            say(
                f"the recommender ({choice['recommender']})", float(test["catalogue_top_k"]["ndcg"])
            )
        )
    return out


def recommender_test(
    engine: Engine,
    dev: EngineData,
    test: pd.DataFrame | EngineData,
    choice: dict[str, Any],
    cfg: RunConfig,
    test_metrics: dict[str, Any],
    baselines: dict[str, Any],
) -> dict[str, Any]:
    """Score the chosen recommender once on the hold-out test set, beside most-popular.

    The choice itself is made on validation data only; this is the after-the-fact check on
    the test ratings, with the same protocol as the ``test`` section's catalogue metrics
    (fitted on the development data ``dev``, a table of ``engine``; each test user's top-k
    unseen movies from the whole catalogue; relevance = test rating >= threshold).
    Returns the recommender's ``catalogue_top_k`` metrics, most-popular's, and
    ``ndcg_vs_most_popular`` (the relative NDCG@k gain, e.g. 0.5 = 50% higher; None when
    most-popular scores 0).
    """
    k, t = cfg.evaluation.k, cfg.evaluation.threshold
    popular = dict(baselines["most_popular"]["catalogue_top_k"])
    name = choice["recommender"]
    if name == "most-popular":
        ours = popular
    elif name == "rating-model":
        ours = dict(test_metrics["catalogue_top_k"])
    else:
        with (
            engine.table(test) as tst,
            fit_recommender(engine, dev, choice, cfg) as model,
            model.recommend_table(tst, k, exclude=dev) as recs,
        ):
            ours = recs.catalogue_top_k(tst, k, t)
    base = float(popular["ndcg"])
    gain = float(ours["ndcg"]) / base - 1.0 if base > 0 else None
    log.info(
        "recommender %s on the test set: NDCG@%d %.4f (most popular %.4f)",
        name,
        k,
        float(ours["ndcg"]),
        base,
    )
    return {
        "recommender": name,
        "catalogue_top_k": ours,
        "most_popular": popular,
        "ndcg_vs_most_popular": gain,
    }


def choose_recommender(
    engine: Engine,
    dev: pd.DataFrame | EngineData,
    rating_params: ALSParams,
    cfg: RunConfig,
    tuning: TuningResult | None = None,
) -> dict[str, Any]:
    """Pick the model whose top-k lists rank best, measured, not assumed.

    With ``recommender = "auto"`` each candidate (the tuned rating model, the other explicit
    kind, implicit ALS, ials when the engine has it, EASE, most popular; see
    :func:`recommender_candidates`) is fitted on 80% of the development data ``dev`` and its
    catalogue-wide top-k lists (seen movies excluded; implicit ALS fitted on the configured
    interactions) are scored against the other 20% by NDCG@k at the evaluation threshold;
    the highest wins (ties: the order above). EASE without a tuned λ is fitted once per
    ``[recommend] ease_lambdas`` value and its best counts (:func:`movierec.rankers.
    alternatives`; the scores per λ are returned as ``ease_lambdas``). The test set is not
    used. Returns ``{"recommender", "why", "validation_ndcg", "params", "candidates"}``;
    ``params`` are the winner's parameters (None for most-popular). A forced recommender
    uses its first configuration (for EASE the first λ) without validation.

    Raises:
        ConfigError: the forced recommender is not available with this engine.
    """
    candidates = recommender_candidates(rating_params, cfg, tuning)
    forced = cfg.recommend.recommender
    if forced != "auto" and forced not in candidates:
        raise ConfigError(f"recommender {forced!r} is not available in this build")
    described = {
        name: (None if p is None else {k: v for k, v in p.to_dict().items()})
        for name, p in candidates.items()
    }
    if forced != "auto":
        return {
            "recommender": forced,
            "why": "chosen with --recommender",
            "validation_ndcg": {},
            "params": described[forced],
            "candidates": {forced: described[forced]},
        }
    k, t = cfg.evaluation.k, cfg.evaluation.threshold
    scores: dict[str, float] = {}
    tried: dict[str, dict[float, float]] = {}  # ease: validation NDCG per λ
    with engine.table(dev) as table, contextlib.ExitStack() as stack:
        train, valid = (
            stack.enter_context(h) for h in table.random_split(0.2, cfg.seed, SALT_RECOMMENDER)
        )
        for name, params in candidates.items():
            if params is None:
                continue
            for option in alternatives(name, params, cfg, tuning):
                with (
                    fit_model(engine, train, option, *interaction_spec(cfg)) as model,
                    model.recommend_table(valid, k, exclude=train) as recs,
                ):
                    ndcg = float(recs.catalogue_top_k(valid, k, t)["ndcg"])
                tried.setdefault(name, {})[option.reg_param] = ndcg
                if name not in scores or ndcg > scores[name]:
                    scores[name], candidates[name] = ndcg, option
                    described[name] = option.to_dict()
        with (
            train.fit_baseline("most_popular") as popular,
            popular.recommend_table(valid, k, exclude=train) as recs,
        ):
            scores["most-popular"] = float(recs.catalogue_top_k(valid, k, t)["ndcg"])
    order = [name for name in RECOMMENDERS if name in scores]
    winner = max(order, key=lambda name: (scores[name], -order.index(name)))

    def label(name: str) -> str:
        return f"rating-model ({rating_params.model})" if name == "rating-model" else name

    why = f"highest catalogue NDCG@{k} on a validation split of the development data: " + ", ".join(
        f"{label(name)} {scores[name]:.4f}" for name in order
    )
    log.info("recommender: %s (%s)", winner, why)
    return {
        "recommender": winner,
        "why": why,
        "validation_ndcg": scores,
        "params": described[winner],
        "candidates": described,
        **({"ease_lambdas": tried["ease"]} if len(tried.get("ease", {})) > 1 else {}),
    }
