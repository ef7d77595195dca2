"""EASE blended with an implicit-ALS model: the partner's parameters, factors and the blend.

With ``ease_blend`` = w > 0 an ``ease`` model also holds an ``implicit-als`` partner fitted on
the same ratings (its rank, maxIter and alpha are the ``ease`` parameters' ``rank``,
``max_iter`` and ``alpha``; its regParam is ``ease_blend_reg``). A user's score row is

    s_u = (1 − w)·z(X_u·B) + w·z(x_u·Yᵀ),   z(v) = (v − mean(v)) / std(v)

with mean and std over the model's whole catalogue (a constant row gives z = 0): each model's
scores are put on one scale per user before they are mixed. w = 0 is plain EASE.
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


def standardise(rows: np.ndarray) -> np.ndarray:
    """Each row minus its mean, divided by its (population) std; 0 for a constant row."""
    mean = rows.mean(axis=1, keepdims=True)
    std = rows.std(axis=1, keepdims=True)
    return (rows - mean) / np.where(std > 0, std, 1.0)


def blend(ease_scores: np.ndarray, partner_scores: np.ndarray, weight: float) -> np.ndarray:
    """(1 − w)·z(EASE) + w·z(partner), row by row (see the module doc)."""
    return (1.0 - weight) * standardise(ease_scores) + weight * standardise(partner_scores)


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
