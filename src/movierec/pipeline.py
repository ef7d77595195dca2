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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec import __version__
from movierec.atomic import atomic_dir
from movierec.baselines import BiasBaseline, MostPopular
from movierec.config import RunConfig
from movierec.data import LoadedRatings, load_ratings, save_rejects
from movierec.eda import summarize
from movierec.engines import ALSParams, Engine, get_engine
from movierec.engines.base import EngineData, TrainedModel, fit_clipped
from movierec.errors import ConfigError
from movierec.evaluation import evaluate
from movierec.executors import executor_report
from movierec.hadoopfs import output_path
from movierec.interactions import fit_model
from movierec.jsonio import json_default as _json_default  # noqa: F401 - compatibility
from movierec.jsonio import write_json as _write_json
from movierec.metrics import catalogue_top_k, rating_errors
from movierec.model_io import save_model
from movierec.plots import (
    plot_item_popularity,
    plot_rating_distribution,
    plot_split_comparison,
    plot_tuning_results,
    plot_user_activity,
)
from movierec.progress import Reporter, Timer
from movierec.rankers import RANKERS, alternatives, ranker_candidates
from movierec.recommend import decorate, save_recommendations
from movierec.report import build_report
from movierec.schema import RATING, USER
from movierec.split import SALT_RECOMMENDER, holdout_split, random_split, train_fraction_splits
from movierec.tuning import TuningResult, holdout_rmse, tune

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


def data_section(loaded: LoadedRatings, eda: dict[str, Any]) -> dict[str, Any]:
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


def explore(engine: Engine, loaded: LoadedRatings, plots_dir: Path) -> dict[str, Any]:
    """EDA: aggregates computed by the engine, summarised, and three plots written."""
    handle = engine.data(loaded.ratings)
    try:
        user_counts, item_counts, rating_counts = engine.aggregates(handle)
    finally:
        handle.release()
    eda = summarize(user_counts, item_counts, rating_counts)
    plots_dir.mkdir(parents=True, exist_ok=True)
    plot_rating_distribution(rating_counts, plots_dir / "rating_distribution.png")
    plot_user_activity(user_counts, plots_dir / "user_activity.png")
    plot_item_popularity(item_counts, plots_dir / "item_popularity.png")
    return eda


