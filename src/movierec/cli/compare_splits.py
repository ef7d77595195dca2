"""``movierec compare-splits``: test RMSE of one ALS configuration over several train shares."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, reporter, setup_logging
from movierec.cli._options import (
    TRAIN_FRACTIONS,
    als_options,
    common_options,
    data_options,
    json_option,
    make_config,
    out_option,
)


@click.command("compare-splits")
@data_options
@common_options
@als_options
@TRAIN_FRACTIONS
@out_option("Folder for split_comparison.json and its plot.")
@json_option()
def compare_splits(out: Path | str | None, as_json: bool, verbose: int, quiet: bool) -> None:
    """Fit ALS on several train/test splits and compare their test RMSE.

    \b
    Example:
      movierec compare-splits --data ratings.csv --train-fractions 0.6,0.7,0.75,0.8
    """
    from movierec.engines import ALSParams, get_engine
    from movierec.hadoopfs import atomic_output, check_output
    from movierec.jsonio import write_json
    from movierec.pipeline import check_source
    from movierec.pipeline import compare_splits as compare
    from movierec.plots import plot_split_comparison

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    if out is not None:
        check_output(out, replace_if="split_comparison.json", spark_cfg=cfg.spark)
    progress = reporter(quiet or as_json)
    check_source(cfg.data)
    engine = get_engine(cfg.engine, cfg.spark)
    with engine.read(cfg.data, cfg.spark) as loaded:
        progress.stage("split_comparison", len(cfg.split.train_fractions))
        params = ALSParams.from_config(cfg.als, cfg.seed)
        fractions = cfg.split.train_fractions
        rows = compare(engine, loaded.ratings, params, fractions, cfg.seed, progress)
        progress.end_stage()
    if out is not None:
        with atomic_output(out, replace_if="split_comparison.json", spark_cfg=cfg.spark) as tmp:
            write_json(tmp / "split_comparison.json", rows)
            plot_split_comparison(rows, tmp / "split_comparison.png")
    if as_json:
        print_json(rows)
    else:
        from movierec.console import print_split_comparison

        print_split_comparison(rows)
