"""The whole brief as a sequence of steps, each also usable on its own by the CLI verbs.

``run`` loads and validates the ratings, explores them, compares train/test split ratios,
tunes ALS by k-fold cross-validation on the development part of a hold-out split,
evaluates the best configuration on the hold-out test set beside baselines, refits it on
all ratings, recommends top-N unseen movies for every user and saves the model. Everything
is written into one output folder atomically.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from movierec import __version__
from movierec.atomic import atomic_dir
from movierec.config import RunConfig
from movierec.data import LoadedRatings
from movierec.eda import summarize
from movierec.engines import ALSParams, Engine, get_engine
from movierec.engines.base import EngineData, Loaded
from movierec.engines.clipping import fit_clipped
from movierec.evaluation import evaluate
from movierec.executors import executor_report
from movierec.hadoopfs import output_path
from movierec.jsonio import json_default as _json_default  # noqa: F401 - compatibility
from movierec.jsonio import write_json as _write_json
from movierec.model_io import save_model
from movierec.plots import (
    plot_item_popularity,
    plot_rating_distribution,
    plot_split_comparison,
    plot_tuning_results,
    plot_user_activity,
)
from movierec.preflight import check_source, check_threshold
from movierec.progress import Reporter, Timer
from movierec.recommend import recommendation_sample
from movierec.report import build_report
from movierec.selection import (
    EXPLICIT,
    RECOMMENDERS,
    choose_recommender,
    fit_recommender,
    implicit_params,
    interaction_spec,
    ranking_verdict,
    rating_params,
    recommender_candidates,
    recommender_test,
    refit_note,
)
from movierec.split import holdout_split
from movierec.tuning import TuningResult, tune

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"


def versions(engine: Engine | None = None) -> dict[str, str]:
    """Versions of everything that can change a result."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pyspark_version = version("pyspark")
    except PackageNotFoundError:  # pragma: no cover - pyspark is a dependency
        pyspark_version = "not installed"
    out = {
        "movierec": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyspark": pyspark_version,
        "platform": platform.platform(),
    }
    if engine is not None and engine.name == "local":
        out["numba"] = version("numba")
    spark = getattr(engine, "spark", None)
    if spark is not None:
        out["spark"] = spark.version
        out["spark_master"] = spark.conf.get("spark.master", "unknown")
    return out


