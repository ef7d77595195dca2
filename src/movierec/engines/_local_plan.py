"""Plain-Python planning for the local engine's kernels (:mod:`._local_kernels`): which solve
path each row takes, the FLOP count of a half-step, and how the rows are cut into parallel
tasks. No numba here, so all of it is testable without compiling anything.

Every number the kernels need from this module crosses into them as an *argument* (the
:class:`HalfPlan` fields), never as a global read by compiled code: numba's on-disk cache
does not notice edits to globals of another module (see ``docs/kernels.md``), so a constant
shared that way could leave a stale kernel behind. Keep it so.

How the explicit half-step (:func:`._local_kernels.solve_half`) treats a row of n ratings at
rank k (see ``docs/kernels.md`` for the layouts):

- n = 0: zeros;
- 1 ≤ n ≤ ``min(dual_max, DUAL_SMALL)``: the n×n dual system, one dot product per entry
  and a row-by-row Cholesky ("dual-small");
- up to ``dual_max`` = :func:`dual_limit` (k): the dual system from register tiles over the
  ratings' factor vectors gathered as columns ("dual-tiled");
- longer rows: the k×k primal system, the ratings gathered ``CHUNK`` at a time as rows of
  [y, v] into register tiles ("primal").

``dual_max`` is 0 (primal only) when reg_param = 0 or the solve is nonnegative: the dual
identity needs λ > 0 and has no bounds. Measurements behind the constants are in
``benchmarks/README.md`` (section "Kernel constants").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DUAL_SMALL = 7
"""Dual rows with at most this many ratings take the dual-small path; longer dual rows the
register tiles (their fixed costs only pay from 8 ratings on)."""

CHUNK = 48
"""Ratings of a primal row gathered per pass; a longer row is split into equal passes of at
most this many, so the gathered block (48 × 52 float64 at rank 50, 20 KiB) stays in L1 while
the register tiles re-read it."""

PREFETCH_MIN_RANK = 32
"""The primal gather prefetches the factor row 8 ratings ahead from this rank on ..."""
PREFETCH_MIN_BYTES = 4 << 20
"""... when the fixed side's factors are at least this large (else the hardware keeps up)."""

ROW_OVERHEAD_FLOPS = 1500.0
"""Fixed cost of a row in FLOP-equivalents (loop set-up, writing the result), used only to
balance the parallel tasks (:func:`row_cost`)."""


@dataclass(frozen=True)
class HalfPlan:
    """How one explicit half-step runs: task cuts and path limits (all passed to the kernel).

    ``bounds``: int64, ascending, from 0 to the number of rows; task t solves rows
    ``bounds[t]:bounds[t+1]``. ``dual_max``: longest row (ratings) solved through the dual
    system (0 = none). ``dual_small``: longest dual row solved without register tiles.
    ``chunk``: ratings of a primal row gathered per pass (≥ 1).
    """

    bounds: np.ndarray
    dual_max: int
    dual_small: int = DUAL_SMALL
    chunk: int = CHUNK


