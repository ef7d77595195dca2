"""Scores of an ``ease`` model in the service, with the engines' arithmetic.

A user is a *query vector* q of length items + r (r = the blended partner's rank, 0 without
a blend): ``q[:items]`` is 1 at the movies that are the user's interactions (rated >=
the model's threshold) and 0 elsewhere, ``q[items:]`` the user's implicit-als partner
factors. Its score row is

    s = X_u·B = Σ_{j: q_j = 1} B[j]             (plain EASE; float64, rows added in
                                                  ascending movie order, as the engines do)
    s = (1 − w)·z(X_u·B) + w·z(Y·x_u)            (blend weight w > 0),

z(v) = (v − mean(v)) / std(v) over the whole catalogue (0 for a constant row), exactly
:mod:`movierec.engines.ease_blend`. A known user's q comes from their training ratings and
partner factors, a new user's from the movies they post (and the implicit-als fold-in of
those ratings for the partner part: :mod:`movierec.service.foldin`). Query vectors of one
size stack into batches (:class:`movierec.service.batching.FirstPassBatcher`).

Similar movies: the raw B row of the movie (``X_u·B`` of a user whose only interaction is
that movie), without blend or standardisation: B[i, j] is how much an interaction with i
raises j.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.service.ease_weights import EaseWeights
from movierec.service.foldin import Explanation, FoldIn, UserSystems


def standardise(v: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """A score row ``v`` minus its mean, over its population std (0 for a constant row), both
    measured outside ``inputs`` (the user's interaction movie rows; the whole row when None,
    empty, or covering every movie) as the engines do (:mod:`movierec.engines.ease_blend`)."""
    measured = v
    if inputs is not None and 0 < len(inputs) < len(v):
        keep = np.ones(len(v), dtype=bool)
        keep[inputs] = False
        measured = v[keep]
    std = measured.std()
    out: np.ndarray = (v - measured.mean()) / (std if std > 0 else 1.0)
    return out


class ItemItem:
    """EASE scoring of query vectors (module docstring)."""

    def __init__(self, weights: EaseWeights, partner_items: np.ndarray) -> None:
        """``partner_items``: the partner's item factors (float64, items × r; r = 0 when
        there is no blend)."""
        self.weights = weights
        self.partner_items = partner_items
        self.n_items = len(partner_items)
        self.partner_rank = partner_items.shape[1]
        self.blended = weights.blend > 0 and self.partner_rank > 0

    def liked(self, ratings: np.ndarray) -> np.ndarray:
        """Mask of the ratings that are interactions (>= the threshold; all without one)."""
        r = np.asarray(ratings, dtype=np.float64)
        t = self.weights.threshold
        return np.ones(len(r), dtype=bool) if t is None else r >= t

    def query(self, rows: np.ndarray, partner_x: np.ndarray | None) -> np.ndarray:
        """The query vector (float64) of a user whose interactions are movie ``rows``."""
        q = np.zeros(self.n_items + self.partner_rank, dtype=np.float64)
        q[np.asarray(rows, dtype=np.int64)] = 1.0
        if self.partner_rank and partner_x is not None:
            q[self.n_items :] = partner_x
        return q

    def ease_row(self, rows: np.ndarray) -> np.ndarray:
        """X_u·B for interactions at movie ``rows``: float64, B's rows added one after the
        other in ascending movie order (the engines' summation order)."""
        w = self.weights
        s = np.zeros(self.n_items, dtype=np.float64)
        for j in np.sort(np.asarray(rows, dtype=np.int64)).tolist():
            if w.dense is not None:
                s += w.dense[j]
            else:
                assert w.indptr is not None and w.indices is not None and w.values is not None
                lo, hi = int(w.indptr[j]), int(w.indptr[j + 1])
                s[w.indices[lo:hi]] += w.values[lo:hi]
        return s

    def scores(self, xs: np.ndarray, raw: bool = False) -> np.ndarray:
        """Score rows of query vectors: ``(b, items)`` for ``(b, items + r)``, ``(items,)``
        for one vector. ``raw``: X_u·B only (no blend) — the similar-movies scores."""
        q = np.asarray(xs, dtype=np.float64)
        one = q.ndim == 1
        q2 = q[None, :] if one else q
        out = np.empty((len(q2), self.n_items), dtype=np.float64)
        for i, row in enumerate(q2):
            inputs = np.flatnonzero(row[: self.n_items])
            s = self.ease_row(inputs)
            if self.blended and not raw:
                partner = self.partner_items @ row[self.n_items :]
                w = self.weights.blend
                s = (1.0 - w) * standardise(s, inputs) + w * standardise(partner, inputs)
            out[i] = s
        return out[0] if one else out

    def weight(self, rows: np.ndarray, col: int) -> np.ndarray:
        """B[rows, col] (float64): each interaction's contribution to X_u·B at ``col``."""
        w = self.weights
        rows = np.asarray(rows, dtype=np.int64)
        if w.dense is not None:
            return w.dense[rows, col].astype(np.float64)
        assert w.indptr is not None and w.indices is not None and w.values is not None
        out = np.zeros(len(rows), dtype=np.float64)
        for i, j in enumerate(rows.tolist()):
            lo, hi = int(w.indptr[j]), int(w.indptr[j + 1])
            hit = np.flatnonzero(w.indices[lo:hi] == col)
            if len(hit):
                out[i] = float(w.values[lo + hit[0]])
        return out


class ItemItemSystems(UserSystems):
    """Fold-in, explain and /health details of an ``ease`` model, mixed into
    :class:`movierec.service.scorer.Scorer` before :class:`UserSystems` (whose methods
    answer for every other kind)."""

    item_item: ItemItem | None

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> FoldIn:
        """A new user's fold-in (:class:`~movierec.service.foldin.UserSystems`); ``ease``:
        ``x`` is the user's query vector — the posted movies rated >= the threshold, and a
        blend partner's implicit fold-in of all the posted ratings.

        Raises:
            ValueError: no ratings, or a singular system.
        """
        if self.item_item is None:
            return super().fold_in(item_rows, ratings)
        rows = np.asarray(item_rows, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        if len(rows) == 0:
            raise ValueError("no rated movie is known to the model")
        partner = super().fold_in(rows, r).x if self.rank else None
        q = self.item_item.query(rows[self.item_item.liked(r)], partner)
        return FoldIn(q, 0.0, rows, r)

    def explain(self, urow: int, irow: int, k: int) -> Explanation:
        """The user's rated movies contributing most to their score for ``irow``
        (:class:`~movierec.service.foldin.UserSystems`). ``ease``: each interaction j
        contributes B[j, m] to the EASE score X_u·B at m (``factor_score``; the
        contributions sum to it); ``score`` is the served (possibly blended) score."""
        if self.item_item is None:
            return super().explain(urow, irow, k)
        rows, ratings = self.seen(urow)
        liked = self.item_item.liked(ratings)
        rows, r = rows[liked].astype(np.int64), np.asarray(ratings, dtype=np.float64)[liked]
        contrib = self.item_item.weight(rows, irow)
        order = np.lexsort((rows, -contrib))[:k]
        return Explanation(
            score=self.predict(urow, irow),
            baseline=0.0,
            factor_score=float(self.item_item.ease_row(rows)[irow]),
            contributions_sum=float(contrib.sum()),
            item_rows=rows[order],
            contributions=contrib[order],
            ratings=r[order],
        )

    def _ease_info(self) -> dict[str, Any]:
        assert self.item_item is not None
        w = self.item_item.weights
        return {
            "ease": {
                "lambda": w.lam,
                "threshold": w.threshold,
                "blend": w.blend,
                "weights": "dense" if w.dense is not None else f"top-{w.topk} per row",
                "memory_mapped": w.mapped,
                "weights_bytes": w.n_bytes,
            }
        }
