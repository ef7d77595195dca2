"""``movierec datasets list|fetch|synth``: the GroupLens MovieLens releases, and synthetic data."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, setup_logging
from movierec.cli._options import json_option, verbosity
from movierec.cli._types import LOCAL_PATH


@click.group()
def datasets() -> None:
    """List or download the GroupLens MovieLens releases."""


@datasets.command("list")
@json_option()
@verbosity()
def datasets_list(as_json: bool, verbose: int, quiet: bool) -> None:
    """List the known datasets and whether each is in the cache.

    \b
    Example:
      movierec datasets list
    """
    from movierec.data.datasets import list_datasets

    setup_logging(verbose, quiet)
    rows = list_datasets()
    if as_json:
        print_json(rows)
    else:
        from movierec.console import print_datasets

        print_datasets(rows)


@datasets.command("fetch")
@click.argument("name")
@click.option(
    "--cache-dir",
    type=LOCAL_PATH,
    help="Cache folder (default $MOVIEREC_DATA_DIR or ~/.cache/movierec).",
)
@verbosity()
def datasets_fetch(name: str, cache_dir: Path | None, verbose: int, quiet: bool) -> None:
    """Download and unpack a dataset into the cache (verified by size and MD5 where published).

    \b
    Example:
      movierec datasets fetch ml-100k
    """
    from movierec.console import download_progress
    from movierec.data.datasets import fetch_dataset

    setup_logging(verbose, quiet)
    with download_progress(quiet) as progress:
        path = fetch_dataset(name, cache_dir=cache_dir, progress=progress)
    click.echo(str(path))


@datasets.command("synth")
@click.option("--ratings", "n_ratings", required=True, help="How many ratings, e.g. 1M, 25M, 100k.")
@click.option("--users", "n_users", type=int, help="Users (default: scaled like MovieLens).")
@click.option("--movies", "n_items", type=int, help="Movies (default: scaled like MovieLens).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", type=LOCAL_PATH, required=True, help="Parquet file to write.")
@verbosity()
def datasets_synth(
    n_ratings: str,
    n_users: int | None,
    n_items: int | None,
    seed: int,
    out: Path,
    verbose: int,
    quiet: bool,
) -> None:
    """Generate a seeded MovieLens-like ratings table (power-law activity and popularity,
    ratings from latent factors plus noise) as Parquet, for benchmarks and scale tests.

    \b
    Example:
      movierec datasets synth --ratings 25M --out /tmp/synth-25m.parquet
    """
    from movierec.atomic import check_writable
    from movierec.data.synth import parse_count, save_synthetic, synthesize

    setup_logging(verbose, quiet)
    check_writable(out)
    frame = synthesize(parse_count(n_ratings), n_users=n_users, n_items=n_items, seed=seed)
    save_synthetic(frame, out)
    click.echo(
        f"wrote {out}: {len(frame):,} ratings, {frame['user_id'].nunique():,} users, "
        f"{frame['movie_id'].nunique():,} movies"
    )
