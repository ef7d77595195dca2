"""The :class:`BiasedALS` Estimator: biases by aggregation, then Spark MLlib ALS on residuals."""

from __future__ import annotations

import logging
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.recommendation import ALS
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movierec.engines.spark_als import SparkBiases
from movierec.errors import DataError
from movierec.ml.model import BiasedALSModel
from movierec.ml.params import _ALS_OUT, _BIAS_REG, _ITERS, _RANK, _REG, _BiasedALSParams
from movierec.schema import ITEM, RATING, USER

log = logging.getLogger(__name__)


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

    # Saved metadata names the class "movierec.ml.<name>" (pyspark loads it by that name), as
    # it did before ml.py became a package: models saved before and after load alike.
    __module__ = "movierec.ml"

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
