"""How the report writes numbers and labels: plain-text formatters, used as Jinja2 filters.

Every function returns plain text (never HTML); the templates escape it on output. "—" stands
for a value that is missing, not a number, or not finite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

DASH = "—"


def integer(value: Any) -> str:
    """``value`` as a whole number with thousands separators ("12,345")."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return DASH


def num(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; text that is not a number is shown as it is."""
    if value is None or isinstance(value, bool):
        return DASH
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(number):
        return DASH
    return f"{number:.{digits}f}"


def count(value: Any) -> str:
    """A count-like statistic: whole numbers with separators, others with one decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return DASH
    if not np.isfinite(number):
        return DASH
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


def pct(value: Any, digits: int = 1) -> str:
    """A fraction (0.25) as a percentage ("25.0%")."""
    if value is None:
        return DASH
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return DASH


def plain(value: Any) -> str:
    """A config-like value as text: numbers as given, lists comma-separated."""
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def pm(mean: Any, std: Any) -> str:
    """``mean ± std`` (4 decimals); the mean alone when ``std`` is None; — without a mean."""
    if mean is None:
        return DASH
    return num(mean) if std is None else f"{num(mean)} ± {num(std)}"


def config_label(r: Mapping[str, Any]) -> str:
    """One tuning row's configuration, e.g. "als rank=10 regParam=0.1 maxIter=15"."""
    model = r.get("model", "als")
    label = f"{model} rank={r.get('rank')} regParam={r.get('regParam')} maxIter={r.get('maxIter')}"
    for key in ("biasReg", "alpha"):
        if r.get(key) is not None:
            label += f" {key}={r[key]}"
    return label


def objective_label(objective: str) -> tuple[str, bool]:
    """(display name, lower-is-better) of a tuning objective such as ``rmse`` or ``ndcg@10``."""
    if objective == "rmse":
        return "RMSE", True
    name, _, k = objective.partition("@")
    return (f"{name.upper()}@{k}" if k else name.upper()), False


FILTERS = {
    "integer": integer,
    "num": num,
    "count": count,
    "pct": pct,
    "plain": plain,
    "pm": pm,
    "config_label": config_label,
}
"""The formatters under their names in the templates (``{{ x | num(2) }}``)."""
