"""numba kernels of the local ALS engine (see :mod:`movierec.engines.local_als`).

Every kernel is compiled with ``cache=True`` (on-disk JIT cache next to this file, or under
``NUMBA_CACHE_DIR`` when the package folder is read-only) and ``error_model="numpy"`` (a
division by zero gives inf/NaN instead of raising, and costs no checks). Kernels run with
``fastmath=False`` except the explicit solve (:func:`_solve_half` and the helpers it calls:
the Gram accumulation, the dual system, the Cholesky solves), which uses only the
``reassoc`` and ``contract`` flags (sums may be reordered into SIMD lanes, a·b + c may
become one fused multiply-add), never the flags that assume no NaN/inf or change
division/sqrt. Its per-row helpers are inlined into it (``inline="always"``; their calls
passed a dozen arrays each, and inlining measured ~60 ns less per one-rating row). Results
are still deterministic for a given machine and independent of the thread count and of how
the rows are split into tasks (every row is computed alone, in a fixed order); they differ
from a strictly sequential float64 sum by rounding only (~1e-16 relative), which the
float32 factors round away (the dual and primal paths gave bit-identical float32 factors
on ml-latest-small; the register-tile kernels below moved single factors by at most one
float32 unit in the last place, 1.5e-7, against the previous ones after a 15-iteration
fit). Factors are passed as float32 (as Spark stores them); every product and sum is
float64.

The hot arithmetic — the Gram matrices' register tiles, the Cholesky strips, the
factor-major gather — is written as small LLVM IR intrinsics (llvmlite, through numba's
``@intrinsic``) on vectors of 4 doubles: numba's auto-vectoriser leaves these loops scalar
(it cannot prove that the rows of one array do not overlap, or does not form register
tiles from scalar code). LLVM lowers the 4-double vectors to whatever the CPU has (AVX2 /
AVX-512: one register; SSE2: two), and ``llvm.fmuladd`` fuses only where FMA exists.
Argument dtypes are fixed by :mod:`movierec.engines.local_als` (indptr int64, indices
int32, values float32, factors float32 C-contiguous) so each kernel compiles once.

Threading: numba's default layer (TBB if installed, else OpenMP, else workqueue) unless the
user sets ``NUMBA_THREADING_LAYER``. Measured on this 2-core machine (ml-latest-small, rank 10,
15 iterations, median of 15 fits): OpenMP 25-26 ms against workqueue 37-41 ms on a quiet
machine (OpenMP's threads wait for the next parallel region briefly before sleeping, so the
30 half-steps of a fit start without wake-up delays); with another process saturating one core
OpenMP was slower (85 ms against 61 ms), and at load 20+ it was 3-5x slower. Quiet machines
are the common case; ``NUMBA_THREADING_LAYER=workqueue`` is the documented choice for
oversubscribed ones.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

log = logging.getLogger(__name__)


_LAUNCH_LOCK = threading.Lock()
"""Serialises parallel kernel launches: the workqueue layer aborts the whole process when two
Python threads (e.g. tuning's thread pool) run parallel kernels at the same time."""

_ROWS_PER_CHUNK = 64
"""Rows (users or items) one parallel task solves; amortises the per-task scratch buffers."""

_DUAL_SMALL = 7
"""Dual rows with at most this many ratings take :func:`_solve_dual` (one dot product per
Gram entry, row-by-row Cholesky); longer dual rows the register tiles (:func:`_gather_cols`,
:func:`_gram_upper`, :func:`_cholesky_solve_upper`). Measured at rank 50 on
ml-latest-small's movies, µs per row on one core: 4-7 ratings 0.31-0.35 this way against
0.39 with the tiles; 8-15 ratings 0.84 (dot products / 4×4 tiles along the factors) against
0.71 with the tiles."""

_CHUNK = 48
"""Ratings of a primal row gathered per pass (:func:`_gather_rows`); a longer row is split
into equal passes of at most this many. 48 × 52 float64 (rank 50) = 20 KiB stays in the L1
cache while the register tiles re-read it: measured 41-43 GFLOP/s per core against 35 for
one pass over 128 ratings."""

_FAST = {"reassoc", "contract"}
"""numba fastmath flags of the hot loops (see the module docstring)."""


def padded_rank(k: int) -> int:
    """Rows of the extended Gram matrix the explicit solve accumulates for rank ``k``.

    Column k carries the ratings (so the right-hand side Σ v·y comes out of the same
    register tiles as Σ y yᵀ); the size is rounded up to a multiple of 4 (the tiles' row
    blocks and vector width), the extra columns zero.
    """
    return ((k + 1 + 3) // 4) * 4


def dual_limit(k: int) -> int:
    """Longest row (in ratings) that :func:`_solve_half` solves through the n×n dual system
    at rank ``k`` (when reg_param > 0 and not nonnegative).

    The measured crossover of CPU time per row, dual vs primal (2 threads, float32 factors
    from 20k rows): rank 4 about 1, rank 10 between 7 and 8, rank 16 about 15, rank 24
    about 28, rank 32 about 35, rank 50 about 52. Re-checked with the register-tile
    kernels on whole ml-latest-small fits: at rank 50 limits of 44 and 52 equal, 36 and
    28 3-5% slower; at rank 10 limits 7 and 10 within noise, 14 slower.
    """
    return max(k - 3, 0) if k <= 16 else k + (k - 16) // 16


def _strip_sums(n: Any, w: Any) -> Any:
    """Σ_{t<s} (w − 4t) over the s = ⌈n/4⌉ row blocks of a width-``w`` upper Gram matrix
    (float64 array): the columns of :func:`_gram_upper`'s 4-row blocks."""
    s = (n + 3) // 4
    return s * w - 2.0 * s * (s - 1)


def _cholesky_flops(n: Any, w: Any) -> Any:
    """Floating-point operations of :func:`_cholesky_solve_upper` on n×n systems of width
    ``w`` (arrays): the register-tile updates of strip t (4 rows × (w − 4t) columns × 4t
    multiply-adds), the strips' own triangular solves (16 per column; a last partial strip
    counted as full), 40 per strip for its 4×4 diagonal block and n² for the back
    substitution."""
    s = (n + 3) // 4
    t1 = np.maximum(s - 1, 0)
    sum_t = t1 * (t1 + 1) / 2.0
    sum_t2 = t1 * (t1 + 1) * (2 * t1 + 1) / 6.0
    tiles = 2.0 * 4 * (4.0 * w * sum_t - 16.0 * sum_t2)
    strips = 16.0 * (_strip_sums(n, w) - 4.0 * s) + 40.0 * s
    return tiles + strips + n * n


def _row_flops(counts: np.ndarray, k: int, dual_max: int) -> np.ndarray:
    """Floating-point operations :func:`_solve_half` executes per row (float64 array).

    ``counts`` = ratings of each row (int64). See :func:`solve_half_flops` for the terms.
    """
    n = counts.astype(np.float64)
    w = float(padded_rank(k))
    kf = float(k)
    primal = 2.0 * 4 * _strip_sums(np.float64(k), w) * n + _cholesky_flops(np.float64(k), w)
    # Dual rows up to _DUAL_SMALL: n(n+1)/2 dot products of length k, a row-by-row
    # Cholesky (n³/3 + 2n²), x = Yᵀz.
    small = 2.0 * n * (n + 1) / 2 * kf + n**3 / 3 + 2 * n**2 + 2 * n * kf
    # Longer dual rows: the n×n upper Gram in register tiles over k, its Cholesky, x = Yᵀz.
    wn = np.floor((n + 1 + 3) / 4) * 4
    dual = 2.0 * 4 * kf * _strip_sums(n, wn) + _cholesky_flops(n, wn) + 2 * n * kf
    dual = np.where(counts <= _DUAL_SMALL, small, dual)
    out = np.where(counts <= dual_max, dual, primal)
    return np.where(counts > 0, out, 0.0)


def solve_half_flops(row_counts: np.ndarray, k: int, dual: bool = True) -> dict[str, float]:
    """Floating-point operations of one :func:`solve_half` call (2 per multiply-add).

    ``row_counts`` holds the number of ratings of every row being solved; ``dual`` says
    whether short rows take the dual path (reg_param > 0 and not nonnegative). Returns
    ``executed``, what the kernel really computes:

    - rows with n ≤ :func:`dual_limit` (k) ratings (``dual``): up to ``_DUAL_SMALL``
      ratings the lower triangle of the n×n dual Gram matrix (n(n+1)/2·k multiply-adds),
      its Cholesky solve (n³/3 + 2n²) and x = Yᵀz (n·k); longer dual rows the upper n×n
      Gram matrix in 4-row register tiles (k multiply-adds per entry of rows i < n, columns
      from the row block's first column to n + 1 rounded up to 4, the right-hand side's
      column included), the blocked Cholesky solve of :func:`_cholesky_solve_upper` (see
      :func:`_cholesky_flops`) and x = Yᵀz;
    - other rows: per rating every entry of the upper extended Gram matrix the register
      tiles compute — for each 4-row block i0 < k the columns i0 … ``padded_rank(k)``,
      i.e. 4·Σ(w − i0) multiply-adds (rank 10: 96, rank 50: 1456; the right-hand side and
      the lower halves of the 4×4 diagonal blocks included) — and per row the blocked
      Cholesky solve;

    and ``useful``, the minimum of a symmetric primal solve (k(k+1)/2 + k multiply-adds per
    rating plus k³/3 + 2k² + k per row) — the dual path can do less than that.
    """
    counts = np.asarray(row_counts, dtype=np.int64)
    counts = counts[counts > 0]
    per_row = k**3 / 3 + 2 * k**2 + k
    executed = float(np.sum(_row_flops(counts, k, dual_limit(k) if dual else 0)))
    useful = 2.0 * int(counts.sum()) * (k * (k + 1) // 2 + k) + len(counts) * per_row
    return {"executed": executed, "useful": useful}


_ROW_OVERHEAD_FLOPS = 1500.0
"""Fixed cost of a row in FLOP-equivalents (loop set-up, writing the result), used only to
balance the parallel tasks (:func:`_row_cost`)."""


def _row_cost(counts: np.ndarray, k: int, dual_max: int) -> np.ndarray:
    """Time of each row in FLOP-equivalents, to balance the parallel tasks (float64).

    :func:`_row_flops` plus what FLOPs miss, fitted to single-thread times per row on
    ml-latest-small at rank 10 and 50 (rows of 1 to 600 ratings, within ±25%):
    ``_ROW_OVERHEAD_FLOPS`` per row; 40 per factor a dual row reads; 40·w per 4-row strip
    of a blocked Cholesky of width w (its 4×4 diagonal block is a chain of square roots and
    divisions, its columns a short loop); and the primal Gram's FLOPs × √(52/w) below rank
    51 (narrow tiles: 17 GFLOP/s per core at rank 10 against 40 at rank 50).
    """
    n = counts.astype(np.float64)
    w = float(padded_rank(k))
    flops = _row_flops(counts, k, dual_max)
    slow = max(1.0, math.sqrt(52.0 / w))
    gram = 2.0 * 4 * _strip_sums(np.float64(k), w) * n
    wn = np.floor((n + 1 + 3) / 4) * 4
    primal = flops + (slow - 1.0) * gram + 40.0 * w * ((k + 3) // 4)
    dual = flops + 40.0 * n * k + np.where(counts <= _DUAL_SMALL, 0.0, 40.0 * wn * np.ceil(n / 4))
    out = np.where(counts <= dual_max, dual, primal)
    return np.where(counts > 0, out + _ROW_OVERHEAD_FLOPS, _ROW_OVERHEAD_FLOPS)


def plan_half(
    indptr: np.ndarray, k: int, reg_param: float, nonnegative: bool, n_tasks: int = 0
) -> tuple[np.ndarray, int]:
    """Task bounds and dual limit for :func:`solve_half` on the CSR with row pointer ``indptr``.

    The rows are cut into ``n_tasks`` contiguous ranges (default: numba's thread count)
    of about equal work (:func:`_row_cost`): numba hands every
    thread an equal share of the parallel loop up front, so equal work per task is what
    keeps both cores busy. Depends only on the row lengths, so a fit plans once. Returns
    (bounds int64 of n_tasks + 1, dual_max).
    """
    counts = np.diff(np.asarray(indptr, dtype=np.int64))
    dual_max = dual_limit(k) if reg_param > 0 and not nonnegative else 0
    n_tasks = n_tasks if n_tasks > 0 else int(numba.get_num_threads())
    cost = np.cumsum(_row_cost(counts, k, dual_max))
    total = float(cost[-1]) if len(cost) else 0.0
    targets = total * np.arange(1, n_tasks, dtype=np.float64) / n_tasks
    cuts = np.minimum(np.searchsorted(cost, targets, side="left") + 1, len(counts))
    bounds = np.concatenate([[0], cuts, [len(counts)]]).astype(np.int64)
    return bounds, dual_max


@njit(cache=True, fastmath=False, error_model="numpy")
def csr_order(
    row_keys: np.ndarray, col_keys: np.ndarray, n_rows: int, n_cols: int, perm: np.ndarray
) -> np.ndarray:
    """Order of the entries by (row key, column key), stably, as an LSD counting sort.

    ``row_keys``/``col_keys`` are int32 in [0, n_rows) / [0, n_cols). Fills ``perm``
    (preallocated, int32 when there are fewer than 2^31 entries, else int64) so that entry
    ``perm[q]`` is the q-th in (row, column, input position) order, and returns the row
    pointer (int64, n_rows + 1). Transient memory: one array like ``perm`` plus the counts.
    """
    n = row_keys.shape[0]
    by_col = np.empty_like(perm)
    ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for p in range(n):
        ptr[col_keys[p] + 1] += 1
    for c in range(n_cols):
        ptr[c + 1] += ptr[c]
    for p in range(n):
        c = col_keys[p]
        by_col[ptr[c]] = p
        ptr[c] += 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for p in range(n):
        indptr[row_keys[p] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    nxt = indptr[:-1].copy()
    for q in range(n):
        p = by_col[q]
        r = row_keys[p]
        perm[nxt[r]] = p
        nxt[r] += 1
    return indptr


@njit(cache=True, fastmath=False, error_model="numpy")
def gather_f32(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """``values[perm]`` rounded to float32, without a float64 intermediate copy."""
    out = np.empty(perm.shape[0], dtype=np.float32)
    for q in range(perm.shape[0]):
        out[q] = np.float32(values[perm[q]])
    return out


@njit(cache=True, fastmath=False, error_model="numpy")
def transpose_csr(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_cols: int, from_csr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSC of a CSR (rows ascending within each column), in one counting pass.

    Returns (indptr int64 of n_cols + 1, row indices int32, values float32) and fills
    ``from_csr`` (preallocated) with the CSR position of every CSC entry.
    """
    n_rows = indptr.shape[0] - 1
    n = indices.shape[0]
    ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for p in range(n):
        ptr[indices[p] + 1] += 1
    for c in range(n_cols):
        ptr[c + 1] += ptr[c]
    nxt = ptr[:-1].copy()
    rows = np.empty(n, dtype=np.int32)
    vals = np.empty(n, dtype=np.float32)
    for r in range(n_rows):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            q = nxt[c]
            rows[q] = r
            vals[q] = values[p]
            from_csr[q] = p
            nxt[c] = q + 1
    return ptr, rows, vals


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _cholesky_solve(a: np.ndarray, b: np.ndarray, m: int, x: np.ndarray) -> bool:
    """Solve ``a[:m, :m] x = b[:m]`` for symmetric positive definite ``a`` (lower triangle read).

    ``a`` is overwritten by its Cholesky factor L (lower, with 1/L_jj on the diagonal).
    Returns False when ``a`` is not positive definite (x is then undefined). The dot
    products run in SIMD lanes (``reassoc``): 1.7x faster than a sequential sum at k = 50.
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


@intrinsic
def _prefetch(typingctx: Any, arr: Any, i: Any, j: Any) -> Any:
    """Hint the CPU to fetch the cache line of 2-D ``arr[i, j]`` (``llvm.prefetch``, read,
    keep in all cache levels). No effect on results; an out-of-range address is harmless
    (a prefetch never faults), but callers only pass valid indices."""
    sig = types.void(arr, i, j)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [
            context.cast(builder, args[1], signature.args[1], types.intp),
            context.cast(builder, args[2], signature.args[2], types.intp),
        ]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(fn, [builder.bitcast(ptr, i8p), *flags])
        return context.get_dummy_value()

    return sig, codegen


_PREFETCH_MIN_RANK = 32
"""Prefetch the factor row 8 ratings ahead while gathering (:func:`_gather_rows`) from
this rank on, when the fixed factors exceed ``_PREFETCH_MIN_BYTES``: measured with the
earlier 8-rating gather, 1.2-1.3x faster gather + Gram at rank 50 from 32 MB of factors,
1% slower from 1.6 MB, and slower at rank 10 (40-byte rows, which the hardware fetches
fast enough); with :func:`_gather_rows`, whole ml-latest-small fits at rank 50 were the
same with and without it (1.6 MB of factors)."""

_PREFETCH_MIN_BYTES = 4 << 20


# --- explicit-SIMD register tiles (upper storage) --------------------------------------------

_V = 4
"""Doubles per SIMD vector of the intrinsics below (256 bits; a CPU without AVX runs each
vector operation as two 128-bit ones, same results)."""


def _vector_helpers(builder: Any) -> tuple[Any, Any, Any]:
    """(4-double vector type, splat(x), muladd(p, q, r) = p·q + r) for the intrinsics' IR;
    ``llvm.fmuladd`` becomes one fused multiply-add where the CPU has FMA."""
    vec = ir.VectorType(ir.DoubleType(), _V)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fmuladd.v4f64"
    )
    undef = ir.Constant(vec, ir.Undefined)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), _V), [0] * _V)

    def splat(x: Any) -> Any:
        lane0 = builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(lane0, undef, mask)

    def muladd(p: Any, q: Any, r: Any) -> Any:
        return builder.call(fma, [p, q, r])

    return vec, splat, muladd


def _vector_at(context: Any, builder: Any, aryty: Any, ary: Any, i: Any, j: Any) -> Any:
    """Pointer to the 4 doubles ary[i, j:j+4] (C-contiguous 2-D float64, no bounds check)."""
    ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i, j], wraparound=False)
    return builder.bitcast(ptr, ir.VectorType(ir.DoubleType(), _V).as_pointer())


def _plus(builder: Any, base: Any, n: int) -> Any:
    return builder.add(base, ir.Constant(base.type, n))


def _make_tile(n_vec: int) -> Any:
    """numba intrinsic ``tile(y, m, i0, j0, a, mode)`` for a 4 × (4·n_vec) register tile.

    For r < 4 and j0 <= c < j0 + 4·n_vec it computes s[r, c] = Σ_{b<m} y[b, i0+r]·y[b, c]
    (float64, in the order b = 0, 1, …, one fused multiply-add where the CPU has them) and
    then sets ``a[i0+r, c]`` to s (``mode`` 0), a + s (1) or a − s (2). The 4·n_vec sums of
    a row are kept in n_vec vectors, each multiply-add takes one broadcast y[b, i0+r] and one
    vector load y[b, c:c+4], so no horizontal sum is needed (the engine's earlier 4×4 tiles
    reduced along b and paid one per sum). numba's vectoriser does not form these tiles
    from scalar code (measured: 8 GFLOP/s scalar against 50+ here, one core). No bounds
    checks: callers keep every index inside ``y`` and ``a`` (float64, C-contiguous 2-D).
    """

    @intrinsic
    def tile(typingctx: Any, y: Any, m: Any, i0: Any, j0: Any, a: Any, mode: Any) -> Any:
        sig = types.void(y, m, i0, j0, a, mode)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            yty, mty, i0ty, j0ty, aty, modety = signature.args
            yary = context.make_array(yty)(context, builder, args[0])
            aary = context.make_array(aty)(context, builder, args[4])
            intp = context.get_value_type(types.intp)
            m_ = context.cast(builder, args[1], mty, types.intp)
            i0_ = context.cast(builder, args[2], i0ty, types.intp)
            j0_ = context.cast(builder, args[3], j0ty, types.intp)
            mode_ = context.cast(builder, args[5], modety, types.intp)
            vec, splat, muladd = _vector_helpers(builder)
            zero = ir.Constant(vec, [0.0] * _V)
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(n_vec)] for _ in "abcd"]
            with cgutils.for_range(builder, m_, intp=intp) as loop:
                b = loop.index
                z = [
                    builder.load(
                        _vector_at(context, builder, yty, yary, b, _plus(builder, j0_, _V * c)),
                        align=8,
                    )
                    for c in range(n_vec)
                ]
                for r in range(4):
                    ptr = cgutils.get_item_pointer(
                        context, builder, yty, yary, [b, _plus(builder, i0_, r)], wraparound=False
                    )
                    x = splat(builder.load(ptr))
                    for c in range(n_vec):
                        builder.store(muladd(x, z[c], builder.load(acc[r][c])), acc[r][c])
            add = builder.icmp_signed("==", mode_, ir.Constant(intp, 1))
            sub = builder.icmp_signed("==", mode_, ir.Constant(intp, 2))
            for r in range(4):
                for c in range(n_vec):
                    ptr = _vector_at(
                        context,
                        builder,
                        aty,
                        aary,
                        _plus(builder, i0_, r),
                        _plus(builder, j0_, _V * c),
                    )
                    s = builder.load(acc[r][c])
                    old = builder.load(ptr, align=8)
                    new = builder.select(sub, builder.fsub(old, s), s)
                    builder.store(builder.select(add, builder.fadd(old, s), new), ptr, align=8)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile_4x12 = _make_tile(3)
