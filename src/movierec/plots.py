"""PNG charts for the EDA, split and tuning reports.

Every function builds a :class:`matplotlib.figure.Figure` attached to its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` -- pyplot is never imported,
so no window opens, no global backend is switched and functions are safe to call from
several threads. Each writes one PNG atomically (temporary file in the target folder,
then :func:`os.replace`) and returns its :class:`~pathlib.Path`.

Charts do not rely on colour alone: values are printed on bars and cells, series
differ by marker and line style, and the best tuning cell is outlined and labelled.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator, PercentFormatter

from movierec.atomic import atomic_files
from movierec.eda import CountsLike, entity_counts, gini, n_top, rating_histogram, top_share
from movierec.errors import DataError

DPI = 110
"""Resolution of every PNG (8 in wide -> 880 px)."""
WIDTH_IN = 8.0
"""Figure width in inches."""
_MAX_CURVE_POINTS = 2000
"""Long curves are thinned to about this many points (monotone curves; extremes kept)."""

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- helpers


def _new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; create the parent folder if needed."""
    target = Path(path)
    with atomic_files(target) as (tmp,), open(tmp, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return target


def _thousands(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}"


def _thin(n: int, *, log: bool) -> np.ndarray:
    """Indices ``0..n-1`` thinned to about :data:`_MAX_CURVE_POINTS`, first and last kept."""
    if n <= _MAX_CURVE_POINTS:
        return np.arange(n)
    if log:
        idx = np.unique(np.geomspace(1, n, _MAX_CURVE_POINTS).astype("int64") - 1)
    else:
        idx = np.unique(np.linspace(0, n - 1, _MAX_CURVE_POINTS).astype("int64"))
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def _require_rows(rows: Sequence[Mapping[str, Any]], what: str, keys: Sequence[str]) -> None:
    if len(rows) == 0:
        raise DataError(f"{what} is empty: nothing to plot")
    for i, row in enumerate(rows):
        missing = [k for k in keys if k not in row]
        if missing:
            raise DataError(f"{what}[{i}] lacks key(s) {missing}; has {sorted(row)}")


# --------------------------------------------------------------------------- EDA


def plot_rating_distribution(rating_counts: CountsLike, path: PathLike) -> Path:
    """Bar chart of the number of ratings per rating value, each bar labelled with its share."""
    hist = rating_histogram(rating_counts)
    total = int(hist.sum())
    values = hist.index.to_numpy(dtype="float64")
    counts = hist.to_numpy(dtype="float64")
    mean = float(np.sum(values * counts) / total)

    fig = _new_figure(4.2)
    ax = fig.add_subplot()
    x = np.arange(len(hist))
    ax.bar(x, counts, width=0.7, color="#4C72B0", edgecolor="black", linewidth=0.6)
    ax.set_xticks(x, [f"{v:g}" for v in values])
    for xi, c in zip(x, counts, strict=True):
        ax.annotate(
            f"{c / total:.1%}",
            (xi, c),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9 if len(x) <= 12 else 7,
        )
    ax.set_ylim(0, counts.max() * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("Rating value (stars)")
    ax.set_ylabel("Number of ratings")
    ax.set_title(f"Rating distribution: {total:,} ratings, mean {mean:.2f} stars")
    ax.grid(axis="y", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    return _save(fig, path)


def _plot_concentration(
    counts: CountsLike,
    path: PathLike,
    *,
    what: str,
    entity: str,
    entities: str,
    order: str,
    title: str,
) -> Path:
    desc = entity_counts(counts, what)
    n = int(desc.size)
    total = int(desc.sum())
    median = float(np.median(desc))

    fig = _new_figure(4.0)
    left, right = fig.subplots(1, 2)
    assert isinstance(left, Axes) and isinstance(right, Axes)

    # Left: rank vs count on log-log axes.
    idx = _thin(n, log=True)
    ranks = idx + 1
    left.plot(
        ranks,
        desc[idx],
        color="#4C72B0",
        linestyle="-",
        marker="o",
        markersize=3,
        markevery=0.08,
        label=f"{entities}, sorted by ratings",
    )
    left.axhline(median, color="black", linestyle="--", linewidth=1, label=f"median: {median:g}")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel(f"{entity.capitalize()} rank (1 = {order}, log scale)")
    left.set_ylabel(f"Ratings per {entity} (log scale)")
    left.set_title(f"Ratings per {entity} by rank", fontsize=10)
    left.grid(True, which="major", linestyle=":", linewidth=0.6)
    left.yaxis.set_major_formatter(LogFormatter())
    left.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    left.legend(loc="best", fontsize=8)
    if n == 1:
        left.set_xlim(0.5, 2)

    # Right: cumulative share of ratings vs share of entities, most active first.
    idx = _thin(n + 1, log=False)
    cum = np.concatenate([[0], np.cumsum(desc)]) / total
    share = np.arange(n + 1) / n
    right.plot(
        share[idx] * 100,
        cum[idx] * 100,
        color="#4C72B0",
        linestyle="-",
        linewidth=2,
        label=f"{entities}, {order} first",
    )
    right.plot(
        [0, 100], [0, 100], color="grey", linestyle="--", linewidth=1, label="equal activity"
    )
    k20 = n_top(0.20, n)
    x20, y20 = 100 * k20 / n, 100 * top_share(desc, 0.20)
    right.plot([x20, x20, 0], [0, y20, y20], color="black", linestyle=":", linewidth=1)
    right.plot([x20], [y20], marker="D", color="black", markersize=6, linestyle="none")
    # The text sits below the diagonal (x > y), a region the concave curve never enters;
    # the legend takes the bottom-right corner under it.
    right.annotate(
        f"top {x20:.0f}% of {entities}\n→ {y20:.0f}% of ratings",
        (x20, y20),
        xytext=(0.55, 0.30),
        textcoords="axes fraction",
        ha="left",
        va="bottom",
        fontsize=9,
        arrowprops={"arrowstyle": "->", "linewidth": 0.8, "shrinkB": 4},
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "0.6"},
    )
    right.set_xlim(0, 100)
    right.set_ylim(0, 101)
    right.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    right.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    right.set_xlabel(f"Share of {entities} ({order} first)")
    right.set_ylabel("Cumulative share of all ratings")
    right.set_title("Concentration of ratings", fontsize=10)
    right.grid(True, linestyle=":", linewidth=0.6)
    right.legend(loc="lower right", fontsize=8, title=f"Gini = {gini(desc):.2f}", title_fontsize=9)

    fig.suptitle(f"{title}: {n:,} {entities}, {total:,} ratings")
    return _save(fig, path)


def plot_user_activity(user_counts: CountsLike, path: PathLike) -> Path:
    """Ratings per user: rank-vs-count (log-log) and the cumulative share curve, two panels."""
    return _plot_concentration(
        user_counts,
        path,
        what="user_counts",
        entity="user",
        entities="users",
        order="most active",
        title="User activity",
    )


def plot_item_popularity(item_counts: CountsLike, path: PathLike) -> Path:
    """Ratings per movie (long tail): rank-vs-count (log-log) and cumulative share, two panels."""
    return _plot_concentration(
        item_counts,
        path,
        what="item_counts",
        entity="movie",
        entities="movies",
        order="most popular",
        title="Movie popularity",
    )


# --------------------------------------------------------------------------- evaluation


def plot_split_comparison(rows: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Test RMSE against the training share of a train/test split, each point annotated.

    ``rows``: ``{"train_fraction": 0.6, "rmse": 0.91, "test_ratings": 40000}`` (the last key
    optional).
    """
    _require_rows(rows, "split rows", ("train_fraction", "rmse"))
    ordered = sorted(rows, key=lambda r: float(r["train_fraction"]))
    x = np.array([100 * float(r["train_fraction"]) for r in ordered])
    y = np.array([float(r["rmse"]) for r in ordered])
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("split rows hold missing or non-numeric train_fraction / rmse")

    fig = _new_figure(4.2)
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
    return _save(fig, path)


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
    _require_rows(results, "tuning results", _TUNING_KEYS)
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
    fig = _new_figure(max(3.6, 1.6 + 0.75 * len(ranks)))
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
    return _save(fig, path)


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
    _require_rows(results, "tuning results", _TUNING_KEYS)
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
    _require_rows(results, "tuning results", ("trial", "objective_mean"))
    rows = sorted(results, key=lambda r: int(r["trial"]))
    lower = objective == "rmse"
    fig = _new_figure(4.2)
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
    return _save(fig, path)


def plot_tuning_results(tuning: Mapping[str, Any], out_dir: PathLike) -> list[Path]:
    """The tuning plots of a ``TuningResult.to_dict()``: RMSE heatmaps for a grid search with
    the rmse objective, else ``tuning_trials.png`` (:func:`plot_tuning_trials`)."""
    results = tuning["results"]
    objective = str(tuning.get("objective", "rmse"))
    if tuning.get("search", "grid") == "grid" and objective == "rmse":
        return plot_tuning_heatmaps(results, out_dir, best=tuning.get("best"))
    return [plot_tuning_trials(results, Path(out_dir) / "tuning_trials.png", objective)]
