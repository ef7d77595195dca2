"""The Spark engine: Spark MLlib ALS behind the :mod:`movierec.engines.base` contract.

Fitting, predicting and top-N scoring all run as Spark jobs, so the same code runs in
``local[*]`` and on a cluster. Only small results (predictions for a test set, top-N
lists, factor exports, aggregates) come back to the driver.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.engines.base import ALSParams, Engine, EngineData, Factors, TrainedModel
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, PREDICTION, RANK, RATING, SCORE, USER

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_ROW = "_row"


def _uri(path: Path) -> str:
    """A local path as an explicit ``file://`` URI, so Spark never resolves it against a
    cluster's default filesystem (HDFS) when the model folder lives on the driver."""
    return Path(path).resolve().as_uri()


def _ratings_schema() -> Any:
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    return StructType(
        [
            StructField(USER, IntegerType(), False),
            StructField(ITEM, IntegerType(), False),
            StructField(RATING, DoubleType(), False),
        ]
    )


class SparkData(EngineData):
    """A canonical ratings table as a cached Spark DataFrame (user, movie, rating)."""

    def __init__(self, spark: SparkSession, ratings: pd.DataFrame) -> None:
        self._ratings = ratings
        pdf = pd.DataFrame(
            {
                USER: ratings[USER].to_numpy(dtype=np.int32),
                ITEM: ratings[ITEM].to_numpy(dtype=np.int32),
                RATING: ratings[RATING].to_numpy(dtype=np.float64),
            }
        )
        self.df: DataFrame = spark.createDataFrame(pdf, schema=_ratings_schema()).cache()

    @property
    def ratings(self) -> pd.DataFrame:
        return self._ratings

    def release(self) -> None:
        self.df.unpersist()


U_BIAS = "user_bias"
I_BIAS = "item_bias"


@dataclass
class SparkBiases:
    """Global mean and damped user/movie biases of the ``biased-als`` model (cached DataFrames)."""

    mean: float
    user: DataFrame
    """Columns USER, ``user_bias``."""
    item: DataFrame
    """Columns ITEM, ``item_bias``."""

    @classmethod
    def fit(cls, ratings: DataFrame, reg: float) -> SparkBiases:
        """Fit by two aggregations: b_i = Σ_u (r − μ) / (n_i + reg), then
        b_u = Σ_i (r − μ − b_i) / (n_u + reg)."""
        from pyspark.sql import functions as F

        row = ratings.agg(F.avg(RATING)).first()
        if row is None or row[0] is None:
            raise EngineError("cannot fit biases on an empty ratings table")
        mean = float(row[0])
        item = (
            ratings.groupBy(ITEM)
            .agg((F.sum(F.col(RATING) - mean) / (F.count(F.lit(1)) + reg)).alias(I_BIAS))
            .cache()
        )
        user = (
            ratings.join(item, ITEM)
            .groupBy(USER)
            .agg(
                (F.sum(F.col(RATING) - mean - F.col(I_BIAS)) / (F.count(F.lit(1)) + reg)).alias(
                    U_BIAS
                )
            )
            .cache()
        )
        return cls(mean, user, item)

    def residuals(self, ratings: DataFrame) -> DataFrame:
        """Ratings minus mean and both biases (what ALS is fitted on)."""
        from pyspark.sql import functions as F

        return (
            ratings.join(self.item, ITEM)
            .join(self.user, USER)
            .select(
                USER,
                ITEM,
                (F.col(RATING) - self.mean - F.col(U_BIAS) - F.col(I_BIAS)).alias(RATING),
            )
        )

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "mean.json").write_text(json.dumps({"mean": self.mean}), encoding="utf-8")
        self.user.write.parquet(_uri(path / "user_bias"))
        self.item.write.parquet(_uri(path / "item_bias"))

    @classmethod
    def load(cls, spark: SparkSession, path: Path) -> SparkBiases:
        mean = float(json.loads((path / "mean.json").read_text(encoding="utf-8"))["mean"])
        user = spark.read.parquet(_uri(path / "user_bias")).cache()
        item = spark.read.parquet(_uri(path / "item_bias")).cache()
        return cls(mean, user, item)


