"""Parsers of flag text and the click parameter types the options use.

Parsers raise :class:`~movierec.errors.ConfigError` (exit 2, one line) on bad text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import click
from pydantic import BaseModel

from movierec.errors import ConfigError, MovierecError


def floats(value: str | None) -> list[float] | None:
    """``"0.1,0.2"`` -> ``[0.1, 0.2]`` (None stays None).

    Raises:
        ConfigError: an item is not a number.
    """
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated numbers, got {value!r}") from exc


def ints(value: str | None) -> list[int] | None:
    """``"8,10"`` -> ``[8, 10]`` (None stays None).

    Raises:
        ConfigError: an item is not an integer.
    """
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated integers, got {value!r}") from exc


def strs(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]`` (None stays None)."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _pairs(flag: str, example: str) -> Callable[[tuple[str, ...]], dict[str, str] | None]:
    def parse(values: tuple[str, ...]) -> dict[str, str] | None:
        out = {}
        for item in values:
            if "=" not in item:
                raise ConfigError(f"{flag} takes {example}, got {item!r}")
            key, value = item.split("=", 1)
            out[key.strip()] = value.strip()
        return out or None

    return parse


confs = _pairs("--conf", "key=value")
"""``("a=1", "b=2")`` -> ``{"a": "1", "b": "2"}``; nothing given -> None."""
columns = _pairs("--column", "canonical=source (e.g. user_id=uid)")
"""``("user_id=uid",)`` -> ``{"user_id": "uid"}``; nothing given -> None."""


def model_kinds() -> tuple[str, ...]:
    """Every model the engines can fit (:data:`movierec.engines.base.MODELS`), imported on
    first use so ``movierec --help`` does not load numpy and pandas."""
    from movierec.engines.base import MODELS

    return tuple(MODELS)


def model_list(value: str | None) -> list[str] | None:
    """``--models`` text as a list of model kinds.

    Raises:
        ConfigError: a name that is not one of :func:`model_kinds`.
    """
    names = strs(value)
    if names is not None:
        known = model_kinds()
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"unknown model {name!r} in --models; choose from {', '.join(known)}"
                )
    return names


class ModelKindChoice(click.Choice):
    """``click.Choice`` over :func:`model_kinds`, read when first needed (not at import)."""

    def __init__(self) -> None:  # no super().__init__: the choices are a property
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        return model_kinds()

    @choices.setter
    def choices(self, value: object) -> None:  # click never sets them after __init__
        raise AttributeError("ModelKindChoice's choices are movierec.engines.base.MODELS")


def config_choice(section: type[BaseModel], field: str) -> click.Choice:
    """``click.Choice`` over the values of a ``Literal`` config field, so the allowed values
    are written once (in :mod:`movierec.config`), e.g. ``config_choice(DataConfig, "format")``."""
    values = get_args(section.model_fields[field].annotation)
    if not values or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{section.__name__}.{field} is not a Literal of strings")
    return click.Choice(values)


class PathOrURIType(click.ParamType):
    """A local path, or a Hadoop URI (hdfs://, s3a:// …) kept intact (see movierec.paths).

    With ``local_only`` a Hadoop URI is refused with a clear message instead of becoming a
    mangled local path (``Path("hdfs://nn/x")`` is ``hdfs:/nn/x``)."""

    name = "path"

    def __init__(self, local_only: bool = False) -> None:
        self.local_only = local_only

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from movierec.paths import is_remote, path_or_uri

        if self.local_only and is_remote(value):
            self.fail(
                f"{value}: this option takes a local path (Hadoop URIs work for --data, "
                "--movies, --model of evaluate/recommend, and --out of run, train, eda, "
                "compare-splits and tune); copy it locally first",
                param,
                ctx,
            )
        try:
            return path_or_uri(value)
        except MovierecError as exc:
            self.fail(str(exc), param, ctx)


PATH_OR_URI = PathOrURIType()
LOCAL_PATH = PathOrURIType(local_only=True)
