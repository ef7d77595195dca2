"""iALS in plain numpy (:mod:`movierec.ials`): the regulariser and fold-in, against the loss
written out over every item."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.errors import ConfigError
from movierec.ials import fold_in, row_regularisation


def dense_loss_and_gradient(
    x: np.ndarray, y: np.ndarray, observed: np.ndarray, a0: float, lam: float, nu: float
) -> tuple[float, np.ndarray]:
    """One user's part of Rendle et al.'s loss, pair by pair over all |I| items:
    Σ_obs (x·y_i − 1)² + α0·Σ_all (x·y_i)² + λ·(|I_u| + α0·|I|)^ν·‖x‖², and its gradient."""
    s = y @ x
    reg = lam * (observed.sum() + a0 * len(y)) ** nu
    loss = np.sum((s[observed] - 1.0) ** 2) + a0 * np.sum(s**2) + reg * x @ x
    grad = 2 * y[observed].T @ (s[observed] - 1.0) + 2 * a0 * y.T @ s + 2 * reg * x
    return float(loss), grad


@pytest.mark.parametrize(
    ("k", "a0", "lam", "nu"), [(1, 0.5, 0.1, 1.0), (8, 0.1, 0.01, 1.0), (20, 1.0, 0.003, 0.7)]
)
def test_fold_in_minimises_the_written_out_loss(k: int, a0: float, lam: float, nu: float) -> None:
    rng = np.random.default_rng(k)
    y = rng.standard_normal((60, k)).astype(np.float32)
    rated = rng.choice(60, 9, replace=False)
    x = fold_in(y, rated, reg_param=lam, unobserved_weight=a0, reg_exponent=nu)
    assert x.dtype == np.float32 and x.shape == (k,)
    observed = np.zeros(60, dtype=bool)
    observed[rated] = True
    y64 = y.astype(np.float64)
    loss, grad = dense_loss_and_gradient(x.astype(np.float64), y64, observed, a0, lam, nu)
    assert np.abs(grad).max() <= 1e-4 * max(1.0, loss)
    # Any nudge raises the loss (a minimum, not a saddle).
    for _ in range(5):
        nudged = x.astype(np.float64) + 1e-2 * rng.standard_normal(k)
        assert dense_loss_and_gradient(nudged, y64, observed, a0, lam, nu)[0] > loss
    # Duplicates count once; a precomputed Gramian gives the same answer.
    again = fold_in(
        y, np.concatenate([rated, rated[:3]]), reg_param=lam, unobserved_weight=a0,
        reg_exponent=nu, gram=y64.T @ y64,
    )  # fmt: skip
    np.testing.assert_allclose(again, x, rtol=1e-5, atol=1e-7)


def test_regulariser_and_edge_cases() -> None:
    np.testing.assert_allclose(
        row_regularisation(np.array([0, 5]), 100, 0.01, 0.2, 1.0), [0.01 * 20, 0.01 * 25]
    )
    assert row_regularisation(3, 10, 2.0, 0.5, 0.0) == pytest.approx(2.0)
    y = np.ones((4, 3), dtype=np.float32)
    assert np.all(fold_in(y, [], reg_param=0.1, unobserved_weight=0.1, reg_exponent=1.0) == 0)
    with pytest.raises(ConfigError, match="rated item rows"):
        fold_in(y, [4], reg_param=0.1, unobserved_weight=0.1, reg_exponent=1.0)
    with pytest.raises(ConfigError, match="unobserved_weight"):
        fold_in(y, [0], reg_param=0.1, unobserved_weight=-1.0, reg_exponent=1.0)
    with pytest.raises(ConfigError, match="gram"):
        fold_in(y, [0], reg_param=0.1, unobserved_weight=0.1, reg_exponent=1.0, gram=np.eye(4))
    with pytest.raises(ConfigError, match="positive definite"):
        fold_in(np.zeros((4, 3)), [0], reg_param=0.0, unobserved_weight=0.0, reg_exponent=1.0)
