"""One self-contained HTML page that shows what a ``movierec run`` did.

:func:`build_report` reads a run output folder (``summary.json``, ``plots/*.png``,
``recommendations.parquet``, ``model/``, ``rejects.csv``) and writes ``report.html`` beside
them: plots embedded as base64 data URIs, inline CSS, no script and no external URL, so it
opens offline and can be mailed as one file. Built with the standard library only; every
value from the folder is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.atomic import atomic_files
from movierec.errors import MovierecError
from movierec.metrics import METRIC_DEFINITIONS
from movierec.recommend import top_rated
from movierec.schema import GENRES, ITEM, RATING, SCORE, TITLE, USER

log = logging.getLogger(__name__)

__all__ = ["REPORT_HTML", "build_report"]

REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"
REJECTS_SHOWN = 20
"""How many rows of ``rejects.csv`` the page quotes."""
SAMPLE_USERS = 3
LIST_LENGTH = 10

# (label, section of the metrics dict or "" for top level, key, METRIC_DEFINITIONS key)
_METRIC_ROWS: list[tuple[str, str, str, str]] = [
    ("RMSE", "", "rmse", "rating_errors.rmse"),
    ("MAE", "", "mae", "rating_errors.mae"),
    ("MSE", "", "mse", "rating_errors.mse"),
    ("pairwise precision", "pairwise", "precision", "pairwise_prf.precision"),
    ("pairwise recall", "pairwise", "recall", "pairwise_prf.recall"),
    ("pairwise F1", "pairwise", "f1", "pairwise_prf.f1"),
    ("in-test precision@k", "within_test_top_k", "precision", "within_test_top_k.precision"),
    ("in-test recall@k", "within_test_top_k", "recall", "within_test_top_k.recall"),
    ("in-test F1@k", "within_test_top_k", "f1", "within_test_top_k.f1"),
    ("catalogue precision@k", "catalogue_top_k", "precision", "catalogue_top_k.precision"),
    ("catalogue recall@k", "catalogue_top_k", "recall", "catalogue_top_k.recall"),
    ("catalogue F1@k", "catalogue_top_k", "f1", "catalogue_top_k.f1"),
    ("catalogue NDCG@k", "catalogue_top_k", "ndcg", "catalogue_top_k.ndcg"),
    ("catalogue MAP@k", "catalogue_top_k", "map", "catalogue_top_k.map"),
    ("catalogue hit rate@k", "catalogue_top_k", "hit_rate", "catalogue_top_k.hit_rate"),
]

_BASELINE_NAMES = {
    "global_mean": "global mean",
    "bias": "bias (user + movie)",
    "most_popular": "most popular",
}

_TMP_DIR = re.compile(r"^\.(.+)\.tmp-[0-9a-f]{8}$")
_TUNING_PLOT = re.compile(r"^tuning_heatmap_(?:(?P<model>.+)_)?maxiter(?P<iters>\d+)$")

_CSS = """
:root { --fg: #1b1f24; --muted: #4d5661; --line: #c9d1d9; --soft: #f3f5f7;
  --accent: #0b4f8a; --best: #fff2b3; }
* { box-sizing: border-box; }
html { color-scheme: light; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 1.5rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.4rem; margin: 2.5rem 0 .75rem; padding-top: .5rem;
  border-top: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
p { margin: .5rem 0; }
a { color: var(--accent); }
.muted, figcaption, .note { color: var(--muted); }
.note { font-size: .92rem; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
code { font-size: .9em; background: var(--soft); padding: 0 .2em; border-radius: 3px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px;
  padding: .75rem 1rem; overflow-x: auto; font-size: .85rem; line-height: 1.4; }
nav ol { columns: 2 16rem; margin: .5rem 0 0; padding-left: 1.5rem; }
.keyfacts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 15rem), 1fr));
  gap: .75rem; margin: 1rem 0; padding: 0; }
.keyfacts div { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
  background: var(--soft); }
.keyfacts dt { font-size: .85rem; color: var(--muted); }
.keyfacts dd { margin: 0; font-size: 1.05rem; font-weight: 600; }
.table-wrap { overflow-x: auto; margin: .75rem 0 1rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .95rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 .4rem; }
th, td { padding: .3rem .65rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid var(--fg); background: var(--soft); }
tbody th { font-weight: normal; }
.num { text-align: right; }
td.num { white-space: nowrap; }
.nowrap { white-space: nowrap; }
td.def { font-size: .85rem; color: var(--muted); min-width: 12rem; }
td.raw { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85rem;
  word-break: break-all; }
tr.best td, tr.best th { background: var(--best); font-weight: 700; }
.star { font-weight: 700; }
figure { margin: 1rem 0 1.5rem; }
figure img { display: block; width: 100%; max-width: 880px; height: auto;
  border: 1px solid var(--line); }
figcaption { font-size: .9rem; margin-top: .35rem; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 470px), 1fr));
  gap: 0 1.25rem; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 430px), 1fr));
  gap: 0 1.25rem; }
.pair table { width: 100%; }
footer { margin-top: 3rem; padding-bottom: 2rem; font-size: .85rem; color: var(--muted); }
@media print { h2 { break-before: auto; } figure, table { break-inside: avoid; } }
"""


# --------------------------------------------------------------------------- entry point


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
    page = _render(run_dir, summary)
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


# --------------------------------------------------------------------------- html helpers


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def _num(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, bool):
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if not np.isfinite(number):
        return "—"
    return f"{number:.{digits}f}"


def _count(value: Any) -> str:
    """A count-like statistic: whole numbers with separators, others with one decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    if not np.isfinite(number):
        return "—"
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return "—"


