"""The fitted :class:`BiasedALSModel` (μ + b_u + b_i + x_u·y_i, clipped) and its writer/reader
(Params metadata, ``als/`` ALSModel, ``userBias``/``itemBias`` Parquet)."""

from __future__ import annotations

import math
import os

import numpy as np
from pyspark.ml import Model
from pyspark.ml.recommendation import ALSModel
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movierec.engines.spark_als import I_BIAS, U_BIAS
from movierec.errors import ConfigError
from movierec.ml.params import _ALS_OUT, _IB, _UB, _BiasedALSParams
from movierec.schema import ITEM, RANK, RATING, SCORE, USER


class BiasedALSModel(_BiasedALSParams, Model, MLReadable["BiasedALSModel"], MLWritable):
    """A fitted :class:`BiasedALS`: μ, bias tables and the ALS model of the residuals.

    ``transform`` adds column ``predictionCol`` = μ + b_u + b_i + x_u·y_i, clipped to
    [minRating, maxRating] when ``clipPredictions``. A row whose user or item was not in the
    training data gets NaN, or is dropped with ``coldStartStrategy='drop'``. Other input
    columns and their order are kept.
    """

    # Saved metadata names the class "movierec.ml.<name>" (pyspark loads it by that name), as
    # it did before ml.py became a package: models saved before and after load alike.
    __module__ = "movierec.ml"

    def __init__(
        self,
        als_model: ALSModel | None = None,
        global_mean: float = 0.0,
        user_bias: DataFrame | None = None,
        item_bias: DataFrame | None = None,
    ) -> None:
        super().__init__()
        self.alsModel = als_model
        self.globalMean = float(global_mean)
        self.userBias = user_bias
        """Columns USER, ``user_bias``."""
        self.itemBias = item_bias
        """Columns ITEM, ``item_bias``."""

    def setColdStartStrategy(self, value: str) -> BiasedALSModel:
        return self._set(coldStartStrategy=value)

    def setPredictionCol(self, value: str) -> BiasedALSModel:
        return self._set(predictionCol=value)

    def ratingScale(self) -> tuple[float, float]:
        """(minRating, maxRating) the predictions are clipped to."""
        return self.getOrDefault(self.minRating), self.getOrDefault(self.maxRating)

    def _parts(self) -> tuple[ALSModel, DataFrame, DataFrame]:
        if self.alsModel is None or self.userBias is None or self.itemBias is None:
            raise ConfigError("BiasedALSModel has no fitted parts; use BiasedALS.fit or load")
        return self.alsModel, self.userBias, self.itemBias

    def _transform(self, dataset: DataFrame) -> DataFrame:
        als_model, user_bias, item_bias = self._parts()
        self._check()
        user_col, item_col, out = self.getUserCol(), self.getItemCol(), self.getPredictionCol()
        columns = [c for c in dataset.columns if c != out]
        inner = als_model.copy()
        inner.setUserCol(user_col).setItemCol(item_col).setPredictionCol(_ALS_OUT)
        inner.setColdStartStrategy("nan")
        ub = user_bias.select(F.col(USER).alias("_biased_als_u"), F.col(U_BIAS).alias(_UB))
        ib = item_bias.select(F.col(ITEM).alias("_biased_als_i"), F.col(I_BIAS).alias(_IB))
        scored = (
            inner.transform(dataset)
            .join(ub, F.col(user_col).cast("int") == F.col("_biased_als_u"), "left")
            .join(ib, F.col(item_col).cast("int") == F.col("_biased_als_i"), "left")
        )
        raw = F.lit(self.globalMean) + F.col(_UB) + F.col(_IB) + F.col(_ALS_OUT)
        # Unknown user or item: a null bias or a NaN factor product -> NaN.
        pred = F.when(raw.isNull() | F.isnan(raw), F.lit(math.nan)).otherwise(raw)
        if self.getClipPredictions():
            lo, hi = self.ratingScale()
            # greatest/least treat NaN as the largest value, so keep NaN out of them.
            pred = F.when(F.isnan(pred), pred).otherwise(
                F.least(F.greatest(pred, F.lit(lo)), F.lit(hi))
            )
        result = scored.select(*[F.col(c) for c in columns], pred.cast("double").alias(out))
        if self.getColdStartStrategy() == "drop":
            result = result.filter(~F.isnan(F.col(out)))
        return result

    def recommendForAllUsers(self, numItems: int, seen: DataFrame | None = None) -> DataFrame:
        """Top-``numItems`` movies for every training user, as Spark ML's ALSModel returns
        them: columns ``userCol`` and ``recommendations`` (array of struct ``itemCol``,
        ``rating``, best first; ties by ascending movie id), scored μ + b_u + b_i + x_u·y_i
        (unclipped, so the order is not lost to clipping). ``seen`` (a DataFrame with
        ``userCol`` and ``itemCol``, e.g. the training ratings) removes each user's seen
        movies. Computed by the Spark engine's blocked top-N on the executors.

        >>> model.recommendForAllUsers(10, seen=train_df)  # doctest: +SKIP
        """
        return self._recommend(None, numItems, seen)

    def recommendForUserSubset(
        self, dataset: DataFrame, numItems: int, seen: DataFrame | None = None
    ) -> DataFrame:
        """:meth:`recommendForAllUsers` for the distinct users in ``dataset[userCol]`` only
        (their ids, not their rows, are gathered on the driver to pick the user blocks)."""
        user_col = self.getUserCol()
        rows = dataset.select(F.col(user_col).cast("int").alias(USER)).distinct().collect()
        users = np.asarray([r[0] for r in rows if r[0] is not None], dtype=np.int32)
        return self._recommend(users, numItems, seen)

    def _recommend(self, users: np.ndarray | None, n: int, seen: DataFrame | None) -> DataFrame:
        from movierec.engines.base import ALSParams
        from movierec.engines.spark_als import SparkALSModel, SparkBiases, SparkEngine

        als_model, user_bias, item_bias = self._parts()
        user_col, item_col = self.getUserCol(), self.getItemCol()
        spark = als_model.userFactors.sparkSession
        biases = SparkBiases(self.globalMean, user_bias, item_bias)
        params = ALSParams(model="biased-als", rank=als_model.rank)
        engine_model = SparkALSModel(spark, als_model, params, biases)
        exclude = None
        if seen is not None:
            missing = [c for c in (user_col, item_col) if c not in seen.columns]
            if missing:
                raise ConfigError(f"seen has no column(s) {', '.join(missing)}")
            pairs = seen.select(
                F.col(user_col).cast("int").alias(USER),
                F.col(item_col).cast("int").alias(ITEM),
                F.lit(0.0).alias(RATING),
            )
            exclude = SparkEngine(spark).wrap(pairs)
        top = engine_model.recommend_df(users, n, exclude)
        ranked = F.sort_array(F.collect_list(F.struct(RANK, ITEM, SCORE)))
        out = F.transform(
            ranked,
            lambda x: F.struct(x[ITEM].alias(item_col), x[SCORE].cast("float").alias("rating")),
        )
        return top.groupBy(USER).agg(out.alias("recommendations")).withColumnRenamed(USER, user_col)

    def write(self) -> MLWriter:
        """Writer: Params metadata (DefaultParamsWriter) + ``als/`` (ALSModel) + bias Parquet."""
        return _BiasedALSModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[BiasedALSModel]:
        return _BiasedALSModelReader()


class _BiasedALSModelWriter(MLWriter):
    def __init__(self, instance: BiasedALSModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        als_model, user_bias, item_bias = self.instance._parts()
        DefaultParamsWriter.saveMetadata(
            self.instance,
            path,
            self.sparkSession,
            extraMetadata={"globalMean": self.instance.globalMean},
        )
        als_model.write().save(os.path.join(path, "als"))
        user_bias.write.parquet(os.path.join(path, "userBias"))
        item_bias.write.parquet(os.path.join(path, "itemBias"))


class _BiasedALSModelReader(MLReader[BiasedALSModel]):
    def load(self, path: str) -> BiasedALSModel:
        spark = self.sparkSession
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        model = BiasedALSModel(
            ALSModel.load(os.path.join(path, "als")),
            float(metadata["globalMean"]),
            spark.read.parquet(os.path.join(path, "userBias")).cache(),
            spark.read.parquet(os.path.join(path, "itemBias")).cache(),
        )
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
