"""Fold-in and explain: one user's normal equations against fixed item factors.

* **Fold-in** of a new user's ratings with the *same* regularisation as training: with
  ``I`` the rated movies (n of them) and ``Y_I`` their factors,

  - ``biased-als``: ``b_u = Σ_I (r − μ − b_i) / (n + bias_reg)`` (exactly the training
    formula), residuals ``r̃ = r − μ − b_u − b_i``;
  - ``als``: ``μ = b_u = b_i = 0``, ``r̃ = r``;
  - ``x = (Y_Iᵀ Y_I + reg_param·n·I)⁻¹ Y_Iᵀ r̃`` (Lawson-Hanson NNLS when the model is
    ``nonnegative``), residuals rounded to float32 first as the engines' ALS reads them.

  - ``implicit-als`` (Spark's ``implicitPrefs``, as the local engine's kernel): ratings v
    as float32, confidence ``c = 1 + alpha·|v|``, preference ``p = [v > 0]``,
    ``n = #{v > 0}``, ``x = (YᵀY + Σ_I (c − 1) y yᵀ + reg_param·n·I)⁻¹ Σ_I c·p·y`` with
    ``YᵀY`` over *every* movie (precomputed at load); scores are preferences ``x·y_i``.

  - ``ials`` (Rendle et al.; :func:`movierec.ials.fold_in`, the training system itself):
    the movies rated > 0 are the interactions I,
    ``x = (α0·YᵀY + Y_IᵀY_I + λ·(|I| + α0·|all movies|)^ν·I)⁻¹ Σ_I y``.

  Training ends with a user half-step against the final item factors, so folding in a
  known user's own training ratings gives back that user's trained factors (to float32
  rounding).
* **Explain**: the user's rated movies that contribute most to ``x_u·y_m``. Because ``x_u``
  is the solution of the fold-in system, ``x_u·y_m = Σ_{j∈I} r̃_j · (y_jᵀ A⁻¹ y_m)`` with
  ``A = Y_Iᵀ Y_I + reg_param·n·I``: each rated movie ``j`` contributes
  ``c_j = r̃_j · y_jᵀ A⁻¹ y_m`` (its residual rating times its fold-in weight toward ``m``),
  and the contributions add up to the factor part of the score exactly (up to rounding;
  for ``nonnegative`` models the unconstrained decomposition is reported). For
  ``implicit-als`` the same holds with the implicit system: ``c_j = c_j·p_j · y_jᵀ A⁻¹ y_m``
  (confidence of the interaction times its weight toward ``m``; ``A`` as in the fold-in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movierec.errors import ConfigError
from movierec.ials import fold_in as ials_fold_in
from movierec.ials import row_regularisation
from movierec.service.numeric import nnls


@dataclass(frozen=True)
class FoldIn:
    """A folded-in user: factors ``x`` (float64), bias ``b_u``, the rated item rows."""

    x: np.ndarray
    user_bias: float
    item_rows: np.ndarray
    ratings: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Decomposition of one user's score for one movie (see the module docstring)."""

    score: float
    baseline: float
    """μ + b_u + b_m (0 for plain ALS)."""
    factor_score: float
    """x_u·y_m with the model's stored user factors."""
    contributions_sum: float
    """Σ_j c_j over all of the user's rated movies (≈ factor_score)."""
    item_rows: np.ndarray
    """The top rated movies by contribution, descending."""
    contributions: np.ndarray
    ratings: np.ndarray


