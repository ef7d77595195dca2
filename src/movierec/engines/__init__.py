"""Compute engines behind one contract (see :mod:`movierec.engines.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.engines.base import ALSParams, Engine, EngineData, Factors, TrainedModel

if TYPE_CHECKING:
    from movierec.config import SparkConfig

ENGINES = ("spark",)


def get_engine(name: str, spark_config: SparkConfig | None = None) -> Engine:
    """Build the engine called ``name`` (only ``"spark"`` so far).

    Raises:
        ConfigError: unknown engine name.
        EngineError: the engine could not start (e.g. no Java for Spark).
    """
    from movierec.errors import ConfigError

    if name == "spark":
        from movierec.engines.spark_als import SparkEngine
        from movierec.spark import get_spark

        return SparkEngine(get_spark(spark_config))
    raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "ALSParams", "Engine", "EngineData", "Factors", "TrainedModel", "get_engine"]
