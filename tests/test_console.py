"""The CLI's and notebooks' progress reporters (movierec.console)."""

from __future__ import annotations

import io

from rich.console import Console

from movierec.console import LineReporter, RichReporter, make_reporter, notebook_reporter
from movierec.progress import Reporter


def test_notebook_reporter_draws_bars_in_a_notebook_or_terminal_else_lines() -> None:
    assert isinstance(
        notebook_reporter(Console(file=io.StringIO(), force_jupyter=True)), RichReporter
    )
    assert isinstance(
        notebook_reporter(Console(file=io.StringIO(), force_terminal=True)), RichReporter
    )
    plain = Console(file=io.StringIO(), force_jupyter=False, force_terminal=False)
    assert isinstance(notebook_reporter(plain), LineReporter)


def test_quiet_reporter_does_nothing() -> None:
    assert type(make_reporter(quiet=True)) is Reporter