class UserSystems:
    """Fold-in and explain, mixed into :class:`movierec.service.scorer.Scorer` (which sets
    the attributes below)."""

    rank: int
    reg_param: float
    bias_reg: float
    alpha: float
    nonnegative: bool
    biased: bool
    implicit: bool
    ials: bool
    unobserved_weight: float
    reg_exponent: float
    item_factors: np.ndarray
    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_f64: np.ndarray
    _gram: np.ndarray | None

    def seen(self, urow: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict(self, urow: int, irow: int) -> float:
        raise NotImplementedError

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> FoldIn:
        """Factors of a user with these ratings, item factors fixed (module docstring).

        Raises:
            ValueError: no ratings, or a system that is not positive definite
                (only possible when reg_param is 0).
        """
        rows = np.asarray(item_rows, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        if len(rows) == 0:
            raise ValueError("no rated movie is known to the model")
        if self.ials:
            observed = rows[r.astype(np.float32) > 0]
            try:
                x32 = ials_fold_in(
                    self.item_factors,
                    observed,
                    reg_param=self.reg_param,
                    unobserved_weight=self.unobserved_weight,
                    reg_exponent=self.reg_exponent,
                    gram=self._gram,
                )
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
            return FoldIn(x32.astype(np.float64), 0.0, rows, r)
        if self.implicit:
            a, y, weight = self._implicit_system(rows, r)
            b = y.T @ weight
            bu = 0.0
        else:
            resid, bu = self._residuals(rows, r)
            a, y = self._normal_matrix(rows)
            b = y.T @ resid
        if self.nonnegative:
            x = nnls(a, b)
        else:
            try:
                x = np.linalg.solve(a, b)
            except np.linalg.LinAlgError as exc:
                raise ValueError(f"fold-in system is singular ({exc})") from exc
        return FoldIn(x, bu, rows, r)

    def _residuals(
        self, rows: np.ndarray, r: np.ndarray, bu: float | None = None
    ) -> tuple[np.ndarray, float]:
        """(residuals rounded to float32 as ALS reads them, b_u) for ratings ``r`` of ``rows``."""
        if not self.biased:
            return r.astype(np.float32).astype(np.float64), 0.0
        ib = self.item_bias[rows]
        if bu is None:
            bu = float(np.sum(r - self.global_mean - ib) / (len(r) + self.bias_reg))
        resid = r - self.global_mean - bu - ib
        return resid.astype(np.float32).astype(np.float64), bu

    def _implicit_system(
        self, rows: np.ndarray, r: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, Y_I, w) of one user's implicit-feedback normal equations ``A x = Y_Iᵀ w``.

        Spark's ``computeFactors(implicitPrefs=true)`` as the local engine's kernel solves
        it: ratings v read as float32, confidence c = 1 + alpha·|v|, preference p = 1 if
        v > 0 else 0, n = the number of v > 0;
        ``A = YᵀY + Σ_j (c_j − 1) y_j y_jᵀ + reg_param·n·I`` (YᵀY over every movie,
        precomputed at load) and ``w_j = c_j·p_j``.
        """
        v = r.astype(np.float32).astype(np.float64)
        y = self.item_f64[rows]
        assert self._gram is not None
        # ials: Rendle et al.'s system (binary interactions v > 0, A = α0·YᵀY + Σ y yᵀ +
        # λ·(n + α0·|all movies|)^ν·I, w_j = 1).
        if self.ials:
            positive = v > 0
            n = int(np.count_nonzero(positive))
            yp = y[positive]
            a = self.unobserved_weight * self._gram + yp.T @ yp
            lam = float(
                row_regularisation(
                    n, len(self.item_f64), self.reg_param, self.unobserved_weight,
                    self.reg_exponent,
                )
            )  # fmt: skip
            a[np.diag_indices_from(a)] += lam
            return a, y, positive.astype(np.float64)
        extra = self.alpha * np.abs(v)
        a = self._gram + y.T @ (y * extra[:, None])
        positive = v > 0
        a[np.diag_indices_from(a)] += self.reg_param * float(np.count_nonzero(positive))
        weight = np.where(positive, 1.0 + extra, 0.0)
        return a, y, weight

    def _normal_matrix(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Y_Iᵀ Y_I + reg_param·n·I, Y_I) in float64."""
        y = self.item_f64[rows]
        a = y.T @ y
        a[np.diag_indices_from(a)] += self.reg_param * len(rows)
        return a, y

    def explain(self, urow: int, irow: int, k: int) -> Explanation:
        """The user's rated movies contributing most to their score for ``irow``.

        Contribution of rated movie j: ``c_j = r̃_j · y_jᵀ A⁻¹ y_m`` (module docstring; for
        ``implicit-als`` r̃_j is the confidence c_j·p_j and A the implicit system); the
        ``k`` largest come back, descending (ties by ascending movie id).
        """
        rows, ratings = self.seen(urow)
        r = np.asarray(ratings, dtype=np.float64)
        bu = float(self.user_bias[urow])
        if self.implicit or self.ials:
            a, y, resid = self._implicit_system(rows.astype(np.int64), r)
        else:
            resid, _ = self._residuals(rows.astype(np.int64), r, bu if self.biased else None)
            a, y = self._normal_matrix(rows.astype(np.int64))
        w = np.linalg.solve(a, self.item_f64[irow])
        contrib = resid * (y @ w)
        x = self.user_factors[urow].astype(np.float64)
        factor = float(np.cumsum(x * self.item_f64[irow])[-1]) if self.rank else 0.0
        baseline = (self.global_mean + bu + float(self.item_bias[irow])) if self.biased else 0.0
        order = np.lexsort((rows, -contrib))[:k]
        return Explanation(
            score=self.predict(urow, irow),
            baseline=baseline,
            factor_score=factor,
            contributions_sum=float(contrib.sum()),
            item_rows=rows[order].astype(np.int64),
            contributions=contrib[order],
            ratings=r[order],
        )
