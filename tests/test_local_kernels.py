"""The local engine's kernels (:mod:`movierec.engines._local_kernels`): argument guards, and
the implicit solves (exact and conjugate gradient) against numpy. The explicit solve paths
are in tests/test_engines_local.py; every kernel test also runs on a generic x86-64 target
(:func:`test_kernels_on_a_generic_cpu`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from movierec.engines import _local_kernels as K
from movierec.engines import _local_plan as P
from movierec.errors import EngineError, MovierecError

REPO = Path(__file__).resolve().parents[1]

# --- 1. the intrinsics refuse what they were not written for ---------------------------------


@njit(cache=False)
def _call_transpose4(src: np.ndarray, yt: np.ndarray) -> None:
    K._transpose4(src, (0, 1, 2, 3), 0, yt, 0)


@njit(cache=False)
def _call_tile(y: np.ndarray, a: np.ndarray) -> None:
    K._tile_4x4(y, 4, 0, 0, a, 0)


@njit(cache=False)
def _call_strip(a: np.ndarray) -> None:
    K._strip_solve4(a, 0, 4, (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0))


@njit(cache=False)
def _call_muladd(tv: np.ndarray, a: np.ndarray) -> None:
    K._muladd4(tv, 0, a, 0, 0, (1.0, 1.0, 1.0, 1.0))


@njit(cache=False)
def _call_prefetch(arr: np.ndarray) -> None:
    K._prefetch(arr, 0, 0)


@njit(cache=False)
def _call_tile_on_slice(y: np.ndarray, a: np.ndarray) -> None:
    K._tile_4x4(y[:, ::2], 4, 0, 0, a, 0)  # a strided (layout "A") view


def test_intrinsics_compile_for_their_types() -> None:
    """The accepted types work (so the refusals below are about the types, not the call)."""
    src = np.arange(32, dtype=np.float32).reshape(8, 4)
    yt = np.zeros((4, 8))
    _call_transpose4(src, yt)
    np.testing.assert_array_equal(yt[:, :4], src[:4].T)
    y = np.ones((4, 8))
    a = np.zeros((8, 8))
    _call_tile(y, a)
    assert np.all(a[:4, :4] == 4.0)
    _call_strip(np.ones((8, 8)))
    tv = np.zeros((4, 4))
    _call_muladd(tv, np.ones((4, 8)))
    assert np.all(tv[0] == 1.0)
    _call_prefetch(src)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        # a float64 where float32 is expected (the factor matrix)
        (_call_transpose4, (np.zeros((8, 4)), np.zeros((4, 8)))),
        # float32 where float64 is expected
        (_call_tile, (np.ones((4, 8), dtype=np.float32), np.zeros((8, 8)))),
        (_call_muladd, (np.zeros((4, 4), dtype=np.float32), np.ones((4, 8)))),
        # a non-contiguous (Fortran-ordered) array where C layout is expected
        (_call_strip, (np.asfortranarray(np.ones((8, 8))),)),
        (_call_tile, (np.ones((4, 8)), np.asfortranarray(np.zeros((8, 8))))),
        # a sliced view inside compiled code
        (_call_tile_on_slice, (np.ones((4, 16)), np.zeros((8, 8)))),
        # wrong number of dimensions
        (_call_prefetch, (np.zeros(8, dtype=np.float32),)),
        (_call_transpose4, (np.zeros((8, 4, 1), dtype=np.float32), np.zeros((4, 8)))),
    ],
)
def test_intrinsics_refuse_wrong_dtype_layout_and_ndim(call: object, args: tuple) -> None:
    with pytest.raises(TypingError):
        call(*args)  # type: ignore[operator]


@njit(cache=False)
def _readonly_target(a: np.ndarray) -> None:
    K._strip_solve4(a, 0, 4, (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0))


def test_intrinsics_refuse_a_read_only_target() -> None:
    a = np.ones((8, 8))
    a.setflags(write=False)
    with pytest.raises(TypingError):
        _readonly_target(a)


# --- 2. the public wrappers check dtype, layout and shape ------------------------------------


def _csr(lengths: list[int], n_src: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(
        [rng.choice(n_src, n, replace=False) for n in lengths] or [np.zeros(0, np.int64)]
    ).astype(np.int32)
    values = (rng.integers(1, 11, len(indices)) / 2).astype(np.float32)
    return indptr, indices, values


def test_wrappers_refuse_bad_arrays_with_one_line_errors() -> None:
    k = 8
    indptr, indices, values = _csr([3, 5, 0, 9], 40, 0)
    src = np.random.default_rng(1).standard_normal((40, k)).astype(np.float32)
    dst = np.zeros((4, k), dtype=np.float32)
    assert K.solve_half(indptr, indices, values, src, 0.1, False, dst) == 0  # the good call
    wide = np.zeros((40, 2 * k), dtype=np.float32)
    f32, f64, i32, i64 = np.float32, np.float64, np.int32, np.int64
    eye = np.eye(k)

    def half(*args: object, **kw: object) -> object:
        return K.solve_half(indptr, indices, values, *args, **kw)  # type: ignore[arg-type]

    def implicit(gram: np.ndarray, out: np.ndarray, nonneg: bool = False, **kw: object) -> object:
        return K.solve_half_implicit(
            indptr,
            indices,
            values,
            src,
            gram,
            0.1,
            1.0,
            nonneg,
            out,
            **kw,  # type: ignore[arg-type]
        )

    def top(urows: np.ndarray, items_t: np.ndarray) -> object:
        no_rows = np.full(len(urows), -1, i64)
        bias = np.zeros(40)
        return K.top_n(
            urows, src, items_t, 0.0, bias, bias, False, no_rows, np.zeros(1, i64),
            np.zeros(0, i32), 3,
        )  # fmt: skip

    pairs = np.zeros(2, i64)
    cases = [
        # float64 factors where float32 is expected
        lambda: half(src.astype(f64), 0.1, False, dst),
        # a sliced, non-contiguous view of the factors
        lambda: half(wide[:, ::2], 0.1, False, dst),
        # the wrong width, or the wrong number of rows, of the output
        lambda: half(src, 0.1, False, np.zeros((4, k + 1), f32)),
        lambda: half(src, 0.1, False, np.zeros((5, k), f32)),
        # int64 column indices, float64 ratings
        lambda: K.solve_half(indptr, indices.astype(i64), values, src, 0.1, False, dst),
        lambda: K.solve_half(indptr, indices, values.astype(f64), src, 0.1, False, dst),
        # an indptr that does not end at the number of entries
        lambda: K.solve_half(indptr - 1, indices, values, src, 0.1, False, dst),
        # a plan that does not cover the rows, or a dual path without λ
        lambda: half(src, 0.1, False, dst, P.HalfPlan(np.array([0, 3]), 0)),
        lambda: half(src, 0.0, False, dst, P.plan_half(indptr, k, 0.1, False, 1)),
        # the Gramian of another rank, a read-only output
        lambda: implicit(np.eye(k + 1), dst),
        lambda: implicit(eye, _read_only(dst)),
        # an unknown solver; CG with nonnegative, or without steps
        lambda: implicit(eye, dst, solver="lu"),
        lambda: implicit(eye, dst, True, solver="cg"),
        lambda: implicit(eye, dst, solver="cg", cg_steps=0),
        lambda: K.gram(src.T),
        lambda: K.gram(src.astype(f64)),
        lambda: K.predict_pairs(pairs, pairs, src.astype(f64), src, 0.0, eye[0], eye[0], False),
        lambda: K.predict_pairs(pairs, np.zeros(3, i64), src, src, 0.0, eye[0], eye[0], False),
        lambda: top(np.zeros(1, i64), np.zeros((k + 1, 40))),
        lambda: top(np.array([40]), np.zeros((k, 40))),
        lambda: K.objective_terms(indptr, indices, values, dst[:, :4], src, 0.1),
        lambda: K.transpose_csr(indptr, indices, values, 40, np.zeros(3, i32)),
        lambda: K.csr_order(indices, indices.astype(i64), 4, 40, np.zeros(len(indices), i32)),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(K.KernelArgumentError) as info:
            case()
        message = str(info.value)
        assert "\n" not in message and message, (i, message)
        assert isinstance(info.value, EngineError) and isinstance(info.value, MovierecError)


def _read_only(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.setflags(write=False)
    return out


# --- 3. implicit solves (exact and CG) against numpy -----------------------------------------


def _implicit_problem(
    rank: int, seed: int, lengths: list[int] | None = None, n_src: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A CSR over ``n_src`` float32 factor rows, values of both signs and zeros (so every
    branch of the implicit weights is taken)."""
    rng = np.random.default_rng(seed)
    lengths = lengths or [0, 1, 2, 3, 4, 5, 7, 8, 13, 40, 150, 299]
    indptr, indices, _ = _csr(lengths, n_src, seed)
    values = rng.choice(np.array([-1.0, 0.0, 0.5, 1.0, 3.5, 5.0], np.float32), len(indices))
    src = (rng.standard_normal((n_src, rank)) / np.sqrt(rank)).astype(np.float32)
    return indptr, indices, values.astype(np.float32), src


