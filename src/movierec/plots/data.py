"""Charts of the exploration: rating distribution, user activity, movie popularity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogFormatter, PercentFormatter

from movierec.eda import CountsLike, entity_counts, gini, n_top, rating_histogram, top_share
from movierec.plots._common import PathLike, new_figure, save, thin, thousands


def plot_rating_distribution(rating_counts: CountsLike, path: PathLike) -> Path:
    """Bar chart of the number of ratings per rating value, each bar labelled with its share."""
    hist = rating_histogram(rating_counts)
    total = int(hist.sum())
    values = hist.index.to_numpy(dtype="float64")
    counts = hist.to_numpy(dtype="float64")
    mean = float(np.sum(values * counts) / total)

    fig = new_figure(4.2)
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
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel("Rating value (stars)")
    ax.set_ylabel("Number of ratings")
    ax.set_title(f"Rating distribution: {total:,} ratings, mean {mean:.2f} stars")
    ax.grid(axis="y", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    return save(fig, path)


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

    fig = new_figure(4.0)
    left, right = fig.subplots(1, 2)
    assert isinstance(left, Axes) and isinstance(right, Axes)

    # Left: rank vs count on log-log axes.
    idx = thin(n, log=True)
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
    idx = thin(n + 1, log=False)
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
    return save(fig, path)


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
