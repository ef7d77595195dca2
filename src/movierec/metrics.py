"""Evaluation metrics for rating prediction and top-k recommendation (pure pandas/numpy).

Three readings of "precision and recall" are reported side by side, because the
literature (and course material) uses all three and they give very different numbers:

1. :func:`pairwise_prf` -- every test (user, movie) pair is a binary classification
   ("relevant" = actual rating >= threshold, "recommended" = predicted rating >= threshold),
   micro-averaged over all pairs.
2. :func:`within_test_top_k` -- the Surprise FAQ recipe: each user's *test* movies are
   ranked by predicted rating and the top k are "recommended".
3. :func:`catalogue_top_k` -- the information-retrieval reading: each user gets a top-k
   list over the whole catalogue (movies seen in training excluded) and is scored against
   the relevant test movies; also NDCG@k, MAP@k and hit rate.

Every function validates its input and raises :class:`movierec.errors.DataError` for
empty input, missing columns, NaN values and length mismatches, and
:class:`movierec.errors.ConfigError` for an invalid ``k``, ``threshold`` or ``n_items``.
Everything is vectorised (numpy ``bincount`` / pandas ``groupby``): the functions are meant
to run on millions of rows.

Ratings, predictions and ``threshold`` are in rating units (e.g. stars on a 0.5-5.0 scale);
rmse and mae are in rating units, mse in squared rating units; every other metric is a
unitless share in [0, 1] except the counts ``n``, ``tp``, ``fp``, ``fn``, ``tn``, ``users``
and ``k``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from movierec.errors import ConfigError, DataError
from movierec.schema import GENRES, ITEM, PREDICTION, RANK, RATING, USER

__all__ = [
    "METRIC_DEFINITIONS",
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

_NOVELTY = (
    "Mean self-information of the recommended movies in bits: mean over users of "
    "(1/|L_u|) * sum over i in L_u of -log2(p_i), p_i = (#train users who rated i) / "
    "(#train users U), and p_i = 1/(U+1) for a movie unseen in train (higher = less obvious)."
)
_DIVERSITY = (
    "Intra-list diversity by genre: mean over users with >= 2 movies in their list of the "
    "mean pairwise Jaccard distance 1 - |G_i & G_j| / |G_i | G_j| between the movies' genre "
    "sets (two genre-less movies: distance 0); 0 = all alike, 1 = no genre shared."
)
_POPULARITY_BIAS = (
    "Mean popularity percentile of the recommended movies: mean over users of the mean over "
    "i in L_u of rank(c_i)/M, c_i = number of train ratings of movie i, ranks 1..M over the M "
    "train movies (ties get their average rank), 0 for a movie unseen in train; 1 = only the "
    "most-rated movies, about 0.5 = popularity-neutral."
)
_PERSONALISATION = (
    "1 - mean pairwise overlap of users' lists: 1 - (sum over user pairs u<v of "
    "|L_u & L_v| / k) / (U(U-1)/2), computed as sum over movies of c_i(c_i-1)/2 with c_i = "
    "number of lists holding movie i; 0 = everyone gets the same list, 1 = no overlap."
)

METRIC_DEFINITIONS: dict[str, str] = {
    # rating_errors
    "rating_errors.rmse": "Root mean squared error between predicted and actual ratings "
    "(rating units; lower is better).",
    "rating_errors.mae": "Mean absolute error between predicted and actual ratings "
    "(rating units; lower is better).",
    "rating_errors.mse": "Mean squared error between predicted and actual ratings "
    "(squared rating units; lower is better).",
    "rating_errors.n": "Number of (user, movie) test pairs that were scored.",
    # pairwise_prf
    "pairwise_prf.precision": "Of all test pairs predicted at or above the threshold, the share "
    "whose actual rating is also at or above it: TP / (TP + FP).",
    "pairwise_prf.recall": "Of all test pairs actually rated at or above the threshold, the share "
    "also predicted at or above it: TP / (TP + FN).",
    "pairwise_prf.f1": "Harmonic mean of the pairwise precision and recall.",
    "pairwise_prf.tp": "Test pairs with actual and predicted rating both at or above the "
    "threshold.",
    "pairwise_prf.fp": "Test pairs predicted at or above the threshold but actually rated "
    "below it.",
    "pairwise_prf.fn": "Test pairs actually rated at or above the threshold but predicted "
    "below it.",
    "pairwise_prf.tn": "Test pairs with actual and predicted rating both below the threshold.",
    "pairwise_prf.n": "Number of (user, movie) test pairs classified.",
    # within_test_top_k
    "within_test_top_k.k": "Number of each user's test movies (best predicted first) "
    "treated as recommended.",
    "within_test_top_k.precision": "Mean over users of: among the user's k best-predicted test "
    "movies that are predicted at or above the threshold, the share actually rated at or above it.",
    "within_test_top_k.recall": "Mean over users of: among the user's test movies actually rated "
    "at or above the threshold, the share that are in the top k and predicted at or above it.",
    "within_test_top_k.f1": "Harmonic mean of the mean within-test precision and mean "
    "within-test recall.",
    "within_test_top_k.users": "Number of users with at least one test prediction.",
    # catalogue_top_k
    "catalogue_top_k.k": "Length of each user's recommendation list over the whole catalogue.",
    "catalogue_top_k.precision": "Mean over users of the share of the k recommended movies that "
    "are relevant test movies (rated at or above the threshold).",
    "catalogue_top_k.recall": "Mean over users of the share of the user's relevant test movies "
    "that appear among the k recommendations: hits / |relevant| (recall@k; at most k/|relevant| "
    "for a user with more than k relevant movies).",
    "catalogue_top_k.recall_norm": "Normalised recall@k: mean over users of hits / min(k, "
    "|relevant|), so a full list of hits scores 1 however many movies are relevant (the "
    "recall@k of Liang et al. 2018 and the iALS/EASE papers; not the same number as recall).",
    "catalogue_top_k.f1": "Harmonic mean of the mean catalogue precision@k and mean recall@k.",
    "catalogue_top_k.ndcg": "Mean normalised discounted cumulative gain@k: hits near the top of "
    "the list count more; 1 means every top slot holds a relevant movie (binary gain).",
    "catalogue_top_k.map": "Mean average precision@k: the precision at each hit's rank, averaged "
    "over min(#relevant, k), then over users.",
    "catalogue_top_k.hit_rate": "Share of users with at least one relevant test movie among "
    "their k recommendations.",
    "catalogue_top_k.users": "Number of users evaluated: users with at least one relevant "
    "test movie.",
    # catalogue_coverage
    "catalogue_coverage": "Share of the catalogue's movies that appear in at least one user's "
    "recommendation list.",
    # beyond accuracy (single floats)
    "novelty": _NOVELTY,
    "intra_list_diversity": _DIVERSITY,
    "popularity_bias": _POPULARITY_BIAS,
    "personalisation": _PERSONALISATION,
    # beyond_accuracy bundle
    "beyond_accuracy.coverage": "Catalogue coverage of the top-k lists: |union of L_u| / N, "
    "N = catalogue size (see catalogue_coverage).",
    "beyond_accuracy.novelty": _NOVELTY,
    "beyond_accuracy.diversity": _DIVERSITY + " None when no movies table is given or no list "
    "has 2 movies.",
    "beyond_accuracy.popularity_bias": _POPULARITY_BIAS,
    "beyond_accuracy.personalisation": _PERSONALISATION + " None when fewer than 2 users "
    "have a list.",
}
"""One-line plain-English definition of every reported value, keyed ``"<function>.<key>"``
(``"catalogue_coverage"`` alone for that function's single float)."""


# --------------------------------------------------------------------------- validation


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    return int(k)


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold must be a number, got {threshold!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"threshold must be finite, got {threshold!r}")
    return value


def _float_array(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array; DataError if not numeric, not 1-D, or containing NaN."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        hint = " (drop or impute cold-start pairs before scoring)" if name == "predicted" else ""
        raise DataError(f"{name} contains {n_nan} NaN value(s){hint}")
    return arr


def _paired_arrays(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = _float_array(actual, "actual")
    p = _float_array(predicted, "predicted")
    if a.shape != p.shape:
        raise DataError(f"actual has {a.size} values but predicted has {p.size}")
    if a.size == 0:
        raise DataError("no ratings to evaluate: actual and predicted are empty")
    return a, p


def _require_frame(df: Any, columns: Iterable[str], name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{name} is missing column(s) {missing}; has {list(df.columns)}", column=missing[0]
        )
    if df.empty:
        raise DataError(f"{name} is empty")
    return df


def _require_no_nan(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    for col in columns:
        n_nan = int(df[col].isna().sum())
        if n_nan:
            raise DataError(f"{name} has {n_nan} missing value(s)", column=col)


def _safe_div(num: float, den: float) -> float:
    """num / den, with 0/0 (and anything / 0) defined as 0.0."""
    return float(num) / float(den) if den else 0.0


def _harmonic(p: float, r: float) -> float:
    """F1 = 2PR / (P + R), 0.0 when P + R = 0."""
    return _safe_div(2.0 * p * r, p + r)


# --------------------------------------------------------------------------- reading 0: errors


def rating_errors(actual: ArrayLike, predicted: ArrayLike) -> dict[str, float | int]:
    r"""Rating-prediction error over paired test ratings.

    With :math:`e_j = \hat r_j - r_j` over the :math:`n` test pairs:

    * ``mse``  = :math:`\frac{1}{n}\sum_j e_j^2` (squared rating units)
    * ``rmse`` = :math:`\sqrt{\text{mse}}` (rating units)
    * ``mae``  = :math:`\frac{1}{n}\sum_j |e_j|` (rating units)
    * ``n``    = :math:`n`

    Args:
        actual: true ratings, 1-D numeric.
        predicted: predicted ratings, same length as ``actual``.

    Returns:
        ``{"rmse": float, "mae": float, "mse": float, "n": int}``.

    Raises:
        DataError: empty input, lengths differ, non-numeric values, or any NaN (a NaN
            prediction is a cold-start pair the caller must drop or impute first).
    """
    a, p = _paired_arrays(actual, predicted)
    err = p - a
    mse = float(np.mean(err * err))
    return {
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(err))),
        "mse": mse,
        "n": int(a.size),
    }


# --------------------------------------------------------------------------- reading 1: pairwise


def pairwise_prf(
    actual: ArrayLike, predicted: ArrayLike, threshold: float = 3.0
) -> dict[str, float | int]:
    r"""Pairwise (micro-averaged) precision, recall and F1 over test (user, movie) pairs.

    Each pair is one binary classification: relevant :math:`\iff r \ge t`, recommended
    :math:`\iff \hat r \ge t`. Over all pairs,
    TP = #(relevant and recommended), FP = #(recommended, not relevant),
    FN = #(relevant, not recommended), TN = #(neither), and

    * ``precision`` = TP / (TP + FP)
    * ``recall``    = TP / (TP + FN)
    * ``f1``        = 2PR / (P + R)

    with 0/0 defined as 0.0 throughout.

    Args:
        actual: true ratings, 1-D numeric.
        predicted: predicted ratings, same length.
        threshold: rating at or above which a movie counts as relevant / recommended
            (rating units).

    Returns:
        ``{"precision", "recall", "f1"}`` (floats in [0, 1]) and
        ``{"tp", "fp", "fn", "tn", "n"}`` (ints, tp + fp + fn + tn = n).

    Raises:
        DataError: empty input, lengths differ, or any NaN.
        ConfigError: ``threshold`` is not a finite number.
    """
    t = _check_threshold(threshold)
    a, p = _paired_arrays(actual, predicted)
    rel = a >= t
    rec = p >= t
    tp = int(np.count_nonzero(rel & rec))
    fp = int(np.count_nonzero(~rel & rec))
    fn = int(np.count_nonzero(rel & ~rec))
    tn = int(a.size) - tp - fp - fn
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": int(a.size),
    }


# --------------------------------------------------------------------------- reading 2: within test


def within_test_top_k(
    predictions: pd.DataFrame, k: int = 10, threshold: float = 3.0
) -> dict[str, float | int]:
    r"""Top-k precision and recall *within each user's test movies* (the Surprise FAQ recipe).

    For each user :math:`u`, sort the user's test rows by predicted rating descending
    (ties broken by ITEM ascending when that column is present, else by row order) and
    let :math:`T_u` be the first :math:`k` rows. With :math:`t` the threshold:

    * n_rel(u)          = #{all test rows of u with :math:`r \ge t`}
    * n_rec_k(u)        = #{rows in :math:`T_u` with :math:`\hat r \ge t`}
    * n_rel_and_rec_k(u) = #{rows in :math:`T_u` with :math:`r \ge t` and :math:`\hat r \ge t`}
    * precision(u) = n_rel_and_rec_k / n_rec_k   (0 when n_rec_k = 0)
    * recall(u)    = n_rel_and_rec_k / n_rel     (0 when n_rel = 0)

    ``precision`` and ``recall`` are the means over *all* users in ``predictions``
    (users with nothing relevant or nothing recommended contribute 0), and
    ``f1`` = 2PR / (P + R) of those two means.

    Args:
        predictions: columns USER, RATING (actual), PREDICTION; ITEM optional (tie-break).
        k: number of top-predicted test movies per user treated as recommended.
        threshold: relevance / recommendation cut-off (rating units).

    Returns:
        ``{"k": int, "precision": float, "recall": float, "f1": float, "users": int}``.

    Raises:
        DataError: empty frame, missing column, or NaN in USER, RATING or PREDICTION.
        ConfigError: ``k`` < 1 or not an integer, or ``threshold`` not finite.
    """
    k = _check_k(k)
    t = _check_threshold(threshold)
    df = _require_frame(predictions, (USER, RATING, PREDICTION), "predictions")
    _require_no_nan(df, (USER, RATING, PREDICTION), "predictions")

    user_codes, uniques = pd.factorize(df[USER], sort=False)
    n_users = len(uniques)
    actual = df[RATING].to_numpy(dtype=np.float64)
    pred = df[PREDICTION].to_numpy(dtype=np.float64)
    tie = df[ITEM].to_numpy() if ITEM in df.columns else np.arange(len(df))
    # np.lexsort is stable; the last key is the primary one: user, then -prediction, then tie.
    order = np.lexsort((tie, -pred, user_codes))
    codes_sorted = user_codes[order]
    sizes = np.bincount(user_codes, minlength=n_users)
    starts = np.cumsum(sizes) - sizes
    position = np.arange(len(order)) - starts[codes_sorted]  # 0-based within user
    in_top = position < k

    rel_sorted = actual[order] >= t
    rec_top = (pred[order] >= t) & in_top
    n_rel = np.bincount(codes_sorted, weights=rel_sorted, minlength=n_users)
    n_rec_k = np.bincount(codes_sorted, weights=rec_top, minlength=n_users)
    n_both = np.bincount(codes_sorted, weights=rec_top & rel_sorted, minlength=n_users)

    prec_u = np.divide(n_both, n_rec_k, out=np.zeros(n_users), where=n_rec_k > 0)
    rec_u = np.divide(n_both, n_rel, out=np.zeros(n_users), where=n_rel > 0)
    precision = float(prec_u.mean())
    recall = float(rec_u.mean())
    return {
        "k": k,
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "users": int(n_users),
    }


# --------------------------------------------------------------------------- reading 3: catalogue


def _validate_ranks(recs: pd.DataFrame) -> None:
    _require_no_nan(recs, (USER, ITEM, RANK), "recommendations")
    ranks = recs[RANK].to_numpy()
    if not np.issubdtype(ranks.dtype, np.number):
        raise DataError("recommendations ranks must be numeric", column=RANK)
    if np.any(ranks < 1) or np.any(ranks != np.floor(ranks)):
        raise DataError("recommendations ranks must be integers >= 1 (1-based)", column=RANK)
    if recs.duplicated([USER, RANK]).any():
        raise DataError("recommendations has a repeated (user, rank)", column=RANK)
    if recs.duplicated([USER, ITEM]).any():
        raise DataError("recommendations lists a movie twice for the same user", column=ITEM)


def catalogue_top_k(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    threshold: float = 3.0,
) -> dict[str, float | int]:
    r"""Top-k metrics of catalogue-wide recommendation lists against held-out test ratings.

    Let :math:`R_u` = set of user :math:`u`'s test movies with rating :math:`\ge t`, and
    :math:`\text{rel}_i = 1` if the movie at rank :math:`i` of u's list is in :math:`R_u`
    (only ranks :math:`1..k` are used). Evaluated users :math:`U` = users with
    :math:`|R_u| \ge 1`; a user in :math:`U` without recommendations has no hits. Then

    * precision@k(u) = :math:`\frac{1}{k}\sum_{i=1}^{k}\text{rel}_i` (the denominator is k
      even when the list is shorter)
    * recall@k(u) = :math:`\frac{1}{|R_u|}\sum_{i=1}^{k}\text{rel}_i` (hits / |relevant|:
      below 1 for a perfect list when :math:`|R_u| > k`)
    * normalised recall@k(u) = :math:`\frac{1}{\min(k, |R_u|)}\sum_{i=1}^{k}\text{rel}_i`
      (``recall_norm``: the "Recall@k" of Liang et al. 2018 and the iALS / EASE papers)
    * NDCG@k(u) = DCG / IDCG, DCG = :math:`\sum_{i=1}^{k}\text{rel}_i/\log_2(i+1)`,
      IDCG = :math:`\sum_{i=1}^{\min(|R_u|,k)} 1/\log_2(i+1)`
    * AP@k(u) = :math:`\frac{1}{\min(|R_u|,k)}\sum_{i=1}^{k} P@i\cdot\text{rel}_i`,
      P@i = :math:`\frac{1}{i}\sum_{j\le i}\text{rel}_j`
    * hit(u) = 1 if :math:`\sum_{i=1}^{k}\text{rel}_i \ge 1` else 0

    ``precision``, ``recall``, ``recall_norm``, ``ndcg``, ``map`` and ``hit_rate`` are means
    over :math:`U`;
    ``f1`` = 2PR / (P + R) of the mean precision and mean recall.

    Args:
        recommendations: columns USER, ITEM, RANK (1-based, unique per user; movies seen in
            training already excluded by the caller). Rows of users not in :math:`U` are
            ignored.
        test: held-out ratings with columns USER, ITEM, RATING. A repeated (user, movie)
            counts once.
        k: list length evaluated (ranks above k are ignored).
        threshold: relevance cut-off (rating units).

    Returns:
        ``{"k", "precision", "recall", "f1", "ndcg", "map", "hit_rate", "users",
        "recall_norm"}``;
        ``k`` and ``users`` (= :math:`|U|`) are ints, the rest floats in [0, 1].

    Raises:
        DataError: either frame empty, a column missing, NaN values, ranks that are not
            integers >= 1 or repeat within a user, a movie listed twice for one user, or no
            test rating at or above ``threshold`` (nothing to evaluate).
        ConfigError: ``k`` < 1 or not an integer, or ``threshold`` not finite.
    """
    k = _check_k(k)
    t = _check_threshold(threshold)
    recs = _require_frame(recommendations, (USER, ITEM, RANK), "recommendations")
    tst = _require_frame(test, (USER, ITEM, RATING), "test")
    _require_no_nan(tst, (USER, ITEM, RATING), "test")
    _validate_ranks(recs)

    relevant = tst.loc[tst[RATING] >= t, [USER, ITEM]].drop_duplicates()
    if relevant.empty:
        raise DataError(
            f"no test rating is >= threshold {t}; catalogue top-k metrics are undefined"
        )
    n_rel = relevant.groupby(USER, sort=True).size()
    users = n_rel.index
    n_users = len(users)

    top = recs.loc[recs[RANK] <= k, [USER, ITEM, RANK]]
    hits = top.merge(relevant, on=[USER, ITEM], how="inner")
    hits = hits.sort_values([USER, RANK], kind="mergesort")
    rank = hits[RANK].to_numpy(dtype=np.float64)
    cum_hits = hits.groupby(USER, sort=False).cumcount().to_numpy() + 1.0
    hits = hits.assign(
        _gain=1.0 / np.log2(rank + 1.0),  # rel_i / log2(i + 1) for each hit at rank i
        _p_at_i=cum_hits / rank,  # P@i at each hit's rank i
    )
    per_user = hits.groupby(USER, sort=True).agg(
        n_hits=(ITEM, "size"), dcg=("_gain", "sum"), ap_sum=("_p_at_i", "sum")
    )
    per_user = per_user.reindex(users, fill_value=0)
    n_hits = per_user["n_hits"].to_numpy(dtype=np.float64)
    dcg = per_user["dcg"].to_numpy(dtype=np.float64)
    ap_sum = per_user["ap_sum"].to_numpy(dtype=np.float64)

    rel_count = n_rel.to_numpy(dtype=np.int64)
    ideal_len = np.minimum(rel_count, k)  # >= 1 for every evaluated user
    discounts = 1.0 / np.log2(np.arange(2, int(ideal_len.max()) + 2, dtype=np.float64))
    idcg = np.cumsum(discounts)[ideal_len - 1]

    precision = float(np.mean(n_hits / k))
    recall = float(np.mean(n_hits / rel_count))
    return {
        "k": k,
        "precision": precision,
        "recall": recall,
        "f1": _harmonic(precision, recall),
        "ndcg": float(np.mean(dcg / idcg)),
        "map": float(np.mean(ap_sum / ideal_len)),
        "hit_rate": float(np.mean(n_hits > 0)),
        "users": int(n_users),
        "recall_norm": float(np.mean(n_hits / ideal_len)),
    }


# --------------------------------------------------------------------------- coverage


def catalogue_coverage(recommendations: pd.DataFrame, n_items: int, k: int | None = None) -> float:
    r"""Catalogue coverage: share of the catalogue recommended to at least one user.

    coverage = :math:`|\bigcup_u L_u| / N`, with :math:`L_u` the movies in u's list
    (only ranks :math:`\le k` when ``k`` is given) and :math:`N` = ``n_items``.

    Args:
        recommendations: column ITEM (and RANK when ``k`` is given).
        n_items: catalogue size N (number of distinct recommendable movies), >= 1.
        k: optional cut-off; ``None`` uses every row.

    Returns:
        A float in [0, 1].

    Raises:
        DataError: empty frame, missing column, NaN movie ids, or more distinct movies
            recommended than ``n_items``.
        ConfigError: ``n_items`` < 1, or ``k`` given and < 1.
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ConfigError(f"n_items must be an integer >= 1, got {n_items!r}")
    columns = (ITEM,) if k is None else (ITEM, RANK)
    recs = _require_frame(recommendations, columns, "recommendations")
    _require_no_nan(recs, columns, "recommendations")
    items = recs[ITEM] if k is None else recs.loc[recs[RANK] <= _check_k(k), ITEM]
    distinct = int(items.nunique())
    if distinct > n_items:
        raise DataError(
            f"{distinct} distinct movies recommended but the catalogue has only {n_items}",
            column=ITEM,
        )
    return distinct / int(n_items)


# --------------------------------------------------------------------------- beyond accuracy


def _top_k_lists(recommendations: Any, k: int) -> pd.DataFrame:
    """Validated recommendation rows with rank <= k (columns USER, ITEM, RANK)."""
    recs = _require_frame(recommendations, (USER, ITEM, RANK), "recommendations")
    _validate_ranks(recs)
    top = recs.loc[recs[RANK] <= k, [USER, ITEM, RANK]]
    if top.empty:
        raise DataError(f"recommendations has no row at rank <= {k}", column=RANK)
    return top


def _train_pairs(train: Any) -> pd.DataFrame:
    tr = _require_frame(train, (USER, ITEM), "train")
    _require_no_nan(tr, (USER, ITEM), "train")
    return tr


def _mean_of_user_means(users: pd.Series, values: np.ndarray) -> float:
    """Mean over users of the mean of ``values`` over each user's rows."""
    codes, uniques = pd.factorize(users, sort=False)
    sums = np.bincount(codes, weights=values, minlength=len(uniques))
    counts = np.bincount(codes, minlength=len(uniques))
    return float(np.mean(sums / counts))


def novelty(recommendations: pd.DataFrame, train: pd.DataFrame, k: int = 10) -> float:
    r"""Novelty: mean self-information (bits) of the recommended movies.

    With :math:`U` = number of distinct users in ``train`` and
    :math:`p_i = |\{u : u 	ext{ rated } i 	ext{ in train}\}| / U` the share of training
    users who rated movie :math:`i`, a movie's self-information is :math:`-\log_2 p_i`
    (0 for a movie everyone rated, :math:`\log_2 U` for one rated by a single user). A movie
    never rated in train gets :math:`p_i = 1/(U+1)`, i.e. it is treated as slightly rarer
    than the rarest training movie (:math:`\log_2(U+1)` bits) rather than infinitely novel.
    Then, with :math:`L_u` the movies at ranks :math:`\le k` of user u's list,

    novelty = :math:`rac{1}{|\mathcal U_R|}\sum_{u}rac{1}{|L_u|}\sum_{i\in L_u}-\log_2 p_i`

    over the users :math:`\mathcal U_R` with at least one recommendation at rank
    :math:`\le k` (each user weighs the same, whatever the length of the list).

    Args:
        recommendations: columns USER, ITEM, RANK (1-based, unique per user).
        train: training ratings, columns USER and ITEM (a repeated pair counts once).
        k: list length evaluated (ranks above k are ignored).

    Returns:
        A float >= 0 (bits).

    Raises:
        DataError: either frame empty, a column missing, NaN ids, invalid ranks, or no
            recommendation at rank <= k.
        ConfigError: ``k`` < 1 or not an integer.
    """
    k = _check_k(k)
    return _novelty(_top_k_lists(recommendations, k), _train_pairs(train))


def _novelty(top: pd.DataFrame, tr: pd.DataFrame) -> float:
    n_users = int(tr[USER].nunique())
    raters = tr[[USER, ITEM]].drop_duplicates()[ITEM].value_counts()
    counts = top[ITEM].map(raters).to_numpy(dtype=np.float64)
    share = np.where(np.isnan(counts), 1.0 / (n_users + 1), counts / n_users)
    return _mean_of_user_means(top[USER], -np.log2(share))


def popularity_bias(recommendations: pd.DataFrame, train: pd.DataFrame, k: int = 10) -> float:
    r"""Popularity bias: mean popularity percentile of the recommended movies.

    With :math:`c_i` = number of training ratings of movie :math:`i` and :math:`M` = number of
    distinct movies in ``train``, a movie's percentile is
    :math:`	ext{pct}_i = 	ext{rank}(c_i) / M`, ranking the :math:`M` counts ascending from
    1 to :math:`M` with ties given their average rank (pandas ``rank(method="average",
    pct=True)``): the most-rated movie scores 1, the least-rated :math:`1/M` (or its tie
    average). A movie never rated in train scores 0. Then

    popularity_bias = :math:`rac{1}{|\mathcal U_R|}\sum_urac{1}{|L_u|}\sum_{i\in L_u}
        ext{pct}_i`

    over users with at least one recommendation at rank :math:`\le k`. A recommender that
    picks movies uniformly from the training catalogue scores about :math:`(M+1)/(2M)`;
    a most-popular list scores near 1.

    Args:
        recommendations: columns USER, ITEM, RANK (1-based, unique per user).
        train: training ratings, columns USER and ITEM (every row counts as a rating).
        k: list length evaluated (ranks above k are ignored).

    Returns:
        A float in [0, 1].

    Raises:
        DataError: either frame empty, a column missing, NaN ids, invalid ranks, or no
            recommendation at rank <= k.
        ConfigError: ``k`` < 1 or not an integer.
    """
    k = _check_k(k)
    return _popularity_bias(_top_k_lists(recommendations, k), _train_pairs(train))


def _popularity_bias(top: pd.DataFrame, tr: pd.DataFrame) -> float:
    pct = tr[ITEM].value_counts().rank(method="average", pct=True)
    values = top[ITEM].map(pct).fillna(0.0).to_numpy(dtype=np.float64)
    return _mean_of_user_means(top[USER], values)


def personalisation(recommendations: pd.DataFrame, k: int = 10) -> float:
    r"""Personalisation: 1 - mean pairwise overlap between users' top-k lists.

    With :math:`L_u` the movies at ranks :math:`\le k` of user u's list and :math:`U` the
    number of users with a non-empty :math:`L_u`,

    personalisation = :math:`1 - inom{U}{2}^{-1}\sum_{u<v}rac{|L_u\cap L_v|}{k}`

    (the overlap is divided by k even when a list is shorter). The sum over the
    :math:`inom{U}{2}` pairs is computed from movie counts, never pair by pair:
    :math:`\sum_{u<v}|L_u\cap L_v| = \sum_i inom{c_i}{2}` with :math:`c_i` the number of
    lists holding movie :math:`i`, so time and memory are :math:`O(U\cdot k)`.
    0 means every user gets the same k movies, 1 means no two lists share a movie.

    Args:
        recommendations: columns USER, ITEM, RANK (1-based, unique per user).
        k: list length evaluated (ranks above k are ignored).

    Returns:
        A float in [0, 1].

    Raises:
        DataError: frame empty, a column missing, NaN ids, invalid ranks, or fewer than 2
            users with a recommendation at rank <= k (no pair to compare).
        ConfigError: ``k`` < 1 or not an integer.
    """
    k = _check_k(k)
    top = _top_k_lists(recommendations, k)
    n_users = int(top[USER].nunique())
    if n_users < 2:
        raise DataError(
            f"personalisation compares pairs of users' lists but only {n_users} user has "
            f"recommendations at rank <= {k}"
        )
    return _personalisation(top, k, n_users)


def _personalisation(top: pd.DataFrame, k: int, n_users: int) -> float:
    c = top[ITEM].value_counts().to_numpy(dtype=np.int64)
    overlap = float(np.sum(c * (c - 1) // 2))  # sum over user pairs of |L_u & L_v|
    pairs = n_users * (n_users - 1) / 2.0
    return 1.0 - overlap / (k * pairs)


_NO_GENRES = frozenset({"", "(no genres listed)", "nan", "none"})


def _genre_matrix(movies: Any, items: np.ndarray) -> np.ndarray:
    """Boolean (len(items), n_genres) matrix of each movie's genre set."""
    mv = _require_frame(movies, (ITEM, GENRES), "movies")
    _require_no_nan(mv, (ITEM,), "movies")
    if mv[ITEM].duplicated().any():
        raise DataError("movies lists a movie id more than once", column=ITEM)
    index = pd.Index(mv[ITEM])
    pos = index.get_indexer(pd.Index(items))
    missing = items[pos < 0]
    if missing.size:
        shown = ", ".join(str(x) for x in missing[:5])
        raise DataError(
            f"{missing.size} recommended movie(s) are not in the movies table (e.g. {shown}); "
            "genre diversity needs every recommended movie's genres",
            column=ITEM,
        )
    genres = mv[GENRES].to_numpy(dtype=object)[pos]
    sets = []
    for value in genres:
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
        parts = {g.strip() for g in str(text).split("|")}
        sets.append({g for g in parts if g.lower() not in _NO_GENRES})
    vocab = {g: j for j, g in enumerate(sorted(set().union(*sets)))}
    matrix = np.zeros((len(items), max(len(vocab), 1)), dtype=bool)
    for row, genre_set in enumerate(sets):
        for g in genre_set:
            matrix[row, vocab[g]] = True
    return matrix


def _lists_with_two(top: pd.DataFrame) -> bool:
    return bool((top.groupby(USER, sort=False).size() >= 2).any())


def intra_list_diversity(recommendations: pd.DataFrame, movies: pd.DataFrame, k: int = 10) -> float:
    r"""Intra-list diversity: mean pairwise genre (Jaccard) distance within each list.

    A movie's genre set :math:`G_i` is its GENRES string split on ``|`` (whitespace
    stripped); ``""`` and ``"(no genres listed)"`` (and a missing value) give the empty set.
    The Jaccard distance of two movies is
    :math:`d(i, j) = 1 - |G_i\cap G_j| / |G_i\cup G_j|`, with :math:`d = 0` when both sets
    are empty (and :math:`d = 1` when exactly one is). For a list :math:`L_u` of the
    :math:`n_u \ge 2` movies at ranks :math:`\le k`,

    ILD(u) = :math:`rac{2}{n_u(n_u-1)}\sum_{i<j\in L_u} d(i, j)`

    and intra_list_diversity is the mean of ILD(u) over users with :math:`n_u \ge 2`
    (users with fewer movies are skipped). 0 means every list is genre-homogeneous, 1 that
    no two movies in a list share a genre.

    Args:
        recommendations: columns USER, ITEM, RANK (1-based, unique per user).
        movies: columns ITEM and GENRES (``"Comedy|Drama"``), one row per movie; must
            contain every recommended movie.
        k: list length evaluated (ranks above k are ignored).

    Returns:
        A float in [0, 1].

    Raises:
        DataError: a frame empty, a column missing, NaN ids, invalid ranks, a movie id
            repeated in ``movies``, a recommended movie missing from ``movies``, or no user
            with at least 2 recommendations at rank <= k.
        ConfigError: ``k`` < 1 or not an integer.
    """
    k = _check_k(k)
    top = _top_k_lists(recommendations, k)
    if not _lists_with_two(top):
        raise DataError(
            f"intra-list diversity needs lists of at least 2 movies; no user has 2 "
            f"recommendations at rank <= {k}"
        )
    return _intra_list_diversity(top, movies)


def _intra_list_diversity(top: pd.DataFrame, movies: Any) -> float:
    item_codes, item_uniques = pd.factorize(top[ITEM], sort=False)
    genre = _genre_matrix(movies, np.asarray(item_uniques)).astype(np.float64)
    sizes_g = genre.sum(axis=1)

    # Lay lists out as a dense (users, width) matrix of item codes, by rank; -1 = padding.
    user_codes, user_uniques = pd.factorize(top[USER], sort=False)
    n_users = len(user_uniques)
    order = np.lexsort((top[RANK].to_numpy(), user_codes))
    uc = user_codes[order]
    lengths = np.bincount(user_codes, minlength=n_users)
    starts = np.cumsum(lengths) - lengths
    slot = np.arange(len(order)) - starts[uc]
    width = int(lengths.max())
    grid = np.full((n_users, width), -1, dtype=np.int64)
    grid[uc, slot] = item_codes[order]

    keep = lengths >= 2
    grid = grid[keep]
    lengths = lengths[keep]
    upper = np.triu(np.ones((width, width), dtype=bool), k=1)
    per_user = np.empty(len(grid))
    chunk = max(1, 4_000_000 // (width * max(width, genre.shape[1])))
    for lo in range(0, len(grid), chunk):
        g = grid[lo : lo + chunk]
        valid = g >= 0
        x = genre[np.where(valid, g, 0)] * valid[..., None]  # (c, width, n_genres)
        s = sizes_g[np.where(valid, g, 0)] * valid  # (c, width)
        inter = x @ x.transpose(0, 2, 1)  # (c, width, width)
        union = s[:, :, None] + s[:, None, :] - inter
        dist = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
        pair = upper & valid[:, :, None] & valid[:, None, :]
        per_user[lo : lo + chunk] = (dist * pair).sum(axis=(1, 2))
    n_pairs = lengths * (lengths - 1) / 2.0
    return float(np.mean(per_user / n_pairs))


def beyond_accuracy(
    recommendations: pd.DataFrame,
    train: pd.DataFrame,
    movies: pd.DataFrame | None,
    n_items: int,
    k: int = 10,
) -> dict[str, float | None]:
    """Every beyond-accuracy metric of the same top-k lists, as one dict.

    Returns:
        ``{"coverage": catalogue_coverage(recs, n_items, k), "novelty": novelty(...),
        "diversity": intra_list_diversity(...), "popularity_bias": popularity_bias(...),
        "personalisation": personalisation(...)}``. ``diversity`` is None when ``movies``
        is None or no user has 2 recommendations at rank <= k; ``personalisation`` is None
        when fewer than 2 users have recommendations at rank <= k. Everything else is a float.

    Raises:
        DataError, ConfigError: as the individual metrics.
    """
    k = _check_k(k)
    top = _top_k_lists(recommendations, k)  # validated once for every metric below
    tr = _train_pairs(train)
    n_users = int(top[USER].nunique())
    diversity = (
        _intra_list_diversity(top, movies) if movies is not None and _lists_with_two(top) else None
    )
    return {
        "coverage": catalogue_coverage(top, n_items, k),
        "novelty": _novelty(top, tr),
        "diversity": diversity,
        "popularity_bias": _popularity_bias(top, tr),
        "personalisation": _personalisation(top, k, n_users) if n_users >= 2 else None,
    }
