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

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.engines import _local_kernels as K
from movierec.engines import _local_plan as P
from movierec.engines import local_implicit as LI
from movierec.engines.base import (
    ALSParams,
    Engine,
    EngineData,
    FrameLoaded,
    Loaded,
)
from movierec.engines.local_data import LocalData
from movierec.engines.local_model import (
    LOCAL_FILE,
    LOCAL_FORMAT_VERSION,
    LocalALSModel,
    _read_spark_model,
    objective,
)
from movierec.engines.local_solvers import (
    _biases,
    _check_params,
    _init_factors,
    implicit_half_step,
    solve_items,
    solve_items_implicit,
    solve_users,
    solve_users_implicit,
)
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

if TYPE_CHECKING:
    from movierec.config import DataConfig, SparkConfig

log = logging.getLogger(__name__)


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


__all__ = [
    "LOCAL_FILE",
    "LocalALSModel",
    "LocalData",
    "LocalEngine",
    "implicit_half_step",
    "objective",
    "solve_items",
    "solve_items_implicit",
    "solve_users",
    "solve_users_implicit",
    "warm_up",
]
