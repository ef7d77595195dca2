"""Compute engines behind one contract (see :mod:`movierec.engines.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from movierec.engines.base import ALSParams, Engine, EngineData, Factors, TrainedModel

if TYPE_CHECKING:
    from movierec.config import SparkConfig

ENGINES = ("spark", "local")


def get_engine(name: str, spark_config: SparkConfig | None = None, *, spark: Any = None) -> Engine:
    """Build the engine called ``name``: ``"spark"`` (Spark MLlib ALS; local mode or a cluster)
    or ``"local"`` (in-process, numba-compiled ALS with the same objective; no JVM).

    ``spark``: your own SparkSession for the Spark engine, used as a guest — its settings are
    never changed (:func:`movierec.spark.adopt_session` says once what that costs) and its
    Python workers are checked for numpy, pandas and pyarrow before any work.

    >>> get_engine("local").name
    'local'

    Raises:
        ConfigError: unknown engine name.
        EngineError: the engine could not start (e.g. no Java for Spark).
    """
    from movierec.errors import ConfigError

    if name == "spark":
        from movierec.engines.spark_als import SparkEngine
        from movierec.spark import adopt_session, get_spark

        if spark is not None:
            adopt_session(spark)
            size = spark_config.topn_block_size if spark_config is not None else None
            return SparkEngine(spark) if size is None else SparkEngine(spark, size)
        block_size = spark_config.topn_block_size if spark_config is not None else None
        spark = get_spark(spark_config)
        return SparkEngine(spark) if block_size is None else SparkEngine(spark, block_size)
    if name == "local":
        from movierec.engines.local_als import LocalEngine

        return LocalEngine()
    raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "ALSParams", "Engine", "EngineData", "Factors", "TrainedModel", "get_engine"]
