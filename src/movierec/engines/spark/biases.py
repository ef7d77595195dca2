"""The global mean and damped user/movie biases of the Spark engine's ``biased-als``: fitted
by aggregations on the executors, applied to ratings as residuals, saved as Parquet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from movierec.engines.spark.table import _uri
from movierec.errors import EngineError
from movierec.schema import I_BIAS, ITEM, RATING, U_BIAS, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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


__all__ = ["SparkBiases"]
