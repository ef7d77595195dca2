"""``movierec similar``: the movies closest to one movie in factor space, found by title.

The title search is :mod:`movierec.titles`; the scoring is the service's numpy
:class:`~movierec.service.scorer.Scorer` (cosine similarity of item factors, the same
numbers as ``GET /movies/{id}/similar``), so no JVM is started.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from movierec.cli._app import print_json, setup_logging
from movierec.cli._options import json_option, model_dir_option, verbosity
from movierec.errors import ConfigError

MAX_CANDIDATES = 10


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _candidate_lines(candidates: list[Any]) -> list[str]:
    return [
        f"  {i}. {c.title}  [id {c.movie_id}]  {c.genres}".rstrip()
        for i, c in enumerate(candidates, 1)
    ]


def resolve_movie(scorer: Any, query: str, pick: int | None, *, ask: bool) -> int:
    """The scorer row of the movie ``query`` names (an id, or a title searched fuzzily).

    Several close titles: ``pick`` (1-based) chooses among them; else, when ``ask``, the user
    is prompted; else the candidates go to stderr and a ConfigError says how to choose.

    Raises:
        ConfigError: nothing matches, the choice is ambiguous, or ``pick`` is out of range.
    """
    from movierec.titles import TitleIndex

    text = query.strip()
    if text.lstrip("-").isdigit():
        row = scorer.item_row(text)
        if row is not None:
            return int(row)
    if not any(scorer.titles):
        raise ConfigError(
            f"movie id {query!r} is not in the model, and the model has no titles to search "
            "(train it with --movies to search by title)"
        )
    index = TitleIndex(
        list(range(len(scorer.titles))),
        scorer.titles,
        ["|".join(g) for g in scorer.genres],
        scorer.item_counts,
    )
    try:
        found = index.search(text, limit=MAX_CANDIDATES)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    rows = [int(c.movie_id) for c in found.candidates]
    shown = [
        type(c)(scorer.item_out_ids[r], c.title, c.genres, c.year, c.score, c.popularity)
        for r, c in zip(rows, found.candidates)
    ]
    if not rows:
        raise ConfigError(f"no movie title matches {query!r} (check the spelling, or give the id)")
    if pick is not None:
        if not 1 <= pick <= len(rows):
            raise ConfigError(f"--pick {pick} is out of range: {query!r} has {len(rows)} match(es)")
        return rows[pick - 1]
    if len(rows) == 1:
        return rows[0]
    if ask:
        click.echo(f"{query!r} matches several movies:", err=True)
        for line in _candidate_lines(shown):
            click.echo(line, err=True)
        choice = click.prompt("Which one", type=click.IntRange(1, len(rows)), default=1, err=True)
        return rows[int(choice) - 1]
    click.echo(f"{query!r} matches several movies:", err=True)
    for line in _candidate_lines(shown):
        click.echo(line, err=True)
    raise ConfigError(
        f"{query!r} is ambiguous ({len(rows)} matches): choose with --pick N (1-{len(rows)}) "
        f"or give the movie id, e.g. --movie {shown[0].movie_id}"
    )


@click.command()
@model_dir_option("Model folder.", local=True)
@click.option(
    "--movie",
    "query",
    required=True,
    help='A title (fuzzy: "matrix", "Toy Story 1995", "amelie") or a movie id.',
)
@click.option("--k", "k", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many similar movies.")  # fmt: skip
@click.option(
    "--pick", type=int, help="Take the Nth candidate when the title matches several movies."
)
@click.option(
    "--genre", "genres", multiple=True, help="Only movies of this genre (repeatable: any of them)."
)
@click.option(
    "--min-ratings",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Only movies with at least this many training ratings (rare ones have noisy factors).",
)
@json_option()
@verbosity()
def similar(
    model_dir: Path,
    query: str,
    k: int,
    pick: int | None,
    genres: tuple[str, ...],
    min_ratings: int,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Movies most similar to one movie (cosine similarity of the model's movie factors; for an
    ``ease`` model the largest weights of its row of B).

    The movie is found by title, forgiving case, accents, punctuation, articles
    ("Matrix, The") and typos; a year narrows it ("Toy Story 1995"). When several titles
    match, a terminal asks which one; otherwise the candidates are listed and --pick N
    (or the id) chooses.

    \b
    Examples:
      movierec similar --model results/model --movie "Toy Story 1995"
      movierec similar --model results/model --movie matrix --pick 1 --k 5 --json
      movierec similar --model results/model --movie 2571 --genre Action --min-ratings 20
    """
    from movierec.service.scorer import Scorer

    setup_logging(verbose, quiet)
    base = Scorer.load(model_dir)
    row = resolve_movie(base, query, pick, ask=_interactive() and not as_json)
    scorer = base.similar_model
    try:
        mask = scorer.genre_mask(list(genres))
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    if min_ratings > 0:
        enough = scorer.item_counts >= min_ratings
        mask = enough if mask is None else mask & enough
    rows, scores = scorer.similar(row, k, mask)
    movie = {
        "movie_id": scorer.item_out_ids[row],
        "title": scorer.titles[row],
        "genres": scorer.genres[row],
    }
    items = scorer.items(rows, scores)
    if as_json:
        print_json({**movie, "similar": items})
        return
    from rich.markup import escape
    from rich.table import Table

    from movierec.console import out

    name = movie["title"] or f"movie {movie['movie_id']}"
    table = Table(title=escape(f"Most similar to {name} [id {movie['movie_id']}]"))
    measure = "EASE weight" if scorer.item_item is not None else "cosine"
    for col in ("#", "movie", "title", "genres", measure):
        table.add_column(col, justify="right" if col in ("#", "movie", measure) else "left")
    for i, item in enumerate(items, 1):
        table.add_row(
            str(i),
            str(item["movie_id"]),
            escape(str(item["title"])),
            escape("|".join(item["genres"])),
            f"{item['score']:.3f}",
        )
    out.print(table)
