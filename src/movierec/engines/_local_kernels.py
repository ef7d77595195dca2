"""numba kernels of the local ALS engine (see :mod:`movierec.engines.local_als`).

Every kernel is compiled with ``cache=True`` (on-disk JIT cache next to this file, or under
``NUMBA_CACHE_DIR`` when the package folder is read-only) and ``fastmath=False``, so results
do not depend on the compiler's freedom to reorder floating-point sums (``error_model=
"numpy"``: a division by zero gives inf/NaN instead of raising, and costs no checks).
Factors are passed as float32 (as Spark stores them); every product and sum is float64.
Argument dtypes are fixed by :mod:`movierec.engines.local_als` (indptr int64, indices
int32, values float32, factors float32 C-contiguous) so each kernel compiles once.

Importing this module selects numba's ``workqueue`` threading layer unless the user chose
one with ``NUMBA_THREADING_LAYER``: the default (OpenMP when available) was measured 3-5x
slower per iteration on a busy 2-core machine, workqueue was not.
"""

from __future__ import annotations

import logging
import math
import os
import threading

import numba
import numpy as np
from numba import njit, prange

log = logging.getLogger(__name__)


def _configure_threading() -> None:
    """Prefer the workqueue threading layer unless ``NUMBA_THREADING_LAYER`` is set."""
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        from numba.np.ufunc import parallel as _parallel

        started = bool(getattr(_parallel, "_is_initialized", False))
    except ImportError:  # pragma: no cover - numba internals moved
        started = False
    if started:
        log.debug("numba threading layer already started; leaving it as it is")
        return
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]


_configure_threading()

_LAUNCH_LOCK = threading.Lock()
"""Serialises parallel kernel launches: the workqueue layer aborts the whole process when two
Python threads (e.g. tuning's thread pool) run parallel kernels at the same time."""

_ROWS_PER_CHUNK = 64
"""Rows (users or items) one parallel task solves; amortises the per-task scratch buffers."""


