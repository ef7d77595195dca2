"""``movierec serve``: the HTTP service (FastAPI + uvicorn) on a saved model folder."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import setup_logging
from movierec.cli._options import model_dir_option, verbosity
from movierec.cli._types import LOCAL_PATH


@click.command()
@model_dir_option("Model folder.", local=True)
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
@verbosity(
    verbose_help="Debug log output (the default is info).",
    quiet_help="Only errors (no startup or access lines).",
)
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