def padded_rank(k: int) -> int:
    """Rows of the extended Gram matrix the explicit solve accumulates for rank ``k``.

    Column k carries the ratings (so the right-hand side Σ v·y comes out of the same
    register tiles as Σ y yᵀ); the size is rounded up to a multiple of 4 (the tiles' row
    blocks and vector width), the extra columns zero.
    """
    return ((k + 1 + 3) // 4) * 4


def dual_limit(k: int) -> int:
    """Longest row (in ratings) solved through the n×n dual system at rank ``k`` (when
    reg_param > 0 and not nonnegative): the measured crossover of time per row, dual vs
    primal (``benchmarks/README.md``, "Kernel constants")."""
    return max(k - 3, 0) if k <= 16 else k + (k - 16) // 16


def wants_prefetch(k: int, fixed_nbytes: int) -> bool:
    """Whether the primal gather should prefetch ahead: rank ≥ ``PREFETCH_MIN_RANK`` and
    fixed-side factors of at least ``PREFETCH_MIN_BYTES``."""
    return k >= PREFETCH_MIN_RANK and fixed_nbytes >= PREFETCH_MIN_BYTES


def _strip_sums(n: float | np.ndarray, w: float | np.ndarray) -> float | np.ndarray:
    """Σ_{t<s} (w − 4t) over the s = ⌈n/4⌉ row blocks of a width-``w`` upper Gram matrix:
    the columns of the register tiles' 4-row blocks."""
    s = (n + 3) // 4
    return s * w - 2.0 * s * (s - 1)


def _cholesky_flops(n: float | np.ndarray, w: float | np.ndarray) -> float | np.ndarray:
    """Floating-point operations of the blocked Cholesky solve on n×n systems of width
    ``w``: the register-tile updates of strip t (4 rows × (w − 4t) columns × 4t multiply-
    adds), the strips' own triangular solves (16 per column; a last partial strip counted as
    full), 40 per strip for its 4×4 diagonal block and n² for the back substitution."""
    s = (n + 3) // 4
    t1 = np.maximum(s - 1, 0)
    sum_t = t1 * (t1 + 1) / 2.0
    sum_t2 = t1 * (t1 + 1) * (2 * t1 + 1) / 6.0
    tiles = 2.0 * 4 * (4.0 * w * sum_t - 16.0 * sum_t2)
    strips = 16.0 * (_strip_sums(n, w) - 4.0 * s) + 40.0 * s
    return tiles + strips + n * n


def row_flops(
    counts: np.ndarray, k: int, dual_max: int, dual_small: int = DUAL_SMALL
) -> np.ndarray:
    """Floating-point operations the explicit half-step executes per row (float64 array).

    ``counts`` = ratings of each row (int64). See :func:`solve_half_flops` for the terms.
    """
    n = counts.astype(np.float64)
    w = float(padded_rank(k))
    kf = float(k)
    primal = 2.0 * 4 * _strip_sums(np.float64(k), w) * n + _cholesky_flops(np.float64(k), w)
    # Dual-small: n(n+1)/2 dot products of length k, a row-by-row Cholesky (n³/3 + 2n²),
    # x = Yᵀz.
    small = 2.0 * n * (n + 1) / 2 * kf + n**3 / 3 + 2 * n**2 + 2 * n * kf
    # Dual-tiled: the n×n upper Gram in register tiles over k, its Cholesky, x = Yᵀz.
    wn = np.floor((n + 1 + 3) / 4) * 4
    dual = 2.0 * 4 * kf * _strip_sums(n, wn) + _cholesky_flops(n, wn) + 2 * n * kf
    dual = np.where(counts <= dual_small, small, dual)
    out = np.where(counts <= dual_max, dual, primal)
    return np.where(counts > 0, out, 0.0)


def solve_half_flops(row_counts: np.ndarray, k: int, dual: bool = True) -> dict[str, float]:
    """Floating-point operations of one explicit half-step (2 per multiply-add).

    ``row_counts`` holds the number of ratings of every row being solved; ``dual`` says
    whether short rows take the dual path (reg_param > 0 and not nonnegative). Returns
    ``executed``, what the kernel really computes:

    - rows with n ≤ :func:`dual_limit` (k) ratings (``dual``): up to ``DUAL_SMALL``
      ratings the lower triangle of the n×n dual Gram matrix (n(n+1)/2·k multiply-adds),
      its Cholesky solve (n³/3 + 2n²) and x = Yᵀz (n·k); longer dual rows the upper n×n
      Gram matrix in 4-row register tiles (k multiply-adds per entry of rows i < n, columns
      from the row block's first column to n + 1 rounded up to 4, the right-hand side's
      column included), the blocked Cholesky solve (:func:`_cholesky_flops`) and x = Yᵀz;
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
    executed = float(np.sum(row_flops(counts, k, dual_limit(k) if dual else 0)))
    useful = 2.0 * int(counts.sum()) * (k * (k + 1) // 2 + k) + len(counts) * per_row
    return {"executed": executed, "useful": useful}


def row_cost(counts: np.ndarray, k: int, dual_max: int, dual_small: int = DUAL_SMALL) -> np.ndarray:
    """Time of each row in FLOP-equivalents, to balance the parallel tasks (float64).

    :func:`row_flops` plus what FLOPs miss, fitted to single-thread times per row on
    ml-latest-small at rank 10 and 50 (rows of 1 to 600 ratings, within ±25%):
    ``ROW_OVERHEAD_FLOPS`` per row; 40 per factor a dual row reads; 40·w per 4-row strip
    of a blocked Cholesky of width w (its 4×4 diagonal block is a chain of square roots and
    divisions, its columns a short loop); and the primal Gram's FLOPs × √(52/w) below rank
    51 (narrow tiles run at about half the rate of wide ones).
    """
    n = counts.astype(np.float64)
    w = float(padded_rank(k))
    flops = row_flops(counts, k, dual_max, dual_small)
    slow = max(1.0, math.sqrt(52.0 / w))
    gram = 2.0 * 4 * _strip_sums(np.float64(k), w) * n
    wn = np.floor((n + 1 + 3) / 4) * 4
    primal = flops + (slow - 1.0) * gram + 40.0 * w * ((k + 3) // 4)
    tiled = np.where(counts <= dual_small, 0.0, 40.0 * wn * np.ceil(n / 4))
    dual = flops + 40.0 * n * k + tiled
    out = np.where(counts <= dual_max, dual, primal)
    return np.where(counts > 0, out + ROW_OVERHEAD_FLOPS, ROW_OVERHEAD_FLOPS)


def balanced_bounds(cost: np.ndarray, n_tasks: int) -> np.ndarray:
    """Cut rows with per-row ``cost`` into ``n_tasks`` contiguous ranges of about equal total
    cost: int64 bounds of n_tasks + 1 entries from 0 to len(cost). No task exceeds an equal
    share by more than the costliest single row."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be at least 1, got {n_tasks}")
    cum = np.cumsum(np.asarray(cost, dtype=np.float64))
    total = float(cum[-1]) if len(cum) else 0.0
    targets = total * np.arange(1, n_tasks, dtype=np.float64) / n_tasks
    cuts = np.minimum(np.searchsorted(cum, targets, side="left") + 1, len(cum))
    return np.concatenate([[0], cuts, [len(cum)]]).astype(np.int64)