@njit(cache=True, fastmath=False, error_model="numpy")
def counting_sort(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort of ``keys`` (int32 in [0, n_keys)).

    Returns (indptr int64 of length n_keys + 1, perm int64): ``keys[perm]`` is sorted, equal
    keys keep their input order, and key ``k`` occupies ``perm[indptr[k]:indptr[k + 1]]``.
    """
    n = keys.shape[0]
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    for p in range(n):
        indptr[keys[p] + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    nxt = indptr[:-1].copy()
    perm = np.empty(n, dtype=np.int64)
    for p in range(n):
        k = keys[p]
        perm[nxt[k]] = p
        nxt[k] += 1
    return indptr, perm


@njit(cache=True, fastmath=False, error_model="numpy")
def _cholesky_solve(a: np.ndarray, b: np.ndarray, m: int, x: np.ndarray) -> bool:
    """Solve ``a[:m, :m] x = b[:m]`` for symmetric positive definite ``a`` (lower triangle read).

    ``a`` is overwritten by its Cholesky factor L (lower, with 1/L_jj on the diagonal).
    Returns False when ``a`` is not positive definite (x is then undefined).
    """
    for j in range(m):
        s = a[j, j]
        for p in range(j):
            s -= a[j, p] * a[j, p]
        if not s > 0.0:
            return False
        inv = 1.0 / math.sqrt(s)
        a[j, j] = inv
        for i in range(j + 1, m):
            t = a[i, j]
            for p in range(j):
                t -= a[i, p] * a[j, p]
            a[i, j] = t * inv
    for i in range(m):  # L y = b
        t = b[i]
        for p in range(i):
            t -= a[i, p] * x[p]
        x[i] = t * a[i, i]
    for i in range(m - 1, -1, -1):  # L^T x = y
        t = x[i]
        for p in range(i + 1, m):
            t -= a[p, i] * x[p]
        x[i] = t * a[i, i]
    return True


@njit(cache=True, fastmath=False, error_model="numpy")
def _nnls(
    a: np.ndarray,
    b: np.ndarray,
    k: int,
    x: np.ndarray,
    sub_a: np.ndarray,
    sub_b: np.ndarray,
    sub_x: np.ndarray,
    passive: np.ndarray,
    where: np.ndarray,
    s: np.ndarray,
) -> bool:
    """Lawson-Hanson active-set solve of min ½xᵀax − bᵀx subject to x ≥ 0 (a SPD, k×k).

    ``a`` holds the full symmetric matrix (both triangles) and is not modified; the other
    arrays are scratch space of size k (k×k for ``sub_a``). The solution is unique because
    ``a`` is positive definite, so it equals what Spark's iterative NNLS converges to.
    Returns False when a sub-system is not positive definite.
    """
    scale = 0.0
    for i in range(k):
        scale = max(scale, abs(b[i]))
    tol = 1e-12 * max(scale, 1e-300)
    for i in range(k):
        x[i] = 0.0
        passive[i] = False
    for _outer in range(3 * k + 10):
        # Gradient of the objective's negative: w = b - a x; pick the most violated zero.
        best = -1
        best_w = tol
        for i in range(k):
            if passive[i]:
                continue
            w = b[i]
            for j in range(k):
                w -= a[i, j] * x[j]
            if w > best_w:
                best_w = w
                best = i
        if best < 0:
            return True
        passive[best] = True
        for _inner in range(3 * k + 10):
            m = 0
            for i in range(k):
                if passive[i]:
                    where[m] = i
                    m += 1
            for r in range(m):
                sub_b[r] = b[where[r]]
                for c in range(r + 1):
                    sub_a[r, c] = a[where[r], where[c]]
            if not _cholesky_solve(sub_a, sub_b, m, sub_x):
                return False
            for i in range(k):
                s[i] = 0.0
            feasible = True
            for r in range(m):
                s[where[r]] = sub_x[r]
                if sub_x[r] <= 0.0:
                    feasible = False
            if feasible:
                for i in range(k):
                    x[i] = s[i]
                break
            # Step from x towards s until the first passive coordinate hits zero; drop it.
            alpha = 2.0
            hit = -1
            for r in range(m):
                i = where[r]
                if s[i] <= 0.0:
                    gap = x[i] - s[i]
                    step = x[i] / gap if gap > 0.0 else 0.0
                    if step < alpha:
                        alpha = step
                        hit = i
            for i in range(k):
                x[i] += alpha * (s[i] - x[i])
            x[hit] = 0.0
            passive[hit] = False
            for r in range(m):
                i = where[r]
                if passive[i] and x[i] <= 0.0:
                    x[i] = 0.0
                    passive[i] = False
    return True


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _solve_half(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    reg_param: float,
    nonnegative: bool,
    dst: np.ndarray,
) -> int:
    """One ALS half-step: every row r of ``dst`` solves Spark's regularised normal equations.

    (Σ_{j∈row r} y_j y_jᵀ + reg_param·n_r·I) x_r = Σ_j v_rj y_j, with y_j = ``src[j]`` read
    from float32 into float64, solved by Cholesky (or Lawson-Hanson NNLS when
    ``nonnegative``) and stored into ``dst[r]`` as float32. ``indptr``/``indices``/``values``
    are the CSR of the ratings in the orientation of ``dst`` (users for a user step). Rows
    without ratings get zeros (cannot happen for rows built from ratings).

    Returns the number of rows whose system was not positive definite (0 when reg_param > 0).
    """
    n_rows = indptr.shape[0] - 1
    k = src.shape[1]
    n_chunks = (n_rows + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    failed = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        a = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        x = np.empty(k, dtype=np.float64)
        y = np.empty(k, dtype=np.float64)
        full = np.empty((k, k), dtype=np.float64)
        sub_a = np.empty((k, k), dtype=np.float64)
        sub_b = np.empty(k, dtype=np.float64)
        sub_x = np.empty(k, dtype=np.float64)
        passive = np.empty(k, dtype=np.bool_)
        where = np.empty(k, dtype=np.int64)
        s = np.empty(k, dtype=np.float64)
        lo = c * _ROWS_PER_CHUNK
        hi = min(lo + _ROWS_PER_CHUNK, n_rows)
        for r in range(lo, hi):
            start = indptr[r]
            stop = indptr[r + 1]
            if stop == start:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            for i in range(k):
                b[i] = 0.0
                for j in range(k):
                    a[i, j] = 0.0
            for p in range(start, stop):
                col = indices[p]
                v = np.float64(values[p])
                for f in range(k):
                    y[f] = np.float64(src[col, f])
                # Full square (both triangles): the inner loop is contiguous and vectorises.
                for i in range(k):
                    yi = y[i]
                    b[i] += v * yi
                    for j in range(k):
                        a[i, j] += yi * y[j]
            lam = reg_param * np.float64(stop - start)
            for i in range(k):
                a[i, i] += lam
            if nonnegative:
                for i in range(k):
                    for j in range(i + 1):
                        full[i, j] = a[i, j]
                        full[j, i] = a[i, j]
                ok = _nnls(full, b, k, x, sub_a, sub_b, sub_x, passive, where, s)
            else:
                ok = _cholesky_solve(a, b, k, x)
            if not ok:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
                continue
            for f in range(k):
                dst[r, f] = np.float32(x[f])
    return int(failed.sum())


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _gram(src: np.ndarray) -> np.ndarray:
    """YᵀY of the float32 rows of ``src`` in float64 (Spark's ``computeYtY``).

    Rows are split into at most 256 contiguous parts (one partial k×k sum each, parallel),
    then the partial sums are added in part order, so the result does not depend on the
    thread count.
    """
    n = src.shape[0]
    k = src.shape[1]
    n_parts = max(1, min(256, (n + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK))
    parts = np.zeros((n_parts, k, k), dtype=np.float64)
    for c in prange(n_parts):
        y = np.empty(k, dtype=np.float64)
        lo = (n * c) // n_parts
        hi = (n * (c + 1)) // n_parts
        for r in range(lo, hi):
            for f in range(k):
                y[f] = np.float64(src[r, f])
            for i in range(k):
                yi = y[i]
                for j in range(k):
                    parts[c, i, j] += yi * y[j]
    out = np.zeros((k, k), dtype=np.float64)
    for c in range(n_parts):
        for i in range(k):
            for j in range(k):
                out[i, j] += parts[c, i, j]
    return out


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _solve_half_implicit(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    gram: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool,
    dst: np.ndarray,
) -> int:
    """One implicit-feedback ALS half-step, exactly Spark's ``computeFactors(implicitPrefs)``.

    For every row r with entries v_j (ratings as float32, read into float64): confidence
    c_j = 1 + alpha·|v_j|, preference p_j = 1 if v_j > 0 else 0, n_r = number of entries
    with v_j > 0; solve

        (YᵀY + Σ_j (c_j − 1) y_j y_jᵀ + reg_param·n_r·I) x_r = Σ_{j: v_j>0} c_j y_j

    where ``gram`` = YᵀY over every row of ``src`` (all users for an item step). Solved by
    Cholesky (or Lawson-Hanson NNLS with ``nonnegative``), stored as float32. Rows without
    entries get zeros. Returns the number of rows whose system was not positive definite.
    """
    n_rows = indptr.shape[0] - 1
    k = src.shape[1]
    n_chunks = (n_rows + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    failed = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        a = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        x = np.empty(k, dtype=np.float64)
        y = np.empty(k, dtype=np.float64)
        full = np.empty((k, k), dtype=np.float64)
        sub_a = np.empty((k, k), dtype=np.float64)
        sub_b = np.empty(k, dtype=np.float64)
        sub_x = np.empty(k, dtype=np.float64)
        passive = np.empty(k, dtype=np.bool_)
        where = np.empty(k, dtype=np.int64)
        s = np.empty(k, dtype=np.float64)
        lo = c * _ROWS_PER_CHUNK
        hi = min(lo + _ROWS_PER_CHUNK, n_rows)
        for r in range(lo, hi):
            start = indptr[r]
            stop = indptr[r + 1]
            if stop == start:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            for i in range(k):
                b[i] = 0.0
                for j in range(k):
                    a[i, j] = gram[i, j]
            n_pos = 0
            for p in range(start, stop):
                v = np.float64(values[p])
                c1 = alpha * abs(v)
                col = indices[p]
                for f in range(k):
                    y[f] = np.float64(src[col, f])
                if c1 != 0.0:
                    for i in range(k):
                        cyi = c1 * y[i]
                        for j in range(k):
                            a[i, j] += cyi * y[j]
                if v > 0.0:
                    n_pos += 1
                    w = 1.0 + c1
                    for i in range(k):
                        b[i] += w * y[i]
            lam = reg_param * np.float64(n_pos)
            for i in range(k):
                a[i, i] += lam
            if nonnegative:
                for i in range(k):
                    for j in range(i + 1):
                        full[i, j] = a[i, j]
                        full[j, i] = a[i, j]
                ok = _nnls(full, b, k, x, sub_a, sub_b, sub_x, passive, where, s)
            else:
                ok = _cholesky_solve(a, b, k, x)
            if not ok:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
                continue
            for f in range(k):
                dst[r, f] = np.float32(x[f])
    return int(failed.sum())


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _implicit_objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    alpha: float,
) -> tuple[float, float, float]:
    """Observed-entry parts of the implicit objective over a CSR, in float64.

    Returns (Σ_obs [c (p − s)² − s²], Σ_r n_r‖x_r‖², Σ_c n_c‖y_c‖²) with s = x_r·y_c,
    c = 1 + alpha·|v|, p = [v > 0] and n = number of entries with v > 0.
    """
    n_rows = indptr.shape[0] - 1
    k = row_factors.shape[1]
    n_cols = col_factors.shape[0]
    corr = 0.0
    row_pen = 0.0
    for r in prange(n_rows):
        part = 0.0
        n_pos = 0
        for p in range(indptr[r], indptr[r + 1]):
            col = indices[p]
            dot = 0.0
            for f in range(k):
                dot += np.float64(row_factors[r, f]) * np.float64(col_factors[col, f])
            v = np.float64(values[p])
            conf = 1.0 + alpha * abs(v)
            pref = 1.0 if v > 0.0 else 0.0
            e = pref - dot
            part += conf * e * e - dot * dot
            if v > 0.0:
                n_pos += 1
        corr += part
        norm = 0.0
        for f in range(k):
            xf = np.float64(row_factors[r, f])
            norm += xf * xf
        row_pen += np.float64(n_pos) * norm
    counts = np.zeros(n_cols, dtype=np.int64)
    for p in range(indices.shape[0]):
        if values[p] > 0.0:
            counts[indices[p]] += 1
    col_pen = 0.0
    for c in prange(n_cols):
        norm = 0.0
        for f in range(k):
            yf = np.float64(col_factors[c, f])
            norm += yf * yf
        col_pen += np.float64(counts[c]) * norm
    return corr, row_pen, col_pen


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    reg_param: float,
) -> tuple[float, float]:
    """(Σ (v − x_r·y_c)², reg_param·(Σ_r n_r‖x_r‖² + Σ_c n_c‖y_c‖²)) over a CSR, in float64."""
    n_rows = indptr.shape[0] - 1
    k = row_factors.shape[1]
    n_cols = col_factors.shape[0]
    sse = 0.0
    row_pen = 0.0
    for r in prange(n_rows):
        start = indptr[r]
        stop = indptr[r + 1]
        part = 0.0
        for p in range(start, stop):
            col = indices[p]
            dot = 0.0
            for f in range(k):
                dot += np.float64(row_factors[r, f]) * np.float64(col_factors[col, f])
            e = np.float64(values[p]) - dot
            part += e * e
        sse += part
        norm = 0.0
        for f in range(k):
            xf = np.float64(row_factors[r, f])
            norm += xf * xf
        row_pen += np.float64(stop - start) * norm
    counts = np.zeros(n_cols, dtype=np.int64)
    for p in range(indices.shape[0]):
        counts[indices[p]] += 1
    col_pen = 0.0
    for c in prange(n_cols):
        norm = 0.0
        for f in range(k):
            yf = np.float64(col_factors[c, f])
            norm += yf * yf
        col_pen += np.float64(counts[c]) * norm
    return sse, reg_param * (row_pen + col_pen)


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _predict_pairs(
    uidx: np.ndarray,
    iidx: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
) -> np.ndarray:
    """Scores of (user row, item row) pairs; NaN where either index is −1 (cold start).

    score = x_u·y_i summed in float64 in factor order, then ((score + mean) + b_u) + b_i for
    the biased model: the same arithmetic as :func:`top_n`, so predict and recommend agree
    to the last bit.
    """
    n = uidx.shape[0]
    k = user_factors.shape[1]
    out = np.empty(n, dtype=np.float64)
    for t in prange(n):
        u = uidx[t]
        i = iidx[t]
        if u < 0 or i < 0:
            out[t] = np.nan
            continue
        s = 0.0
        for f in range(k):
            s += np.float64(user_factors[u, f]) * np.float64(item_factors[i, f])
        if biased:
            s = s + mean + user_bias[u] + item_bias[i]
        out[t] = s
    return out


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _top_n(
    urows: np.ndarray,
    user_factors: np.ndarray,
    item_factors_t: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
    ex_rows: np.ndarray,
    ex_indptr: np.ndarray,
    ex_items: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``n`` items for each user row in ``urows``, seen items excluded, ties by item row.

    Users are processed in blocks (one parallel task per block, one score buffer per task).
    For each user the scores of all items are a matrix-vector product computed factor by
    factor (``s_j += x_uf · Yt[f, j]``, vectorised over items) in float64 from the float32
    factors: every score is the sequential sum Σ_f x_uf·y_jf, the same arithmetic as the
    Spark engine's scorer, so identical item vectors give identical scores and ties are
    exact. Items of the user's row ``ex_rows[t]`` in the exclusion CSR (``ex_items`` are
    item rows, −1 for items unknown to the model) are set to −inf and never selected.
    Selection keeps a sorted list of the best ``n`` (insertion; an item replaces the worst
    only with a strictly higher score, so among equal scores the lower item row — the
    lower movie id — wins).

    Returns (items int32 [m, n], scores float64 [m, n], counts int64 [m]); a user with
    fewer than ``n`` unseen items gets ``counts < n``.
    """
    m = urows.shape[0]
    k = item_factors_t.shape[0]
    n_items = item_factors_t.shape[1]
    out_items = np.full((m, n), -1, dtype=np.int32)
    out_scores = np.full((m, n), -np.inf, dtype=np.float64)
    counts = np.zeros(m, dtype=np.int64)
    n_blocks = (m + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    for blk in prange(n_blocks):
        s = np.empty(n_items, dtype=np.float64)
        lo = blk * _ROWS_PER_CHUNK
        hi = min(lo + _ROWS_PER_CHUNK, m)
        for t in range(lo, hi):
            u = urows[t]
            for j in range(n_items):
                s[j] = 0.0
            for f in range(k):
                xf = np.float64(user_factors[u, f])
                for j in range(n_items):
                    s[j] = s[j] + xf * item_factors_t[f, j]
            if biased:
                bu = user_bias[u]
                for j in range(n_items):
                    s[j] = s[j] + mean + bu + item_bias[j]
            r = ex_rows[t]
            if r >= 0:
                for p in range(ex_indptr[r], ex_indptr[r + 1]):
                    j = ex_items[p]
                    if j >= 0:
                        s[j] = -np.inf
            cnt = 0
            for j in range(n_items):
                v = s[j]
                if not v > -np.inf:  # excluded (or NaN)
                    continue
                if cnt < n:
                    pos = cnt
                    cnt += 1
                elif v > out_scores[t, n - 1]:
                    pos = n - 1
                else:
                    continue
                while pos > 0 and out_scores[t, pos - 1] < v:
                    out_scores[t, pos] = out_scores[t, pos - 1]
                    out_items[t, pos] = out_items[t, pos - 1]
                    pos -= 1
                out_scores[t, pos] = v
                out_items[t, pos] = j
            counts[t] = cnt
    return out_items, out_scores, counts


def solve_half(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    reg_param: float,
    nonnegative: bool,
    dst: np.ndarray,
) -> int:
    """Thread-safe :func:`_solve_half`: fills ``dst``; returns the count of failed rows."""
    with _LAUNCH_LOCK:
        return int(_solve_half(indptr, indices, values, src, reg_param, nonnegative, dst))


def gram(src: np.ndarray) -> np.ndarray:
    """Thread-safe :func:`_gram`: YᵀY (float64 k×k) of the float32 factor rows ``src``."""
    with _LAUNCH_LOCK:
        out: np.ndarray = _gram(src)
    return out


def solve_half_implicit(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    gram: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool,
    dst: np.ndarray,
) -> int:
    """Thread-safe :func:`_solve_half_implicit`: fills ``dst``; returns the failed-row count."""
    with _LAUNCH_LOCK:
        return int(
            _solve_half_implicit(
                indptr, indices, values, src, gram, reg_param, alpha, nonnegative, dst
            )
        )


def implicit_objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    alpha: float,
) -> tuple[float, float, float]:
    """Thread-safe :func:`_implicit_objective_terms`."""
    with _LAUNCH_LOCK:
        corr, row_pen, col_pen = _implicit_objective_terms(
            indptr, indices, values, row_factors, col_factors, alpha
        )
    return float(corr), float(row_pen), float(col_pen)


def objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    reg_param: float,
) -> tuple[float, float]:
    """Thread-safe :func:`_objective_terms`: (squared error, penalty) in rating units²."""
    with _LAUNCH_LOCK:
        sse, penalty = _objective_terms(
            indptr, indices, values, row_factors, col_factors, reg_param
        )
    return float(sse), float(penalty)


def predict_pairs(
    uidx: np.ndarray,
    iidx: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
) -> np.ndarray:
    """Thread-safe :func:`_predict_pairs`: float64 scores, NaN for index −1."""
    with _LAUNCH_LOCK:
        out: np.ndarray = _predict_pairs(
            uidx, iidx, user_factors, item_factors, mean, user_bias, item_bias, biased
        )
    return out


def top_n(
    urows: np.ndarray,
    user_factors: np.ndarray,
    item_factors_t: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
    ex_rows: np.ndarray,
    ex_indptr: np.ndarray,
    ex_items: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thread-safe :func:`_top_n`: (item rows, scores, counts) per user row."""
    with _LAUNCH_LOCK:
        items, scores, counts = _top_n(
            urows,
            user_factors,
            item_factors_t,
            mean,
            user_bias,
            item_bias,
            biased,
            ex_rows,
            ex_indptr,
            ex_items,
            n,
        )
    return items, scores, counts
