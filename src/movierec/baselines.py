"""Non-personalised and bias-only baselines to compare ALS against (pure pandas/numpy).

* :class:`GlobalMean` -- predicts the training mean rating for every pair.
* :class:`BiasBaseline` -- predicts mu + b_u + b_i with regularised biases fitted by
  alternating least squares.
* :class:`MostPopular` -- recommends each user the most-rated movies they have not seen.

All are fitted on a training :class:`pandas.DataFrame` with columns USER, ITEM, RATING.
Invalid input raises :class:`movierec.errors.DataError`, invalid parameters
:class:`movierec.errors.ConfigError`; calling ``predict``/``recommend`` before ``fit`` is a
programming error and raises :class:`RuntimeError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RANK, RATING, SCORE, USER

__all__ = ["BiasBaseline", "GlobalMean", "MostPopular"]


def _require_columns(df: Any, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{name} is missing column(s) {missing}; has {list(df.columns)}", column=missing[0]
        )
    for col in columns:
        n_nan = int(df[col].isna().sum())
        if n_nan:
            raise DataError(f"{name} has {n_nan} missing value(s)", column=col)
    return df


def _check_train(train: Any, columns: tuple[str, ...] = (USER, ITEM, RATING)) -> pd.DataFrame:
    df = _require_columns(train, columns, "train")
    if df.empty:
        raise DataError("train is empty; nothing to fit")
    return df


def _check_fitted(obj: object, attr: str) -> None:
    if getattr(obj, attr, None) is None:
        raise RuntimeError(f"{type(obj).__name__} is not fitted; call fit() first")


class GlobalMean:
    """Predict the training mean rating :math:`\\mu = \\frac{1}{|R|}\\sum_{(u,i)\\in R} r_{ui}`.

    Attributes:
        mean_: :math:`\\mu` in rating units (set by :meth:`fit`).
    """

    def __init__(self) -> None:
        self.mean_: float | None = None

    def fit(self, train: pd.DataFrame) -> GlobalMean:
        """Learn :math:`\\mu` from ``train`` (USER, ITEM, RATING).

        Raises:
            DataError: empty frame, missing column, or missing values.
        """
        df = _check_train(train)
        self.mean_ = float(df[RATING].to_numpy(dtype=np.float64).mean())
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """:math:`\\mu` for every row of ``pairs`` (USER, ITEM), as a float64 array.

        Raises:
            DataError: ``pairs`` lacks USER or ITEM.
        """
        _check_fitted(self, "mean_")
        df = _require_columns(pairs, (USER, ITEM), "pairs")
        assert self.mean_ is not None
        return np.full(len(df), self.mean_, dtype=np.float64)


class BiasBaseline:
    r"""Baseline predictor :math:`\hat r_{ui} = \mu + b_u + b_i` with regularised biases.

    Fitted by alternating least squares on :math:`r_{ui} - \mu`, starting from
    :math:`b_u = b_i = 0`; each of ``iterations`` rounds updates all item biases, then all
    user biases:

    .. math::

        b_i = \frac{\sum_{u \in R(i)} (r_{ui} - \mu - b_u)}{\lambda_i + |R(i)|}, \qquad
        b_u = \frac{\sum_{i \in R(u)} (r_{ui} - \mu - b_i)}{\lambda_u + |R(u)|}

    where :math:`R(i)` are the training ratings of movie i and :math:`R(u)` those of user u.
    The defaults :math:`\lambda_u = 15`, :math:`\lambda_i = 10` and 10 rounds are the defaults
    that the Surprise library documents for the ALS procedure of its ``BaselineOnly``
    algorithm (``reg_u``, ``reg_i``, ``n_epochs``; Koren 2010's :math:`\lambda_3`,
    :math:`\lambda_2`), which also initialises both biases to zero.

    Unknown users / movies at prediction time get bias 0 (so a fully cold pair gets
    :math:`\mu`).

    Args:
        reg_user: :math:`\lambda_u` >= 0 (in "pseudo-ratings": shrinks b_u toward 0).
        reg_item: :math:`\lambda_i` >= 0.
        iterations: number of ALS rounds, >= 1.
        clip: optional ``(lo, hi)`` rating range predictions are clipped to.

    Attributes (set by :meth:`fit`):
        mean_: :math:`\mu` (rating units).
        user_bias_: :class:`pandas.Series` of :math:`b_u` indexed by user id.
        item_bias_: :class:`pandas.Series` of :math:`b_i` indexed by movie id.

    Raises:
        ConfigError: negative or non-finite regularisation, ``iterations`` < 1, or
            ``clip`` not a finite pair with lo <= hi.
    """

    def __init__(
        self,
        reg_user: float = 15.0,
        reg_item: float = 10.0,
        iterations: int = 10,
        clip: tuple[float, float] | None = None,
    ) -> None:
        for name, value in (("reg_user", reg_user), ("reg_item", reg_item)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got {iterations!r}")
        if clip is not None:
            if (
                len(clip) != 2
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in clip)
                or clip[0] > clip[1]
            ):
                raise ConfigError(f"clip must be a (lo, hi) pair with lo <= hi, got {clip!r}")
            clip = (float(clip[0]), float(clip[1]))
        self.reg_user = float(reg_user)
        self.reg_item = float(reg_item)
        self.iterations = iterations
        self.clip = clip
        self.mean_: float | None = None
        self.user_bias_: pd.Series | None = None
        self.item_bias_: pd.Series | None = None

    def fit(self, train: pd.DataFrame) -> BiasBaseline:
        """Fit :math:`\\mu`, :math:`b_u`, :math:`b_i` on ``train`` (USER, ITEM, RATING).

        Cost: O(iterations x rows) via ``numpy.bincount``.

        Raises:
            DataError: empty frame, missing column, or missing values.
        """
        df = _check_train(train)
        user_codes, users = pd.factorize(df[USER])
        item_codes, items = pd.factorize(df[ITEM])
        r = df[RATING].to_numpy(dtype=np.float64)
        mu = float(r.mean())
        dev = r - mu
        n_users, n_items = len(users), len(items)
        denom_u = self.reg_user + np.bincount(user_codes, minlength=n_users)
        denom_i = self.reg_item + np.bincount(item_codes, minlength=n_items)
        b_u: np.ndarray = np.zeros(n_users)
        b_i: np.ndarray = np.zeros(n_items)
        for _ in range(self.iterations):
            sum_i = np.bincount(item_codes, weights=dev - b_u[user_codes], minlength=n_items)
            b_i = sum_i / denom_i
            sum_u = np.bincount(user_codes, weights=dev - b_i[item_codes], minlength=n_users)
            b_u = sum_u / denom_u
        self.mean_ = mu
        self.user_bias_ = pd.Series(b_u, index=pd.Index(users, name=USER), name="user_bias")
        self.item_bias_ = pd.Series(b_i, index=pd.Index(items, name=ITEM), name="item_bias")
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """:math:`\\mu + b_u + b_i` for every row of ``pairs`` (USER, ITEM), float64 array.

        Unknown users or movies contribute a bias of 0; the result is clipped to ``clip``
        when set.

        Raises:
            DataError: ``pairs`` lacks USER or ITEM, or has missing ids.
        """
        _check_fitted(self, "mean_")
        df = _require_columns(pairs, (USER, ITEM), "pairs")
        assert self.user_bias_ is not None and self.item_bias_ is not None
        assert self.mean_ is not None
        pred = np.full(len(df), self.mean_, dtype=np.float64)
        for bias, col in ((self.user_bias_, USER), (self.item_bias_, ITEM)):
            idx = bias.index.get_indexer(pd.Index(df[col]))
            known = idx >= 0
            pred[known] += bias.to_numpy()[idx[known]]
        if self.clip is not None:
            np.clip(pred, self.clip[0], self.clip[1], out=pred)
        return pred


class MostPopular:
    """Recommend the movies with the most training ratings that the user has not seen.

    popularity(i) = number of training ratings of movie i; movies are ordered by
    popularity descending, ties broken by movie id ascending. The order is the same for
    every user; only the movies each user has already rated are skipped.

    Attributes (set by :meth:`fit`):
        items_: movie ids in popularity order (numpy array).
        counts_: their rating counts (int64 numpy array, non-increasing).
    """

    def __init__(self) -> None:
        self.items_: np.ndarray | None = None
        self.counts_: np.ndarray | None = None
        self._item_index: pd.Index | None = None

    def fit(self, train: pd.DataFrame) -> MostPopular:
        """Count ratings per movie in ``train`` (USER, ITEM, RATING).

        Raises:
            DataError: empty frame, missing column, or missing ids.
        """
        df = _check_train(train, (USER, ITEM))
        item_codes, items = pd.factorize(df[ITEM])
        counts = np.bincount(item_codes, minlength=len(items)).astype(np.int64)
        items_arr = np.asarray(items)
        order = np.lexsort((items_arr, -counts))  # count descending, then id ascending
        self.items_ = items_arr[order]
        self.counts_ = counts[order]
        self._item_index = pd.Index(self.items_)
        return self

    def recommend(
        self,
        users: ArrayLike,
        n: int = 10,
        exclude: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Each user's ``n`` most popular movies not rated by that user in ``exclude``.

        Users are taken in the given order (repeats dropped); a user unknown to training
        still gets the popular movies. A user gets fewer than ``n`` rows only when fewer
        than ``n`` unseen movies exist.

        Vectorised without a users x items matrix: with user u's seen movies at popularity
        positions :math:`p_0 < p_1 < \\dots` (0-based), seen movie j precedes the n-th unseen
        one iff :math:`p_j - j < n`; if :math:`s_u` seen movies do, u's list is the unseen
        movies among the first :math:`\\min(n + s_u, N)` positions. Work and memory are
        O(|users| * n + |exclude|).

        Args:
            users: user ids to recommend for.
            n: list length, >= 1.
            exclude: (USER, ITEM) pairs already rated (typically the training set);
                ``None`` excludes nothing.

        Returns:
            DataFrame with columns USER, ITEM, SCORE (the popularity count, float64) and
            RANK (1..n, int32), ordered by user (input order) then rank.

        Raises:
            ConfigError: ``n`` < 1 or not an integer.
            DataError: ``exclude`` lacks USER or ITEM, or ``users`` has missing ids.
        """
        _check_fitted(self, "items_")
        assert self.items_ is not None and self.counts_ is not None
        assert self._item_index is not None
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n must be an integer >= 1, got {n!r}")
        n = int(n)
        user_ids = pd.unique(pd.Series(np.asarray(users).ravel()))
        if pd.isna(user_ids).any():
            raise DataError("users contains missing ids", column=USER)
        n_users = len(user_ids)
        n_items = len(self.items_)

        seen_user = np.empty(0, dtype=np.int64)
        seen_pos = np.empty(0, dtype=np.int64)
        if exclude is not None:
            ex = _require_columns(exclude, (USER, ITEM), "exclude")
            u = pd.Index(user_ids).get_indexer(pd.Index(ex[USER])).astype(np.int64)
            p = self._item_index.get_indexer(pd.Index(ex[ITEM])).astype(np.int64)
            ok = (u >= 0) & (p >= 0)  # other users' rows, and never-recommended movies, drop
            key = np.sort(u[ok] * n_items + p[ok])  # by user, then popularity position
            if key.size:
                key = key[np.r_[True, key[1:] != key[:-1]]]  # dedupe repeated (user, movie)
            seen_user, seen_pos = key // n_items, key % n_items

        # s_u = #seen movies that precede the n-th unseen one (p_j - j < n).
        seen_sizes = np.bincount(seen_user, minlength=n_users)
        seen_starts = np.cumsum(seen_sizes) - seen_sizes
        j = np.arange(len(seen_user)) - seen_starts[seen_user]
        inside = seen_pos - j < n
        s = np.bincount(seen_user[inside], minlength=n_users)

        m = np.minimum(n + s, n_items)  # candidate positions 0..m_u-1 per user
        offsets = np.cumsum(m) - m
        total = int(m.sum())
        cand_user = np.repeat(np.arange(n_users), m)
        cand_pos = np.arange(total) - np.repeat(offsets, m)
        keep = np.ones(total, dtype=bool)
        keep[offsets[seen_user[inside]] + seen_pos[inside]] = False
        out_user = cand_user[keep]
        out_pos = cand_pos[keep]

        out_sizes = m - s
        out_starts = np.cumsum(out_sizes) - out_sizes
        rank = np.arange(len(out_user)) - out_starts[out_user] + 1
        return pd.DataFrame(
            {
                USER: np.asarray(user_ids)[out_user],
                ITEM: self.items_[out_pos],
                SCORE: self.counts_[out_pos].astype(np.float64),
                RANK: rank.astype(np.int32),
            }
        )
