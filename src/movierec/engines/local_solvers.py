"""The local engine's half-steps: explicit (Spark's regularised normal equations per row)
and implicit (implicit-als, ials) solves of one side from the other, the parameter checks,
Spark-like factor initialisation and the damped biases of ``biased-als``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from movierec.engines import _local_kernels as K
from movierec.engines import local_implicit as LI
from movierec.engines.base import (
    MODELS,
    ALSParams,
)
from movierec.engines.local_data import LocalData
from movierec.errors import ConfigError, EngineError
from movierec.schema import RATING

if TYPE_CHECKING:
    pass

log = logging.getLogger("movierec.engines.local_als")


def _check_params(params: ALSParams) -> None:
    """Raises ConfigError for values Spark's ALS would reject."""
    if params.rank < 1:
        raise ConfigError(f"rank must be at least 1, got {params.rank}")
    if params.max_iter < 0:
        raise ConfigError(f"max_iter must be non-negative, got {params.max_iter}")
    if not params.reg_param >= 0:
        raise ConfigError(f"reg_param must be non-negative, got {params.reg_param}")
    if params.model not in MODELS:
        raise ConfigError(f"unknown model {params.model!r}; choose one of: {', '.join(MODELS)}")
    if params.biased and not params.bias_reg >= 0:
        raise ConfigError(f"bias_reg must be non-negative, got {params.bias_reg}")
    if not (params.alpha >= 0 and np.isfinite(params.alpha)):
        raise ConfigError(f"alpha must be a non-negative number, got {params.alpha}")
    LI.check_params(params)


def _init_factors(rng: np.random.Generator, n: int, rank: int) -> np.ndarray:
    """Rows of N(0, 1) draws rounded to float32 and scaled to unit length (as Spark does)."""
    f = rng.standard_normal((n, rank)).astype(np.float32)
    norms = np.linalg.norm(f, axis=1)
    norms[norms == 0] = 1.0
    f *= (np.float32(1.0) / norms)[:, None]
    return np.ascontiguousarray(f, dtype=np.float32)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _solve(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    fixed: np.ndarray,
    n_rows: int,
    reg_param: float,
    nonnegative: bool,
) -> np.ndarray:
    out = np.empty((n_rows, fixed.shape[1]), dtype=np.float32)
    failed = K.solve_half(
        indptr, indices, _f32(values), _f32(fixed), float(reg_param), bool(nonnegative), out
    )
    if failed:
        raise EngineError(
            f"ALS normal equations of {failed} rows are not positive definite "
            f"(regParam={reg_param}); use a positive regParam"
        )
    return out


def solve_users(
    data: LocalData, item_factors: np.ndarray, reg_param: float, nonnegative: bool = False
) -> np.ndarray:
    """One user half-step on ``data``'s ratings with the item factors held fixed.

    ``item_factors`` has one row per ``data.item_ids`` entry (read as float32). Returns the
    user factors (float32, one row per ``data.user_ids`` entry), each the exact minimiser of
    Σ_i (r_ui − x·y_i)² + reg_param·n_u‖x‖² (subject to x ≥ 0 when ``nonnegative``).

    Raises:
        EngineError: a system is not positive definite (only possible with reg_param = 0).
    """
    return _solve(
        data.csr_indptr,
        data.csr_indices,
        data.csr_values,
        item_factors,
        data.n_users,
        reg_param,
        nonnegative,
    )


def solve_items(
    data: LocalData, user_factors: np.ndarray, reg_param: float, nonnegative: bool = False
) -> np.ndarray:
    """One item half-step: the transpose of :func:`solve_users` (rows of ``data.item_ids``)."""
    return _solve(
        data.csc_indptr,
        data.csc_indices,
        data.csc_values,
        user_factors,
        data.n_items,
        reg_param,
        nonnegative,
    )


