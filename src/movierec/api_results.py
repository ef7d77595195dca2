"""Notebook-shaped results of the Python API: typed, with ``.to_frame()`` and an HTML view.

* :class:`Evaluation` — what :meth:`movierec.Recommender.evaluate` measured, the model beside
  its baselines, one row each;
* :class:`RunResult` — what :func:`movierec.api_run.run` made: the summary, the
  recommendation lists and the fitted model.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TABLE_COLUMNS = (
    "rmse",
    "mae",
    "precision@k",
    "recall@k",
    "ndcg@k",
    "map@k",
    "hit_rate@k",
    "coverage",
    "novelty",
)
"""Columns of :meth:`Evaluation.to_frame` (NaN where a row has no such metric)."""


def _row(metrics: dict[str, Any]) -> dict[str, float]:
    top = metrics.get("catalogue_top_k") or {}
    beyond = metrics.get("beyond_accuracy") or {}

    def num(value: Any) -> float:
        return float(value) if isinstance(value, (int, float)) else math.nan

    return {
        "rmse": num(metrics.get("rmse")),
        "mae": num(metrics.get("mae")),
        "precision@k": num(top.get("precision")),
        "recall@k": num(top.get("recall")),
        "ndcg@k": num(top.get("ndcg")),
        "map@k": num(top.get("map")),
        "hit_rate@k": num(top.get("hit_rate")),
        "coverage": num(beyond.get("coverage")),
        "novelty": num(beyond.get("novelty")),
    }


def _html_table(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for name, row in frame.iterrows():
        cells = "".join(
            f"<td>{'' if pd.isna(v) else f'{v:.4f}'}</td>" for v in row.to_numpy(dtype=float)
        )
        rows.append(f"<tr><th>{html.escape(str(name))}</th>{cells}</tr>")
    return (
        f"<table><caption>{html.escape(caption)}</caption>"
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


@dataclass(frozen=True)
class Evaluation:
    """A model's evaluation on a test set, beside its baselines.

    ``metrics`` has the keys of ``summary.json``'s ``test`` section (``rmse``, ``mae``,
    ``catalogue_top_k`` {precision, recall, ndcg, …}, ``beyond_accuracy``, ``coverage``,
    ``baselines`` …); a ranking model's have no rating metrics (``note`` says why).
    Catalogue metrics are at cut-off ``k`` with relevance = rating >= ``threshold``.

    >>> ev = Evaluation({"model": "als", "rmse": 0.9, "catalogue_top_k": {"ndcg": 0.2}}, 10, 3.0)
    >>> ev.to_frame().loc["als", ["rmse", "ndcg@k"]].tolist()
    [0.9, 0.2]
    """

    metrics: dict[str, Any]
    k: int
    threshold: float

    @property
    def rmse(self) -> float | None:
        """Root mean squared error of the clipped predicted ratings (rating units), or None
        for a ranking model."""
        value = self.metrics.get("rmse")
        return None if value is None else float(value)

    @property
    def ndcg(self) -> float:
        """Catalogue-wide NDCG@k (0..1)."""
        return float((self.metrics.get("catalogue_top_k") or {}).get("ndcg", math.nan))

    @property
    def note(self) -> str | None:
        """Why rating metrics are absent (a ranking model), else None."""
        note = self.metrics.get("rating_metrics")
        return None if note is None else str(note)

    def to_frame(self) -> pd.DataFrame:
        """One row per scorer (the model first, then each baseline), :data:`TABLE_COLUMNS`."""
        rows = {str(self.metrics.get("model", "model")): _row(self.metrics)}
        for name, values in (self.metrics.get("baselines") or {}).items():
            rows[name] = _row(values)
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(TABLE_COLUMNS))

    def _repr_html_(self) -> str:
        caption = f"k = {self.k}, relevant = rating >= {self.threshold}"
        return _html_table(self.to_frame(), caption)

    def __repr__(self) -> str:
        return f"Evaluation(k={self.k}, threshold={self.threshold})\n{self.to_frame()}"


@dataclass(frozen=True)
class RunResult:
    """What :func:`movierec.api_run.run` produced (all of it also written under ``out``)."""

    summary: dict[str, Any]
    """``summary.json`` as a dict."""
    out: Path
    """The run's output folder."""
    recommendations: pd.DataFrame
    """The top-N lists (user_id, rank, movie_id, title, genres, score; original ids)."""
    model: Any
    """The final model (a :class:`movierec.Recommender`), loaded back from ``out/model``:
    ready for predict / recommend / similar_items / recommend_for."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def test(self) -> Evaluation:
        """The held-out test evaluation of the summary, as an :class:`Evaluation`."""
        test = self.summary.get("test") or {}
        k = int(test.get("k", 10))
        threshold = float(test.get("threshold", 3.0))
        return Evaluation(test, k, threshold)

    def _repr_html_(self) -> str:
        return self.test._repr_html_()
