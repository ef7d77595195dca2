"""The ``movierec`` command line: one verb per step of the brief, and ``run`` for all of them.

Each verb lives in its own module (``movierec.cli.train`` …) and imports only
:mod:`movierec.cli._app` (the group, logging, the error policy) and
:mod:`movierec.cli._options` (the shared options and the config they build); this module
registers them. Heavy imports stay inside the verbs, so ``movierec --help`` is cheap.
"""

from __future__ import annotations

from movierec.cli import (
    compare_splits,
    datasets,
    eda,
    evaluate,
    protocol,
    recommend,
    report,
    run,
    serve,
    similar,
    train,
    tune,
)
from movierec.cli._app import EXIT_BUG, EXIT_USER_ERROR, cli, main

for _verb in (
    eda.eda,
    compare_splits.compare_splits,
    tune.tune,
    train.train,
    evaluate.evaluate,
    recommend.recommend,
    run.run,
    report.report,
    datasets.datasets,
    serve.serve,
    protocol.evaluate_protocol,
    similar.similar,
):
    cli.add_command(_verb)

__all__ = ["EXIT_BUG", "EXIT_USER_ERROR", "cli", "main"]
