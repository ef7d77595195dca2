"""View models of the report's split-comparison and tuning sections; the prose and markup are
in ``templates/splits.html.j2`` and ``tuning.html.j2``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from movierec.report.format import integer, num, objective_label, pct, plain, pm
from movierec.report.view import Cell, Figure, Plots, table

_TUNING_PLOT = re.compile(r"^tuning_heatmap_(?:(?P<model>.+)_)?maxiter(?P<iters>\d+)$")
_SEARCH_NAMES = {"grid": "Grid search", "random": "Random search", "optuna": "Optuna (TPE) search"}


def splits_view(s: Mapping[str, Any], plots: Plots) -> dict[str, Any] | None:
    """The split comparison table, its plot and the setting it fitted; None without one."""
    rows = s.get("split_comparison") or []
    if not rows:
        return None
    has_bias = any(r.get("bias_baseline_rmse") is not None for r in rows)
    headers = ["Train / test", "Train ratings", "Test ratings", "ALS test RMSE"]
    if has_bias:
        headers.append("Bias baseline RMSE")
    headers.append("Cold-start test rows")
    body = []
    for r in rows:
        row = [
            f"{pct(r.get('train_fraction'), 0)} / {pct(r.get('test_fraction'), 0)}",
            integer(r.get("train_ratings")),
            integer(r.get("test_ratings")),
            num(r.get("rmse")),
        ]
        if has_bias:
            row.append(num(r.get("bias_baseline_rmse")))
        row.append(integer(r.get("cold_start_rows")))
        body.append(row)
    als = (s.get("config") or {}).get("als") or {}
    setting = (
        f"{als.get('model', 'als')} rank={als.get('rank')} "
        f"regParam={als.get('reg_param')} maxIter={als.get('max_iter')}"
        if als
        else "the [als] settings"
    )
    alt = "Line chart of test RMSE against the share of ratings used for training: " + "; ".join(
        f"{pct(r.get('train_fraction'), 0)} train, RMSE {num(r.get('rmse'), 3)}" for r in rows
    )
    return {
        "setting": setting,
        "has_bias": has_bias,
        "table": table(
            headers,
            body,
            caption="Test RMSE (stars, lower is better) for each train share",
            numeric=[False] + [True] * (len(headers) - 1),
        ),
        "plot": plots.get("split_comparison", alt + ".", "Test RMSE by train / test split."),
    }


def _same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("model", "rank", "regParam", "maxIter", "biasReg", "alpha")
    return all(a.get(k) == b.get(k) for k in keys)


def tuning_view(s: Mapping[str, Any], plots: Plots) -> dict[str, Any] | None:
    """Search description, best configuration, plots and the table of every configuration."""
    tuning = s.get("tuning") or {}
    results = tuning.get("results") or []
    if not results:
        return None
    best = tuning.get("best") or results[0]
    objective = str(tuning.get("objective", "rmse"))
    obj_name, lower = objective_label(objective)
    search = str(tuning.get("search", "grid"))
    refit = tuning.get("refit")
    return {
        "search_name": _SEARCH_NAMES.get(search, search),
        "what": "configurations" if search == "grid" else "trials",
        "space_kind": "grid" if search == "grid" else "space",
        "space": ", ".join(f"{k} ∈ {{{plain(v)}}}" for k, v in (tuning.get("grid") or {}).items()),
        "n_results": len(results),
        "folds": tuning.get("folds"),
        "dev_ratings": (s.get("holdout") or {}).get("dev_ratings"),
        "objective_name": obj_name,
        "lower": lower,
        "ranking": objective != "rmse",
        "margin": tuning.get("prune_margin"),
        "pruned": int(tuning.get("pruned") or 0),
        "best": best,
        "refit_note": refit.get("note") if isinstance(refit, Mapping) else None,
        "figures": _tuning_figures(tuning, results, best, plots),
        "table": _tuning_table(tuning, results, best, objective),
    }


def _tuning_figures(
    tuning: Mapping[str, Any],
    results: list[dict[str, Any]],
    best: Mapping[str, Any],
    plots: Plots,
) -> list[Figure]:
    figures = []
    obj_name, lower = objective_label(str(tuning.get("objective", "rmse")))
    for p in plots.files:
        if p.stem == "tuning_trials":
            alt = (
                f"Scatter plot of mean cross-validated {obj_name} (vertical axis) for each trial "
                f"(horizontal axis, in the order tried); marker shape gives the model, hollow "
                f"markers are stopped trials; the best is labelled with its value "
                f"{num(best.get('objective_mean'))}"
            )
            caption = (
                f"{obj_name} by trial ({'lower' if lower else 'higher'} is better; "
                "hollow = stopped early)."
            )
            figures.append(plots.take(p, alt + ".", caption))
            continue
        m = _TUNING_PLOT.match(p.stem)
        if not m:
            continue
        model = m.group("model")
        iters = int(m.group("iters"))
        subset = [
            r
            for r in results
            if int(r.get("maxIter", -1)) == iters and (model is None or r.get("model") == model)
        ]
        who = f"{model}, " if model else ""
        alt = (
            f"Heatmap of mean cross-validated RMSE for {who}maxIter {iters}: rank on the "
            f"vertical axis, regParam on the horizontal axis, each cell labelled with its "
            f"mean RMSE ± std"
        )
        scored = [r for r in subset if r.get("rmse_mean") is not None]
        if scored:
            low = min(scored, key=lambda r: float(r["rmse_mean"]))
            alt += (
                f"; lowest here is rank {low.get('rank')}, regParam {low.get('regParam')} "
                f"at {num(low.get('rmse_mean'))}"
            )
        if any(_same_config(r, best) for r in subset):
            alt += "; this cell is the overall best and is marked with a star"
        caption = f"{who}maxIter = {iters}. Darker is lower RMSE; ★ marks the best."
        figures.append(plots.take(p, alt + ".", caption))
    return figures


def _tuning_table(
    tuning: Mapping[str, Any],
    results: list[dict[str, Any]],
    best: Mapping[str, Any],
    objective: str,
) -> Any:
    obj_name, _ = objective_label(objective)
    ranking = objective != "rmse"
    rank_key = objective.partition("@")[0]
    extra = [k for k in ("biasReg", "alpha") if any(k in r for r in results)]
    headers = ["#", "Model", "rank", "regParam", "maxIter", *extra]
    if ranking:
        headers.append(f"Mean {obj_name} ± std")
    headers.append("Mean RMSE ± std")
    has_status = any(r.get("status", "complete") != "complete" for r in results)
    if has_status:
        headers.append("Status")
    fold_key = f"fold_{rank_key}" if ranking else "fold_rmse"
    n_folds = max((len(r.get(fold_key) or []) for r in results), default=0)
    headers += [f"Fold {i + 1}" for i in range(n_folds)]
    has_cold = any("cold_start_rows" in r for r in results)
    if has_cold:
        headers.append("Cold rows")
    body, classes = [], []
    for i, r in enumerate(results, start=1):
        is_best = _same_config(r, best)
        model = str(r.get("model", "als"))
        row = [
            Cell(str(i), star=is_best),
            Cell(model, strong=True, after=" (best)") if is_best else Cell(model),
            *(Cell(str(r.get(k))) for k in ("rank", "regParam", "maxIter")),
            *(Cell(plain(r.get(k, "—"))) for k in extra),
        ]
        one_fold = int(r.get("folds_run", 2)) < 2  # a spread of one fold would read as 0
        if ranking:
            std = None if one_fold else r.get(f"{rank_key}_std")
            row.append(Cell(pm(r.get(f"{rank_key}_mean"), std)))
        row.append(Cell(pm(r.get("rmse_mean"), None if one_fold else r.get("rmse_std"))))
        if has_status:
            status = str(r.get("status", "complete"))
            if status != "complete":  # e.g. "pruned 1/3": stopped after 1 of 3 folds
                status += f" {r.get('folds_run')}/{tuning.get('folds')}"
            row.append(Cell(status))
        fold_values = list(r.get(fold_key) or [])
        row += [Cell(num(v)) for v in fold_values] + [Cell("—")] * (n_folds - len(fold_values))
        if has_cold:
            row.append(Cell(integer(r.get("cold_start_rows"))))
        if is_best:
            row = [c if c.strong else c.bold() for c in row]
        body.append(row)
        classes.append("best" if is_best else "")
    n_text = len(headers) - 2
    return table(
        headers,
        body,
        caption=(
            f"All configurations, best first (mean and per-fold validation {obj_name}; "
            "★ and bold mark the best)"
        ),
        numeric=[True, False] + [True] * n_text,
        row_classes=classes,
        cell_classes=["nowrap", "nowrap"] + [""] * n_text,
    )
