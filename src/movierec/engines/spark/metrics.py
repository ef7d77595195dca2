"""Spark twins of :mod:`movierec.metrics`: the same numbers (to 1e-9), computed on the executors.

Every function has the name of its local twin and returns the same dict; a pandas DataFrame or
a pair of arrays becomes a Spark DataFrame with named columns. The local docstring holds the
formula; what differs is said below. Each metric is a small number of aggregate jobs (window
functions partitioned by user, then a global aggregate); the driver receives only the scalars
of the result. The input checks raise the local messages, folded into those same jobs.

The beyond-accuracy metrics live in :mod:`movierec.engines.spark.beyond` and are re-exported.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from movierec.engines.spark._checks import (
    count_if,
    lists_row,
    lists_summary,
    missing,
    missing_counts,
    one_row,
    raise_missing,
    require_frame,
)
from movierec.engines.spark.beyond import (
    beyond_accuracy,
    catalogue_coverage,
    intra_list_diversity,
    novelty,
    personalisation,
    popularity_bias,
)
from movierec.errors import DataError
from movierec.metrics import _check_k, _check_threshold, _harmonic, _safe_div
from movierec.schema import ITEM, PREDICTION, RANK, RATING, USER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

__all__ = [
    "beyond_accuracy",
    "catalogue_coverage",
    "catalogue_top_k",
    "intra_list_diversity",
    "novelty",
    "pairwise_prf",
    "personalisation",
    "popularity_bias",
    "rating_errors",
    "within_test_top_k",
]


# --------------------------------------------------------------------------- pairs of ratings


def _pair_sums(actual: Column, predicted: Column, threshold: float) -> list[Column]:
    """Aggregates of paired ratings: n, Σe², Σ|e| (e = predicted - actual), tp, fp, fn."""
    from pyspark.sql import functions as F

    err = predicted - actual
    rel = actual >= threshold
    rec = predicted >= threshold
    return [
        F.count(F.lit(1)).alias("n"),
        F.coalesce(F.sum(err * err), F.lit(0.0)).alias("sse"),
        F.coalesce(F.sum(F.abs(err)), F.lit(0.0)).alias("sae"),
        count_if(rel & rec).alias("tp"),
        count_if(~rel & rec).alias("fp"),
        count_if(rel & ~rec).alias("fn"),
    ]


def _paired(
    df: DataFrame, actual: str, predicted: str, threshold: float, skip_missing: bool
) -> Row:
    """One job over the pairs (rows with a missing prediction left out when ``skip_missing``),
    raising the local ``_paired_arrays`` errors."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    require_frame(df, (actual, predicted), "predictions")
    for name, col in (("actual", actual), ("predicted", predicted)):
        dtype = df.schema[col].dataType
        if not isinstance(dtype, NumericType) or isinstance(dtype, BooleanType):
            raise DataError(f"{name} must be numeric: column {col!r} is {dtype.simpleString()}")
    rows = df.where(~missing(df, predicted)) if skip_missing else df
    a, p = F.col(actual).cast("double"), F.col(predicted).cast("double")
    row = one_row(
        rows.agg(
            *_pair_sums(a, p, threshold),
            count_if(missing(df, actual)).alias("na_a"),
            count_if(missing(df, predicted)).alias("na_p"),
        )
    )
    if int(row["na_a"]):
        raise DataError(f"actual contains {int(row['na_a'])} NaN value(s)")
    if int(row["na_p"]):
        raise DataError(
            f"predicted contains {int(row['na_p'])} NaN value(s) (drop or impute cold-start "
            "pairs before scoring)"
        )
    if int(row["n"]) == 0:
        raise DataError("no ratings to evaluate: actual and predicted are empty")
    return row


def _errors(row: Row) -> dict[str, float | int]:
    n = int(row["n"])
    mse = float(row["sse"]) / n
    return {"rmse": math.sqrt(mse), "mae": float(row["sae"]) / n, "mse": mse, "n": n}


def _prf(row: Row) -> dict[str, float | int]:
    n, tp, fp, fn = (int(row[c]) for c in ("n", "tp", "fp", "fn"))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": n - tp - fp - fn,
        "n": n,
    }


