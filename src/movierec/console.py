"""Terminal output of the CLI: progress bars, and results printed as tables.

Progress bars go to stderr and only when it is a terminal, so piped output stays clean.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from movierec.progress import Reporter

# Piped output gets a fixed width so tables are not squeezed to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


class RichReporter(Reporter):
    """A progress bar per stage, showing the stage, configuration and fold being worked on."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[stage]:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=False,
        )
        self._task: Any = None

    def stage(self, name: str, total: int | None = None) -> None:
        if self._task is None:
            self._progress.start()
        self._task = self._progress.add_task("", total=total, stage=name)

    def advance(self, done: int, total: int, description: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done, total=total, description=description)

    def end_stage(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, completed=task.total or 1, total=task.total or 1)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._progress.stop()


class LineReporter(Reporter):
    """One plain line per finished stage (for logs and pipes, where bars would be noise)."""

    def __init__(self) -> None:
        self._name = ""
        self._start = 0.0
        self._done = ""

    def stage(self, name: str, total: int | None = None) -> None:
        self._name, self._start, self._done = name, time.perf_counter(), ""

    def advance(self, done: int, total: int, description: str) -> None:
        self._done = f", {done}/{total} steps"

    def end_stage(self) -> None:
        seconds = time.perf_counter() - self._start
        print(f"movierec: {self._name} done ({seconds:.1f} s{self._done})", file=sys.stderr)


def notebook_reporter(console: Console | None = None) -> Reporter:
    """Progress for ``movierec.run(..., progress=True)``: bars in a Jupyter notebook or on a
    terminal (rich renders both), one line per finished stage anywhere else."""
    c = console or err
    return RichReporter() if c.is_jupyter or c.is_terminal else LineReporter()


def make_reporter(quiet: bool) -> Reporter:
    """Progress bars on a terminal, one line per stage otherwise, nothing when ``quiet``."""
    if quiet:
        return Reporter()
    if not sys.stderr.isatty():
        return LineReporter()
    return RichReporter()


