"""The Spark reader (movierec.engines.spark.read_ratings) beside today's path, on synthetic data.

Today's Spark path reads the ratings with the local reader (pandas on the driver) and ships
them with ``spark.createDataFrame(pandas)`` (``engines/spark_als.SparkData``). The Spark reader
reads, validates, numbers, de-duplicates and caches them on the executors. For each size and
input format (Parquet from ``movierec datasets synth``, and the same rows as CSV) this script
runs each path in a fresh process on ``local[2]`` (driver memory 2g) and records:

* the Python driver's peak RSS (``ru_maxrss``) and the driver JVM's peak RSS (``VmHWM``);
* wall time of the load (to a cached, counted DataFrame) and the JVM's CPU seconds;
* the machine's load average before and after (the machine is shared: wall times are noisy,
  memory is not).

Writes ``<out>/spark_reader.json`` and ``.md``. No number is asserted: this is not a test.

    .venv/bin/python benchmarks/spark_reader.py --sizes 1M,10M
    .venv/bin/python benchmarks/spark_reader.py --sizes 100k --out /tmp/movierec-bench/q   # check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (machine header, synthetic data cache)


def _jvm_pids() -> list[int]:
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == me and b"java" in Path(f"/proc/{d}/cmdline").read_bytes():
                out.append(int(d))
        except OSError:
            continue
    return out


def _status_mib(pid: int, key: str) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return None


def _cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def worker(mode: str, path: str) -> dict[str, Any]:
    """Load ``path`` one way in this process; return timings and peaks."""
    from movierec.config import DataConfig, SparkConfig
    from movierec.spark import get_spark

    spark = get_spark(SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4))
    spark.range(10).count()
    jvm = _jvm_pids()[0]
    cpu0, t0 = _cpu_s(jvm), time.perf_counter()
    cfg = DataConfig(path=Path(path))
    if mode == "spark":
        from movierec.engines.spark.reader import read_ratings

        loaded = read_ratings(spark, cfg)
        rows = loaded.ratings.count()
    else:
        from movierec.data import load_ratings
        from movierec.engines.spark_als import SparkData

        data = SparkData(spark, load_ratings(cfg).ratings)
        rows = data.df.count()
    wall = time.perf_counter() - t0
    return {
        "mode": mode,
        "rows": rows,
        "wall_s": round(wall, 2),
        "jvm_cpu_s": round(_cpu_s(jvm) - cpu0, 2),
        "python_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "jvm_peak_mib": _status_mib(jvm, "VmHWM"),
    }


def _csv_of(parquet: Path) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = parquet.with_suffix(".csv")
    if not out.is_file():
        bench.log(f"writing {out}")
        pacsv.write_csv(pq.read_table(parquet), str(out) + ".tmp")
        os.replace(str(out) + ".tmp", out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--formats", default="parquet,csv")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.worker:
        print(json.dumps(worker(*opts.worker)))
        return
    from movierec.data.synth import parse_count

    meta = bench.header("spark_reader")
    runs = []
    for size in opts.sizes.split(","):
        n = parse_count(size)
        bench.ensure_synth(n)
        parquet = bench.synth_path(n)
        for fmt in opts.formats.split(","):
            path = parquet if fmt == "parquet" else _csv_of(parquet)
            for mode in ("baseline", "spark"):
                load = bench.loadavg()
                bench.log(f"{size} {fmt} {mode} (load {load[0]:.1f})")
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", mode, str(path)],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr[-3000:])
                run = json.loads(proc.stdout.strip().splitlines()[-1])
                runs.append({"size": size, "format": fmt, "loadavg": load, **run})
                bench.log(f"  {runs[-1]}")
    opts.out.mkdir(parents=True, exist_ok=True)
    result = meta | {"runs": runs, "loadavg_at_end": bench.loadavg()}
    (opts.out / "spark_reader.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        bench.md_header(meta, "Spark reader vs today's path (local reader + createDataFrame)"),
        "| size | format | path | Python driver peak MiB | driver JVM peak MiB | wall s | "
        "JVM CPU s | load avg (1 min) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        path = "Spark reader" if r["mode"] == "spark" else "today (pandas + createDataFrame)"
        lines.append(
            f"| {r['size']} | {r['format']} | {path} | {r['python_peak_mib']:.0f} | "
            f"{r['jvm_peak_mib']:.0f} | {r['wall_s']:.1f} | {r['jvm_cpu_s']:.1f} | "
            f"{r['loadavg'][0]:.1f} |"
        )
    (opts.out / "spark_reader.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
