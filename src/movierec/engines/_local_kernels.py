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
float32 factors round away (the dual and primal paths, and the old and new Cholesky
orderings, gave bit-identical float32 factors on ml-latest-small). Factors are passed as
float32 (as Spark stores them); every product and sum is float64.
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

_GATHER = 256
"""Ratings of one row gathered per pass of the tiled Gram update (:func:`_gram_tiles`); a
longer row is split into equal passes of at most this many ratings. 52×256 float64 = 104 KiB
fits the L2 cache; longer passes amortise the tiles' final horizontal sums better."""

_PAD = 8
"""Extra columns of the gather block: a row stride of 256 float64 (2 KiB) would map the rows
that one tile reads together onto the same L1 cache sets; 264 does not."""

_TILE_MIN = 8
"""Rows with fewer ratings than this use rank-1 updates (:func:`_gram_rank1`) instead of the
tiles, whose fixed cost per 4×4 tile does not pay for very short rows."""

_FAST = {"reassoc", "contract"}
"""numba fastmath flags of the hot loops (see the module docstring)."""


def padded_rank(k: int) -> int:
    """Rows of the extended Gram matrix the explicit solve accumulates for rank ``k``.

    Row/column k carries the ratings (so the right-hand side Σ v·y comes out of the same
    tiles as Σ y yᵀ); the size is rounded up to a multiple of the 4×4 tile.
    """
    return ((k + 1 + 3) // 4) * 4


def dual_limit(k: int) -> int:
    """Longest row (in ratings) that :func:`_solve_half` solves through the n×n dual system
    at rank ``k`` (when reg_param > 0 and not nonnegative).

    The measured crossover of CPU time per row, dual vs primal (2 threads, float32 factors
    from 20k rows): rank 4 about 1, rank 10 between 7 and 8, rank 16 about 15, rank 24
    about 28, rank 32 about 35, rank 50 about 52 — below rank 17 the primal's
    lane-parallel Cholesky is cheap, above it the k×k Cholesky dominates short rows.
    """
    return max(k - 3, 0) if k <= 16 else k + (k - 16) // 16


def _row_flops(counts: np.ndarray, k: int, dual_max: int) -> np.ndarray:
    """Floating-point operations :func:`_solve_half` executes per row (float64 array).

    ``counts`` = ratings of each row (int64). See :func:`solve_half_flops` for the terms.
    """
    n = counts.astype(np.float64)
    nb = padded_rank(k) // 4
    per_row = k**3 / 3 + 2 * k**2 + k
    # Gathered columns per tiled row: passes of ⌊n/P⌋ or ⌈n/P⌉ ratings, each padded to 8.
    passes = np.maximum((counts + _GATHER - 1) // _GATHER, 1)
    lo, n_hi = counts // passes, counts % passes
    cols = n_hi * ((lo + 1 + 7) // 8 * 8) + (passes - n_hi) * ((lo + 7) // 8 * 8)
    tiled = 2.0 * 16 * (nb * (nb + 1) // 2) * cols.astype(np.float64) + per_row
    rank1 = 2.0 * ((k + 1) * (k + 2) // 2) * n + per_row
    nbd = np.ceil(n / 4)
    k8 = (k + 7) // 8 * 8
    dual_gram = np.where(counts >= _TILE_MIN, 16 * nbd * (nbd + 1) / 2 * k8, n * (n + 1) / 2 * k)
    dual = 2.0 * dual_gram + n**3 / 3 + 2 * n**2 + 2 * n * k
    out = np.where(counts >= _TILE_MIN, tiled, rank1)
    out = np.where(counts <= dual_max, dual, out)
    return np.where(counts > 0, out, 0.0)


def solve_half_flops(row_counts: np.ndarray, k: int, dual: bool = True) -> dict[str, float]:
    """Floating-point operations of one :func:`solve_half` call (2 per multiply-add).

    ``row_counts`` holds the number of ratings of every row being solved; ``dual`` says
    whether short rows take the dual path (reg_param > 0 and not nonnegative). Returns
    ``executed``, what the kernel really computes:

    - rows with n ≤ :func:`dual_limit` (k) ratings (``dual``): the n×n dual Gram matrix
      (below ``_TILE_MIN`` ratings its lower triangle, n(n+1)/2·k multiply-adds, else 4×4
      tiles on or below the diagonal with n rounded up to 4 and k to 8, 16·b(b+1)/2·k8
      multiply-adds with b = ⌈n/4⌉), its Cholesky solve (n³/3 + 2n²) and x = Yᵀz (n·k);
    - other rows with at least ``_TILE_MIN`` ratings: per gathered column (the ratings,
      split into passes of at most ``_GATHER``, each padded with zeros to a multiple of 8)
      every 4×4 tile on or below the diagonal of the padded (``padded_rank(k)``)²
      extended Gram matrix (16 multiply-adds per tile, including the right-hand side and
      the redundant upper halves of the diagonal tiles), per row a Cholesky factorisation
      (k³/3) and two triangular solves (2k²);
    - other short rows: per rating the lower triangle of the (k+1)² extended matrix, plus
      the per-row Cholesky terms;

    and ``useful``, the minimum of a symmetric primal solve (k(k+1)/2 + k multiply-adds per
    rating plus the per-row Cholesky terms) — the dual path can do less than that.
    """
    counts = np.asarray(row_counts, dtype=np.int64)
    counts = counts[counts > 0]
    per_row = k**3 / 3 + 2 * k**2 + k
    executed = float(np.sum(_row_flops(counts, k, dual_limit(k) if dual else 0)))
    useful = 2.0 * int(counts.sum()) * (k * (k + 1) // 2 + k) + len(counts) * per_row
    return {"executed": executed, "useful": useful}


_ROW_OVERHEAD_FLOPS = 1500.0
"""Fixed cost of a row in FLOP-equivalents (loop set-up, gathering, writing the result),
used only to balance the parallel tasks: with it, the slower of two tasks took 1.05x the
mean on ml-latest-small's movies at rank 10 and 50 (400: 1.15x and 1.08x; the old split
into equal row counts: 1.27x and 1.52x), CPU time of each task's rows alone."""


def plan_half(
    indptr: np.ndarray, k: int, reg_param: float, nonnegative: bool, n_tasks: int = 0
) -> tuple[np.ndarray, int]:
    """Task bounds and dual limit for :func:`solve_half` on the CSR with row pointer ``indptr``.

    The rows are cut into ``n_tasks`` contiguous ranges (default: numba's thread count)
    of about equal work (:func:`_row_flops` plus a fixed cost per row): numba hands every
    thread an equal share of the parallel loop up front, so equal work per task is what
    keeps both cores busy. Depends only on the row lengths, so a fit plans once. Returns
    (bounds int64 of n_tasks + 1, dual_max).
    """
    counts = np.diff(np.asarray(indptr, dtype=np.int64))
    dual_max = dual_limit(k) if reg_param > 0 and not nonnegative else 0
    n_tasks = n_tasks if n_tasks > 0 else int(numba.get_num_threads())
    cost = np.cumsum(_row_flops(counts, k, dual_max) + _ROW_OVERHEAD_FLOPS)
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


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _cholesky_solve_blocked(
    a: np.ndarray,
    b: np.ndarray,
    m: int,
    x: np.ndarray,
    lf: np.ndarray,
    dinv: np.ndarray,
    y: np.ndarray,
) -> bool:
    """Solve ``a[:m, :m] x = b[:m]`` (SPD, lower triangle read, ``a`` not modified).

    The same left-looking Cholesky–Crout arithmetic as :func:`_cholesky_solve`, arranged
    for SIMD: the factor goes into ``lf`` (≥ m × m rounded up to 8), zeroed first, so
    every dot product can run over a multiple of 8 terms (no scalar remainder; the extra
    terms are exact zeros times finite values), and four rows share each load of the
    pivot row. Measured inside :func:`_solve_half` at rank 50: 0.5-0.7 µs (5%) less
    per row than :func:`_cholesky_solve`; slower below ``_BLOCKED_MIN``.
    ``dinv`` (≥ m) receives 1/L_jj, ``y`` (≥ m rounded up to 8) is scratch. Returns False
    when ``a`` is not positive definite (x is then undefined).
    """
    m8 = ((m + 7) // 8) * 8
    for i in range(m):  # all of it: entries not yet computed enter the sums times zero
        for p in range(m8):
            lf[i, p] = 0.0
    for j in range(m):
        j8 = ((j + 7) // 8) * 8
        s = a[j, j]
        for p in range(j8):
            s -= lf[j, p] * lf[j, p]
        if not s > 0.0:
            return False
        inv = 1.0 / math.sqrt(s)
        dinv[j] = inv
        i = j + 1
        while i + 3 < m:
            t0 = a[i, j]
            t1 = a[i + 1, j]
            t2 = a[i + 2, j]
            t3 = a[i + 3, j]
            for p in range(j8):
                lj = lf[j, p]
                t0 -= lf[i, p] * lj
                t1 -= lf[i + 1, p] * lj
                t2 -= lf[i + 2, p] * lj
                t3 -= lf[i + 3, p] * lj
            lf[i, j] = t0 * inv
            lf[i + 1, j] = t1 * inv
            lf[i + 2, j] = t2 * inv
            lf[i + 3, j] = t3 * inv
            i += 4
        while i < m:
            t0 = a[i, j]
            for p in range(j8):
                t0 -= lf[i, p] * lf[j, p]
            lf[i, j] = t0 * inv
            i += 1
        lf[j, j] = s * inv
    for p in range(m8):  # L y = b; entries of y not yet solved are zero
        y[p] = 0.0
    for i in range(m):
        i8 = ((i + 7) // 8) * 8
        t = b[i]
        for p in range(i8):
            t -= lf[i, p] * y[p]
        y[i] = t * dinv[i]
    for i in range(m):  # L^T x = y, by columns of L^T (rows of L)
        x[i] = y[i]
    for i in range(m - 1, -1, -1):
        xi = x[i] * dinv[i]
        x[i] = xi
        for p in range(i):
            x[p] -= lf[i, p] * xi
    return True


_BLOCKED_MIN = 16
"""Systems at least this large use :func:`_cholesky_solve_blocked` (zeroing its padded
factor costs more than it saves below: the rank-10 dual rows of 2-7 ratings were measured
1.7-2.3x slower with it)."""

_LANES = 8
"""Rows whose k×k systems are factorised together, one per SIMD lane
(:func:`_cholesky_solve_lanes`)."""

_LANES_MAX_RANK = 24
"""Largest rank solved lane-parallel: measured 1.7x faster than one row at a time at rank
10, but 1.6x slower at rank 50 (8 matrices of 50×50 no longer fit the L1 cache), where the
per-row :func:`_cholesky_solve` is used."""


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _cholesky_solve_lanes(
    a: np.ndarray, b: np.ndarray, m: int, x: np.ndarray, ok: np.ndarray, t: np.ndarray
) -> None:
    """Solve ``_LANES`` independent SPD systems a[:, :, l] x[:, l] = b[:, l] at once.

    The same arithmetic as :func:`_cholesky_solve` (lower triangle read, ``a`` overwritten
    by the factors), but every operation runs across the lanes — the innermost loop is over
    the systems, so it fills the SIMD registers without reordering any sum. ``ok[l]`` is set
    to False for a lane whose matrix is not positive definite (its pivot is replaced by 1 so
    the other lanes go on; its x is meaningless). ``t`` is scratch of ``_LANES`` floats.
    """
    n_lanes = a.shape[2]
    for j in range(m):
        for lane in range(n_lanes):
            t[lane] = a[j, j, lane]
        for p in range(j):
            for lane in range(n_lanes):
                t[lane] -= a[j, p, lane] * a[j, p, lane]
        for lane in range(n_lanes):
            good = t[lane] > 0.0
            ok[lane] = ok[lane] and good
            a[j, j, lane] = 1.0 / math.sqrt(t[lane] if good else 1.0)
        for i in range(j + 1, m):
            for lane in range(n_lanes):
                t[lane] = a[i, j, lane]
            for p in range(j):
                for lane in range(n_lanes):
                    t[lane] -= a[i, p, lane] * a[j, p, lane]
            for lane in range(n_lanes):
                a[i, j, lane] = t[lane] * a[j, j, lane]
    for i in range(m):  # L y = b
        for lane in range(n_lanes):
            t[lane] = b[i, lane]
        for p in range(i):
            for lane in range(n_lanes):
                t[lane] -= a[i, p, lane] * x[p, lane]
        for lane in range(n_lanes):
            x[i, lane] = t[lane] * a[i, i, lane]
    for i in range(m - 1, -1, -1):  # L^T x = y
        for lane in range(n_lanes):
            t[lane] = x[i, lane]
        for p in range(i + 1, m):
            for lane in range(n_lanes):
                t[lane] -= a[p, i, lane] * x[p, lane]
        for lane in range(n_lanes):
            x[i, lane] = t[lane] * a[i, i, lane]


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
"""Prefetch the factor rows of the next 8 ratings while gathering (:func:`_gather`) from
this rank on, when the fixed factors exceed ``_PREFETCH_MIN_BYTES``: measured 1.2-1.3x
faster gather + Gram at rank 50 from 32 MB of factors, 1% slower from 1.6 MB, and slower
at rank 10 (40-byte rows, which the hardware fetches fast enough)."""

_PREFETCH_MIN_BYTES = 4 << 20


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    p0: int,
    m: int,
    stop: int,
    yt: np.ndarray,
    ahead: bool,
) -> None:
    """yt[:k, t] = src[indices[p0 + t]] and yt[k, t] = values[p0 + t] (float64), t < m.

    Ratings are taken 8 at a time and written factor by factor, so each store fills 8
    consecutive doubles of one ``yt`` row (one cache line) instead of one double in each
    of k rows, and the 8 factor rows are read in parallel (8 cache misses in flight, not
    one). With ``ahead`` the rows of the next 8 ratings (up to ``stop``) are prefetched.
    Measured 1.1-1.15x faster gather + Gram than one rating at a time from cache-resident
    factors, 1.8x from 32 MB of factors (2.2x with ``ahead``).
    """
    k = src.shape[1]
    for t0 in range(0, m, 8):
        tn = min(8, m - t0)
        for u in range(tn):
            yt[k, t0 + u] = np.float64(values[p0 + t0 + u])
        if ahead:
            for u in range(8):
                pn = p0 + t0 + 8 + u
                if pn < stop:
                    cn = indices[pn]
                    for f in range(0, k, 16):
                        _prefetch(src, cn, f)  # type: ignore[call-arg]
                    _prefetch(src, cn, k - 1)  # type: ignore[call-arg]
        if tn == 8:
            c0 = indices[p0 + t0]
            c1 = indices[p0 + t0 + 1]
            c2 = indices[p0 + t0 + 2]
            c3 = indices[p0 + t0 + 3]
            c4 = indices[p0 + t0 + 4]
            c5 = indices[p0 + t0 + 5]
            c6 = indices[p0 + t0 + 6]
            c7 = indices[p0 + t0 + 7]
            for f in range(k):
                yt[f, t0] = np.float64(src[c0, f])
                yt[f, t0 + 1] = np.float64(src[c1, f])
                yt[f, t0 + 2] = np.float64(src[c2, f])
                yt[f, t0 + 3] = np.float64(src[c3, f])
                yt[f, t0 + 4] = np.float64(src[c4, f])
                yt[f, t0 + 5] = np.float64(src[c5, f])
                yt[f, t0 + 6] = np.float64(src[c6, f])
                yt[f, t0 + 7] = np.float64(src[c7, f])
        else:
            for u in range(tn):
                col = indices[p0 + t0 + u]
                for f in range(k):
                    yt[f, t0 + u] = np.float64(src[col, f])


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gram_tiles(yt: np.ndarray, m: int, kp: int, a: np.ndarray, accumulate: bool) -> None:
    """a[i, j] (+)= Σ_{b<m} yt[i, b]·yt[j, b] for every 4×4 tile on or below the diagonal.

    ``yt`` (kp × ≥m, float64) holds one gathered vector per column; ``kp`` is a multiple
    of 4. With ``accumulate`` the sums are added to ``a``, else they overwrite it (so ``a``
    needs no zeroing first). Each tile keeps its 16 sums in registers over the whole pass
    (one SIMD reduction over b per sum), so ``a`` is loaded and stored once per pass, not
    once per rating: 8 loads per 16 multiply-adds, compute-bound. Upper halves of diagonal
    tiles are computed too (and ignored by the callers).
    """
    for i0 in range(0, kp, 4):
        for j0 in range(0, i0 + 1, 4):
            s00 = s01 = s02 = s03 = 0.0
            s10 = s11 = s12 = s13 = 0.0
            s20 = s21 = s22 = s23 = 0.0
            s30 = s31 = s32 = s33 = 0.0
            for b in range(m):
                x0 = yt[i0, b]
                x1 = yt[i0 + 1, b]
                x2 = yt[i0 + 2, b]
                x3 = yt[i0 + 3, b]
                z0 = yt[j0, b]
                z1 = yt[j0 + 1, b]
                z2 = yt[j0 + 2, b]
                z3 = yt[j0 + 3, b]
                s00 += x0 * z0
                s01 += x0 * z1
                s02 += x0 * z2
                s03 += x0 * z3
                s10 += x1 * z0
                s11 += x1 * z1
                s12 += x1 * z2
                s13 += x1 * z3
                s20 += x2 * z0
                s21 += x2 * z1
                s22 += x2 * z2
                s23 += x2 * z3
                s30 += x3 * z0
                s31 += x3 * z1
                s32 += x3 * z2
                s33 += x3 * z3
            if accumulate:
                s00 += a[i0, j0]
                s01 += a[i0, j0 + 1]
                s02 += a[i0, j0 + 2]
                s03 += a[i0, j0 + 3]
                s10 += a[i0 + 1, j0]
                s11 += a[i0 + 1, j0 + 1]
                s12 += a[i0 + 1, j0 + 2]
                s13 += a[i0 + 1, j0 + 3]
                s20 += a[i0 + 2, j0]
                s21 += a[i0 + 2, j0 + 1]
                s22 += a[i0 + 2, j0 + 2]
                s23 += a[i0 + 2, j0 + 3]
                s30 += a[i0 + 3, j0]
                s31 += a[i0 + 3, j0 + 1]
                s32 += a[i0 + 3, j0 + 2]
                s33 += a[i0 + 3, j0 + 3]
            a[i0, j0] = s00
            a[i0, j0 + 1] = s01
            a[i0, j0 + 2] = s02
            a[i0, j0 + 3] = s03
            a[i0 + 1, j0] = s10
            a[i0 + 1, j0 + 1] = s11
            a[i0 + 1, j0 + 2] = s12
            a[i0 + 1, j0 + 3] = s13
            a[i0 + 2, j0] = s20
            a[i0 + 2, j0 + 1] = s21
            a[i0 + 2, j0 + 2] = s22
            a[i0 + 2, j0 + 3] = s23
            a[i0 + 3, j0] = s30
            a[i0 + 3, j0 + 1] = s31
            a[i0 + 3, j0 + 2] = s32
            a[i0 + 3, j0 + 3] = s33


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gram_rank1(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    start: int,
    stop: int,
    a: np.ndarray,
    y: np.ndarray,
) -> None:
    """Lower triangle of a[:k+1, :k+1] += Σ_p (y_p, v_p)(y_p, v_p)ᵀ, one rank-1 update per
    rating p in [start, stop) (y_p = ``src[indices[p]]`` in float64, v_p = ``values[p]``)."""
    k = src.shape[1]
    for p in range(start, stop):
        col = indices[p]
        for f in range(k):
            y[f] = np.float64(src[col, f])
        y[k] = np.float64(values[p])
        for i in range(k + 1):
            yi = y[i]
            for j in range(i + 1):
                a[i, j] += yi * y[j]


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
    lf: np.ndarray,
    dinv: np.ndarray,
    cy: np.ndarray,
) -> bool:
    """x = (YᵀY + lam·I)⁻¹ Yᵀv through the n×n dual system (lam > 0).

    Y (n×k) holds the row's factor vectors ``src[indices[start:start+n]]`` and v its
    ratings; with lam > 0 the identity (YᵀY + lam·I)⁻¹Yᵀ = Yᵀ(YYᵀ + lam·I)⁻¹ gives the
    same minimiser as the k×k normal equations from an n×n Cholesky solve (z) and x = Yᵀz:
    O(n²k + n³) work instead of O(nk² + k³), less when n is below about k
    (:func:`dual_limit`). YYᵀ takes one dot product per lower-triangle entry below
    ``_TILE_MIN`` ratings, else :func:`_gram_tiles` over the gathered rows (n rounded up
    to 4, zero padding rows; the sums over the factors run over all columns of ``yd``,
    k rounded up to 8 with zero columns, so the SIMD loop has no scalar remainder). ``yd``
    (≥ n rounded up to 4 rows, zero beyond column k), ``g``, ``v``, ``z`` and the
    :func:`_cholesky_solve_blocked` scratch ``lf``, ``dinv``, ``cy`` are scratch. Returns
    False when the system is not positive definite.
    """
    k = src.shape[1]
    npad = ((n + 3) // 4) * 4
    for t in range(n):
        col = indices[start + t]
        for f in range(k):
            yd[t, f] = np.float64(src[col, f])
        v[t] = np.float64(values[start + t])
    if n < _TILE_MIN:
        for i in range(n):
            for j in range(i + 1):
                acc = 0.0
                for f in range(k):
                    acc += yd[i, f] * yd[j, f]
                g[i, j] = acc
    else:
        for t in range(n, npad):
            for f in range(k):
                yd[t, f] = 0.0
        _gram_tiles(yd, yd.shape[1], npad, g, False)
    for i in range(n):
        g[i, i] += lam
    if n < _BLOCKED_MIN:
        if not _cholesky_solve(g, v, n, z):
            return False
    elif not _cholesky_solve_blocked(g, v, n, z, lf, dinv, cy):
        return False
    for f in range(k):
        x[f] = 0.0
    for t in range(n):
        zt = z[t]
        for f in range(k):
            x[f] += zt * yd[t, f]
    return True


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _flush_lanes(
    la: np.ndarray,
    lb: np.ndarray,
    lx: np.ndarray,
    lok: np.ndarray,
    lt: np.ndarray,
    lrow: np.ndarray,
    fill: int,
    dst: np.ndarray,
) -> int:
    """Solve the ``fill`` systems queued in the lanes, write their rows of ``dst``.

    Unused lanes get the system I·x = 0. Rows whose system is not positive definite get
    NaN; returns their number.
    """
    k = dst.shape[1]
    for lane in range(_LANES):
        lok[lane] = True
    for lane in range(fill, _LANES):
        for i in range(k):
            lb[i, lane] = 0.0
            for j in range(i):
                la[i, j, lane] = 0.0
            la[i, i, lane] = 1.0
    _cholesky_solve_lanes(la, lb, k, lx, lok, lt)
    failed = 0
    for lane in range(fill):
        r = lrow[lane]
        if lok[lane]:
            for f in range(k):
                dst[r, f] = np.float32(lx[f, lane])
        else:
            failed += 1
            for f in range(k):
                dst[r, f] = np.nan
    return failed


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
    ``dual_max`` ratings take the n×n dual system (:func:`_solve_dual`; the caller passes
    0 when reg_param = 0 or ``nonnegative``). The others accumulate one extended Gram
    matrix Σ (y, v)(y, v)ᵀ (row k = the right-hand side): a row's ratings are gathered, up
    to ``_GATHER`` at a time, as the columns of a float64 block (:func:`_gather`, with
    prefetching when ``ahead``), padded with zero columns to a multiple of 8 (one full SIMD
    vector, no scalar remainder loop) and accumulated tile by tile (:func:`_gram_tiles`),
    or by rank-1 updates below ``_TILE_MIN`` ratings. Up to
    rank ``_LANES_MAX_RANK`` the systems of ``_LANES`` such rows are queued and factorised
    together, one per SIMD lane (:func:`_cholesky_solve_lanes`), else one by one.
    :func:`solve_half_flops` counts the work.

    Returns the number of rows whose system was not positive definite (0 when reg_param > 0).
    """
    k = src.shape[1]
    kp = ((k + 1 + 3) // 4) * 4
    lanes = k <= _LANES_MAX_RANK and not nonnegative
    dpad = max(4, ((dual_max + 3) // 4) * 4)
    k8 = ((k + 7) // 8) * 8
    n_tasks = bounds.shape[0] - 1
    failed = np.zeros(n_tasks, dtype=np.int64)
    for c in prange(n_tasks):
        a = np.empty((kp, kp), dtype=np.float64)
        yt = np.zeros((kp, _GATHER + _PAD), dtype=np.float64)
        y = np.empty(k + 1, dtype=np.float64)
        la = np.empty((k, k, _LANES), dtype=np.float64)
        lb = np.empty((k, _LANES), dtype=np.float64)
        lx = np.empty((k, _LANES), dtype=np.float64)
        lok = np.empty(_LANES, dtype=np.bool_)
        lt = np.empty(_LANES, dtype=np.float64)
        lrow = np.empty(_LANES, dtype=np.int64)
        yd = np.zeros((dpad, k8), dtype=np.float64)
        dg = np.empty((dpad, dpad), dtype=np.float64)
        dv = np.empty(dpad, dtype=np.float64)
        dz = np.empty(dpad, dtype=np.float64)
        mc = max(k, dpad)
        lf = np.empty((mc, ((mc + 7) // 8) * 8), dtype=np.float64)
        dinv = np.empty(mc, dtype=np.float64)
        cy = np.empty(((mc + 7) // 8) * 8, dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        x = np.empty(k, dtype=np.float64)
        full = np.empty((k, k), dtype=np.float64)
        sub_a = np.empty((k, k), dtype=np.float64)
        sub_b = np.empty(k, dtype=np.float64)
        sub_x = np.empty(k, dtype=np.float64)
        passive = np.empty(k, dtype=np.bool_)
        where = np.empty(k, dtype=np.int64)
        s = np.empty(k, dtype=np.float64)
        fill = 0
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
                if _solve_dual(
                    indices, values, src, start, n, lam, yd, dg, dv, dz, x, lf, dinv, cy
                ):
                    for f in range(k):
                        dst[r, f] = np.float32(x[f])
                else:
                    failed[c] += 1
                    for f in range(k):
                        dst[r, f] = np.nan
                continue
            if n < _TILE_MIN:
                for i in range(k + 1):
                    for j in range(i + 1):
                        a[i, j] = 0.0
                _gram_rank1(indices, values, src, start, stop, a, y)
            else:
                passes = (n + _GATHER - 1) // _GATHER
                for q in range(passes):
                    p0 = start + (n * q) // passes
                    m = start + (n * (q + 1)) // passes - p0
                    _gather(indices, values, src, p0, m, stop, yt, ahead)
                    m8 = ((m + 7) // 8) * 8
                    for f in range(k + 1):
                        for t in range(m, m8):
                            yt[f, t] = 0.0
                    _gram_tiles(yt, m8, kp, a, q > 0)
            for i in range(k):
                a[i, i] += lam
            if lanes:
                for i in range(k):
                    lb[i, fill] = a[k, i]
                    for j in range(i + 1):
                        la[i, j, fill] = a[i, j]
                lrow[fill] = r
                fill += 1
                if fill == _LANES:
                    failed[c] += _flush_lanes(la, lb, lx, lok, lt, lrow, fill, dst)
                    fill = 0
                continue
            for i in range(k):
                b[i] = a[k, i]
            if nonnegative:
                for i in range(k):
                    for j in range(i + 1):
                        full[i, j] = a[i, j]
                        full[j, i] = a[i, j]
                ok = _nnls(full, b, k, x, sub_a, sub_b, sub_x, passive, where, s)
            elif k < _BLOCKED_MIN:
                ok = _cholesky_solve(a, b, k, x)
            else:
                ok = _cholesky_solve_blocked(a, b, k, x, lf, dinv, cy)
            if ok:
                for f in range(k):
                    dst[r, f] = np.float32(x[f])
            else:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
        if fill > 0:
            failed[c] += _flush_lanes(la, lb, lx, lok, lt, lrow, fill, dst)
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
