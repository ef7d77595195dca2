"""movierec: movie recommendations with Spark MLlib ALS.

Explore a ratings table, compare train/test splits, tune ALS by k-fold cross-validation,
evaluate against baselines, recommend top-N unseen movies, and save the model.

A notebook starts with :class:`Recommender` (fit / predict / recommend / similar_items /
recommend_for / evaluate / save / load, on pandas or Spark) and :func:`load_ratings` (a path,
a pandas or Spark DataFrame, or a config); ``run`` does the whole brief from a DataFrame too.
The public API is listed in ``__all__``; heavier parts are imported on first use, so
``import movierec`` neither starts a JVM nor imports matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from movierec.config import RunConfig, build_config
from movierec.errors import (
    ConfigError,
    DataError,
    DatasetError,
    EngineError,
    ModelError,
    MovierecError,
)

__version__ = "0.1.0"

_LAZY = {
    "load_ratings": "movierec.api_load",
    "LoadedSparkRatings": "movierec.api_load",
    "Recommender": "movierec.recommender",
    "Evaluation": "movierec.api_results",
    "RunResult": "movierec.api_results",
    "LoadedRatings": "movierec.data",
    "get_engine": "movierec.engines",
    "ALSParams": "movierec.engines",
    "random_split": "movierec.split",
    "kfold": "movierec.split",
    "grid_search": "movierec.tuning",
    "evaluate": "movierec.evaluation",
    "run": "movierec.api_run",
    "save_model": "movierec.model_io",
    "load_model_dir": "movierec.model_io",
    "get_spark": "movierec.spark",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'movierec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ALSParams",
    "ConfigError",
    "DataError",
    "DatasetError",
    "EngineError",
    "Evaluation",
    "LoadedRatings",
    "LoadedSparkRatings",
    "ModelError",
    "MovierecError",
    "Recommender",
    "RunConfig",
    "RunResult",
    "__version__",
    "build_config",
    "evaluate",
    "get_engine",
    "get_spark",
    "grid_search",
    "kfold",
    "load_model_dir",
    "load_ratings",
    "random_split",
    "run",
    "save_model",
]