def _dense_system(
    y: np.ndarray, v: np.ndarray, gram: np.ndarray, reg: float, alpha: float, ials: bool,
    extra: float, nu: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(A, b) of one row written out in numpy: Hu-Koren c = alpha·|v|, t = (1 + c)·[v > 0],
    λ = reg·n₊; iALS c = t = [v > 0], λ = reg·(n₊ + extra)^ν."""
    pos = v > 0
    if ials:
        c = pos.astype(np.float64)
        t = c
        lam = reg * (pos.sum() + extra) ** nu
    else:
        c = alpha * np.abs(v)
        t = np.where(pos, 1.0 + c, 0.0)
        lam = reg * pos.sum()
    a = gram + (y * c[:, None]).T @ y + lam * np.eye(y.shape[1])
    return a, y.T @ t


RANKS = [1, 2, 3, 5, 8, 16, 17, 33, 64, 128]


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("ials", [False, True])
def test_implicit_solves_match_numpy(rank: int, ials: bool) -> None:
    """Cholesky gives numpy's solution of the written-out system; CG run to convergence
    (2k + 10 steps) gives it too; 3 warm-started CG steps from the exact solution stay there;
    and 3 steps from anywhere never raise the row's quadratic."""
    indptr, indices, values, src = _implicit_problem(rank, rank + 100 * ials)
    y64 = src.astype(np.float64)
    a0, reg, alpha, nu = 0.3, 0.05, 2.0, 0.8
    gram = K.gram(src) * (a0 if ials else 1.0)
    extra = a0 * len(src) if ials else 0.0
    n_rows = len(indptr) - 1
    want = []
    for r in range(n_rows):
        sl = slice(indptr[r], indptr[r + 1])
        a, b = _dense_system(
            y64[indices[sl]], values[sl].astype(np.float64), gram, reg, alpha, ials, extra, nu
        )
        want.append(np.linalg.solve(a, b) if indptr[r + 1] > indptr[r] else np.zeros(rank))
    expected = np.array(want)
    kw = {"ials": ials, "reg_extra": extra, "reg_exponent": nu if ials else 1.0}
    exact = np.full((n_rows, rank), 9.0, dtype=np.float32)
    args = (indptr, indices, values, src, gram, reg, alpha, False)
    assert K.solve_half_implicit(*args, exact, solver="cholesky", **kw) == 0
    scale = np.abs(expected).max()
    np.testing.assert_allclose(exact, expected, rtol=1e-5, atol=1e-6 * scale)
    # CG to convergence from zeros.
    cg = np.zeros((n_rows, rank), dtype=np.float32)
    K.solve_half_implicit(*args, cg, solver="cg", cg_steps=2 * rank + 10, **kw)
    np.testing.assert_allclose(cg, expected, rtol=1e-3, atol=1e-4 * scale)
    # Warm-started at the solution, 3 steps stay at it.
    warm = exact.copy()
    K.solve_half_implicit(*args, warm, solver="cg", cg_steps=3, **kw)
    np.testing.assert_allclose(warm, expected, rtol=1e-3, atol=1e-4 * scale)
    # From a random start, each CG step lowers ½xᵀAx − bᵀx (exactly: the Krylov property).
    start = np.random.default_rng(7).standard_normal((n_rows, rank)).astype(np.float32)

    def quad(x: np.ndarray, r: int) -> float:
        sl = slice(indptr[r], indptr[r + 1])
        a, b = _dense_system(
            y64[indices[sl]], values[sl].astype(np.float64), gram, reg, alpha, ials, extra, nu
        )
        x = x.astype(np.float64)
        return float(0.5 * x @ a @ x - b @ x)

    prev = start.copy()
    for steps in (1, 2, 3):
        out = start.copy()
        K.solve_half_implicit(*args, out, solver="cg", cg_steps=steps, **kw)
        for r in range(n_rows):
            if indptr[r + 1] == indptr[r]:
                assert np.all(out[r] == 0.0)
                continue
            before, after = quad(prev[r], r), quad(out[r], r)
            assert after <= before + 1e-6 * max(1.0, abs(before)), (steps, r, before, after)
        prev = out


def test_cg_is_independent_of_the_task_split_and_the_buffer() -> None:
    """Every row is solved alone, so any cut into tasks gives bit-identical factors; rows
    read through the gathered buffer or straight from the factor matrix agree bit for bit
    (same float32 operations in the same order)."""
    rng = np.random.default_rng(3)
    lengths = rng.zipf(1.5, 400).clip(0, 299).tolist()
    for rank in (4, 16, 50):
        indptr, indices, values, src = _implicit_problem(rank, rank, lengths)
        gram32 = K.gram(src).astype(np.float32)
        start = rng.standard_normal((len(lengths), rank)).astype(np.float32)
        results = []
        for n_tasks, buf_rows in [(1, 10**6), (2, 10**6), (3, 10**6), (7, 10**6), (2, 5), (1, 0)]:
            out = start.copy()
            bounds = P.plan_implicit(indptr, rank, 3, n_tasks)
            K._solve_half_cg(
                indptr, indices, values, src, gram32, 0.1, 1.0, out, bounds, False, 0.0, 1.0, 3,
                buf_rows,
            )  # fmt: skip
            results.append(out)
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0])