def _plain(value: Any) -> str:
    """A config-like value as text: numbers as given, lists comma-separated."""
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str,
    numeric: Sequence[bool] | None = None,
    row_header: bool = True,
    row_classes: Sequence[str] | None = None,
    cell_classes: Sequence[str] | None = None,
) -> str:
    """A labelled table; cells are already-escaped HTML. The first cell is a row header."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    extra = list(cell_classes) if cell_classes is not None else [""] * len(headers)
    out = ['<div class="table-wrap"><table>', f"<caption>{caption}</caption>", "<thead><tr>"]
    for h, is_num in zip(headers, numeric):
        cls = ' class="num"' if is_num else ""
        out.append(f'<th scope="col"{cls}>{h}</th>')
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes is not None and i < len(row_classes) else ""
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        for j, cell in enumerate(row):
            classes = " ".join(c for c in ("num" if numeric[j] else "", extra[j]) if c)
            cls = f' class="{classes}"' if classes else ""
            if j == 0 and row_header:
                out.append(f'<th scope="row"{cls}>{cell}</th>')
            else:
                out.append(f"<td{cls}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _section(anchor: str, title: str, body: str) -> str:
    return (
        f'<section id="{anchor}" aria-labelledby="{anchor}-h">\n'
        f'<h2 id="{anchor}-h">{title}</h2>\n{body}\n</section>'
    )


def _figure(path: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}" loading="eager">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


# --------------------------------------------------------------------------- the page


def _render(run_dir: Path, s: dict[str, Any]) -> str:
    plots_dir = run_dir / "plots"
    plots = sorted(plots_dir.glob("*.png")) if plots_dir.is_dir() else []
    used: set[str] = set()

    def plot(name: str, alt: str, caption: str) -> str:
        file = plots_dir / f"{name}.png"
        if not file.is_file():
            return _note(f"Plot <code>plots/{_e(name)}.png</code> is not in this run folder.")
        used.add(file.name)
        return _figure(file, alt, caption)

    sections = [
        ("data", "Data", _data_section(run_dir, s)),
        ("eda", "Exploration", _eda_section(s, plot)),
        ("splits", "Train/test split comparison", _split_section(s, plot)),
        ("tuning", "Tuning", _tuning_section(s, plots, used)),
        ("test", "Test metrics beside the baselines", _test_section(s)),
        ("recommendations", "Sample recommendations", _recommendations_section(run_dir, s)),
        ("timings", "Stage timings", _timings_section(s)),
        ("reproduce", "Configuration and versions", _reproduce_section(s)),
    ]
    rest = [p for p in plots if p.name not in used]
    if rest:
        figures = "".join(
            _figure(p, f"Plot {p.stem.replace('_', ' ')}", f"<code>plots/{_e(p.name)}</code>")
            for p in rest
        )
        sections.append(("other-plots", "Other plots", f'<div class="plots">{figures}</div>'))

    nav = "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t, _ in sections)
    body = "\n".join(_section(a, t, b) for a, t, b in sections)
    folder = _final_path(run_dir)
    title = f"movierec run report: {_e(folder.name)}"
    created = _created_at(run_dir)
    subtitle = f"Run folder <code>{_e(folder)}</code>" + (
        f", model saved {_e(created)}" if created else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{title}</h1><p class=muted>{subtitle}</p>"
        f"{_key_facts(s)}"
        f'<nav aria-label="Contents"><strong>Contents</strong><ol>{nav}</ol></nav></header>\n'
        f"<main>\n{body}\n</main>\n"
        "<footer>Written by <code>movierec</code> from this folder: the numbers from "
        "<code>summary.json</code>, the plots from <code>plots/</code>, the lists from "
        "<code>recommendations.parquet</code> and <code>model/</code>.</footer>\n"
        "</body>\n</html>\n"
    )


def _final_path(run_dir: Path) -> Path:
    """The folder's path once in place: ``.NAME.tmp-xxxxxxxx`` (a run still being written by
    :func:`movierec.atomic.atomic_dir`) is shown as ``NAME``."""
    path = run_dir.resolve()
    m = _TMP_DIR.match(path.name)
    return path.with_name(m.group(1)) if m else path


def _created_at(run_dir: Path) -> str | None:
    try:
        meta = json.loads((run_dir / "model" / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    created = meta.get("created_at") if isinstance(meta, dict) else None
    return str(created) if created else None


def _key_facts(s: dict[str, Any]) -> str:
    facts: list[tuple[str, str]] = []
    data = s.get("data") or {}
    if data:
        facts.append(
            (
                "Data",
                f"{_int(data.get('ratings'))} ratings · {_int(data.get('users'))} users · "
                f"{_int(data.get('items'))} movies",
            )
        )
    best = (s.get("tuning") or {}).get("best")
    if best:
        facts.append(
            (
                "Best configuration (cross-validated)",
                f"{_e(_config_label(best))}, RMSE {_num(best.get('rmse_mean'))} ± "
                f"{_num(best.get('rmse_std'))}",
            )
        )
    test = s.get("test") or {}
    if test.get("rmse") is not None:
        text = f"{_num(test['rmse'])}"
        bias = ((s.get("baselines") or {}).get("bias") or {}).get("rmse")
        mean = ((s.get("baselines") or {}).get("global_mean") or {}).get("rmse")
        extra = []
        if bias is not None:
            extra.append(f"bias baseline {_num(bias)}")
        if mean is not None:
            extra.append(f"global mean {_num(mean)}")
        if extra:
            text += f" (vs {', '.join(extra)})"
        facts.append((f"Hold-out test RMSE, {_e(test.get('model', 'model'))}", text))
    total = (s.get("timings") or {}).get("total")
    if total is not None:
        facts.append(("Total time", f"{_num(total, 1)} s"))
    if not facts:
        return ""
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="keyfacts">{items}</dl>'


def _config_label(r: Mapping[str, Any]) -> str:
    model = r.get("model", "als")
    label = f"{model} rank={r.get('rank')} regParam={r.get('regParam')} maxIter={r.get('maxIter')}"
    for key in ("biasReg", "alpha"):
        if r.get(key) is not None:
            label += f" {key}={r[key]}"
    return label


# --------------------------------------------------------------------------- data


def _data_section(run_dir: Path, s: dict[str, Any]) -> str:
    data = s.get("data")
    if not data:
        return _note("This summary has no data section.")
    load = data.get("load") or {}
    eda = data.get("eda") or {}
    scale = (
        f"{_plain(load['rating_min'])} – {_plain(load['rating_max'])}"
        if load.get("rating_min") is not None
        else "—"
    )
    rows = [
        ("Ratings file", f"<code>{_e(load.get('path', '—'))}</code>"),
        ("Format", _e(load.get("format", "—"))),
        ("Rows read", _int(load.get("rows_read"))),
        ("Ratings kept", _int(data.get("ratings"))),
        ("Rows rejected", _int(data.get("rejected"))),
        ("Duplicate (user, movie) pairs", _int(load.get("duplicates"))),
        ("Users", _int(data.get("users"))),
        ("Movies", _int(data.get("items"))),
        ("Sparsity (1 − ratings / (users × movies))", _num(data.get("sparsity"))),
        ("Rating scale (stars)", _e(scale)),
        (
            "Mean rating ± std (stars)",
            f"{_num(eda.get('rating_mean'), 3)} ± {_num(eda.get('rating_std'), 3)}",
        ),
        ("Timestamps present", "yes" if load.get("has_timestamp") else "no"),
        ("Ids remapped to dense integers", "yes" if load.get("ids_mapped") else "no"),
    ]
    overview = _table(
        ["Quantity", "Value"],
        rows,
        caption="Data overview",
        numeric=[False, True],
    )
    return overview + "<h3>Rejected rows</h3>" + _rejects(run_dir, data, load)


def _rejects(run_dir: Path, data: Mapping[str, Any], load: Mapping[str, Any]) -> str:
    by_reason = load.get("rejected") or {}
    total = int(data.get("rejected") or sum(by_reason.values()) or 0)
    if not total:
        return _note("No input row was rejected: every row parsed and passed validation.")
    parts = [
        _note(
            f"{_int(total)} input rows were rejected and left out of everything below. "
            "Every one is listed in <code>rejects.csv</code> with its line number, the "
            "offending column and the original text."
        )
    ]
    if by_reason:
        items = sorted(by_reason.items(), key=lambda kv: (-int(kv[1]), kv[0]))
        parts.append(
            _table(
                ["Reason", "Rows"],
                [(f"<code>{_e(k)}</code>", _int(v)) for k, v in items],
                caption="Rejected rows by reason",
                numeric=[False, True],
            )
        )
    file = run_dir / "rejects.csv"
    if not file.is_file():
        parts.append(_note("<code>rejects.csv</code> is not in this run folder."))
        return "".join(parts)
    header, rows = _head_csv(file, REJECTS_SHOWN)
    if header:
        numeric = [h == "line" for h in header]
        classes = ["raw" if h == "raw" else "" for h in header]
        shown = min(len(rows), REJECTS_SHOWN)
        parts.append(
            _table(
                [_e(h) for h in header],
                [[_e(c) for c in r] for r in rows],
                caption=f"The first {shown} rows of rejects.csv"
                + (f" (of {_int(total)})" if total > shown else ""),
                numeric=numeric,
                row_header=False,
                cell_classes=classes,
            )
        )
    return "".join(parts)


def _head_csv(file: Path, n: int) -> tuple[list[str], list[list[str]]]:
    """The header and at most ``n`` rows of a CSV file, read lazily (the file may be large)."""
    try:
        with open(file, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            rows = []
            for row in reader:
                rows.append((row + [""] * len(header))[: max(len(header), len(row))])
                if len(rows) >= n:
                    break
    except OSError:
        return [], []
    return header, rows


# --------------------------------------------------------------------------- exploration


def _eda_section(s: dict[str, Any], plot: Any) -> str:
    eda = (s.get("data") or {}).get("eda") or {}
    parts = []
    users = eda.get("user_activity") or {}
    items = eda.get("item_popularity") or {}
    if users or items:
        parts.append(_long_tail_text(users, items))
        parts.append(_long_tail_table(users, items))
    dist = eda.get("rating_distribution") or []
    dist_alt = "Bar chart of how many ratings have each star value"
    if dist:
        top = max(dist, key=lambda r: r.get("count", 0))
        dist_alt += (
            f"; the most common value is {_plain(top.get('rating'))} stars "
            f"({_pct(top.get('share'))} of ratings)"
        )
    parts.append('<div class="plots">')
    parts.append(
        plot(
            "rating_distribution",
            dist_alt + ".",
            "How often each star value is given.",
        )
    )
    parts.append("</div>")
    parts.append(
        plot(
            "user_activity",
            "Two panels: ratings per user by user rank on a log scale, and the cumulative "
            "share of ratings against the share of users, most active first"
            + _gini_alt(users)
            + ".",
            "User activity: a few users rate far more than the rest.",
        )
    )
    parts.append(
        plot(
            "item_popularity",
            "Two panels: ratings per movie by popularity rank on a log scale, and the "
            "cumulative share of ratings against the share of movies, most rated first"
            + _gini_alt(items)
            + ".",
            "Movie popularity: the long tail of rarely rated movies.",
        )
    )
    return "".join(parts)


def _gini_alt(stats: Mapping[str, Any]) -> str:
    if stats.get("gini") is None:
        return ""
    return f"; Gini coefficient {_num(stats['gini'], 2)}"


def _share(stats: Mapping[str, Any], fraction: float) -> Any:
    for r in stats.get("top_shares") or []:
        if abs(float(r.get("top_fraction", -1)) - fraction) < 1e-9:
            return r.get("ratings_share")
    return None


def _coverage(stats: Mapping[str, Any], share: float) -> Mapping[str, Any]:
    for r in stats.get("coverage") or []:
        if abs(float(r.get("ratings_share", -1)) - share) < 1e-9:
            return dict(r)
    return {}


def _long_tail_text(users: Mapping[str, Any], items: Mapping[str, Any]) -> str:
    sentences = []
    u20, i20 = _share(users, 0.2), _share(items, 0.2)
    if u20 is not None:
        sentences.append(
            f"The 20% most active users contribute <strong>{_pct(u20)}</strong> of all "
            f"ratings (Gini {_num(users.get('gini'), 2)})."
        )
    if i20 is not None:
        sentences.append(
            f"The 20% most rated movies receive <strong>{_pct(i20)}</strong> "
            f"(Gini {_num(items.get('gini'), 2)})."
        )
    cold = items.get("cold_items") or {}
    if cold.get("share") is not None:
        sentences.append(
            f"<strong>{_pct(cold['share'])}</strong> of the movies "
            f"({_int(cold.get('count'))}) have fewer than {_int(cold.get('threshold'))} ratings."
        )
    return f"<p>{' '.join(sentences)}</p>" if sentences else ""


def _long_tail_table(users: Mapping[str, Any], items: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    for key, label in (
        ("min", "fewest ratings"),
        ("median", "median ratings"),
        ("mean", "mean ratings"),
        ("p90", "90th percentile of ratings"),
        ("p99", "99th percentile of ratings"),
        ("max", "most ratings"),
    ):
        rows.append((f"{label} per user / movie", _count(users.get(key)), _count(items.get(key))))
    for fraction in (0.01, 0.05, 0.1, 0.2):
        u, i = _share(users, fraction), _share(items, fraction)
        if u is not None or i is not None:
            rows.append((f"share of ratings from the top {fraction:.0%}", _pct(u), _pct(i)))
    for share in (0.5, 0.8):
        u, i = _coverage(users, share), _coverage(items, share)
        if u or i:
            rows.append(
                (
                    f"share of users / movies that cover {share:.0%} of ratings",
                    _pct(u.get("fraction")),
                    _pct(i.get("fraction")),
                )
            )
    rows.append(
        (
            "Gini coefficient (0 = even, 1 = all on one)",
            _num(users.get("gini"), 3),
            _num(items.get("gini"), 3),
        )
    )
    light = users.get("light_users") or {}
    cold = items.get("cold_items") or {}
    rows.append(
        (
            "light users / cold movies (fewer than the threshold)",
            f"{_int(light.get('count'))} (&lt; {_int(light.get('threshold'))})",
            f"{_int(cold.get('count'))} (&lt; {_int(cold.get('threshold'))})",
        )
    )
    return _table(
        ["Statistic", "Users", "Movies"],
        rows,
        caption="Long tail: how ratings spread over users and movies",
        numeric=[False, True, True],
    )


# --------------------------------------------------------------------------- splits


def _split_section(s: dict[str, Any], plot: Any) -> str:
    rows = s.get("split_comparison") or []
    if not rows:
        return _note("This run has no split comparison.")
    has_bias = any(r.get("bias_baseline_rmse") is not None for r in rows)
    headers = ["Train / test", "Train ratings", "Test ratings", "ALS test RMSE"]
    if has_bias:
        headers.append("Bias baseline RMSE")
    headers.append("Cold-start test rows")
    body = []
    for r in rows:
        cells = [
            f"{_pct(r.get('train_fraction'), 0)} / {_pct(r.get('test_fraction'), 0)}",
            _int(r.get("train_ratings")),
            _int(r.get("test_ratings")),
            _num(r.get("rmse")),
        ]
        if has_bias:
            cells.append(_num(r.get("bias_baseline_rmse")))
        cells.append(_int(r.get("cold_start_rows")))
        body.append(cells)
    als = (s.get("config") or {}).get("als") or {}
    setting = (
        f"{_e(als.get('model', 'als'))} rank={_e(als.get('rank'))} "
        f"regParam={_e(als.get('reg_param'))} maxIter={_e(als.get('max_iter'))}"
        if als
        else "the [als] settings"
    )
    table = _table(
        headers,
        body,
        caption="Test RMSE (stars, lower is better) for each train share",
        numeric=[False] + [True] * (len(headers) - 1),
    )
    alt = "Line chart of test RMSE against the share of ratings used for training: " + "; ".join(
        f"{_pct(r.get('train_fraction'), 0)} train, RMSE {_num(r.get('rmse'), 3)}" for r in rows
    )
    return (
        _note(
            f"Each row fits {setting} on the given share of all ratings and scores the rest. "
            "The training sets are nested (the smaller is inside the larger), so the table "
            "isolates the effect of more training data. Cold-start rows (a user or movie "
            "unseen in training) are not scored"
            + (
                "; the bias baseline (user + movie biases) is fitted and scored on the same rows."
                if has_bias
                else "."
            )
        )
        + table
        + plot("split_comparison", alt + ".", "Test RMSE by train / test split.")
    )


# --------------------------------------------------------------------------- tuning


def _same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("model", "rank", "regParam", "maxIter", "biasReg", "alpha")
    return all(a.get(k) == b.get(k) for k in keys)


_SEARCH_NAMES = {"grid": "Grid search", "random": "Random search", "optuna": "Optuna (TPE) search"}


def _objective_label(objective: str) -> tuple[str, bool]:
    """(display name, lower-is-better) of a tuning objective such as ``rmse`` or ``ndcg@10``."""
    if objective == "rmse":
        return "RMSE", True
    name, _, k = objective.partition("@")
    return (f"{name.upper()}@{k}" if k else name.upper()), False


def _tuning_intro(tuning: Mapping[str, Any], s: dict[str, Any], n_results: int) -> str:
    search = str(tuning.get("search", "grid"))
    obj_name, lower = _objective_label(str(tuning.get("objective", "rmse")))
    grid = tuning.get("grid") or {}
    space = ", ".join(f"{_e(k)} ∈ {{{_e(_plain(v))}}}" for k, v in grid.items())
    what = "configurations" if search == "grid" else "trials"
    text = (
        f"{_SEARCH_NAMES.get(search, _e(search))} over {_int(n_results)} {what}"
        f" ({'grid' if search == 'grid' else 'space'}: {space}), "
        f"{_e(tuning.get('folds'))}-fold cross-validation on the "
        f"{_int((s.get('holdout') or {}).get('dev_ratings'))} development ratings (the hold-out "
        f"test set is not used). Objective: mean validation {obj_name}, "
        f"{'lower' if lower else 'higher'} is better."
    )
    pruned = int(tuning.get("pruned") or 0)
    margin = tuning.get("prune_margin")
    if margin is not None:
        text += (
            f" Early stopping: a configuration more than {_pct(margin, 0)} worse than the best "
            "over the same folds is stopped"
        )
        if pruned:
            text += (
                f'; {_int(pruned)} were stopped (Status "pruned i/n": after i of n folds; '
                "their means cover only those folds)"
            )
        text += "."
    return _note(text)


def _tuning_figures(
    tuning: Mapping[str, Any],
    results: list[dict[str, Any]],
    best: Mapping[str, Any],
    plots: list[Path],
    used: set[str],
) -> list[str]:
    figures = []
    obj_name, lower = _objective_label(str(tuning.get("objective", "rmse")))
    for p in plots:
        if p.stem == "tuning_trials":
            used.add(p.name)
            alt = (
                f"Scatter plot of mean cross-validated {obj_name} (vertical axis) for each trial "
                f"(horizontal axis, in the order tried); marker shape gives the model, hollow "
                f"markers are stopped trials; the best is labelled with its value "
                f"{_num(best.get('objective_mean'))}"
            )
            figures.append(
                _figure(
                    p,
                    alt + ".",
                    f"{_e(obj_name)} by trial ({'lower' if lower else 'higher'} is better; "
                    "hollow = stopped early).",
                )
            )
            continue
        m = _TUNING_PLOT.match(p.stem)
        if not m:
            continue
        used.add(p.name)
        model = m.group("model")
        iters = int(m.group("iters"))
        subset = [
            r
            for r in results
            if int(r.get("maxIter", -1)) == iters and (model is None or r.get("model") == model)
        ]
        who = f"{model}, " if model else ""
        alt = (
            f"Heatmap of mean cross-validated RMSE for {who}maxIter {iters}: rank on the "
            f"vertical axis, regParam on the horizontal axis, each cell labelled with its "
            f"mean RMSE ± std"
        )
        scored = [r for r in subset if r.get("rmse_mean") is not None]
        if scored:
            low = min(scored, key=lambda r: float(r["rmse_mean"]))
            alt += (
                f"; lowest here is rank {low.get('rank')}, regParam {low.get('regParam')} "
                f"at {_num(low.get('rmse_mean'))}"
            )
        if any(_same_config(r, best) for r in subset):
            alt += "; this cell is the overall best and is marked with a star"
        figures.append(
            _figure(
                p, alt + ".", f"{_e(who)}maxIter = {iters}. Darker is lower RMSE; ★ marks the best."
            )
        )
    return figures


def _pm(mean: Any, std: Any) -> str:
    """``mean ± std`` (4 decimals); the mean alone when ``std`` is None; — without a mean."""
    if mean is None:
        return "—"
    return _num(mean) if std is None else f"{_num(mean)} ± {_num(std)}"


def _tuning_section(s: dict[str, Any], plots: list[Path], used: set[str]) -> str:
    tuning = s.get("tuning") or {}
    results = tuning.get("results") or []
    if not results:
        return _note("This run has no tuning results.")
    best = tuning.get("best") or results[0]
    objective = str(tuning.get("objective", "rmse"))
    obj_name, _ = _objective_label(objective)
    ranking = objective != "rmse"
    rank_key = objective.partition("@")[0]
    best_text = (
        f"mean RMSE <strong>{_num(best.get('rmse_mean'))} ± {_num(best.get('rmse_std'))}</strong>"
    )
    if ranking:
        best_text = f"mean {_e(obj_name)} <strong>{_num(best.get('objective_mean'))}</strong>" + (
            f" (RMSE {_num(best.get('rmse_mean'))})" if best.get("rmse_mean") is not None else ""
        )
    parts = [
        _tuning_intro(tuning, s, len(results)),
        f"<p>Best: <strong>★ {_e(_config_label(best))}</strong>, {best_text}.</p>",
    ]
    refit = tuning.get("refit")
    if isinstance(refit, Mapping) and refit.get("note"):
        parts.append(_note(str(refit["note"])))
    figures = _tuning_figures(tuning, results, best, plots, used)
    if figures:
        parts.append("".join(figures))
    extra = [k for k in ("biasReg", "alpha") if any(k in r for r in results)]
    headers = ["#", "Model", "rank", "regParam", "maxIter", *extra]
    if ranking:
        headers.append(f"Mean {obj_name} ± std")
    headers.append("Mean RMSE ± std")
    has_status = any(r.get("status", "complete") != "complete" for r in results)
    if has_status:
        headers.append("Status")
    fold_key = f"fold_{rank_key}" if ranking else "fold_rmse"
    n_folds = max((len(r.get(fold_key) or []) for r in results), default=0)
    headers += [f"Fold {i + 1}" for i in range(n_folds)]
    has_cold = any("cold_start_rows" in r for r in results)
    if has_cold:
        headers.append("Cold rows")
    body, classes = [], []
    for i, r in enumerate(results, start=1):
        is_best = _same_config(r, best)
        model = _e(r.get("model", "als"))
        first = f'{i} <span class="star" aria-label="best">★</span>' if is_best else str(i)
        cells = [
            first,
            f"<strong>{model}</strong> (best)" if is_best else model,
            _e(r.get("rank")),
            _e(r.get("regParam")),
            _e(r.get("maxIter")),
            *[_e(_plain(r.get(k, "—"))) for k in extra],
        ]
        one_fold = int(r.get("folds_run", 2)) < 2  # a spread of one fold would read as 0
        if ranking:
            std = None if one_fold else r.get(f"{rank_key}_std")
            cells.append(_pm(r.get(f"{rank_key}_mean"), std))
        cells.append(_pm(r.get("rmse_mean"), None if one_fold else r.get("rmse_std")))
        if has_status:
            status = str(r.get("status", "complete"))
            if status != "complete":  # e.g. "pruned 1/3": stopped after 1 of 3 folds
                status += f" {r.get('folds_run')}/{tuning.get('folds')}"
            cells.append(_e(status))
        fold_values = list(r.get(fold_key) or [])
        cells += [_num(v) for v in fold_values] + ["—"] * (n_folds - len(fold_values))
        if has_cold:
            cells.append(_int(r.get("cold_start_rows")))
        if is_best:
            cells = [c if c.startswith("<strong>") else f"<strong>{c}</strong>" for c in cells]
        body.append(cells)
        classes.append("best" if is_best else "")
    caption = (
        f"All configurations, best first (mean and per-fold validation {obj_name}; "
        "★ and bold mark the best)"
    )
    n_text = len(headers) - 2
    parts.append(
        _table(
            headers,
            body,
            caption=caption,
            numeric=[True, False] + [True] * n_text,
            row_classes=classes,
            cell_classes=["nowrap", "nowrap"] + [""] * n_text,
        )
    )
    return "".join(parts)


# --------------------------------------------------------------------------- test metrics


def _test_section(s: dict[str, Any]) -> str:
    test = s.get("test") or {}
    if not test:
        return _note("This run has no test evaluation.")
    baselines = s.get("baselines") or {}
    columns: list[tuple[str, Mapping[str, Any]]] = [(str(test.get("model", "model")), test)]
    for key, metrics in baselines.items():
        columns.append((_BASELINE_NAMES.get(key, key.replace("_", " ")), metrics or {}))
    k = test.get("k", "k")
    threshold = test.get("threshold")
    holdout = s.get("holdout") or {}
    cov = test.get("coverage") or {}
    parts = [
        _note(
            f"The best configuration was refitted on the {_int(holdout.get('dev_ratings'))} "
            f"development ratings and scored once on the {_int(holdout.get('test_ratings'))} "
            f"held-out test ratings ({_pct(holdout.get('test_fraction'), 0)}). Relevant means "
            f"rated at least {_e(threshold)} stars; lists are {_e(k)} long. The baselines are "
            "scored on exactly the same rows; — means the metric does not apply to that "
            "baseline."
        )
    ]
    if cov:
        parts.append(
            _note(
                f"{_int(cov.get('scored_rows'))} of {_int(cov.get('test_rows'))} test ratings "
                f"scored; {_int(cov.get('cold_start_rows'))} have a user or movie unseen in "
                "training and are left out of the rating metrics."
            )
        )
    headers = ["Metric"] + [f"{_e(name)}" for name, _ in columns] + ["Definition"]
    headers[1] += " (tuned model)"
    rows = []
    for label, section, key, def_key in _METRIC_ROWS:
        values = []
        for _, metrics in columns:
            value = (metrics.get(section) or {}).get(key) if section else metrics.get(key)
            values.append(_num(value))
        if all(v == "—" for v in values):
            continue
        definition = METRIC_DEFINITIONS.get(def_key, "")
        rows.append([_e(label.replace("@k", f"@{k}")), *values, _e(definition)])
    parts.append(
        _table(
            headers,
            rows,
            caption=f"Hold-out test metrics (relevant: rating ≥ {_e(threshold)}, k = {_e(k)})",
            numeric=[False] + [True] * len(columns) + [False],
            cell_classes=["nowrap"] + [""] * len(columns) + ["def"],
        )
    )
    verdict = s.get("ranking_verdict") or []
    if verdict:
        parts.append(
            _note("Ranking against popularity: " + "; ".join(_e(v) for v in verdict) + ".")
        )
    return "".join(parts)


# --------------------------------------------------------------------------- recommendations


def _recommender_choice(info: Mapping[str, Any]) -> list[str]:
    """Why this recommender: the validation NDCG of every candidate, and the test-set check."""
    parts = []
    if info.get("why"):
        parts.append(f"<p>Why: {_e(info['why'])}.</p>")
    scores = info.get("validation_ndcg") or {}
    test = info.get("test") or {}
    if scores:
        rows = [
            (
                f"<strong>{_e(n)}</strong> (chosen)" if n == info.get("recommender") else _e(n),
                _num(v),
            )
            for n, v in sorted(scores.items(), key=lambda kv: -float(kv[1]))
        ]
        parts.append(
            _table(
                ["Candidate", "Validation NDCG"],
                rows,
                caption="Recommender candidates: catalogue NDCG@k on a validation split of "
                "the development data (the test set is not used for the choice)",
                numeric=[False, True],
            )
        )
    if test:
        ours, popular = test.get("catalogue_top_k") or {}, test.get("most_popular") or {}
        gain = test.get("ndcg_vs_most_popular")
        verdict = (
            "does not beat most-popular"
            if gain is None or gain <= 0
            else f"beats most-popular by {_pct(gain)}"
        )
        parts.append(
            _note(
                f"Checked once on the held-out test set (fitted on the development data, "
                f"same protocol as the test metrics): {_e(test.get('recommender'))} NDCG "
                f"{_num(ours.get('ndcg'))}, precision {_num(ours.get('precision'))}; "
                f"most popular NDCG {_num(popular.get('ndcg'))}, precision "
                f"{_num(popular.get('precision'))} — the recommender {verdict} on NDCG."
            )
        )
    return parts


def _recommendations_section(run_dir: Path, s: dict[str, Any]) -> str:
    info = s.get("recommendations") or {}
    sample = info.get("sample")
    if not (run_dir / "recommendations.parquet").exists():  # a file, or a folder of parts
        return _note("<code>recommendations.parquet</code> is not in this run folder.")
    if isinstance(sample, list):  # written by the run: a few users' rows, whatever the data size
        if not sample:
            return _note("The recommendation lists are empty.")
        shown = [
            (
                str(entry.get("label", "")),
                entry.get("user"),
                pd.DataFrame(entry.get("recommendations") or [], columns=_LIST_COLUMNS),
                pd.DataFrame(entry.get("top_rated") or [], columns=_LIKED_COLUMNS),
            )
            for entry in sample
            if isinstance(entry, dict)
        ]
        return _render_lists(info, shown, info.get("users"))
    return _recommendations_from_files(run_dir, info)


_LIST_COLUMNS = ["rank", ITEM, TITLE, GENRES, SCORE]
_LIKED_COLUMNS = [ITEM, TITLE, GENRES, RATING]


def _recommendations_from_files(run_dir: Path, info: dict[str, Any]) -> str:
    """The sample of a run folder written before summaries carried one: read from the
    recommendations and the model's training ratings (small runs; single files or parts)."""
    from movierec.lists import read_table

    recs_file = run_dir / "recommendations.parquet"
    if not recs_file.exists():
        return _note("<code>recommendations.parquet</code> is not in this run folder.")
    try:
        recs = read_table(recs_file)
    except (OSError, ValueError, MovierecError) as exc:
        return _note(f"<code>recommendations.parquet</code> could not be read: {_e(exc)}")
    if recs.empty:
        return _note("The recommendation lists are empty.")
    model_dir = run_dir / "model"
    train = movies = user_ids = item_ids = None
    try:
        train = read_table(model_dir / "train_ratings.parquet")
        if (model_dir / "movies.parquet").is_file():
            movies = pd.read_parquet(model_dir / "movies.parquet")
        user_ids = _load_ids(model_dir / "user_ids.npy")
        item_ids = _load_ids(model_dir / "item_ids.npy")
    except (OSError, ValueError, MovierecError):
        train = None

    picks = _pick_users(recs, train, user_ids)
    liked = None
    if train is not None:
        dense = np.asarray([d for _, d, _ in picks if d is not None], dtype=np.int64)
        liked = top_rated(train, dense, LIST_LENGTH, movies, user_ids, item_ids)
        liked["_key"] = liked[USER].astype(str)
    keys = recs[USER].astype(str)
    shown = []
    for label, _, original in picks:
        mine = recs[keys == str(original)].sort_values("rank", kind="stable").head(LIST_LENGTH)
        theirs = liked[liked["_key"] == str(original)] if liked is not None else None
        shown.append((label, original, mine, theirs))
    return _render_lists(info, shown, info.get("users", recs[USER].nunique()))


