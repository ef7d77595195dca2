"""The Spark reader under Spark Connect: no SparkContext, no py4j, DataFrame operations only.

The Connect server is test_connect's (a real SparkConnectServer JVM on a free local port).
The reader runs in a client process of its own (the session is a process-wide singleton) on
a corpus of good and bad rows and on a folder of part files, and must give what the local
reader gives: report, rejects with their lines, ratings, and the rejects written as files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import load_ratings
from spark_corpus import HEADER_CORPUS, write
from test_connect import connect_server  # noqa: F401  (the server fixture)

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CLIENT = """
import json, sys
from pathlib import Path
from movierec.config import DataConfig, SparkConfig
from movierec.spark import get_spark
from movierec.engines.spark.reader import read_ratings, write_rejects

spark = get_spark(SparkConfig(remote=sys.argv[1]))
out = {}
for name, path in (("file", sys.argv[2]), ("parts", sys.argv[3])):
    loaded = read_ratings(spark, DataConfig(path=Path(path), max_reject_fraction=1.0))
    out[name] = {
        "report": loaded.report.to_dict(),
        "rejects": sorted([r["line"], r["reason"]] for r in loaded.rejects.collect()),
        "ratings": sorted(list(r) for r in loaded.ratings.collect()),
    }
out["written"] = write_rejects(loaded.rejects, sys.argv[4])
print(json.dumps(out))
"""


def test_the_reader_works_over_spark_connect(connect_server: str, tmp_path: Path) -> None:  # noqa: F811
    path = write(tmp_path, "r.csv", HEADER_CORPUS)
    parts = tmp_path / "parts"
    parts.mkdir()
    lines = HEADER_CORPUS.splitlines(keepends=True)
    (parts / "part-00000.csv").write_text("".join(lines[:30]))
    (parts / "part-00001.csv").write_text(lines[0] + "".join(lines[30:]))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, connect_server, str(path), str(parts), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    got: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    local = load_ratings(DataConfig(path=path, max_reject_fraction=1.0))
    for name in ("file", "parts"):
        report = dict(got[name]["report"])
        assert report.pop("path") in (str(path), str(parts))
        want = local.report.to_dict()
        want.pop("path")
        assert report == want, name
        ratings = sorted(list(r) for r in local.ratings.itertuples(index=False))
        assert got[name]["ratings"] == [[*r[:2], float(r[2]), r[3]] for r in ratings]
    rejects = sorted([int(r.line), r.reason] for r in local.rejects.itertuples())
    assert got["file"]["rejects"] == rejects
    assert (out / "rejects.csv").is_file() and (out / "rejects.parquet").is_dir()
    assert len(got["written"]) == 2
    assert schema.LINE in (out / "rejects.csv").read_text().splitlines()[0]
