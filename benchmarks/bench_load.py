"""Local ratings reader speed, this tree against a baseline commit (issue 16).

Writes a synthetic ratings CSV (``movierec datasets synth`` → CSV with a header, 4 columns),
exports the baseline commit's ``src/`` with ``git archive``, then times ``load_ratings`` in
a fresh process per run, alternating baseline and current (B, C, B, C, ...), and reports
every time, the medians, their ratio and the load average before each run. Nothing here
asserts a time; results go to ``results/load.{json,md}``.

    .venv/bin/python benchmarks/bench_load.py --rows 10M --baseline e6566cf --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import json, sys, time
from movierec.config import DataConfig
from movierec.data import load_ratings
t0 = time.perf_counter()
loaded = load_ratings(DataConfig(path=sys.argv[1]))
dt = time.perf_counter() - t0
print("WORKER " + json.dumps({"seconds": dt, "rows": loaded.report.rows_kept}))
"""


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def rows_arg(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def make_csv(rows: int, cache: Path) -> Path:
    csv = cache / f"synth-{rows}.csv"
    if csv.exists():
        return csv
    parquet = cache / f"synth-{rows}.parquet"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-m", "movierec", "datasets", "synth", "--ratings", str(rows),
         "--out", str(parquet), "-q"],
        check=True, env=env,
    )  # fmt: skip
    import pandas as pd

    frame = pd.read_parquet(parquet).rename(columns={"user_id": "userId", "movie_id": "movieId"})
    frame.to_csv(csv, index=False)
    return csv


def run_once(src: Path, csv: Path) -> dict[str, float]:
    """One load in a fresh process: wall seconds of ``load_ratings`` and the CPU seconds
    (user + system) of the whole child process, which a busy machine disturbs less."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-c", WORKER, str(csv)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.splitlines() if x.startswith("WORKER "))
    got: dict[str, float] = json.loads(line[len("WORKER ") :])
    got["process_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="10M", help="ratings in the CSV (default 10M)")
    ap.add_argument("--baseline", default="e6566cf", help="baseline commit (default e6566cf)")
    ap.add_argument("--reps", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/movierec-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    opts = ap.parse_args()
    opts.cache.mkdir(parents=True, exist_ok=True)
    rows = rows_arg(opts.rows)
    csv = make_csv(rows, opts.cache)
    with tempfile.TemporaryDirectory(prefix="movierec-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", opts.baseline, "src"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        sides = {"baseline": Path(tmp) / "src", "current": ROOT / "src"}
        runs: list[dict[str, object]] = []
        for rep in range(opts.reps):
            for name, src in sides.items():
                before = loadavg()
                got = run_once(src, csv)
                runs.append({"side": name, "rep": rep, "loadavg_before": before, **got})
                cpu_s = got["process_cpu_seconds"]
                print(f"{name} rep {rep}: {got['seconds']:.2f} s, cpu {cpu_s:.2f} s, load {before}")

    def median(side: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs if r["side"] == side)  # type: ignore[arg-type]

    med = {side: median(side, "seconds") for side in ("baseline", "current")}
    cpu = {side: median(side, "process_cpu_seconds") for side in ("baseline", "current")}
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    payload = {
        "what": "load_ratings of a synthetic CSV (header, 4 columns), fresh process per run",
        "rows": rows,
        "file_bytes": csv.stat().st_size,
        "baseline": opts.baseline,
        "current": head,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "runs": runs,
        "median_seconds": med,
        "median_process_cpu_seconds": cpu,
        "ratio_current_over_baseline": med["current"] / med["baseline"],
        "cpu_ratio_current_over_baseline": cpu["current"] / cpu["baseline"],
    }
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "load.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        f"# Local reader: {rows:,} ratings ({csv.stat().st_size / 1e6:.0f} MB CSV)",
        "",
        f"{payload['date']}, {os.cpu_count()} CPUs; baseline {opts.baseline}, current {head}; "
        "alternating runs, a fresh process each.",
        "",
        "| run | side | load_ratings seconds | process CPU seconds | load average before |",
        "|---|---|---|---|---|",
        *(
            f"| {r['rep']} | {r['side']} | {float(r['seconds']):.2f} | "  # type: ignore[arg-type]
            f"{float(r['process_cpu_seconds']):.2f} | {r['loadavg_before']} |"  # type: ignore[arg-type]
            for r in runs
        ),
        "",
        f"Median wall: baseline {med['baseline']:.2f} s, current {med['current']:.2f} s "
        f"(ratio {payload['ratio_current_over_baseline']:.2f}); median process CPU: baseline "
        f"{cpu['baseline']:.2f} s, current {cpu['current']:.2f} s "
        f"(ratio {payload['cpu_ratio_current_over_baseline']:.2f}).",
        "",
    ]
    (opts.out / "load.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
