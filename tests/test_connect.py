"""`movierec run --remote sc://...` against a real Spark Connect server in its own JVM.

The server is the pip-installed pyspark's ``SparkConnectServer`` on a free port of
127.0.0.1, started by ``spark-submit`` (which execs Java, so its PID is the JVM's) and
stopped by that PID. The Connect run must give the same split and metrics as the same run
in ``local[*]``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import conf_args
from conftest import reference_args
from movierec.lists import read_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (local[2]) on a free port; yields its ``sc://`` URL."""
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("connect")
    port = _free_port()
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1")
    env["PYSPARK_PYTHON"] = sys.executable  # the top-N's Python workers need numpy/pandas
    log = (work / "server.log").open("w")
    command = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--driver-memory", "2g",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.checkpoint.dir={work / 'checkpoints'}",
        "--conf", "spark.driver.extraJavaOptions=-Xss16m",
        *conf_args(),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    try:
        deadline = time.monotonic() + 180
        while not _accepts(port):
            if proc.poll() is not None:
                pytest.fail(f"Connect server exited with {proc.returncode}: see {work}/server.log")
            if time.monotonic() > deadline:
                pytest.fail(f"Connect server did not listen on {port} within 180 s")
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def test_run_through_spark_connect_matches_local(
    connect_server: str, reference_run: Path, dirty_ratings: Path, ml_small: Path, tmp_path: Path
) -> None:
    """The reference `run` (tests/conftest.py: three bad rows, one configuration) through
    Spark Connect equals the session's local[2] run of it."""
    # The Connect run needs its own process: the session is a process-wide singleton.
    remote_out = tmp_path / "remote"
    args = reference_args(dirty_ratings, ml_small / "movies.csv", remote_out)
    proc = subprocess.run(
        [sys.executable, "-m", "movierec", *args, "--remote", connect_server],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local_out = reference_run

    remote, local = _summary(remote_out), _summary(local_out)
    assert remote["config"]["spark"]["remote"] == connect_server
    assert remote["holdout"] == local["holdout"]  # the split is the same rows
    assert remote["data"]["load"] == local["data"]["load"]  # the same rows read and rejected
    rejects = [read_table(o / "rejects.csv").sort_values("line") for o in (remote_out, local_out)]
    assert rejects[0]["line"].tolist() == [11, 12, 13]
    assert rejects[0].reset_index(drop=True).equals(rejects[1].reset_index(drop=True))
    assert remote["test"]["params"] == local["test"]["params"]
    assert remote["test"]["coverage"] == local["test"]["coverage"]
    for key in ("rmse", "mae"):
        assert remote["test"][key] == pytest.approx(local["test"][key], abs=2e-3), key
    for key in ("precision", "recall", "ndcg"):
        a, b = remote["test"]["catalogue_top_k"][key], local["test"]["catalogue_top_k"][key]
        assert a == pytest.approx(b, abs=0.01), key
    for a, b in zip(remote["split_comparison"], local["split_comparison"], strict=True):
        assert a["rmse"] == pytest.approx(b["rmse"], abs=2e-3)

    # Recommendations came from the blocked top-N on the server: same shape, seen movies out.
    # The server's executors wrote a folder of part files; the local run one file.
    assert (remote_out / "recommendations.csv").is_dir()
    recs = read_table(remote_out / "recommendations.csv")
    mine = read_table(local_out / "recommendations.csv")
    assert len(recs) == len(mine) and set(recs.columns) == set(mine.columns)
    pairs = set(zip(recs["user_id"], recs["movie_id"], strict=True))
    same = pairs & set(zip(mine["user_id"], mine["movie_id"], strict=True))
    assert len(same) >= 0.9 * len(pairs), len(same) / len(pairs)
    # The saved model folder was written by the server (same filesystem here) and loads.
    assert (remote_out / "model" / "model.json").is_file()


def test_hadoop_uris_over_connect_are_read_by_the_server(
    connect_server: str, tmp_path: Path
) -> None:
    # Over Connect the server's executors read a Hadoop URI (the client has no JVM): an
    # unreachable namenode is the server's error, reported in one line naming the URI (exit 2).
    uri = "hdfs://namenode:8020/lake/ratings.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "movierec", "eda", "--remote", connect_server,
         "--data", uri, "--out", str(tmp_path / "eda")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {uri}: "), proc.stderr
    assert "namenode" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "eda").exists()
