"""``movierec evaluate-protocol``: k-fold CV over split files or seeded folds (see
:mod:`movierec.protocol`), per-fold and mean ± std RMSE and MAE, or for a ranking model
(implicit-als) catalogue top-k precision, recall and NDCG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from movierec.cli._app import print_json, reporter, setup_logging
from movierec.cli._options import (
    als_options,
    common_options,
    data_options,
    eval_options,
    json_option,
    make_config,
)
from movierec.cli._types import LOCAL_PATH
from movierec.errors import ConfigError


@click.command("evaluate-protocol")
@data_options
@common_options
@als_options
@eval_options
@click.option(
    "--folds-from",
    help="Pairs of split files TRAIN_PATTERN:TEST_PATTERN with shell braces, "
    "e.g. 'u{1..5}.base:u{1..5}.test'.",
)
@click.option(
    "--fold",
    "fold_pairs",
    nargs=2,
    multiple=True,
    type=LOCAL_PATH,
    metavar="TRAIN TEST",
    help="One (train, test) pair of files (repeatable).",
)
@click.option(
    "--dir",
    "base_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder the --folds-from/--fold paths are relative to (default: current).",
)
@click.option(
    "--folds",
    "n_folds",
    type=int,
    help="Instead of files: K seeded folds by rating of --data/--dataset (uses --seed).",
)
@json_option()
def evaluate_protocol(
    folds_from: str | None,
    fold_pairs: tuple[tuple[Path, Path], ...],
    base_dir: Path | None,
    n_folds: int | None,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Cross-validate one model configuration over given split files or seeded folds.

    Fits the model (--model, --rank, --reg-param, --max-iter, --bias-reg; default: the
    configured defaults) on each training file and reports RMSE and MAE per fold and their
    mean ± std (population, ddof=0), on the test rows whose user and movie were in training.
    A ranking model (implicit-als) reports catalogue top-k precision, recall, NDCG, MAP and
    hit rate instead (--k, relevance: test rating >= --threshold).

    \b
    Examples:
      movierec evaluate-protocol --engine local --model biased-als \\
          --dir ml-100k --folds-from 'u{1..5}.base:u{1..5}.test'
      movierec evaluate-protocol --fold a.train a.test --fold b.train b.test --json
      movierec evaluate-protocol --dataset ml-latest-small --folds 5 --seed 42
    """
    from movierec.engines import ALSParams, get_engine
    from movierec.protocol import evaluate_protocol as run_protocol
    from movierec.protocol import load_fold_pairs, parse_folds_from, random_folds

    setup_logging(verbose, quiet)
    cfg = make_config()
    given_files = bool(folds_from) or bool(fold_pairs)
    if given_files == (n_folds is not None):
        raise ConfigError("give split files (--folds-from or --fold TRAIN TEST) or --folds K")
    root = base_dir or Path()
    if n_folds is not None:
        if cfg.data.path is None and cfg.data.dataset is None:
            raise ConfigError("--folds K needs the ratings: --data PATH or --dataset NAME")
        from movierec.data import load_ratings

        folds = random_folds(load_ratings(cfg.data, cfg.spark).ratings, n_folds, cfg.seed)
        names = [f"fold {i + 1}/{n_folds}" for i in range(n_folds)]
        source = f"{n_folds} seeded folds by rating (seed {cfg.seed})"
    else:
        pairs = parse_folds_from(folds_from, root) if folds_from else []
        pairs += [(root / a, root / b) for a, b in fold_pairs]
        folds = load_fold_pairs(pairs, cfg.data)
        names = [f"{a.name}:{b.name}" for a, b in pairs]
        source = "split files " + ", ".join(names)
    engine = get_engine(cfg.engine, cfg.spark)
    params = ALSParams.from_config(cfg.als, cfg.seed)
    progress = reporter(quiet or as_json)
    progress.stage("protocol", len(folds))
    result = run_protocol(
        engine,
        folds,
        params,
        names=names,
        source=source,
        progress=progress.advance,
        k=cfg.evaluation.k,
        threshold=cfg.evaluation.threshold,
    ).to_dict()
    progress.end_stage()
    if as_json:
        print_json(result)
    else:
        print_protocol(result)


def print_protocol(result: dict[str, Any]) -> None:
    """The per-fold table and the mean ± std line."""
    from rich.table import Table

    from movierec.console import out

    p = result["params"]
    title = (
        f"{p['model']} rank {p['rank']}, regParam {p['reg_param']}, maxIter {p['max_iter']}"
        + (f", bias_reg {p['bias_reg']}" if p["model"] == "biased-als" else "")
        + (f", alpha {p['alpha']}" if "k" in result else "")
        + f" ({result['engine']} engine)"
    )
    if "k" in result:  # a ranking model
        out.print(_ranking_table(result, title))
        return
    table = Table(title=title)
    for col in ("fold", "train", "test", "scored", "cold start", "RMSE", "MAE"):
        table.add_column(col, justify="left" if col == "fold" else "right")
    for f in result["folds"]:
        table.add_row(
            f["name"],
            f"{f['train_ratings']:,}",
            f"{f['test_ratings']:,}",
            f"{f['scored_rows']:,}",
            f"{f['cold_start_rows']:,}",
            f"{f['rmse']:.4f}",
            f"{f['mae']:.4f}",
        )
    table.add_row(
        "mean ± std",
        "",
        "",
        "",
        "",
        f"{result['rmse_mean']:.4f} ± {result['rmse_std']:.4f}",
        f"{result['mae_mean']:.4f} ± {result['mae_std']:.4f}",
    )
    out.print(table)


def _ranking_table(result: dict[str, Any], title: str) -> Any:
    """Per-fold catalogue top-k metrics of a ranking model and their mean ± std."""
    from rich.table import Table

    k = result["k"]
    table = Table(title=f"{title}: top-{k}, relevant = test rating >= {result['threshold']}")
    metrics = [
        ("precision", f"P@{k}"),
        ("recall", f"R@{k}"),
        ("recall_norm", f"normalised R@{k}"),
        ("ndcg", f"NDCG@{k}"),
    ]
    for col in ("fold", "train", "test", "users", *(label for _, label in metrics)):
        table.add_column(col, justify="left" if col == "fold" else "right")
    for f in result["folds"]:
        table.add_row(
            f["name"],
            f"{f['train_ratings']:,}",
            f"{f['test_ratings']:,}",
            f"{f['users']:,}",
            *(f"{f[key]:.4f}" for key, _ in metrics),
        )
    table.add_row(
        "mean ± std",
        "",
        "",
        "",
        *(f"{result[key + '_mean']:.4f} ± {result[key + '_std']:.4f}" for key, _ in metrics),
    )
    return table
