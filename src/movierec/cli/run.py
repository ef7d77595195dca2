"""``movierec run``: the whole brief into one output folder (:func:`movierec.pipeline.run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from movierec.cli._app import (
    make_tracker,
    print_json,
    raise_if_mlflow_failed,
    reporter,
    setup_logging,
)
from movierec.cli._options import (
    RECOMMENDER,
    TRAIN_FRACTIONS,
    N,
    als_options,
    common_options,
    data_options,
    eval_options,
    grid_options,
    json_option,
    make_config,
    mlflow_options,
    out_option,
    split_options,
)


@click.command()
@data_options
@common_options
@als_options
@grid_options
@eval_options
@TRAIN_FRACTIONS
@split_options
@N
@RECOMMENDER
@out_option(
    "Output folder, written atomically (local, or hdfs://, s3a:// … via Spark).", required=True
)
@mlflow_options
@json_option("Print summary.json to stdout.")
def run(
    out: Path | str,
    mlflow_uri: str | None,
    mlflow_experiment: str,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Run the whole brief: EDA, split comparison, tuning, evaluation, recommendations, model.

    \b
    Example:
      movierec run --dataset ml-latest-small --out results/
    """
    from movierec.paths import remote_or_none
    from movierec.pipeline import run as run_pipeline
    from movierec.workflows import log_safely

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    tracker = make_tracker(mlflow_uri, mlflow_experiment)
    run_ids: list[str] = []
    errors: list[str] = []

    def log_to_mlflow(local: Path, summary: dict[str, Any]) -> None:
        if tracker is not None:  # from the finished local folder, before it is published
            run_id, error = log_safely(
                lambda: tracker.log_pipeline_run(local, summary, output=remote_or_none(out))
            )
            run_ids.extend([run_id] if run_id is not None else [])
            errors.extend([error] if error is not None else [])

    summary = run_pipeline(cfg, out, reporter(quiet or as_json), after=log_to_mlflow)
    if tracker is not None and run_ids and not quiet:
        click.echo(f"MLflow run {run_ids[0]} logged to {tracker.uri}", err=True)
    if as_json:
        print_json(summary)
    else:
        from movierec.console import print_run_summary

        print_run_summary(summary, out)
    raise_if_mlflow_failed(errors[0] if errors else None, out)
