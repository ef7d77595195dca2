"""k-fold cross-validated hyper-parameter search (grid, random or Optuna) on any engine.

Folds come from :func:`movierec.split.kfold`, so they are the same for every engine, every
search method and every run with the same seed. Each fold's training data is cached once by
the engine and released in ``finally``; fits run ``parallelism`` at a time (grid, random).

Objective: RMSE on each validation fold (lower wins), or a ranking metric — NDCG@k or
recall@k of catalogue-wide top-k lists on each validation fold, that fold's training movies
excluded, relevance = rating >= ``threshold`` (:func:`movierec.metrics.catalogue_top_k`,
higher wins).

Pruning: after each fold but the last, a configuration whose mean over the folds run so far
is worse than the best such mean over the *same* folds by more than a relative margin
(:func:`movierec.search.is_hopeless`) is stopped. Grid and random search run fold by fold
(every surviving configuration on fold 1, then on fold 2, ...), so the reference is the best
survivor; Optuna runs trial by trial and compares with completed trials (its pruner). Pruned
configurations stay in the results with the folds they ran and never become the best.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from movierec.config import TuningConfig
from movierec.engines.base import ALSParams, Engine, EngineData
from movierec.engines.frames import holdout_rmse as holdout_rmse  # re-exported
from movierec.search import (
    Candidate,
    grid_candidates,
    is_hopeless,
    margin,
    random_candidates,
)
from movierec.tuning_folds import (
    COMPLETE,
    PRUNED,
    Fold,
    Progress,
    evaluate_fold,
    result_row,
    run_optuna,
)

log = logging.getLogger(__name__)


@dataclass
class TuningResult:
    """Outcome of a search: one row per configuration, completed ones first, best first."""

    folds: int
    grid: dict[str, list[Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    search: str = "grid"
    objective: str = "rmse"
    prune_margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "search": self.search,
            "objective": self.objective,
            "folds": self.folds,
            "grid": self.grid,
            "prune_margin": self.prune_margin,
            "trials": len(self.results),
            "pruned": sum(r.get("status") == PRUNED for r in self.results),
            "results": self.results,
            "best": self.best,
        }

    def best_params(self, base: ALSParams) -> ALSParams:
        """``base`` with the best configuration's values (model, rank, regParam, maxIter,
        and biasReg / alpha when the row has them)."""
        return row_params(self.best, base)

    def best_rating_params(self, base: ALSParams) -> ALSParams | None:
        """The explicit configuration with the lowest mean RMSE: among the completed ones, or,
        when a ranking objective pruned them all, among the pruned ones (mean over the folds
        they ran). None when no explicit model was tried."""
        rows = [r for r in self.results if r.get("rmse_mean") is not None]
        done = [r for r in rows if r.get("status") == COMPLETE]
        if not rows:
            return None
        return row_params(min(done or rows, key=lambda r: float(r["rmse_mean"])), base)

    def best_of_model(self, model: str, base: ALSParams) -> ALSParams | None:
        """The best completed configuration of one model kind, by the objective (None if none)."""
        rows = [r for r in self.results if r.get("status") == COMPLETE and r["model"] == model]
        return row_params(rows[0], base) if rows else None  # results are sorted best first


def row_params(row: dict[str, Any], base: ALSParams) -> ALSParams:
    """``base`` with a results row's configuration (``ease``: its λ only)."""
    if row["model"] == "ease":
        return replace(base, model="ease", reg_param=float(row["regParam"]))
    return replace(
        base,
        model=str(row["model"]),
        rank=int(row["rank"]),
        reg_param=float(row["regParam"]),
        max_iter=int(row["maxIter"]),
        bias_reg=float(row.get("biasReg", base.bias_reg)),
        alpha=float(row.get("alpha", base.alpha)),
        unobserved_weight=float(row.get("unobservedWeight", base.unobserved_weight)),
        reg_exponent=float(row.get("regExponent", base.reg_exponent)),
    )


def _sort_key(ranking: tuple[str, int] | None) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    sign = 1.0 if ranking is None else -1.0

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            r["status"] != COMPLETE,
            sign * r["objective_mean"],
            r["rank"],
            r["maxIter"],
            r["regParam"],
            r["trial"],
        )

    return key


