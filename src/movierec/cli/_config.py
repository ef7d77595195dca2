"""Options that set configuration values, and the config of one invocation built from them.

An option made by :func:`setting` names the config path it sets (``"als.rank"``) and, when
the flag's text needs parsing, the parser. Its value is not passed to the verb: it is
recorded on the click context, and :func:`make_config` merges the recorded values over the
``--config`` file into a validated :class:`~movierec.config.RunConfig`. So adding an option
is one declaration in :mod:`movierec.cli._options` plus the field in :mod:`movierec.config`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from movierec.cli._types import LOCAL_PATH
from movierec.errors import ConfigError

if TYPE_CHECKING:
    from movierec.config import RunConfig

Fn = Callable[..., Any]
Decorator = Callable[[Fn], Fn]
"""What click.option returns: a function decorated with one more parameter."""

_SETTINGS = "movierec.settings"
"""Key of :attr:`click.Context.meta` holding ``{config path: value}`` of the given flags."""
_CONFIG_FILE = "movierec.config_file"
"""Key of :attr:`click.Context.meta` holding ``--config``'s file."""

REGISTRY: dict[str, str] = {}
"""Every declared setting: its first flag -> the config path it sets."""


def setting(
    *decls: str, path: str, parse: Callable[[Any], Any] | None = None, **attrs: Any
) -> Decorator:
    """A click option that sets the config value at ``path`` (dotted, e.g. ``"als.rank"``).

    ``parse`` turns the flag's value into the config's (e.g. :func:`floats`); a flag not
    given (None, or ``()`` for ``multiple``) sets nothing, so the ``--config`` file's value
    or the config default stays.
    """

    def record(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if parse is not None:
            value = parse(value)
        if value is not None and value != ():
            ctx.meta.setdefault(_SETTINGS, {})[path] = value

    REGISTRY[decls[0].split("/")[0]] = path
    return click.option(*decls, expose_value=False, callback=record, **attrs)


def _config_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    ctx.meta[_CONFIG_FILE] = value


CONFIG = click.option(
    "--config",
    type=LOCAL_PATH,
    expose_value=False,
    callback=_config_file,
    help="TOML config file; flags override it.",
)
"""``--config FILE``: the TOML file the other settings override."""


def apply_options(f: Fn, options: Iterable[Decorator]) -> Fn:
    """Apply ``options`` so that ``--help`` lists them in the given order."""
    for option in reversed(list(options)):
        f = option(f)
    return f


def options(*decorators: Decorator) -> Decorator:
    """One decorator applying several options (or option groups) in the given order."""

    def apply(f: Fn) -> Fn:
        return apply_options(f, decorators)

    return apply


def given(path: str) -> Any:
    """The value the command line gave for config ``path`` (after parsing), or None."""
    return click.get_current_context().meta.get(_SETTINGS, {}).get(path)


def make_config(*, require_data: bool = False) -> RunConfig:
    """The validated config of the running verb: its flags over the ``--config`` file.

    Raises:
        ConfigError: an invalid value, an unreadable config file, or (``require_data``)
            none of ``--data``, ``--dataset`` or ``--table`` in flags or file; or a table
            with the local engine.
    """
    from movierec.config import build_config

    meta = click.get_current_context().meta
    overrides: dict[str, Any] = {}
    for path, value in meta.get(_SETTINGS, {}).items():
        *sections, key = path.split(".")
        node = overrides
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    cfg = build_config(meta.get(_CONFIG_FILE), overrides)
    data = cfg.data
    if require_data and data.path is None and data.dataset is None and data.table is None:
        raise ConfigError(
            "no input: give --data PATH, --dataset NAME or --table NAME (or set them in --config)"
        )
    if data.table is not None and cfg.engine != "spark":
        raise ConfigError("--table reads a Spark SQL table: it needs --engine spark")
    return cfg
