"""The data-plane methods of :class:`~movierec.engines.spark.table.SparkData` that turn one
table into others or into numbers with Spark jobs: the splits, implicit interactions,
cold-start counts, the scored-table metrics and the top-N metrics (a mix-in: it needs only
the table's ``df``, ``engine`` and ``wrap``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from movierec.engines.base import Catalog, EngineData
from movierec.engines.spark import beyond, metrics, scoring
from movierec.engines.spark import split as spark_split
from movierec.errors import ConfigError, DataError, EngineError
from movierec.schema import PREDICTION, RATING
from movierec.split import SALT_HOLDOUT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _df(table: EngineData) -> DataFrame:
    """The DataFrame of a Spark engine table.

    Raises:
        EngineError: ``table`` is another engine's (it holds no Spark DataFrame).
    """
    df = getattr(table, "df", None)
    if df is None or not hasattr(df, "sparkSession"):
        raise EngineError("the Spark engine works on its own tables (SparkData) only")
    return df


class SparkTableOps(EngineData):
    """Splits, interactions and metrics of a Spark table (the base of ``SparkData``, which
    provides ``df``, ``engine`` and ``wrap``)."""

    df: DataFrame
    engine: Any

    def wrap(self, df: DataFrame) -> EngineData:
        raise NotImplementedError  # SparkData.wrap

    # --- splits ------------------------------------------------------------------------------

    def random_split(
        self, test_fraction: float, seed: int, salt: int = SALT_HOLDOUT
    ) -> tuple[EngineData, EngineData]:
        train, test = spark_split.random_split(self.df, test_fraction, seed, salt)
        return self.wrap(train), self.wrap(test)

    def holdout_split(
        self,
        method: str,
        test_fraction: float,
        seed: int,
        *,
        time_cut: str | None = None,
        leave_last: int = 1,
    ) -> tuple[EngineData, EngineData]:
        dev, test = spark_split.holdout_split(
            self.df, method, test_fraction, seed, time_cut=time_cut, leave_last=leave_last
        )
        return self.wrap(dev), self.wrap(test)

    def train_fraction_splits(
        self, fractions: list[float], seed: int
    ) -> list[tuple[float, EngineData, EngineData]]:
        splits = spark_split.train_fraction_splits(self.df, fractions, seed)
        return [(f, self.wrap(tr), self.wrap(te)) for f, tr, te in splits]

    def kfold(self, folds: int, seed: int) -> list[tuple[EngineData, EngineData]]:
        folds_ = spark_split.kfold(self.df, folds, seed)
        return [(self.wrap(tr), self.wrap(va)) for tr, va in folds_]

    def interactions(self, mode: str, threshold: float) -> EngineData:
        """:func:`movierec.interactions.to_interactions` as column expressions."""
        from pyspark.sql import functions as F

        from movierec.engines.frames import MODES

        if mode not in MODES:
            raise ConfigError(
                f"unknown interactions mode {mode!r}; choose one of: {', '.join(MODES)}"
            )
        if mode == "rating":
            return self
        if mode == "all":
            return self.wrap(self.df.withColumn(RATING, F.lit(1.0).cast("double")))
        if not math.isfinite(threshold):
            raise ConfigError(f"interaction threshold must be a finite number, got {threshold}")
        kept = self.df.filter(F.col(RATING) >= float(threshold))
        if kept.isEmpty():
            raise DataError(
                f"no rating is >= the interaction threshold {threshold}; "
                "lower --interaction-threshold or use --interactions rating"
            )
        return self.wrap(kept.withColumn(RATING, F.lit(1.0).cast("double")))

    def cold_start_counts(self, test: EngineData) -> dict[str, int]:
        return spark_split.cold_start_counts(self.df, _df(test))

    # --- scored tables -----------------------------------------------------------------------

    def predicted(self) -> EngineData:
        from pyspark.sql import functions as F

        p = F.col(PREDICTION)
        return self.wrap(self.df.filter(p.isNotNull() & ~F.isnan(p)))

    def rating_errors(self) -> dict[str, float | int]:
        """One aggregation over the rows with a prediction (null/NaN ones left out)."""
        return metrics.rating_errors(self.df)

    def holdout_rmse(self) -> tuple[float, int]:
        """One aggregation: RMSE over the rows with a prediction, rows without one."""
        return scoring.holdout_rmse(self.df)

    def prediction_metrics(self, k: int, threshold: float) -> dict[str, Any]:
        """Errors, the pairwise P/R/F1 and within-test top-k in one job (a window by user,
        per-user sums, one global sum): :func:`.scoring.prediction_metrics`."""
        return scoring.prediction_metrics(self.df, None, k, threshold)

    # --- top-N tables ------------------------------------------------------------------------

    def catalogue_top_k(self, test: EngineData, k: int, threshold: float) -> dict[str, Any]:
        return metrics.catalogue_top_k(self.df, _df(test), k, threshold)

    def beyond_accuracy(
        self, train: EngineData, catalog: Catalog | None, k: int
    ) -> dict[str, float | None]:
        movies = self.engine.spark_catalog(catalog).movies_df if catalog is not None else None
        return beyond.beyond_accuracy(self.df, _df(train), movies, train.stats().items, k)
