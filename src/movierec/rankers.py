"""The ranking-model candidates of the recommender choice beyond implicit-als: ``ials``, ``ease``.

:func:`movierec.selection.recommender_candidates` lists every candidate; this module says what
the two newer kinds are fitted with:

* ``ease`` — λ from a tuning run that tried ``ease`` (ranking objective), else every value of
  ``[recommend] ease_lambdas``, each scored on the recommender's validation split (the best
  is the candidate: :func:`alternatives`); interactions and limits from ``[als]``
  (``ease_threshold``, ``ease_topk``, ``ease_max_items``).
* ``ials`` — the best tuned ``ials`` configuration, else the ``[als]`` section's defaults
  for ``model = "ials"``. It is a candidate only when the configured engine can fit it
  (:func:`available`: the local engine; Spark MLlib has no iALS), skipped otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from movierec.config import ALSConfig, RunConfig
from movierec.engines.base import MODELS, ALSParams

if TYPE_CHECKING:
    from movierec.tuning import TuningResult

RANKERS = ("ials", "ease")
"""Candidate names this module provides, in tie-break order (after implicit-als)."""


LOCAL_ONLY = ("ials",)
"""Kinds only the local engine fits."""


def available(kind: str, engine: str = "local") -> bool:
    """Whether the engine named ``engine`` can fit ``kind``."""
    return kind in MODELS and (engine == "local" or kind not in LOCAL_ONLY)


def ease_params(cfg: RunConfig, lam: float) -> ALSParams:
    """EASE with λ = ``lam`` and the ``[als]`` section's EASE settings; a blended
    implicit-als partner (``ease_blend`` > 0) is the ``implicit-als`` candidate's
    configuration (``[recommend] implicit_*``)."""
    r = cfg.recommend
    return ALSParams(
        model="ease",
        reg_param=float(lam),
        rank=r.implicit_rank,
        max_iter=r.implicit_max_iter,
        alpha=r.implicit_alpha,
        seed=cfg.seed,
        num_blocks=cfg.als.num_blocks,
        checkpoint_interval=cfg.als.checkpoint_interval,
        ease_threshold=cfg.als.ease_threshold,
        ease_topk=cfg.als.ease_topk,
        ease_max_items=cfg.als.ease_max_items,
        ease_session_weight=cfg.als.ease_session_weight,
        ease_session_gap=cfg.als.ease_session_gap,
        ease_blend=cfg.als.ease_blend,
        ease_blend_reg=r.implicit_reg_param,
    )


def ials_params(cfg: RunConfig) -> ALSParams:
    """``ials``'s configuration: the ``[als]`` section's when it configures ``model =
    "ials"``, else that kind's defaults (:data:`movierec.config.IALS_DEFAULTS`, α0, ν and σ
    from :class:`movierec.config.ALSConfig`)."""
    if cfg.als.model == "ials":
        return ALSParams.from_config(cfg.als, cfg.seed)
    section = ALSConfig.model_validate(
        {
            "model": "ials",
            "num_blocks": cfg.als.num_blocks,
            "checkpoint_interval": cfg.als.checkpoint_interval,
            "implicit_solver": cfg.als.implicit_solver,
            "cg_steps": cfg.als.cg_steps,
        }
    )
    return ALSParams.from_config(section, cfg.seed)


def ranker_candidates(cfg: RunConfig, tuning: TuningResult | None = None) -> dict[str, ALSParams]:
    """Name -> parameters of ``ials`` (when available) and ``ease``, in :data:`RANKERS`
    order. ``ease``'s are those of its first λ when several are to be tried
    (:func:`alternatives` lists them)."""
    out: dict[str, ALSParams] = {}
    if available("ials", cfg.engine):
        base = ials_params(cfg)
        tuned = tuning.best_of_model("ials", base) if tuning is not None else None
        out["ials"] = tuned or base
    if available("ease", cfg.engine):
        first = ease_params(cfg, cfg.recommend.ease_lambdas[0])
        tuned = tuning.best_of_model("ease", first) if tuning is not None else None
        out["ease"] = tuned or first
    return out


def alternatives(
    name: str, params: ALSParams, cfg: RunConfig, tuning: TuningResult | None = None
) -> list[ALSParams]:
    """The configurations candidate ``name`` tries on the validation split (the best one is
    the candidate): ``ease`` without a tuned λ tries every ``[recommend] ease_lambdas``
    value; everything else only ``params``."""
    if name != "ease" or (tuning is not None and tuning.best_of_model("ease", params)):
        return [params]
    return [replace(params, reg_param=float(lam)) for lam in cfg.recommend.ease_lambdas]
