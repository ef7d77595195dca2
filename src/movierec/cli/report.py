"""``movierec report``: rebuild a run folder's self-contained ``report.html``."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import setup_logging
from movierec.cli._options import verbosity
from movierec.cli._types import LOCAL_PATH


@click.command()
@click.argument("run_dir", type=LOCAL_PATH)
@verbosity()
def report(run_dir: Path, verbose: int, quiet: bool) -> None:
    """Rebuild RUN_DIR/report.html: one self-contained page with every table and plot of a run.

    \b
    Example:
      movierec report results/
    """
    from movierec.report import build_report

    setup_logging(verbose, quiet)
    click.echo(str(build_report(run_dir)))
