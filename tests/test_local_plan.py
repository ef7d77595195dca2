"""The local engine's planner (:mod:`movierec.engines._local_plan`): plain Python, tested
without compiling a kernel."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from movierec.engines import _local_plan as P


def test_the_planner_imports_no_numba() -> None:
    """The planner is testable (and importable) without numba: nothing compiled lives there."""
    code = (
        "import sys; import movierec.engines._local_plan; "
        "print('numba' in sys.modules, 'llvmlite' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_flop_accounting() -> None:
    """The benchmark's FLOP count mirrors the kernel's paths (2 FLOPs per multiply-add),
    checked against numbers worked out by hand from the loops."""
    k = 10
    lim = P.dual_limit(k)
    assert lim == 7
    per_row = 1000 / 3 + 200 + 10
    # Primal rows, rank 10: the extended matrix is 12 wide; the register tiles compute,
    # per rating, row blocks 0, 4, 8 from their first column to 12: 4·(12 + 8 + 4) = 96
    # multiply-adds. The blocked Cholesky of 10 rows in width 12: strips at 4 and 8 take
    # 4·4·8 + 4·8·4 = 256 multiply-adds of tile updates (512), the three strips' own
    # solves 16 per column right of them, (8 + 4 + 0)·16 = 192, plus 40 each (120), and
    # the back substitution 10² — 924 per row.
    rows = np.array([8, 19, 257, 600, 0])
    flops = P.solve_half_flops(rows, k)
    assert flops["executed"] == pytest.approx(2 * 96 * (8 + 19 + 257 + 600) + 4 * 924)
    assert flops["useful"] == pytest.approx(2 * (8 + 19 + 257 + 600) * 65 + 4 * per_row)
    # Rank 50 primal: 4·(52 + 48 + … + 4) = 1456 multiply-adds per rating; Cholesky of 50
    # in width 52: tile updates 4·Σ j0·(52 − j0) over j0 = 4, 8, …, 48 = 23296 (46592),
    # strip solves 16·((52 + 48 + … + 4) − 13·4) = 4992, 13·40, and 50².
    primal50 = P.solve_half_flops(np.array([60]), 50)["executed"]
    assert primal50 == pytest.approx(2 * 1456 * 60 + 46592 + 4992 + 520 + 2500)
    # Short dual rows: n = 5 takes the 15 lower-triangle dot products of length k, then
    # n³/3 + 2n² and x = Yᵀz (n·k).
    dual = P.solve_half_flops(np.array([5]), k)["executed"]
    assert dual == pytest.approx(2 * 15 * k + 125 / 3 + 50 + 2 * 5 * k)
    # n = 9 at rank 50 (width 12): Gram row blocks 0, 4, 8 to column 12, 50 multiply-adds
    # per entry, 4·50·(12 + 8 + 4) = 4800; Cholesky tile updates 4·4·8 + 4·8·4 = 256,
    # strip solves 16·(8 + 4 + 0), 3·40, 9²; x = Yᵀz 9·50.
    dual = P.solve_half_flops(np.array([9]), 50)["executed"]
    assert dual == pytest.approx(2 * 4800 + 2 * 256 + 16 * 12 + 120 + 81 + 2 * 9 * 50)
    # Longer dual rows (n = 22 at rank 50, width 24): the upper 22×22 Gram in row blocks
    # 0, 4, …, 20 from their first column to 24, 50 multiply-adds per entry:
    # 4·50·(24 + 20 + 16 + 12 + 8 + 4) = 16800; Cholesky tile updates
    # 4·(4·20 + 8·16 + 12·12 + 16·8 + 20·4) = 2240, strip solves 16·(84 − 24) = 960,
    # 6·40, 22²; x = Yᵀz 22·50.
    dual = P.solve_half_flops(np.array([22]), 50)["executed"]
    assert dual == pytest.approx(2 * 16800 + 2 * 2240 + 960 + 240 + 484 + 2 * 22 * 50)
    # Without the dual path (nonnegative / reg 0) a 5-rating row is primal.
    primal = P.solve_half_flops(np.array([5]), k, dual=False)["executed"]
    assert primal == pytest.approx(2 * 96 * 5 + 924)


def test_balanced_bounds_cut_equal_work() -> None:
    rng = np.random.default_rng(0)
    cost = rng.pareto(1.2, 5000) + 1.0
    for n_tasks in (1, 2, 3, 8):
        bounds = P.balanced_bounds(cost, n_tasks)
        assert bounds.dtype == np.int64 and len(bounds) == n_tasks + 1
        assert bounds[0] == 0 and bounds[-1] == len(cost) and np.all(np.diff(bounds) >= 0)
        work = np.add.reduceat(cost, bounds[:-1]) if n_tasks > 1 else np.array([cost.sum()])
        assert work.max() <= cost.sum() / n_tasks + cost.max() + 1e-9
    assert P.balanced_bounds(np.zeros(0), 2).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="n_tasks"):
        P.balanced_bounds(cost, 0)


def test_explicit_plan_paths() -> None:
    """The dual path needs λ > 0 and no bounds; its limit is the measured crossover."""
    indptr = np.array([0, 3, 9, 60], dtype=np.int64)
    assert P.plan_half(indptr, 10, 0.1, False, 2).dual_max == P.dual_limit(10) == 7
    assert P.plan_half(indptr, 10, 0.0, False, 2).dual_max == 0
    assert P.plan_half(indptr, 10, 0.1, True, 2).dual_max == 0
    plan = P.plan_half(indptr, 50, 0.1, False, 2)
    assert (plan.dual_small, plan.chunk) == (P.DUAL_SMALL, P.CHUNK)
    assert P.padded_rank(10) == 12 and P.padded_rank(11) == 12 and P.padded_rank(12) == 16
    assert P.wants_prefetch(64, 8 << 20) and not P.wants_prefetch(16, 8 << 20)
    assert not P.wants_prefetch(64, 1 << 20)


def test_implicit_plan_costs() -> None:
    """CG rows cost (steps + 1)·(4nk + 2k²) FLOPs, exact rows 2nk² + k³/3 + 2k², plus the
    fixed overhead; the buffer holds at least 16 rows and shrinks with the rank."""
    counts = np.array([0, 1, 100])
    cg = P.implicit_row_cost(counts, 10, 3)
    assert cg[0] == P.ROW_OVERHEAD_FLOPS
    assert cg[2] == pytest.approx(4 * (4 * 100 * 10 + 2 * 100) + P.ROW_OVERHEAD_FLOPS)
    exact = P.implicit_row_cost(counts, 10, 0)
    assert exact[2] == pytest.approx(2 * 100 * 100 + 1000 / 3 + 200 + P.ROW_OVERHEAD_FLOPS)
    bounds = P.plan_implicit(np.array([0, 5, 5, 500, 505]), 16, 3, 2)
    assert bounds.tolist()[0] == 0 and bounds.tolist()[-1] == 4 and len(bounds) == 3
    assert P.cg_buffer_rows(1 << 30) == 16
    assert P.cg_buffer_rows(128) == P.CG_BUFFER_BYTES // 512
