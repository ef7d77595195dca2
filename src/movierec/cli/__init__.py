"""The ``movierec`` command line: one verb per step of the brief, and ``run`` for all of them.

Errors the user can fix (``MovierecError``) print one line and exit with code 2; anything
unexpected logs its traceback and exits with code 3.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from movierec.atomic import check_writable
from movierec.config import RunConfig, build_config
from movierec.errors import ConfigError, MovierecError

log = logging.getLogger("movierec")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2
EXIT_BUG = 3


# ---------------------------------------------------------------- option parsing helpers


def _floats(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated numbers, got {value!r}") from exc


def _ints(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated integers, got {value!r}") from exc


def _strs(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _confs(values: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--conf takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out or None


def _columns(values: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--column takes canonical=source (e.g. user_id=uid), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out or None


class PathOrURIType(click.ParamType):
    """A local path, or a Hadoop URI (hdfs://, s3a:// …) kept intact (see movierec.hadoopfs).

    With ``local_only`` a Hadoop URI is refused with a clear message instead of becoming a
    mangled local path (``Path("hdfs://nn/x")`` is ``hdfs:/nn/x``)."""

    name = "path"

    def __init__(self, local_only: bool = False) -> None:
        self.local_only = local_only

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from movierec.hadoopfs import is_remote, path_or_uri

        if self.local_only and is_remote(value):
            self.fail(
                f"{value}: this option takes a local path (Hadoop URIs work for --data, "
                "--movies, --model of evaluate/recommend, and --out of run, train, eda, "
                "compare-splits and tune); copy it locally first",
                param,
                ctx,
            )
        try:
            return path_or_uri(value)
        except MovierecError as exc:
            self.fail(str(exc), param, ctx)


PATH_OR_URI = PathOrURIType()
LOCAL_PATH = PathOrURIType(local_only=True)


def _mlflow_safely(log_it: Callable[[], str], failed: list[str]) -> str | None:
    """Run an MLflow logging call; on any error record it in ``failed`` and return None, so
    a tracking server that is down never costs the finished output (see
    :func:`_raise_if_mlflow_failed`)."""
    try:
        return log_it()
    except Exception as exc:  # MLflow/HTTP/DB errors of every kind: the output comes first
        log.warning("MLflow logging failed", exc_info=True)
        failed.append(f"{type(exc).__name__}: {exc}")
        return None


def _raise_if_mlflow_failed(failed: list[str], out: Path | str) -> None:
    if failed:
        raise MovierecError(
            f"the output was written to {out}, but MLflow logging failed: {failed[0]}"
        )


def _remote(path: Path | str) -> str | None:
    """``path`` when it is a Hadoop URI, else None."""
    from movierec.hadoopfs import is_remote

    return str(path) if is_remote(path) else None


def data_options(f: F) -> F:
    """--data/--dataset/--movies/--format/--sep/--header/--column/--duplicates/--rating-min/max."""
    options = [
        click.option(
            "--data",
            "data_path",
            type=PATH_OR_URI,
            help="Ratings file or MovieLens folder (local, or hdfs://, s3a:// … via Spark).",
        ),
        click.option(
            "--dataset", help="A GroupLens release by name (see `movierec datasets list`)."
        ),
        click.option("--movies", type=PATH_OR_URI, help="Movies file with titles and genres."),
        click.option(
            "--format",
            "data_format",
            type=click.Choice(["auto", "ml-100k", "ml-dat", "ml-csv", "delimited", "parquet"]),
            help="Input layout (default: auto-detect).",
        ),
        click.option(
            "--sep", help=r"Field separator of delimited text: '\t', ',', '::' or 'whitespace'."
        ),
        click.option(
            "--header/--no-header", default=None, help="Whether delimited text has a header row."
        ),
        click.option(
            "--column",
            "columns",
            multiple=True,
            help="Column mapping canonical=source, e.g. user_id=uid.",
        ),
        click.option(
            "--duplicates",
            type=click.Choice(["latest", "first", "last", "mean", "error"]),
            help="Policy for repeated (user, movie) pairs (default: latest).",
        ),
        click.option(
            "--rating-min", type=float, help="Lowest valid rating (default: the layout's scale)."
        ),
        click.option("--rating-max", type=float, help="Highest valid rating (default 5.0)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def common_options(f: F) -> F:
    """--config/--seed/--master/--remote/--conf/--driver-memory/--verbose/--quiet."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=LOCAL_PATH,
            help="TOML config file; flags override it.",
        ),
        click.option("--seed", type=int, help="Seed of every random step (default 42)."),
        click.option(
            "--engine",
            type=click.Choice(["spark", "local"]),
            help="spark (default; local mode or a cluster) or local (in-process, no JVM).",
        ),
        click.option("--master", help="Spark master URL (default local[*])."),
        click.option("--remote", help="Spark Connect endpoint, e.g. sc://host:15002."),
        click.option(
            "--conf", "confs", multiple=True, help="Extra Spark setting key=value (repeatable)."
        ),
        click.option("--driver-memory", help="Spark driver memory, e.g. 4g."),
        click.option("-v", "--verbose", count=True, help="More log output (-vv for debug)."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def mlflow_options(f: F) -> F:
    """--mlflow URI and --mlflow-experiment NAME (optional extra movierec[mlflow])."""
    f = click.option(
        "--mlflow-experiment",
        default="movierec",
        show_default=True,
        help="MLflow experiment (created when missing).",
    )(f)
    f = click.option(
        "--mlflow",
        "mlflow_uri",
        metavar="URI",
        help="Log params, metrics, plots, report and model to MLflow, e.g. "
        "sqlite:///mlruns/mlflow.db (needs pip install 'movierec[mlflow]').",
    )(f)
    return f


def _tracker(kw: dict[str, Any]) -> Any:
    """A connected tracking.Tracker when --mlflow was given (checked before the work), else None."""
    if not kw.get("mlflow_uri"):
        return None
    from movierec.tracking import Tracker

    return Tracker(kw["mlflow_uri"], kw.get("mlflow_experiment") or "movierec")


def verbosity_options(f: F) -> F:
    """-v/--verbose and -q/--quiet alone, for verbs without the engine options."""
    f = click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")(f)
    f = click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")(f)
    return f


def eval_options(f: F) -> F:
    f = click.option(
        "--threshold", type=float, help="Rating >= threshold is relevant (default 3.0)."
    )(f)
    f = click.option("--k", type=int, help="List length of the top-k metrics (default 10).")(f)
    return f


def als_options(f: F) -> F:
    f = click.option(
        "--rating-scale",
        help="LO,HI that predicted ratings are clipped to (default: the training data's range).",
    )(f)
    f = click.option(
        "--clip/--no-clip",
        "clip_predictions",
        default=None,
        help="Clip predicted ratings to the rating scale where they are scored (default on).",
    )(f)
    f = click.option("--bias-reg", type=float, help="Bias damping of biased-als (default 5).")(f)
    f = click.option(
        "--model",
        "model_kind",
        type=click.Choice(["als", "biased-als"]),
        help="als (Spark MLlib ALS) or biased-als (mean + biases + ALS on residuals).",
    )(f)
    f = click.option("--max-iter", type=int, help="ALS iterations (default 15; biased-als: 25).")(f)
    f = click.option(
        "--reg-param", type=float, help="ALS regularisation (default 0.1; biased-als: 0.15)."
    )(f)
    f = click.option(
        "--rank", type=int, help="Number of latent factors (default 10; biased-als: 40)."
    )(f)
    return f


def split_options(f: F) -> F:
    """--split/--test-fraction/--time-cut/--leave-last: how the final test set is held out."""
    f = click.option(
        "--leave-last", type=int, help="leave-last: each user's K most recent ratings (default 1)."
    )(f)
    f = click.option(
        "--time-cut", help="time: epoch seconds, an ISO date or a quantile such as 0.8."
    )(f)
    f = click.option("--test-fraction", type=float, help="Hold-out share (default 0.2).")(f)
    f = click.option(
        "--split",
        "split_method",
        type=click.Choice(["random", "per-user", "time", "leave-last"]),
        help="How the test set is held out (default random).",
    )(f)
    return f


def grid_options(f: F) -> F:
    f = click.option("--parallelism", type=int, help="Fits run at once during tuning (default 2).")(
        f
    )
    f = click.option("--folds", type=int, help="Cross-validation folds (default 3).")(f)
    f = click.option("--max-iters", help="Grid of maxIter values, e.g. 10,15.")(f)
    f = click.option("--reg-params", help="Grid of regParam values, e.g. 0.05,0.1,0.15.")(f)
    f = click.option("--ranks", help="Grid of ranks, e.g. 8,10,12.")(f)
    f = click.option("--models", help="Model kinds to tune (default als,biased-als).")(f)
    return search_options(f)


def search_options(f: F) -> F:
    """Search method, objective, pruning and the ranges of random/optuna search."""
    f = click.option("--alpha-range", help="LO,HI of implicit-als alpha (default 0.1,20).")(f)
    f = click.option("--bias-reg-range", help="LO,HI of biased-als biasReg (default 1,30).")(f)
    f = click.option("--reg-range", help="LO,HI of regParam, log-uniform (default 0.01,1).")(f)
    f = click.option("--rank-range", help="LO,HI of the rank for random/optuna (default 4,64).")(f)
    f = click.option(
        "--prune-margin",
        type=float,
        help="Relative margin of pruning (default 0.02 for rmse, 0.10 for ranking metrics).",
    )(f)
    f = click.option(
        "--prune/--no-prune",
        default=None,
        help="Stop hopeless configurations after a fold (default on).",
    )(f)
    f = click.option(
        "--objective",
        help="rmse (default), ndcg@K or recall@K (catalogue top-K on each validation fold).",
    )(f)
    f = click.option(
        "--trials", type=int, help="Configurations tried by random/optuna (default 20)."
    )(f)
    f = click.option(
        "--search",
        type=click.Choice(["grid", "random", "optuna"]),
        help="grid (default), seeded random samples, or Optuna TPE (pip install 'movierec[tune]').",
    )(f)
    f = click.option(
        "--interaction-threshold",
        type=float,
        help="Cut-off of --interactions threshold (default: the evaluation threshold).",
    )(f)
    f = click.option(
        "--interactions",
        type=click.Choice(["rating", "all", "threshold"]),
        help="What implicit-als is fitted on: the raw rating (default), every rating as 1, "
        "or only ratings >= --interaction-threshold.",
    )(f)
    return f


def make_config(kw: dict[str, Any]) -> RunConfig:
    """Map CLI keyword arguments onto a validated RunConfig (flags override the TOML file)."""
    overrides: dict[str, Any] = {
        "seed": kw.get("seed"),
        "engine": kw.get("engine"),
        "data": {
            "path": kw.get("data_path"),
            "dataset": kw.get("dataset"),
            "movies": kw.get("movies"),
            "format": kw.get("data_format"),
            "sep": kw.get("sep"),
            "header": kw.get("header"),
            "columns": _columns(kw.get("columns") or ()),
            "duplicates": kw.get("duplicates"),
            "rating_min": kw.get("rating_min"),
            "rating_max": kw.get("rating_max"),
        },
        "spark": {
            "master": kw.get("master"),
            "remote": kw.get("remote"),
            "conf": _confs(kw.get("confs") or ()),
            "driver_memory": kw.get("driver_memory"),
        },
        "als": {
            "model": kw.get("model_kind"),
            "rank": kw.get("rank"),
            "reg_param": kw.get("reg_param"),
            "max_iter": kw.get("max_iter"),
            "bias_reg": kw.get("bias_reg"),
            "clip_predictions": kw.get("clip_predictions"),
            "rating_scale": _floats(kw.get("rating_scale")),
        },
        "split": {
            "method": kw.get("split_method"),
            "time_cut": kw.get("time_cut"),
            "leave_last": kw.get("leave_last"),
            "test_fraction": kw.get("test_fraction"),
            "train_fractions": _floats(kw.get("train_fractions")),
        },
        "tuning": {
            "models": _strs(kw.get("models")),
            "ranks": _ints(kw.get("ranks")),
            "reg_params": _floats(kw.get("reg_params")),
            "max_iters": _ints(kw.get("max_iters")),
            "folds": kw.get("folds"),
            "parallelism": kw.get("parallelism"),
            "search": kw.get("search"),
            "trials": kw.get("trials"),
            "objective": kw.get("objective"),
            "prune": kw.get("prune"),
            "prune_margin": kw.get("prune_margin"),
            "rank_range": _ints(kw.get("rank_range")),
            "reg_range": _floats(kw.get("reg_range")),
            "bias_reg_range": _floats(kw.get("bias_reg_range")),
            "alpha_range": _floats(kw.get("alpha_range")),
        },
        "interactions": {
            "mode": kw.get("interactions"),
            "threshold": kw.get("interaction_threshold"),
        },
        "evaluation": {"k": kw.get("k"), "threshold": kw.get("threshold")},
        "recommend": {"n": kw.get("n"), "recommender": kw.get("recommender")},
    }
    cfg = build_config(kw.get("config_file"), overrides)
    return cfg


def _require_data(cfg: RunConfig) -> None:
    if cfg.data.path is None and cfg.data.dataset is None:
        raise ConfigError("no input: give --data PATH or --dataset NAME (or set them in --config)")


# ---------------------------------------------------------------- logging and progress


def setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    logging.getLogger("py4j").setLevel(max(level, logging.WARNING))


def _reporter(quiet: bool) -> Any:
    from movierec.console import make_reporter

    return make_reporter(quiet)


def handle_errors(f: F) -> F:
    """MovierecError -> one line and exit 2; anything unexpected -> logged traceback and exit 3."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except MovierecError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if _is_spark_failure(exc):
                # The engine failed (lost executors, out of memory, a cluster gone): report it
                # as an engine error in one line; the JVM traceback is logged at debug level.
                log.debug("Spark failure", exc_info=True)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                click.echo(f"error: Spark failed: {first[:300]}", err=True)
                sys.exit(EXIT_USER_ERROR)
            log.exception("unexpected error")
            click.echo(
                f"internal error ({type(exc).__name__}: {exc}); the traceback is above", err=True
            )
            sys.exit(EXIT_BUG)

    return wrapper  # type: ignore[return-value]


def _is_spark_failure(exc: BaseException) -> bool:
    """True for exceptions raised by pyspark or py4j (the JVM side of Spark)."""
    return any(
        (cls.__module__ or "").startswith(("pyspark", "py4j")) for cls in type(exc).__mro__[:-1]
    )


def _print_json(obj: Any) -> None:
    from movierec.pipeline import _json_default

    click.echo(json.dumps(obj, indent=2, default=_json_default))


# ---------------------------------------------------------------- verbs


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="movierec")
def cli() -> None:
    """Movie recommendations with Spark MLlib ALS.

    \b
    Example (the whole brief on a MovieLens release):
      movierec run --dataset ml-latest-small --out results/
    """


@cli.command()
@data_options
@common_options
@click.option(
    "--out",
    type=PATH_OR_URI,
    required=True,
    help="Output folder for eda.json and plots (local, or hdfs://, s3a:// …).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def eda(out: Path, as_json: bool, **kw: Any) -> None:
    """Explore a ratings table: counts, sparsity, rating distribution, long tails (plots).

    \b
    Example:
      movierec eda --data ratings.csv --out eda/
    """
    from movierec.data import load_ratings, save_rejects
    from movierec.engines import get_engine
    from movierec.hadoopfs import atomic_output
    from movierec.pipeline import _write_json, data_section, explore

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    with atomic_output(out, replace_if="eda.json", spark_cfg=cfg.spark) as tmp:
        loaded = load_ratings(cfg.data, cfg.spark)
        if len(loaded.rejects):
            save_rejects(loaded.rejects, tmp / "rejects.csv")
        engine = get_engine(cfg.engine, cfg.spark)
        section = data_section(loaded, explore(engine, loaded, tmp / "plots"))
        _write_json(tmp / "eda.json", section)
    if as_json:
        _print_json(section)
    else:
        from movierec.console import print_eda

        print_eda(section, out)


@cli.command("compare-splits")
@data_options
@common_options
@als_options
@click.option("--train-fractions", help="Train shares to compare (default 0.6,0.7,0.75,0.8).")
@click.option("--out", type=PATH_OR_URI, help="Folder for split_comparison.json and its plot.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def compare_splits_cmd(out: Path | None, as_json: bool, **kw: Any) -> None:
    """Fit ALS on several train/test splits and compare their test RMSE.

    \b
    Example:
      movierec compare-splits --data ratings.csv --train-fractions 0.6,0.7,0.75,0.8
    """
    from movierec.data import load_ratings
    from movierec.engines import ALSParams, get_engine
    from movierec.hadoopfs import atomic_output, check_output
    from movierec.pipeline import _write_json, compare_splits
    from movierec.plots import plot_split_comparison

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    if out is not None:
        check_output(out, replace_if="split_comparison.json", spark_cfg=cfg.spark)
    reporter = _reporter(kw["quiet"] or as_json)
    loaded = load_ratings(cfg.data, cfg.spark)
    engine = get_engine(cfg.engine, cfg.spark)
    reporter.stage("split_comparison", len(cfg.split.train_fractions))
    rows = compare_splits(
        engine,
        loaded.ratings,
        ALSParams.from_config(cfg.als, cfg.seed),
        cfg.split.train_fractions,
        cfg.seed,
        reporter,
    )
    reporter.end_stage()
    if out is not None:
        with atomic_output(out, replace_if="split_comparison.json", spark_cfg=cfg.spark) as tmp:
            _write_json(tmp / "split_comparison.json", rows)
            plot_split_comparison(rows, tmp / "split_comparison.png")
    if as_json:
        _print_json(rows)
    else:
        from movierec.console import print_split_comparison

        print_split_comparison(rows)


@cli.command()
@data_options
@common_options
@als_options
@grid_options
@split_options
@click.option(
    "--threshold", type=float, help="Relevance cut-off of ranking objectives (default 3.0)."
)
@click.option("--out", type=PATH_OR_URI, help="Folder for tuning.json and plots.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def tune(out: Path | None, as_json: bool, **kw: Any) -> None:
    """Cross-validated search over rank, regParam, maxIter (and biasReg, alpha) on the
    non-test part: a grid, seeded random samples or Optuna; objective RMSE, NDCG@K or recall@K.

    \b
    Examples:
      movierec tune --data ratings.csv --ranks 8,10,12 --reg-params 0.05,0.1,0.15 \\
                    --max-iters 10,15 --folds 3 --out tuning/
      movierec tune --dataset ml-latest-small --engine local --search optuna --trials 30 \\
                    --models implicit-als --objective ndcg@10 --out tuning/
    """
    from movierec.data import load_ratings
    from movierec.engines import ALSParams, get_engine
    from movierec.hadoopfs import atomic_output, check_output
    from movierec.pipeline import _write_json, holdout, implicit_params, interaction_spec
    from movierec.plots import plot_tuning_results
    from movierec.tuning import tune as run_tuning

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    if out is not None:
        check_output(out, replace_if="tuning.json", spark_cfg=cfg.spark)
    reporter = _reporter(kw["quiet"] or as_json)
    loaded = load_ratings(cfg.data, cfg.spark)
    engine = get_engine(cfg.engine, cfg.spark)
    dev, _ = holdout(loaded.ratings, cfg)
    t = cfg.tuning
    reporter.stage("tuning", t.planned_fits())
    base = ALSParams.from_config(cfg.als, cfg.seed)
    result = run_tuning(
        engine,
        dev,
        t,
        base,
        cfg.seed,
        reporter.advance,
        threshold=cfg.evaluation.threshold,
        interactions=interaction_spec(cfg),
        start=[base, implicit_params(cfg)],  # as in `run`: random/optuna try the defaults first
    )
    reporter.end_stage()
    if out is not None:
        with atomic_output(out, replace_if="tuning.json", spark_cfg=cfg.spark) as tmp:
            _write_json(tmp / "tuning.json", result.to_dict())
            plot_tuning_results(result.to_dict(), tmp)
    if as_json:
        _print_json(result.to_dict())
    else:
        from movierec.console import print_tuning

        print_tuning(result.to_dict())


@cli.command()
@data_options
@common_options
@als_options
@click.option(
    "--out",
    type=PATH_OR_URI,
    required=True,
    help="Model folder to write (local, or hdfs://, s3a:// …).",
)
@mlflow_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def train(out: Path | str, as_json: bool, **kw: Any) -> None:
    """Fit ALS on all given ratings and save the model folder (factors exported too).

    \b
    Example:
      movierec train --data ratings.csv --movies movies.csv --out model/ --rank 10 --reg-param 0.1
    """
    from movierec.data import load_ratings
    from movierec.engines import ALSParams, get_engine
    from movierec.engines.base import fit_clipped
    from movierec.hadoopfs import check_output, output_path
    from movierec.metrics import rating_errors
    from movierec.model_io import MODEL_JSON, save_model
    from movierec.pipeline import versions
    from movierec.schema import RATING

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    check_output(out, replace_if=MODEL_JSON, spark_cfg=cfg.spark)
    tracker = _tracker(kw)
    mlflow_failed: list[str] = []
    reporter = _reporter(kw["quiet"] or as_json)
    reporter.stage("load")
    loaded = load_ratings(cfg.data, cfg.spark)
    reporter.end_stage()
    engine = get_engine(cfg.engine, cfg.spark)
    params = ALSParams.from_config(cfg.als, cfg.seed)
    reporter.stage("fit")
    handle = engine.data(loaded.ratings)
    try:
        model = fit_clipped(engine, handle, params)
        try:
            fitted = model.predict(loaded.ratings)
            reporter.end_stage()
            # How well the model reproduces its own training ratings (no held-out data here).
            train_fit = rating_errors(loaded.ratings[RATING].to_numpy(), fitted)
            info = {
                "model": str(out),
                "params": params.to_dict(),
                "training_fit": train_fit,
                "load": loaded.report.to_dict(),
            }
            with output_path(out, replace_if=MODEL_JSON, spark_cfg=cfg.spark) as local:
                save_model(
                    model,
                    local,
                    engine=engine.name,
                    train=loaded.ratings,
                    movies=loaded.movies,
                    user_ids=loaded.user_ids,
                    item_ids=loaded.item_ids,
                    metrics={"training_fit": train_fit},
                    config=json.loads(cfg.model_dump_json()),
                    versions=versions(engine),
                    rejects=loaded.rejects if len(loaded.rejects) else None,
                )
                if tracker is not None:  # logged from the local copy, before it is published
                    meta = json.loads((local / MODEL_JSON).read_text(encoding="utf-8"))
                    run_id = _mlflow_safely(
                        lambda: tracker.log_model_dir(local, meta, _remote(out)), mlflow_failed
                    )
                    if run_id is not None:
                        info["mlflow_run_id"] = run_id
        finally:
            model.release()
    finally:
        handle.release()
    if as_json:
        _print_json(info)
    else:
        click.echo(
            f"model written to {out}: {len(loaded.ratings):,} ratings, rank {params.rank}, "
            f"regParam {params.reg_param}, maxIter {params.max_iter}"
        )
        if tracker is not None and "mlflow_run_id" in info and not kw["quiet"]:
            click.echo(f"MLflow run {info['mlflow_run_id']} logged to {tracker.uri}", err=True)
    _raise_if_mlflow_failed(mlflow_failed, out)


@cli.command()
@data_options
@common_options
@eval_options
@click.option(
    "--model",
    "model_dir",
    type=PATH_OR_URI,
    required=True,
    help="Model folder (local, or hdfs://, s3a:// …).",
)
@click.option(
    "--baselines", is_flag=True, help="Also score the baselines (trained on the model's data)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the metrics as JSON (the keys of summary.json's test).",
)
@handle_errors
def evaluate(model_dir: Path | str, baselines: bool, as_json: bool, **kw: Any) -> None:
    """Evaluate a saved model on a test ratings file (movies the model was trained on are excluded).

    \b
    Example:
      movierec evaluate --model model/ --data test.csv --json
    """
    from movierec.data import load_ratings
    from movierec.engines import get_engine
    from movierec.evaluation import evaluate as run_evaluate
    from movierec.hadoopfs import staged_model
    from movierec.model_io import align_test_ids, load_model_dir

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    with staged_model(model_dir, cfg.spark) as local_model:
        saved = load_model_dir(local_model)
        loaded = load_ratings(cfg.data, cfg.spark)
        test = align_test_ids(loaded, saved)
        engine = get_engine(kw.get("engine") or saved.meta["engine"], cfg.spark)
        model = engine.load(saved.engine_path, saved.params)
        handle = engine.data(saved.train)
        try:
            result = run_evaluate(
                model,
                handle,
                test,
                k=cfg.evaluation.k,
                threshold=cfg.evaluation.threshold,
                with_baselines=baselines,
            )
        finally:
            handle.release()
    if as_json:
        _print_json(result)
    else:
        from movierec.console import print_metrics

        print_metrics(result)


@cli.command()
@common_options
@click.option(
    "--model",
    "model_dir",
    type=PATH_OR_URI,
    required=True,
    help="Model folder (local, or hdfs://, s3a:// …).",
)
@click.option("--user", "users", multiple=True, help="User id (repeatable, or comma-separated).")
@click.option("--all", "all_users", is_flag=True, help="Every user in the model.")
@click.option("--n", type=int, default=None, help="Recommendations per user (default 10).")
@click.option(
    "--out",
    type=LOCAL_PATH,
    help="Write to FILE (.csv or .parquet; no suffix = both).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def recommend(
    model_dir: Path | str,
    users: tuple[str, ...],
    all_users: bool,
    out: Path | None,
    as_json: bool,
    **kw: Any,
) -> None:
    """Top-N unseen movies for some users or all of them, with titles when the model has them.

    \b
    Examples:
      movierec recommend --model model/ --user 42 --user 7 --n 10
      movierec recommend --model model/ --user 42,7,19
      movierec recommend --model model/ --all --out recs.parquet
    """
    import numpy as np

    from movierec.engines import get_engine
    from movierec.hadoopfs import staged_model
    from movierec.model_io import load_model_dir
    from movierec.recommend import decorate, map_user_ids, save_recommendations

    setup_logging(kw["verbose"], kw["quiet"])
    if bool(users) == all_users:
        raise ConfigError("give either --user ID (repeatable) or --all")
    cfg = make_config(kw)
    n = kw.get("n") or cfg.recommend.n
    if out is not None:
        check_writable(out)
    with staged_model(model_dir, cfg.spark) as local_model:  # (a copy when remote)
        saved = load_model_dir(local_model)
        wanted = None
        requested = [u.strip() for item in users for u in item.split(",") if u.strip()]
        if users:
            wanted, unknown = map_user_ids(requested, saved.user_ids, saved.factors.user_ids)
            if unknown:
                raise ConfigError(f"unknown user id(s) not in the model: {', '.join(unknown)}")
        engine = get_engine(kw.get("engine") or saved.meta["engine"], cfg.spark)
        model = engine.load(saved.engine_path, saved.params)
        handle = engine.data(saved.train)
        try:
            recs = model.recommend(
                None if wanted is None else np.asarray(wanted), n, exclude=handle
            )
        finally:
            handle.release()
        table = decorate(recs, saved.movies, saved.user_ids, saved.item_ids)
        if out is not None:
            for path in save_recommendations(table, out):
                if not kw["quiet"]:
                    click.echo(f"wrote {path}", err=True)
        if as_json:
            _print_json(table.to_dict(orient="records"))
        elif out is None or users:
            from movierec.console import print_recommendations
            from movierec.recommend import top_rated

            liked = None
            if wanted is not None:
                liked = top_rated(
                    saved.train, wanted, 5, saved.movies, saved.user_ids, saved.item_ids
                )
            print_recommendations(table, liked=liked)


@cli.command()
@data_options
@common_options
@als_options
@grid_options
@eval_options
@click.option("--train-fractions", help="Train shares to compare (default 0.6,0.7,0.75,0.8).")
@split_options
@click.option("--n", type=int, help="Recommendations per user (default 10).")
@click.option(
    "--recommender",
    type=click.Choice(["auto", "rating-model", "implicit-als", "most-popular"]),
    help="Model that makes the lists (default auto: best validation NDCG@k).",
)
@click.option(
    "--out",
    type=PATH_OR_URI,
    required=True,
    help="Output folder, written atomically (local, or hdfs://, s3a:// … via Spark).",
)
@mlflow_options
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout.")
@handle_errors
def run(out: Path | str, as_json: bool, **kw: Any) -> None:
    """Run the whole brief: EDA, split comparison, tuning, evaluation, recommendations, model.

    \b
    Example:
      movierec run --dataset ml-latest-small --out results/
    """
    from movierec.pipeline import run as run_pipeline

    setup_logging(kw["verbose"], kw["quiet"])
    cfg = make_config(kw)
    _require_data(cfg)
    tracker = _tracker(kw)
    logged: list[str] = []
    mlflow_failed: list[str] = []

    def log_to_mlflow(local: Path, summary: dict[str, Any]) -> None:
        if tracker is not None:  # from the finished local folder, before it is published
            run_id = _mlflow_safely(
                lambda: tracker.log_pipeline_run(local, summary, output=_remote(out)),
                mlflow_failed,
            )
            if run_id is not None:
                logged.append(run_id)

    summary = run_pipeline(cfg, out, _reporter(kw["quiet"] or as_json), after=log_to_mlflow)
    if tracker is not None and logged and not kw["quiet"]:
        click.echo(f"MLflow run {logged[0]} logged to {tracker.uri}", err=True)
    if as_json:
        _print_json(summary)
    else:
        from movierec.console import print_run_summary

        print_run_summary(summary, out)
    _raise_if_mlflow_failed(mlflow_failed, out)


@cli.command()
@click.argument("run_dir", type=LOCAL_PATH)
@verbosity_options
@handle_errors
def report(run_dir: Path, verbose: int, quiet: bool) -> None:
    """Rebuild RUN_DIR/report.html: one self-contained page with every table and plot of a run.

    \b
    Example:
      movierec report results/
    """
    from movierec.report import build_report

    setup_logging(verbose, quiet)
    click.echo(str(build_report(run_dir)))


@cli.group()
def datasets() -> None:
    """List or download the GroupLens MovieLens releases."""


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@verbosity_options
@handle_errors
def datasets_list(as_json: bool, verbose: int, quiet: bool) -> None:
    """List the known datasets and whether each is in the cache.

    \b
    Example:
      movierec datasets list
    """
    from movierec.data.datasets import list_datasets

    setup_logging(verbose, quiet)
    rows = list_datasets()
    if as_json:
        _print_json(rows)
    else:
        from movierec.console import print_datasets

        print_datasets(rows)


@datasets.command("fetch")
@click.argument("name")
@click.option(
    "--cache-dir",
    type=LOCAL_PATH,
    help="Cache folder (default $MOVIEREC_DATA_DIR or ~/.cache/movierec).",
)
@verbosity_options
@handle_errors
def datasets_fetch(name: str, cache_dir: Path | None, verbose: int, quiet: bool) -> None:
    """Download and unpack a dataset into the cache (verified by size and MD5 where published).

    \b
    Example:
      movierec datasets fetch ml-100k
    """
    from movierec.console import download_progress
    from movierec.data.datasets import fetch_dataset

    setup_logging(verbose, quiet)
    with download_progress(quiet) as progress:
        path = fetch_dataset(name, cache_dir=cache_dir, progress=progress)
    click.echo(str(path))


@datasets.command("synth")
@click.option("--ratings", "n_ratings", required=True, help="How many ratings, e.g. 1M, 25M, 100k.")
@click.option("--users", "n_users", type=int, help="Users (default: scaled like MovieLens).")
@click.option("--movies", "n_items", type=int, help="Movies (default: scaled like MovieLens).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", type=LOCAL_PATH, required=True, help="Parquet file to write.")
@verbosity_options
@handle_errors
def datasets_synth(
    n_ratings: str,
    n_users: int | None,
    n_items: int | None,
    seed: int,
    out: Path,
    verbose: int,
    quiet: bool,
) -> None:
    """Generate a seeded MovieLens-like ratings table (power-law activity and popularity,
    ratings from latent factors plus noise) as Parquet, for benchmarks and scale tests.

    \b
    Example:
      movierec datasets synth --ratings 25M --out /tmp/synth-25m.parquet
    """
    from movierec.data.synth import parse_count, save_synthetic, synthesize

    setup_logging(verbose, quiet)
    check_writable(out)
    frame = synthesize(parse_count(n_ratings), n_users=n_users, n_items=n_items, seed=seed)
    save_synthetic(frame, out)
    click.echo(
        f"wrote {out}: {len(frame):,} ratings, {frame['user_id'].nunique():,} users, "
        f"{frame['movie_id'].nunique():,} movies"
    )


@cli.command()
@click.option("--model", "model_dir", type=LOCAL_PATH, required=True, help="Model folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="TCP port.")
@click.option(
    "--model-root",
    type=LOCAL_PATH,
    default=None,
    help="Folder that POST /admin/reload may load models from (default: the model's parent).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port (SO_REUSEPORT); SIGHUP to the parent or "
    "POST /admin/reload reloads every one; /metrics is per worker.",
)
@click.option(
    "--insecure-no-key",
    is_flag=True,
    help="Serve a non-loopback --host without $MOVIEREC_API_KEY (refused otherwise): the "
    "admin routes are then open to anyone who can reach the port.",
)
@click.option("-v", "--verbose", count=True, help="Debug log output (the default is info).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (no startup or access lines).")
@handle_errors
def serve(
    model_dir: Path,
    host: str,
    port: int,
    model_root: Path | None,
    workers: int,
    insecure_no_key: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Serve recommendations over HTTP (FastAPI + uvicorn): known users, new users by
    fold-in, similar movies, explanations, metrics, hot reload (POST /admin/reload or
    SIGHUP). Admin routes need $MOVIEREC_API_KEY when it is set; a --host other than
    loopback needs it (or --insecure-no-key). API docs at /docs.

    \b
    Example:
      movierec serve --model demo-out/model --port 8000
      curl 'http://127.0.0.1:8000/users/42/recommendations?k=5'
    """
    from movierec.service.server import serve as run_server

    level = 0 if quiet else (1 if verbose < 1 else 2)  # the service logs at info by default
    setup_logging(level, quiet)
    log_level = "error" if quiet else ("debug" if verbose else "info")
    status = run_server(
        model_dir,
        host=host,
        port=port,
        model_root=model_root,
        log_level=log_level,
        workers=workers,
        insecure_no_key=insecure_no_key,
    )
    if status:
        raise SystemExit(status)


# Verbs in their own modules register themselves on `cli` when imported.
from movierec.cli import protocol as _protocol  # noqa: E402, F401
from movierec.cli import similar as _similar  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="movierec")


if __name__ == "__main__":  # pragma: no cover
    main()
