"""Implicit-feedback fits of the local engine: ``implicit-als`` and ``ials``.

Both alternate half-steps in which every row solves

    (G + Σ_j c_j y_j y_jᵀ + λ_r·I) x_r = Σ_j t_j y_j

against the fixed side's factors Y (one kernel, :func:`._local_kernels.solve_half_implicit`):

- ``implicit-als`` — Spark MLlib's implicit ALS (Hu, Koren & Volinsky with Spark's
  extensions): G = YᵀY, c_j = alpha·|v_j|, t_j = (1 + alpha·|v_j|)·[v_j > 0],
  λ_r = reg_param·#{v_j > 0} (see :mod:`movierec.engines.local_als`);
- ``ials`` — Rendle et al.'s iALS (:mod:`movierec.ials`): G = α0·YᵀY, c_j = t_j = [v_j > 0],
  λ_r = reg_param·(#{v_j > 0} + α0·|Y|)^ν.

``implicit_solver`` picks the row solve: ``cholesky`` forms and factorises the k×k system
(exact; O(n·k² + k³) per row), ``cg`` takes ``cg_steps`` conjugate-gradient steps
warm-started from the row's previous factors (O(n·k + k²) per step). Each CG step lowers the
row's quadratic, so the objective still decreases every iteration; with 3 steps the ranking
quality matches the exact solve (tests/test_engines_ials.py, benchmarks/README.md).
``nonnegative`` always solves exactly (Lawson-Hanson NNLS). Initial factors: implicit-als as
Spark (user rows of unit length, item factors zeros — the first half-step solves them);
ials N(0, σ/√d) for both sides (CG starts from them).
"""

from __future__ import annotations

import logging

import numpy as np

from movierec.engines import _local_kernels as K
from movierec.engines import _local_plan as P
from movierec.engines.base import ALSParams
from movierec.errors import ConfigError, EngineError

log = logging.getLogger(__name__)


def check_params(params: ALSParams) -> None:
    """Raises ConfigError for implicit-solver and ials settings out of range."""
    if params.implicit_solver not in P.IMPLICIT_SOLVERS:
        raise ConfigError(
            f"unknown implicit_solver {params.implicit_solver!r}; "
            f"choose one of: {', '.join(P.IMPLICIT_SOLVERS)}"
        )
    if params.cg_steps < 1:
        raise ConfigError(f"cg_steps must be at least 1, got {params.cg_steps}")
    for name in ("unobserved_weight", "reg_exponent"):
        value = getattr(params, name)
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative number, got {value}")
    if not (np.isfinite(params.init_std) and params.init_std > 0):
        raise ConfigError(f"init_std must be a positive number, got {params.init_std}")


def init_ials(rng: np.random.Generator, n: int, rank: int, std: float) -> np.ndarray:
    """``n`` rows of N(0, std/√rank) draws as float32 (Rendle et al.'s initialisation)."""
    f = rng.standard_normal((n, rank)) * (std / np.sqrt(rank))
    return np.ascontiguousarray(f, dtype=np.float32)


def solver_of(params: ALSParams) -> str:
    """The row solve a fit uses: ``params.implicit_solver``, but always ``cholesky`` for a
    nonnegative fit (CG has no bounds)."""
    return "cholesky" if params.nonnegative else params.implicit_solver


def half_step(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    fixed: np.ndarray,
    dst: np.ndarray,
    params: ALSParams,
    *,
    solver: str | None = None,
    bounds: np.ndarray | None = None,
) -> None:
    """One implicit half-step of ``params``' model (implicit-als or ials), in place.

    ``indptr``/``indices``/``values`` are the CSR of the rows being solved (int64, int32,
    float32), ``fixed`` the other side's float32 factors (one row per column index; its
    Gramian runs over all of them) and ``dst`` (float32, rows × rank) receives the
    solutions — and, for CG, holds the warm start on entry. ``solver`` overrides
    :func:`solver_of`; ``bounds`` are the task cuts (:func:`._local_plan.plan_implicit`).

    Raises:
        EngineError: a row's system is not positive definite (only with reg_param = 0).
    """
    gram = K.gram(fixed)
    extra = 0.0
    if params.ials:
        gram *= float(params.unobserved_weight)
        extra = float(params.unobserved_weight) * fixed.shape[0]
    failed = K.solve_half_implicit(
        indptr,
        indices,
        values,
        fixed,
        gram,
        float(params.reg_param),
        float(params.alpha),
        bool(params.nonnegative),
        dst,
        ials=params.ials,
        reg_extra=extra,
        reg_exponent=float(params.reg_exponent) if params.ials else 1.0,
        solver=solver or solver_of(params),
        cg_steps=int(params.cg_steps),
        bounds=bounds,
    )
    if failed:
        raise EngineError(
            f"{params.model} normal equations of {failed} rows are not positive definite "
            f"(regParam={params.reg_param}); use a positive regParam"
        )


def objective(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    params: ALSParams,
) -> float:
    """The model's implicit objective over every (user, item) pair of the CSR's shape.

    implicit-als (Spark): Σ_all (x·y)² + Σ_obs [c (p − s)² − s²] + reg_param·(Σ_u n_u‖x_u‖²
    + Σ_i n_i‖y_i‖²). ials: α0·Σ_all (x·y)² + Σ_{v>0} (1 − s)² + reg_param·(Σ_u (n_u +
    α0·|I|)^ν‖x_u‖² + Σ_i (n_i + α0·|U|)^ν‖y_i‖²). Σ_all (x·y)² = Σ (XᵀX ∘ YᵀY).
    """
    uf = np.ascontiguousarray(user_factors, dtype=np.float32)
    itf = np.ascontiguousarray(item_factors, dtype=np.float32)
    total_sq = float(np.sum(K.gram(uf) * K.gram(itf)))
    if not params.ials:
        corr, row_pen, col_pen = K.implicit_objective_terms(
            indptr, indices, values, uf, itf, float(params.alpha)
        )
        return total_sq + corr + float(params.reg_param) * (row_pen + col_pen)
    a0 = float(params.unobserved_weight)
    corr, row_pen, col_pen = K.implicit_objective_terms(
        indptr,
        indices,
        values,
        uf,
        itf,
        0.0,
        ials=True,
        row_extra=a0 * itf.shape[0],
        col_extra=a0 * uf.shape[0],
        reg_exponent=float(params.reg_exponent),
    )
    return a0 * total_sq + corr + float(params.reg_param) * (row_pen + col_pen)


def fit(
    csr: tuple[np.ndarray, np.ndarray, np.ndarray],
    csc: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: ALSParams,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    history: list[float] | None,
) -> None:
    """``params.max_iter`` implicit iterations in place: items from users, then users from
    items. ``csr``/``csc`` are (indptr, indices, values) by user and by item. The task cuts
    are planned once per side; with ``history`` the objective is appended after each
    iteration."""
    steps = params.cg_steps if solver_of(params) == "cg" else 0
    threads = K.n_threads()
    item_bounds = P.plan_implicit(csc[0], params.rank, steps, threads)
    user_bounds = P.plan_implicit(csr[0], params.rank, steps, threads)
    for it in range(params.max_iter):
        half_step(*csc, user_factors, item_factors, params, bounds=item_bounds)
        half_step(*csr, item_factors, user_factors, params, bounds=user_bounds)
        if history is not None:
            value = objective(*csr, user_factors, item_factors, params)
            history.append(value)
            log.debug("iteration %d: %s objective %.6f", it + 1, params.model, value)
