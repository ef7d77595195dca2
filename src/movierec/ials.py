"""iALS as Rendle, Krichene, Zhang & Koren formulate it ("Revisiting the Performance of iALS on
Item Recommendation Benchmarks", RecSys 2022), in plain numpy.

The loss over users u, items i (observed pairs S, binary preference), with scores
ŷ(u, i) = x_u·y_i:

    L = Σ_{(u,i)∈S} (ŷ(u,i) − 1)² + α0·Σ_u Σ_i ŷ(u,i)²
        + λ·Σ_u (|I_u| + α0·|I|)^ν ‖x_u‖² + λ·Σ_i (|U_i| + α0·|U|)^ν ‖y_i‖²

(α0 = ``unobserved_weight``, λ = ``reg_param``, ν = ``reg_exponent``; |I_u| the user's
items, |I| all items). The α0 term runs over *every* pair, observed or not; it is computed
through the Gramian YᵀY, never pair by pair. With the items fixed, each user's factors are
the solution of

    (α0·YᵀY + Σ_{i∈I_u} y_i y_iᵀ + λ·(|I_u| + α0·|I|)^ν·I) x_u = Σ_{i∈I_u} y_i

and symmetrically for items. Factors start as N(0, σ/√d) draws (σ = ``init_std``).

This module has no numba, pandas or Spark: the local engine fits through its kernels (same
system, :mod:`movierec.engines.local_implicit`), and anything holding item factors — the HTTP
service included — can fold a new user in with :func:`fold_in`, which solves exactly the
system above against fixed item factors. Fitting ends with a user half-step, so folding in a
training user's own items with the final item factors gives back that user's trained factors
(to float32 rounding) when the fit solved exactly (``implicit_solver = "cholesky"``).

Tuning recipe (Rendle et al. §5 and their code; defaults in :mod:`movierec.config`):
start from ν = 1 and σ = 0.1, 16 epochs; pick α0 on a log grid (0.003 … 1, e.g. 0.1 on
ML-20M, 0.02 on the Million Song Dataset); then λ on a log grid — with ν = 1 the useful λ
values move little when α0 or the dimension changes, because the regulariser already scales
with each row's weight; then grow the dimension d as far as time allows (quality keeps
rising with d when λ is re-tuned); re-check α0 last.
"""

from __future__ import annotations

import numpy as np

from movierec.errors import ConfigError


def row_regularisation(
    n_observed: np.ndarray | int,
    n_other_side: int,
    reg_param: float,
    unobserved_weight: float,
    reg_exponent: float,
) -> np.ndarray:
    """λ·(n + α0·N)^ν for rows with ``n_observed`` = n observed entries, N = ``n_other_side``
    (the number of items for a user, of users for an item). float64."""
    n = np.asarray(n_observed, dtype=np.float64)
    return float(reg_param) * (n + float(unobserved_weight) * n_other_side) ** float(reg_exponent)


def _check(reg_param: float, unobserved_weight: float, reg_exponent: float) -> None:
    for name, value in (
        ("reg_param", reg_param),
        ("unobserved_weight", unobserved_weight),
        ("reg_exponent", reg_exponent),
    ):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative number, got {value}")


def fold_in(
    item_factors: np.ndarray,
    rated: np.ndarray,
    *,
    reg_param: float,
    unobserved_weight: float,
    reg_exponent: float,
    gram: np.ndarray | None = None,
) -> np.ndarray:
    """The factors of a user who interacted with the item rows ``rated``, items held fixed.

    Solves (α0·YᵀY + Σ_{i∈rated} y_i y_iᵀ + λ·(|rated| + α0·|I|)^ν·I) x = Σ_{i∈rated} y_i
    in float64 from the float32 (or float64) ``item_factors`` Y (|I| rows), exactly the
    user half-step of training. ``gram`` may pass a precomputed YᵀY (float64, k×k) — it is
    the same for every user. Repeated rows in ``rated`` count once. A user with no items
    gets zeros (the system's right-hand side is 0).

    Returns:
        float32 vector of k factors (as the engines store factors).

    Raises:
        ConfigError: a negative or non-finite hyper-parameter, a ``rated`` row outside Y,
            a ``gram`` of the wrong shape, or a system that is not positive definite
            (only possible with λ = 0 and too few items).
    """
    _check(reg_param, unobserved_weight, reg_exponent)
    y = np.asarray(item_factors)
    if y.ndim != 2:
        raise ConfigError(f"item_factors must be 2-D, got shape {y.shape}")
    n_items, k = y.shape
    rows = np.unique(np.asarray(rated, dtype=np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= n_items):
        raise ConfigError(
            f"rated item rows must be in [0, {n_items}), got {rows.min()}…{rows.max()}"
        )
    if gram is None:
        y64 = y.astype(np.float64)
        gram = y64.T @ y64
    elif gram.shape != (k, k):
        raise ConfigError(f"gram must be {k}×{k}, got {gram.shape}")
    if len(rows) == 0:
        return np.zeros(k, dtype=np.float32)
    yi = y[rows].astype(np.float64)
    lam = float(row_regularisation(len(rows), n_items, reg_param, unobserved_weight, reg_exponent))
    a = float(unobserved_weight) * gram + yi.T @ yi + lam * np.eye(k)
    b = yi.sum(axis=0)
    try:
        chol = np.linalg.cholesky(a)
    except np.linalg.LinAlgError as exc:
        raise ConfigError(
            "iALS fold-in system is not positive definite; use a positive reg_param"
        ) from exc
    z = np.linalg.solve(chol, b)
    return np.linalg.solve(chol.T, z).astype(np.float32)
