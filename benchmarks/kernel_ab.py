"""A/B check of a kernel change: two source trees, same fits, alternating processes.

Runs the local engine's fits on ml-latest-small (``random_split(ratings, 0.2, seed=42)``)
from two copies of ``src/`` — typically the commit before a kernel change and the working
tree — each in its own process with its own ``NUMBA_CACHE_DIR``, alternating A, B, A, B …
so both sample the machine over the same minutes. On a busy machine ``--threads 1 --clock cpu``
compares CPU time of single-threaded fits, which other processes disturb far less than the
wall time of a parallel fit. Each process compiles (or loads its
cache), runs one warm-up fit per configuration, then ``--repeats`` timed fits, and saves the
last fit's factors. The report gives, per configuration, the median over all timed fits of
each side, B/A, and whether the factors are bit-identical.

    git archive <old-commit> src | tar -x -C /tmp/kbase      # the "before" tree
    python benchmarks/kernel_ab.py --a /tmp/kbase/src --b src --rounds 4 \\
        --out benchmarks/results/kernel_ab.json

Configurations: explicit ``als`` at rank 10 and 50 and ``biased-als`` at rank 10 (15
iterations, regParam 0.1 / 0.15), ``implicit-als`` rank 50 (15 iterations, exact solve —
``implicit_solver="cholesky"`` where the tree has that option). Nothing is asserted: this
is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CONFIGS: list[dict[str, Any]] = [
    {"name": "als rank 10", "rank": 10, "reg_param": 0.1, "model": "als"},
    {"name": "als rank 50", "rank": 50, "reg_param": 0.1, "model": "als"},
    {"name": "biased-als rank 10", "rank": 10, "reg_param": 0.15, "model": "biased-als"},
    {"name": "implicit-als rank 50", "rank": 50, "reg_param": 0.2, "model": "implicit-als"},
]


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def worker(data: Path, repeats: int, factors_out: Path, clock: str) -> None:
    """Time the configurations in this process (PYTHONPATH picks the tree)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    import dataclasses

    import numpy as np
    import pandas as pd

    from movierec.engines.base import ALSParams
    from movierec.engines.local_als import LocalEngine
    from movierec.schema import ITEM, RATING, USER
    from movierec.split import random_split

    ratings = pd.read_csv(data).rename(columns={"userId": USER, "movieId": ITEM})
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})
    train, _ = random_split(ratings, 0.2, seed=42)
    engine = LocalEngine()
    handle = engine.data(train)
    fields = {f.name for f in dataclasses.fields(ALSParams)}
    out: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for cfg in CONFIGS:
        kw = {k: v for k, v in cfg.items() if k != "name"}
        if cfg["model"] == "implicit-als" and "implicit_solver" in fields:
            kw["implicit_solver"] = "cholesky"
        params = ALSParams(max_iter=15, seed=42, **kw)
        engine.fit(handle, params)  # warm-up (compiles or loads the cache)
        runs = []
        model = None
        for _ in range(repeats):
            t0 = now()
            model = engine.fit(handle, params)
            runs.append(now() - t0)
        assert model is not None
        out[cfg["name"]] = runs
        key = cfg["name"].replace(" ", "_")
        arrays[f"{key}_users"] = model.user_factors
        arrays[f"{key}_items"] = model.item_factors
    np.savez(factors_out, **arrays)
    print("WORKER " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", type=Path, help="src/ folder of side A (before)")
    ap.add_argument("--b", type=Path, help="src/ folder of side B (after)")
    ap.add_argument("--rounds", type=int, default=4, help="A/B process pairs")
    ap.add_argument("--repeats", type=int, default=7, help="timed fits per process")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/ml-latest-small")
    ap.add_argument("--threads", type=int, help="NUMBA_NUM_THREADS of the workers")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or the process's CPU time (with --threads 1: robust on a busy machine)",
    )
    ap.add_argument("--out", type=Path, help="write the report as JSON here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--factors", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    csv = args.data / "ratings.csv" if args.data.is_dir() else args.data
    if args.worker:
        worker(csv, args.repeats, args.factors, args.clock)
        return
    if args.a is None or args.b is None:
        ap.error("--a and --b are required")
    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="kernel-ab-"))
    sides = {"A": args.a.resolve(), "B": args.b.resolve()}
    runs: dict[str, dict[str, list[float]]] = {s: {c["name"]: [] for c in CONFIGS} for s in sides}
    loads: list[list[float]] = []
    for rnd in range(args.rounds):
        order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
        for side in order:
            env = {
                **os.environ,
                "PYTHONPATH": str(sides[side]),
                "NUMBA_CACHE_DIR": str(tmp / f"cache-{side}"),
                **({"NUMBA_NUM_THREADS": str(args.threads)} if args.threads else {}),
            }
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--data",
                str(csv),
                "--repeats",
                str(args.repeats),
                "--factors",
                str(tmp / f"factors-{side}.npz"),
                "--clock",
                args.clock,
            ]
            loads.append(_loadavg())
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"worker {side} failed:\n{proc.stderr[-3000:]}")
            for name, times in json.loads(lines[-1][7:]).items():
                runs[side][name].extend(times)
            print(f"round {rnd + 1} side {side} done (load {loads[-1][:1]})", flush=True)
    fa = np.load(tmp / "factors-A.npz")
    fb = np.load(tmp / "factors-B.npz")
    report: dict[str, Any] = {
        "a": str(sides["A"]),
        "b": str(sides["B"]),
        "rounds": args.rounds,
        "repeats_per_process": args.repeats,
        "threads": args.threads,
        "clock": args.clock,
        "loadavg_before_each_process": loads,
        "configs": {},
    }
    for cfg in CONFIGS:
        name = cfg["name"]
        key = name.replace(" ", "_")
        ma = statistics.median(runs["A"][name])
        mb = statistics.median(runs["B"][name])
        same = all(np.array_equal(fa[f"{key}_{s}"], fb[f"{key}_{s}"]) for s in ("users", "items"))
        diff = max(
            float(np.abs(fa[f"{key}_{s}"] - fb[f"{key}_{s}"]).max()) for s in ("users", "items")
        )
        report["configs"][name] = {
            "median_a_s": ma,
            "median_b_s": mb,
            "b_over_a": mb / ma,
            "factors_identical": bool(same),
            "max_abs_factor_diff": diff,
            "runs_a_s": runs["A"][name],
            "runs_b_s": runs["B"][name],
        }
        print(
            f"{name:24s} A {ma * 1000:8.2f} ms  B {mb * 1000:8.2f} ms  B/A {mb / ma:.3f}  "
            f"identical factors: {same} (max |diff| {diff:.3g})",
            flush=True,
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