def data_section(loaded: Loaded | LoadedRatings, eda: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` section of the summary: counts, sparsity, rejected rows and the EDA."""
    report = loaded.report.to_dict()
    return {
        "ratings": eda["ratings"],
        "users": eda["users"],
        "items": eda["items"],
        "sparsity": eda["sparsity"],
        "rejected": sum(loaded.report.rejected.values()),
        "load": report,
        "eda": eda,
    }


def explore(engine: Engine, loaded: Loaded | LoadedRatings, plots_dir: Path) -> dict[str, Any]:
    """EDA: aggregates computed by the engine, summarised, and three plots written."""
    if isinstance(loaded, LoadedRatings):
        with engine.data(loaded.ratings) as table:
            return _explore(table, plots_dir)[0]
    return _explore(loaded.ratings, plots_dir)[0]


def _explore(table: EngineData, plots_dir: Path) -> tuple[dict[str, Any], pd.Series]:
    """(the EDA summary, ratings per user): from the engine's three aggregates, whose sizes
    grow with users and movies, never with ratings."""
    user_counts, item_counts, rating_counts = table.aggregates()
    eda = summarize(user_counts, item_counts, rating_counts)
    plots_dir.mkdir(parents=True, exist_ok=True)
    plot_rating_distribution(rating_counts, plots_dir / "rating_distribution.png")
    plot_user_activity(user_counts, plots_dir / "user_activity.png")
    plot_item_popularity(item_counts, plots_dir / "item_popularity.png")
    return eda, user_counts


def compare_splits(
    engine: Engine,
    ratings: pd.DataFrame | EngineData,
    params: ALSParams,
    train_fractions: list[float],
    seed: int,
    reporter: Reporter | None = None,
) -> list[dict[str, Any]]:
    """Fit ``params`` on each train share and report the test RMSE (rating units) of each.

    Each row also has the RMSE of the user+item bias baseline fitted on the same training
    share and scored on the same test rows.
    """
    rows = []
    with engine.table(ratings) as table, contextlib.ExitStack() as stack:
        splits = table.train_fraction_splits(train_fractions, seed)
        for _, train, test in splits:  # released on any error; each also right after use
            stack.callback(train.release)
            stack.callback(test.release)
        for i, (fraction, train, test) in enumerate(splits, start=1):
            with train, test:
                with fit_clipped(engine, train, params) as model, model.predict_table(test) as p:
                    rmse, n_cold = p.holdout_rmse()
                    with (
                        p.predicted() as scored,
                        train.fit_baseline("bias") as bias,
                        bias.predict_table(scored) as b,
                    ):
                        bias_rmse = b.rating_errors()["rmse"]
                n_train, n_test = train.count(), test.count()
            rows.append(
                {
                    "train_fraction": fraction,
                    "test_fraction": round(1.0 - fraction, 10),
                    "rmse": rmse,
                    "bias_baseline_rmse": float(bias_rmse),
                    "train_ratings": n_train,
                    "test_ratings": n_test,
                    "cold_start_rows": n_cold,
                }
            )
            log.info("split %.0f/%.0f: RMSE %.4f", 100 * fraction, 100 * (1 - fraction), rmse)
            if reporter is not None:
                reporter.advance(i, len(splits), f"train {fraction:.0%}: RMSE {rmse:.4f}")
    return rows


def run(
    cfg: RunConfig,
    out: str | Path,
    reporter: Reporter | None = None,
    after: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the whole brief and write ``out`` atomically; return the summary dict.

    ``out`` is a local folder or a folder on a Hadoop filesystem (``hdfs://``, ``s3a://``;
    built in a local staging folder and uploaded, while the executors write their part files
    into the remote temporary folder directly: :mod:`movierec.hadoopfs`). ``after``, when
    given, is called with the finished local folder and the summary before the output is
    published (e.g. to log it to MLflow).

    Steps and outputs are listed in the README (``summary.json``, ``plots/``,
    ``recommendations.parquet``/``.csv``, ``model/``, rejects). The same config (seed
    included) gives the same splits, folds, fits and metrics. Every step runs on the
    engine's data plane: on Spark, only counts, aggregates, metrics and small samples reach
    the driver.

    Raises:
        MovierecError: bad data, bad configuration, or an engine failure.
    """
    with output_path(out, replace_if=SUMMARY_JSON, spark_cfg=cfg.spark) as local_out:
        summary = _run(cfg, local_out, reporter)
        if after is not None:
            after(local_out, summary)
    log.info("run finished: %s", out)
    return summary


def _run(cfg: RunConfig, out: Path, reporter: Reporter | None) -> dict[str, Any]:
    timer = Timer()
    reporter = reporter or Reporter()
    with atomic_dir(Path(out), replace_if=SUMMARY_JSON) as tmp, contextlib.ExitStack() as scope:
        plots = tmp / "plots"
        check_source(cfg.data)
        with timer("engine_start", reporter):
            engine = get_engine(cfg.engine, cfg.spark)
        with timer("load", reporter):
            loaded = scope.enter_context(engine.read(cfg.data, cfg.spark))
            ratings = loaded.ratings
            check_threshold(ratings, cfg.evaluation.threshold)
            loaded.write_rejects(tmp)
        with timer("eda", reporter):
            eda, user_counts = _explore(ratings, plots)
        base = ALSParams.from_config(cfg.als, cfg.seed)

        with timer("split_comparison", reporter, total=len(cfg.split.train_fractions)):
            comparison = compare_splits(
                engine, ratings, base, cfg.split.train_fractions, cfg.seed, reporter
            )
            plot_split_comparison(comparison, plots / "split_comparison.png")

        dev, test = (scope.enter_context(h) for h in holdout(ratings, cfg))
        with timer("tuning", reporter, total=cfg.tuning.planned_fits()):
            tuning: TuningResult = tune(
                engine,
                dev,
                cfg.tuning,
                base,
                cfg.seed,
                progress=reporter.advance,
                threshold=cfg.evaluation.threshold,
                interactions=interaction_spec(cfg),
                start=[base, implicit_params(cfg)],  # random/optuna try the defaults first
            )
            plot_tuning_results(tuning.to_dict(), plots)
        best = rating_params(tuning, base)

        with timer("evaluation", reporter), fit_clipped(engine, dev, best) as model:
            test_metrics = evaluate(
                model,
                dev,
                test,
                k=cfg.evaluation.k,
                threshold=cfg.evaluation.threshold,
                movies=loaded.catalog,
            )
        baselines = test_metrics.pop("baselines")

        with timer("choose_recommender", reporter):
            choice = choose_recommender(engine, dev, best, cfg, tuning)
            choice["test"] = recommender_test(
                engine, dev, test, choice, cfg, test_metrics, baselines
            )
        sizes = {"dev_ratings": dev.count(), "test_ratings": test.count()}
        dev.release()  # the development data is not needed any more: free it before refitting
        test.release()
        with timer("final_fit", reporter):
            final = scope.enter_context(fit_clipped(engine, ratings, best))
        with timer("recommend", reporter):
            n = cfg.recommend.n
            ranker = None  # the ranking model when it is not the rating model (saved too)
            if choice["recommender"] == "rating-model":
                recs = final.recommend_table(None, n, exclude=ratings)
            elif choice["recommender"] == "most-popular":
                popular = scope.enter_context(ratings.fit_baseline("most_popular"))
                recs = popular.recommend_table(ratings, n, exclude=ratings)
            else:
                ranker = scope.enter_context(fit_recommender(engine, ratings, choice, cfg))
                recs = ranker.recommend_table(None, n, exclude=ratings)
            scope.enter_context(recs)
            written = recs.write_recommendations(tmp / "recommendations", loaded.catalog)
            sample = recommendation_sample(recs, ratings, user_counts, loaded.catalog)
        summary = _summary(cfg, loaded, eda, comparison, tuning, sizes, best)
        summary["test"] = test_metrics
        summary["baselines"] = baselines
        summary["ranking_verdict"] = ranking_verdict(test_metrics, baselines, choice)
        summary["recommendations"] = {
            "users": written.users,
            "n": cfg.recommend.n,
            "rows": written.rows,
            "files": written.files,
            **choice,
            "sample": sample,
        }
        summary["versions"] = versions(engine)
        with timer("save_model", reporter):
            save_model(
                final,
                tmp / "model",
                engine=engine.name,
                train=ratings,
                movies=loaded.catalog.movies,
                user_ids=loaded.catalog.user_ids,
                item_ids=loaded.catalog.item_ids,
                metrics={"holdout_test": test_metrics, "trained_on": "all ratings"},
                config=summary["config"],
                versions=summary["versions"],
                recommender=choice,
                recommender_model=ranker,
            )
        summary["timings"] = timer.seconds
        summary["timings"]["total"] = round(sum(timer.seconds.values()), 3)
        # Where the work ran (Spark's status store): executors alive and lost; None without a JVM.
        summary["executors"] = executor_report(getattr(engine, "spark", None))
        _write_json(tmp / SUMMARY_JSON, summary)
        build_report(tmp)  # reads summary.json; a second or so, not in the timings
    return summary


def _summary(
    cfg: RunConfig,
    loaded: Loaded,
    eda: dict[str, Any],
    comparison: list[dict[str, Any]],
    tuning: TuningResult,
    sizes: dict[str, int],
    best: ALSParams,
) -> dict[str, Any]:
    return {
        "data": data_section(loaded, eda),
        "split_comparison": comparison,
        "tuning": {**tuning.to_dict(), "refit": refit_note(tuning, best)},
        "holdout": {
            "method": cfg.split.method,
            "test_fraction": cfg.split.test_fraction,
            **sizes,
            "best_params": best.to_dict(),
        },
        "config": json.loads(cfg.model_dump_json()),
    }


@overload
def holdout(ratings: pd.DataFrame, cfg: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame]: ...
@overload
def holdout(ratings: EngineData, cfg: RunConfig) -> tuple[EngineData, EngineData]: ...
def holdout(ratings: pd.DataFrame | EngineData, cfg: RunConfig) -> tuple[Any, Any]:
    """The configured hold-out split (``[split]`` section) of ``ratings``: pandas frames for
    a pandas table, the engine's tables for an engine's table."""
    s = cfg.split
    if isinstance(ratings, EngineData):
        return ratings.holdout_split(
            s.method, s.test_fraction, cfg.seed, time_cut=s.time_cut, leave_last=s.leave_last
        )
    return holdout_split(
        ratings, s.method, s.test_fraction, cfg.seed, time_cut=s.time_cut, leave_last=s.leave_last
    )


__all__ = [
    "EXPLICIT",
    "RECOMMENDERS",
    "SUMMARY_JSON",
    "Reporter",
    "Timer",
    "check_source",
    "check_threshold",
    "choose_recommender",
    "compare_splits",
    "data_section",
    "explore",
    "fit_recommender",
    "holdout",
    "implicit_params",
    "interaction_spec",
    "ranking_verdict",
    "rating_params",
    "recommender_candidates",
    "recommender_test",
    "refit_note",
    "run",
    "versions",
]
