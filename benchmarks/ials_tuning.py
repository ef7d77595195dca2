"""Tuning study behind the ``ials`` defaults (config.IALS_DEFAULTS and the [als] ials fields).

Protocol (issue 17): ml-latest-small, movierec's own seeded 5-fold split by rating
(``movierec.split.kfold(ratings, 5, seed=42)``, each fold's 20% the test set); every model
fitted on the other 80% (all ratings as binary interactions), catalogue-wide top-10 lists
for the test users with every training-rated movie excluded, scored by
``movierec.metrics.catalogue_top_k`` with relevance = test rating >= 3; the mean over the 5
folds. Same run, same folds: EASE (Steck 2019; B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹
on the binary training matrix, a dense numpy inverse) at λ = 100 and 300, and most popular.

The grid follows Rendle et al.'s recipe: ν = 1 and σ = 0.1 fixed first, 16 epochs; α0 and λ
on a grid at d = 128 and 256; then ν = 0.75 / 1.25 with λ moved so the typical row
regulariser stays put; then the epochs. Every ials fit uses the local engine's default CG
solve (3 steps); the chosen configuration is also fitted with the exact Cholesky solve.

    python benchmarks/ials_tuning.py                       # the whole study, ~1 h on 2 cores
    python benchmarks/ials_tuning.py --quick               # 1 fold, 3 configurations
    python benchmarks/ials_tuning.py --no-ease             # skip EASE (minutes per fold)

Writes ``benchmarks/results/ials_tuning.{json,md}`` (``--out`` folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def grid(quick: bool) -> list[dict[str, Any]]:
    """The configurations, in the order of the recipe (model fields of ALSParams)."""
    base = {"model": "ials", "reg_exponent": 1.0, "init_std": 0.1, "max_iter": 16}
    if quick:
        return [
            {**base, "rank": 64, "reg_param": 0.01, "unobserved_weight": 0.3},
            {**base, "rank": 128, "reg_param": 0.008, "unobserved_weight": 0.3},
            {**base, "rank": 128, "reg_param": 0.01, "unobserved_weight": 0.2},
        ]
    out = []
    for a0 in (0.2, 0.3, 0.5):
        for lam in (0.006, 0.008, 0.01, 0.013):
            out.append({**base, "rank": 128, "reg_param": lam, "unobserved_weight": a0})
    for a0 in (0.2, 0.3):
        for lam in (0.006, 0.008, 0.01):
            out.append({**base, "rank": 256, "reg_param": lam, "unobserved_weight": a0})
    # ν ≠ 1: the typical item row's regulariser weight is ~ α0·|I| ≈ 0.3·9000 = 2700, so
    # λ·2700^ν stays near 0.008·2700 when λ = 0.008·2700^(1−ν).
    for nu in (0.75, 1.25):
        centre = 0.008 * 2700 ** (1 - nu)
        for f in (0.75, 1.0, 1.5):
            lam = float(f"{centre * f:.3g}")
            out.append(
                {
                    **base,
                    "rank": 256,
                    "reg_param": lam,
                    "unobserved_weight": 0.3,
                    "reg_exponent": nu,
                }
            )
    return out


def epochs_and_solver(best: dict[str, Any]) -> list[dict[str, Any]]:
    """The best configuration at other epoch counts, and solved exactly."""
    return [
        {**best, "max_iter": 8},
        {**best, "max_iter": 24},
        {**best, "implicit_solver": "cholesky"},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/ml-latest-small")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="1 fold, 3 configurations")
    ap.add_argument("--no-ease", action="store_true", help="skip the EASE baseline")
    ap.add_argument("--ease-lambdas", default="100,300")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--name", default="ials_tuning")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pandas as pd
    import scipy.linalg
    from bench import loadavg, machine, table, versions

    from movierec.baselines import MostPopular
    from movierec.engines.base import ALSParams
    from movierec.engines.local_als import LocalEngine
    from movierec.metrics import catalogue_top_k
    from movierec.schema import ITEM, RANK, RATING, USER
    from movierec.split import kfold

    csv = args.data / "ratings.csv" if args.data.is_dir() else args.data
    ratings = pd.read_csv(csv).rename(columns={"userId": USER, "movieId": ITEM})
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})
    folds = kfold(ratings, args.folds, seed=args.seed)
    if args.quick:
        folds = folds[:1]
    engine = LocalEngine()
    handles = [(engine.data(train), test) for train, test in folds]
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_start = loadavg()
    rows: list[dict[str, Any]] = []

    def record(name: str, config: dict[str, Any], per_fold: list[dict[str, Any]], s: float) -> None:
        row = {
            "name": name,
            "config": config,
            "ndcg": statistics.mean(m["ndcg"] for m in per_fold),
            "precision": statistics.mean(m["precision"] for m in per_fold),
            "recall": statistics.mean(m["recall"] for m in per_fold),
            "ndcg_per_fold": [round(m["ndcg"], 4) for m in per_fold],
            "seconds": round(s, 1),
            "load_1min": loadavg()[0],
        }
        rows.append(row)
        partial = args.out / f"{args.name}.partial.json"
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        print(
            f"{name:60s} NDCG@10 {row['ndcg']:.4f} P@10 {row['precision']:.4f} "
            f"({s:.0f} s, load {row['load_1min']:.0f})",
            flush=True,
        )

    def scores(recs: Any, test: Any) -> dict[str, Any]:
        return catalogue_top_k(recs, test, 10, 3.0)

    def run_ials(config: dict[str, Any]) -> None:
        params = ALSParams(seed=args.seed, **config)
        t0 = time.perf_counter()
        per_fold = []
        for handle, test in handles:
            model = engine.fit(handle, params)
            per_fold.append(scores(model.recommend(np.unique(test[USER]), 10, handle), test))
        name = ", ".join(f"{k}={v}" for k, v in config.items() if k != "model")
        record(f"ials {name}", config, per_fold, time.perf_counter() - t0)

    t0 = time.perf_counter()
    popular = []
    for handle, test in handles:
        recs = (
            MostPopular()
            .fit(handle.ratings)
            .recommend(np.unique(test[USER]), n=10, exclude=handle.ratings)
        )
        popular.append(scores(recs, test))
    record("most popular", {}, popular, time.perf_counter() - t0)

    for config in grid(args.quick):
        run_ials(config)
    ials_rows = [r for r in rows if r["name"].startswith("ials")]
    best = max(ials_rows, key=lambda r: r["ndcg"])["config"]
    for config in epochs_and_solver(best):
        run_ials(config)

    if not args.no_ease:
        lambdas = [float(x) for x in args.ease_lambdas.split(",")]
        per_lambda: dict[float, list[dict[str, Any]]] = {lam: [] for lam in lambdas}
        seconds = dict.fromkeys(lambdas, 0.0)
        for handle, test in handles:
            train = handle.ratings
            users = np.unique(train[USER].to_numpy())
            items = np.unique(train[ITEM].to_numpy())
            x = np.zeros((len(users), len(items)))
            x[np.searchsorted(users, train[USER]), np.searchsorted(items, train[ITEM])] = 1.0
            wanted = np.unique(test[USER].to_numpy())
            wanted = wanted[np.isin(wanted, users)]
            rows_ = np.searchsorted(users, wanted)
            for lam in lambdas:
                t1 = time.perf_counter()
                # One items×items matrix at a time (float64, 0.75 GB at 9.7k movies): the
                # Gram, inverted in place, scaled in place into B.
                b = x.T @ x
                b[np.diag_indices_from(b)] += lam
                b = scipy.linalg.inv(b, overwrite_a=True, check_finite=False)
                b /= -np.diag(b).copy()
                b[np.diag_indices_from(b)] = 0.0
                s = x[rows_] @ b
                s[x[rows_] > 0] = -np.inf
                top = np.argsort(-s, axis=1, kind="stable")[:, :10]
                recs = pd.DataFrame(
                    {
                        USER: np.repeat(wanted, 10),
                        ITEM: items[top].ravel(),
                        RANK: np.tile(np.arange(1, 11), len(wanted)),
                    }
                )
                per_lambda[lam].append(scores(recs, test))
                seconds[lam] += time.perf_counter() - t1
        for lam in lambdas:
            record(f"EASE lambda={lam:g}", {"lambda": lam}, per_lambda[lam], seconds[lam])

    ease = [r for r in rows if r["name"].startswith("EASE")]
    meta = {
        "benchmark": "ials tuning on ml-latest-small",
        "date": started,
        "machine": machine(),
        "versions": versions(),
        "loadavg_at_start": load_start,
        "loadavg_at_end": loadavg(),
        "protocol": (
            f"movierec.split.kfold(ratings, {args.folds}, seed={args.seed}); fitted on each "
            "fold's 80%; catalogue top-10, training-rated movies excluded, relevance = test "
            "rating >= 3; mean over folds"
        ),
        "best_cg": best,
        "rows": rows,
    }
    ranked = sorted(rows, key=lambda r: -r["ndcg"])
    md = (
        "## ials tuning on ml-latest-small (mean of "
        f"{len(handles)} folds)\n\n{started} · {meta['machine']['cpu']}, "
        f"{meta['machine']['cores']} cores · load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_start)} · `python benchmarks/ials_tuning.py`\n\n"
        f"Protocol: {meta['protocol']}. ials fits use the CG solve (3 steps) unless the row "
        "says `implicit_solver=cholesky`; EASE and most popular on the same folds.\n\n"
        + (
            "EASE (same run): "
            + ", ".join(f"{r['name']} NDCG@10 {r['ndcg']:.4f}" for r in ease)
            + "\n\n"
            if ease
            else ""
        )
        + table(
            ["model / configuration", "NDCG@10", "P@10", "recall@10", "NDCG per fold", "s"],
            [
                [
                    r["name"],
                    f"{r['ndcg']:.4f}",
                    f"{r['precision']:.4f}",
                    f"{r['recall']:.4f}",
                    " ".join(f"{v:.3f}" for v in r["ndcg_per_fold"]),
                    r["seconds"],
                ]
                for r in ranked
            ],
        )
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(md, encoding="utf-8")
    (args.out / f"{args.name}.partial.json").unlink(missing_ok=True)
    print(md)


if __name__ == "__main__":
    main()
