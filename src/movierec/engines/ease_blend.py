"""EASE blended with an implicit-ALS model: the partner's parameters, factors and the blend.

With ``ease_blend`` = w > 0 an ``ease`` model also holds an ``implicit-als`` partner fitted on
the same ratings (its rank, maxIter and alpha are the ``ease`` parameters' ``rank``,
``max_iter`` and ``alpha``; its regParam is ``ease_blend_reg``). A user's score row is

    s_u = (1 − w)·z(X_u·B) + w·z(x_u·Yᵀ),   z(v) = (v − mean(v)) / std(v)

with mean and (population) std over the movies *outside* the user's interaction row X_u (a
constant row gives z = 0; a user whose row holds the whole catalogue, the whole row): each
model's scores are put on one scale per user before they are mixed, measured on the movies
that can be recommended. The movies a user already has score high in EASE (B's rows of
co-rated movies) and would otherwise set the scale. w = 0 is plain EASE.

Measured (benchmarks/results/ranking_research.md protocol, ml-latest-small's five seeded
folds, λ 200, sessions, w = 0.6): over the whole catalogue P@10 0.3075 / NDCG@10 0.3726;
outside X_u 0.3118 / 0.3773.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from movierec.engines.base import ALSParams, Factors


def partner_params(params: ALSParams) -> ALSParams:
    """The implicit-ALS partner of a blended ``ease`` configuration."""
    return replace(
        params,
        model="implicit-als",
        reg_param=params.ease_blend_reg,
        ease_blend=0.0,
    )


def standardise(rows: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """Each row (or a single 1-d row) minus its mean, divided by its (population) std, both
    taken over the entries where ``inputs`` (a bool mask of the same shape: the user's
    interaction movies) is False; over the whole row where ``inputs`` is None or covers the
    whole row. 0 for a row constant where it is measured."""
    v = np.asarray(rows, dtype=np.float64)
    one = v.ndim == 1
    v2 = v[None, :] if one else v
    if inputs is None:
        mean = v2.mean(axis=1, keepdims=True)
        std = v2.std(axis=1, keepdims=True)
    else:
        out_ = ~np.asarray(inputs, dtype=bool).reshape(v2.shape)
        out_[~out_.any(axis=1)] = True  # nothing outside the inputs: measure the whole row
        n = out_.sum(axis=1, keepdims=True)
        mean = np.where(out_, v2, 0.0).sum(axis=1, keepdims=True) / n
        std = np.sqrt(np.where(out_, (v2 - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
    z = (v2 - mean) / np.where(std > 0, std, 1.0)
    return z[0] if one else z


def blend(
    ease_scores: np.ndarray,
    partner_scores: np.ndarray,
    weight: float,
    inputs: np.ndarray | None = None,
) -> np.ndarray:
    """(1 − w)·z(EASE) + w·z(partner), row by row, z measured outside ``inputs`` (the users'
    interaction movies, a bool mask shaped as the scores; see the module doc)."""
    return (1.0 - weight) * standardise(ease_scores, inputs) + weight * standardise(
        partner_scores, inputs
    )


def aligned(
    factors: Factors, user_ids: np.ndarray, item_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) as float64 rows of ``user_ids`` / ``item_ids`` (zeros
    for an id the partner does not know)."""

    def rows(ids: np.ndarray, known: np.ndarray, mat: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), mat.shape[1]), dtype=np.float64)
        if len(known) == 0:
            return out
        pos = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        hit = known[pos] == ids
        out[hit] = mat[pos[hit]]
        return out

    return (
        rows(np.asarray(user_ids), np.asarray(factors.user_ids), factors.user_factors),
        rows(np.asarray(item_ids), np.asarray(factors.item_ids), factors.item_factors),
    )
