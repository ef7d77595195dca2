"""A real Spark standalone cluster for tests: one master and N workers as separate JVMs.

Everything comes from the pip-installed pyspark (``pyspark/bin/spark-class``), listens on
127.0.0.1 only, and writes its logs and work folders under a given directory. ``spark-class``
execs Java, so each ``Popen.pid`` is the JVM's PID; teardown kills exactly those PIDs (and the
executor JVMs the workers spawned, found through each worker's process group).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

TEST_SPARK_CONF = {"spark.sql.adaptive.enabled": "false"}
"""Spark settings every test JVM gets (the session fixture, the cluster drivers, the Connect
server). Adaptive execution re-plans each query at its shuffles, which on these small
inputs costs more than it saves: a `movierec run` on ml-latest-small in a warm local[2]
JVM took 79 s with it and 61 s without (2026-12-07, this 2-core machine). Results are
the same either way; the product keeps Spark's default."""


def conf_args() -> list[str]:
    """``--conf key=value`` arguments for :data:`TEST_SPARK_CONF`."""
    return [arg for key, value in TEST_SPARK_CONF.items() for arg in ("--conf", f"{key}={value}")]


def spark_home() -> Path:
    """The pip-installed pyspark folder (it holds ``bin/`` and ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and parse the JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def cluster_env() -> dict[str, str]:
    """Environment for the cluster JVMs and for drivers that talk to them."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["SPARK_HOME"] = str(spark_home())
    env["PYSPARK_PYTHON"] = sys.executable  # executors run the same Python as the driver
    env.pop("SPARK_CONF_DIR", None)
    return env


@dataclass
class Worker:
    """One worker JVM: its PID, web UI port and work folder."""

    proc: subprocess.Popen[bytes]
    webui_port: int
    work_dir: Path
    log: TextIO

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}"

    def state(self) -> Any:
        """The worker's own JSON status (executors running and finished, per application)."""
        return get_json(f"{self.url}/json/")

    def kill(self) -> None:
        """SIGKILL the worker JVM (as a machine crash would)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@dataclass
class Cluster:
    """A running standalone cluster: master URL, web UI and workers."""

    port: int
    webui_port: int
    root: Path
    master: subprocess.Popen[bytes] | None = None
    workers: list[Worker] = field(default_factory=list)
    _logs: list[TextIO] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def webui(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}"

    def state(self) -> Any:
        """The master's JSON status: workers, active and completed applications."""
        return get_json(f"{self.webui}/json/")

    def alive_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.state()["workers"] if w["state"] == "ALIVE"]

    def _spark_class(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.root / log_name).open("w")
        self._logs.append(log)
        cmd = [str(spark_home() / "bin" / "spark-class"), *args]
        # A new session per JVM: a worker's executors share its process group, so teardown
        # can end them with the worker even when the worker was killed first.
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=cluster_env(), start_new_session=True
        )

    def start_master(self) -> None:
        self.master = self._spark_class(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(self.port), "--webui-port", str(self.webui_port)],
            "master.log",
        )  # fmt: skip
        self._wait(lambda: self.state() is not None, "the master web UI", 90)

    def add_worker(self, cores: int = 1, memory: str = "1536m", wait: bool = True) -> Worker:
        """Start one more worker; with ``wait``, return once the master lists it as ALIVE."""
        n = len(self.workers)
        work = self.root / f"worker{n}"
        work.mkdir(parents=True, exist_ok=True)
        webui = free_port()
        before = len(self.alive_workers())
        proc = self._spark_class(
            ["org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
             "--cores", str(cores), "--memory", memory, "--webui-port", str(webui),
             "--work-dir", str(work)],
            f"worker{n}.log",
        )  # fmt: skip
        worker = Worker(proc, webui, work, self._logs[-1])
        self.workers.append(worker)
        if wait:
            self.wait_for_workers(before + 1)
        return worker

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        """Wait until the master lists at least ``n`` ALIVE workers."""
        self._wait(lambda: len(self.alive_workers()) >= n, f"{n} workers to register", timeout)

    def _wait(self, ready: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in [self.master, *(w.proc for w in self.workers)]:
                if p is not None and p.poll() is not None:
                    raise RuntimeError(
                        f"a cluster JVM exited while waiting for {what}: {self.logs()}"
                    )
            try:
                if ready():
                    return
            except (OSError, ValueError):
                # Not up yet: refused connections, or (ValueError: JSONDecodeError) a web UI
                # that answers with an empty body while it is still starting.
                pass
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}: {self.logs()}")

    def logs(self) -> str:
        """The tail of every JVM log, for failure messages."""
        out = []
        for path in sorted(self.root.glob("*.log")):
            out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-1500:])
        return "\n".join(out)

    def stop(self) -> None:
        """Kill every JVM this cluster started (workers' process groups hold their executors)."""
        for worker in self.workers:
            _kill_group(worker.proc)
        if self.master is not None:
            _kill_group(self.master)
        for log in self._logs:
            log.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The process group id is the JVM's PID (start_new_session); it outlives a killed leader
    # while the executors it spawned still run.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


@contextmanager
def standalone_cluster(
    root: Path, workers: int = 2, cores: int = 1, memory: str = "1536m"
) -> Iterator[Cluster]:
    """Start a master and ``workers`` workers (``cores`` and ``memory`` each) under ``root``;
    stop them all afterwards, also when the body fails."""
    root.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(port=free_port(), webui_port=free_port(), root=root)
    try:
        cluster.start_master()
        for _ in range(workers):  # the JVMs start side by side
            cluster.add_worker(cores=cores, memory=memory, wait=False)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.stop()
