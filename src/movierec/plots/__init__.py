"""PNG charts for the EDA, split and tuning reports.

Every function builds a :class:`matplotlib.figure.Figure` attached to its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` -- pyplot is never imported,
so no window opens, no global backend is switched and functions are safe to call from
several threads. Each writes one PNG atomically (temporary file in the target folder,
then :func:`os.replace`) and returns its :class:`~pathlib.Path`.

Charts do not rely on colour alone: values are printed on bars and cells, series
differ by marker and line style, and the best tuning cell is outlined and labelled.
"""

from __future__ import annotations

import os  # noqa: F401  (tests patch plots.os.replace to simulate a failed write)

from movierec.plots._common import DPI, WIDTH_IN
from movierec.plots.data import (
    plot_item_popularity,
    plot_rating_distribution,
    plot_user_activity,
)
from movierec.plots.results import (
    plot_split_comparison,
    plot_tuning_heatmap,
    plot_tuning_heatmaps,
    plot_tuning_results,
    plot_tuning_trials,
)

__all__ = [
    "DPI",
    "WIDTH_IN",
    "plot_item_popularity",
    "plot_rating_distribution",
    "plot_split_comparison",
    "plot_tuning_heatmap",
    "plot_tuning_heatmaps",
    "plot_tuning_results",
    "plot_tuning_trials",
    "plot_user_activity",
]
