"""The pieces of a cross-validated search that run on one fold (:mod:`movierec.tuning`): a
fold's cached tables, one configuration's fit and score on it, the results row of a
configuration, and the Optuna loop (trial by trial, pruned after a fold by its pruner)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from movierec.config import TuningConfig
from movierec.engines.base import ALSParams, Engine, EngineData
from movierec.engines.clipping import fit_clipped
from movierec.search import Candidate, enqueued, make_study, suggest

log = logging.getLogger("movierec.tuning")

Progress = Callable[[int, int, str], None]
"""``progress(done, total, description)`` called after every fit."""

COMPLETE = "complete"
PRUNED = "pruned"


class Fold:
    """One (train, validation) fold: the engine's tables, created once and released after.

    ``fit_handle`` derives the interactions table for implicit-als the first time a
    configuration needs it (on the engine, once per fold)."""

    def __init__(
        self,
        engine: Engine,
        train: EngineData,
        valid: EngineData,
        interactions: tuple[str, float],
    ) -> None:
        self.engine = engine
        self.handle = train
        self.valid = valid
        self.interactions = interactions
        self._implicit: EngineData | None = None
        self._lock = threading.Lock()

    def fit_handle(self, params: ALSParams) -> EngineData:
        """The handle to fit ``params`` on: the interactions table for implicit-als."""
        mode, threshold = self.interactions
        if not params.implicit or mode == "rating":
            return self.handle
        with self._lock:
            if self._implicit is None:
                self._implicit = self.handle.interactions(mode, threshold)
            return self._implicit

    def release(self) -> None:
        self.handle.release()
        self.valid.release()
        if self._implicit is not None:
            self._implicit.release()


def evaluate_fold(
    fold: Fold, params: ALSParams, ranking: tuple[str, int] | None, threshold: float
) -> dict[str, Any]:
    """RMSE (explicit models; predictions clipped as ``params`` say) and the ranking metric
    (when it is the objective) on one fold."""
    out: dict[str, Any] = {"rmse": None, "cold": 0, "ranking": None}
    with fit_clipped(fold.engine, fold.fit_handle(params), params) as model:
        if not params.ranking:
            with model.predict_table(fold.valid) as scored:
                out["rmse"], out["cold"] = scored.holdout_rmse()
        if ranking is not None:
            name, k = ranking
            with model.recommend_table(fold.valid, k, exclude=fold.handle) as recs:
                out["ranking"] = float(recs.catalogue_top_k(fold.valid, k, threshold)[name])
    out["objective"] = out["rmse"] if ranking is None else out["ranking"]
    return out


def result_row(
    cand: Candidate,
    base: ALSParams,
    scores: list[dict[str, Any]],
    status: str,
    ranking: tuple[str, int] | None,
    trial: int,
) -> dict[str, Any]:
    """One results row of :class:`movierec.tuning.TuningResult`: the configuration, its
    status, the folds it ran and the mean/std of RMSE and of the ranking metric over them."""
    row: dict[str, Any] = {"trial": trial, **cand.row(base), "status": status}
    row["folds_run"] = len(scores)
    rmse = [s["rmse"] for s in scores if s["rmse"] is not None]
    row["rmse_mean"] = float(np.mean(rmse)) if rmse else None
    row["rmse_std"] = float(np.std(rmse, ddof=0)) if rmse else None
    row["fold_rmse"] = [float(v) for v in rmse]
    row["cold_start_rows"] = int(sum(s["cold"] for s in scores))
    if ranking is not None:
        name = ranking[0]
        values = [float(s["ranking"]) for s in scores]
        row[f"{name}_mean"] = float(np.mean(values))
        row[f"{name}_std"] = float(np.std(values, ddof=0))
        row[f"fold_{name}"] = values
    obj = [float(s["objective"]) for s in scores]
    row["objective_mean"] = float(np.mean(obj))
    return row


def run_optuna(
    folds: list[Fold],
    cfg: TuningConfig,
    base: ALSParams,
    seed: int,
    ranking: tuple[str, int] | None,
    threshold: float,
    progress: Progress | None,
    starts: list[Candidate],
) -> list[dict[str, Any]]:
    """Optuna: trials one after another; each reports its running mean after every fold.
    ``starts`` are enqueued first (Optuna evaluates them as given)."""
    import optuna  # make_study has checked it is installed

    study = make_study(cfg, seed)
    for c in starts:
        study.enqueue_trial(enqueued(c, cfg), skip_if_exists=True)
    total = cfg.trials * len(folds)
    done = 0
    rows: list[dict[str, Any]] = []
    for t in range(cfg.trials):
        trial = study.ask()
        cand = suggest(trial, cfg)
        params = cand.params(base)
        scores: list[dict[str, Any]] = []
        status = COMPLETE
        for f, fold in enumerate(folds):
            s = evaluate_fold(fold, params, ranking, threshold)
            scores.append(s)
            done += 1
            if progress is not None:
                progress(done, total, f"trial {t + 1}/{cfg.trials} fold {f + 1}/{cfg.folds}")
            trial.report(float(np.mean([x["objective"] for x in scores])), f)
            if f < len(folds) - 1 and trial.should_prune():
                status = PRUNED
                break
        mean = float(np.mean([x["objective"] for x in scores]))
        if status == PRUNED:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, mean)
        rows.append(result_row(cand, base, scores, status, ranking, t + 1))
        log.info("trial %d %s: %s %.4f (%s)", t + 1, cand, cfg.objective, mean, status)
    if progress is not None and done < total:
        progress(total, total, f"{sum(r['status'] == PRUNED for r in rows)} trials pruned")
    return rows


__all__ = [
    "COMPLETE",
    "PRUNED",
    "Fold",
    "Progress",
    "evaluate_fold",
    "result_row",
    "run_optuna",
]
