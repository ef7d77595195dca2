"""EASE on the Spark engine: the Gram on the executors, B on the driver, scores on the executors.

* **Gram.** X = the (user, movie) pairs with rating >= ``ease_threshold``; the executors
  self-join X on the user and count each movie pair (upper triangle only; a pair inside one
  rating session counts 1 + ``ease_session_weight``, sessions numbered by a window over
  each user's timestamps). Only that
  count table — at most items·(items+1)/2 rows, bounded by the catalogue, not the
  ratings — comes to the driver, as Arrow.
* **Inverse.** B = I − P·diag(1 ⊘ diag(P)) from G + λI on the driver
  (:func:`movierec.engines.ease.weights_primal`: Cholesky, float64), stored as float32
  (items² values), or sparsified to the k largest-magnitude weights of each row with
  ``ease_topk`` = k (items·k values).
* **Scores.** B is broadcast (dense float32, or its top-k rows with ``ease_topk``); users
  are hashed into blocks and every block is one group of a ``groupBy().applyInPandas``
  holding its users' interactions and seen movies.
  A user's scores are the sum of the B rows of their movies, accumulated in float64 in
  ascending movie order — the same numbers, in the same order, as the local engine's
  kernel — then the seen movies are masked and the top n kept (ties: lower movie id).
  Nothing ratings-sized reaches the driver: :meth:`SparkEaseModel.recommend_table` and
  :meth:`SparkEaseModel.predict_table` keep lists and scored pairs on the executors as
  engine tables; the lists (users × n rows) reach the driver only when asked for as pandas.

Models save to the ``movierec-ease`` folder of :mod:`movierec.engines.ease_model` (weights
as top-k CSR, interactions as Parquet part files), so either engine loads the other's.

This module holds the model; :mod:`~movierec.engines.spark.ease_fit` fits and loads it,
:mod:`~movierec.engines.spark.ease_gram` computes the Gram and
:mod:`~movierec.engines.spark.ease_workers` holds the functions shipped to the workers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.engines.base import ALSParams, EngineData, Factors, TrainedModel
from movierec.engines.ease_model import (
    INTERACTIONS,
    PARTNER,
    Weights,
    write_weights,
)
from movierec.engines.spark.ease_gram import (
    arrow_table,
    item_index,
)
from movierec.engines.spark.ease_workers import (
    score_cells_fn,
    score_pairs_fn,
    top_block_fn,
    user_scores_fn,
)
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, PREDICTION, RANK, SCORE, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_J, _A, _B, _C, _ROW, _UB, _KIND, _S = "_j", "_a", "_b", "_c", "_row", "_ub", "_kind", "_s"
_F = "_f"
SCORE_BLOCK_USERS = 256
"""Users per group of the distributed scoring (a group holds one user's float64 score row at
a time, plus its users' interactions and seen movies)."""


class SparkEaseModel(TrainedModel):
    """EASE with its interactions as a cached DataFrame and B (dense, or top-k sparse rows) on
    the driver, broadcast for scoring. Scores rank movies; they are not ratings."""

    def __init__(
        self,
        spark: SparkSession,
        params: ALSParams,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        x: DataFrame,
        weights: Weights,
        partner: Any = None,
        engine: Any = None,
    ) -> None:
        self._spark = spark
        self.engine = engine
        """The :class:`~movierec.engines.spark_als.SparkEngine` whose tables
        :meth:`recommend_table` and :meth:`predict_table` return (None: the input's)."""
        self.params = params
        self.user_ids = np.asarray(user_ids, dtype=np.int32)
        self.item_ids = np.asarray(item_ids, dtype=np.int32)
        self.x = x
        """(USER, _J) interaction pairs, cached."""
        self.weights = weights
        self.partner = partner
        """The implicit-als SparkALSModel blended in (``params.ease_blend`` > 0), else None."""
        self._bc: Any = None

    def _broadcast(self) -> Any:
        if self._bc is None:
            w = self.weights
            payload: dict[str, Any] = {"item_ids": self.item_ids, "item_factors": None}
            if isinstance(w, sp.csr_matrix):
                payload["indptr"] = w.indptr.astype(np.int64)
                payload["indices"] = w.indices.astype(np.int32)
                payload["values"] = w.data.astype(np.float32)
            else:
                payload["b"] = np.ascontiguousarray(w, dtype=np.float32)
            payload["blend"] = float(self.params.ease_blend) if self.partner is not None else 0.0
            if self.partner is not None:
                payload["item_factors"] = self._partner_items()
            try:
                context = self._spark.sparkContext
            except Exception:  # Spark Connect has no SparkContext: B travels with the UDF
                self._bc = SimpleNamespace(value=payload)
            else:
                self._bc = context.broadcast(payload)
        return self._bc

    def _partner_items(self) -> np.ndarray:
        """The partner's item factors (float64) as rows of ``item_ids`` (zeros if unknown);
        a catalogue-sized table collected to the driver."""
        from movierec.engines.ease_blend import aligned

        table = arrow_table(self.partner.model.itemFactors)
        ids = table.column("id").to_numpy().astype(np.int64)
        order = np.argsort(ids)
        feats = table.column("features").to_pylist()
        mat = np.array([feats[i] for i in order], dtype=np.float64).reshape(len(ids), -1)
        factors = Factors(np.zeros(0, np.int32), np.zeros((0, mat.shape[1])), ids[order], mat)
        return aligned(factors, np.zeros(0, np.int32), self.item_ids)[1]

    def _grouped(self, parts: list[DataFrame], users: np.ndarray | DataFrame | None) -> DataFrame:
        """Union of (_UB, _KIND, USER, _J, _ROW, _F) rows, users hashed into blocks; with a
        blend, the partner's user factors ride along as kind-4 rows (_F). ``users``: dense
        ids as an array, or a DataFrame with a USER column (kept on the executors; only the
        number of the model's users among them is counted), None = every known user."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

        schema = StructType([StructField(USER, IntegerType(), False)])
        if users is None or isinstance(users, np.ndarray):
            known = self.user_ids if users is None else np.intersect1d(self.user_ids, users)
            marks = self._spark.createDataFrame(
                pd.DataFrame({USER: known.astype(np.int32)}), schema
            )
            count = len(known)
        else:
            every = self._spark.createDataFrame(
                pd.DataFrame({USER: self.user_ids.astype(np.int32)}), schema
            )
            marks = every.join(users.select(F.col(USER).cast("int").alias(USER)), USER, "left_semi")
            count = int(marks.count())
        blocks = max(1, -(-count // SCORE_BLOCK_USERS))
        no_f = F.lit(None).cast(ArrayType(FloatType())).alias(_F)
        cols = [_KIND, USER, _J, _ROW]
        out = marks.select(
            F.lit(0).alias(_KIND), USER, F.lit(None).cast("int").alias(_J),
            F.lit(None).cast("long").alias(_ROW), no_f,
        )  # fmt: skip
        for part in parts:
            out = out.unionByName(part.join(marks, USER, "left_semi").select(*cols, no_f))
        if self.partner is not None:
            uf = self.partner.model.userFactors.select(
                F.lit(4).alias(_KIND), F.col("id").cast("int").alias(USER),
                F.lit(None).cast("int").alias(_J), F.lit(None).cast("long").alias(_ROW),
                F.col("features").alias(_F),
            )  # fmt: skip
            out = out.unionByName(uf.join(marks, USER, "left_semi"))
        return out.withColumn(_UB, F.pmod(F.xxhash64(USER), F.lit(blocks)).cast("int"))

    def recommend_df(
        self, users: np.ndarray | DataFrame | None, n: int, exclude: EngineData | None
    ) -> DataFrame:
        """Top-``n`` movies per user as a Spark DataFrame (USER, ITEM, SCORE, RANK), computed
        on the executors; ``users``: dense ids (an array, or a DataFrame with a USER column),
        None = every user the model knows.

        Raises:
            EngineError: ``n`` < 1, or ``exclude`` is not a Spark table.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW))
        ]
        if exclude is not None:
            ex_df = getattr(exclude, "df", None)
            if ex_df is None:
                raise EngineError("the Spark engine needs SparkData to exclude seen movies")
            seen = ex_df.select(USER, ITEM).join(
                F.broadcast(item_index(self._spark, self.item_ids)), ITEM
            )
            parts.append(
                seen.select(F.lit(2).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW))
            )
        wanted: np.ndarray | DataFrame | None = users
        if isinstance(users, np.ndarray) or (users is not None and not hasattr(users, "columns")):
            wanted = np.unique(np.asarray(users, dtype=np.int64))
        grouped = self._grouped(parts, wanted)
        bc = self._broadcast()
        user_scores = user_scores_fn()
        top_block = top_block_fn(bc, n, user_scores)

        schema = StructType(
            [
                StructField(USER, IntegerType(), False),
                StructField(ITEM, IntegerType(), False),
                StructField(SCORE, DoubleType(), False),
                StructField(RANK, IntegerType(), False),
            ]
        )
        return grouped.groupBy(_UB).applyInPandas(top_block, schema=schema)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` lists by :meth:`recommend_df`; only the lists reach the driver."""
        pdf = arrow_table(self.recommend_df(users, n, exclude)).to_pandas()
        pdf = pdf.sort_values([USER, RANK], kind="stable").reset_index(drop=True)
        return pdf.astype({USER: np.int32, ITEM: np.int32, SCORE: np.float64, RANK: np.int32})[
            [USER, ITEM, SCORE, RANK]
        ]

    def _table(self, df: DataFrame, *origins: EngineData | None) -> EngineData:
        """``df`` as a table of this model's engine (else of the first Spark input's)."""
        from movierec.engines.spark.table import SparkData

        if self.engine is not None:
            return SparkData(self.engine, df)
        for origin in origins:
            if isinstance(origin, SparkData):
                return origin.wrap(df)
        raise EngineError("the Spark EASE model has no engine to hold its tables")

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        """:meth:`recommend_df` for the distinct users of ``users`` (None: every user the
        model knows), kept on the executors as a top-N table.

        Raises:
            EngineError: ``users`` or ``exclude`` is not a Spark table, or ``n`` < 1.
        """
        wanted = None
        if users is not None:
            df = getattr(users, "df", None)
            if df is None:
                raise EngineError("the Spark engine recommends for SparkData users only")
            wanted = df.select(USER).distinct()
        return self._table(self.recommend_df(wanted, n, exclude), users, exclude)

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        """``pairs`` with PREDICTION (EASE's score, double; NaN for an unknown user or movie;
        limited to ``scale`` when given), computed on the executors: the distinct (user,
        movie) pairs are scored per user block as :meth:`recommend_df` scores, then joined
        back to every row of ``pairs``.

        Raises:
            EngineError: ``pairs`` is not a Spark table.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

        from movierec.engines.spark.table import clip_column

        df = getattr(pairs, "df", None)
        if df is None:
            raise EngineError("the Spark engine predicts SparkData only")
        if PREDICTION in df.columns:
            df = df.drop(PREDICTION)
        index = F.broadcast(item_index(self._spark, self.item_ids))
        asked = df.select(USER, ITEM).distinct().join(index, ITEM)
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
            asked.select(F.lit(3).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
        ]
        grouped = self._grouped(parts, asked.select(USER).distinct())
        bc = self._broadcast()
        user_scores = user_scores_fn()
        score_cells = score_cells_fn(bc, user_scores)

        out_schema = StructType(
            [
                StructField(USER, IntegerType(), False),
                StructField(_J, IntegerType(), False),
                StructField(_C, DoubleType(), False),
            ]
        )
        scored = (
            grouped.groupBy(_UB)
            .applyInPandas(score_cells, schema=out_schema)
            .join(index, _J)
            .select(USER, ITEM, F.col(_C).alias(PREDICTION))
        )
        out = df.join(scored, [USER, ITEM], "left")
        return self._table(clip_column(out, scale), pairs)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """EASE scores for the (USER, ITEM) rows of ``pairs`` (NaN: unknown user or movie),
        computed on the executors like :meth:`recommend_df`."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

        out = np.full(len(pairs), np.nan, dtype=np.float64)
        if len(pairs) == 0:
            return out
        pdf = pd.DataFrame(
            {
                _ROW: np.arange(len(pairs), dtype=np.int64),
                USER: pairs[USER].to_numpy(dtype=np.int32),
                ITEM: pairs[ITEM].to_numpy(dtype=np.int32),
            }
        )
        schema = StructType(
            [
                StructField(_ROW, LongType(), False),
                StructField(USER, IntegerType(), False),
                StructField(ITEM, IntegerType(), False),
            ]
        )
        wanted = self._spark.createDataFrame(pdf, schema).join(
            F.broadcast(item_index(self._spark, self.item_ids)), ITEM
        )
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
            wanted.select(F.lit(3).alias(_KIND), USER, _J, _ROW),
        ]
        grouped = self._grouped(parts, np.unique(pdf[USER].to_numpy()))
        bc = self._broadcast()
        user_scores = user_scores_fn()

        score_pairs = score_pairs_fn(bc, user_scores)

        out_schema = StructType(
            [StructField(_ROW, LongType(), False), StructField(SCORE, DoubleType(), False)]
        )
        table = arrow_table(grouped.groupBy(_UB).applyInPandas(score_pairs, schema=out_schema))
        out[table.column(_ROW).to_numpy()] = table.column(SCORE).to_numpy()
        return out

    def factors(self) -> Factors:
        """EASE has no latent factors.

        Raises:
            EngineError: always.
        """
        raise EngineError(
            "ease is an item-item model without latent factors; use its scores "
            "(predict/recommend) or a factor model (als, implicit-als) for factors"
        )

    def save(self, path: Path) -> None:
        """Write the ``movierec-ease`` folder (weights from the driver, interactions as
        Parquet part files written by the executors)."""
        from pyspark.sql import functions as F

        from movierec.hadoopfs import spark_uri

        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise ModelError(f"{path} already exists; a model folder must be new") from exc
        write_weights(path, self.params, self.item_ids, self.weights, len(self.user_ids))
        np.save(path / "user_ids.npy", self.user_ids)
        ids = F.broadcast(item_index(self._spark, self.item_ids))
        self.x.join(ids, _J).select(USER, ITEM).write.parquet(spark_uri(path / INTERACTIONS))
        if self.partner is not None:
            self.partner.save(path / PARTNER)

    def release(self) -> None:
        self.x.unpersist()
        if self.partner is not None:
            self.partner.release()
        if self._bc is not None and not isinstance(self._bc, SimpleNamespace):
            self._bc.destroy()
        self._bc = None
