"""Shared pieces of the charts: figure size, atomic PNG writing, axis helpers."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from movierec.atomic import atomic_files
from movierec.errors import DataError

DPI = 110
"""Resolution of every PNG (8 in wide -> 880 px)."""
WIDTH_IN = 8.0
"""Figure width in inches."""
MAX_CURVE_POINTS = 2000
"""Long curves are thinned to about this many points (monotone curves; extremes kept)."""

PathLike = str | os.PathLike[str]


def new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; create the parent folder if needed."""
    target = Path(path)
    with atomic_files(target) as (tmp,), open(tmp, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return target


def thousands(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}"


def thin(n: int, *, log: bool) -> np.ndarray:
    """Indices ``0..n-1`` thinned to about :data:`MAX_CURVE_POINTS`, first and last kept."""
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    if log:
        idx = np.unique(np.geomspace(1, n, MAX_CURVE_POINTS).astype("int64") - 1)
    else:
        idx = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).astype("int64"))
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def require_rows(rows: Sequence[Mapping[str, Any]], what: str, keys: Sequence[str]) -> None:
    if len(rows) == 0:
        raise DataError(f"{what} is empty: nothing to plot")
    for i, row in enumerate(rows):
        missing = [k for k in keys if k not in row]
        if missing:
            raise DataError(f"{what}[{i}] lacks key(s) {missing}; has {sorted(row)}")
