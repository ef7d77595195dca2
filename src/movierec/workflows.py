"""``train``, ``evaluate`` and ``recommend`` as library functions: what the CLI verbs do,
with typed results, so a notebook or a scheduler gets the same outputs as the command line.

* :func:`train` fits one model on all the configured ratings and writes a model folder;
* :func:`evaluate` scores a saved model on a test ratings table;
* :func:`recommend` makes top-N lists from a saved model (and writes them when asked).

``run`` (the whole brief in one output folder) is :func:`movierec.pipeline.run`.

Every function takes a validated :class:`~movierec.config.RunConfig`; paths may be local
or Hadoop URIs (:mod:`movierec.hadoopfs`) where the CLI accepts them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.config import RunConfig
from movierec.engines import ALSParams
from movierec.errors import ConfigError
from movierec.progress import Reporter

if TYPE_CHECKING:
    from movierec.evaluation import RowsAccount
    from movierec.tracking import Tracker

log = logging.getLogger(__name__)

RATING_MODELS = ("als", "biased-als")
"""Model kinds whose scores are predicted ratings. Every other kind (``implicit-als``, and
any later ranking model) scores preferences, which only order movies."""

RATING_METRICS = ("rmse", "mae", "mse", "n", "pairwise", "within_test_top_k")
"""Keys of an evaluation that compare scores with ratings (absent for a ranking model)."""

RANKING_ONLY_NOTE = (
    "no rating metrics (RMSE, MAE, pairwise, within-test top-k): {model} scores are "
    "preferences for ranking, not predicted ratings"
)
"""Why a ranking model's evaluation has no rating metrics (``{model}``: its kind)."""


def predicts_ratings(model_kind: str) -> bool:
    """True when ``model_kind``'s scores are predicted ratings (see :data:`RATING_MODELS`)."""
    return model_kind in RATING_MODELS


# ---------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` wrote and measured."""

    model: str
    """Where the model folder was written (a local path or a Hadoop URI, as given)."""
    engine: str
    """The engine that fitted it (``spark`` or ``local``)."""
    params: ALSParams
    ratings: int
    """Training ratings (after validation)."""
    training_fit: dict[str, Any] | None
    """RMSE/MAE/MSE/n of the model on its own training ratings (no held-out data here);
    None for a ranking model, whose scores are not ratings."""
    load: dict[str, Any]
    """The load report (rows read, rejected by reason, …)."""
    mlflow_run_id: str | None = None
    mlflow_error: str | None = None
    """Why MLflow logging failed (the model folder is written all the same), or None."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``movierec train --json``."""
        out: dict[str, Any] = {
            "model": self.model,
            "params": self.params.to_dict(),
            "training_fit": self.training_fit,
            "load": self.load,
        }
        if self.mlflow_run_id is not None:
            out["mlflow_run_id"] = self.mlflow_run_id
        return out


