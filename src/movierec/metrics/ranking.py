"""Reading 3 of :mod:`movierec.metrics`: catalogue-wide top-k lists and catalogue coverage.

* :func:`catalogue_top_k` -- precision@k, recall@k, F1, NDCG@k, MAP@k, hit rate and
  normalised recall of each user's top-k list over the whole catalogue;
* :func:`catalogue_coverage` -- share of the catalogue recommended to at least one user;
* ``_validate_ranks`` -- the checks of a recommendation table's ranks (also used by the
  beyond-accuracy metrics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.metrics._checks import (
    _check_k,
    _check_threshold,
    _harmonic,
    _require_frame,
    _require_no_nan,
)
from movierec.schema import ITEM, RANK, RATING, USER

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
