"""Issue 17's ranking table: every recommender candidate on movierec's seeded 5-fold protocol.

Protocol: ``movierec.split.kfold(ratings, 5, seed)`` (each fold's 20% is its test set); every
model is fitted on the other 80%; each test user with a relevant test movie gets a
catalogue-wide top-10 list with every training-rated movie excluded; relevance = test rating
>= 3. Per fold: P@10, R@10 (hits / |relevant|), normalised R@10 (hits / min(10, |relevant|))
and NDCG@10 (:func:`movierec.metrics.catalogue_top_k`); the table shows mean ± population
std over the folds.

Rows: most popular; implicit-als as ``run`` ships it (the ``[recommend]`` defaults, rank 50,
regParam 0.2, 15 iterations, alpha 1, interactions "rating"); implicit-als rank 10 regParam
0.1; plain EASE at several λ on all ratings (the issue's rows); EASE at one λ adding the
shipped settings one step at a time (ratings >= ``ease_threshold``, rating sessions, the blend
with implicit-als: the ``[als] ease_*`` defaults); ials with its defaults when the engines
have it; and
**the shipped recommender**: on each fold's training part, the candidate
:func:`movierec.pipeline.choose_recommender` picks on its validation split (the training
part only, never the test fold), fitted on the whole training part, as ``movierec run``
does. The rating model passed to the choice is the ``[als]`` default (run would first tune
it by k-fold RMSE; explicit candidates rank far below popularity on this protocol, so this
only saves time).

Example (about 10 minutes on ml-latest-small on a quiet 2-core machine):

  python benchmarks/ranking_table.py --out benchmarks/results/ranking
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.baselines import MostPopular
from movierec.config import RunConfig, build_config
from movierec.data import load_ratings
from movierec.engines import get_engine
from movierec.engines.base import ALSParams
from movierec.interactions import fit_model
from movierec.metrics import catalogue_top_k
from movierec.pipeline import choose_recommender, fit_recommender, implicit_params
from movierec.rankers import available, ease_params, ials_params
from movierec.schema import USER
from movierec.split import kfold

METRICS = ("precision", "recall", "recall_norm", "ndcg")
LABELS = {"precision": "P@10", "recall": "R@10", "recall_norm": "norm. R@10", "ndcg": "NDCG@10"}


def rows_to_fit(
    cfg: RunConfig, lambdas: list[float], step_lambda: float, steps: bool = True
) -> list[tuple[str, ALSParams | None]]:
    """(label, parameters) of every fixed row; None = most popular."""
    out: list[tuple[str, ALSParams | None]] = [("most popular", None)]
    out.append(
        (
            "implicit-als as shipped (rank 50, regParam 0.2, 15 it., alpha 1)",
            implicit_params(cfg),
        )
    )
    out.append(
        (
            "implicit-als rank 10, regParam 0.1",
            ALSParams(model="implicit-als", rank=10, reg_param=0.1, seed=cfg.seed),
        )
    )
    shipped = ease_params(cfg, step_lambda)
    plain = replace(shipped, ease_threshold=None, ease_session_weight=0.0, ease_blend=0.0)
    for lam in lambdas:
        out.append((f"EASE λ={lam:g} (all ratings, plain)", replace(plain, reg_param=lam)))
    liked = replace(plain, ease_threshold=shipped.ease_threshold)
    if steps:
        out.append((f"EASE λ={step_lambda:g}, ratings >= {shipped.ease_threshold:g}", liked))
        sessions = replace(liked, ease_session_weight=shipped.ease_session_weight)
        out.append((f"  + rating sessions (weight {shipped.ease_session_weight:g})", sessions))
        out.append((f"  + blend with implicit-als (w = {shipped.ease_blend:g})", shipped))
    else:
        out.append(
            (
                f"EASE λ={step_lambda:g} as shipped (ratings >= {shipped.ease_threshold:g}, "
                f"sessions, blend w = {shipped.ease_blend:g})",
                shipped,
            )
        )
    if available("ials", cfg.engine):
        out.append(("ials (defaults)", ials_params(cfg)))
    return out


def default_data() -> str:
    """ml-latest-small from $MOVIEREC_DATA_DIR or ../shared/datasets (as the tests find it),
    else the dataset name (downloaded once into the cache)."""
    root = os.environ.get("MOVIEREC_DATA_DIR") or str(
        Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    )
    folder = Path(root) / "ml-latest-small"
    return str(folder) if folder.is_dir() else "ml-latest-small"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data(), help="dataset name or ratings path")
    ap.add_argument("--engine", default="local", choices=["local", "spark"])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lambdas", default="100,300,1000", help="λ values of the plain EASE rows")
    ap.add_argument(
        "--step-lambda", type=float, default=200.0, help="λ of the rows adding one step each"
    )
    ap.add_argument("--skip-shipped", action="store_true", help="only the fixed rows")
    ap.add_argument(
        "--no-steps",
        action="store_true",
        help="one EASE-as-shipped row instead of the rows adding one setting at a time",
    )
    ap.add_argument(
        "--fold",
        type=int,
        action="append",
        help="run only this fold (1-based; repeatable); writes OUT.foldF.json per fold",
    )
    ap.add_argument(
        "--merge", action="store_true", help="build OUT.json/OUT.md from OUT.fold*.json files"
    )
    ap.add_argument("--config", type=Path, help="a movierec TOML config (default: the defaults)")
    ap.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = ap.parse_args()
    if args.merge:
        if args.out is None:
            ap.error("--merge needs --out")
        write_report(args, merged(args.out))
        return

    data: dict[str, Any] = (
        {"path": args.data} if os.path.exists(args.data) else {"dataset": args.data}
    )
    cfg = build_config(args.config, {"engine": args.engine, "seed": args.seed, "data": data})
    ratings = load_ratings(cfg.data).ratings
    engine = get_engine(cfg.engine, cfg.spark)
    lambdas = [float(v) for v in args.lambdas.split(",")]
    fixed = rows_to_fit(cfg, lambdas, args.step_lambda, steps=not args.no_steps)
    per_row: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, list[float]] = {}
    choices: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    for f, (train, test) in enumerate(kfold(ratings, args.folds, args.seed)):
        if args.fold and f + 1 not in args.fold:
            continue
        fold_rows: dict[str, dict[str, float]] = {}
        fold_seconds: dict[str, float] = {}
        fold_choice: dict[str, Any] | None = None
        fitted: dict[str, pd.DataFrame] = {}  # recs by parameters (the shipped fit reuses)
        users = np.unique(test[USER].to_numpy())
        handle = engine.data(train)
        try:

            def record(
                label: str,
                recs: pd.DataFrame,
                started: float,
                test: Any = test,
                f: int = f,
                fold_rows: dict[str, dict[str, float]] = fold_rows,
                fold_seconds: dict[str, float] = fold_seconds,
            ) -> None:
                m = catalogue_top_k(recs, test, 10, 3.0)
                fold_rows[label] = {k: float(m[k]) for k in METRICS}
                fold_seconds[label] = time.perf_counter() - started
                per_row.setdefault(label, []).append(fold_rows[label])
                seconds.setdefault(label, []).append(fold_seconds[label])
                print(
                    f"fold {f + 1} {label}: " + ", ".join(f"{k} {m[k]:.4f}" for k in METRICS),
                    flush=True,
                )

            for label, params in fixed:
                started = time.perf_counter()
                if params is None:
                    recs = MostPopular().fit(train).recommend(users, n=10, exclude=train)
                else:
                    model = fit_model(
                        engine, handle, params, cfg.interactions.mode, cfg.interaction_threshold
                    )
                    try:
                        recs = model.recommend(users, 10, exclude=handle)
                    finally:
                        model.release()
                    fitted[json.dumps(params.to_dict(), sort_keys=True, default=str)] = recs
                record(label, recs, started)
            if not args.skip_shipped:
                started = time.perf_counter()
                rating = ALSParams.from_config(cfg.als, cfg.seed)
                choice = choose_recommender(engine, train, rating, cfg)
                key = json.dumps(choice["params"], sort_keys=True, default=str)
                if choice["params"] is None:
                    recs = MostPopular().fit(train).recommend(users, n=10, exclude=train)
                elif key in fitted and choice["recommender"] != "rating-model":
                    recs = fitted[key]  # the same parameters on the same data: a fixed row's
                else:
                    model = fit_recommender(engine, handle, choice, cfg)
                    try:
                        recs = model.recommend(users, 10, exclude=handle)
                    finally:
                        model.release()
                fold_choice = {
                    "fold": f + 1,
                    "recommender": choice["recommender"],
                    "params": choice["params"],
                    "validation_ndcg": choice["validation_ndcg"],
                    "ease_lambdas": choice.get("ease_lambdas"),
                }
                choices.append(
                    {
                        "fold": f + 1,
                        "recommender": choice["recommender"],
                        "params": choice["params"],
                        "validation_ndcg": choice["validation_ndcg"],
                        "ease_lambdas": choice.get("ease_lambdas"),
                    }
                )
                record("shipped recommender (movierec run's choice)", recs, started)
        finally:
            handle.release()
        load.append(os.getloadavg()[0])
        if args.fold and args.out is not None:
            one = {
                "fold": f + 1,
                "rows": fold_rows,
                "seconds": fold_seconds,
                "choice": fold_choice,
                "load_average_1min": os.getloadavg()[0],
                "settings": settings(args, cfg, len(ratings)),
            }
            target = args.out.with_suffix(f".fold{f + 1}.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(one, indent=2) + "\n", encoding="utf-8")
    if args.fold:
        return
    report = build_report(per_row, seconds, choices, load, settings(args, cfg, len(ratings)))
    write_report(args, report)


def settings(args: argparse.Namespace, cfg: RunConfig, n_ratings: int) -> dict[str, Any]:
    return {
        "protocol": (
            f"movierec.split.kfold(ratings, {args.folds}, seed={args.seed}); fitted on the other "
            "folds; catalogue top-10, training-rated movies excluded; relevance = test rating "
            ">= 3; mean ± population std over folds"
        ),
        "engine": cfg.engine,
        "config": str(args.config) if args.config else "defaults",
        "data": args.data,
        "ratings": n_ratings,
    }


def build_report(
    per_row: dict[str, list[dict[str, float]]],
    seconds: dict[str, list[float]],
    choices: list[dict[str, Any]],
    load: list[float],
    setting: dict[str, Any],
) -> dict[str, Any]:
    table = []
    for label, folds in per_row.items():
        row: dict[str, Any] = {"model": label, "seconds_per_fold": float(np.mean(seconds[label]))}
        for k in METRICS:
            values = np.array([fold[k] for fold in folds])
            row[k] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=0)),
                "folds": values.tolist(),
            }
        table.append(row)
    return {
        **setting,
        "rows": table,
        "shipped_choices": choices,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "load_average_1min": load,
    }


def merged(out: Path) -> dict[str, Any]:
    """The report of the per-fold files OUT.fold*.json (runs of ``--fold``)."""
    files = sorted(out.parent.glob(out.stem + ".fold*.json"))
    if not files:
        raise SystemExit(f"no {out.stem}.fold*.json files in {out.parent}")
    folds = sorted(
        (json.loads(f.read_text(encoding="utf-8")) for f in files), key=lambda d: d["fold"]
    )
    per_row: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, list[float]] = {}
    for one in folds:
        for label, values in one["rows"].items():
            per_row.setdefault(label, []).append(values)
            seconds.setdefault(label, []).append(one["seconds"][label])
    choices = [one["choice"] for one in folds if one.get("choice")]
    load = [one["load_average_1min"] for one in folds]
    report = build_report(per_row, seconds, choices, load, folds[0]["settings"])
    report["folds_merged"] = [one["fold"] for one in folds]
    return report


def write_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    md = markdown(report)
    print(md)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(
            json.dumps(report, indent=2) + "\n", encoding="utf-8"
        )
        args.out.with_suffix(".md").write_text(md, encoding="utf-8")


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Ranking on {report['data']} ({report['ratings']:,} ratings), {report['engine']} engine, "
        f"config: {report['config']}.",
        "",
        f"Protocol: {report['protocol']}.",
        "",
        "| model | " + " | ".join(LABELS[k] for k in METRICS) + " | s/fold |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    for row in report["rows"]:
        cells = [f"{row[k]['mean']:.4f} ± {row[k]['std']:.4f}" for k in METRICS]
        lines.append(
            f"| {row['model']} | " + " | ".join(cells) + f" | {row['seconds_per_fold']:.1f} |"
        )
    if report["shipped_choices"]:
        lines += [
            "",
            "Shipped recommender, per fold (chosen on the training part's validation split):",
            "",
        ]
        for c in report["shipped_choices"]:
            p = c["params"] or {}
            lams = c.get("ease_lambdas")
            extra = f", validation NDCG by λ {lams}" if lams else ""
            lines.append(
                f"- fold {c['fold']}: {c['recommender']} (regParam {p.get('reg_param')}, "
                f"rank {p.get('rank')}){extra}"
            )
    machine = report.get("machine", {})
    lines += [
        "",
        f"Machine: {machine.get('platform')}, {machine.get('cpus')} CPUs, shared with other "
        "jobs (seconds are wall time under that load, with numba compilation in the first "
        "implicit fit; the metrics do not depend on it).",
        "",
        "Load average (1 min): "
        + (
            f"after each of the separately run folds {report['folds_merged']}"
            if "folds_merged" in report
            else "at the start and after each fold"
        )
        + f": {report['load_average_1min']}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
