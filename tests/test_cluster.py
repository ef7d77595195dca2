"""`movierec run` on a real standalone cluster (a master and two worker JVMs on 127.0.0.1).

One cluster serves the module. The tests run in file order: the undisturbed run, a driver
killed mid-run, and last the run that loses a worker (it leaves the cluster one worker short).
Each cluster run is a separate `python -m movierec` process (its own driver JVM); the local
reference runs in-process on the session's local[2] SparkSession.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import Cluster, cluster_env, conf_args, free_port, get_json, standalone_cluster
from conftest import reference_args
from movierec.atomic import remove_stale_temps

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# The same seed gives the same ALS blocks and initial factors on any master; recomputing a
# lost partition repeats the same arithmetic. Float sums may still be combined in another
# order, so metrics are compared to 1e-3 rating units (the grid's RMSE spread is ~0.02).
TOL = 1e-3
RUN_TIMEOUT = 900  # seconds; a loaded two-core machine runs one cluster run in 1.5-4 minutes


def cluster_cmd(
    cluster: Cluster, ratings: Path, ml_small: Path, out: Path | str, *conf: str
) -> list[str]:
    """The reference `run` (tests/conftest.py) as `python -m movierec` against the cluster;
    executors get 1g of their worker's 1.5g."""
    confs = ["spark.sql.shuffle.partitions=2", "spark.executor.memory=1g", *conf]
    extra = [arg for c in confs for arg in ("--conf", c)] + conf_args()
    return [
        sys.executable, "-m", "movierec", *reference_args(ratings, ml_small / "movies.csv", out),
        "--master", cluster.url, "--driver-memory", "1g", *extra,
    ]  # fmt: skip


def summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with standalone_cluster(tmp_path_factory.mktemp("cluster"), workers=2, cores=1) as c:
        yield c


@pytest.fixture(scope="module")
def local_run(reference_run: Path) -> Any:
    """The reference: the same run on the session's local[2] SparkSession (shared with
    tests/test_cli.py and tests/test_connect.py)."""
    return summary(reference_run)


@pytest.fixture(scope="module")
def cluster_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the undisturbed cluster run's output lands, reached as viewfs://cl/lake."""
    return tmp_path_factory.mktemp("on-cluster")


@pytest.fixture(scope="module")
def cluster_run(cluster: Cluster, cluster_lake: Path, dirty_ratings: Path, ml_small: Path) -> Any:
    # The output goes through a Hadoop filesystem (ViewFs mounted onto cluster_lake, as
    # hdfs:// or s3a:// would): the driver uploads what it wrote, the executors on both
    # workers write the Spark model parts there themselves.
    mount = f"spark.hadoop.fs.viewfs.mounttable.cl.link./lake={cluster_lake.resolve().as_uri()}"
    proc = subprocess.run(
        cluster_cmd(cluster, dirty_ratings, ml_small, "viewfs://cl/lake/out", mount),
        capture_output=True, text=True, timeout=RUN_TIMEOUT, env=cluster_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:] + cluster.logs()
    return summary(cluster_lake / "out")


