"""The Params of :class:`BiasedALS` and :class:`BiasedALSModel`: declarations, defaults, checks."""

from __future__ import annotations

from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasCheckpointInterval,
    HasMaxIter,
    HasPredictionCol,
    HasRegParam,
    HasSeed,
)

from movierec.config import BIASED_ALS_DEFAULTS, ALSConfig
from movierec.errors import ConfigError
from movierec.schema import ITEM, RATING, USER

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