def tune(
    engine: Engine,
    ratings: pd.DataFrame | EngineData,
    cfg: TuningConfig,
    base: ALSParams,
    seed: int,
    progress: Progress | None = None,
    *,
    threshold: float = 3.0,
    interactions: tuple[str, float] = ("rating", 3.0),
    start: list[ALSParams] | None = None,
) -> TuningResult:
    """Cross-validate the configurations of ``cfg.search``; the best mean objective wins.

    ``start``: configurations random and Optuna search try first (e.g. the defaults, so the
    result is never worse than them on the cross-validated objective); they count towards
    ``trials``, and those whose model is not searched are skipped. Grid search ignores it.

    For each configuration and fold: RMSE (rating units) over the validation ratings whose
    user and movie are in that fold's training part (the rest counted as
    ``cold_start_rows``; not computed for implicit-als), and with a ranking objective the
    metric of catalogue top-k lists for the fold's validation users. ``*_std`` are population
    standard deviations over folds (ddof=0). Ties go to the smaller rank, then fewer
    iterations, then the smaller regParam. ``interactions`` = (mode, threshold) of
    :func:`movierec.interactions.to_interactions` for implicit-als fits.

    Raises:
        DataError: too few ratings for the number of folds, or nothing to evaluate.
        ConfigError: ``--search optuna`` without Optuna installed.
    """
    ranking = cfg.ranking
    grid: dict[str, list[Any]] = {
        "model": list(cfg.models),
        "rank": list(cfg.ranks),
        "regParam": list(cfg.reg_params),
        "maxIter": list(cfg.max_iters),
    }
    if "ease" in cfg.models:
        grid["easeLambda"] = list(cfg.ease_lambdas)
    if "ials" in cfg.models:
        grid["unobservedWeight"] = list(cfg.ials_unobserved_weights)
        grid["regExponent"] = list(cfg.ials_reg_exponents)
    if cfg.search != "grid":
        grid = {
            "model": list(cfg.models),
            "rank": list(cfg.rank_range),
            "regParam": list(cfg.reg_range),
            "maxIter": list(cfg.max_iters),
        }
        if "biased-als" in cfg.models:
            grid["biasReg"] = list(cfg.bias_reg_range)
        if "implicit-als" in cfg.models:
            grid["alpha"] = list(cfg.alpha_range)
        if "ease" in cfg.models:
            grid["easeLambda"] = list(cfg.ease_lambda_range)
        if "ials" in cfg.models:
            grid["unobservedWeight"] = list(cfg.ials_unobserved_weight_range)
            grid["regExponent"] = list(cfg.ials_reg_exponent_range)
    rel_margin = margin(cfg) if cfg.prune else None
    starts = [
        Candidate(
            p.model,
            p.rank,
            p.reg_param,
            p.max_iter,
            p.bias_reg,
            p.alpha,
            p.unobserved_weight if p.ials else None,
            p.reg_exponent if p.ials else None,
        )
        for p in (start or [])
        if p.model in cfg.models
    ][: cfg.trials]
    with engine.table(ratings) as table:
        folds = [Fold(engine, tr, va, interactions) for tr, va in table.kfold(cfg.folds, seed)]
        try:
            if cfg.search == "optuna":
                rows = run_optuna(folds, cfg, base, seed, ranking, threshold, progress, starts)
            else:
                if cfg.search == "grid":
                    cands = grid_candidates(cfg)
                else:
                    cands = (starts + random_candidates(cfg, seed))[: cfg.trials]
                rows = _run_fold_major(
                    engine, folds, cands, cfg, base, ranking, threshold, progress
                )
        finally:  # every fold's cached tables, whatever happened (as CrossValidator does)
            for f in folds:
                f.release()
    rows.sort(key=_sort_key(ranking))
    best_row = rows[0]
    assert best_row["status"] == COMPLETE  # the reference configuration is never pruned
    skip = {"trial", "status", "folds_run", "cold_start_rows"}
    best = {k: v for k, v in best_row.items() if k not in skip and not k.startswith("fold_")}
    log.info(
        "tuning (%s, %s): best %s after %d configurations, %d pruned",
        cfg.search,
        cfg.objective,
        best,
        len(rows),
        sum(r["status"] == PRUNED for r in rows),
    )
    return TuningResult(
        folds=cfg.folds,
        grid=grid,
        results=rows,
        best=best,
        search=cfg.search,
        objective=cfg.objective,
        prune_margin=rel_margin,
    )


def _run_fold_major(
    engine: Engine,
    folds: list[Fold],
    cands: list[Candidate],
    cfg: TuningConfig,
    base: ALSParams,
    ranking: tuple[str, int] | None,
    threshold: float,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Grid/random: every surviving candidate on fold 1, prune, fold 2, prune, ...

    Each fold's tables are released as soon as its fits are done."""
    workers = min(cfg.parallelism, engine.max_concurrent_fits or cfg.parallelism)
    total = len(cands) * len(folds)
    scores: list[list[dict[str, Any]]] = [[] for _ in cands]
    alive = list(range(len(cands)))
    pruned: set[int] = set()
    done = 0
    lock = threading.Lock()
    for f, fold in enumerate(folds):
        try:

            def run_one(i: int, fold: Fold = fold, f: int = f) -> None:
                nonlocal done
                cand = cands[i]
                s = evaluate_fold(fold, cand.params(base), ranking, threshold)
                with lock:
                    scores[i].append(s)
                    done += 1
                    log.info("fold %d %s: %s %.4f", f + 1, cand, cfg.objective, s["objective"])
                    if progress is not None:
                        progress(
                            done,
                            total,
                            f"fold {f + 1}/{cfg.folds} {cand.model} rank={cand.rank} "
                            f"reg={cand.reg_param} it={cand.max_iter}",
                        )

            pool = ThreadPoolExecutor(max_workers=workers)
            try:
                for fut in [pool.submit(run_one, i) for i in alive]:
                    fut.result()
            except BaseException:
                # Do not start the queued fits; wait only for the ones already running.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        finally:
            fold.release()
        if cfg.prune and f < len(folds) - 1 and len(alive) > 1:
            means = {i: float(np.mean([s["objective"] for s in scores[i]])) for i in alive}
            lower = ranking is None
            ref = min(means.values()) if lower else max(means.values())
            hopeless = {i for i in alive if is_hopeless(means[i], ref, margin(cfg), lower)}
            if hopeless:
                log.info("pruned %d configurations after fold %d", len(hopeless), f + 1)
            pruned |= hopeless
            alive = [i for i in alive if i not in hopeless]
    if progress is not None and done < total:
        progress(total, total, f"{len(pruned)} configurations pruned")
    return [
        result_row(c, base, scores[i], PRUNED if i in pruned else COMPLETE, ranking, i + 1)
        for i, c in enumerate(cands)
    ]


def grid_search(
    engine: Engine,
    ratings: pd.DataFrame,
    cfg: TuningConfig,
    base: ALSParams,
    seed: int,
    progress: Progress | None = None,
) -> TuningResult:
    """:func:`tune` with the configured search (``grid`` by default) and default options."""
    return tune(engine, ratings, cfg, base, seed, progress)
