"""``movierec recommend``: top-N unseen movies from a saved model."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, setup_logging
from movierec.cli._options import (
    N,
    common_options,
    given,
    json_option,
    make_config,
    model_dir_option,
    out_option,
)
from movierec.errors import ConfigError


@click.command()
@common_options
@model_dir_option()
@click.option("--user", "users", multiple=True, help="User id (repeatable, or comma-separated).")
@click.option("--all", "all_users", is_flag=True, help="Every user in the model.")
@N
@out_option("Write to FILE (.csv or .parquet; no suffix = both).", local=True)
@json_option()
def recommend(
    model_dir: Path | str,
    users: tuple[str, ...],
    all_users: bool,
    out: Path | None,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Top-N unseen movies for some users or all of them, with titles when the model has them.

    \b
    Examples:
      movierec recommend --model model/ --user 42 --user 7 --n 10
      movierec recommend --model model/ --user 42,7,19
      movierec recommend --model model/ --all --out recs.parquet
    """
    from movierec.workflows import recommend as recommend_from

    setup_logging(verbose, quiet)
    if bool(users) == all_users:
        raise ConfigError("give either --user ID (repeatable) or --all")
    cfg = make_config()
    requested = [u.strip() for item in users for u in item.split(",") if u.strip()]
    show_table = not as_json and (out is None or bool(users))
    result = recommend_from(
        cfg,
        model_dir,
        requested if users else None,
        engine=given("engine"),
        out=out,
        liked=5 if show_table and users else 0,
        table=as_json or show_table,  # every user's lists, only written: not collected
    )
    if not quiet:
        for path in result.files:
            click.echo(f"wrote {path}", err=True)
    if as_json and result.table is not None:
        print_json(result.table.to_dict(orient="records"))
    elif show_table and result.table is not None:
        from movierec.console import print_recommendations

        print_recommendations(result.table, liked=result.liked)
