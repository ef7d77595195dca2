"""EASE's scoring kernels: s_u = X_u·B summed in float64 from float32 weights, parallel over
users (numba), for a dense B and for B sparsified to its top-k entries per row.

They live apart from :mod:`movierec.engines.ease_model` (the model class and its folder
format) and call nothing outside this file, so numba's on-disk cache stays valid.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def scores_dense(
    x_indptr: np.ndarray, x_indices: np.ndarray, urows: np.ndarray, b: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """s_u = X_u·B for the users at ``urows`` (float64, len(urows) × items): the dense B's
    rows of each user's movies (CSR ``x_indptr``/``x_indices``) added in index order."""
    n = b.shape[1]
    out = np.zeros((len(urows), n), dtype=np.float64)
    for r in numba.prange(len(urows)):
        u = urows[r]
        for p in range(x_indptr[u], x_indptr[u + 1]):
            row = b[x_indices[p]]
            for j in range(n):
                out[r, j] += row[j]
    return out


@numba.njit(parallel=True, cache=True)
def scores_sparse(
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    urows: np.ndarray,
    b_indptr: np.ndarray,
    b_indices: np.ndarray,
    b_values: np.ndarray,
    n: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`scores_dense` with B's kept entries as CSR rows (``b_indptr``, ``b_indices``,
    ``b_values``) over ``n`` items."""
    out = np.zeros((len(urows), n), dtype=np.float64)
    for r in numba.prange(len(urows)):
        u = urows[r]
        for p in range(x_indptr[u], x_indptr[u + 1]):
            i = x_indices[p]
            for q in range(b_indptr[i], b_indptr[i + 1]):
                out[r, b_indices[q]] += b_values[q]
    return out
