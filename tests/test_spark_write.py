"""Part-file writers of the Spark data plane (movierec.engines.spark.write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from movierec.config import DataConfig
from movierec.data import load_ratings
from spark_corpus import HEADER_CORPUS, write

pytestmark = pytest.mark.spark


def test_rejects_and_tables_are_written_as_part_files(spark: Any, tmp_path: Path) -> None:
    from movierec.data import save_rejects
    from movierec.engines.spark.reader import read_ratings, write_rejects, write_table

    path = write(tmp_path, "r.csv", HEADER_CORPUS)
    cfg = DataConfig(path=path, max_reject_fraction=1.0)
    local, remote = load_ratings(cfg), read_ratings(spark, cfg)
    out = tmp_path / "out"
    out.mkdir()
    written = write_rejects(remote.rejects, out)
    assert written == [(out / "rejects.parquet").as_uri(), (out / "rejects.csv").as_uri()]
    save_rejects(local.rejects, tmp_path / "local_rejects.csv")
    assert (out / "rejects.csv").read_bytes() == (tmp_path / "local_rejects.csv").read_bytes()
    back = pd.read_parquet(out / "rejects.parquet")
    pd.testing.assert_frame_equal(back, local.rejects, check_dtype=False)
    assert sorted(p.name for p in out.iterdir()) == ["rejects.csv", "rejects.parquet"]

    small = tmp_path / "small"
    small.mkdir()
    assert write_rejects(remote.rejects, small, csv_max_rows=3) == [
        (small / "rejects.parquet").as_uri()
    ]
    files = write_table(remote.ratings, str(small), "ratings", csv=True)
    assert files == [(small / f"ratings.{x}").as_uri() for x in ("parquet", "csv")]
    parts = list((small / "ratings.csv").glob("part-*.csv"))
    assert parts and pd.concat(pd.read_csv(p) for p in parts).shape[0] == remote.report.rows_kept
    assert len(pd.read_parquet(small / "ratings.parquet")) == remote.report.rows_kept
