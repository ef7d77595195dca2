"""The local engine's fitted model: factors (and biases) as numpy arrays, scored by the numba
kernels; saved as ``local.npz`` plus Spark's ALSModel layout; read back from either; and the
training objective Spark minimises, computed for a model on its data."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.engines import _local_kernels as K
from movierec.engines import local_implicit as LI
from movierec.engines.base import (
    ALSParams,
    EngineData,
    Factors,
    TrainedModel,
)
from movierec.engines.local_data import LocalData
from movierec.engines.local_solvers import _f32
from movierec.engines.spark_layout import read_spark_factors, write_spark_als, write_spark_biases
from movierec.errors import EngineError, ModelError
from movierec.ids import positions
from movierec.schema import I_BIAS, ITEM, RANK, RATING, SCORE, U_BIAS, USER

if TYPE_CHECKING:
    pass

log = logging.getLogger("movierec.engines.local_als")

LOCAL_FILE = "local.npz"
"""The local engine's own model file inside a saved model folder."""
LOCAL_FORMAT_VERSION = 1


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
            write_spark_als(
                path / "als",
                self.params.rank,
                self.user_ids,
                self.user_factors,
                self.item_ids,
                self.item_factors,
            )
            if self.biased:
                write_spark_biases(
                    path / "biases", self.global_mean, self.user_ids, self.item_ids, ub, ib
                )
        except OSError as exc:
            raise ModelError(f"cannot write model to {path}: {exc.strerror or exc}") from exc


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
    user_ids, user_factors = read_spark_factors(path / "als" / "userFactors", params.rank)
    item_ids, item_factors = read_spark_factors(path / "als" / "itemFactors", params.rank)
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