def rating_errors(
    df: DataFrame,
    actual: str = RATING,
    predicted: str = PREDICTION,
    *,
    skip_missing: bool = True,
) -> dict[str, float | int]:
    """:func:`movierec.metrics.rating_errors` of the columns ``actual`` and ``predicted``:
    ``rmse`` = sqrt(Σe²/n), ``mae`` = Σ|e|/n, ``mse`` = Σe²/n, ``n``; e = predicted - actual.

    Unlike the local function, rows whose prediction is null or NaN (cold-start pairs) are
    left out by default -- what evaluation and tuning do before calling the local one; with
    ``skip_missing=False`` they raise as locally.

    Raises:
        DataError: a column missing or not numeric, NaN/null actual ratings (or predictions,
            with ``skip_missing=False``), or no pair left to evaluate.
    """
    return _errors(_paired(df, actual, predicted, 3.0, skip_missing))


def pairwise_prf(
    df: DataFrame,
    threshold: float = 3.0,
    actual: str = RATING,
    predicted: str = PREDICTION,
    *,
    skip_missing: bool = True,
) -> dict[str, float | int]:
    """:func:`movierec.metrics.pairwise_prf`: TP/FP/FN/TN of (actual >= t, predicted >= t)
    over the pairs, precision = TP/(TP+FP), recall = TP/(TP+FN), f1 = 2PR/(P+R), 0/0 = 0.

    Rows with a missing prediction are left out as in :func:`rating_errors`.

    Raises:
        DataError: as :func:`rating_errors`.
        ConfigError: ``threshold`` is not a finite number.
    """
    t = _check_threshold(threshold)
    return _prf(_paired(df, actual, predicted, t, skip_missing))


# --------------------------------------------------------------------------- within test


def _per_user_within(scored: DataFrame, k: int, t: float) -> DataFrame:
    """One row per user: n_rel, n_rec_k, n_both (the local within-test counts), the pair
    sums of :func:`_pair_sums` and the missing-value counts of USER, RATING, PREDICTION."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    pred = F.col(PREDICTION)
    # -0.0 + 0.0 = 0.0: the local sort sees -0.0 and 0.0 as equal, ties then go to the movie id
    order = Window.partitionBy(USER).orderBy((pred + 0.0).desc(), F.col(ITEM).asc())
    ranked = scored.withColumn("_pos", F.row_number().over(order))
    rel = F.col(RATING) >= t
    rec_top = (pred >= t) & (F.col("_pos") <= k)
    return ranked.groupBy(USER).agg(
        count_if(rel).alias("n_rel"),
        count_if(rec_top).alias("n_rec_k"),
        count_if(rec_top & rel).alias("n_both"),
        *_pair_sums(F.col(RATING).cast("double"), pred.cast("double"), t),
        *missing_counts(scored, (USER, RATING, PREDICTION)),
    )


def within_summary(scored: DataFrame, k: int, t: float) -> Row:
    """One job: the within-test means (``precision``, ``recall``, ``users``), the pair sums
    of all rows (``n``, ``sse``, ``sae``, ``tp``, ``fp``, ``fn``) and missing-value counts."""
    from pyspark.sql import functions as F

    per_user = _per_user_within(scored, k, t)
    prec = F.when(F.col("n_rec_k") > 0, F.col("n_both") / F.col("n_rec_k")).otherwise(0.0)
    rec = F.when(F.col("n_rel") > 0, F.col("n_both") / F.col("n_rel")).otherwise(0.0)
    sums = ["n", "tp", "fp", "fn", *(f"_na_{c}" for c in (USER, RATING, PREDICTION))]
    return one_row(
        per_user.agg(
            F.count(F.lit(1)).alias("users"),
            F.avg(prec).alias("precision"),
            F.avg(rec).alias("recall"),
            F.coalesce(F.sum("sse"), F.lit(0.0)).alias("sse"),
            F.coalesce(F.sum("sae"), F.lit(0.0)).alias("sae"),
            *(F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in sums),
        )
    )


def within_test_top_k(
    predictions: DataFrame, k: int = 10, threshold: float = 3.0
) -> dict[str, float | int]:
    """:func:`movierec.metrics.within_test_top_k`: each user's test rows ranked by prediction
    (descending, ties by movie id) in a window partitioned by user; precision(u) =
    n_both/n_rec_k, recall(u) = n_both/n_rel (0 when the denominator is 0), means over users.

    ITEM is required here (Spark rows have no order to break ties by, as locally without it).

    Raises:
        DataError: empty frame, missing column, or null/NaN in USER, RATING or PREDICTION.
        ConfigError: ``k`` < 1 or not an integer, or ``threshold`` not finite.
    """
    k = _check_k(k)
    t = _check_threshold(threshold)
    df = require_frame(predictions, (USER, RATING, PREDICTION, ITEM), "predictions")
    row = within_summary(df, k, t)
    return within_result(row, k)


def within_result(row: Row, k: int) -> dict[str, float | int]:
    """The within-test dict of a :func:`within_summary` row, after its checks."""
    if int(row["users"]) == 0:
        raise DataError("predictions is empty")
    raise_missing(row, (USER, RATING, PREDICTION), "predictions")
    precision, recall = float(row["precision"]), float(row["recall"])
    return {
        "k": k,
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "users": int(row["users"]),
    }


# --------------------------------------------------------------------------- catalogue


def _ideal_dcg(k: int) -> list[float]:
    """IDCG for 1..k relevant movies: the local cumulative sum of 1/log2(i + 1), i = 1..k."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    return [float(v) for v in np.cumsum(discounts)]


