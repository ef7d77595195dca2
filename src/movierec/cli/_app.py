"""The ``movierec`` command group, its entry point, logging, and the one error policy.

Every verb runs inside :meth:`MovierecGroup.invoke`, the single place that turns an
exception into an exit code:

* :class:`~movierec.errors.MovierecError` (bad input, bad config, an engine that cannot
  start): one ``error: …`` line on stderr, exit 2 (:data:`EXIT_USER_ERROR`);
* a failure raised by pyspark or py4j (lost executors, a cluster gone): one ``error: Spark
  failed: …`` line, exit 2, the JVM traceback logged at debug level;
* Ctrl-C: ``interrupted``, exit 130 (:data:`EXIT_INTERRUPTED`);
* anything else is a bug: the traceback is logged and the exit code is 3 (:data:`EXIT_BUG`).

click's own usage errors keep click's behaviour (a usage message, exit 2).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from movierec.errors import MovierecError

if TYPE_CHECKING:
    from movierec.progress import Reporter
    from movierec.tracking import Tracker

log = logging.getLogger("movierec")

EXIT_USER_ERROR = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr at ERROR when ``quiet``, else WARNING, INFO (-v) or DEBUG (-vv)."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    logging.getLogger("py4j").setLevel(max(level, logging.WARNING))


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (numpy scalars and paths included)."""
    from movierec.jsonio import dumps

    click.echo(dumps(obj))


def reporter(quiet: bool) -> Reporter:
    """Progress bars on a terminal, a line per stage otherwise, nothing when ``quiet``."""
    from movierec.console import make_reporter

    return make_reporter(quiet)


def is_spark_failure(exc: BaseException) -> bool:
    """True for exceptions raised by pyspark or py4j (the JVM side of Spark)."""
    return any(
        (cls.__module__ or "").startswith(("pyspark", "py4j")) for cls in type(exc).__mro__[:-1]
    )


def exit_for(exc: BaseException) -> NoReturn:
    """Report ``exc`` as the module docstring says and exit with its code."""
    if isinstance(exc, MovierecError):
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if is_spark_failure(exc):
        # The engine failed (lost executors, out of memory, a cluster gone): report it as
        # an engine error in one line; the JVM traceback is logged at debug level.
        log.debug("Spark failure", exc_info=exc)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"error: Spark failed: {first[:300]}", err=True)
        sys.exit(EXIT_USER_ERROR)
    log.error("unexpected error", exc_info=exc)
    click.echo(f"internal error ({type(exc).__name__}: {exc}); the traceback is above", err=True)
    sys.exit(EXIT_BUG)


class MovierecGroup(click.Group):
    """A click group whose :meth:`invoke` applies the error policy to every sub-command
    (nested groups included), so no verb can forget it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            exit_for(exc)


@click.group(
    cls=MovierecGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="movierec")
def cli() -> None:
    """Movie recommendations with Spark MLlib ALS.

    \b
    Example (the whole brief on a MovieLens release):
      movierec run --dataset ml-latest-small --out results/
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="movierec")


def make_tracker(mlflow_uri: str | None, experiment: str | None) -> Tracker | None:
    """A connected MLflow tracker when ``--mlflow`` was given (checked before the work).

    Raises:
        ConfigError: MLflow is not installed, or the URI or experiment cannot be used.
    """
    if not mlflow_uri:
        return None
    from movierec.tracking import Tracker

    return Tracker(mlflow_uri, experiment or "movierec")


def raise_if_mlflow_failed(error: str | None, out: Path | str) -> None:
    """After the output is printed: exit 2 when MLflow logging failed (the output is kept).

    Raises:
        MovierecError: ``error`` is not None.
    """
    if error is not None:
        raise MovierecError(f"the output was written to {out}, but MLflow logging failed: {error}")
