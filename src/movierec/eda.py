"""Exploratory statistics of a ratings table, computed from three small aggregates.

The Spark engine computes, with ``groupBy(...).count()``, the number of ratings per
user, per movie and per rating value; only those three series come back to the
driver, and :func:`summarize` turns them into a JSON-ready dictionary. For pandas
input, :func:`counts_from_ratings` produces the same three aggregates.

Everything here is pure: no Spark, no file I/O, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import DataError
from movierec.schema import ITEM, RATING, USER

TOP_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)
"""Fractions of the most active users / most popular movies whose share of ratings is reported."""
COVERAGE_SHARES: tuple[float, ...] = (0.50, 0.80)
"""Shares of all ratings for which the smallest covering fraction of users / movies is reported."""
COLD_ITEM_THRESHOLD = 5
"""A movie with fewer ratings than this is "cold"."""
LIGHT_USER_THRESHOLD = 20
"""A user with fewer ratings than this is "light" (MovieLens keeps only users with >= 20)."""

CountsLike = pd.Series | Mapping[Any, int]


def _as_series(counts: CountsLike, what: str) -> pd.Series:
    """Validate an aggregate: non-empty, finite, non-negative integer counts; return a Series."""
    series = counts if isinstance(counts, pd.Series) else pd.Series(dict(counts), dtype="float64")
    if len(series) == 0:
        raise DataError(f"{what} is empty: there are no ratings to summarize")
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{what} contains missing or non-numeric counts")
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise DataError(f"{what} must hold non-negative integer counts")
    return pd.Series(values.astype("int64"), index=series.index, name=series.name)


def entity_counts(counts: CountsLike, what: str) -> np.ndarray:
    """Ratings per user (or per movie) as an int64 array sorted in *descending* order.

    Entries with a count of 0 are dropped (an entity without ratings is not part of the
    data). Raises :class:`DataError` when nothing is left.
    """
    values = _as_series(counts, what).to_numpy()
    values = values[values > 0]
    if values.size == 0:
        raise DataError(f"{what} has no entry with a positive count")
    return np.sort(values)[::-1].copy()


def rating_histogram(rating_counts: CountsLike) -> pd.Series:
    """Number of ratings per rating value, float index sorted ascending, int64 counts.

    Duplicate index values are summed; rating values must be finite numbers and the
    total must be positive.
    """
    series = _as_series(rating_counts, "rating_counts")
    index = pd.to_numeric(pd.Index(series.index), errors="coerce")
    if not np.all(np.isfinite(np.asarray(index, dtype="float64"))):
        raise DataError("rating_counts index must hold finite numeric rating values")
    hist = pd.Series(series.to_numpy(), index=np.asarray(index, dtype="float64"))
    hist = hist.groupby(level=0).sum().sort_index().astype("int64")
    if int(hist.sum()) == 0:
        raise DataError("rating_counts sums to 0: there are no ratings to summarize")
    return hist


def n_top(fraction: float, n: int) -> int:
    """Number of entities in the top ``fraction`` of ``n``: ``max(1, ceil(fraction * n))``."""
    # round() guards against 0.1 * 30 == 3.0000000000000004 becoming 4.
    return max(1, math.ceil(round(fraction * n, 9)))


def top_share(desc_counts: np.ndarray, fraction: float) -> float:
    """Share of all ratings contributed by the top ``fraction`` of entities (see :func:`n_top`)."""
    k = n_top(fraction, desc_counts.size)
    return float(desc_counts[:k].sum() / desc_counts.sum())


def coverage_count(desc_counts: np.ndarray, share: float) -> int:
    """Fewest entities (most active first) whose ratings reach ``share`` of all ratings."""
    total = int(desc_counts.sum())
    cumulative = np.cumsum(desc_counts)
    # Integer comparison where possible: cumulative >= share * total.
    target = share * total
    return int(np.searchsorted(cumulative, target - 1e-9 * total, side="left") + 1)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient ``G = sum_i (2i - n - 1) x_(i) / (n * sum x)``, ``x`` ascending, i = 1..n.

    0 when every entity has the same count; approaches 1 (at most ``(n - 1) / n``) when one
    entity holds all ratings.
    """
    x = np.sort(np.asarray(counts, dtype="float64"))
    n = x.size
    total = x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype="float64")
    return float(np.sum((2.0 * i - n - 1.0) * x) / (n * total))


def _activity_block(desc_counts: np.ndarray, *, threshold: int, below_key: str) -> dict[str, Any]:
    ascending = desc_counts[::-1].astype("float64")
    n = int(desc_counts.size)
    below = int(np.count_nonzero(desc_counts < threshold))
    return {
        "min": int(ascending[0]),
        "median": float(np.median(ascending)),
        "mean": float(ascending.mean()),
        "max": int(ascending[-1]),
        "p90": float(np.percentile(ascending, 90)),
        "p99": float(np.percentile(ascending, 99)),
        "gini": gini(ascending),
        "top_shares": [
            {
                "top_fraction": f,
                "count": n_top(f, n),
                "ratings_share": top_share(desc_counts, f),
            }
            for f in TOP_FRACTIONS
        ],
        "coverage": [
            {
                "ratings_share": s,
                "count": coverage_count(desc_counts, s),
                "fraction": coverage_count(desc_counts, s) / n,
            }
            for s in COVERAGE_SHARES
        ],
        below_key: {"threshold": threshold, "count": below, "share": below / n},
    }