class SparkALSModel(TrainedModel):
    """A fitted ``pyspark.ml.recommendation.ALSModel``, plus biases for ``biased-als``.

    For ``implicit-als`` (``implicitPrefs=True``) :meth:`predict` returns Spark's preference
    scores x_u·y_i, not ratings; :meth:`recommend` ranks by the same scores.
    """

    def __init__(
        self,
        spark: SparkSession,
        model: ALSModel,
        params: ALSParams,
        biases: SparkBiases | None = None,
    ) -> None:
        self._spark = spark
        self.model = model
        self.params = params
        self.biases = biases

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType, LongType, StructField, StructType

        n = len(pairs)
        out = np.full(n, np.nan, dtype=np.float64)
        if n == 0:
            return out
        pdf = pd.DataFrame(
            {
                _ROW: np.arange(n, dtype=np.int64),
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
        scored = self.model.transform(self._spark.createDataFrame(pdf, schema=schema))
        if self.biases is not None:
            b = self.biases
            scored = (
                scored.join(b.user, USER, "left")
                .join(b.item, ITEM, "left")
                .withColumn(PREDICTION, F.col(PREDICTION) + b.mean + F.col(U_BIAS) + F.col(I_BIAS))
            )
        result = scored.select(_ROW, PREDICTION).toPandas()
        values = result[PREDICTION].to_numpy(dtype=np.float64)  # null (no bias) -> NaN
        out[result[_ROW].to_numpy()] = values
        return out

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType, StructField, StructType

        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        uf = self.model.userFactors.select(F.col("id").alias(USER), F.col("features").alias("uf"))
        itf = self.model.itemFactors.select(F.col("id").alias(ITEM), F.col("features").alias("vf"))
        if self.biases is not None:
            uf = uf.join(self.biases.user, USER)
            itf = itf.join(self.biases.item, ITEM)
        if users is not None:
            wanted = self._spark.createDataFrame(
                pd.DataFrame({USER: np.unique(np.asarray(users, dtype=np.int32))}),
                schema=StructType([StructField(USER, IntegerType(), False)]),
            )
            uf = uf.join(wanted, USER, "inner")
        # Score every (user, movie) pair in the JVM: dot product of the two factor arrays.
        score = F.aggregate(
            F.zip_with("uf", "vf", lambda x, y: x.cast("double") * y.cast("double")),
            F.lit(0.0).cast("double"),
            lambda acc, v: acc + v,
        )
        if self.biases is not None:
            score = score + F.lit(self.biases.mean) + F.col(U_BIAS) + F.col(I_BIAS)
        scores = uf.crossJoin(itf).select(USER, ITEM, score.alias(SCORE))
        if exclude is not None:
            if not isinstance(exclude, SparkData):
                raise EngineError("the Spark engine needs SparkData to exclude seen movies")
            seen = exclude.df.select(USER, ITEM)
            scores = scores.join(seen, [USER, ITEM], "left_anti")
        window = Window.partitionBy(USER).orderBy(F.desc(SCORE), F.asc(ITEM))
        top = scores.withColumn(RANK, F.row_number().over(window)).filter(F.col(RANK) <= n)
        pdf = top.toPandas()
        pdf = pdf.sort_values([USER, RANK], kind="stable").reset_index(drop=True)
        return pdf.astype({USER: np.int32, ITEM: np.int32, SCORE: np.float64, RANK: np.int32})[
            [USER, ITEM, SCORE, RANK]
        ]

    def factors(self) -> Factors:
        def collect(df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
            pdf = df.toPandas().sort_values("id", kind="stable")
            ids = pdf["id"].to_numpy(dtype=np.int32)
            if len(pdf) == 0:
                return ids, np.zeros((0, self.params.rank), dtype=np.float32)
            mat = np.stack([np.asarray(f, dtype=np.float32) for f in pdf["features"]])
            return ids, mat

        user_ids, user_factors = collect(self.model.userFactors)
        item_ids, item_factors = collect(self.model.itemFactors)
        if self.biases is None:
            return Factors(user_ids, user_factors, item_ids, item_factors)

        def aligned(df: DataFrame, key: str, col: str, ids: np.ndarray) -> np.ndarray:
            pdf = df.toPandas().set_index(key)[col]
            return pdf.reindex(ids).fillna(0.0).to_numpy(dtype=np.float64)

        return Factors(
            user_ids,
            user_factors,
            item_ids,
            item_factors,
            global_mean=self.biases.mean,
            user_bias=aligned(self.biases.user, USER, U_BIAS, user_ids),
            item_bias=aligned(self.biases.item, ITEM, I_BIAS, item_ids),
        )

    def release(self) -> None:
        if self.biases is not None:
            self.biases.user.unpersist()
            self.biases.item.unpersist()

    def save(self, path: Path) -> None:
        self.model.write().save(_uri(path / "als"))
        if self.biases is not None:
            self.biases.save(path / "biases")


class SparkEngine(Engine):
    """Spark MLlib ALS on a SparkSession (local mode or any cluster).

    ``implicit-als`` is Spark's own ``implicitPrefs=True`` with ``alpha``: no biases, and a
    saved model has the same layout as ``als`` (an ALSModel folder under ``als/``).
    """

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def data(self, ratings: pd.DataFrame) -> SparkData:
        return SparkData(self.spark, ratings)

    def fit(self, train: EngineData, params: ALSParams) -> SparkALSModel:
        from pyspark.ml.recommendation import ALS

        if not isinstance(train, SparkData):
            raise EngineError("the Spark engine fits SparkData only")
        als = ALS(
            rank=params.rank,
            maxIter=params.max_iter,
            regParam=params.reg_param,
            numUserBlocks=params.num_blocks,
            numItemBlocks=params.num_blocks,
            implicitPrefs=params.implicit,
            alpha=float(params.alpha),
            nonnegative=params.nonnegative,
            checkpointInterval=params.checkpoint_interval,
            seed=params.seed,
            userCol=USER,
            itemCol=ITEM,
            ratingCol=RATING,
            coldStartStrategy="nan",
        )
        log.debug("fitting Spark ALS %s", params)
        if not params.biased:
            return SparkALSModel(self.spark, als.fit(train.df), params)
        biases = SparkBiases.fit(train.df, params.bias_reg)
        residuals = biases.residuals(train.df).cache()
        try:
            model = als.fit(residuals)
        finally:
            residuals.unpersist()
        return SparkALSModel(self.spark, model, params, biases)

    def load(self, path: Path, params: ALSParams) -> SparkALSModel:
        from pyspark.ml.recommendation import ALSModel

        try:
            model = ALSModel.load(_uri(path / "als"))
            biases = SparkBiases.load(self.spark, path / "biases") if params.biased else None
        except Exception as exc:
            raise ModelError(f"{path}: not a readable Spark ALS model ({exc})") from exc
        if model.rank != params.rank:
            raise ModelError(
                f"{path}: Spark model has rank {model.rank}, metadata says {params.rank}"
            )
        return SparkALSModel(self.spark, model, params, biases)

    def aggregates(self, data: EngineData) -> tuple[pd.Series, pd.Series, pd.Series]:
        if not isinstance(data, SparkData):
            raise EngineError("the Spark engine aggregates SparkData only")
        df = data.df

        def counts(col: str) -> pd.Series:
            pdf = df.groupBy(col).count().toPandas().sort_values(col)
            return pd.Series(pdf["count"].to_numpy(dtype=np.int64), index=pdf[col].to_numpy())

        return counts(USER), counts(ITEM), counts(RATING)
