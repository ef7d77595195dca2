"""On the Spark engine the ratings never pass through the driver: `movierec run` on the
standalone cluster succeeds with the Python driver's memory capped and a 512 MiB driver JVM.

The driver process starts its SparkSession first (the JVM must not inherit the cap), then
caps its own data segment with ``setrlimit(RLIMIT_DATA)`` to what it holds at that point plus
:data:`HEADROOM_MIB`, then runs the CLI in-process. :data:`RATINGS` is chosen so that a
driver holding the ratings in pandas needs several times the headroom: the code before the
Spark data plane (main at bd565a2), running this ``run`` on these 1M ratings in ``local[2]``
with a 512 MiB driver JVM, grew its data segment by 1,296 MiB (sampled every 50 ms from
``/proc/self/status``, then Spark failed collecting); the current code must pass with the
right counts. (Python driver peak RSS of ``train`` before the change: 336 MiB at 1M
ratings, 1,145 MiB at 10M; see benchmarks/results/driver_memory.md.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import TEST_SPARK_CONF, Cluster, cluster_env, standalone_cluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RATINGS = 1_000_000
"""Synthetic ratings in the input (Parquet, written by the test)."""
HEADROOM_MIB = 250
"""What the driver may allocate beyond its size once Spark has started (the old design grew
by 1,296 MiB here)."""
RUN_CONFIG = """\
[split]
train_fractions = [0.8]
[tuning]
models = ["als"]
ranks = [6]
reg_params = [0.1]
max_iters = [4]
folds = 2
[recommend]
recommender = "rating-model"
"""

DRIVER = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from movierec.config import SparkConfig
    from movierec.spark import get_spark

    master, headroom, conf = sys.argv[1], int(sys.argv[2]) << 20, json.loads(sys.argv[3])
    get_spark(SparkConfig(master=master, driver_memory="512m", conf=conf))  # starts uncapped
    status = Path("/proc/self/status").read_text()
    data = next(int(l.split()[1]) << 10 for l in status.splitlines() if l.startswith("VmData:"))
    resource.setrlimit(resource.RLIMIT_DATA, (data + headroom, data + headroom))
    print(f"capped at {(data + headroom) >> 20} MiB of data", file=sys.stderr, flush=True)
    from movierec.cli import main
    main(sys.argv[4:])
    """
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with standalone_cluster(tmp_path_factory.mktemp("memcluster"), memory="2g") as c:
        yield c


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from movierec.data.synth import save_synthetic, synthesize

    path = tmp_path_factory.mktemp("memdata") / "ratings.parquet"
    save_synthetic(synthesize(RATINGS, seed=7), path)
    return path


def test_run_on_cluster_with_a_capped_driver(
    cluster: Cluster, ratings_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(RUN_CONFIG)
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-c", DRIVER, cluster.url, str(HEADROOM_MIB), json.dumps(TEST_SPARK_CONF),
        "run", "--engine", "spark", "--master", cluster.url, "--driver-memory", "512m",
        "--conf", "spark.executor.memory=1536m", "--data", str(ratings_file),
        "--config", str(config), "--out", str(out), "--json", "-q",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=1800, env=cluster_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + cluster.logs()
    assert "capped at" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    data = summary["data"]
    assert data["load"]["rows_read"] == RATINGS
    assert data["ratings"] + data["rejected"] == RATINGS
    holdout = summary["holdout"]
    assert holdout["dev_ratings"] + holdout["test_ratings"] == data["ratings"]
    assert summary["recommendations"]["users"] == data["users"]