def summarize(
    user_counts: CountsLike,
    item_counts: CountsLike,
    rating_counts: CountsLike,
) -> dict[str, Any]:
    """Summary statistics of a ratings table from its three aggregates.

    Parameters
    ----------
    user_counts:
        Number of ratings per user (index: user id). Zero entries are ignored.
    item_counts:
        Number of ratings per movie (index: movie id). Zero entries are ignored.
    rating_counts:
        Number of ratings per rating value (index: the rating value, e.g. 0.5 ... 5.0).
        Zero entries are kept in the distribution.

    The three must add up to the same number of ratings ``N``, else :class:`DataError`.
    Empty input, negative / non-integer / missing counts also raise :class:`DataError`.

    Returns
    -------
    A dict of plain ``int`` / ``float`` / ``list`` / ``dict`` values (``json.dumps``-able):

    ``ratings``
        ``N``, total number of ratings.
    ``users``, ``items``
        ``U``, ``I``: number of users / movies with at least one rating.
    ``density``
        ``N / (U * I)``: fraction of the user x movie matrix that is observed
        (assumes at most one rating per user-movie pair).
    ``sparsity``
        ``1 - density``.
    ``rating_mean``
        ``sum_r r * c_r / N`` over rating values ``r`` with counts ``c_r``.
    ``rating_std``
        Population standard deviation ``sqrt(sum_r c_r * (r - mean)^2 / N)`` (ddof = 0).
    ``rating_distribution``
        ``[{"rating": r, "count": c_r, "share": c_r / N}, ...]`` sorted by ``r`` ascending.
    ``user_activity``, ``item_popularity``
        One block each, over the per-user (per-movie) counts ``x_1 .. x_n``:

        ``min``, ``median``, ``mean``, ``max``, ``p90``, ``p99``
            Of the counts; percentiles use linear interpolation (``numpy.percentile``
            default), so ``p90`` is the value 90 % of the way from the smallest to the
            largest count in sorted order.
        ``gini``
            Gini coefficient ``sum_i (2i - n - 1) x_(i) / (n * N)`` with counts sorted
            ascending, ``i = 1..n``: 0 = everyone equally active, -> 1 = all ratings
            from one entity.
        ``top_shares``
            For ``f`` in 1 %, 5 %, 10 %, 20 %: ``{"top_fraction": f, "count": k,
            "ratings_share": s}`` where ``k = max(1, ceil(f * n))`` entities with the
            most ratings contribute the share ``s`` of all ``N`` ratings.
        ``coverage``
            For ``s`` in 50 %, 80 %: ``{"ratings_share": s, "count": k, "fraction": k / n}``
            where ``k`` is the smallest number of entities (taken most active first)
            whose ratings add up to at least ``s * N``.
        ``light_users`` (users) / ``cold_items`` (movies)
            ``{"threshold": t, "count": m, "share": m / n}``: the ``m`` users with fewer
            than ``t = 20`` ratings, or the ``m`` movies with fewer than ``t = 5`` ratings.
    """
    users = entity_counts(user_counts, "user_counts")
    items = entity_counts(item_counts, "item_counts")
    hist = rating_histogram(rating_counts)

    n_ratings = int(hist.sum())
    n_user_ratings = int(users.sum())
    n_item_ratings = int(items.sum())
    if not n_ratings == n_user_ratings == n_item_ratings:
        raise DataError(
            "the aggregates disagree on the number of ratings: "
            f"user_counts sum to {n_user_ratings}, item_counts to {n_item_ratings}, "
            f"rating_counts to {n_ratings}"
        )

    n_users = int(users.size)
    n_items = int(items.size)
    density = n_ratings / (n_users * n_items)

    values = hist.index.to_numpy(dtype="float64")
    weights = hist.to_numpy(dtype="float64")
    mean = float(np.sum(values * weights) / n_ratings)
    variance = float(np.sum(weights * (values - mean) ** 2) / n_ratings)

    return {
        "ratings": n_ratings,
        "users": n_users,
        "items": n_items,
        "sparsity": 1.0 - density,
        "density": density,
        "rating_mean": mean,
        "rating_std": math.sqrt(variance),
        "rating_distribution": [
            {"rating": float(r), "count": int(c), "share": int(c) / n_ratings}
            for r, c in zip(values, hist.to_numpy(), strict=True)
        ],
        "user_activity": _activity_block(
            users, threshold=LIGHT_USER_THRESHOLD, below_key="light_users"
        ),
        "item_popularity": _activity_block(
            items, threshold=COLD_ITEM_THRESHOLD, below_key="cold_items"
        ),
    }


def counts_from_ratings(ratings: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The three aggregates :func:`summarize` needs, from a pandas ratings table.

    ``ratings`` must have the canonical columns ``USER``, ``ITEM`` and ``RATING`` without
    missing values. Returns ``(user_counts, item_counts, rating_counts)``: int64 Series
    named ``"count"``, indexed by user id, movie id and rating value, sorted by index.
    """
    missing = [c for c in (USER, ITEM, RATING) if c not in ratings.columns]
    if missing:
        raise DataError(f"ratings table lacks column(s) {missing}; has {list(ratings.columns)}")
    if len(ratings) == 0:
        raise DataError("ratings table is empty: there are no ratings to summarize")
    for column in (USER, ITEM, RATING):
        n_null = int(ratings[column].isna().sum())
        if n_null:
            raise DataError(f"{n_null} row(s) have no value", column=column)

    def _count(column: str) -> pd.Series:
        counts = ratings.groupby(column, sort=True).size().astype("int64")
        counts.name = "count"
        return counts

    return _count(USER), _count(ITEM), _count(RATING)
