"""Driver memory of the Spark path: does the driver grow with the number of ratings?

For each size (default 1M, 10M, 50M synthetic ratings from ``movierec datasets synth``, cached in
``/tmp/movierec-bench``) and each command (``train``; ``run`` with a reduced grid), it runs
``python -m movierec <command> --engine spark`` as a separate process against

- ``cluster``: the tests' standalone cluster (tests/cluster.py: a master and two 1-core worker
  JVMs on 127.0.0.1, ``--worker-memory`` each), and/or
- ``local``: ``local[*]`` (one JVM does everything),

and records, sampled every 0.2 s from /proc:

- the Python driver's peak resident set (``VmHWM`` of the ``movierec`` process: exact peak);
- the driver JVM's peak resident set (``VmHWM`` of its java child) and its peak used heap
  (``jstat -gc``: S0U + S1U + EU + OU, sampled);
- wall time and exit code.

``--src DIR`` runs another checkout's code (its ``src/`` first on PYTHONPATH): that is how the
write-up records the code before a change (the baseline) beside the code after it, in one run.

Writes ``<out>/driver_memory.json`` and ``.md`` with the machine, versions and load average.
Nothing is asserted: this is a measurement, not a test. It takes long (50M ratings on two
1-core workers); run it on a quiet machine:

    .venv/bin/python benchmarks/driver_memory.py --sizes 1M --modes local        # a quick check
    .venv/bin/python benchmarks/driver_memory.py --label after
    .venv/bin/python benchmarks/driver_memory.py --label before --src ../baseline
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (machine header, synthetic data cache)

RUN_CONFIG = """\
# A reduced grid: the run's every stage, with one configuration to tune.
[split]
train_fractions = [0.8]
[tuning]
models = ["als"]
ranks = [10]
reg_params = [0.1]
max_iters = [5]
folds = 2
[recommend]
implicit_max_iter = 5
implicit_rank = 10
"""


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "java"
    except OSError:
        return False


def _jstat_heap_mib(pid: int) -> float | None:
    """Used heap of JVM ``pid`` (MiB) from ``jstat -gc``: survivors + eden + old."""
    jstat = shutil.which("jstat")
    if jstat is None:
        return None
    try:
        out = subprocess.run(
            [jstat, "-gc", str(pid)], capture_output=True, text=True, timeout=10
        ).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if len(out) < 2 or not out[1].strip():
        return None
    cols = dict(zip(out[0].split(), out[1].split(), strict=False))
    try:
        return sum(float(cols[k]) for k in ("S0U", "S1U", "EU", "OU")) / 1024.0
    except (KeyError, ValueError):
        return None


class Sampler(threading.Thread):
    """Peak memory of a process tree: the Python driver and its driver JVM."""

    def __init__(self, pid: int, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.python_kib = 0
        self.jvm_kib = 0
        self.jvm_heap_mib = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        last_heap = 0.0
        while not self.stop.is_set():
            hwm = _status_kib(self.pid, "VmHWM")
            if hwm is None:
                break
            self.python_kib = max(self.python_kib, hwm)
            for child in _children(self.pid):
                if _is_java(child):
                    self.jvm_kib = max(self.jvm_kib, _status_kib(child, "VmHWM") or 0)
                    if time.monotonic() - last_heap > 1.0:  # jstat costs ~0.3 s of CPU
                        heap = _jstat_heap_mib(child)
                        last_heap = time.monotonic()
                        if heap is not None:
                            self.jvm_heap_mib = max(self.jvm_heap_mib, heap)
            time.sleep(self.period)


def measure(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``cmd``; return its peak memory, wall time, exit code and stderr tail."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        sampler.stop.set()
        sampler.join()
        err.seek(0)
        tail = err.read()[-2000:]
    return {
        "exit_code": code,
        "seconds": round(time.perf_counter() - start, 1),
        "python_peak_mib": round(sampler.python_kib / 1024.0, 1),
        "driver_jvm_peak_rss_mib": round(sampler.jvm_kib / 1024.0, 1),
        "driver_jvm_peak_heap_mib": round(sampler.jvm_heap_mib, 1),
        "stderr_tail": tail if code else "",
    }


def command(
    verb: str,
    data: Path,
    out: Path,
    master: str,
    driver_memory: str,
    config: Path,
    extra: list[str],
) -> list[str]:
    cmd = [sys.executable, "-m", "movierec", verb, "--engine", "spark", "--data", str(data)]
    cmd += ["--out", str(out), "--master", master, "--driver-memory", driver_memory, "-q"]
    if verb == "run":
        cmd += ["--config", str(config)]
    return cmd + extra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1M,10M,50M")
    p.add_argument("--verbs", default="train,run")
    p.add_argument("--modes", default="cluster,local", help="cluster and/or local")
    p.add_argument("--label", default="current", help="name of this code version in the results")
    p.add_argument("--src", type=Path, help="run the code of another checkout (its src/)")
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--worker-memory", default="6g", help="cluster: memory of each worker")
    p.add_argument("--executor-memory", default="5g", help="cluster: spark.executor.memory")
    p.add_argument("--timeout", type=float, default=4 * 3600)
    p.add_argument("--out", type=Path, default=HERE / "results")
    opts = p.parse_args()

    from movierec.data.synth import parse_count

    sizes = [parse_count(s) for s in opts.sizes.split(",")]
    env = dict(os.environ)
    if opts.src is not None:
        env["PYTHONPATH"] = str((opts.src / "src").resolve())
    work = Path(tempfile.mkdtemp(prefix="movierec-drivermem-"))
    config = work / "reduced.toml"
    config.write_text(RUN_CONFIG)
    meta = bench.header("driver_memory") | {"label": opts.label, "src": str(opts.src or bench.REPO)}
    rows: list[dict[str, Any]] = []
    try:
        for mode in opts.modes.split(","):
            with contextlib.ExitStack() as stack:
                master, run_env = "local[*]", dict(env)
                extra: list[str] = []
                if mode == "cluster":
                    sys.path.insert(0, str(bench.REPO / "tests"))
                    from cluster import cluster_env, standalone_cluster

                    c = stack.enter_context(
                        standalone_cluster(work / "cluster", memory=opts.worker_memory)
                    )
                    master = c.url
                    run_env = cluster_env() | (
                        {"PYTHONPATH": env["PYTHONPATH"]} if "PYTHONPATH" in env else {}
                    )
                    extra = ["--conf", f"spark.executor.memory={opts.executor_memory}"]
                for n in sizes:
                    bench.ensure_synth(n)
                    for verb in opts.verbs.split(","):
                        out = work / f"out-{mode}-{verb}-{n}"
                        cmd = command(
                            verb, bench.synth_path(n), out, master, opts.driver_memory, config,
                            extra,
                        )  # fmt: skip
                        row = {"mode": mode, "verb": verb, "ratings": n,
                               "loadavg_before": bench.loadavg()}  # fmt: skip
                        bench.log(f"{opts.label}: {mode} {verb} {n:,} ratings")
                        row |= measure(cmd, run_env, opts.timeout)
                        bench.log(
                            f"  exit {row['exit_code']} in {row['seconds']} s: python "
                            f"{row['python_peak_mib']} MiB, driver JVM "
                            f"{row['driver_jvm_peak_rss_mib']} MiB RSS / "
                            f"{row['driver_jvm_peak_heap_mib']} MiB heap"
                        )
                        rows.append(row)
                        shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(opts.out, opts.label, meta, rows)


def write(out: Path, label: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Merge this label's rows into driver_memory.json and rewrite the Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "driver_memory.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[label] = {"meta": meta, "rows": rows}
    path.write_text(json.dumps(data, indent=2) + "\n")
    lines = ["# Driver memory on the Spark path", ""]
    for name, block in data.items():
        m = block["meta"]
        lines += [f"## {name} ({m.get('date', '')}, code: `{m.get('src', '')}`)", ""]
        lines += ["| mode | command | ratings | exit | seconds | Python peak MiB |"
                  " driver JVM RSS MiB | driver JVM heap MiB | load before |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for r in block["rows"]:
            lines.append(
                f"| {r['mode']} | {r['verb']} | {r['ratings']:,} | {r['exit_code']} | "
                f"{r['seconds']} | {r['python_peak_mib']} | {r['driver_jvm_peak_rss_mib']} | "
                f"{r['driver_jvm_peak_heap_mib']} | {r['loadavg_before']} |"
            )
        lines.append("")
    (out / "driver_memory.md").write_text("\n".join(lines))
    print(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)))


if __name__ == "__main__":
    main()
