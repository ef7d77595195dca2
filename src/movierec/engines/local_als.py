"""The local engine: Spark MLlib's explicit ALS, in process, compiled with numba.

Same objective as Spark (:mod:`movierec.engines.spark_als`), same parameters, same outputs:

    minimise Σ_(u,i) (r_ui − x_u·y_i)² + regParam·(Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²)

Like Spark, both factor matrices start as rows of independent N(0, 1) draws scaled to unit
length (float32), and each iteration first solves every item from the user factors, then
every user from the new item factors; each row solves its k×k regularised normal equations
(Σ y yᵀ + regParam·n·I) x = Σ r y by Cholesky in float64 (Lawson-Hanson NNLS with
``nonnegative``), parallel over rows. Ratings enter the solves as float32 and factors are
stored as float32, exactly as Spark's ALS holds them: the fitted model saves to Spark's
ALSModel layout without loss, and the next half-step reads the same numbers Spark would.
The random draws cannot match Spark's (XORShift per block), so parity is statistical:
same objective, same RMSE within noise across seeds.

``biased-als`` subtracts the global mean and damped biases computed exactly as
:meth:`SparkBiases.fit <movierec.engines.spark_als.SparkBiases.fit>` does, then fits ALS on
the residuals; predictions are μ + b_u + b_i + x_u·y_i.

``implicit-als`` is Spark MLlib's implicit-feedback ALS (Hu, Koren & Volinsky, with Spark's
extensions), reproduced term by term from Spark's ``ALS.computeFactors(implicitPrefs=true)``:
every rating v of a row is an interaction with confidence c = 1 + alpha·|v| and preference
p = 1 if v > 0 else 0 (a rating ≤ 0 adds confidence to "not preferred"); the regulariser is
scaled by n = the row's count of ratings > 0. Each half-step precomputes YᵀY of all the
fixed-side factors once, then solves per row

    (YᵀY + Σ_j (c_j − 1) y_j y_jᵀ + regParam·n·I) x = Σ_{j: v_j>0} c_j y_j

which minimises Σ_(u,i over all pairs) c_ui (p_ui − x_u·y_i)² + regParam·(Σ_u n_u‖x_u‖² +
Σ_i n_i‖y_i‖²) (unrated pairs have c = 1, p = 0). Its scores x_u·y_i are preferences for
ranking (roughly 0..1), not ratings; predict and recommend return them, cold start NaN.

``ials`` is iALS in Rendle et al.'s formulation (:mod:`movierec.ials`): binary preferences,
a weight α0 on every unobserved pair through the Gramian, frequency-scaled regularisation.
Both implicit models solve each row by conjugate gradients warm-started from the previous
factors or exactly by Cholesky (``implicit_solver``; :mod:`movierec.engines.local_implicit`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.engines import _local_kernels as K
from movierec.engines import _local_plan as P
from movierec.engines import local_implicit as LI
from movierec.engines.base import (
    MODELS,
    ALSParams,
    Engine,
    EngineData,
    Factors,
    FrameLoaded,
    Loaded,
    TrainedModel,
)
from movierec.errors import ConfigError, EngineError, ModelError
from movierec.ids import positions
from movierec.schema import I_BIAS, ITEM, RANK, RATING, SCORE, TIMESTAMP, U_BIAS, USER

if TYPE_CHECKING:
    from movierec.config import DataConfig, SparkConfig

log = logging.getLogger(__name__)

LOCAL_FILE = "local.npz"
"""The local engine's own model file inside a saved model folder."""
LOCAL_FORMAT_VERSION = 1

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _dense_index(ids: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ids as int32, dense index of every entry as int32).

    Uses a lookup table when the id range is at most a few times the number of entries
    (O(n), the usual case), else ``np.unique``.

    Raises:
        EngineError: an id is not an integer in the 32-bit range (as Spark requires).
    """
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    if not np.issubdtype(arr.dtype, np.integer):
        as_int = arr.astype(np.int64)
        if not np.array_equal(as_int, arr):
            raise EngineError(f"{what} ids must be integers")
        arr = as_int
    lo, hi = int(arr.min()), int(arr.max())
    if lo < _INT32_MIN or hi > _INT32_MAX:
        raise EngineError(f"{what} ids must fit in 32 bits, got range [{lo}, {hi}]")
    span = hi - lo + 1
    if span <= 4 * arr.size + 1_000_000:
        offset = (arr.astype(np.int64) - lo) if lo != 0 else arr
        present = np.zeros(span, dtype=np.bool_)
        present[offset] = True
        unique = (np.flatnonzero(present) + lo).astype(np.int32)
        lookup = np.cumsum(present, dtype=np.int32) - 1
        return unique, lookup[offset].astype(np.int32, copy=False)
    unique, inverse = np.unique(arr, return_inverse=True)
    return unique.astype(np.int32), inverse.astype(np.int32)


_INDEX = (
    "csr_indptr",
    "csr_indices",
    "csr_values",
    "csr_perm",
    "csc_indptr",
    "csc_indices",
    "csc_values",
    "csc_from_csr",
)


class LocalData(EngineData):
    """A canonical ratings table plus its sparse index, built once (O(ratings)).

    Attributes (n = number of ratings; "row" = dense index into the sorted id arrays):
        user_ids, item_ids: sorted distinct ids (int32); user row u is ``user_ids[u]``.
        csr_indptr (int64, users + 1), csr_indices (int32 item rows), csr_values (float32):
            ratings by user, items ascending within a user.
        csc_indptr, csc_indices (int32 user rows), csc_values: ratings by item, users
            ascending within an item.
        csr_perm: ratings-table row of each CSR entry; csc_from_csr: CSR position of each
            CSC entry (both int32 below 2^31 ratings, else int64).

    Values are float32 because Spark's ALS reads ratings as float; the biases of
    ``biased-als`` are computed from the float64 ratings through ``csr_perm``, as Spark
    computes them from its double column.

    With ``index=False`` (tables the engine derives: splits, folds, predictions, lists) the
    index is built by :meth:`ensure_index` the first time a fit or an exclusion needs it,
    and kept until :meth:`release`.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    csr_indptr: np.ndarray
    csr_indices: np.ndarray
    csr_values: np.ndarray
    csr_perm: np.ndarray
    csc_indptr: np.ndarray
    csc_indices: np.ndarray
    csc_values: np.ndarray
    csc_from_csr: np.ndarray

    def __init__(self, ratings: pd.DataFrame, *, index: bool = True) -> None:
        self._ratings = ratings
        for name in ("user_ids", "item_ids", *_INDEX):
            setattr(self, name, None)
        if index:
            self.ensure_index()

    def ensure_index(self) -> LocalData:
        """Build the sparse index if it is not built yet; return ``self``.

        Raises:
            EngineError: ids are not 32-bit integers.
        """
        if self.csr_indptr is not None:
            return self
        ratings = self._ratings
        started = time.perf_counter()
        self.user_ids, uidx = _dense_index(ratings[USER].to_numpy(), "user")
        self.item_ids, iidx = _dense_index(ratings[ITEM].to_numpy(), "movie")
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        # LSD radix sort: by item, then (stably) by user -> rows by user, items ascending.
        # Permutations are int32 below 2^31 ratings and written in place (no int64 copies,
        # no float64 gather): indexing never holds more than the finished index (24 bytes
        # per rating) beside the ratings frame.
        ptype = np.int32 if len(uidx) < 2**31 else np.int64
        perm = np.empty(len(uidx), dtype=ptype)
        self.csr_indptr = K.csr_order(uidx, iidx, n_users, n_items, perm)
        del uidx
        self.csr_indices = iidx[perm]
        del iidx
        rating = ratings[RATING].to_numpy()
        if rating.dtype != np.float32:
            rating = rating.astype(np.float64, copy=False)
        rating = np.ascontiguousarray(rating)
        self.csr_values = K.gather_f32(rating, perm)
        del rating
        self.csr_perm = perm
        self.csc_from_csr = np.empty(len(perm), dtype=ptype)
        self.csc_indptr, self.csc_indices, self.csc_values = K.transpose_csr(
            self.csr_indptr, self.csr_indices, self.csr_values, n_items, self.csc_from_csr
        )
        log.debug(
            "local data: %d ratings, %d users, %d movies indexed in %.3f s",
            len(ratings),
            n_users,
            n_items,
            time.perf_counter() - started,
        )
        return self

    @property
    def ratings(self) -> pd.DataFrame:
        return self._ratings

    def derive(self, frame: pd.DataFrame) -> LocalData:
        """A table of this engine on ``frame``, indexed when first fitted or excluded."""
        return LocalData(frame, index=False)

    @property
    def n_users(self) -> int:
        return len(self.ensure_index().user_ids)

    @property
    def n_items(self) -> int:
        return len(self.ensure_index().item_ids)

    @property
    def nnz(self) -> int:
        """Number of ratings."""
        return len(self._ratings)

    def csr_rows(self) -> np.ndarray:
        """User row of every CSR entry (int32; a fresh array of n entries)."""
        counts = np.diff(self.ensure_index().csr_indptr)
        return np.repeat(np.arange(self.n_users, dtype=np.int32), counts)

    def aggregates(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(ratings per user, per movie, per rating value): int64 Series by id, ascending,
        read off the sparse index (a temporary one when this table is not indexed)."""
        data = self if self.csr_indptr is not None else LocalData(self._ratings)
        users = pd.Series(np.diff(data.csr_indptr).astype(np.int64), index=data.user_ids)
        items = pd.Series(np.diff(data.csc_indptr).astype(np.int64), index=data.item_ids)
        values = self._ratings[RATING].value_counts().sort_index()
        per_value = pd.Series(values.to_numpy(dtype=np.int64), index=values.index.to_numpy())
        return users, items, per_value

    def release(self) -> None:
        """Drop the index arrays (the handle must not be used afterwards)."""
        for name in _INDEX:
            setattr(self, name, None)


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


class LocalALSModel(TrainedModel):
    """Fitted factors held as numpy arrays; scoring runs in numba kernels.

    ``user_factors[u]`` belongs to ``user_ids[u]`` (ids ascending), likewise for items.
    Factors are float32, biases float64. ``history`` holds Spark's objective after each
    iteration when the fit was asked to track it (else it is empty).
    """

    def __init__(
        self,
        params: ALSParams,
        user_ids: np.ndarray,
        user_factors: np.ndarray,
        item_ids: np.ndarray,
        item_factors: np.ndarray,
        global_mean: float = 0.0,
        user_bias: np.ndarray | None = None,
        item_bias: np.ndarray | None = None,
        history: np.ndarray | None = None,
    ) -> None:
        self.params = params
        self.user_ids = np.ascontiguousarray(user_ids, dtype=np.int32)
        self.item_ids = np.ascontiguousarray(item_ids, dtype=np.int32)
        self.user_factors = _f32(user_factors)
        self.item_factors = _f32(item_factors)
        self.global_mean = float(global_mean)
        self.user_bias = None if user_bias is None else np.asarray(user_bias, dtype=np.float64)
        self.item_bias = None if item_bias is None else np.asarray(item_bias, dtype=np.float64)
        self.history = (
            np.zeros(0, dtype=np.float64) if history is None else np.asarray(history, np.float64)
        )

    @property
    def biased(self) -> bool:
        return self.user_bias is not None and self.item_bias is not None

    def _bias_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.user_bias is not None and self.item_bias is not None:
            return self.user_bias, self.item_bias
        return np.zeros(len(self.user_ids)), np.zeros(len(self.item_ids))

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Predicted ratings (float64) for the (USER, ITEM) rows of ``pairs``, in row order.

        NaN where the user or the movie was not in the training data (Spark's
        coldStartStrategy "nan").
        """
        if len(pairs) == 0:
            return np.zeros(0, dtype=np.float64)
        uidx = positions(self.user_ids, pairs[USER].to_numpy())
        iidx = positions(self.item_ids, pairs[ITEM].to_numpy())
        ub, ib = self._bias_arrays()
        return K.predict_pairs(
            uidx,
            iidx,
            self.user_factors,
            self.item_factors,
            self.global_mean,
            ub,
            ib,
            self.biased,
        )

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` movies per user: columns USER, ITEM, SCORE, RANK (1-based), as Spark.

        ``users`` None means every user of the model; ids the model does not know get no
        rows. Movies the user rated in ``exclude`` (LocalData) are never recommended; a user
        with fewer than ``n`` unseen movies gets fewer rows. Ties in score go to the lower
        movie id. Rows are sorted by user id, then rank.

        Raises:
            EngineError: ``n`` < 1, or ``exclude`` is not LocalData.
        """
        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        if exclude is not None and not isinstance(exclude, LocalData):
            raise EngineError("the local engine needs LocalData to exclude seen movies")
        if exclude is not None:
            exclude.ensure_index()
        if users is None:
            urows = np.arange(len(self.user_ids), dtype=np.int64)
        else:
            wanted = np.unique(np.asarray(users).astype(np.int64))
            pos = positions(self.user_ids, wanted)
            urows = pos[pos >= 0]
        if exclude is not None:
            ex_rows = positions(exclude.user_ids, self.user_ids[urows])
            ex_indptr = exclude.csr_indptr
            if np.array_equal(exclude.item_ids, self.item_ids):
                ex_items = exclude.csr_indices
            else:
                item_map = positions(self.item_ids, exclude.item_ids).astype(np.int32)
                ex_items = item_map[exclude.csr_indices]
        else:
            ex_rows = np.full(len(urows), -1, dtype=np.int64)
            ex_indptr = np.zeros(1, dtype=np.int64)
            ex_items = np.zeros(0, dtype=np.int32)
        ub, ib = self._bias_arrays()
        items_t = np.ascontiguousarray(self.item_factors.T, dtype=np.float64)
        started = time.perf_counter()
        top_items, top_scores, counts = K.top_n(
            urows,
            self.user_factors,
            items_t,
            self.global_mean,
            ub,
            ib,
            self.biased,
            ex_rows,
            ex_indptr,
            ex_items,
            int(n),
        )
        log.debug(
            "local top-%d for %d users in %.3f s", n, len(urows), time.perf_counter() - started
        )
        valid = np.arange(n)[None, :] < counts[:, None]
        return pd.DataFrame(
            {
                USER: np.repeat(self.user_ids[urows], counts).astype(np.int32),
                ITEM: self.item_ids[top_items[valid]].astype(np.int32),
                SCORE: top_scores[valid].astype(np.float64),
                RANK: np.broadcast_to(np.arange(1, n + 1, dtype=np.int32), (len(urows), n))[valid],
            }
        )

    def fold_in(self, movie_ids: Any) -> np.ndarray:
        """Factors (float32, one per rank) of a new user who interacted with ``movie_ids``,
        the item factors held fixed: one exact solve with the training regulariser
        (:func:`movierec.ials.fold_in`). Ids the model does not know are ignored. ials
        models only: ``fold_in`` of a training user's own movies gives back that user's
        factors when the fit solved exactly (its last half-step is the same solve).

        Raises:
            ModelError: the model is not ials.
        """
        from movierec.ials import fold_in

        if not self.params.ials:
            raise ModelError(f"fold_in is defined for ials models, this one is {self.params.model}")
        rows = positions(self.item_ids, np.asarray(movie_ids))
        return fold_in(
            self.item_factors,
            rows[rows >= 0],
            reg_param=self.params.reg_param,
            unobserved_weight=self.params.unobserved_weight,
            reg_exponent=self.params.reg_exponent,
        )

    def factors(self) -> Factors:
        """Copies of the factors (float32) and biases (float64), sorted by id."""
        if self.user_bias is None or self.item_bias is None:
            return Factors(
                self.user_ids.copy(),
                self.user_factors.copy(),
                self.item_ids.copy(),
                self.item_factors.copy(),
            )
        return Factors(
            self.user_ids.copy(),
            self.user_factors.copy(),
            self.item_ids.copy(),
            self.item_factors.copy(),
            global_mean=self.global_mean,
            user_bias=self.user_bias.copy(),
            item_bias=self.item_bias.copy(),
        )

    def save(self, path: Path) -> None:
        """Write the folder ``path`` (must not exist): ``local.npz`` plus Spark's layout.

        ``als/`` is an ALSModel folder (metadata/part-00000, userFactors/ and itemFactors/
        Parquet with id int32 and features array<float>) and, for biased-als, ``biases/`` is
        what ``SparkBiases.save`` writes, so ``SparkEngine.load(path, params)`` reads it.

        Raises:
            ModelError: ``path`` already exists or cannot be written.
        """
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise ModelError(f"{path} already exists; a model folder must be new") from exc
        except OSError as exc:
            raise ModelError(f"cannot create {path}: {exc.strerror or exc}") from exc
        ub, ib = self._bias_arrays()
        try:
            np.savez(
                path / LOCAL_FILE,
                format_version=np.int64(LOCAL_FORMAT_VERSION),
                model=np.str_(self.params.model),
                rank=np.int64(self.params.rank),
                biased=np.bool_(self.biased),
                user_ids=self.user_ids,
                user_factors=self.user_factors,
                item_ids=self.item_ids,
                item_factors=self.item_factors,
                global_mean=np.float64(self.global_mean),
                user_bias=ub,
                item_bias=ib,
                history=self.history,
            )
            _write_spark_als(path / "als", self)
            if self.biased:
                _write_spark_biases(path / "biases", self.global_mean, self, ub, ib)
        except OSError as exc:
            raise ModelError(f"cannot write model to {path}: {exc.strerror or exc}") from exc


# --- Spark-compatible model layout ---------------------------------------------------------

_SPARK_FACTOR_SCHEMA = json.dumps(
    {
        "type": "struct",
        "fields": [
            {"name": "id", "type": "integer", "nullable": False, "metadata": {}},
            {
                "name": "features",
                "type": {"type": "array", "elementType": "float", "containsNull": False},
                "nullable": True,
                "metadata": {},
            },
        ],
    },
    separators=(",", ":"),
)


def _spark_version() -> str:
    try:
        from importlib.metadata import version

        return version("pyspark")
    except Exception:  # not installed: any 3.x/4.x reader accepts these keys
        return "4.0.0"


def _write_parquet_folder(folder: Path, table: Any) -> None:
    """One snappy Parquet part file plus ``_SUCCESS``, named like Spark's output."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(table, folder / name, compression="snappy")
    (folder / "_SUCCESS").write_bytes(b"")


def _factor_table(ids: np.ndarray, factors: np.ndarray, spark_version: str) -> Any:
    import pyarrow as pa

    n, k = factors.shape
    element = pa.field("element", pa.float32(), nullable=False)
    features = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
        pa.array(np.ascontiguousarray(factors, dtype=np.float32).reshape(-1)),
        type=pa.list_(element),
    )
    schema = pa.schema(
        [pa.field("id", pa.int32(), nullable=False), pa.field("features", pa.list_(element))],
        metadata={
            "org.apache.spark.version": spark_version,
            "org.apache.spark.sql.parquet.row.metadata": _SPARK_FACTOR_SCHEMA,
        },
    )
    return pa.Table.from_arrays([pa.array(ids.astype(np.int32)), features], schema=schema)


def _write_spark_als(folder: Path, model: LocalALSModel) -> None:
    """An ALSModel folder as ``ALSModel.write().save()`` writes it (Spark 3.x/4.x)."""
    version = _spark_version()
    meta = {
        "class": "org.apache.spark.ml.recommendation.ALSModel",
        "timestamp": int(time.time() * 1000),
        "sparkVersion": version,
        "uid": f"ALS_{uuid.uuid4().hex[:12]}",
        "paramMap": {
            "blockSize": 4096,
            "coldStartStrategy": "nan",
            "itemCol": ITEM,
            "userCol": USER,
        },
        "defaultParamMap": {
            "blockSize": 4096,
            "coldStartStrategy": "nan",
            "itemCol": "item",
            "predictionCol": "prediction",
            "userCol": "user",
        },
        "rank": int(model.params.rank),
    }
    (folder / "metadata").mkdir(parents=True)
    line = json.dumps(meta, separators=(",", ":")) + "\n"
    (folder / "metadata" / "part-00000").write_text(line, encoding="utf-8")
    (folder / "metadata" / "_SUCCESS").write_bytes(b"")
    _write_parquet_folder(
        folder / "userFactors", _factor_table(model.user_ids, model.user_factors, version)
    )
    _write_parquet_folder(
        folder / "itemFactors", _factor_table(model.item_ids, model.item_factors, version)
    )


def _write_spark_biases(
    folder: Path, mean: float, model: LocalALSModel, ub: np.ndarray, ib: np.ndarray
) -> None:
    """mean.json, user_bias/ and item_bias/ Parquet, as ``SparkBiases.save`` writes them."""
    import pyarrow as pa

    folder.mkdir(parents=True)
    (folder / "mean.json").write_text(json.dumps({"mean": mean}), encoding="utf-8")
    for sub, key, col, ids, values in (
        ("user_bias", USER, U_BIAS, model.user_ids, ub),
        ("item_bias", ITEM, I_BIAS, model.item_ids, ib),
    ):
        table = pa.table(
            {key: pa.array(ids.astype(np.int32)), col: pa.array(values.astype(np.float64))}
        )
        _write_parquet_folder(folder / sub, table)


def _read_spark_factors(folder: Path, rank: int) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(folder)
    ids = table.column("id").to_numpy().astype(np.int32)
    lists = table.column("features").combine_chunks()
    offsets = lists.offsets.to_numpy()
    if len(ids) and not np.all(np.diff(offsets) == rank):
        raise ModelError(f"{folder}: factors are not all of length {rank}")
    flat = lists.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    mat = flat.reshape(len(ids), rank)
    order = np.argsort(ids, kind="stable")
    return ids[order], mat[order]


def _read_spark_model(path: Path, params: ALSParams) -> LocalALSModel:
    """A model folder written by the Spark engine (``als/`` and ``biases/``), without Spark."""
    import pyarrow.parquet as pq

    meta_files = sorted((path / "als" / "metadata").glob("part-*"))
    if not meta_files:
        raise ModelError(f"{path}: no {LOCAL_FILE} and no Spark ALS model")
    meta = json.loads(meta_files[0].read_text(encoding="utf-8").splitlines()[0])
    if int(meta["rank"]) != params.rank:
        raise ModelError(
            f"{path}: Spark model has rank {meta['rank']}, metadata says {params.rank}"
        )
    user_ids, user_factors = _read_spark_factors(path / "als" / "userFactors", params.rank)
    item_ids, item_factors = _read_spark_factors(path / "als" / "itemFactors", params.rank)
    if not params.biased:
        return LocalALSModel(params, user_ids, user_factors, item_ids, item_factors)
    bias_dir = path / "biases"
    mean = float(json.loads((bias_dir / "mean.json").read_text(encoding="utf-8"))["mean"])

    def aligned(sub: str, key: str, col: str, ids: np.ndarray) -> np.ndarray:
        pdf = pq.read_table(bias_dir / sub).to_pandas()
        series = pd.Series(pdf[col].to_numpy(np.float64), index=pdf[key].to_numpy())
        return series.reindex(ids).fillna(0.0).to_numpy(dtype=np.float64)

    return LocalALSModel(
        params,
        user_ids,
        user_factors,
        item_ids,
        item_factors,
        global_mean=mean,
        user_bias=aligned("user_bias", USER, U_BIAS, user_ids),
        item_bias=aligned("item_bias", ITEM, I_BIAS, item_ids),
    )


# --- objective and engine -------------------------------------------------------------------


def objective(model: LocalALSModel, data: LocalData) -> float:
    """Spark's ALS objective of the model's factors on ``data`` (float64, rating units²).

    Σ (r − x_u·y_i)² + regParam·(Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²) with counts n from ``data``;
    for biased-als r is the residual r − μ − b_u − b_i under the model's biases. For
    implicit-als it is the confidence-weighted objective of the module docstring over every
    pair of ``data``'s users and movies.

    Raises:
        EngineError: ``data`` has a user or movie the model does not know.
    """
    data.ensure_index()
    urow = positions(model.user_ids, data.user_ids)
    irow = positions(model.item_ids, data.item_ids)
    if (urow < 0).any() or (irow < 0).any():
        raise EngineError("objective: the data has users or movies the model was not fitted on")
    if model.params.implicit:
        return LI.objective(
            data.csr_indptr,
            data.csr_indices,
            data.csr_values,
            _f32(model.user_factors[urow]),
            _f32(model.item_factors[irow]),
            model.params,
        )
    values = data.csr_values.astype(np.float64)
    if model.user_bias is not None and model.item_bias is not None:
        r = data.ratings[RATING].to_numpy(dtype=np.float64)[data.csr_perm]
        rows = urow[data.csr_rows()]
        cols = irow[data.csr_indices]
        values = r - model.global_mean - model.user_bias[rows] - model.item_bias[cols]
    sse, penalty = K.objective_terms(
        data.csr_indptr,
        data.csr_indices,
        values.astype(np.float32),
        model.user_factors[urow],
        model.item_factors[irow],
        float(model.params.reg_param),
    )
    return float(sse + penalty)


class LocalEngine(Engine):
    """Spark MLlib's ALS (explicit and implicit) in this process (numba threads)."""

    name = "local"
    max_concurrent_fits = 1
    """One fit already uses every core (numba threads); parallel kernel launches from several
    Python threads are serialised by a lock anyway (the workqueue layer would abort)."""

    def data(self, ratings: pd.DataFrame) -> LocalData:
        """Index ``ratings`` (canonical schema) for fitting, aggregating and exclusion; other
        tables (predictions, top-N lists without a RATING column) are held as they are.

        Raises:
            EngineError: ids are not 32-bit integers.
        """
        return LocalData(ratings, index=RATING in ratings.columns)

    def read(
        self, cfg: DataConfig, spark_cfg: SparkConfig | None = None, *, keep_lines: bool = False
    ) -> Loaded:
        """:func:`movierec.data.load_ratings` into a table indexed when first fitted."""
        from movierec.data import load_ratings

        loaded = load_ratings(cfg, spark_cfg, keep_lines=keep_lines)
        return FrameLoaded(loaded, LocalData(loaded.ratings, index=False))

    def read_table(self, path: Path) -> LocalData:
        """A Parquet ratings table (one file, or a folder of part files in name order)."""
        from movierec.lists import read_table

        return LocalData(read_table(Path(path)), index=False)

    def fit(
        self, train: EngineData, params: ALSParams, *, track_objective: bool = False
    ) -> LocalALSModel:
        """Fit ``params.model`` (als, biased-als, implicit-als or ials) on ``train``;
        deterministic for a seed.

        With ``track_objective`` the model's ``history`` holds the model's objective (Spark's
        for the ALS models, Rendle et al.'s for ials) after each iteration (one extra pass
        over the ratings per iteration).

        Raises:
            ConfigError: a parameter is out of range.
            EngineError: ``train`` is not LocalData or is empty, or a system is singular
                (regParam = 0).
        """
        if not isinstance(train, LocalData):
            raise EngineError("the local engine fits LocalData only")
        if params.model == "ease":  # the item-item model: movierec.engines.ease_model
            from movierec.engines.ease_model import fit_local

            train.ensure_index()
            frame = train.ratings
            times = (
                frame[TIMESTAMP].to_numpy(dtype=np.float64)[train.csr_perm]
                if TIMESTAMP in frame
                else None
            )
            partner = None
            if params.ease_blend > 0:
                from movierec.engines.ease_blend import partner_params

                partner = self.fit(train, partner_params(params))
            fit = fit_local(
                train.user_ids,
                train.item_ids,
                train.csr_indptr,
                train.csr_indices,
                train.csr_values,
                params,
                times,
                partner,
            )
            return fit  # type: ignore[return-value]
        _check_params(params)
        train.ensure_index()
        if train.nnz == 0:
            raise EngineError("cannot fit ALS on an empty ratings table")
        started = time.perf_counter()
        mean, user_bias, item_bias = 0.0, None, None
        if params.biased:
            mean, user_bias, item_bias, csr_values, csc_values = _biases(train, params.bias_reg)
        else:
            csr_values, csc_values = train.csr_values, train.csc_values
        seed = params.seed % 2**64
        rng = np.random.default_rng(seed)
        history: list[float] = []
        if params.ials:
            user_factors = LI.init_ials(rng, train.n_users, params.rank, params.init_std)
            item_factors = LI.init_ials(rng, train.n_items, params.rank, params.init_std)
        else:
            user_factors = _init_factors(rng, train.n_users, params.rank)
            if params.max_iter > 0:
                # The first half-step solves every item from the users' factors (the CG
                # solve starts from zeros), so random item factors would be unused. Same
                # user draws either way (they come first).
                item_factors = np.zeros((train.n_items, params.rank), dtype=np.float32)
            else:
                item_factors = _init_factors(rng, train.n_items, params.rank)
        if params.implicit:
            LI.fit(
                (train.csr_indptr, train.csr_indices, train.csr_values),
                (train.csc_indptr, train.csc_indices, train.csc_values),
                params,
                user_factors,
                item_factors,
                history if track_objective else None,
            )
        else:
            tracked = history if track_objective else None
            self._fit_explicit(
                train, params, csr_values, csc_values, user_factors, item_factors, tracked
            )
        log.debug(
            "local ALS %s fitted on %d ratings in %.3f s",
            params,
            train.nnz,
            time.perf_counter() - started,
        )
        return LocalALSModel(
            params,
            train.user_ids,
            user_factors,
            train.item_ids,
            item_factors,
            global_mean=mean,
            user_bias=user_bias,
            item_bias=item_bias,
            history=np.asarray(history, dtype=np.float64),
        )

    @staticmethod
    def _fit_explicit(
        train: LocalData,
        params: ALSParams,
        csr_values: np.ndarray,
        csc_values: np.ndarray,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        history: list[float] | None,
    ) -> None:
        """Spark's explicit iterations, in place: items from users, then users from items,
        each half-step with the task plan made once per fit (it depends only on the row
        lengths)."""
        reg = float(params.reg_param)
        threads = K.n_threads()
        item_plan = P.plan_half(train.csc_indptr, params.rank, reg, params.nonnegative, threads)
        user_plan = P.plan_half(train.csr_indptr, params.rank, reg, params.nonnegative, threads)
        for it in range(params.max_iter):
            failed = K.solve_half(
                train.csc_indptr,
                train.csc_indices,
                csc_values,
                user_factors,
                reg,
                params.nonnegative,
                item_factors,
                item_plan,
            )
            failed += K.solve_half(
                train.csr_indptr,
                train.csr_indices,
                csr_values,
                item_factors,
                reg,
                params.nonnegative,
                user_factors,
                user_plan,
            )
            if failed:
                raise EngineError(
                    f"ALS normal equations of {failed} rows are not positive definite "
                    f"(regParam={reg}); use a positive regParam"
                )
            if history is not None:
                sse, penalty = K.objective_terms(
                    train.csr_indptr,
                    train.csr_indices,
                    csr_values,
                    user_factors,
                    item_factors,
                    reg,
                )
                history.append(sse + penalty)
                log.debug("iteration %d: objective %.6f", it + 1, sse + penalty)

    def load(self, path: Path, params: ALSParams) -> LocalALSModel:
        """Read ``path/local.npz`` (or, when absent, a Spark engine's ``als/`` + ``biases/``).

        Raises:
            ModelError: missing or damaged files, or rank/model kind differ from ``params``.
        """
        path = Path(path)
        if params.model == "ease":
            from movierec.engines.ease_blend import partner_params
            from movierec.engines.ease_model import PARTNER, load_local

            partner = (
                self.load(path / PARTNER, partner_params(params)) if params.ease_blend > 0 else None
            )
            return load_local(path, params, partner)  # type: ignore[return-value]
        file = path / LOCAL_FILE
        try:
            if not file.is_file():
                return _read_spark_model(path, params)
            with np.load(file, allow_pickle=False) as z:
                if int(z["format_version"]) != LOCAL_FORMAT_VERSION:
                    raise ModelError(
                        f"{file}: local model format {int(z['format_version'])} is not supported"
                    )
                if int(z["rank"]) != params.rank:
                    raise ModelError(
                        f"{file}: model has rank {int(z['rank'])}, metadata says {params.rank}"
                    )
                biased = bool(z["biased"])
                stored = str(z["model"])
                if biased != params.biased or stored != params.model:
                    raise ModelError(
                        f"{file}: model is {str(z['model'])!r}, metadata says {params.model!r}"
                    )
                return LocalALSModel(
                    params,
                    z["user_ids"],
                    z["user_factors"],
                    z["item_ids"],
                    z["item_factors"],
                    global_mean=float(z["global_mean"]),
                    user_bias=z["user_bias"] if biased else None,
                    item_bias=z["item_bias"] if biased else None,
                    history=z["history"],
                )
        except ModelError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable local ALS model ({exc})") from exc

    def aggregates(self, data: EngineData) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(ratings per user, per movie, per rating value): int64 Series by id, ascending.

        Raises:
            EngineError: ``data`` is not LocalData.
        """
        if not isinstance(data, LocalData):
            raise EngineError("the local engine aggregates LocalData only")
        return data.aggregates()


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel on a tiny problem; seconds taken."""
    started = time.perf_counter()
    tiny = pd.DataFrame(
        {
            USER: np.array([1, 1, 2, 3], dtype=np.int32),
            ITEM: np.array([10, 20, 10, 30], dtype=np.int32),
            RATING: np.array([4.0, 3.0, 5.0, 1.0]),
        }
    )
    engine = LocalEngine()
    data = engine.data(tiny)
    runs = (
        ("als", False, "cg"),
        ("biased-als", True, "cg"),
        ("implicit-als", False, "cg"),
        ("implicit-als", False, "cholesky"),
        ("ials", False, "cg"),
        ("ials", False, "cholesky"),
    )
    for model, nonneg, solver in runs:
        params = ALSParams(
            rank=2, max_iter=1, model=model, nonnegative=nonneg, implicit_solver=solver
        )
        fitted = engine.fit(data, params, track_objective=True)
        fitted.predict(tiny)
        fitted.recommend(None, 2, data)
        fitted.recommend(None, 2, None)
    return time.perf_counter() - started
