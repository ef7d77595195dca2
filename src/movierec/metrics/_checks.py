"""Input checks and small arithmetic shared by the metric readings of :mod:`movierec.metrics`.

``k`` and ``threshold`` checks (ConfigError), numeric array and DataFrame checks (DataError),
and the 0/0-safe division and F1 every reading uses. The Spark twins
(:mod:`movierec.engines.spark.metrics`, ``beyond``, ``scoring``) reuse the ``k`` and
``threshold`` checks and the arithmetic so both engines reject and compute alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from movierec.errors import ConfigError, DataError


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    return int(k)


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold must be a number, got {threshold!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"threshold must be finite, got {threshold!r}")
    return value


def _float_array(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array; DataError if not numeric, not 1-D, or containing NaN."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        hint = " (drop or impute cold-start pairs before scoring)" if name == "predicted" else ""
        raise DataError(f"{name} contains {n_nan} NaN value(s){hint}")
    return arr


def _paired_arrays(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = _float_array(actual, "actual")
    p = _float_array(predicted, "predicted")
    if a.shape != p.shape:
        raise DataError(f"actual has {a.size} values but predicted has {p.size}")
    if a.size == 0:
        raise DataError("no ratings to evaluate: actual and predicted are empty")
    return a, p


def _require_frame(df: Any, columns: Iterable[str], name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{name} is missing column(s) {missing}; has {list(df.columns)}", column=missing[0]
        )
    if df.empty:
        raise DataError(f"{name} is empty")
    return df


def _require_no_nan(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    for col in columns:
        n_nan = int(df[col].isna().sum())
        if n_nan:
            raise DataError(f"{name} has {n_nan} missing value(s)", column=col)


def _safe_div(num: float, den: float) -> float:
    """num / den, with 0/0 (and anything / 0) defined as 0.0."""
    return float(num) / float(den) if den else 0.0


def _harmonic(p: float, r: float) -> float:
    """F1 = 2PR / (P + R), 0.0 when P + R = 0."""
    return _safe_div(2.0 * p * r, p + r)