def compare_splits(
    engine: Engine,
    ratings: pd.DataFrame,
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
    splits = train_fraction_splits(ratings, train_fractions, seed)
    for i, (fraction, train, test) in enumerate(splits, start=1):
        handle = engine.data(train)
        try:
            model = fit_clipped(engine, handle, params)
            try:
                predicted = model.predict(test)
            finally:
                model.release()
        finally:
            handle.release()
        rmse, n_cold = holdout_rmse(predicted, test[RATING])
        scored = ~np.isnan(predicted)
        bias = BiasBaseline().fit(train).predict(test.loc[scored])
        bias_rmse = rating_errors(test[RATING].to_numpy()[scored], bias)["rmse"]
        rows.append(
            {
                "train_fraction": fraction,
                "test_fraction": round(1.0 - fraction, 10),
                "rmse": rmse,
                "bias_baseline_rmse": float(bias_rmse),
                "train_ratings": len(train),
                "test_ratings": len(test),
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
    built locally, then uploaded and renamed into place: :mod:`movierec.hadoopfs`). ``after``,
    when given, is called with the finished local folder and the summary before the output
    is published (e.g. to log it to MLflow).

    Steps and outputs are listed in the README (``summary.json``, ``plots/``,
    ``recommendations.parquet``/``.csv``, ``model/``, ``rejects.csv``). The same config
    (seed included) gives the same splits, folds, fits and metrics.

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
    with atomic_dir(Path(out), replace_if=SUMMARY_JSON) as tmp:
        plots = tmp / "plots"
        with timer("load", reporter):
            loaded = load_ratings(cfg.data, cfg.spark)
            check_threshold(loaded.ratings, cfg.evaluation.threshold)
            if len(loaded.rejects):
                save_rejects(loaded.rejects, tmp / "rejects.csv")
        with timer("engine_start", reporter):
            engine = get_engine(cfg.engine, cfg.spark)
        with timer("eda", reporter):
            eda = explore(engine, loaded, plots)
        ratings = loaded.ratings
        base = ALSParams.from_config(cfg.als, cfg.seed)

        with timer("split_comparison", reporter, total=len(cfg.split.train_fractions)):
            comparison = compare_splits(
                engine, ratings, base, cfg.split.train_fractions, cfg.seed, reporter
            )
            plot_split_comparison(comparison, plots / "split_comparison.png")

        dev, test = holdout(ratings, cfg)
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

        with contextlib.ExitStack() as dev_scope:  # the dev data, indexed once for both stages
            with timer("evaluation", reporter):
                dev_handle = engine.data(dev)
                dev_scope.callback(dev_handle.release)
                model = fit_clipped(engine, dev_handle, best)
                try:
                    test_metrics = evaluate(
                        model,
                        dev_handle,
                        test,
                        k=cfg.evaluation.k,
                        threshold=cfg.evaluation.threshold,
                        movies=loaded.movies,
                    )
                finally:
                    model.release()
            baselines = test_metrics.pop("baselines")

            with timer("choose_recommender", reporter):
                choice = choose_recommender(engine, dev, best, cfg, tuning)
                choice["test"] = recommender_test(
                    engine, dev_handle, test, choice, cfg, test_metrics, baselines
                )
        with contextlib.ExitStack() as resources:
            with timer("final_fit", reporter):
                all_handle = engine.data(ratings)
                resources.callback(all_handle.release)
                final = fit_clipped(engine, all_handle, best)
                resources.callback(final.release)
            with timer("recommend", reporter):
                n = cfg.recommend.n
                ranker = None  # the ranking model when it is not the rating model (saved too)
                if choice["recommender"] == "rating-model":
                    recs = final.recommend(None, n, exclude=all_handle)
                elif choice["recommender"] == "most-popular":
                    users = np.unique(ratings[USER].to_numpy())
                    recs = MostPopular().fit(ratings).recommend(users, n=n, exclude=ratings)
                else:
                    ranker = fit_recommender(engine, all_handle, choice, cfg)
                    resources.callback(ranker.release)
                    recs = ranker.recommend(None, n, exclude=all_handle)
                table = decorate(recs, loaded.movies, loaded.user_ids, loaded.item_ids)
                save_recommendations(table, tmp / "recommendations")
            summary = _summary(cfg, loaded, eda, comparison, tuning, dev, test, best)
            summary["test"] = test_metrics
            summary["baselines"] = baselines
            summary["ranking_verdict"] = ranking_verdict(test_metrics, baselines, choice)
            summary["recommendations"] = {
                "users": int(table["user_id"].nunique()),
                "n": cfg.recommend.n,
                "rows": len(table),
                "files": ["recommendations.parquet", "recommendations.csv"],
                **choice,
            }
            summary["versions"] = versions(engine)
            with timer("save_model", reporter):
                save_model(
                    final,
                    tmp / "model",
                    engine=engine.name,
                    train=ratings,
                    movies=loaded.movies,
                    user_ids=loaded.user_ids,
                    item_ids=loaded.item_ids,
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
    loaded: LoadedRatings,
    eda: dict[str, Any],
    comparison: list[dict[str, Any]],
    tuning: TuningResult,
    dev: pd.DataFrame,
    test: pd.DataFrame,
    best: ALSParams,
) -> dict[str, Any]:
    return {
        "data": data_section(loaded, eda),
        "split_comparison": comparison,
        "tuning": {**tuning.to_dict(), "refit": refit_note(tuning, best)},
        "holdout": {
            "method": cfg.split.method,
            "test_fraction": cfg.split.test_fraction,
            "dev_ratings": len(dev),
            "test_ratings": len(test),
            "best_params": best.to_dict(),
        },
        "config": json.loads(cfg.model_dump_json()),
    }


def holdout(ratings: pd.DataFrame, cfg: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured hold-out split (``[split]`` section) of ``ratings``."""
    s = cfg.split
    return holdout_split(
        ratings, s.method, s.test_fraction, cfg.seed, time_cut=s.time_cut, leave_last=s.leave_last
    )


RECOMMENDERS = ("rating-model", "als", "biased-als", "implicit-als", *RANKERS, "most-popular")
"""Candidates of :func:`choose_recommender`, in tie-break order. ``rating-model`` is the
tuned rating model (als or biased-als); the other explicit kind competes under its own name."""
EXPLICIT = ("als", "biased-als")


def interaction_spec(cfg: RunConfig) -> tuple[str, float]:
    """(mode, threshold) of :func:`movierec.interactions.to_interactions` for this run."""
    return cfg.interactions.mode, cfg.interaction_threshold


def rating_params(tuning: TuningResult, base: ALSParams) -> ALSParams:
    """The rating model: the tuned best for the rmse objective; with a ranking objective the
    completed explicit configuration with the lowest mean RMSE (``base`` if none was tried)."""
    if tuning.objective == "rmse":
        return tuning.best_params(base)
    return tuning.best_rating_params(base) or base


def refit_note(tuning: TuningResult, best: ALSParams) -> dict[str, Any]:
    """What was refitted after tuning, and whether it is the tuning's best configuration."""
    same = best == tuning.best_params(best)
    label = ", ".join(
        f"{k}={v}" for k, v in tuning.best.items() if not k.endswith(("_mean", "_std"))
    )
    note = (
        f"the tuning's best configuration ({label}) is the rating model"
        if same
        else f"the tuning's best configuration ({label}) is the {tuning.best['model']} "
        "recommender candidate; the rating model is the lowest-RMSE explicit configuration"
    )
    return {
        "rating_model": {k: v for k, v in best.to_dict().items() if k != "seed"},
        "is_tuning_best": same,
        "note": note,
        "evaluation_fit": "all development ratings (the hold-out test set scores it)",
        "final_fit": "all ratings (the saved model)",
    }


def implicit_params(cfg: RunConfig, tuning: TuningResult | None = None) -> ALSParams:
    """The ``implicit-als`` candidate's parameters: the best tuned implicit-als configuration
    when the search tried it (ranking objective), else the ``[recommend]`` section's."""
    r = cfg.recommend
    params = ALSParams(
        rank=r.implicit_rank,
        reg_param=r.implicit_reg_param,
        max_iter=r.implicit_max_iter,
        alpha=r.implicit_alpha,
        seed=cfg.seed,
        model="implicit-als",
        num_blocks=cfg.als.num_blocks,
        checkpoint_interval=cfg.als.checkpoint_interval,
    )
    tuned = tuning.best_of_model("implicit-als", params) if tuning is not None else None
    return tuned or params


def recommender_candidates(
    rating: ALSParams, cfg: RunConfig, tuning: TuningResult | None = None
) -> dict[str, ALSParams | None]:
    """Name -> parameters of every candidate (most-popular: None), in :data:`RECOMMENDERS`
    order. The explicit kind that is not the rating model uses its best tuned configuration,
    or the rating model's values with the other kind."""
    out: dict[str, ALSParams | None] = {"rating-model": rating}
    for kind in EXPLICIT:
        if kind == rating.model:
            continue
        tuned = tuning.best_of_model(kind, rating) if tuning is not None else None
        out[kind] = tuned or replace(rating, model=kind)
    out["implicit-als"] = implicit_params(cfg, tuning)
    out.update(ranker_candidates(cfg, tuning))  # ials (when the engines have it), ease
    out["most-popular"] = None
    return out


def fit_recommender(
    engine: Engine, handle: EngineData, choice: dict[str, Any], cfg: RunConfig
) -> TrainedModel:
    """Fit the chosen recommender's parameters (``choice["params"]``) on ``handle``; an
    implicit model is fitted on the configured interactions. Recommend with
    ``exclude=handle`` so every rated movie stays excluded.

    Raises:
        ConfigError: the choice is most-popular (no model to fit).
    """
    if choice.get("params") is None:
        raise ConfigError(f"recommender {choice['recommender']!r} has no ALS model to fit")
    params = ALSParams(**choice["params"])
    return fit_model(engine, handle, params, *interaction_spec(cfg))


def ranking_verdict(
    test_metrics: dict[str, Any], baselines: dict[str, Any], choice: dict[str, Any]
) -> list[str]:
    """Plain sentences: does each model scored on the test set beat most-popular on catalogue
    NDCG@k? One for the rating model, one for the chosen recommender when it is a different
    model. Each quotes both numbers."""
    popular = float(baselines["most_popular"]["catalogue_top_k"]["ndcg"])
    k = test_metrics["catalogue_top_k"].get("k", "k")

    def say(name: str, ndcg: float) -> str:
        verb = "beats" if ndcg > popular else "does NOT beat"
        return (
            f"{name} {verb} most-popular on catalogue NDCG@{k} on the test set "
            f"({ndcg:.4f} vs {popular:.4f})"
        )

    out = [say(f"the rating model ({test_metrics.get('model', 'rating model')})",
               float(test_metrics["catalogue_top_k"]["ndcg"]))]  # fmt: skip
    test = choice.get("test") or {}
    if choice.get("recommender") not in (None, "rating-model", "most-popular") and test:
        out.append(
            say(
                f"the recommender ({choice['recommender']})", float(test["catalogue_top_k"]["ndcg"])
            )
        )
    return out


def recommender_test(
    engine: Engine,
    dev: EngineData,
    test: pd.DataFrame,
    choice: dict[str, Any],
    cfg: RunConfig,
    test_metrics: dict[str, Any],
    baselines: dict[str, Any],
) -> dict[str, Any]:
    """Score the chosen recommender once on the hold-out test set, beside most-popular.

    The choice itself is made on validation data only; this is the after-the-fact check on
    the test ratings, with the same protocol as the ``test`` section's catalogue metrics
    (fitted on the development data ``dev``, already indexed by ``engine``; each test user's
    top-k unseen movies from the whole catalogue; relevance = test rating >= threshold).
    Returns the recommender's ``catalogue_top_k`` metrics, most-popular's, and
    ``ndcg_vs_most_popular`` (the relative NDCG@k gain, e.g. 0.5 = 50% higher; None when
    most-popular scores 0).
    """
    k, t = cfg.evaluation.k, cfg.evaluation.threshold
    popular = dict(baselines["most_popular"]["catalogue_top_k"])
    name = choice["recommender"]
    if name == "most-popular":
        ours = popular
    elif name == "rating-model":
        ours = dict(test_metrics["catalogue_top_k"])
    else:
        model = fit_recommender(engine, dev, choice, cfg)
        try:
            recs = model.recommend(np.unique(test[USER].to_numpy()), k, exclude=dev)
        finally:
            model.release()
        ours = catalogue_top_k(recs, test, k, t)
    base = float(popular["ndcg"])
    gain = float(ours["ndcg"]) / base - 1.0 if base > 0 else None
    log.info(
        "recommender %s on the test set: NDCG@%d %.4f (most popular %.4f)",
        name,
        k,
        float(ours["ndcg"]),
        base,
    )
    return {
        "recommender": name,
        "catalogue_top_k": ours,
        "most_popular": popular,
        "ndcg_vs_most_popular": gain,
    }


def choose_recommender(
    engine: Engine,
    dev: pd.DataFrame,
    rating_params: ALSParams,
    cfg: RunConfig,
    tuning: TuningResult | None = None,
) -> dict[str, Any]:
    """Pick the model whose top-k lists rank best, measured, not assumed.

    Rating prediction and ranking are different jobs: the lowest-RMSE model is often a poor
    ranker. With ``recommender = "auto"`` each candidate (the tuned rating model, the other
    explicit kind, implicit ALS, ials when the engines have it, EASE, most popular; see
    :func:`recommender_candidates`) is fitted on 80% of the development data and its
    catalogue-wide top-k lists (seen movies excluded; implicit ALS fitted on the configured
    interactions) are scored against the other 20% by NDCG@k at the evaluation threshold;
    the highest wins (ties: the order above). EASE without a tuned λ is fitted once per
    ``[recommend] ease_lambdas`` value and its best counts (:func:`movierec.rankers.
    alternatives`; the scores per λ are returned as ``ease_lambdas``). The test set is not
    used. Returns ``{"recommender", "why", "validation_ndcg", "params", "candidates"}``;
    ``params`` are the winner's parameters (None for most-popular). A forced recommender
    uses its first configuration (for EASE the first λ) without validation.
    """
    candidates = recommender_candidates(rating_params, cfg, tuning)
    forced = cfg.recommend.recommender
    if forced != "auto" and forced not in candidates:
        raise ConfigError(f"recommender {forced!r} is not available in this build")
    described = {
        name: (None if p is None else {k: v for k, v in p.to_dict().items()})
        for name, p in candidates.items()
    }
    if forced != "auto":
        return {
            "recommender": forced,
            "why": "chosen with --recommender",
            "validation_ndcg": {},
            "params": described[forced],
            "candidates": {forced: described[forced]},
        }
    k, t = cfg.evaluation.k, cfg.evaluation.threshold
    train, valid = random_split(dev, 0.2, cfg.seed, SALT_RECOMMENDER)
    users = np.unique(valid[USER].to_numpy())
    scores: dict[str, float] = {}
    tried: dict[str, dict[float, float]] = {}  # ease: validation NDCG per λ
    handle = engine.data(train)
    try:
        for name, params in candidates.items():
            if params is None:
                continue
            for option in alternatives(name, params, cfg, tuning):
                model = fit_model(engine, handle, option, *interaction_spec(cfg))
                try:
                    recs = model.recommend(users, k, exclude=handle)
                finally:
                    model.release()
                ndcg = float(catalogue_top_k(recs, valid, k, t)["ndcg"])
                tried.setdefault(name, {})[option.reg_param] = ndcg
                if name not in scores or ndcg > scores[name]:
                    scores[name], candidates[name] = ndcg, option
                    described[name] = option.to_dict()
    finally:
        handle.release()
    popular = MostPopular().fit(train).recommend(users, n=k, exclude=train)
    scores["most-popular"] = float(catalogue_top_k(popular, valid, k, t)["ndcg"])
    order = [name for name in RECOMMENDERS if name in scores]
    winner = max(order, key=lambda name: (scores[name], -order.index(name)))

    def label(name: str) -> str:
        return f"rating-model ({rating_params.model})" if name == "rating-model" else name

    why = f"highest catalogue NDCG@{k} on a validation split of the development data: " + ", ".join(
        f"{label(name)} {scores[name]:.4f}" for name in order
    )
    log.info("recommender: %s (%s)", winner, why)
    return {
        "recommender": winner,
        "why": why,
        "validation_ndcg": scores,
        "params": described[winner],
        "candidates": described,
        **({"ease_lambdas": tried["ease"]} if len(tried.get("ease", {})) > 1 else {}),
    }


def check_threshold(ratings: pd.DataFrame, threshold: float) -> None:
    """Fail early when no rating reaches ``threshold`` (the top-k metrics would be undefined).

    Raises:
        ConfigError: the threshold is above every rating in the data.
    """
    top = float(ratings[RATING].max())
    if threshold > top:
        raise ConfigError(
            f"threshold {threshold} is above every rating in the data (highest: {top}); "
            "choose --threshold within the rating scale"
        )
