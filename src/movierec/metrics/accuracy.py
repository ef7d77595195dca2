"""Readings 0-2 of :mod:`movierec.metrics`: rating errors, pairwise P/R/F1, within-test top-k.

* :func:`rating_errors` -- rmse, mae, mse of paired test ratings;
* :func:`pairwise_prf` -- every test pair one binary classification at ``threshold``;
* :func:`within_test_top_k` -- each user's test movies ranked by prediction (Surprise FAQ).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from movierec.metrics._checks import (
    _check_k,
    _check_threshold,
    _harmonic,
    _paired_arrays,
    _require_frame,
    _require_no_nan,
    _safe_div,
)
from movierec.schema import ITEM, PREDICTION, RATING, USER

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
