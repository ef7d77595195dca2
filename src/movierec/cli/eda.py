"""``movierec eda``: counts, sparsity, rating distribution and long tails of a ratings table."""

from __future__ import annotations

from pathlib import Path

import click

from movierec.cli._app import print_json, setup_logging
from movierec.cli._options import common_options, data_options, json_option, make_config, out_option


@click.command()
@data_options
@common_options
@out_option("Output folder for eda.json and plots (local, or hdfs://, s3a:// …).", required=True)
@json_option()
def eda(out: Path | str, as_json: bool, verbose: int, quiet: bool) -> None:
    """Explore a ratings table: counts, sparsity, rating distribution, long tails (plots).

    \b
    Example:
      movierec eda --data ratings.csv --out eda/
    """
    from movierec.engines import get_engine
    from movierec.hadoopfs import atomic_output
    from movierec.jsonio import write_json
    from movierec.pipeline import check_source, data_section, explore

    setup_logging(verbose, quiet)
    cfg = make_config(require_data=True)
    check_source(cfg.data)
    with atomic_output(out, replace_if="eda.json", spark_cfg=cfg.spark) as tmp:
        engine = get_engine(cfg.engine, cfg.spark)
        with engine.read(cfg.data, cfg.spark) as loaded:  # read where the engine works
            loaded.write_rejects(tmp)
            section = data_section(loaded, explore(engine, loaded, tmp / "plots"))
        write_json(tmp / "eda.json", section)
    if as_json:
        print_json(section)
    else:
        from movierec.console import print_eda

        print_eda(section, out)