_tile_4x8 = _make_tile(2)
_tile_4x4 = _make_tile(1)


@intrinsic
def _strip_solve4(typingctx: Any, a: Any, j0: Any, c: Any, inv: Any, u: Any) -> Any:
    """Columns c … c+3 of the 4-row strip j0 of :func:`_cholesky_solve_upper`, as vectors:
    v0 = a[j0]·i0, v1 = (a[j0+1] − u01·v0)·i1, v2 = (a[j0+2] − u02·v0 − u12·v1)·i2,
    v3 = (a[j0+3] − u03·v0 − u13·v1 − u23·v2)·i3, stored back; ``inv`` = (i0, i1, i2, i3)
    and ``u`` = (u01, u02, u03, u12, u13, u23) are float64 tuples."""
    sig = types.void(a, j0, c, inv, u)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aty, j0ty, cty = signature.args[:3]
        ary = context.make_array(aty)(context, builder, args[0])
        j0_ = context.cast(builder, args[1], j0ty, types.intp)
        c_ = context.cast(builder, args[2], cty, types.intp)
        _, splat, muladd = _vector_helpers(builder)
        iv = [splat(builder.extract_value(args[3], r)) for r in range(4)]
        uv = [builder.fneg(splat(builder.extract_value(args[4], q))) for q in range(6)]
        ptrs = [
            _vector_at(context, builder, aty, ary, _plus(builder, j0_, r), c_) for r in range(4)
        ]
        a0, a1, a2, a3 = (builder.load(p, align=8) for p in ptrs)
        v0 = builder.fmul(a0, iv[0])
        v1 = builder.fmul(muladd(uv[0], v0, a1), iv[1])
        v2 = builder.fmul(muladd(uv[3], v1, muladd(uv[1], v0, a2)), iv[2])
        v3 = builder.fmul(muladd(uv[5], v2, muladd(uv[4], v1, muladd(uv[2], v0, a3))), iv[3])
        for p, v in zip(ptrs, (v0, v1, v2, v3), strict=True):
            builder.store(v, p, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _muladd4(typingctx: Any, y: Any, yi: Any, x: Any, xi: Any, xj: Any, s: Any) -> Any:
    """y[yi, 0:4] += x[xi, xj:xj+4] · s lane by lane (one vector multiply-add; ``s`` a tuple
    of 4 float64)."""
    sig = types.void(y, yi, x, xi, xj, s)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        yty, yity, xty, xity, xjty = signature.args[:5]
        yary = context.make_array(yty)(context, builder, args[0])
        xary = context.make_array(xty)(context, builder, args[2])
        yi_ = context.cast(builder, args[1], yity, types.intp)
        xi_ = context.cast(builder, args[3], xity, types.intp)
        xj_ = context.cast(builder, args[4], xjty, types.intp)
        vec, _, muladd = _vector_helpers(builder)
        sv = ir.Constant(vec, ir.Undefined)
        for lane in range(_V):
            value = builder.extract_value(args[5], lane)
            sv = builder.insert_element(sv, value, ir.Constant(ir.IntType(32), lane))
        yp = _vector_at(context, builder, yty, yary, yi_, ir.Constant(yi_.type, 0))
        xv = builder.load(_vector_at(context, builder, xty, xary, xi_, xj_), align=8)
        builder.store(muladd(xv, sv, builder.load(yp, align=8)), yp, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _block_row(y: np.ndarray, m: int, i0: int, c0: int, c1: int, a: np.ndarray, mode: int) -> None:
    """a[i0:i0+4, c0:c1] (mode 0: =, 1: +=, 2: −=) Σ_{b<m} y[b, i0:i0+4]ᵀ y[b, c0:c1], as
    4×12 register tiles and one 4×8 or 4×4 tile for the rest (c1 − c0 a multiple of 4)."""
    c = c0
    while c + 12 <= c1:
        _tile_4x12(y, m, i0, c, a, mode)
        c += 12
    if c + 8 <= c1:
        _tile_4x8(y, m, i0, c, a, mode)
        c += 8
    if c < c1:
        _tile_4x4(y, m, i0, c, a, mode)


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _gram_upper(y: np.ndarray, m: int, rows: int, w: int, a: np.ndarray, mode: int) -> None:
    """Upper storage of Σ_{b<m} y[b]ᵀ y[b]: for every 4-row block i0 < ``rows`` the entries
    a[i0:i0+4, i0:w] (mode as :func:`_block_row`; the lower half of each 4×4 diagonal block
    is computed too and ignored by the callers). ``w`` is a multiple of 4 ≤ y's columns."""
    for i0 in range(0, rows, 4):
        _block_row(y, m, i0, i0, w, a, mode)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _cholesky_solve_upper(
    a: np.ndarray, n: int, w: int, x: np.ndarray, dinv: np.ndarray, tv: np.ndarray
) -> bool:
    """Solve the SPD system A x = b held as upper storage ``a[:n, :n]`` with b in column n.

    ``w`` (n + 1 rounded up to 4) columns are in use, those past n finite (zeros). ``a`` is
    overwritten: rows < n by the Cholesky factor U (A = UᵀU; diagonal not stored — 1/U_jj
    goes to ``dinv``) and column n by y = U⁻ᵀb, so the forward substitution comes out of the
    factorisation itself; x[:n] = U⁻¹y by back substitution, 4 rows at a time. Blocked
    left-looking by rows of 4: each 4-row strip first takes the update −Σ_{p<J} U[p]ᵀU[p]
    from the finished rows as register tiles (:func:`_block_row`), then its 4×4 diagonal
    block is factorised in scalars and the strip's columns solved with it in one SIMD pass.
    Measured against the previous row-by-row Crout kernel (with the extended matrix copied
    in): 2.4 against 4.6 µs at n = 50, 0.4 against 0.8 µs at n = 17. Returns False when A is
    not positive definite (x is then undefined).
    """
    for j0 in range(0, n, 4):
        if j0 > 0:
            _block_row(a, j0, j0, j0, w, a, 2)
        if j0 + 4 <= n:
            # The 4×4 diagonal block as LDLᵀ first (a chain of three divisions), then
            # U = D^½Lᵀ: its four square roots no longer wait for one another.
            d0 = a[j0, j0]
            if not d0 > 0.0:
                return False
            r0 = 1.0 / d0
            a01 = a[j0, j0 + 1]
            a02 = a[j0, j0 + 2]
            a03 = a[j0, j0 + 3]
            d1 = a[j0 + 1, j0 + 1] - a01 * a01 * r0
            if not d1 > 0.0:
                return False
            r1 = 1.0 / d1
            e12 = a[j0 + 1, j0 + 2] - a01 * a02 * r0
            e13 = a[j0 + 1, j0 + 3] - a01 * a03 * r0
            d2 = a[j0 + 2, j0 + 2] - a02 * a02 * r0 - e12 * e12 * r1
            if not d2 > 0.0:
                return False
            r2 = 1.0 / d2
            e23 = a[j0 + 2, j0 + 3] - a02 * a03 * r0 - e12 * e13 * r1
            d3 = a[j0 + 3, j0 + 3] - a03 * a03 * r0 - e13 * e13 * r1 - e23 * e23 * r2
            if not d3 > 0.0:
                return False
            i0 = math.sqrt(r0)
            i1 = math.sqrt(r1)
            i2 = math.sqrt(r2)
            i3 = 1.0 / math.sqrt(d3)
            u01 = a01 * i0
            u02 = a02 * i0
            u03 = a03 * i0
            u12 = e12 * i1
            u13 = e13 * i1
            u23 = e23 * i2
            dinv[j0] = i0
            dinv[j0 + 1] = i1
            dinv[j0 + 2] = i2
            dinv[j0 + 3] = i3
            a[j0, j0 + 1] = u01
            a[j0, j0 + 2] = u02
            a[j0, j0 + 3] = u03
            a[j0 + 1, j0 + 2] = u12
            a[j0 + 1, j0 + 3] = u13
            a[j0 + 2, j0 + 3] = u23
            invs = (i0, i1, i2, i3)
            us = (u01, u02, u03, u12, u13, u23)
            for c in range(j0 + 4, w, 4):
                _strip_solve4(a, j0, c, invs, us)  # type: ignore[call-arg]
        else:  # the last 1-3 rows, one at a time
            for row in range(j0, n):
                for q in range(j0, row):
                    u = a[q, row]
                    for c in range(row, w):
                        a[row, c] -= u * a[q, c]
                d = a[row, row]
                if not d > 0.0:
                    return False
                inv = 1.0 / math.sqrt(d)
                dinv[row] = inv
                for c in range(row + 1, w):
                    a[row, c] *= inv
    # Back substitution U x = y, from the bottom. The partial strip's rows one by one;
    # then whole strips: once x[j0:j0+4] is known, every row p above takes its share
    # U[p, j0:j0+4]·x[j0:j0+4] as four lanes added to tv[p] (one SIMD multiply-add, no
    # horizontal sum), so a strip's own solve waits only for the sum of its 4 lanes.
    top = (n // 4) * 4
    for p in range(top):
        tv[p, 0] = 0.0
        tv[p, 1] = 0.0
        tv[p, 2] = 0.0
        tv[p, 3] = 0.0
    for i in range(n - 1, top - 1, -1):
        t = a[i, n]
        for j in range(i + 1, n):
            t -= a[i, j] * x[j]
        xi = t * dinv[i]
        x[i] = xi
        for p in range(top):
            tv[p, i - top] += a[p, i] * xi
    for j0 in range(top - 4, -1, -4):
        t0 = a[j0, n] - (tv[j0, 0] + tv[j0, 1] + tv[j0, 2] + tv[j0, 3])
        t1 = a[j0 + 1, n] - (tv[j0 + 1, 0] + tv[j0 + 1, 1] + tv[j0 + 1, 2] + tv[j0 + 1, 3])
        t2 = a[j0 + 2, n] - (tv[j0 + 2, 0] + tv[j0 + 2, 1] + tv[j0 + 2, 2] + tv[j0 + 2, 3])
        t3 = a[j0 + 3, n] - (tv[j0 + 3, 0] + tv[j0 + 3, 1] + tv[j0 + 3, 2] + tv[j0 + 3, 3])
        x3 = t3 * dinv[j0 + 3]
        x2 = (t2 - a[j0 + 2, j0 + 3] * x3) * dinv[j0 + 2]
        x1 = (t1 - a[j0 + 1, j0 + 2] * x2 - a[j0 + 1, j0 + 3] * x3) * dinv[j0 + 1]
        x0 = (t0 - a[j0, j0 + 1] * x1 - a[j0, j0 + 2] * x2 - a[j0, j0 + 3] * x3) * dinv[j0]
        x[j0] = x0
        x[j0 + 1] = x1
        x[j0 + 2] = x2
        x[j0 + 3] = x3
        xs = (x0, x1, x2, x3)
        for p in range(j0):
            _muladd4(tv, p, a, p, j0, xs)  # type: ignore[call-arg]
    return True


@intrinsic
def _transpose4(typingctx: Any, src: Any, rows: Any, f: Any, yt: Any, t: Any) -> Any:
    """yt[f+r, t+i] = float64(src[rows[i], f+r]) for r, i < 4: four float32 factor rows'
    entries f … f+3 loaded as vectors, widened and transposed in registers (8 shuffles), so
    the factor-major gather of :func:`_gather_cols` stores whole vectors instead of single
    doubles. ``rows`` is a tuple of 4 integers; no bounds checks."""
    sig = types.void(src, rows, f, yt, t)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        sty, rty, fty, yty, tty = signature.args
        sary = context.make_array(sty)(context, builder, args[0])
        yary = context.make_array(yty)(context, builder, args[3])
        f_ = context.cast(builder, args[2], fty, types.intp)
        t_ = context.cast(builder, args[4], tty, types.intp)
        f4 = ir.VectorType(ir.FloatType(), _V)
        vec = ir.VectorType(ir.DoubleType(), _V)
        i32 = ir.IntType(32)
        loaded = []
        for i in range(4):
            row = context.cast(builder, builder.extract_value(args[1], i), rty[i], types.intp)
            ptr = cgutils.get_item_pointer(context, builder, sty, sary, [row, f_], wraparound=False)
            four = builder.load(builder.bitcast(ptr, f4.as_pointer()), align=4)
            loaded.append(builder.fpext(four, vec))

        def shuf(p: Any, q: Any, mask: list[int]) -> Any:
            return builder.shuffle_vector(p, q, ir.Constant(ir.VectorType(i32, _V), mask))

        a0 = shuf(loaded[0], loaded[1], [0, 4, 2, 6])
        a1 = shuf(loaded[0], loaded[1], [1, 5, 3, 7])
        a2 = shuf(loaded[2], loaded[3], [0, 4, 2, 6])
        a3 = shuf(loaded[2], loaded[3], [1, 5, 3, 7])
        cols = [
            shuf(a0, a2, [0, 1, 4, 5]),
            shuf(a1, a3, [0, 1, 4, 5]),
            shuf(a0, a2, [2, 3, 6, 7]),
            shuf(a1, a3, [2, 3, 6, 7]),
        ]
        for r in range(4):
            fr = builder.add(f_, ir.Constant(f_.type, r))
            ptr = cgutils.get_item_pointer(context, builder, yty, yary, [fr, t_], wraparound=False)
            builder.store(cols[r], builder.bitcast(ptr, vec.as_pointer()), align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_cols(
    indices: np.ndarray, values: np.ndarray, src: np.ndarray, start: int, n: int, yt: np.ndarray
) -> None:
    """yt[:k, t] = src[indices[start + t]] and yt[k, t] = values[start + t] (float64), t < n:
    one rating per column (the factor-major layout of the dual Gram's register tiles). Four
    ratings × four factors at a time through :func:`_transpose4`, the rest one by one."""
    k = src.shape[1]
    k4 = (k // 4) * 4
    t = 0
    while t + 4 <= n:
        rows = (
            indices[start + t],
            indices[start + t + 1],
            indices[start + t + 2],
            indices[start + t + 3],
        )
        for f in range(0, k4, 4):
            _transpose4(src, rows, f, yt, t)  # type: ignore[call-arg]
        for u in range(4):
            col = indices[start + t + u]
            for f in range(k4, k):
                yt[f, t + u] = np.float64(src[col, f])
            yt[k, t + u] = np.float64(values[start + t + u])
        t += 4
    while t < n:
        col = indices[start + t]
        for f in range(k):
            yt[f, t] = np.float64(src[col, f])
        yt[k, t] = np.float64(values[start + t])
        t += 1


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_rows(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    p0: int,
    m: int,
    stop: int,
    y: np.ndarray,
    ahead: bool,
) -> None:
    """y[t, :k] = src[indices[p0 + t]] and y[t, k] = values[p0 + t] (float64), t < m: one
    rating per row, its factors contiguous (columns past k are left as they are). With
    ``ahead`` the factor row of the rating 8 places on (up to ``stop``) is prefetched."""
    k = src.shape[1]
    for t in range(m):
        p = p0 + t
        if ahead and p + 8 < stop:
            cn = indices[p + 8]
            for f in range(0, k, 16):
                _prefetch(src, cn, f)  # type: ignore[call-arg]
            _prefetch(src, cn, k - 1)  # type: ignore[call-arg]
        col = indices[p]
        for f in range(k):
            y[t, f] = np.float64(src[col, f])
        y[t, k] = np.float64(values[p])


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _solve_dual(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    start: int,
    n: int,
    lam: float,
    yd: np.ndarray,
    g: np.ndarray,
    v: np.ndarray,
    z: np.ndarray,
    x: np.ndarray,
) -> bool:
    """x = (YᵀY + lam·I)⁻¹ Yᵀv through the n×n dual system (lam > 0).

    Y (n×k) holds the row's factor vectors ``src[indices[start:start+n]]`` and v its
    ratings; with lam > 0 the identity (YᵀY + lam·I)⁻¹Yᵀ = Yᵀ(YYᵀ + lam·I)⁻¹ gives the
    same minimiser as the k×k normal equations from an n×n Cholesky solve (z) and x = Yᵀz:
    O(n²k + n³) work instead of O(nk² + k³), less when n is below about k
    (:func:`dual_limit`). YYᵀ takes one dot product per lower-triangle entry and
    :func:`_cholesky_solve` solves it row by row — for these few ratings (at most
    ``_DUAL_SMALL``, the only rows :func:`_solve_half` sends here) faster than the register
    tiles' fixed costs. ``yd`` (≥ n rows, k columns), ``g``, ``v``, ``z`` are scratch.
    Returns False when the system is not positive definite.
    """
    k = src.shape[1]
    if n == 1:  # a third of the movies: x = v·y / (y·y + lam), no copies
        col = indices[start]
        acc = 0.0
        for f in range(k):
            acc += np.float64(src[col, f]) * np.float64(src[col, f])
        scale = np.float64(values[start]) / (acc + lam)
        for f in range(k):
            x[f] = scale * np.float64(src[col, f])
        return True
    for t in range(n):
        col = indices[start + t]
        for f in range(k):
            yd[t, f] = np.float64(src[col, f])
        v[t] = np.float64(values[start + t])
    for i in range(n):
        for j in range(i + 1):
            acc = 0.0
            for f in range(k):
                acc += yd[i, f] * yd[j, f]
            g[i, j] = acc
    for i in range(n):
        g[i, i] += lam
    if not _cholesky_solve(g, v, n, z):
        return False
    for f in range(k):
        x[f] = 0.0
    for t in range(n):
        zt = z[t]
        for f in range(k):
            x[f] += zt * yd[t, f]
    return True


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def _solve_half(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    reg_param: float,
    nonnegative: bool,
    dst: np.ndarray,
    bounds: np.ndarray,
    dual_max: int,
    ahead: bool,
) -> int:
    """One ALS half-step: every row r of ``dst`` solves Spark's regularised normal equations.

    (Σ_{j∈row r} y_j y_jᵀ + reg_param·n_r·I) x_r = Σ_j v_rj y_j, with y_j = ``src[j]`` read
    from float32 into float64, solved by Cholesky (or Lawson-Hanson NNLS when
    ``nonnegative``) and stored into ``dst[r]`` as float32. ``indptr``/``indices``/``values``
    are the CSR of the ratings in the orientation of ``dst`` (users for a user step). Rows
    without ratings get zeros (cannot happen for rows built from ratings).

    ``bounds`` (int64, ascending, from 0 to the number of rows) splits the rows into
    contiguous parallel tasks (:func:`plan_half` balances their work). Rows with at most
    ``dual_max`` ratings take the n×n dual system (the caller passes 0 when reg_param = 0
    or ``nonnegative``): up to ``_DUAL_SMALL`` ratings :func:`_solve_dual`, above it the
    ratings' factor vectors gathered as columns (:func:`_gather_cols`), their n×n Gram matrix
    as register tiles and :func:`_cholesky_solve_upper`. The other rows gather their
    ratings as rows of [y_j, v_j] (:func:`_gather_rows`, with prefetching when ``ahead``),
    up to ``_CHUNK`` at a time, and accumulate the upper half of the extended Gram matrix
    Σ (y, v)ᵀ(y, v) — column k is the right-hand side — in register tiles
    (:func:`_gram_upper`); :func:`_cholesky_solve_upper` then solves it in place.
    :func:`solve_half_flops` counts the work.

    Returns the number of rows whose system was not positive definite (0 when reg_param > 0).
    """
    k = src.shape[1]
    w = ((k + 1 + 3) // 4) * 4
    dw = ((dual_max + 1 + 3) // 4) * 4
    side = max(w, dw)
    small = max(1, min(dual_max, _DUAL_SMALL))
    n_tasks = bounds.shape[0] - 1
    failed = np.zeros(n_tasks, dtype=np.int64)
    for c in prange(n_tasks):
        a = np.zeros((side, side), dtype=np.float64)
        y = np.zeros((_CHUNK, w), dtype=np.float64)
        # +4 columns: a row stride that is a multiple of 512 bytes would put the rows one
        # tile reads together into the same L1 cache sets.
        yt = np.zeros((k + 1, dw + 4), dtype=np.float64)
        x = np.zeros(side, dtype=np.float64)
        zd = np.zeros(side, dtype=np.float64)
        dinv = np.empty(side, dtype=np.float64)
        tv = np.empty((side, 4), dtype=np.float64)
        yd = np.empty((small, k), dtype=np.float64)
        g = np.empty((small, small), dtype=np.float64)
        v = np.empty(small, dtype=np.float64)
        z = np.empty(small, dtype=np.float64)
        full = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        sub_a = np.empty((k, k), dtype=np.float64)
        sub_b = np.empty(k, dtype=np.float64)
        sub_x = np.empty(k, dtype=np.float64)
        passive = np.empty(k, dtype=np.bool_)
        where = np.empty(k, dtype=np.int64)
        s = np.empty(k, dtype=np.float64)
        for r in range(bounds[c], bounds[c + 1]):
            start = indptr[r]
            stop = indptr[r + 1]
            n = stop - start
            if n == 0:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            lam = reg_param * np.float64(n)
            if n <= dual_max:
                if n <= _DUAL_SMALL:
                    ok = _solve_dual(indices, values, src, start, n, lam, yd, g, v, z, x)
                else:
                    wn = ((n + 1 + 3) // 4) * 4
                    _gather_cols(indices, values, src, start, n, yt)
                    for f in range(k):
                        for t in range(n, wn):
                            yt[f, t] = 0.0
                    _gram_upper(yt, k, n, wn, a, 0)
                    for i in range(n):
                        a[i, i] += lam
                        a[i, n] = yt[k, i]
                    ok = _cholesky_solve_upper(a, n, wn, zd, dinv, tv)
                    if ok:  # x = Yᵀz, from the factor rows again (contiguous, still cached)
                        for f in range(k):
                            x[f] = 0.0
                        for t in range(n):
                            zt = zd[t]
                            col = indices[start + t]
                            for f in range(k):
                                x[f] += zt * np.float64(src[col, f])
            else:
                passes = (n + _CHUNK - 1) // _CHUNK
                for q in range(passes):
                    p0 = start + (n * q) // passes
                    m = start + (n * (q + 1)) // passes - p0
                    _gather_rows(indices, values, src, p0, m, stop, y, ahead)
                    _gram_upper(y, m, k, w, a, 0 if q == 0 else 1)
                for i in range(k):
                    a[i, i] += lam
                if nonnegative:
                    for i in range(k):
                        b[i] = a[i, k]
                        for j in range(i, k):
                            full[i, j] = a[i, j]
                            full[j, i] = a[i, j]
                    ok = _nnls(full, b, k, x, sub_a, sub_b, sub_x, passive, where, s)
                else:
                    ok = _cholesky_solve_upper(a, k, w, x, dinv, tv)
            if ok:
                for f in range(k):
                    dst[r, f] = np.float32(x[f])
            else:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
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
    plan: tuple[np.ndarray, int] | None = None,
) -> int:
    """Thread-safe :func:`_solve_half`: fills ``dst``; returns the count of failed rows.

    ``plan`` is :func:`plan_half` of the same ``indptr``, rank, reg_param and nonnegative
    (computed here when None; a fit passes it to avoid recomputing it every iteration).
    """
    if plan is None:
        plan = plan_half(indptr, src.shape[1], reg_param, nonnegative)
    bounds, dual_max = plan
    ahead = src.shape[1] >= _PREFETCH_MIN_RANK and src.nbytes >= _PREFETCH_MIN_BYTES
    with _LAUNCH_LOCK:
        return int(
            _solve_half(
                indptr, indices, values, src, reg_param, nonnegative, dst, bounds, dual_max, ahead
            )
        )


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
