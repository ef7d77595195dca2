"""Beyond-accuracy metrics of :mod:`movierec.metrics`: what top-k lists look like.

* :func:`novelty` -- mean self-information of the recommended movies;
* :func:`popularity_bias` -- mean popularity percentile of the recommended movies;
* :func:`personalisation` -- 1 - mean overlap between users' lists;
* :func:`intra_list_diversity` -- mean pairwise genre distance within each list;
* :func:`beyond_accuracy` -- all of them (and catalogue coverage) of the same lists at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import DataError
from movierec.metrics._checks import _check_k, _require_frame, _require_no_nan
from movierec.metrics.ranking import _validate_ranks, catalogue_coverage
from movierec.schema import GENRES, ITEM, RANK, USER


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
