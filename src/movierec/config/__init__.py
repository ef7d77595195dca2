"""Typed, validated configuration; every default lives here and only here.

A TOML file (``--config FILE``) maps onto :class:`RunConfig` section by section
(``[data]``, ``[spark]``, ``[als]``, ``[split]``, ``[tuning]``, ``[evaluation]``,
``[recommend]``, ``[interactions]``); CLI flags override values from the file.

The package root re-exports every name; the modules hold the sections by concern:

* ``_base``: the strict section base, :data:`DEFAULT_SEED` and the value types
  (:data:`DataFormat`, :data:`DuplicatePolicy`, :data:`ModelKind`, :data:`ImplicitSolver`,
  :data:`PathOrURI`);
* ``data``: :class:`DataConfig`, :class:`SparkConfig`;
* ``als``: :class:`ALSConfig` and the per-kind defaults (:data:`BIASED_ALS_DEFAULTS`,
  :data:`EASE_DEFAULTS`, :data:`IALS_DEFAULTS`, :data:`MODEL_DEFAULTS`);
* ``tuning``: :class:`SplitConfig`, :class:`TuningConfig`, :class:`EvaluationConfig`;
* ``recommend``: :class:`RecommendConfig`, :class:`InteractionsConfig`;
* ``run``: :class:`RunConfig` and :func:`build_config`.
"""

from __future__ import annotations

from movierec.config._base import (
    DEFAULT_SEED,
    DataFormat,
    DuplicatePolicy,
    ImplicitSolver,
    ModelKind,
    PathOrURI,
)
from movierec.config.als import (
    BIASED_ALS_DEFAULTS,
    EASE_DEFAULTS,
    IALS_DEFAULTS,
    MODEL_DEFAULTS,
    ALSConfig,
)
from movierec.config.data import DataConfig, SparkConfig
from movierec.config.recommend import InteractionsConfig, RecommendConfig
from movierec.config.run import RunConfig, build_config
from movierec.config.tuning import EvaluationConfig, SplitConfig, TuningConfig

__all__ = [
    "BIASED_ALS_DEFAULTS",
    "DEFAULT_SEED",
    "EASE_DEFAULTS",
    "IALS_DEFAULTS",
    "MODEL_DEFAULTS",
    "ALSConfig",
    "DataConfig",
    "DataFormat",
    "DuplicatePolicy",
    "EvaluationConfig",
    "ImplicitSolver",
    "InteractionsConfig",
    "ModelKind",
    "PathOrURI",
    "RecommendConfig",
    "RunConfig",
    "SparkConfig",
    "SplitConfig",
    "TuningConfig",
    "build_config",
]
