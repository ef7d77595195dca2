"""Biased ALS as a ``pyspark.ml`` Estimator/Model pair, for Spark ML pipelines.

``BiasedALS`` fits prediction = μ + b_u + b_i + x_u·y_i: the global mean μ and damped user
and movie biases come from two DataFrame aggregations (exactly the arithmetic of the Spark
engine's ``biased-als``, :class:`movierec.engines.spark_als.SparkBiases`), then Spark MLlib's
ALS is fitted on the residuals r − μ − b_u − b_i. ``BiasedALSModel.transform`` adds the
four terms and clips the result to the rating scale. Both classes have Params, work inside
a :class:`pyspark.ml.Pipeline` and :class:`pyspark.ml.tuning.CrossValidator`, and save/load
with ``write().save(path)`` / ``load(path)`` (also as Pipeline stages)::

    from movierec.ml import BiasedALS
    als = BiasedALS(userCol="userId", itemCol="movieId", coldStartStrategy="drop", seed=42)
    model = als.fit(train_df)
    model.transform(test_df)            # adds "prediction", clipped to [min, max] rating
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasCheckpointInterval,
    HasMaxIter,
    HasPredictionCol,
    HasRegParam,
    HasSeed,
)
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movierec.config import BIASED_ALS_DEFAULTS, ALSConfig
from movierec.engines.spark_als import I_BIAS, U_BIAS, SparkBiases
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, USER

log = logging.getLogger(__name__)

_ALS_OUT = "_biased_als_xy"
_UB = "_biased_als_ub"
_IB = "_biased_als_ib"
# The same defaults as ``--model biased-als`` (config.BIASED_ALS_DEFAULTS and ALSConfig).
_RANK: int = BIASED_ALS_DEFAULTS["rank"]
_REG: float = BIASED_ALS_DEFAULTS["reg_param"]
_ITERS: int = BIASED_ALS_DEFAULTS["max_iter"]
_BIAS_REG: float = ALSConfig.model_fields["bias_reg"].default


class _BiasedALSParams(HasMaxIter, HasRegParam, HasSeed, HasPredictionCol, HasCheckpointInterval):
    """Params shared by :class:`BiasedALS` and :class:`BiasedALSModel`."""

    rank: Param[int] = Param(
        Params._dummy(), "rank", "number of latent factors (>= 1)", TypeConverters.toInt
    )
    biasReg: Param[float] = Param(
        Params._dummy(),
        "biasReg",
        "damping of the biases (>= 0): b = sum(residual) / (count + biasReg)",
        TypeConverters.toFloat,
    )
    userCol: Param[str] = Param(
        Params._dummy(),
        "userCol",
        "column of user ids; values must be integers within the 32-bit range",
        TypeConverters.toString,
    )
    itemCol: Param[str] = Param(
        Params._dummy(),
        "itemCol",
        "column of item ids; values must be integers within the 32-bit range",
        TypeConverters.toString,
    )
    ratingCol: Param[str] = Param(
        Params._dummy(), "ratingCol", "column of explicit ratings", TypeConverters.toString
    )
    coldStartStrategy: Param[str] = Param(
        Params._dummy(),
        "coldStartStrategy",
        "rows whose user or item was not in the training data: 'nan' (prediction NaN) or "
        "'drop' (row removed)",
        TypeConverters.toString,
    )
    nonnegative: Param[bool] = Param(
        Params._dummy(), "nonnegative", "non-negative ALS factors", TypeConverters.toBoolean
    )
    numBlocks: Param[int] = Param(
        Params._dummy(),
        "numBlocks",
        "number of user and of item blocks of ALS (>= 1)",
        TypeConverters.toInt,
    )
    clipPredictions: Param[bool] = Param(
        Params._dummy(),
        "clipPredictions",
        "clip predictions to [minRating, maxRating]",
        TypeConverters.toBoolean,
    )
    minRating: Param[float] = Param(
        Params._dummy(),
        "minRating",
        "lower end of the rating scale; unset = the training data's lowest rating",
        TypeConverters.toFloat,
    )
    maxRating: Param[float] = Param(
        Params._dummy(),
        "maxRating",
        "upper end of the rating scale; unset = the training data's highest rating",
        TypeConverters.toFloat,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            rank=_RANK,
            maxIter=_ITERS,
            regParam=_REG,
            biasReg=_BIAS_REG,
            seed=42,
            userCol=USER,
            itemCol=ITEM,
            ratingCol=RATING,
            predictionCol="prediction",
            coldStartStrategy="nan",
            nonnegative=False,
            numBlocks=4,
            checkpointInterval=10,
            clipPredictions=True,
        )

    def getRank(self) -> int:
        return self.getOrDefault(self.rank)

    def getBiasReg(self) -> float:
        return self.getOrDefault(self.biasReg)

    def getUserCol(self) -> str:
        return self.getOrDefault(self.userCol)

    def getItemCol(self) -> str:
        return self.getOrDefault(self.itemCol)

    def getRatingCol(self) -> str:
        return self.getOrDefault(self.ratingCol)

    def getColdStartStrategy(self) -> str:
        return self.getOrDefault(self.coldStartStrategy)

    def getClipPredictions(self) -> bool:
        return self.getOrDefault(self.clipPredictions)

    def _check(self) -> None:
        """Raises ConfigError for values ALS would reject or that make no sense."""
        if self.getRank() < 1:
            raise ConfigError(f"rank must be at least 1, got {self.getRank()}")
        if self.getMaxIter() < 1:
            raise ConfigError(f"maxIter must be at least 1, got {self.getMaxIter()}")
        if not self.getRegParam() >= 0:
            raise ConfigError(f"regParam must be non-negative, got {self.getRegParam()}")
        if not self.getBiasReg() >= 0:
            raise ConfigError(f"biasReg must be non-negative, got {self.getBiasReg()}")
        if self.getColdStartStrategy() not in ("nan", "drop"):
            raise ConfigError(
                f"coldStartStrategy must be 'nan' or 'drop', got {self.getColdStartStrategy()!r}"
            )
        if self.isDefined(self.minRating) and self.isDefined(self.maxRating):
            lo, hi = self.getOrDefault(self.minRating), self.getOrDefault(self.maxRating)
            if not lo < hi:
                raise ConfigError(f"minRating must be below maxRating, got [{lo}, {hi}]")


class BiasedALS(
    _BiasedALSParams,
    Estimator["BiasedALSModel"],
    DefaultParamsReadable["BiasedALS"],
    DefaultParamsWritable,
):
    """Estimator of :class:`BiasedALSModel`: biases by aggregation, then ALS on residuals.

    Biases (the Spark engine's arithmetic): μ = mean rating;
    b_i = Σ_u (r − μ) / (n_i + biasReg); b_u = Σ_i (r − μ − b_i) / (n_u + biasReg). ALS
    (Spark MLlib, explicit, ``rank``/``regParam``/``maxIter``/``seed``/``numBlocks``) is then
    fitted on r − μ − b_u − b_i. ``minRating``/``maxRating`` not set are taken from the
    training data's lowest/highest rating and stored on the model. Defaults are those of
    ``--model biased-als`` (rank 40, regParam 0.15, maxIter 25, biasReg 5).
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        rank: int = _RANK,
        maxIter: int = _ITERS,
        regParam: float = _REG,
        biasReg: float = _BIAS_REG,
        seed: int = 42,
        userCol: str = USER,
        itemCol: str = ITEM,
        ratingCol: str = RATING,
        predictionCol: str = "prediction",
        coldStartStrategy: str = "nan",
        nonnegative: bool = False,
        numBlocks: int = 4,
        checkpointInterval: int = 10,
        clipPredictions: bool = True,
        minRating: float | None = None,
        maxRating: float | None = None,
    ) -> None:
        super().__init__()
        kwargs = self._input_kwargs
        self._set(**{k: v for k, v in kwargs.items() if v is not None})

    @keyword_only
    def setParams(
        self,
        *,
        rank: int | None = None,
        maxIter: int | None = None,
        regParam: float | None = None,
        biasReg: float | None = None,
        seed: int | None = None,
        userCol: str | None = None,
        itemCol: str | None = None,
        ratingCol: str | None = None,
        predictionCol: str | None = None,
        coldStartStrategy: str | None = None,
        nonnegative: bool | None = None,
        numBlocks: int | None = None,
        checkpointInterval: int | None = None,
        clipPredictions: bool | None = None,
        minRating: float | None = None,
        maxRating: float | None = None,
    ) -> BiasedALS:
        """Set any of the Params by keyword; None leaves a Param as it is."""
        kwargs = self._input_kwargs
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def setRank(self, value: int) -> BiasedALS:
        return self._set(rank=value)

    def setMaxIter(self, value: int) -> BiasedALS:
        return self._set(maxIter=value)

    def setRegParam(self, value: float) -> BiasedALS:
        return self._set(regParam=value)

    def setBiasReg(self, value: float) -> BiasedALS:
        return self._set(biasReg=value)

    def setSeed(self, value: int) -> BiasedALS:
        return self._set(seed=value)

    def setColdStartStrategy(self, value: str) -> BiasedALS:
        return self._set(coldStartStrategy=value)

    def _fit(self, dataset: DataFrame) -> BiasedALSModel:
        """Fit biases and ALS on ``dataset`` (columns userCol, itemCol, ratingCol).

        Raises:
            ConfigError: a Param is out of range.
            DataError: a column is missing or the table has no ratings.
        """
        self._check()
        cols = (self.getUserCol(), self.getItemCol(), self.getRatingCol())
        missing = [c for c in cols if c not in dataset.columns]
        if missing:
            raise DataError(f"BiasedALS: input has no column(s) {', '.join(missing)}")
        ratings = dataset.select(
            F.col(cols[0]).cast("int").alias(USER),
            F.col(cols[1]).cast("int").alias(ITEM),
            F.col(cols[2]).cast("double").alias(RATING),
        )
        stats = ratings.agg(F.count(F.lit(1)), F.min(RATING), F.max(RATING)).first()
        if stats is None or stats[0] == 0:
            raise DataError("BiasedALS: cannot fit on an empty ratings table")
        biases = SparkBiases.fit(ratings, self.getBiasReg())
        als = ALS(
            rank=self.getRank(),
            maxIter=self.getMaxIter(),
            regParam=self.getRegParam(),
            numUserBlocks=self.getOrDefault(self.numBlocks),
            numItemBlocks=self.getOrDefault(self.numBlocks),
            nonnegative=self.getOrDefault(self.nonnegative),
            checkpointInterval=self.getCheckpointInterval(),
            seed=self.getSeed(),
            userCol=USER,
            itemCol=ITEM,
            ratingCol=RATING,
            coldStartStrategy="nan",
        ).setPredictionCol(_ALS_OUT)
        residuals = biases.residuals(ratings).cache()
        try:
            als_model = als.fit(residuals)
        finally:
            residuals.unpersist()
        model = BiasedALSModel(als_model, biases.mean, biases.user, biases.item)
        self._copyValues(model)
        if not self.isDefined(self.minRating):
            model._set(minRating=float(stats[1]))
        if not self.isDefined(self.maxRating):
            model._set(maxRating=float(stats[2]))
        log.debug("BiasedALS fitted: mean %.4f, %d ratings", biases.mean, stats[0])
        return model


class BiasedALSModel(_BiasedALSParams, Model, MLReadable["BiasedALSModel"], MLWritable):
    """A fitted :class:`BiasedALS`: μ, bias tables and the ALS model of the residuals.

    ``transform`` adds column ``predictionCol`` = μ + b_u + b_i + x_u·y_i, clipped to
    [minRating, maxRating] when ``clipPredictions``. A row whose user or item was not in the
    training data gets NaN, or is dropped with ``coldStartStrategy='drop'``. Other input
    columns and their order are kept.
    """

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


__all__ = ["BiasedALS", "BiasedALSModel"]
