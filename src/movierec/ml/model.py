"""The fitted :class:`BiasedALSModel` (μ + b_u + b_i + x_u·y_i, clipped) and its writer/reader
(Params metadata, ``als/`` ALSModel, ``userBias``/``itemBias`` Parquet)."""

from __future__ import annotations

import math
import os

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
from movierec.schema import ITEM, USER


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
