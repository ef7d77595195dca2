"""k-fold cross-validated grid search over ALS hyper-parameters, on any engine.

Folds come from :func:`movierec.split.kfold`, so they are the same for every engine and
every run with the same seed. Each fold's training data is cached once by the engine and
released in ``finally``; fits run ``parallelism`` at a time.
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
from movierec.errors import DataError
from movierec.metrics import rating_errors
from movierec.schema import RATING
from movierec.split import kfold

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, description)`` called after every fit."""


@dataclass
class TuningResult:
    """Outcome of a grid search: one row per configuration, best first by mean RMSE."""

    folds: int
    grid: dict[str, list[Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"folds": self.folds, "grid": self.grid, "results": self.results, "best": self.best}

    def best_params(self, base: ALSParams) -> ALSParams:
        """``base`` with rank, regParam and maxIter replaced by the best configuration's."""
        return replace(
            base,
            model=str(self.best["model"]),
            rank=int(self.best["rank"]),
            reg_param=float(self.best["regParam"]),
            max_iter=int(self.best["maxIter"]),
        )


def holdout_rmse(model_predict: np.ndarray, actual: pd.Series) -> tuple[float, int]:
    """RMSE over the rows that have a prediction, and the number of cold-start rows left out."""
    pred = np.asarray(model_predict, dtype=np.float64)
    ok = ~np.isnan(pred)
    if not ok.any():
        raise DataError("no validation rating could be predicted (every user or movie is new)")
    return float(rating_errors(actual.to_numpy()[ok], pred[ok])["rmse"]), int((~ok).sum())


def grid_search(
    engine: Engine,
    ratings: pd.DataFrame,
    cfg: TuningConfig,
    base: ALSParams,
    seed: int,
    progress: Progress | None = None,
) -> TuningResult:
    """Cross-validate every (model, rank, regParam, maxIter) in the grid; lowest mean RMSE wins.

    For each configuration the RMSE (rating units) is computed on each validation fold over
    the ratings whose user and movie appear in that fold's training part (the number left
    out is reported as ``cold_start_rows``). ``rmse_std`` is the population standard
    deviation over folds (ddof=0). Ties on mean RMSE go to the smaller rank, then fewer
    iterations, then the smaller regParam.

    Raises:
        DataError: too few ratings for the number of folds.
    """
    grid: dict[str, list[Any]] = {
        "model": list(cfg.models),
        "rank": list(cfg.ranks),
        "regParam": list(cfg.reg_params),
        "maxIter": list(cfg.max_iters),
    }
    configs = cfg.configurations()
    fold_data = kfold(ratings, cfg.folds, seed)
    workers = min(cfg.parallelism, engine.max_concurrent_fits or cfg.parallelism)
    total = len(configs) * len(fold_data)
    fold_rmse: dict[tuple[str, int, float, int], list[float]] = {c: [] for c in configs}
    cold: dict[tuple[str, int, float, int], int] = dict.fromkeys(configs, 0)
    done = 0
    lock = threading.Lock()
    handles: list[EngineData] = []
    try:
        for f, (train, valid) in enumerate(fold_data):
            handle = engine.data(train)
            handles.append(handle)

            def run_one(
                conf: tuple[str, int, float, int],
                handle: EngineData = handle,
                valid: pd.DataFrame = valid,
                f: int = f,
            ) -> None:
                nonlocal done
                kind, rank, reg, iters = conf
                params = replace(base, model=kind, rank=rank, reg_param=reg, max_iter=iters)
                model = engine.fit(handle, params)
                try:
                    rmse, n_cold = holdout_rmse(model.predict(valid), valid[RATING])
                finally:
                    model.release()
                with lock:
                    fold_rmse[conf].append(rmse)
                    cold[conf] += n_cold
                    done += 1
                    log.info(
                        "fold %d %s rank=%d regParam=%g maxIter=%d: RMSE %.4f", f + 1, *conf, rmse
                    )
                    if progress is not None:
                        progress(
                            done,
                            total,
                            f"fold {f + 1}/{cfg.folds} {kind} rank={rank} reg={reg} it={iters}",
                        )

            pool = ThreadPoolExecutor(max_workers=workers)
            try:
                for fut in [pool.submit(run_one, c) for c in configs]:
                    fut.result()
            except BaseException:
                # Do not start the queued fits; wait only for the ones already running.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            handles.remove(handle)
            handle.release()
    finally:
        for h in handles:
            h.release()

    results = []
    for conf in configs:
        values = np.array(fold_rmse[conf])
        kind, rank, reg, iters = conf
        results.append(
            {
                "model": kind,
                "rank": rank,
                "regParam": reg,
                "maxIter": iters,
                "rmse_mean": float(values.mean()),
                "rmse_std": float(values.std(ddof=0)),
                "fold_rmse": [float(v) for v in values],
                "cold_start_rows": cold[conf],
            }
        )
    results.sort(key=lambda r: (r["rmse_mean"], r["rank"], r["maxIter"], r["regParam"]))
    keys = ("model", "rank", "regParam", "maxIter", "rmse_mean", "rmse_std")
    best = {k: results[0][k] for k in keys}
    return TuningResult(folds=cfg.folds, grid=grid, results=results, best=best)
