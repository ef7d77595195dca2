"""Numeric helpers of the scorer: exact top-k selection and non-negative least squares."""

from __future__ import annotations

import numpy as np

_BLOCK = 64
_BLOCK_OFFSETS = np.arange(_BLOCK)


def _top_values(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows holding the ``k`` best finite scores (and a few more), ascending.

    For small ``k`` the rows are dealt into 64 interleaved groups of ``n // 64``: block
    ``j`` is rows ``j, j + n//64, j + 2·n//64, …`` (so block maxima are one vectorised
    elementwise maximum over 64 contiguous slices). Only blocks whose maximum reaches
    the k-th largest block maximum can hold a top-k score (any score below it is beaten by
    k block maxima), so later steps see a few hundred candidates instead of the whole
    catalogue. −inf and NaN scores are dropped.
    """
    n = len(scores)
    if n > 2 * k * _BLOCK:
        nb = n // _BLOCK
        bmax = scores[: nb * _BLOCK].reshape(_BLOCK, nb).max(axis=0)
        threshold = np.partition(bmax, nb - k)[nb - k]
        if threshold > -np.inf:
            blocks = np.flatnonzero(bmax >= threshold)
        else:
            blocks = np.flatnonzero(bmax > -np.inf)
        cand = (blocks[None, :] + nb * _BLOCK_OFFSETS[:, None]).ravel()
        if nb * _BLOCK < n:  # the last n mod 64 rows are always candidates
            cand = np.concatenate([cand, np.arange(nb * _BLOCK, n)])
        cand.sort()
        return cand[scores[cand] > -np.inf]
    return np.flatnonzero(scores > -np.inf)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest scores, best first; ties by ascending row.

    Scores of −inf (excluded) or NaN are never selected; fewer than ``k`` rows come back
    when fewer are eligible.
    """
    if k <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    cand = _top_values(scores, k)
    cs = scores[cand]
    if len(cand) > 4 * k:
        threshold = np.partition(cs, len(cs) - k)[len(cs) - k]
        keep = cs >= threshold
        cand, cs = cand[keep], cs[keep]
    return cand[np.lexsort((cand, -cs))[:k]].astype(np.int64, copy=False)


def kth_best(scores: np.ndarray, k: int) -> float:
    """The k-th highest finite score (the lowest one when fewer are finite; −inf if none)."""
    if len(scores) == 0:
        return -np.inf
    cs = scores[_top_values(scores, k)]
    if len(cs) == 0:
        return -np.inf
    if len(cs) <= k:
        return float(cs.min())
    return float(np.partition(cs, len(cs) - k)[len(cs) - k])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lawson-Hanson: argmin ½xᵀax − bᵀx subject to x ≥ 0 (``a`` SPD), as the engines solve it."""
    k = len(b)
    tol = 1e-12 * max(float(np.abs(b).max(initial=0.0)), 1e-300)
    x = np.zeros(k)
    passive = np.zeros(k, dtype=bool)
    for _ in range(3 * k + 10):
        w = b - a @ x
        w[passive] = -np.inf
        best = int(np.argmax(w))
        if not w[best] > tol:
            break
        passive[best] = True
        for _ in range(3 * k + 10):
            idx = np.flatnonzero(passive)
            s = np.zeros(k)
            s[idx] = np.linalg.solve(a[np.ix_(idx, idx)], b[idx])
            if (s[idx] > 0).all():
                x = s
                break
            neg = idx[s[idx] <= 0]
            gaps = x[neg] - s[neg]
            steps = np.where(gaps > 0, x[neg] / np.where(gaps > 0, gaps, 1.0), 0.0)
            j = int(np.argmin(steps))
            x = x + steps[j] * (s - x)
            x[neg[j]] = 0.0
            passive[neg[j]] = False
            drop = passive & (x <= 0)
            x[drop] = 0.0
            passive[drop] = False
    return x
