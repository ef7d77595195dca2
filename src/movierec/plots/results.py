"""Charts of the model runs: test RMSE by split, tuning heatmaps, tuning trials."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from movierec.errors import DataError
from movierec.plots._common import PathLike, new_figure, require_rows, save


def plot_split_comparison(rows: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Test RMSE against the training share of a train/test split, each point annotated.

    ``rows``: ``{"train_fraction": 0.6, "rmse": 0.91, "test_ratings": 40000}`` (the last key
    optional).
    """
    require_rows(rows, "split rows", ("train_fraction", "rmse"))
    ordered = sorted(rows, key=lambda r: float(r["train_fraction"]))
    x = np.array([100 * float(r["train_fraction"]) for r in ordered])
    y = np.array([float(r["rmse"]) for r in ordered])
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("split rows hold missing or non-numeric train_fraction / rmse")

    fig = new_figure(4.2)
    ax = fig.add_subplot()
    ax.plot(x, y, color="#4C72B0", linestyle="-", marker="o", markersize=7, label="test RMSE")
    for r, xi, yi in zip(ordered, x, y, strict=True):
        label = f"{yi:.4f}"
        if r.get("test_ratings") is not None:
            label += f"\n{int(r['test_ratings']):,} test ratings"
        ax.annotate(
            label,
            (xi, yi),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    span = float(y.max() - y.min()) or max(abs(float(y.max())) * 0.05, 0.01)
    ax.set_ylim(y.min() - 0.25 * span, y.max() + 0.6 * span)
    xspan = float(x.max() - x.min()) or 10.0
    ax.set_xlim(x.min() - 0.1 * xspan, x.max() + 0.1 * xspan)
    ax.set_xticks(np.unique(x))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("Share of ratings used for training")
    ax.set_ylabel("Test RMSE (stars)")
    ax.set_title("Test RMSE by train / test split (lower is better)")
    ax.grid(True, linestyle=":", linewidth=0.6)
    ax.legend(loc="upper right", fontsize=8)
    return save(fig, path)


def _same_cell(
    best: Mapping[str, Any], rank: Any, reg: float, max_iter: int, model: str | None = None
) -> bool:
    if model is not None and best.get("model", model) != model:
        return False
    try:
        return (
            int(best["rank"]) == int(rank)
            and math.isclose(float(best["regParam"]), reg, rel_tol=1e-9, abs_tol=1e-12)
            and int(best.get("maxIter", max_iter)) == int(max_iter)
        )
    except (KeyError, TypeError, ValueError):
        return False


_TUNING_KEYS = ("rank", "regParam", "maxIter", "rmse_mean")


def plot_tuning_heatmap(
    results: Sequence[Mapping[str, Any]],
    max_iter: int,
    path: PathLike,
    best: Mapping[str, Any] | None = None,
    model: str | None = None,
) -> Path:
    """Heatmap of cross-validated mean RMSE, rank (y) x regParam (x), at one ``maxIter``.

    With ``model`` set, only rows whose ``"model"`` equals it are drawn and the title names it.

    ``results`` rows: ``{"rank", "regParam", "maxIter", "rmse_mean", "rmse_std"}``
    (``rmse_std`` optional). Each cell shows "mean ± std"; a missing combination shows
    "n/a". ``best`` (a row, or at least its ``rank`` / ``regParam`` / ``maxIter``) is
    outlined and labelled "★ best" when it lies on this grid; the lowest cell of this grid
    is outlined with a dashed line and labelled "★ lowest here" otherwise.
    """
    require_rows(results, "tuning results", _TUNING_KEYS)
    rows = [
        r
        for r in results
        if int(r["maxIter"]) == int(max_iter) and (model is None or r.get("model") == model)
    ]
    if not rows:
        found = sorted({int(r["maxIter"]) for r in results})
        raise DataError(f"no tuning results with maxIter={max_iter}; have maxIter {found}")

    ranks = sorted({int(r["rank"]) for r in rows})
    regs = sorted({float(r["regParam"]) for r in rows})
    mean = np.full((len(ranks), len(regs)), np.nan)
    std = np.full_like(mean, np.nan)
    for r in rows:
        i = ranks.index(int(r["rank"]))
        j = regs.index(float(r["regParam"]))
        mean[i, j] = float(r["rmse_mean"])
        s = r.get("rmse_std")
        std[i, j] = np.nan if s is None else float(s)
    if not np.any(np.isfinite(mean)):
        raise DataError(f"tuning results at maxIter={max_iter} hold no finite rmse_mean")

    lo_i, lo_j = np.unravel_index(np.nanargmin(mean), mean.shape)
    mark: tuple[int, int, str, bool] | None = None  # (i, j, label, is_global_best)
    if best is not None:
        for i, rank in enumerate(ranks):
            for j, reg in enumerate(regs):
                if _same_cell(best, rank, reg, max_iter, model):
                    mark = (i, j, "★ best", True)
    if mark is None:
        mark = (int(lo_i), int(lo_j), "★ lowest here", False)

    cell_font = (
        10.0 if len(regs) <= 4 else 8.5 if len(regs) <= 6 else 7.5 if len(regs) <= 8 else 6.5
    )
    fig = new_figure(max(3.6, 1.6 + 0.75 * len(ranks)))
    ax = fig.add_subplot()
    finite = mean[np.isfinite(mean)]
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmax - vmin < 1e-12:
        vmin, vmax = vmin - 1e-3, vmax + 1e-3
    norm = Normalize(vmin=vmin, vmax=vmax)
    cmap = "viridis"
    image = ax.imshow(
        np.ma.masked_invalid(mean), cmap=cmap, norm=norm, origin="lower", aspect="auto"
    )
    ax.set_facecolor("#dddddd")
    colormap = image.get_cmap()
    for i in range(len(ranks)):
        for j in range(len(regs)):
            m = mean[i, j]
            if not np.isfinite(m):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=cell_font)
                continue
            text = f"{m:.4f}"
            if np.isfinite(std[i, j]):
                text += f"\n± {std[i, j]:.4f}"
            if mark[0] == i and mark[1] == j:
                text = f"{mark[2]}\n{text}"
            red, green, blue, _ = colormap(norm(m))
            luminance = 0.299 * red + 0.587 * green + 0.114 * blue
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=cell_font,
                color="black" if luminance > 0.5 else "white",
                fontweight="bold" if (mark[0] == i and mark[1] == j) else "normal",
                linespacing=1.15,
            )

    mi, mj, _, is_best = mark
    for width, colour in ((4.5, "white"), (2.2, "black")):
        ax.add_patch(
            Rectangle(
                (mj - 0.5 + 0.04, mi - 0.5 + 0.04),
                0.92,
                0.92,
                fill=False,
                edgecolor=colour,
                linewidth=width,
                linestyle="-" if is_best or colour == "white" else (0, (4, 2)),
                zorder=3,
            )
        )

    ax.set_xticks(range(len(regs)), [f"{v:g}" for v in regs])
    ax.set_yticks(range(len(ranks)), [str(v) for v in ranks])
    ax.set_xlabel("regParam (L2 regularization strength)")
    ax.set_ylabel("rank (number of latent factors)")
    title = f"Cross-validated RMSE (stars), maxIter = {max_iter}"
    if model is not None:
        title = f"{model}: {title}"
    if best is not None and not is_best:
        where = f"{best['model']}, " if "model" in best else ""
        title += (
            f"\noverall best: {where}rank {best.get('rank')}, "
            f"regParam {best.get('regParam')}, maxIter {best.get('maxIter')}"
        )
    ax.set_title(title, fontsize=11)
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("RMSE (mean over folds)")
    return save(fig, path)


