"""Spark twins of the beyond-accuracy metrics of :mod:`movierec.metrics` (coverage, novelty,
popularity bias, personalisation, intra-list diversity and their bundle).

Same names, arguments and results as the local functions, with Spark DataFrames; the formulas
are the local docstrings'. Everything runs as aggregations on the executors; tables that grow
with movies (ratings per movie, genre sets) stay on the cluster. :func:`beyond_accuracy`
validates the lists and the training data once and computes novelty with popularity bias,
and coverage with personalisation, in one job each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.engines.spark._checks import (
    check_lists,
    missing_counts,
    one_row,
    raise_missing,
    require_frame,
)
from movierec.errors import ConfigError, DataError
from movierec.metrics import _NO_GENRES, _check_k
from movierec.schema import GENRES, ITEM, RANK, USER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from movierec.engines.spark._checks import ListsSummary


def _top_k_lists(recommendations: DataFrame, k: int) -> tuple[DataFrame, ListsSummary]:
    """Validated list rows at rank <= k (USER, ITEM, RANK) and the validation summary."""
    from pyspark.sql import functions as F

    summary = check_lists(recommendations, k)
    if summary.top_rows == 0:
        raise DataError(f"recommendations has no row at rank <= {k}", column=RANK)
    return recommendations.where(F.col(RANK) <= k).select(USER, ITEM, RANK), summary


def _train_pairs(train: DataFrame) -> int:
    """Check ``train`` (USER, ITEM) as the local ``_train_pairs`` does, in one job that also
    returns the number of distinct training users."""
    from pyspark.sql import functions as F

    tr = require_frame(train, (USER, ITEM), "train")
    row = one_row(
        tr.agg(
            F.count(F.lit(1)).alias("n"),
            F.count_distinct(USER).alias("users"),
            *missing_counts(tr, (USER, ITEM)),
        )
    )
    if int(row["n"]) == 0:
        raise DataError("train is empty")
    raise_missing(row, (USER, ITEM), "train")
    return int(row["users"])


def _popularity_table(train: DataFrame) -> DataFrame:
    """Per training movie: ``_raters`` (distinct users who rated it) and ``_pct``, its
    popularity percentile rank(c_i)/M (average rank for ties) of its rating count c_i.

    The average rank of count c is (#movies with a smaller count) + (m + 1)/2 with m the
    movies sharing count c -- exactly pandas' ``rank(method="average", pct=True)``. A global
    window accumulates the first term over the *distinct counts* (at most one row per
    distinct count, bounded by the number of movies, never by ratings).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    per_pair = train.groupBy(ITEM, USER).agg(F.count(F.lit(1)).alias("_n"))
    items = per_pair.groupBy(ITEM).agg(F.count(F.lit(1)).alias("_raters"), F.sum("_n").alias("_c"))
    earlier = Window.orderBy("_c").rowsBetween(Window.unboundedPreceding, -1)
    ties = (
        items.groupBy("_c")
        .agg(F.count(F.lit(1)).alias("_m"))
        .withColumn("_before", F.coalesce(F.sum("_m").over(earlier), F.lit(0)))
        .withColumn("_movies", F.sum("_m").over(Window.partitionBy()))
        .select(
            "_c", ((F.col("_before") + (F.col("_m") + 1) / 2.0) / F.col("_movies")).alias("_pct")
        )
    )
    return items.join(ties, "_c").select(ITEM, "_raters", "_pct")


def _novelty_and_popularity(top: DataFrame, train: DataFrame, n_users: int) -> tuple[float, float]:
    """(novelty, popularity bias) of the top-k rows in one job: per row -log2(p_i) and the
    percentile, each averaged per user, then over users."""
    from pyspark.sql import functions as F

    rows = top.join(_popularity_table(train), ITEM, "left")
    raters = F.col("_raters")
    share = F.when(raters.isNull(), 1.0 / (n_users + 1)).otherwise(raters / n_users)
    per_user = rows.groupBy(USER).agg(
        F.avg(-F.log2(share)).alias("_info"),
        F.avg(F.coalesce(F.col("_pct"), F.lit(0.0))).alias("_pop"),
    )
    row = one_row(per_user.agg(F.avg("_info"), F.avg("_pop")))
    return float(row[0]), float(row[1])


def _listed_movies(top: DataFrame) -> tuple[int, int]:
    """(distinct movies in the lists, Σ_i C(c_i, 2) with c_i the lists holding movie i), in
    one job: what coverage and personalisation need."""
    from pyspark.sql import functions as F

    holders = top.groupBy(ITEM).agg(F.count(F.lit(1)).alias("_c"))
    pairs = F.coalesce(F.sum(F.expr("_c * (_c - 1) div 2")), F.lit(0))
    row = one_row(holders.agg(F.count(F.lit(1)), pairs))
    return int(row[0]), int(row[1])


def _coverage(distinct: int, n_items: int) -> float:
    """distinct / n_items with the local checks."""
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise ConfigError(f"n_items must be an integer >= 1, got {n_items!r}")
    if distinct > n_items:
        raise DataError(
            f"{distinct} distinct movies recommended but the catalogue has only {n_items}",
            column=ITEM,
        )
    return distinct / int(n_items)


def catalogue_coverage(recommendations: DataFrame, n_items: int, k: int | None = None) -> float:
    """:func:`movierec.metrics.catalogue_coverage`: distinct movies listed (at rank <= k when
    ``k`` is given) / ``n_items``, counted in one job.

    Raises:
        DataError: empty frame, missing column, null/NaN ids, or more distinct movies
            recommended than ``n_items``.
        ConfigError: ``n_items`` < 1, or ``k`` given and < 1.
    """
    from pyspark.sql import functions as F

    _coverage(0, n_items)
    columns = (ITEM,) if k is None else (ITEM, RANK)
    recs = require_frame(recommendations, columns, "recommendations")
    item = F.col(ITEM) if k is None else F.when(F.col(RANK) <= _check_k(k), F.col(ITEM))
    row = one_row(
        recs.agg(
            F.count(F.lit(1)).alias("n"),
            F.count_distinct(item).alias("distinct"),
            *missing_counts(recs, columns),
        )
    )
    if int(row["n"]) == 0:
        raise DataError("recommendations is empty")
    raise_missing(row, columns, "recommendations")
    return _coverage(int(row["distinct"]), n_items)


def novelty(recommendations: DataFrame, train: DataFrame, k: int = 10) -> float:
    """:func:`movierec.metrics.novelty`: mean over users of the mean -log2(p_i) of their
    top-k movies, p_i = raters of i / training users (1/(U+1) for a movie not in train).

    Raises:
        DataError, ConfigError: as the local function.
    """
    k = _check_k(k)
    top, _ = _top_k_lists(recommendations, k)
    return _novelty_and_popularity(top, train, _train_pairs(train))[0]


def popularity_bias(recommendations: DataFrame, train: DataFrame, k: int = 10) -> float:
    """:func:`movierec.metrics.popularity_bias`: mean over users of the mean popularity
    percentile rank(c_i)/M of their top-k movies (average rank for ties, 0 for a movie not in
    train); see :func:`_popularity_table`.

    Raises:
        DataError, ConfigError: as the local function.
    """
    k = _check_k(k)
    top, _ = _top_k_lists(recommendations, k)
    return _novelty_and_popularity(top, train, _train_pairs(train))[1]


def personalisation(recommendations: DataFrame, k: int = 10) -> float:
    """:func:`movierec.metrics.personalisation`: 1 - Σ_i C(c_i, 2) / (k · C(U, 2)), c_i the
    lists holding movie i, U the users with a top-k list -- no pair of users is formed, no
    sampling; one job for the counts.

    Raises:
        DataError, ConfigError: as the local function.
    """
    k = _check_k(k)
    top, summary = _top_k_lists(recommendations, k)
    if summary.top_users < 2:
        raise DataError(
            f"personalisation compares pairs of users' lists but only {summary.top_users} "
            f"user has recommendations at rank <= {k}"
        )
    return _personalisation(_listed_movies(top)[1], k, summary.top_users)


def _personalisation(overlap: int, k: int, n_users: int) -> float:
    """The local formula from Σ_i C(c_i, 2) (= Σ over user pairs of |L_u ∩ L_v|)."""
    pairs = n_users * (n_users - 1) / 2.0
    return 1.0 - float(overlap) / (k * pairs)


def genre_set(genres: Column) -> Column:
    """A movie's genre set as the local ``_genre_matrix`` reads it: the string split on ``|``,
    whitespace stripped, ``""``/``(no genres listed)``/``nan``/``none`` (any case) and a
    missing value dropped, duplicates removed."""
    from pyspark.sql import functions as F

    parts = F.split(F.coalesce(genres.cast("string"), F.lit("")), r"\|")
    stripped = F.transform(parts, lambda g: F.regexp_replace(g, r"^\s+|\s+$", ""))
    kept = F.filter(stripped, lambda g: ~F.lower(g).isin(*sorted(_NO_GENRES)))
    return F.array_distinct(kept)


def _jaccard_distance(a: Column, b: Column) -> Column:
    """1 - |a ∩ b| / |a ∪ b| of two genre sets, 0 when both are empty."""
    from pyspark.sql import functions as F

    union = F.size(F.array_union(a, b))
    return F.when(union > 0, 1.0 - F.size(F.array_intersect(a, b)) / union).otherwise(0.0)


def _check_movies(top: DataFrame, movies: DataFrame) -> DataFrame:
    """The local movies checks (one job, one more on error); returns (ITEM, genre set)."""
    from pyspark.sql import functions as F

    mv = require_frame(movies, (ITEM, GENRES), "movies")
    listed = top.select(ITEM).distinct()
    absent = listed.join(mv.select(ITEM), ITEM, "left_anti")
    row = one_row(
        mv.agg(
            F.count(F.lit(1)).alias("n"),
            F.count_distinct(ITEM).alias("distinct"),
            *missing_counts(mv, (ITEM,)),
        ).crossJoin(absent.agg(F.count(F.lit(1)).alias("absent")))
    )
    if int(row["n"]) == 0:
        raise DataError("movies is empty")
    raise_missing(row, (ITEM,), "movies")
    if int(row["distinct"]) < int(row["n"]):
        raise DataError("movies lists a movie id more than once", column=ITEM)
    if int(row["absent"]):
        shown = ", ".join(str(r[ITEM]) for r in absent.orderBy(ITEM).limit(5).collect())
        raise DataError(
            f"{int(row['absent'])} recommended movie(s) are not in the movies table (e.g. "
            f"{shown}); genre diversity needs every recommended movie's genres",
            column=ITEM,
        )
    return mv.select(ITEM, genre_set(F.col(GENRES)).alias("_g"))


def intra_list_diversity(recommendations: DataFrame, movies: DataFrame, k: int = 10) -> float:
    """:func:`movierec.metrics.intra_list_diversity`: mean over users with >= 2 movies at rank
    <= k of the mean Jaccard genre distance over the pairs of their list.

    Each list is gathered into one array per user (sorted by rank with ``array_sort``, never
    trusting ``collect_list`` order) and its pairs are summed by nested ``aggregate`` over
    the array: O(k²) per user on the executor, no self-join. The missing-movie error lists
    the smallest 5 missing ids (locally: the first 5 in list order).

    Raises:
        DataError, ConfigError: as the local function.
    """
    k = _check_k(k)
    top, summary = _top_k_lists(recommendations, k)
    if summary.users_with_two == 0:
        raise DataError(
            f"intra-list diversity needs lists of at least 2 movies; no user has 2 "
            f"recommendations at rank <= {k}"
        )
    return _intra_list_diversity(top, movies)


def _intra_list_diversity(top: DataFrame, movies: DataFrame) -> float:
    from pyspark.sql import functions as F

    genres = _check_movies(top, movies)
    lists = (
        top.join(genres, ITEM)
        .groupBy(USER)
        .agg(F.array_sort(F.collect_list(F.struct(RANK, "_g"))).alias("_l"))
        .withColumn("_n", F.size("_l"))
        .where(F.col("_n") >= 2)
    )
    g = F.col("_l")

    def row_sum(i: Column) -> Column:
        later = F.sequence(i + 1, F.col("_n") - 1)
        return F.aggregate(
            later, F.lit(0.0), lambda acc, j: acc + _jaccard_distance(g[i]["_g"], g[j]["_g"])
        )

    total = F.aggregate(
        F.sequence(F.lit(0), F.col("_n") - 2), F.lit(0.0), lambda a, i: a + row_sum(i)
    )
    ild = total / (F.col("_n") * (F.col("_n") - 1) / 2.0)
    return float(one_row(lists.agg(F.avg(ild)))[0])


def beyond_accuracy(
    recommendations: DataFrame,
    train: DataFrame,
    movies: DataFrame | None,
    n_items: int,
    k: int = 10,
) -> dict[str, float | None]:
    """:func:`movierec.metrics.beyond_accuracy`: coverage, novelty, diversity, popularity
    bias and personalisation of the same top-k lists, validated once (``diversity`` None
    without movies or without a list of 2; ``personalisation`` None with fewer than 2 users).

    Raises:
        DataError, ConfigError: as the individual metrics.
    """
    k = _check_k(k)
    top, summary = _top_k_lists(recommendations, k)
    n_users = _train_pairs(train)
    diversity = (
        _intra_list_diversity(top, movies)
        if movies is not None and summary.users_with_two > 0
        else None
    )
    distinct, overlap = _listed_movies(top)
    novelty_bits, popularity = _novelty_and_popularity(top, train, n_users)
    return {
        "coverage": _coverage(distinct, n_items),
        "novelty": novelty_bits,
        "diversity": diversity,
        "popularity_bias": popularity,
        "personalisation": (
            _personalisation(overlap, k, summary.top_users) if summary.top_users >= 2 else None
        ),
    }


__all__ = [
    "beyond_accuracy",
    "catalogue_coverage",
    "genre_set",
    "intra_list_diversity",
    "novelty",
    "personalisation",
    "popularity_bias",
]
