"""``movierec evaluate``: score a saved model on a test ratings table."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, setup_logging
from movierec.cli._options import (
    common_options,
    data_options,
    eval_options,
    given,
    json_option,
    make_config,
    model_dir_option,
)


@click.command()
@data_options
@common_options
@eval_options
@model_dir_option()
@click.option(
    "--baselines", is_flag=True, help="Also score the baselines (trained on the model's data)."
)
@json_option("Print the metrics as JSON (the keys of summary.json's test, plus test_rows).")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the test rows not scored (malformed, duplicate, unknown user or movie) here.",
)
def evaluate(
    model_dir: Path | str,
    baselines: bool,
    as_json: bool,
    rejects_path: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Evaluate a saved model on a test ratings file (movies the model was trained on are excluded).

    A ranking model (implicit-als) gets the ranking metrics only: its scores are
    preferences, not predicted ratings, so RMSE and the rating metrics do not apply.

    \b
    Example:
      movierec evaluate --model model/ --data test.csv --json
    """
    from movierec.workflows import evaluate as evaluate_model

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    result = evaluate_model(cfg, model_dir, engine=given("engine"), baselines=baselines)
    if rejects_path is not None and result.test_rows is not None:
        from movierec.data import save_rejects
        from movierec.errors import ConfigError

        if result.test_rows.rejects is None:
            raise ConfigError(
                "--rejects lists the unscored rows on the driver, which the Spark engine "
                "does not do (it counts them: see test_rows); use --engine local"
            )
        save_rejects(result.test_rows.rejects, rejects_path)
    if as_json:
        print_json(result.metrics)
        return
    from movierec.console import print_metrics

    print_metrics(result.metrics)
    if result.note is not None:
        click.echo(result.note)
    if result.test_rows is not None and not quiet:
        click.echo(result.test_rows.describe(), err=True)