def plan_half(
    indptr: np.ndarray, k: int, reg_param: float, nonnegative: bool, n_tasks: int
) -> HalfPlan:
    """The :class:`HalfPlan` of an explicit half-step over the CSR with row pointer ``indptr``.

    The rows are cut into ``n_tasks`` contiguous ranges of about equal work
    (:func:`row_cost`): numba hands every thread an equal share of the parallel loop up
    front, so equal work per task is what keeps every core busy. Depends only on the row
    lengths, rank and whether the dual path is allowed, so a fit plans once.
    """
    counts = np.diff(np.asarray(indptr, dtype=np.int64))
    dual_max = dual_limit(k) if reg_param > 0 and not nonnegative else 0
    bounds = balanced_bounds(row_cost(counts, k, dual_max), n_tasks)
    return HalfPlan(bounds=bounds, dual_max=dual_max)


# --- implicit half-steps (implicit-als and ials) ----------------------------------------------

IMPLICIT_SOLVERS = ("cg", "cholesky")
"""How implicit half-steps solve each row: ``cg`` (a few conjugate-gradient steps
warm-started from the previous factors) or ``cholesky`` (the exact solve)."""

CG_BUFFER_BYTES = 64 << 20
"""A CG row whose factor vectors fit in this many bytes (float32) is gathered once into a
contiguous per-task buffer (as long as the task's longest row) and its later CG steps read
the copy — from the L2 cache for short rows, as a sequential stream for long ones; longer
rows re-read the factor matrix through their indices (random rows) at every step."""


def cg_buffer_rows(k: int) -> int:
    """Entries of a row the CG solve buffers at rank ``k`` (:data:`CG_BUFFER_BYTES`)."""
    return max(16, CG_BUFFER_BYTES // (4 * max(k, 1)))


def implicit_row_cost(counts: np.ndarray, k: int, cg_steps: int) -> np.ndarray:
    """Time of each row of an implicit half-step in FLOP-equivalents (float64), to balance
    the parallel tasks. ``cg_steps`` 0 is the exact solve: copying the k×k Gramian, a k×k
    outer product per entry, a k³/3 Cholesky. CG: per step (and once for the residual) a
    dot product and an update of length k per entry and a k×k Gramian product."""
    n = np.asarray(counts, dtype=np.float64)
    kf = float(k)
    if cg_steps <= 0:
        cost = 2.0 * n * kf * kf + kf**3 / 3.0 + 2.0 * kf * kf
    else:
        cost = (cg_steps + 1) * (4.0 * n * kf + 2.0 * kf * kf)
    return np.where(n > 0, cost + ROW_OVERHEAD_FLOPS, ROW_OVERHEAD_FLOPS)


def plan_implicit(indptr: np.ndarray, k: int, cg_steps: int, n_tasks: int) -> np.ndarray:
    """Task bounds (int64, n_tasks + 1) of an implicit half-step over the CSR with row
    pointer ``indptr``, cut to equal :func:`implicit_row_cost`."""
    counts = np.diff(np.asarray(indptr, dtype=np.int64))
    return balanced_bounds(implicit_row_cost(counts, k, cg_steps), n_tasks)
