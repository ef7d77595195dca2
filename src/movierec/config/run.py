"""The whole run configuration of :mod:`movierec.config`: :class:`RunConfig` (every section)
and :func:`build_config` (a TOML file plus overrides, validated).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from movierec.config._base import DEFAULT_SEED, _Section
from movierec.config.als import ALSConfig
from movierec.config.data import DataConfig, SparkConfig
from movierec.config.recommend import InteractionsConfig, RecommendConfig
from movierec.config.tuning import EvaluationConfig, SplitConfig, TuningConfig
from movierec.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


class RunConfig(_Section):
    """Everything one ``movierec`` invocation needs; the whole object is saved with every run."""

    seed: int = DEFAULT_SEED
    """Seed of every random step: splits, folds and ALS initialisation."""
    engine: Literal["spark", "local"] = "spark"
    """``spark`` (default: Spark MLlib, local mode or any cluster) or ``local`` (in-process,
    same ALS objective, no JVM; for data that fits in this machine's memory)."""
    data: DataConfig = Field(default_factory=DataConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    als: ALSConfig = Field(default_factory=ALSConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)

    @property
    def interaction_threshold(self) -> float:
        """The cut-off of ``[interactions] mode = "threshold"`` (rating units)."""
        t = self.interactions.threshold
        return self.evaluation.threshold if t is None else t


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def build_config(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Build a validated :class:`RunConfig` from an optional TOML file plus overrides.

    ``overrides`` is a nested dict in the same shape as the TOML file (e.g.
    ``{"als": {"rank": 12}}``); its values win over the file's. Keys whose value is None
    are ignored so that unset CLI flags do not erase file values.

    Raises:
        ConfigError: the file is missing or not valid TOML, or a value is invalid.
    """
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {config_file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{config_file}: not UTF-8 text: {exc}") from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot read config file {config_file}: {exc.strerror or exc}"
            ) from exc
    merged = _deep_merge(raw, _drop_none(overrides or {}))
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        source = f"{config_file}: " if config_file else ""
        raise ConfigError(f"{source}invalid configuration: {_describe(exc)}") from exc


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        out[key] = value
    return out