def train(
    cfg: RunConfig,
    out: Path | str,
    *,
    reporter: Reporter | None = None,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Fit ``cfg.als`` on all the ratings of ``cfg.data`` and write the model folder ``out``.

    An implicit model is fitted on the configured interactions (``[interactions]``). The
    folder is written atomically (replacing an earlier model folder only); with ``tracker``
    it is also logged to MLflow from the local copy before it is published. An MLflow
    failure does not cost the model: it is reported in :attr:`TrainResult.mlflow_error`.

    Raises:
        MovierecError: bad data or config, an unwritable ``out`` (checked before the work),
            or an engine failure.
    """
    from movierec.engines import get_engine
    from movierec.engines.clipping import with_clipping
    from movierec.hadoopfs import check_output, output_path
    from movierec.interactions import fit_model
    from movierec.model_io import MODEL_JSON, save_model
    from movierec.paths import remote_or_none
    from movierec.pipeline import check_source, versions

    reporter = reporter or Reporter()
    check_output(out, replace_if=MODEL_JSON, spark_cfg=cfg.spark)
    check_source(cfg.data)
    engine = get_engine(cfg.engine, cfg.spark)
    params = ALSParams.from_config(cfg.als, cfg.seed)
    run_id = mlflow_error = None
    reporter.stage("load")
    with engine.read(cfg.data, cfg.spark) as loaded:  # read where the engine works
        reporter.end_stage()
        ratings = loaded.ratings
        reporter.stage("fit")
        mode, threshold = cfg.interactions.mode, cfg.interaction_threshold
        fitted = fit_model(engine, ratings, params, mode, threshold)
        with with_clipping(fitted, ratings) as model:
            train_fit = None
            if predicts_ratings(params.model):
                # How well the model reproduces its own training ratings.
                with model.predict_table(ratings) as scored:
                    train_fit = scored.rating_errors()
            reporter.end_stage()
            with output_path(out, replace_if=MODEL_JSON, spark_cfg=cfg.spark) as local:
                save_model(
                    model,
                    local,
                    engine=engine.name,
                    train=ratings,
                    movies=loaded.catalog.movies,
                    user_ids=loaded.catalog.user_ids,
                    item_ids=loaded.catalog.item_ids,
                    metrics={"training_fit": train_fit},
                    config=json.loads(cfg.model_dump_json()),
                    versions=versions(engine),
                    rejects=loaded if loaded.rejected else None,
                )
                if tracker is not None:  # logged from the local copy, before it is published
                    meta = json.loads((local / MODEL_JSON).read_text(encoding="utf-8"))
                    run_id, mlflow_error = log_safely(
                        lambda: tracker.log_model_dir(local, meta, remote_or_none(out))
                    )
        n_ratings = ratings.count()
        report = loaded.report.to_dict()
    return TrainResult(
        model=str(out),
        engine=engine.name,
        params=params,
        ratings=n_ratings,
        training_fit=train_fit,
        load=report,
        mlflow_run_id=run_id,
        mlflow_error=mlflow_error,
    )


def log_safely(log_it: Callable[[], str]) -> tuple[str | None, str | None]:
    """Run an MLflow logging call: ``(run id, None)``, or ``(None, "Type: message")`` when
    it raised anything, so a tracking server that is down never costs the finished output."""
    try:
        return log_it(), None
    except Exception as exc:  # MLflow/HTTP/DB errors of every kind: the output comes first
        log.warning("MLflow logging failed", exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` measured."""

    metrics: dict[str, Any]
    """The keys of ``summary.json``'s ``test`` section, plus ``baselines`` when requested
    and ``test_rows`` (every test row: read, scored, not scored by reason).
    A ranking model's have no :data:`RATING_METRICS` (``rating_metrics`` says why) and
    most-popular as the only baseline."""
    test_rows: RowsAccount | None = None
    """Where every row of the test file went, with the rows not scored (``rejects``)."""

    @property
    def ranking_only(self) -> bool:
        """True for a ranking model: no rating metrics (its scores are not ratings)."""
        return "rating_metrics" in self.metrics

    @property
    def note(self) -> str | None:
        """Why the rating metrics are absent (a ranking model), else None."""
        note = self.metrics.get("rating_metrics")
        return None if note is None else str(note)


def evaluate(
    cfg: RunConfig,
    model_dir: Path | str,
    *,
    engine: str | None = None,
    baselines: bool = False,
) -> EvaluationResult:
    """Score the saved model ``model_dir`` on the ratings of ``cfg.data`` (its test set).

    Test ids are matched to the model's through their original values; movies and users
    the model never saw count as cold start. ``engine`` overrides the one that trained the
    model. ``baselines`` also scores the baselines, fitted on the model's training data.
    Every test row is accounted for (:func:`movierec.evaluation.account_rows`): read,
    scored, or not scored by reason, in ``metrics["test_rows"]`` and ``test_rows``.

    Raises:
        MovierecError: an unreadable model folder, bad test data, an engine failure.
    """
    from movierec.engines import get_engine
    from movierec.evaluation import account_rows
    from movierec.evaluation import evaluate as evaluate_model
    from movierec.hadoopfs import staged_model
    from movierec.model_io import load_model_dir

    with staged_model(model_dir, cfg.spark) as local_model:
        saved = load_model_dir(local_model)
        scorer = get_engine(engine or saved.meta["engine"], cfg.spark)
        known = saved.factors
        with (
            scorer.read(cfg.data, cfg.spark, keep_lines=True) as loaded,
            loaded.aligned(saved.user_ids, saved.item_ids, known.user_ids, known.item_ids) as test,
            scorer.load(saved.engine_path, saved.params) as model,
            scorer.read_table(saved.train_path) as train,
        ):
            metrics = evaluate_model(
                model,
                train,
                test,
                k=cfg.evaluation.k,
                threshold=cfg.evaluation.threshold,
                with_baselines=baselines,
            )
            rows = account_rows(loaded, test, train)  # every test row accounted for
    if not predicts_ratings(saved.params.model):
        metrics = ranking_only(metrics)
    metrics["test_rows"] = rows.to_dict()
    return EvaluationResult(metrics, rows)


def ranking_only(metrics: dict[str, Any]) -> dict[str, Any]:
    """A ranking model's evaluation: ``metrics`` without :data:`RATING_METRICS` (they would
    compare preference scores with ratings) and without the rating baselines, with
    ``rating_metrics`` saying why."""
    out = {key: value for key, value in metrics.items() if key not in RATING_METRICS}
    out["rating_metrics"] = RANKING_ONLY_NOTE.format(model=metrics.get("model", "this model"))
    if "baselines" in out:
        out["baselines"] = {
            name: value for name, value in out["baselines"].items() if name == "most_popular"
        }
    return out


# ---------------------------------------------------------------- recommend


@dataclass(frozen=True)
class RecommendResult:
    """What :func:`recommend` made."""

    table: pd.DataFrame | None
    """user_id, rank, movie_id, title, genres, score (original ids); None when every user's
    lists were only written (``table=False``)."""
    users: tuple[int, ...] | None
    """The dense ids of the requested users, or None for every user of the model."""
    liked: pd.DataFrame | None = None
    """The requested users' highest-rated training movies, when asked for."""
    files: list[Path] = field(default_factory=list)
    """The files written (``out``: .csv and/or .parquet)."""


def recommend(
    cfg: RunConfig,
    model_dir: Path | str,
    users: Sequence[str] | None = None,
    *,
    n: int | None = None,
    engine: str | None = None,
    out: Path | None = None,
    liked: int = 0,
    table: bool = True,
) -> RecommendResult:
    """Top-``n`` unseen movies from the saved model ``model_dir`` for ``users`` (ids as
    typed, e.g. ``["42", "7"]``) or, with None, every user of the model.

    ``n`` defaults to ``cfg.recommend.n``; ``engine`` overrides the one that trained the
    model; ``out`` (a local ``.csv``/``.parquet`` file, or both without a suffix) is written
    too (checked before the work); ``liked`` > 0 adds each requested user's that many
    highest-rated training movies. Every user's lists are made and written where the engine
    works (on Spark: part-file folders written by the executors); ``table=False`` leaves
    them there instead of collecting them into :attr:`RecommendResult.table`.

    Raises:
        ConfigError: a user id the model does not know, or an empty ``users``.
        MovierecError: an unreadable model folder, an unwritable ``out``, an engine failure.
    """
    from movierec.atomic import check_writable
    from movierec.engines import get_engine
    from movierec.hadoopfs import staged_model
    from movierec.model_io import load_model_dir
    from movierec.recommend import decorate, map_user_ids, save_recommendations, top_rated

    if users is not None and not users:
        raise ConfigError("no user ids given")
    n = n or cfg.recommend.n
    if out is not None:
        check_writable(out)
    with staged_model(model_dir, cfg.spark) as local_model:  # (a copy when remote)
        saved = load_model_dir(local_model)
        wanted = None
        if users is not None:
            wanted, unknown = map_user_ids(list(users), saved.user_ids, saved.factors.user_ids)
            if unknown:
                raise ConfigError(f"unknown user id(s) not in the model: {', '.join(unknown)}")
        scorer = get_engine(engine or saved.meta["engine"], cfg.spark)
        catalog = scorer.catalog(saved.movies, saved.user_ids, saved.item_ids)
        files: list[Path] = []
        best = None
        lists: pd.DataFrame | None = None
        with (
            scorer.load(saved.engine_path, saved.params) as model,
            scorer.read_table(saved.train_path) as seen,
        ):
            if wanted is not None:  # a few users: their lists come to this process
                recs = model.recommend(np.asarray(wanted), n, exclude=seen)
                lists = decorate(recs, saved.movies, saved.user_ids, saved.item_ids)
                files = save_recommendations(lists, out) if out is not None else []
                if liked > 0:
                    mine = seen.rows_of_users(np.asarray(wanted))
                    best = top_rated(
                        mine, wanted, liked, saved.movies, saved.user_ids, saved.item_ids
                    )
            else:  # every user: made and written by the engine
                with model.recommend_table(None, n, exclude=seen) as every:
                    if out is not None:
                        written = every.write_recommendations(out, catalog)
                        files = [out.parent / name for name in written.files]
                    if table:
                        lists = decorate(every.ratings, *_catalog_values(catalog))
    dense = None if wanted is None else tuple(int(u) for u in wanted)
    return RecommendResult(lists, dense, best, files)


def _catalog_values(catalog: Any) -> tuple[Any, Any, Any]:
    return catalog.movies, catalog.user_ids, catalog.item_ids


__all__ = [
    "EvaluationResult",
    "RecommendResult",
    "TrainResult",
    "evaluate",
    "recommend",
    "train",
]
