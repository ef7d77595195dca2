"""Ranking quality on the hold-out test set: interaction modes, ranking-tuned vs untuned
implicit ALS vs most popular (issues 5 and 8), local engine.

Protocol (the same as ``movierec run``): the configured hold-out split of the ratings (random
20 %, seed 42) gives development and test parts. Every model is fitted on the development
ratings; catalogue-wide top-10 lists for the test users, every development-rated movie
excluded, are scored by NDCG@10 / precision@10 / recall@10 with relevance = test rating >= 3.
Tuning uses only the development part (k-fold, objective NDCG@10).

  1. interaction modes: implicit ALS with the ``[recommend]`` defaults (rank 50, regParam
     0.2, 15 iterations, alpha 1) fitted on the raw ratings / on all ratings as 1 / on the
     ratings >= 3, 3.5, 4 only;
  2. ``--search`` (default optuna) over implicit ALS rank, regParam, alpha, maxIter with the
     NDCG@10 objective; the best configuration refitted on all development ratings.

Example:
  python benchmarks/ranking_tuning.py --data ml-latest-small --trials 20 \\
      --out benchmarks/results/ranking-tuning.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from movierec.baselines import MostPopular
from movierec.config import RunConfig, TuningConfig
from movierec.data import load_ratings
from movierec.engines.local_als import LocalEngine
from movierec.interactions import fit_model
from movierec.metrics import catalogue_top_k
from movierec.pipeline import holdout, implicit_params
from movierec.schema import USER
from movierec.tuning import tune


def _scores(recs: Any, test: Any) -> dict[str, float]:
    m = catalogue_top_k(recs, test, 10, 3.0)
    return {k: round(float(m[k]), 4) for k in ("ndcg", "precision", "recall")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="ml-latest-small", help="dataset name or ratings path")
    ap.add_argument("--search", default="optuna", choices=["grid", "random", "optuna"])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--rank-range", default="8,128")
    ap.add_argument("--reg-range", default="0.01,10")
    ap.add_argument("--alpha-range", default="0.1,10")
    ap.add_argument("--max-iters", default="10,15,20")
    ap.add_argument("--skip-modes", action="store_true", help="only the tuning comparison")
    ap.add_argument(
        "--start-default",
        action="store_true",
        help="try the untuned defaults first (tune(start=...)), so CV cannot do worse",
    )
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()

    data: dict[str, Any] = (
        {"path": args.data} if os.path.exists(args.data) else {"dataset": args.data}
    )
    cfg = RunConfig.model_validate({"engine": "local", "data": data})
    loaded = load_ratings(cfg.data)
    dev, test = holdout(loaded.ratings, cfg)
    engine = LocalEngine()
    handle = engine.data(dev)
    users = np.unique(test[USER].to_numpy())
    rows: list[dict[str, Any]] = []

    def score(name: str, params: Any, mode: str = "rating", threshold: float = 3.0) -> None:
        started = time.perf_counter()
        model = fit_model(engine, handle, params, mode, threshold)
        recs = model.recommend(users, 10, exclude=handle)
        rows.append(
            {
                "model": name,
                **_scores(recs, test),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        print(rows[-1], flush=True)

    popular = MostPopular().fit(dev).recommend(users, n=10, exclude=dev)
    rows.append({"model": "most-popular", **_scores(popular, test), "seconds": 0.0})
    print(rows[-1], flush=True)
    untuned = implicit_params(cfg)
    score("implicit-als untuned, interactions=rating", untuned)
    if not args.skip_modes:
        score("implicit-als untuned, interactions=all", untuned, "all")
        for t in (3.0, 3.5, 4.0):
            score(f"implicit-als untuned, interactions=threshold {t}", untuned, "threshold", t)

    def pair(text: str) -> list[float]:
        return [float(v) for v in text.split(",")]

    tcfg = TuningConfig(
        search=args.search,
        trials=args.trials,
        folds=args.folds,
        models=["implicit-als"],
        objective="ndcg@10",
        rank_range=[int(v) for v in pair(args.rank_range)],
        reg_range=pair(args.reg_range),
        alpha_range=pair(args.alpha_range),
        max_iters=[int(v) for v in pair(args.max_iters)],
    )
    started = time.perf_counter()
    start = [untuned] if args.start_default else None
    result = tune(engine, dev, tcfg, untuned, cfg.seed, threshold=3.0, start=start)
    tuning_seconds = round(time.perf_counter() - started, 1)
    best = result.best_params(untuned)
    print("tuning:", result.best, f"{tuning_seconds} s", flush=True)
    score(
        f"implicit-als tuned ({args.search}, {args.trials} trials, NDCG@10): rank {best.rank}, "
        f"regParam {best.reg_param}, alpha {best.alpha}, maxIter {best.max_iter}",
        best,
    )
    report = {
        "protocol": "hold-out random 20% (seed 42); fitted on the rest; catalogue top-10, "
        "relevance >= 3, development-rated movies excluded; local engine",
        "dev_ratings": len(dev),
        "test_ratings": len(test),
        "tuning": {
            "search": args.search,
            "trials": args.trials,
            "folds": args.folds,
            "ranges": {
                "rank": tcfg.rank_range,
                "regParam": tcfg.reg_range,
                "alpha": tcfg.alpha_range,
                "maxIter": tcfg.max_iters,
            },
            "start_default": args.start_default,
            "pruned": result.to_dict()["pruned"],
            "seconds": tuning_seconds,
            "best": result.best,
            "results": result.results,
        },
        "rows": rows,
        "load_average_1min": os.getloadavg()[0],
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
