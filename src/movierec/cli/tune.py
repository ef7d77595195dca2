"""``movierec tune``: cross-validated search over the ALS hyper-parameters."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, reporter, setup_logging
from movierec.cli._options import (
    THRESHOLD,
    als_options,
    common_options,
    data_options,
    grid_options,
    json_option,
    make_config,
    out_option,
    split_options,
)


@click.command()
@data_options
@common_options
@als_options
@grid_options
@split_options
@THRESHOLD
@out_option("Folder for tuning.json and plots.")
@json_option()
def tune(out: Path | str | None, as_json: bool, verbose: int, quiet: bool) -> None:
    """Cross-validated search over rank, regParam, maxIter (and biasReg, alpha) on the
    non-test part: a grid, seeded random samples or Optuna; objective RMSE, NDCG@K or recall@K.

    \b
    Examples:
      movierec tune --data ratings.csv --ranks 8,10,12 --reg-params 0.05,0.1,0.15 \\
                    --max-iters 10,15 --folds 3 --out tuning/
      movierec tune --dataset ml-latest-small --engine local --search optuna --trials 30 \\
                    --models implicit-als --objective ndcg@10 --out tuning/
    """
    from movierec.engines import ALSParams, get_engine
    from movierec.hadoopfs import atomic_output, check_output
    from movierec.jsonio import write_json
    from movierec.pipeline import check_source, holdout, implicit_params, interaction_spec
    from movierec.plots import plot_tuning_results
    from movierec.tuning import tune as run_tuning

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    if out is not None:
        check_output(out, replace_if="tuning.json", spark_cfg=cfg.spark)
    progress = reporter(quiet or as_json)
    check_source(cfg.data)
    engine = get_engine(cfg.engine, cfg.spark)
    with engine.read(cfg.data, cfg.spark) as loaded:
        dev, test = holdout(loaded.ratings, cfg)
        test.release()  # tuning sees the development part only
        progress.stage("tuning", cfg.tuning.planned_fits())
        base = ALSParams.from_config(cfg.als, cfg.seed)
        with dev:
            result = run_tuning(
                engine,
                dev,
                cfg.tuning,
                base,
                cfg.seed,
                progress.advance,
                threshold=cfg.evaluation.threshold,
                interactions=interaction_spec(cfg),
                start=[base, implicit_params(cfg)],  # as in `run`: random/optuna try defaults
            )
        progress.end_stage()
    rows = result.to_dict()
    if out is not None:
        with atomic_output(out, replace_if="tuning.json", spark_cfg=cfg.spark) as tmp:
            write_json(tmp / "tuning.json", rows)
            plot_tuning_results(rows, tmp)
    if as_json:
        print_json(rows)
    else:
        from movierec.console import print_tuning

        print_tuning(rows)