def _implicit_helper(
    data: LocalData,
    fixed: np.ndarray,
    params: ALSParams,
    users: bool,
    start: np.ndarray | None,
    solver: str,
) -> np.ndarray:
    fixed = _f32(fixed)
    n_rows = data.n_users if users else data.n_items
    if start is None:
        out = np.zeros((n_rows, fixed.shape[1]), dtype=np.float32)
    else:
        out = np.array(start, dtype=np.float32, order="C", copy=True)
    if users:
        csr = (data.csr_indptr, data.csr_indices, data.csr_values)
    else:
        csr = (data.csc_indptr, data.csc_indices, data.csc_values)
    LI.half_step(*csr, fixed, out, params, solver=solver)
    return out


def solve_users_implicit(
    data: LocalData,
    item_factors: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool = False,
) -> np.ndarray:
    """One exact implicit-feedback user half-step (Spark's ``implicitPrefs``) with items fixed.

    ``item_factors`` has one row per ``data.item_ids`` entry (read as float32); YᵀY runs
    over all of them. Each user's factors (float32, rows of ``data.user_ids``) solve
    (YᵀY + Σ_i alpha·|r_ui| y_i y_iᵀ + reg_param·n_u·I) x = Σ_{i: r_ui>0} (1 + alpha·r_ui) y_i,
    n_u = the user's count of ratings > 0.

    Raises:
        EngineError: a system is not positive definite (only possible with reg_param = 0).
    """
    params = ALSParams(
        rank=np.shape(item_factors)[1],
        reg_param=reg_param,
        alpha=alpha,
        nonnegative=nonnegative,
        model="implicit-als",
    )
    return _implicit_helper(data, item_factors, params, True, None, "cholesky")


def solve_items_implicit(
    data: LocalData,
    user_factors: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool = False,
) -> np.ndarray:
    """One exact implicit item half-step: the transpose of :func:`solve_users_implicit`."""
    params = ALSParams(
        rank=np.shape(user_factors)[1],
        reg_param=reg_param,
        alpha=alpha,
        nonnegative=nonnegative,
        model="implicit-als",
    )
    return _implicit_helper(data, user_factors, params, False, None, "cholesky")


def implicit_half_step(
    data: LocalData,
    fixed: np.ndarray,
    params: ALSParams,
    *,
    users: bool = True,
    start: np.ndarray | None = None,
    solver: str | None = None,
) -> np.ndarray:
    """One half-step of ``params``' implicit model (implicit-als or ials) on ``data``.

    ``users`` True solves the users from the item factors ``fixed`` (one row per
    ``data.item_ids`` entry), else the items from user factors. ``start`` is the CG warm
    start (zeros when None; ignored by the exact solve); ``solver`` overrides
    ``params.implicit_solver``. Returns the new factors (float32).

    Raises:
        ConfigError: a parameter is out of range.
        EngineError: a system is not positive definite (only possible with reg_param = 0).
    """
    _check_params(params)
    if not params.implicit:
        raise ConfigError(f"{params.model} is not an implicit model")
    return _implicit_helper(data, fixed, params, users, start, solver or LI.solver_of(params))


def _biases(
    data: LocalData, reg: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(μ, b_u per user row, b_i per item row, residuals in CSR order, in CSC order).

    Exactly :meth:`SparkBiases.fit`: μ = mean rating, b_i = Σ_u (r − μ)/(n_i + reg), then
    b_u = Σ_i (r − μ − b_i)/(n_u + reg); residual = r − μ − b_u − b_i (float64, then
    float32 as Spark's ALS reads it).
    """
    r = data.ratings[RATING].to_numpy(dtype=np.float64)
    mean = float(r.mean())
    r = r[data.csr_perm]
    rows = data.csr_rows()
    cols = data.csr_indices
    n_u = np.diff(data.csr_indptr).astype(np.float64)
    n_i = np.diff(data.csc_indptr).astype(np.float64)
    item_bias = np.bincount(cols, weights=r - mean, minlength=data.n_items) / (n_i + reg)
    user_bias = np.bincount(rows, weights=r - mean - item_bias[cols], minlength=data.n_users) / (
        n_u + reg
    )
    resid = (r - mean - user_bias[rows] - item_bias[cols]).astype(np.float32)
    return mean, user_bias, item_bias, resid, resid[data.csc_from_csr]
