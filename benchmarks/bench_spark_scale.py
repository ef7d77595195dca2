"""The Spark engine on large synthetic ratings read from Parquet, beside the local engine.

For each size (default 10M and 25M; ``--sizes 1M`` to check the script) it:

1. makes (or reuses) ``/tmp/movierec-bench/synth-<n>-seed0.parquet`` with bench.py's generator;
2. in a fresh process (``--worker``) starts Spark on ``--master`` (``local[2]``, or with
   ``--cluster`` a standalone master and two 1-core workers from tests/cluster.py, 4g each,
   executors 3g: ``--worker-memory``/``--executor-memory``), then times
   each stage: session start, read Parquet + cast + cache (a full scan), an untimed warm-up
   fit, an ALS fit of 1 iteration and one of ``--iters`` iterations (seconds per iteration =
   their difference / (iters − 1), so a fit's fixed cost is not counted as iteration time), and with
   ``--topn`` the distributed top-10 for every user (seen movies excluded), written to
   Spark's ``noop`` sink so nothing is collected;
3. records peak memory: the driver JVM's and each executor JVM's ``VmHWM`` (peak resident
   set, from /proc, read just before the session stops), the Python driver's ``ru_maxrss``,
   and Spark's own per-executor peak JVM heap/off-heap (movierec.executors);
4. runs bench.py's local-engine worker on the same file (read, index, fit; peak RSS).

Writes ``<out>/spark_scale.json`` and ``.md`` with machine, versions, date and load average.
No numbers are asserted: this is not a test. It is CPU-heavy; run it on a quiet machine:

    .venv/bin/python benchmarks/bench_spark_scale.py                  # 10M, 25M on local[2]
    .venv/bin/python benchmarks/bench_spark_scale.py --sizes 1M --out /tmp/movierec-bench/q
    .venv/bin/python benchmarks/bench_spark_scale.py --cluster --sizes 10M
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the shared machine header, synthetic data cache and local worker)

RANK = 10
REG = bench.REG
SEED = bench.SEED


# --------------------------------------------------------------------------- memory


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def jvm_peaks(app_id: str) -> dict[str, Any]:
    """Peak RSS (VmHWM, bytes) of this process's driver JVM and of the app's executor JVMs."""
    driver = [p for p in _children(os.getpid()) if "java" in _cmdline(p)]
    executors = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            cmd = _cmdline(int(proc.name))
            if "CoarseGrainedExecutorBackend" in cmd and app_id in cmd:
                executors.append(int(proc.name))
    hwm = {p: (_status_kib(p, "VmHWM") or 0) * 1024 for p in driver + executors}
    return {
        "driver_jvm_peak_rss_bytes": max((hwm[p] for p in driver), default=None),
        "executor_jvm_peak_rss_bytes": [hwm[p] for p in executors],
    }


# --------------------------------------------------------------------------- worker


def worker(argv: list[str]) -> None:
    """One Spark measurement in this process; prints ``WORKER <json>``."""
    p = argparse.ArgumentParser(prog="bench_spark_scale.py --worker")
    p.add_argument("--path", required=True)
    p.add_argument("--master", required=True)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--driver-memory", default="4g")
    p.add_argument("--executor-memory", default="1g")
    p.add_argument("--shuffle-partitions", type=int, default=4)
    p.add_argument("--topn", action="store_true")
    a = p.parse_args(argv)

    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType

    from movierec.config import SparkConfig
    from movierec.engines import ALSParams
    from movierec.engines.spark_als import SparkData, SparkEngine
    from movierec.executors import executor_report
    from movierec.schema import ITEM, RATING, USER
    from movierec.spark import get_spark, stop_spark

    out: dict[str, Any] = {"master": a.master, "iters": a.iters, "rank": RANK}
    checkpoint = tempfile.mkdtemp(prefix="movierec-bench-ckpt-")  # reachable by all JVMs here
    conf = {
        "spark.executor.memory": a.executor_memory,
        "spark.executor.processTreeMetrics.enabled": "true",
    }
    t0 = time.perf_counter()
    spark = get_spark(
        SparkConfig(
            master=a.master,
            driver_memory=a.driver_memory,
            shuffle_partitions=a.shuffle_partitions,
            checkpoint_dir=checkpoint,
            conf=conf,
        )
    )
    out["start_s"] = time.perf_counter() - t0
    out["default_parallelism"] = spark.sparkContext.defaultParallelism

    t0 = time.perf_counter()
    df = (
        spark.read.parquet(Path(a.path).resolve().as_uri())
        .select(
            F.col(USER).cast(IntegerType()).alias(USER),
            F.col(ITEM).cast(IntegerType()).alias(ITEM),
            F.col(RATING).cast(DoubleType()).alias(RATING),
        )
        .cache()
    )
    out["nnz"] = df.count()
    out["read_cache_s"] = time.perf_counter() - t0
    out["partitions"] = df.rdd.getNumPartitions()

    # The engine's SparkData is built from pandas; at this size the ratings stay in Spark.
    data = SparkData.__new__(SparkData)
    data.df = df
    data._ratings = None  # type: ignore[assignment]  # only .df is used by fit and top-N
    engine = SparkEngine(spark)
    fits = {}
    # The first fit in a JVM pays class loading and JIT compilation: an untimed warm-up fit.
    for label, iters in (("warmup", 1), (1, 1), (a.iters, a.iters)):
        params = ALSParams(rank=RANK, reg_param=REG, max_iter=iters, seed=SEED)
        t0 = time.perf_counter()
        model = engine.fit(data, params)
        fits[label] = time.perf_counter() - t0
        if label == "warmup":
            model.release()
            continue
        if label == a.iters and a.topn:
            t0 = time.perf_counter()
            model.recommend_df(None, 10, exclude=data).write.format("noop").mode("overwrite").save()
            out["topn_s"] = time.perf_counter() - t0
        model.release()
    out["warmup_fit_1_s"] = fits["warmup"]
    out["fit_1_s"] = fits[1]
    out[f"fit_{a.iters}_s"] = fits[a.iters]
    out["fit_s"] = fits[a.iters]
    out["s_per_iter_marginal"] = (fits[a.iters] - fits[1]) / max(a.iters - 1, 1)
    out["s_per_iter_average"] = fits[a.iters] / a.iters
    report = executor_report(spark) or {}
    out["executors"] = report.get("executors", [])
    out |= jvm_peaks(str(spark.sparkContext.applicationId))
    out["python_driver_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    df.unpersist()
    stop_spark()

    shutil.rmtree(checkpoint, ignore_errors=True)
    print("WORKER " + json.dumps(out), flush=True)


def run_spark_worker(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    # Python workers (the top-N's pandas UDF) must run this interpreter, which has pandas.
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"spark worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("WORKER ") :])
    return result


# --------------------------------------------------------------------------- report


def gib(x: float | None) -> str | None:
    return None if x is None else f"{x / 2**30:.2f}"


def markdown(payload: dict[str, Any]) -> str:
    md = bench.md_header(payload, "The Spark engine on large synthetic ratings (Parquet)")
    md += (
        f"Spark master **{payload['master']}**"
        + (
            f" (standalone: 2 workers × 1 core, {payload['worker_memory']} each, executors "
            f"{payload['executor_memory']})"
            if payload["cluster"]
            else ""
        )
        + f"; ALS rank {RANK}, regParam {REG}, 4 user/item blocks, seed {SEED}; "
        f"`{payload['iters']}` iterations. Data: bench.py's `synth-<n>-seed0.parquet`. Stages: "
        "read = `spark.read.parquet` + casts + `cache()` + `count()` (a full scan); then an "
        "untimed 1-iteration warm-up fit (class loading, JIT); "
        "s/iter (marginal) = (fit of N iterations − fit of 1) / (N − 1); "
        "s/iter (average) = fit of N / N; top-N = distributed top-10 for every user, seen "
        "excluded, to the `noop` sink. Peak memory: VmHWM of the driver JVM and of each "
        "executor JVM (local mode: none, the driver runs the tasks); Spark's peak JVM heap as "
        "reported by heartbeats. The local engine row is bench.py's `--worker fit` on the same "
        "file (its s/iter = fit / iterations, after a JIT warm-up; its RSS is the whole "
        "process). Timings taken while other work ran on the machine are noisy: see the "
        "load average per row.\n\n"
    )
    rows = []
    for r in payload["runs"]:
        s, loc = r["spark"], r.get("local") or {}
        heap = [
            e["peak_memory_bytes"].get("JVMHeapMemory")
            for e in s["executors"]
            if e["peak_memory_bytes"].get("JVMHeapMemory")
        ]
        rows.append(
            [
                f"{r['n']:,}",
                bench.f(s["start_s"], 1),
                bench.f(s["read_cache_s"], 1),
                bench.f(s["fit_1_s"], 1),
                bench.f(s["fit_s"], 1),
                bench.f(s["s_per_iter_marginal"], 2),
                bench.f(s["s_per_iter_average"], 2),
                bench.f(s.get("topn_s"), 1),
                gib(s["driver_jvm_peak_rss_bytes"]),
                " / ".join(gib(x) or "—" for x in s["executor_jvm_peak_rss_bytes"]) or "—",
                " / ".join(gib(x) or "—" for x in heap) or "—",
                bench.f(loc.get("read_s"), 1),
                bench.f(loc.get("index_s"), 1),
                bench.f(loc["fit_s"] / loc["iters"], 3) if loc else None,
                gib(loc.get("peak_rss_bytes")),
                " ".join(f"{x:.1f}" for x in r["loadavg_before"]),
            ]
        )
    md += bench.table(
        [
            "ratings",
            "Spark start (s)",
            "read+cache (s)",
            "fit 1 iter (s)",
            f"fit {payload['iters']} iters (s)",
            "Spark s/iter (marginal)",
            "Spark s/iter (avg)",
            "top-N (s)",
            "driver JVM peak RSS (GiB)",
            "executor JVM peak RSS (GiB)",
            "JVM heap peaks, Spark metrics: executors / driver (GiB)",
            "local read (s)",
            "local index (s)",
            "local s/iter",
            "local peak RSS (GiB)",
            "load before",
        ],
        rows,
    )
    return md


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="10M,25M", help="synthetic sizes, e.g. 1M or 10M,25M")
    p.add_argument("--iters", type=int, default=5, help="ALS iterations of the long fit")
    p.add_argument("--master", default="local[2]", help="Spark master when not --cluster")
    p.add_argument("--cluster", action="store_true", help="a standalone master + 2 workers")
    p.add_argument("--topn", action="store_true", help="also time the distributed top-10")
    p.add_argument("--skip-local", action="store_true", help="no local-engine row")
    p.add_argument("--driver-memory", default="4g")
    p.add_argument("--worker-memory", default="4g", help="--cluster: memory of each worker")
    p.add_argument("--executor-memory", default="3g", help="--cluster: spark.executor.memory")
    p.add_argument("--out", type=Path, default=HERE / "results")
    opts = p.parse_args()

    from movierec.data.synth import parse_count

    sizes = [parse_count(s) for s in opts.sizes.split(",")]
    bench.CACHE.mkdir(parents=True, exist_ok=True)
    meta = bench.header("spark_scale")
    runs = []
    cluster_cm: Any = None
    master, env = opts.master, None
    if opts.cluster:
        sys.path.insert(0, str(bench.REPO / "tests"))
        from cluster import cluster_env, standalone_cluster

        root = Path(tempfile.mkdtemp(prefix="movierec-cluster-"))
        cluster_cm = standalone_cluster(root, memory=opts.worker_memory)
        master, env = cluster_cm.__enter__().url, cluster_env()
    try:
        for n in sizes:
            bench.ensure_synth(n)
            path = bench.synth_path(n)
            row: dict[str, Any] = {"n": n, "loadavg_before": bench.loadavg()}
            bench.log(f"spark: {n:,} ratings on {master}")
            args = ["--path", str(path), "--master", master, "--iters", str(opts.iters)]
            args += [
                "--driver-memory",
                opts.driver_memory,
                "--executor-memory",
                opts.executor_memory,
            ]
            args += ["--topn"] if opts.topn else []
            row["spark"] = run_spark_worker(args, env)
            s = row["spark"]
            bench.log(
                f"  read+cache {s['read_cache_s']:.1f} s, {s['s_per_iter_marginal']:.2f} s/iter"
            )
            if not opts.skip_local:
                bench.log(f"local: {n:,} ratings")
                row["local"] = bench.run_worker(
                    ["fit", "--path", str(path), "--rank", str(RANK), "--iters", str(opts.iters)]
                )
                row["local"].pop("stderr_tail", None)
            runs.append(row)
    finally:
        if cluster_cm is not None:
            cluster_cm.__exit__(None, None, None)
    payload = meta | {
        "master": master,
        "cluster": opts.cluster,
        "worker_memory": opts.worker_memory if opts.cluster else None,
        "executor_memory": opts.executor_memory if opts.cluster else None,
        "iters": opts.iters,
        "sizes": sizes,
        "runs": runs,
        "loadavg_at_end": bench.loadavg(),
    }
    bench.write_result(opts.out, "spark_scale", payload, markdown(payload))


if __name__ == "__main__":
    main()