def _render_lists(
    info: dict[str, Any],
    shown: Sequence[tuple[str, Any, pd.DataFrame, pd.DataFrame | None]],
    users: Any,
) -> str:
    """The section's text, then for each (label, original user id, list, highest rated or
    None) the list beside what that user rated highest."""
    name = str(info.get("recommender", "rating-model"))
    score_text = {
        "implicit-als": "score is implicit ALS's preference (higher = more likely to be liked; "
        "not a rating)",
        "most-popular": "score is the movie's number of ratings",
    }.get(name, "score is the predicted rating in stars (unclipped)")
    parts = [
        _note(
            f"Top-{_e(info.get('n', LIST_LENGTH))} unseen movies were written for "
            f"{_int(users)} users "
            f"(<code>recommendations.parquet</code>/<code>.csv</code>) by "
            f"<strong>{_e(name)}</strong>. Already rated movies are never recommended. Three "
            "users are shown: the one with the fewest ratings, the median and the most active "
            f"(ties: lowest id); {score_text}."
        )
    ]
    parts.extend(_recommender_choice(info))
    for label, original, mine, theirs in shown:
        mine = mine.sort_values("rank", kind="stable").head(LIST_LENGTH)
        rec_table = _table(
            ["#", "Title", "Genres", "Score"],
            [
                (_int(r["rank"]), _title(r), _genres(r), _num(r[SCORE], 2))
                for _, r in mine.iterrows()
            ],
            caption=f"Recommended for user {_e(original)}",
            numeric=[True, False, False, True],
        )
        if theirs is not None:
            liked_table = _table(
                ["Title", "Genres", "Rating"],
                [(_title(r), _genres(r), _num(r[RATING], 1)) for _, r in theirs.iterrows()],
                caption=f"Rated highest by user {_e(original)}",
                numeric=[False, False, True],
                row_header=False,
            )
        else:
            liked_table = _note("The model folder with the training ratings is missing.")
        parts.append(f"<h3>User {_e(original)} <span class=muted>({_e(label)})</span></h3>")
        parts.append(f'<div class="pair">{rec_table}{liked_table}</div>')
    return "".join(parts)


