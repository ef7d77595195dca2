"""One self-contained HTML page that shows what a ``movierec run`` did.

:func:`build_report` reads a run output folder (``summary.json``, ``plots/*.png``,
``recommendations.parquet``, ``model/``, ``rejects.csv``) and writes ``report.html`` beside
them: plots embedded as base64 data URIs, inline CSS, no script and no external URL, so it
opens offline and can be mailed as one file.

The page is rendered by Jinja2 from ``templates/`` with autoescaping on: every value read from
the folder is escaped by default, and markup exists only in the templates. The Python modules
beside this one build the view model (plain values and :mod:`~movierec.report.view` tables).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from movierec.atomic import atomic_files, published_name
from movierec.errors import MovierecError
from movierec.report.data_sections import data_view, eda_view
from movierec.report.format import FILTERS, config_label, integer, num
from movierec.report.model_sections import splits_view, tuning_view
from movierec.report.result_sections import (
    recommendations_view,
    reproduce_view,
    test_view,
    timings_view,
)
from movierec.report.view import Plots

log = logging.getLogger(__name__)

__all__ = ["REPORT_HTML", "build_report"]

REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"


SECTIONS: tuple[tuple[str, str], ...] = (
    ("data", "Data"),
    ("eda", "Exploration"),
    ("splits", "Train/test split comparison"),
    ("tuning", "Tuning"),
    ("test", "Test metrics beside the baselines"),
    ("recommendations", "Sample recommendations"),
    ("timings", "Stage timings"),
    ("reproduce", "Configuration and versions"),
)
"""(anchor, title) of every section, in page order; ``templates/<anchor>.html.j2`` renders it."""


def build_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` (one self-contained file) and return its path.

    The page covers the data and rejected rows, the EDA plots and long-tail numbers, the
    split comparison, the tuning heatmaps and full results table (best marked), the test
    metrics beside every baseline with a definition per metric, sample recommendations
    beside what those users rated highest, stage timings, and the configuration and
    versions needed to reproduce the run. Only ``run_dir`` is read and only
    ``report.html`` is written (atomically).

    Raises:
        MovierecError: ``run_dir`` is not a run output folder (no readable summary.json),
            or the report cannot be written.
    """
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    page = render(run_dir, summary)
    target = run_dir / REPORT_HTML
    with atomic_files(target) as (tmp,):
        tmp.write_text(page, encoding="utf-8")
    log.info("report written to %s", target)
    return target


def _read_summary(run_dir: Path) -> dict[str, Any]:
    file = run_dir / SUMMARY_JSON
    if not run_dir.is_dir():
        raise MovierecError(f"{run_dir}: no such folder; give the folder `movierec run` wrote")
    if not file.is_file():
        raise MovierecError(
            f"{run_dir} is not a movierec run folder (no {SUMMARY_JSON}); "
            "give the folder written by `movierec run --out`"
        )
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MovierecError(f"{file}: unreadable run summary ({exc})") from exc
    if not isinstance(summary, dict):
        raise MovierecError(f"{file}: not a movierec run summary (expected a JSON object)")
    return summary


@cache
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment: package templates, autoescape on, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("movierec.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render(run_dir: Path, s: dict[str, Any]) -> str:
    """The page for run folder ``run_dir`` with summary ``s`` (see :func:`build_report`)."""
    plots = Plots(run_dir / "plots")
    views = {
        "data": data_view(run_dir, s),
        "eda": eda_view(s, plots),
        "splits": splits_view(s, plots),
        "tuning": tuning_view(s, plots),
        "test": test_view(s),
        "recommendations": recommendations_view(run_dir, s),
        "timings": timings_view(s),
        "reproduce": reproduce_view(s),
    }
    sections = list(SECTIONS)
    other = plots.rest()
    if other:
        sections.append(("other-plots", "Other plots"))
    folder = _final_path(run_dir)
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            s=s,
            v=views,
            sections=sections,
            other_plots=other,
            folder=folder,
            created=_created_at(run_dir),
            key_facts=_key_facts(s),
        )
    )


def _final_path(run_dir: Path) -> Path:
    """The folder's path once in place: ``.NAME.tmp-xxxxxxxx`` (a run still being written by
    :func:`movierec.atomic.atomic_dir`) is shown as ``NAME``."""
    path = run_dir.resolve()
    return path.with_name(published_name(path.name))


def _created_at(run_dir: Path) -> str | None:
    try:
        meta = json.loads((run_dir / "model" / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    created = meta.get("created_at") if isinstance(meta, dict) else None
    return str(created) if created else None


def _key_facts(s: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the summary box at the top (plain text)."""
    facts: list[tuple[str, str]] = []
    data = s.get("data") or {}
    if data:
        facts.append(
            (
                "Data",
                f"{integer(data.get('ratings'))} ratings · {integer(data.get('users'))} users · "
                f"{integer(data.get('items'))} movies",
            )
        )
    best = (s.get("tuning") or {}).get("best")
    if best:
        facts.append(
            (
                "Best configuration (cross-validated)",
                f"{config_label(best)}, RMSE {num(best.get('rmse_mean'))} ± "
                f"{num(best.get('rmse_std'))}",
            )
        )
    test = s.get("test") or {}
    if test.get("rmse") is not None:
        text = num(test["rmse"])
        baselines = s.get("baselines") or {}
        extra = []
        if (bias := (baselines.get("bias") or {}).get("rmse")) is not None:
            extra.append(f"bias baseline {num(bias)}")
        if (mean := (baselines.get("global_mean") or {}).get("rmse")) is not None:
            extra.append(f"global mean {num(mean)}")
        if extra:
            text += f" (vs {', '.join(extra)})"
        facts.append((f"Hold-out test RMSE, {test.get('model', 'model')}", text))
    total = (s.get("timings") or {}).get("total")
    if total is not None:
        facts.append(("Total time", f"{num(total, 1)} s"))
    return facts
