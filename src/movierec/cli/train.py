"""``movierec train``: fit one model on all the given ratings and save the model folder."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import (
    make_tracker,
    print_json,
    raise_if_mlflow_failed,
    reporter,
    setup_logging,
)
from movierec.cli._options import (
    INTERACTION_THRESHOLD,
    INTERACTIONS,
    als_options,
    common_options,
    data_options,
    json_option,
    make_config,
    mlflow_options,
    out_option,
)


@click.command()
@data_options
@common_options
@als_options
@INTERACTIONS
@INTERACTION_THRESHOLD
@out_option("Model folder to write (local, or hdfs://, s3a:// …).", required=True)
@mlflow_options
@json_option()
def train(
    out: Path | str,
    mlflow_uri: str | None,
    mlflow_experiment: str,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Fit ALS on all given ratings and save the model folder (factors exported too).

    Every model kind the engines fit is accepted (--model); implicit-als is fitted on the
    configured interactions (--interactions).

    \b
    Example:
      movierec train --data ratings.csv --movies movies.csv --out model/ --rank 10 --reg-param 0.1
      movierec train --dataset ml-latest-small --engine local --model implicit-als --out model/
    """
    from movierec.workflows import train as train_model

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    tracker = make_tracker(mlflow_uri, mlflow_experiment)
    result = train_model(cfg, out, reporter=reporter(quiet or as_json), tracker=tracker)
    if as_json:
        print_json(result.to_dict())
    elif not quiet:
        p = result.params
        click.echo(
            f"model written to {out}: {result.ratings:,} ratings, rank {p.rank}, "
            f"regParam {p.reg_param}, maxIter {p.max_iter}"
        )
        if tracker is not None and result.mlflow_run_id is not None:
            click.echo(f"MLflow run {result.mlflow_run_id} logged to {tracker.uri}", err=True)
    raise_if_mlflow_failed(result.mlflow_error, out)