def assert_same_results(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Same split sizes exactly; every RMSE/MAE and top-k metric within TOL."""
    assert got["holdout"]["dev_ratings"] == want["holdout"]["dev_ratings"]
    assert got["holdout"]["test_ratings"] == want["holdout"]["test_ratings"]
    assert got["test"]["coverage"] == want["test"]["coverage"]
    for a, b in zip(got["split_comparison"], want["split_comparison"], strict=True):
        assert (a["train_ratings"], a["test_ratings"]) == (b["train_ratings"], b["test_ratings"])
        assert a["rmse"] == pytest.approx(b["rmse"], abs=TOL)
    for a, b in zip(got["tuning"]["results"], want["tuning"]["results"], strict=True):
        assert a["fold_rmse"] == pytest.approx(b["fold_rmse"], abs=TOL)
    for key in ("rmse", "mae"):
        assert got["test"][key] == pytest.approx(want["test"][key], abs=TOL)
    for key in ("precision", "recall", "ndcg"):
        got_k, want_k = got["test"]["catalogue_top_k"][key], want["test"]["catalogue_top_k"][key]
        assert got_k == pytest.approx(want_k, abs=TOL)


def workers_by_ui(cluster: Cluster) -> dict[str, int]:
    return {w.url: i for i, w in enumerate(cluster.workers)}


def test_cluster_run_matches_local_and_runs_on_both_workers(
    cluster: Cluster, cluster_run: Any, local_run: Any
) -> None:
    assert cluster_run["versions"]["spark_master"] == cluster.url
    assert local_run["versions"]["spark_master"].startswith("local")
    assert_same_results(cluster_run, local_run)

    # Spark's status store (recorded by the driver): one executor per worker, both ran tasks.
    report = cluster_run["executors"]
    assert report["master"] == cluster.url and report["lost"] == []
    executors = [e for e in report["executors"] if e["id"] != "driver"]
    by_ui = workers_by_ui(cluster)
    assert sorted(by_ui[e["worker_ui"]] for e in executors) == [0, 1]
    assert all(e["active"] and e["total_tasks"] > 0 for e in executors)
    # ...and the workers themselves list an executor of that application.
    for worker in cluster.workers:
        state = worker.state()
        apps = {e["appid"] for e in state["executors"] + state["finishedexecutors"]}
        assert report["app_id"] in apps
    # The local run had no executor besides the driver.
    assert [e["id"] for e in local_run["executors"]["executors"]] == ["driver"]


def test_cluster_run_published_its_output_through_a_hadoop_filesystem(
    cluster_run: Any, cluster_lake: Path
) -> None:
    out = cluster_lake / "out"
    model = out / "model"
    assert json.loads((model / "model.json").read_text())["engine"] == "spark"
    for part in ("userFactors", "itemFactors"):
        assert list((model / "engine" / "als" / part).glob("*.parquet")), part
    assert (out / "report.html").is_file()
    # On Spark the lists are part files written by the executors: a folder of Parquet parts.
    assert list((out / "recommendations.parquet").glob("part-*.parquet"))
    assert sorted(p.name for p in cluster_lake.iterdir()) == ["out"]  # no temporary left


def test_killed_driver_leaves_no_output_folder(
    cluster: Cluster, cluster_run: Any, tmp_path: Path, dirty_ratings: Path, ml_small: Path
) -> None:
    """SIGKILL of the whole driver (Python and its JVM) mid-run: no `out`, the cluster is freed."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        cluster_cmd(cluster, dirty_ratings, ml_small, out), env=cluster_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Wait until the run is well under way: plots from the EDA are in the temporary folder.
        deadline = time.monotonic() + RUN_TIMEOUT
        while not list(tmp_path.glob(".out.tmp-*/plots/*.png")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never got past the EDA"
            time.sleep(0.5)
        app_ids = [a["id"] for a in cluster.state()["activeapps"]]
        assert len(app_ids) == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the group: movierec and the driver JVM it started
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    leftovers = [p for p in tmp_path.iterdir()]
    # Only the hidden temporary folder the rename would have published, never a summary.
    assert all(p.name.startswith(".out.tmp-") for p in leftovers)
    assert not list(tmp_path.rglob("summary.json"))
    # ... which the next run into the same folder removes (its owner process is dead).
    assert sorted(remove_stale_temps(out)) == sorted(leftovers)
    assert not list(tmp_path.iterdir())
    # The master notices the dead driver and frees its executors for the next application.
    deadline = time.monotonic() + 120
    while cluster.state()["activeapps"]:
        assert time.monotonic() < deadline, "the killed application still holds the cluster"
        time.sleep(1)
    assert app_ids[0] in [a["id"] for a in cluster.state()["completedapps"]]


def _kill_during_als(cluster: Cluster, ui_port: int, victim: int, seen: dict[str, Any]) -> None:
    """Poll the driver's REST API; SIGKILL worker ``victim`` while an ALS stage is running.

    The first ALS fit is let run a few stages, so the kill lands inside its iterations.
    """
    api = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and not seen.get("stop"):
        try:
            app = get_json(api)[0]["id"]
            stages = get_json(f"{api}/{app}/stages")
        except (OSError, IndexError, KeyError, ValueError):
            time.sleep(0.5)
            continue
        als = [s for s in stages if "ALS.scala" in s.get("name", "")]
        active = [s["name"] for s in als if s["status"] == "ACTIVE"]
        done = sum(s["status"] == "COMPLETE" for s in als)
        if active and done >= 6:
            cluster.workers[victim].kill()
            seen.update(stage=active[0], completed_als_stages=done, killed_at=time.time())
            return
        time.sleep(0.3)


def test_run_survives_losing_a_worker_mid_fit(
    cluster: Cluster, cluster_run: Any, tmp_path: Path, dirty_ratings: Path, ml_small: Path
) -> None:
    """Kill -9 one worker JVM during an ALS fit: the run finishes, same metrics, loss recorded.

    Runs last: afterwards the cluster has one worker.
    """
    victim = 1
    ui_port = free_port()
    out = tmp_path / "out"
    conf = ("spark.ui.enabled=true", f"spark.ui.port={ui_port}")
    cmd = cluster_cmd(cluster, dirty_ratings, ml_small, out, *conf)
    seen: dict[str, Any] = {}
    killer = threading.Thread(target=_kill_during_als, args=(cluster, ui_port, victim, seen))
    killer.start()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=cluster_env()
        )
    finally:
        seen["stop"] = True
        killer.join(timeout=30)
    assert "stage" in seen, "the worker was never killed during an ALS stage"
    assert cluster.workers[victim].proc.returncode == -signal.SIGKILL
    assert proc.returncode == 0, proc.stderr[-3000:] + cluster.logs()

    got = summary(out)
    assert_same_results(got, cluster_run)
    report = got["executors"]
    by_ui = workers_by_ui(cluster)
    executors = {e["id"]: e for e in report["executors"] if e["id"] != "driver"}
    assert len(report["lost"]) == 1
    lost = executors[report["lost"][0]]
    assert by_ui[lost["worker_ui"]] == victim
    assert not lost["active"] and lost["remove_reason"]
    assert lost["total_tasks"] > 0  # it worked before it died
    survivors = [e for e in executors.values() if e["active"]]
    assert [by_ui[e["worker_ui"]] for e in survivors] == [1 - victim]