def plot_tuning_heatmaps(
    results: Sequence[Mapping[str, Any]],
    out_dir: PathLike,
    best: Mapping[str, Any] | None = None,
) -> list[Path]:
    """One :func:`plot_tuning_heatmap` per distinct ``maxIter`` (and model), ascending.

    Files are ``out_dir / f"tuning_heatmap_maxiter{M}.png"``, or
    ``tuning_heatmap_{model}_maxiter{M}.png`` when the rows carry a ``"model"`` key;
    ``out_dir`` is created.
    """
    require_rows(results, "tuning results", _TUNING_KEYS)
    folder = Path(out_dir)
    models = sorted({str(r["model"]) for r in results if r.get("model") is not None})
    if not models:
        return [
            plot_tuning_heatmap(results, m, folder / f"tuning_heatmap_maxiter{m}.png", best=best)
            for m in sorted({int(r["maxIter"]) for r in results})
        ]
    paths = []
    for model in models:
        for m in sorted({int(r["maxIter"]) for r in results if r.get("model") == model}):
            target = folder / f"tuning_heatmap_{model}_maxiter{m}.png"
            paths.append(plot_tuning_heatmap(results, m, target, best=best, model=model))
    return paths


def plot_tuning_trials(
    results: Sequence[Mapping[str, Any]], path: PathLike, objective: str = "rmse"
) -> Path:
    """Mean cross-validated objective of each tried configuration, in trial order.

    ``results`` rows: ``{"trial", "model", "objective_mean", "status"}`` (random or Optuna
    search, or a grid with a ranking objective). Completed trials are filled markers, pruned
    ones hollow (their mean covers only the folds they ran); the best completed trial is
    labelled. Models differ by marker shape.
    """
    require_rows(results, "tuning results", ("trial", "objective_mean"))
    rows = sorted(results, key=lambda r: int(r["trial"]))
    lower = objective == "rmse"
    fig = new_figure(4.2)
    ax = fig.add_subplot()
    markers = {"als": "o", "biased-als": "s", "implicit-als": "^"}
    for model in sorted({str(r.get("model", "als")) for r in rows}):
        for status, fill in (("complete", True), ("pruned", False)):
            sub = [
                r
                for r in rows
                if str(r.get("model", "als")) == model and r.get("status", "complete") == status
            ]
            if not sub:
                continue
            x = [int(r["trial"]) for r in sub]
            y = [float(r["objective_mean"]) for r in sub]
            ax.plot(
                x,
                y,
                linestyle="none",
                marker=markers.get(model, "D"),
                markersize=7,
                markerfacecolor=None if fill else "none",
                color="#4C72B0" if fill else "#999999",
                label=f"{model} ({status})",
            )
    done = [r for r in rows if r.get("status", "complete") == "complete"]
    if done:
        pick = min if lower else max
        best = pick(done, key=lambda r: float(r["objective_mean"]))
        ax.annotate(
            f"best {float(best['objective_mean']):.4f}",
            (int(best["trial"]), float(best["objective_mean"])),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    better = "lower" if lower else "higher"
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Trial")
    ax.set_ylabel(f"Mean validation {objective.upper() if lower else objective}")
    ax.set_title(f"Cross-validated {objective} by trial ({better} is better; hollow = pruned)")
    ax.grid(True, linestyle=":", linewidth=0.6)
    ax.legend(loc="best", fontsize=7)
    return save(fig, path)


def plot_tuning_results(tuning: Mapping[str, Any], out_dir: PathLike) -> list[Path]:
    """The tuning plots of a ``TuningResult.to_dict()``: RMSE heatmaps for a grid search with
    the rmse objective, else ``tuning_trials.png`` (:func:`plot_tuning_trials`)."""
    results = tuning["results"]
    objective = str(tuning.get("objective", "rmse"))
    if tuning.get("search", "grid") == "grid" and objective == "rmse":
        return plot_tuning_heatmaps(results, out_dir, best=tuning.get("best"))
    return [plot_tuning_trials(results, Path(out_dir) / "tuning_trials.png", objective)]