def catalogue_top_k(
    recommendations: DataFrame,
    test: DataFrame,
    k: int = 10,
    threshold: float = 3.0,
) -> dict[str, float | int]:
    """:func:`movierec.metrics.catalogue_top_k`: precision@k, recall@k, F1, NDCG@k, MAP@k,
    hit rate and normalised recall@k (hits / min(k, |relevant|)) of catalogue-wide lists
    against the relevant test movies, means over the users with at least one relevant movie.

    Hits are the list rows (rank <= k) joined with the distinct relevant (user, movie) pairs;
    a window partitioned by user numbers them by rank for P@i. Three jobs: the test checks,
    the list checks, the metrics.

    Raises:
        DataError: either frame empty, a column missing, null/NaN values, ranks that are not
            integers >= 1 or repeat within a user, a movie listed twice for one user, or no
            test rating at or above ``threshold``.
        ConfigError: ``k`` < 1 or not an integer, or ``threshold`` not finite.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    k = _check_k(k)
    t = _check_threshold(threshold)
    recs = require_frame(recommendations, (USER, ITEM, RANK), "recommendations")
    tst = require_frame(test, (USER, ITEM, RATING), "test")
    checks = one_row(
        tst.agg(
            F.count(F.lit(1)).alias("n"),
            count_if(F.col(RATING) >= t).alias("rel"),
            *missing_counts(tst, (USER, ITEM, RATING)),
        )
    )
    lists = lists_row(recs, k)
    if int(lists["n"]) == 0:
        raise DataError("recommendations is empty")
    if int(checks["n"]) == 0:
        raise DataError("test is empty")
    raise_missing(checks, (USER, ITEM, RATING), "test")
    lists_summary(lists)
    if int(checks["rel"]) == 0:
        raise DataError(
            f"no test rating is >= threshold {t}; catalogue top-k metrics are undefined"
        )

    relevant = tst.where(F.col(RATING) >= t).select(USER, ITEM).distinct()
    n_rel = relevant.groupBy(USER).agg(F.count(F.lit(1)).alias("_n_rel"))
    hits = recs.where(F.col(RANK) <= k).select(USER, ITEM, RANK).join(relevant, [USER, ITEM])
    by_rank = Window.partitionBy(USER).orderBy(RANK)
    rank = F.col(RANK).cast("double")
    per_user = (
        hits.withColumn("_cum", F.row_number().over(by_rank))
        .groupBy(USER)
        .agg(
            F.count(F.lit(1)).alias("_hits"),
            F.sum(1.0 / F.log2(rank + 1.0)).alias("_dcg"),
            F.sum(F.col("_cum") / rank).alias("_ap"),
        )
    )
    users = n_rel.join(per_user, USER, "left").fillna(0, subset=["_hits", "_dcg", "_ap"])
    ideal = F.least(F.col("_n_rel"), F.lit(k))
    idcg = F.element_at(F.array(*(F.lit(v) for v in _ideal_dcg(k))), ideal.cast("int"))
    n_hits = F.col("_hits").cast("double")
    row = one_row(
        users.agg(
            F.count(F.lit(1)).alias("users"),
            F.avg(n_hits / k).alias("precision"),
            F.avg(n_hits / F.col("_n_rel")).alias("recall"),
            F.avg(F.col("_dcg") / idcg).alias("ndcg"),
            F.avg(F.col("_ap") / ideal).alias("map"),
            F.avg(F.when(n_hits > 0, 1.0).otherwise(0.0)).alias("hit_rate"),
            F.avg(n_hits / ideal).alias("recall_norm"),
        )
    )
    precision, recall = float(row["precision"]), float(row["recall"])
    return {
        "k": k,
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "ndcg": float(row["ndcg"]),
        "map": float(row["map"]),
        "hit_rate": float(row["hit_rate"]),
        "users": int(row["users"]),
        "recall_norm": float(row["recall_norm"]),
    }
