"""The CLI's one error policy (cli/_app.py), its registration, and a cheap `movierec --help`."""

from __future__ import annotations

import logging
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.cli._app import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER_ERROR, MovierecGroup
from movierec.errors import DataError


class FakeSparkError(Exception):
    """Stands for a pyspark/py4j exception (recognised by the module of its class)."""


FakeSparkError.__module__ = "pyspark.errors.exceptions"


def group_raising(exc: BaseException) -> click.Group:
    """A MovierecGroup whose verb `boom` (inside a nested group `sub`, too) raises ``exc``."""

    @click.group(cls=MovierecGroup)
    def top() -> None:
        pass

    @top.command()
    def boom() -> None:
        raise exc

    @top.group()
    def sub() -> None:
        pass

    @sub.command("boom")
    def nested() -> None:
        raise exc

    return top


@pytest.mark.parametrize("path", [["boom"], ["sub", "boom"]])
def test_user_errors_are_one_line_and_exit_2(path: list[str]) -> None:
    result = CliRunner().invoke(group_raising(DataError("ratings.csv:3:2: bad rating")), path)
    assert result.exit_code == EXIT_USER_ERROR == 2
    assert result.stderr == "error: ratings.csv:3:2: bad rating\n" and result.stdout == ""


def test_bugs_log_the_traceback_and_exit_3(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="movierec"):
        result = CliRunner().invoke(group_raising(ZeroDivisionError("oops")), ["boom"])
    assert result.exit_code == EXIT_BUG == 3
    assert "internal error (ZeroDivisionError: oops); the traceback is above" in result.stderr
    (record,) = [r for r in caplog.records if r.name == "movierec"]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


def test_ctrl_c_exits_130_and_spark_failures_are_user_errors() -> None:
    result = CliRunner().invoke(group_raising(KeyboardInterrupt()), ["sub", "boom"])
    assert result.exit_code == EXIT_INTERRUPTED == 130 and result.stderr == "interrupted\n"
    lost = FakeSparkError("Job aborted: executor lost\n\tat org.apache.spark...")
    result = CliRunner().invoke(group_raising(lost), ["boom"])
    assert result.exit_code == 2
    assert result.stderr == "error: Spark failed: Job aborted: executor lost\n"


def test_click_usage_errors_keep_clicks_behaviour() -> None:
    result = CliRunner().invoke(cli, ["train", "--rank", "ten"])
    assert result.exit_code == 2 and "Invalid value for '--rank'" in result.output
    result = CliRunner().invoke(cli, ["no-such-verb"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_every_verb_is_registered_and_runs_under_the_policy() -> None:
    assert isinstance(cli, MovierecGroup)
    assert set(cli.commands) == {
        "eda", "compare-splits", "tune", "train", "evaluate", "recommend", "run", "report",
        "datasets", "serve", "evaluate-protocol", "similar",
    }  # fmt: skip
    # A bad flag value parsed by a setting is a user error (exit 2), before any work.
    result = CliRunner().invoke(cli, ["tune", "--data", "x.csv", "--ranks", "8,ten"])
    assert result.exit_code == 2 and "comma-separated integers" in result.stderr


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, movierec.cli\n"
        "from click.testing import CliRunner\n"
        "assert CliRunner().invoke(movierec.cli.cli, ['--help']).exit_code == 0\n"
        "heavy = ('numpy', 'pandas', 'pyspark', 'numba', 'matplotlib', 'fastapi', 'rich')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