# --- 4. the same tests on a generic x86-64 target ---------------------------------------------


@njit(cache=False)
def _tile_probe(y: np.ndarray, a: np.ndarray) -> None:
    K._tile_4x12(y, 4, 0, 0, a, 0)


def test_target_cpu_is_what_numba_was_told() -> None:
    """Run inside :func:`test_kernels_on_a_generic_cpu`: with NUMBA_CPU_NAME=generic the
    compiled register tiles use no 256/512-bit registers (no AVX assumptions)."""
    y = np.ones((4, 12))
    a = np.zeros((12, 12))
    _tile_probe(y, a)
    assert np.all(a[:4, :12] == 4.0)
    asm = _tile_probe.inspect_asm(_tile_probe.signatures[0])
    if os.environ.get("NUMBA_CPU_NAME") == "generic":
        assert "ymm" not in asm and "zmm" not in asm
        assert "xmm" in asm  # SSE2 vectors: each 4-double vector runs as two


@pytest.mark.slow
def test_kernels_on_a_generic_cpu(tmp_path: Path) -> None:
    """The kernel tests again in a fresh process compiled for a generic x86-64 CPU (SSE2
    only, no FMA) with its own NUMBA_CACHE_DIR, so nothing here depends on the build
    machine's AVX2/AVX-512: every explicit solve path (ranks up to 128), the register tiles,
    the blocked Cholesky, the implicit solves, the guards."""
    env = {
        **os.environ,
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    selection = [
        "tests/test_local_kernels.py",
        "tests/test_engines_local.py::test_every_solve_path_matches_numpy",
        "tests/test_engines_local.py::test_cholesky_solve_upper_matches_numpy",
        "tests/test_engines_local.py::test_register_tiles_and_gathers_match_numpy",
        "tests/test_engines_local.py::test_unregularised_and_nonnegative_short_rows",
        "tests/test_engines_local.py::test_solve_half_is_independent_of_the_task_split",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
         "-k", "not generic_cpu", *selection],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3000,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