def _title(r: pd.Series) -> str:
    title = r.get(TITLE)
    if title is None or (isinstance(title, float) and np.isnan(title)) or title == "":
        return f"movie {_e(r[ITEM])}"
    return _e(title)


def _genres(r: pd.Series) -> str:
    genres = r.get(GENRES)
    if not isinstance(genres, str) or not genres:
        return "—"
    return _e(genres.replace("|", ", "))


def _load_ids(file: Path) -> np.ndarray | None:
    return np.load(file, allow_pickle=False) if file.is_file() else None


def _pick_users(
    recs: pd.DataFrame, train: pd.DataFrame | None, user_ids: np.ndarray | None
) -> list[tuple[str, int | None, Any]]:
    """Up to three users, deterministically: fewest ratings, median, most (ties: lowest id).

    Returns (description, dense id or None, original id) for each. Without the training
    ratings, the first, middle and last user by id are taken.
    """
    rec_users = set(recs[USER].astype(str))
    if train is not None and len(train):
        counts = train.groupby(USER).size().rename("n").reset_index()
        originals = (
            np.asarray(user_ids)[counts[USER].to_numpy()]
            if user_ids is not None
            else counts[USER].to_numpy()
        )
        counts["original"] = originals
        counts = counts[counts["original"].astype(str).isin(rec_users)]
        counts = counts.sort_values(["n", USER], kind="stable").reset_index(drop=True)
        if len(counts):
            last = len(counts) - 1
            positions = [(0, "fewest ratings"), (last // 2, "median"), (last, "most ratings")]
            out: list[tuple[str, int | None, Any]] = []
            for pos, what in positions:
                row = counts.iloc[pos]
                if any(d == int(row[USER]) for _, d, _ in out):
                    continue
                label = f"{what}: {int(row['n']):,} rated"
                out.append((label, int(row[USER]), _py(row["original"])))
            return out[:SAMPLE_USERS]
    users = sorted(dict.fromkeys(recs[USER].tolist()), key=lambda u: (str(type(u)), u))
    last = len(users) - 1
    chosen = list(dict.fromkeys([users[0], users[last // 2], users[last]]))
    return [("by id", None, _py(u)) for u in chosen]


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- timings, config


def _timings_section(s: dict[str, Any]) -> str:
    timings = s.get("timings") or {}
    if not timings:
        return _note("This summary has no timings.")
    total = timings.get("total") or sum(v for k, v in timings.items() if k != "total") or 0
    rows = []
    classes = []
    for stage, seconds in timings.items():
        share = float(seconds) / float(total) if total else None
        is_total = stage == "total"
        cells = [
            f"<strong>{_e(stage)}</strong>" if is_total else _e(stage),
            _num(seconds, 1),
            "" if is_total else _pct(share, 0),
        ]
        rows.append(cells)
        classes.append("")
    return _table(
        ["Stage", "Seconds", "Share of total"],
        rows,
        caption="Wall-clock time per stage",
        numeric=[False, True, True],
        row_classes=classes,
    )


def _reproduce_section(s: dict[str, Any]) -> str:
    parts = []
    config = s.get("config")
    if config is not None:
        seed = config.get("seed") if isinstance(config, dict) else None
        parts.append(
            _note(
                "The full validated configuration of this run"
                + (f" (seed {_e(seed)})" if seed is not None else "")
                + ". The same configuration on the same data and versions gives the same "
                "splits, folds, metrics and lists; it is also in <code>summary.json</code> "
                "under <code>config</code>."
            )
        )
        text = _pretty_json(config)
        parts.append(f'<pre aria-label="Configuration as JSON"><code>{_e(text)}</code></pre>')
    versions = s.get("versions") or {}
    if versions:
        parts.append(
            _table(
                ["Component", "Version"],
                [(_e(k), f"<code>{_e(v)}</code>") for k, v in versions.items()],
                caption="Versions used by this run",
            )
        )
    return "".join(parts) or _note("This summary has no configuration or versions.")


def _pretty_json(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line, but lists of plain values on one line (shorter to read)."""
    pad = "  " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_pretty_json(v, indent + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + _pretty_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
