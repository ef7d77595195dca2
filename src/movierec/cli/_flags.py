"""The verbs' options that set no configuration value: ``-v/-q``, ``--json``, ``--out``,
``--model DIR`` and ``--mlflow``, made by one factory each so every verb spells them the same
way (the configuration settings are in :mod:`movierec.cli._options`)."""

from __future__ import annotations

import click

from movierec.cli._config import Decorator, Fn, apply_options, options
from movierec.cli._types import LOCAL_PATH, PATH_OR_URI


def verbosity(
    verbose_help: str = "More log output (-vv for debug).",
    quiet_help: str = "Only errors; no progress bars.",
) -> Decorator:
    """``-v/--verbose`` (a count: ``verbose``) and ``-q/--quiet`` (a flag: ``quiet``)."""
    return options(
        click.option("-v", "--verbose", count=True, help=verbose_help),
        click.option("-q", "--quiet", is_flag=True, help=quiet_help),
    )


def json_option(help: str = "Print machine-readable JSON.") -> Decorator:
    """``--json`` (a flag: ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def out_option(help: str, *, required: bool = False, local: bool = False) -> Decorator:
    """``--out`` (``out``): a local path or Hadoop URI, or a local path only with ``local``."""
    return click.option(
        "--out", type=LOCAL_PATH if local else PATH_OR_URI, required=required, help=help
    )


def model_dir_option(
    help: str = "Model folder (local, or hdfs://, s3a:// …).", *, local: bool = False
) -> Decorator:
    """``--model`` as a saved model folder (``model_dir``), required."""
    return click.option(
        "--model",
        "model_dir",
        type=LOCAL_PATH if local else PATH_OR_URI,
        required=True,
        help=help,
    )


def mlflow_options(f: Fn) -> Fn:
    """``--mlflow URI`` (``mlflow_uri``) and ``--mlflow-experiment NAME`` (``mlflow_experiment``)
    of the optional extra movierec[mlflow]."""
    return apply_options(
        f,
        [
            click.option(
                "--mlflow",
                "mlflow_uri",
                metavar="URI",
                help="Log params, metrics, plots, report and model to MLflow, e.g. "
                "sqlite:///mlruns/mlflow.db (needs pip install 'movierec[mlflow]').",
            ),
            click.option(
                "--mlflow-experiment",
                default="movierec",
                show_default=True,
                help="MLflow experiment (created when missing).",
            ),
        ],
    )