@contextlib.contextmanager
def download_progress(quiet: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    """A byte-count progress callback for dataset downloads (None when quiet or not a TTY)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(console=err) as progress:
        task = progress.add_task("download", total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_eda(section: dict[str, Any], folder: Path | str) -> None:
    eda = section["eda"]
    table = Table(title="Ratings overview")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("ratings", "users", "items", "sparsity", "rating_mean", "rating_std"):
        if key in eda:
            table.add_row(key, _fmt(eda[key]))
    table.add_row("rejected rows", _fmt(section["rejected"]))
    out.print(table)
    out.print(f"plots and eda.json in {folder}")


def print_split_comparison(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Train/test split comparison (test RMSE)")
    for col in ("train/test", "train ratings", "test ratings", "model RMSE", "bias baseline"):
        table.add_column(col, justify="right")
    table.add_column("cold-start rows", justify="right")
    for r in rows:
        table.add_row(
            f"{r['train_fraction']:.0%}/{r['test_fraction']:.0%}",
            _fmt(r["train_ratings"]),
            _fmt(r["test_ratings"]),
            _fmt(r["rmse"]),
            _fmt(r.get("bias_baseline_rmse")),
            _fmt(r["cold_start_rows"]),
        )
    out.print(table)


def print_tuning(tuning: dict[str, Any]) -> None:
    objective = str(tuning.get("objective", "rmse"))
    search = str(tuning.get("search", "grid"))
    metric = None if objective == "rmse" else objective.split("@")[0]
    shown = "RMSE" if metric is None else objective
    title = f"{search.capitalize()} search, {tuning['folds']}-fold cross-validation ({shown})"
    table = Table(title=title)
    cols = ["model", "rank", "regParam", "maxIter", "mean RMSE", "std"]
    if metric is not None:
        cols += [f"mean {objective}", f"{metric} std"]
    pruned = any(r.get("status") == "pruned" for r in tuning["results"])
    if pruned:
        cols.append("status")
    for col in cols:
        table.add_column(col, justify="left" if col in ("model", "status") else "right")
    best = tuning["best"]
    keys = ("model", "rank", "regParam", "maxIter", "biasReg", "alpha")
    for r in tuning["results"]:
        is_best = all(r.get(k) == best.get(k) for k in keys)
        extra = [f" biasReg={r['biasReg']}" if "biasReg" in r else ""]
        extra += [f" alpha={r['alpha']}" if "alpha" in r else ""]
        one_fold = int(r.get("folds_run", tuning["folds"])) < 2  # no spread to show
        row = [
            str(r.get("model", "als")) + "".join(extra) + (" ★" if is_best else ""),
            str(r["rank"]),
            str(r["regParam"]),
            str(r["maxIter"]),
            _fmt(r.get("rmse_mean")),
            "—" if one_fold else _fmt(r.get("rmse_std")),
        ]
        if metric is not None:
            std = "—" if one_fold else _fmt(r.get(f"{metric}_std"))
            row += [_fmt(r.get(f"{metric}_mean")), std]
        status = str(r.get("status", "complete"))
        if status == "pruned":  # "pruned 1/3": stopped after 1 of 3 folds
            status += f" {r.get('folds_run')}/{tuning['folds']}"
        if pruned:
            row.append(status)
        table.add_row(*row, style="bold" if is_best else None)
    out.print(table)
    score = f"{objective} {best['objective_mean']:.4f}" if "objective_mean" in best else ""
    if metric is None:
        score = f"RMSE {best['rmse_mean']:.4f} ± {best['rmse_std']:.4f}"
    out.print(
        f"best: {best.get('model', 'als')} rank={best['rank']} regParam={best['regParam']} "
        f"maxIter={best['maxIter']} ({score})"
    )


_METRIC_ROWS: list[tuple[str, str, str]] = [
    ("RMSE", "", "rmse"),
    ("MAE", "", "mae"),
    ("MSE", "", "mse"),
    ("pairwise precision", "pairwise", "precision"),
    ("pairwise recall", "pairwise", "recall"),
    ("pairwise F1", "pairwise", "f1"),
    ("in-test precision@k", "within_test_top_k", "precision"),
    ("in-test recall@k", "within_test_top_k", "recall"),
    ("in-test F1@k", "within_test_top_k", "f1"),
    ("catalogue precision@k", "catalogue_top_k", "precision"),
    ("catalogue recall@k", "catalogue_top_k", "recall"),
    ("catalogue normalised recall@k", "catalogue_top_k", "recall_norm"),
    ("catalogue F1@k", "catalogue_top_k", "f1"),
    ("catalogue NDCG@k", "catalogue_top_k", "ndcg"),
    ("catalogue MAP@k", "catalogue_top_k", "map"),
    ("catalogue hit rate@k", "catalogue_top_k", "hit_rate"),
    ("catalogue coverage", "beyond_accuracy", "coverage"),
    ("novelty (bits)", "beyond_accuracy", "novelty"),
    ("genre diversity", "beyond_accuracy", "diversity"),
    ("popularity percentile", "beyond_accuracy", "popularity_bias"),
    ("personalisation", "beyond_accuracy", "personalisation"),
]


def print_metrics(test: dict[str, Any], baselines: dict[str, Any] | None = None) -> None:
    """One row per metric, one column per model: the model first, then each baseline."""
    columns = {str(test.get("model", "model")): test, **(baselines or test.get("baselines") or {})}
    k = test.get("k", "k")
    table = Table(title=f"Test metrics (relevant: rating >= {test.get('threshold')}, k = {k})")
    table.add_column("metric")
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    for label, section, key in _METRIC_ROWS:
        cells = []
        for m in columns.values():
            value = (m.get(section) or {}).get(key) if section else m.get(key)
            cells.append("—" if value is None else _fmt(value))
        table.add_row(label.replace("@k", f"@{k}"), *cells)
    out.print(table)
    cov = test.get("coverage")
    if cov:
        out.print(
            f"{cov['scored_rows']:,} of {cov['test_rows']:,} test ratings scored; "
            f"{cov['cold_start_rows']:,} have a user or movie unseen in training"
        )


def print_recommendations(
    table: pd.DataFrame, max_users: int = 20, liked: pd.DataFrame | None = None
) -> None:
    """Each user's list as a table; with ``liked``, the movies they rated highest below it."""
    users = list(dict.fromkeys(table["user_id"].tolist()))
    for user in users[:max_users]:
        rows = table[table["user_id"] == user]
        t = Table(title=f"Top {len(rows)} for user {user}")
        for col in ("#", "movie", "title", "genres", "score"):
            t.add_column(col, justify="right" if col in ("#", "movie", "score") else "left")
        for r in rows.itertuples(index=False):
            t.add_row(str(r.rank), str(r.movie_id), str(r.title), str(r.genres), f"{r.score:.3f}")
        out.print(t)
        if liked is not None:
            mine = liked[liked["user_id"] == user]
            lt = Table(title=f"Rated highest by user {user}")
            for col in ("movie", "title", "genres", "rating"):
                lt.add_column(col, justify="right" if col in ("movie", "rating") else "left")
            for r in mine.itertuples(index=False):
                lt.add_row(str(r.movie_id), str(r.title), str(r.genres), f"{r.rating:g}")
            out.print(lt)
    if len(users) > max_users:
        out.print(f"... and {len(users) - max_users:,} more users (use --out FILE for all)")


def print_run_summary(summary: dict[str, Any], folder: Path | str) -> None:
    data = summary["data"]
    out.print(
        f"[bold]data[/]: {data['ratings']:,} ratings, {data['users']:,} users, "
        f"{data['items']:,} movies, "
        f"sparsity {data['sparsity']:.4f}, {data['rejected']:,} rows rejected"
    )
    print_split_comparison(summary["split_comparison"])
    print_tuning(summary["tuning"])
    print_metrics(summary["test"], summary["baselines"])
    for sentence in summary.get("ranking_verdict") or []:
        out.print(sentence)
    recs = summary.get("recommendations") or {}
    if recs.get("recommender"):
        out.print(f"[bold]recommendations[/] by {recs['recommender']}: {recs.get('why', '')}")
        test = recs.get("test") or {}
        if test:
            gain = test.get("ndcg_vs_most_popular")
            ndcg = test["catalogue_top_k"]["ndcg"]
            popular = test["most_popular"]["ndcg"]
            verdict = "" if gain is None else f" ({gain:+.0%} vs most popular)"
            k = summary.get("test", {}).get("k", "k")
            out.print(f"  test NDCG@{k} {ndcg:.4f}, most popular {popular:.4f}{verdict}")
    timings = Table(title="Stage timings (seconds)")
    timings.add_column("stage")
    timings.add_column("seconds", justify="right")
    stages = sorted(summary["timings"].items(), key=lambda kv: kv[0] == "total")
    for stage, seconds in stages:
        timings.add_row(stage, f"{seconds:.1f}")
    out.print(timings)
    out.print(f"results in {folder}")


def print_datasets(rows: list[dict[str, Any]]) -> None:
    table = Table(title="MovieLens releases (GroupLens)")
    for col in ("name", "ratings", "users", "movies", "zip MB", "MD5 published", "cached at"):
        table.add_column(col, justify="left" if col in ("name", "cached at") else "right")
    for r in rows:
        size = r.get("size")
        table.add_row(
            str(r["name"]),
            _fmt(r.get("ratings")),
            _fmt(r.get("users")),
            _fmt(r.get("movies")),
            f"{size / 1e6:,.1f}" if size else "varies",
            "yes" if r.get("md5") else "no",
            str(r["path"]) if r.get("cached") else "not downloaded",
        )
    out.print(table)
