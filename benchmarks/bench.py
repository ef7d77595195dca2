"""movierec benchmarks: Spark engine vs local engine vs a naive PySpark script.

Each sub-benchmark writes ``<out>/<name>.json`` and ``<out>/<name>.md`` (machine, versions,
date, load average, results). Pick them by flag; ``--all`` runs every one except ``blas``:

    .venv/bin/python benchmarks/bench.py --fit        # ALS fit, rank 10 and 50: spark vs local
    .venv/bin/python benchmarks/bench.py --pipeline   # `movierec run` local / spark vs naive script
    .venv/bin/python benchmarks/bench.py --scaling    # synthetic 1M/10M/25M: s/iter, RSS, GFLOP/s
    .venv/bin/python benchmarks/bench.py --topn       # top-10 for all users at 10M ratings
    .venv/bin/python benchmarks/bench.py --blas [--install-blas]   # Spark: Java vs native BLAS
    .venv/bin/python benchmarks/bench.py --all --quick   # tiny sizes, to test the scripts

``--quick`` writes to /tmp/movierec-bench/results-quick unless ``--out`` says otherwise.
Measurements that need a fresh process (peak RSS, BLAS choice, whole CLI runs) run as
subprocesses of this script (``--worker ...``); timings of those include nothing but the
step named. No numbers here are asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results"
CACHE = Path(os.environ.get("MOVIEREC_BENCH_CACHE", "/tmp/movierec-bench"))
GRID = ["--ranks", "8,10,12", "--reg-params", "0.05,0.1,0.15", "--max-iters", "10,15"]
QUICK_GRID = ["--ranks", "8", "--reg-params", "0.1", "--max-iters", "5"]
SEED = 42
REG = 0.1


# --------------------------------------------------------------------------- machine


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _java_version() -> str:
    try:
        proc = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
        return (proc.stderr or proc.stdout).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} (kernel {platform.release()})"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": mem,
        "ram_gib": round(mem / 2**30, 1),
        "os": os_name,
    }


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "movierec": _pkg("movierec"),
        "pyspark": _pkg("pyspark"),
        "numba": _pkg("numba"),
        "numpy": _pkg("numpy"),
        "pandas": _pkg("pandas"),
        "pyarrow": _pkg("pyarrow"),
        "java": _java_version(),
        "git": _git(),
    }


def header(title: str) -> dict[str, Any]:
    return {
        "benchmark": title,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "loadavg_at_start": loadavg(),
    }


def md_header(meta: dict[str, Any], title: str) -> str:
    m, v = meta["machine"], meta["versions"]
    return (
        f"## {title}\n\n"
        f"{meta['date']} · {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}  \n"
        f"Python {v['python']}, pyspark {v['pyspark']}, numba {v['numba']}, numpy {v['numpy']}, "
        f"pandas {v['pandas']}, {v['java']}; movierec {v['movierec']} ({v['git']})  \n"
        f"load average at start: {' '.join(f'{x:.2f}' for x in meta['loadavg_at_start'])}"
        f"{' · **--quick (tiny sizes)**' if meta.get('quick') else ''}\n\n"
    )


def write_result(out: Path, name: str, payload: dict[str, Any], md: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(md.rstrip() + "\n", encoding="utf-8")
    print(f"wrote {out / name}.json and .md", flush=True)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(x: Any) -> str:
        return "—" if x is None else str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def f(x: float | None, digits: int = 3) -> str | None:
    return None if x is None else f"{x:.{digits}f}"


def ratings_csv(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    base = Path(os.environ.get("MOVIEREC_DATA_DIR", REPO.parent / "shared" / "datasets"))
    return base / "ml-latest-small" / "ratings.csv"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()[:1]}] {msg}", flush=True)


def run_worker(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``bench.py --worker ...`` in a fresh process; return its last JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=_workdir()
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("WORKER ") :])
    result["stderr_tail"] = proc.stderr[-2000:]
    return result


def _workdir() -> Path:
    d = CACHE / "work"
    d.mkdir(parents=True, exist_ok=True)
    return d


def rmse_of(predicted: Any, actual: Any) -> tuple[float, int]:
    import numpy as np

    mask = ~np.isnan(predicted)
    err = predicted[mask] - np.asarray(actual, dtype=np.float64)[mask]
    return float(np.sqrt(np.mean(err * err))), int((~mask).sum())


# --------------------------------------------------------------------------- fit


def load_small(csv: Path) -> Any:
    from movierec.config import DataConfig
    from movierec.data import load_ratings

    return load_ratings(DataConfig(path=csv)).ratings


def time_fits(
    engine: Any, handle: Any, test: Any, rank: int, max_iter: int, repeats: int
) -> dict[str, Any]:
    """One warm-up fit, then ``repeats`` timed fits; RMSE of the last on ``test``."""
    from movierec.engines import ALSParams
    from movierec.schema import RATING

    params = ALSParams(rank=rank, reg_param=REG, max_iter=max_iter, seed=SEED)
    t0 = time.perf_counter()
    engine.fit(handle, params).release()
    warm = time.perf_counter() - t0
    runs, loads = [], []
    model = None
    for _ in range(repeats):
        if model is not None:
            model.release()
        loads.append(loadavg()[:1])
        t0 = time.perf_counter()
        model = engine.fit(handle, params)
        runs.append(time.perf_counter() - t0)
    assert model is not None
    rmse, cold = rmse_of(model.predict(test), test[RATING].to_numpy())
    model.release()
    return {
        "rank": rank,
        "max_iter": max_iter,
        "warmup_s": warm,
        "runs_s": runs,
        "median_s": statistics.median(runs),
        "loadavg_before_runs": loads,
        "test_rmse": rmse,
        "cold_start_rows": cold,
    }


def bench_fit(opts: argparse.Namespace) -> None:
    from movierec.engines import get_engine
    from movierec.split import random_split

    meta = header("fit") | {"quick": opts.quick}
    csv = ratings_csv(opts.data)
    ratings = load_small(csv)
    train, test = random_split(ratings, 0.2, seed=SEED)
    max_iter = 3 if opts.quick else 15
    repeats = 1 if opts.quick else 3
    # The local fits take 0.03-0.1 s: run 9 before and 9 after the Spark fits and take the
    # median of all 18, so they sample the machine's speed over the same minute as Spark's
    # (on these shared machines it drifts by ±15% over tens of seconds).
    local_repeats = 1 if opts.quick else 9
    ranks = (10, 50)
    results: dict[str, Any] = {}
    local_engine, local_handle = None, None
    for name in ("local", "spark"):
        log(f"fit: {name} engine")
        t0 = time.perf_counter()
        engine = get_engine(name)
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        handle = engine.data(train)
        data_s = time.perf_counter() - t0
        per_rank = {}
        for rank in ranks:
            n = local_repeats if name == "local" else repeats
            per_rank[str(rank)] = time_fits(engine, handle, test, rank, max_iter, n)
            log(f"  rank {rank}: {per_rank[str(rank)]['median_s']:.3f} s")
        results[name] = {"engine_start_s": start_s, "data_s": data_s, "ranks": per_rank}
        if name == "local":
            local_engine, local_handle = engine, handle
            continue
        handle.release()
        from movierec.spark import stop_spark

        stop_spark()
    log("fit: local engine again, after Spark")
    for rank in ranks:
        again = time_fits(local_engine, local_handle, test, rank, max_iter, local_repeats)
        entry = results["local"]["ranks"][str(rank)]
        entry["runs_before_spark_s"] = entry["runs_s"]
        entry["runs_after_spark_s"] = again["runs_s"]
        entry["runs_s"] = entry["runs_s"] + again["runs_s"]
        entry["median_s"] = statistics.median(entry["runs_s"])
        log(f"  rank {rank}: {again['median_s']:.3f} s (all: {entry['median_s']:.3f} s)")
    assert local_handle is not None
    local_handle.release()
    rows, summary = [], {}
    for rank in ranks:
        loc, spk = results["local"]["ranks"][str(rank)], results["spark"]["ranks"][str(rank)]
        speedup = spk["median_s"] / loc["median_s"]
        diff = abs(spk["test_rmse"] - loc["test_rmse"])
        summary[str(rank)] = {"speedup": speedup, "rmse_abs_diff": diff}
        rows.append(
            [
                rank,
                f(spk["median_s"], 2),
                f(loc["median_s"], 4),
                f"{speedup:.0f}×",
                f(spk["test_rmse"], 4),
                f(loc["test_rmse"], 4),
                f(diff, 4),
            ]
        )
    payload = meta | {
        "data": str(csv),
        "train_ratings": len(train),
        "test_ratings": len(test),
        "split": "movierec.split.random_split(ratings, 0.2, seed=42)",
        "params": {"reg_param": REG, "max_iter": max_iter, "seed": SEED},
        "results": results,
        "summary": summary,
    }
    md = md_header(meta, f"ALS fit on ml-latest-small ({max_iter} iterations)")
    md += (
        f"{len(train):,} training / {len(test):,} test ratings "
        f"(`random_split(ratings, 0.2, seed=42)`), regParam {REG}, seed {SEED}. Wall time of "
        f"`engine.fit` only (data already indexed/cached), after one warm-up fit: Spark the "
        f"median of {repeats} runs, local the median of {2 * local_repeats} "
        f"({local_repeats} before and {local_repeats} after the Spark fits, so both sample "
        "the machine over the same minute). RMSE on the test ratings whose user and movie "
        "are in training.\n\n"
    )
    md += table(
        [
            "rank",
            "Spark engine (s)",
            "local engine (s)",
            "speed-up",
            "Spark RMSE",
            "local RMSE",
            "abs ΔRMSE",
        ],
        rows,
    )
    md += (
        f"\nSpark session start {results['spark']['engine_start_s']:.1f} s (not included); "
        f"indexing/caching the training set: local {results['local']['data_s']:.3f} s, "
        f"Spark {results['spark']['data_s']:.2f} s (not included). All runs (s): "
        + "; ".join(
            f"{n} rank {r}: {', '.join(f'{x:.3f}' for x in results[n]['ranks'][str(r)]['runs_s'])}"
            for n in ("spark", "local")
            for r in ranks
        )
        + ".\n"
    )
    write_result(opts.out, "fit", payload, md)


# --------------------------------------------------------------------------- pipeline


def _timed(cmd: list[str], log_name: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_workdir())
    wall = time.perf_counter() - t0
    (logs / f"{log_name}.out").write_text(proc.stdout)
    (logs / f"{log_name}.err").write_text(proc.stderr)
    return wall, proc


def bench_pipeline(opts: argparse.Namespace) -> None:
    meta = header("pipeline") | {"quick": opts.quick}
    csv = ratings_csv(opts.data)
    grid = QUICK_GRID if opts.quick else GRID
    folds = "2" if opts.quick else "3"
    # Populate numba's on-disk cache first, so the timed run measures a normal start.
    subprocess.run(
        [sys.executable, "-c", "from movierec.engines.local_als import warm_up; warm_up()"],
        check=True,
        cwd=_workdir(),
    )
    runs: dict[str, Any] = {}
    for engine in ("local", "spark"):
        out = CACHE / f"pipeline-{engine}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [
            sys.executable,
            "-m",
            "movierec",
            "run",
            "--engine",
            engine,
            "--data",
            str(csv),
            "--out",
            str(out),
            "--models",
            "als",
            *grid,
            "--folds",
            folds,
            "--seed",
            str(SEED),
            "-q",
        ]
        log(f"pipeline: movierec run --engine {engine}")
        load = loadavg()
        wall, proc = _timed(cmd, f"pipeline-{engine}")
        rec: dict[str, Any] = {
            "command": " ".join(["movierec", *cmd[3:]]),
            "wall_s": wall,
            "exit": proc.returncode,
            "loadavg_before": load,
        }
        if proc.returncode == 0:
            s = json.loads((out / "summary.json").read_text())
            best = s["tuning"]["results"][0]
            rec |= {
                "test_rmse": s["test"]["rmse"],
                "cv_rmse": best["rmse_mean"],
                "best": {k: best[k] for k in ("model", "rank", "regParam", "maxIter")},
                "split_rmse": {str(r["train_fraction"]): r["rmse"] for r in s["split_comparison"]},
                "stage_timings_s": s["timings"],
            }
        else:
            rec["stderr_tail"] = proc.stderr[-3000:]
        runs[engine] = rec
        log(f"  {wall:.1f} s, exit {proc.returncode}")
    naive_attempts = []
    for attempt in range(2):  # default settings can die of StackOverflowError; retry once
        cmd = [sys.executable, str(HERE / "naive_pyspark.py"), "--data", str(csv)]
        if opts.quick:
            cmd.append("--quick")
        log(f"pipeline: naive_pyspark.py (attempt {attempt + 1})")
        load = loadavg()
        wall, proc = _timed(cmd, f"pipeline-naive-{attempt + 1}")
        rec = {"wall_s": wall, "exit": proc.returncode, "loadavg_before": load}
        found = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode == 0 and found:
            rec |= json.loads(found[-1][len("RESULT ") :])
        else:
            rec["stderr_tail"] = proc.stderr[-3000:]
        naive_attempts.append(rec)
        log(f"  {wall:.1f} s, exit {proc.returncode}")
        if proc.returncode == 0:
            break
    naive = naive_attempts[-1]
    runs["naive"] = naive | {"attempts": len(naive_attempts)}
    if len(naive_attempts) > 1:
        runs["naive"]["failed_attempts"] = naive_attempts[:-1]
    ok = naive["exit"] == 0
    ratios = {
        f"naive_over_{e}": (naive["wall_s"] / runs[e]["wall_s"])
        if ok and runs[e]["exit"] == 0
        else None
        for e in ("local", "spark")
    }
    payload = meta | {"data": str(csv), "grid": grid, "folds": int(folds), "runs": runs}
    payload["ratios"] = ratios
    md = md_header(meta, "Whole pipeline on ml-latest-small")
    md += (
        "Each row is one process, timed from launch to exit (Python start, JVM start where "
        f"there is one, everything). `movierec run --models als {' '.join(grid)} --folds {folds}` "
        "with the default four split ratios (0.6/0.7/0.75/0.8), hold-out evaluation beside "
        "baselines, refit on all ratings, top-10 for all users, plots and model saved; the naive "
        "script does the same steps the notebook way (`benchmarks/naive_pyspark.py`: "
        "randomSplit, CrossValidator, recommendForAllUsers). The naive script's splits differ "
        "from movierec's, so its RMSEs are not on the same rows.\n\n"
    )
    rows = []
    for key, label in (
        ("local", "movierec run --engine local"),
        ("spark", "movierec run --engine spark"),
        ("naive", "naive_pyspark.py (defaults)"),
    ):
        r = runs[key]
        speed = None
        if key != "naive" and ratios[f"naive_over_{key}"] is not None:
            speed = f"{ratios[f'naive_over_{key}']:.1f}×"
        rows.append(
            [
                label,
                f(r["wall_s"], 1) if r["exit"] == 0 else f"failed (exit {r['exit']})",
                speed if key != "naive" else "1×",
                f(r.get("cv_rmse"), 4),
                f(r.get("test_rmse"), 4),
                " ".join(f"{x:.2f}" for x in r["loadavg_before"]),
            ]
        )
    md += table(
        ["run", "wall (s)", "faster than naive", "best CV RMSE", "test RMSE", "load before"],
        rows,
    )
    stages = runs["local"].get("stage_timings_s"), runs["spark"].get("stage_timings_s")
    if all(stages):
        names = list(stages[0])
        md += "\nStage timings inside `movierec run` (s):\n\n" + table(
            ["engine", *names],
            [
                ["local", *[f(stages[0].get(n), 1) for n in names]],
                ["spark", *[f(stages[1].get(n), 1) for n in names]],
            ],
        )
    if "timings" in naive:
        md += "\nNaive script steps (s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in naive["timings"].items()
        )
        md += f"; best {naive.get('best_params')}.\n"
    if len(naive_attempts) > 1:
        md += f"\nThe naive script needed {len(naive_attempts)} attempts (see JSON).\n"
    write_result(opts.out, "pipeline", payload, md)


# --------------------------------------------------------------------------- scaling


def flops_per_iteration(user_counts: Any, item_counts: Any, k: int) -> dict[str, float]:
    """FLOPs of one ALS iteration (an item and a user half-step) as the local kernel runs them.

    ``user_counts``/``item_counts``: ratings per user / per movie. Delegates to
    :func:`movierec.engines._local_plan.solve_half_flops`, which mirrors the kernel:
    ``executed`` counts every multiply-add the kernel performs (per gathered column — the
    ratings, in blocks padded to a multiple of 8 — all 4×4 tiles on or below the diagonal
    of the padded extended Gram matrix: Gram, right-hand side and the redundant halves of
    the diagonal tiles; per row Cholesky k³/3 and two triangular solves 2k²; rows with at
    most ``dual_limit(k)`` ratings: the n×n dual system's Gram, Cholesky and Yᵀz instead);
    ``useful`` counts the minimum a symmetric primal solve needs (k(k+1)/2 + k
    multiply-adds per rating, same per-row terms). 2 FLOPs per multiply-add.
    """
    from movierec.engines._local_plan import solve_half_flops

    users = solve_half_flops(user_counts, k)
    items = solve_half_flops(item_counts, k)
    return {key: users[key] + items[key] for key in ("executed", "useful")}


def synth_path(n: int) -> Path:
    return CACHE / f"synth-{n}-seed0.parquet"


def ensure_synth(n: int) -> dict[str, Any] | None:
    path = synth_path(n)
    if path.is_file():
        return None
    log(f"synthesizing {n:,} ratings -> {path}")
    return run_worker(["synth", "--n", str(n), "--path", str(path)])


def roof(threads: int = 2) -> dict[str, Any]:
    env = {
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    return run_worker(["roof"], env=env)


def bench_scaling(opts: argparse.Namespace) -> None:
    from movierec.data.synth import parse_count

    meta = header("scaling") | {"quick": opts.quick}
    sizes = [
        parse_count(s)
        for s in (opts.sizes or ("50k,200k" if opts.quick else "1M,10M,25M")).split(",")
    ]
    log("scaling: matmul roof")
    the_roof = roof()
    log(f"  roof {the_roof['gflops_best']:.1f} GFLOP/s")
    generated = {}
    rows_out = []
    for n in sizes:
        gen = ensure_synth(n)
        if gen:
            generated[str(n)] = gen
        for rank in (10, 50):
            if rank == 50 and n >= 20_000_000 and opts.skip_25m_rank50:
                continue
            iters = 5 if rank == 10 else 3
            log(f"scaling: {n:,} ratings, rank {rank}, {iters} iterations")
            load = loadavg()
            r = run_worker(
                ["fit", "--path", str(synth_path(n)), "--rank", str(rank), "--iters", str(iters)]
            )
            r["loadavg_before"] = load
            fl = r["flops_per_iter"]  # computed by the worker from the real row lengths
            r["s_per_iter"] = r["fit_s"] / iters
            r["gflops_fit"] = fl["executed"] / r["s_per_iter"] / 1e9
            if r.get("half_steps_s"):
                solve_s = sum(r["half_steps_s"])
                r["solve_s_per_iter"] = solve_s
                r["gflops_solve"] = fl["executed"] / solve_s / 1e9
                r["gflops_solve_useful"] = fl["useful"] / solve_s / 1e9
                r["roof_fraction"] = r["gflops_solve"] / the_roof["gflops_best"]
            r["bytes_per_rating"] = r["peak_rss_bytes"] / r["nnz"]
            r["n"] = n
            rows_out.append(r)
            log(f"  {r['s_per_iter']:.3f} s/iter, peak RSS {r['bytes_per_rating']:.1f} B/rating")
    payload = meta | {
        "roof": the_roof,
        "generated": generated,
        "flop_formula": flops_per_iteration.__doc__,
        "runs": rows_out,
    }
    md = md_header(meta, "Scaling of the local engine on synthetic MovieLens-like ratings")
    md += (
        "`movierec.data.synth.synthesize(n, seed=0)` (default shape: ~n/155 users, "
        "60k·(n/25M)^0.6 movies), cached as Parquet. Each row is a fresh process: read the "
        "user/movie/rating columns with pyarrow (system allocator), index them "
        "(`LocalEngine.data`), fit ALS "
        f"(regParam {REG}) for the stated iterations after a JIT warm-up on a tiny problem, "
        "then time one more item half-step and one user half-step on their own, median of 3 "
        "after one untimed call of each (the solve "
        "phase). s/iter = fit wall time / iterations. Peak RSS = `ru_maxrss` of that process "
        "(interpreter, numba, the loaded frame, the index, factors), divided by the ratings.\n\n"
        "FLOPs per iteration: what the kernel executes, counted from the real ratings per "
        "user and per movie by `_local_plan.solve_half_flops` — per rating the register "
        "tiles' share of the upper extended Gram matrix (width w = k+1 rounded up to 4, the "
        "extra column is the right-hand side; every 4-row block i0 < k from its first column "
        "to w: 4·Σ(w − i0) multiply-adds, rank 10: 96, rank 50: 1456), and per row the "
        "blocked Cholesky (register-tile strip updates, strip solves, back substitution); "
        "rows with at most `dual_limit(k)` ratings (rank 10: 7, rank 50: 52) solve the n×n "
        "dual system instead (its Gram, an n×n Cholesky and Yᵀz). The minimum a symmetric "
        "primal solve needs (k(k+1)/2 + k "
        "multiply-adds per rating) is in the JSON as `gflops_solve_useful`. "
        "Roof: numpy float64 matmul 4096×4096 on "
        f"{the_roof['threads']} threads (OpenBLAS), best of {len(the_roof['runs_s'])}: "
        f"**{the_roof['gflops_best']:.1f} GFLOP/s**.\n\n"
    )
    rows = []
    for r in rows_out:
        rows.append(
            [
                f"{r['n']:,}",
                f"{r['n_users']:,} × {r['n_items']:,}",
                r["rank"],
                r["iters"],
                f(r["s_per_iter"], 3),
                f(r.get("solve_s_per_iter"), 3),
                f(r.get("gflops_solve"), 1),
                f"{100 * r['roof_fraction']:.0f}%" if r.get("roof_fraction") else None,
                f"{r['peak_rss_bytes'] / 2**30:.2f}",
                f(r["bytes_per_rating"], 1),
                f(r["index_s"], 2),
                " ".join(f"{x:.2f}" for x in r["loadavg_before"]),
            ]
        )
    md += table(
        [
            "ratings",
            "users × movies",
            "rank",
            "iters",
            "s/iter (fit)",
            "solve s/iter",
            "GFLOP/s",
            "of roof",
            "peak RSS (GiB)",
            "bytes/rating",
            "index (s)",
            "load before",
        ],
        rows,
    )
    md += "\nResident memory by stage (GiB; bytes per rating in brackets):\n\n" + table(
        ["ratings", "rank", "after imports + JIT", "after Parquet read", "after index", "peak"],
        [
            [f"{r['n']:,}", r["rank"]]
            + [
                f"{r[key] / 2**30:.2f} ({r[key] / r['nnz']:.0f})"
                for key in (
                    "rss_baseline_bytes",
                    "rss_after_read_bytes",
                    "rss_after_index_bytes",
                    "peak_rss_bytes",
                )
            ]
            for r in rows_out
        ],
    )
    if generated:
        md += (
            "\nGenerated this run: "
            + "; ".join(
                f"{int(k):,} ratings in {v['seconds']:.1f} s "
                f"(peak RSS {v['peak_rss_bytes'] / 2**30:.2f} GiB)"
                for k, v in generated.items()
            )
            + ".\n"
        )
    write_result(opts.out, "scaling", payload, md)


# --------------------------------------------------------------------------- top-N


def bench_topn(opts: argparse.Namespace) -> None:
    from movierec.data.synth import parse_count

    meta = header("topn") | {"quick": opts.quick}
    n = parse_count(opts.topn_size or ("200k" if opts.quick else "10M"))
    ensure_synth(n)
    log(f"topn: {n:,} ratings")
    load = loadavg()
    r = run_worker(["topn", "--path", str(synth_path(n)), "--repeats", "1" if opts.quick else "3"])
    r["loadavg_before"] = load
    payload = meta | {"n": n, "result": r}
    md = md_header(meta, f"Top-10 for all users at {n:,} ratings (local engine)")
    md += (
        f"Synthetic ratings (seed 0), ALS rank {r['rank']} fitted for {r['fit_iters']} iterations "
        f"({r['fit_s']:.1f} s, not included), then `model.recommend(None, 10, exclude=training "
        "data)`: every user's 10 best unseen movies (seen movies excluded, ties by movie id), "
        f"timed {len(r['runs_s'])}× in one process after a JIT warm-up.\n\n"
    )
    md += table(
        ["users", "movies", "rows returned", "seconds (median)", "all runs (s)", "load before"],
        [
            [
                f"{r['n_users']:,}",
                f"{r['n_items']:,}",
                f"{r['rows']:,}",
                f(r["median_s"], 2),
                ", ".join(f"{x:.2f}" for x in r["runs_s"]),
                " ".join(f"{x:.2f}" for x in load),
            ]
        ],
    )
    write_result(opts.out, "topn", payload, md)


# --------------------------------------------------------------------------- BLAS


def _native_blas_present() -> bool:
    proc = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True)
    return "libblas.so.3" in proc.stdout and "liblapack.so.3" in proc.stdout


def bench_blas(opts: argparse.Namespace) -> None:
    meta = header("blas") | {"quick": opts.quick}
    csv = ratings_csv(opts.data)
    args = ["spark-fit", "--data", str(csv), "--repeats", "1" if opts.quick else "3"]
    if opts.quick:
        args += ["--iters", "3"]
    variants: dict[str, Any] = {}
    notes: list[str] = []
    installed_here = False
    if not _native_blas_present():
        log("blas: Spark fit with Java BLAS (no native libblas.so.3)")
        variants["java"] = run_worker(args)
        if opts.install_blas:
            log("blas: apt-get install libopenblas0-pthread")
            t0 = time.perf_counter()
            ok = (
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True).returncode == 0
                and subprocess.run(
                    ["apt-get", "install", "-y", "-qq", "libopenblas0-pthread"],
                    capture_output=True,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                ).returncode
                == 0
            )
            notes.append(
                f"apt-get install libopenblas0-pthread: {'ok' if ok else 'FAILED'} "
                f"in {time.perf_counter() - t0:.0f} s"
            )
            installed_here = ok
        else:
            notes.append("native BLAS not installed and --install-blas not given")
    if _native_blas_present():
        log("blas: Spark fit with native BLAS")
        variants["native"] = run_worker(args)
        if installed_here and not opts.keep_blas:
            rm = subprocess.run(
                ["apt-get", "remove", "-y", "-qq", "libopenblas0-pthread"],
                capture_output=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            notes.append(
                "removed libopenblas0-pthread again (machine left as found)"
                if rm.returncode == 0
                else "could not remove libopenblas0-pthread"
            )
    payload = meta | {"data": str(csv), "variants": variants, "notes": notes}
    md = md_header(meta, "Spark ALS fit: Java BLAS vs native BLAS (OpenBLAS)")
    md += (
        "Spark engine (`get_engine('spark')`, local[*]) on the same ml-latest-small split as "
        "the fit benchmark; each variant in a fresh process (the BLAS is chosen when the JVM "
        "first loads netlib); median of the timed fits after one warm-up.\n\n"
    )
    rows = []
    for name, v in variants.items():
        for rank, r in v["ranks"].items():
            rows.append(
                [
                    name,
                    v.get("blas_impl"),
                    v.get("lapack_impl"),
                    rank,
                    f(r["median_s"], 2),
                    ", ".join(f"{x:.2f}" for x in r["runs_s"]),
                    f(r["test_rmse"], 4),
                ]
            )
    md += table(
        ["variant", "BLAS class", "LAPACK class", "rank", "median (s)", "runs (s)", "RMSE"], rows
    )
    if "java" in variants and "native" in variants:
        for rank in variants["java"]["ranks"]:
            j = variants["java"]["ranks"][rank]["median_s"]
            nat = variants["native"]["ranks"][rank]["median_s"]
            md += f"\nrank {rank}: native/java time ratio {nat / j:.2f}"
        md += "\n"
    if notes:
        md += "\nNotes: " + "; ".join(notes) + ".\n"
    write_result(opts.out, "blas", payload, md)


# --------------------------------------------------------------------------- workers


def _rss_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench.py --worker")
    p.add_argument("kind", choices=["synth", "roof", "fit", "topn", "spark-fit"])
    p.add_argument("--n", type=int)
    p.add_argument("--path")
    p.add_argument("--data")
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--iters", type=int)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    out: dict[str, Any] = {"kind": a.kind}
    if a.kind == "synth":
        from movierec.data.synth import save_synthetic, synthesize

        t0 = time.perf_counter()
        df = synthesize(a.n, seed=0)
        out["seconds"] = time.perf_counter() - t0
        save_synthetic(df, a.path)
        out["peak_rss_bytes"] = _peak_rss()
        out["users"] = int(df.iloc[:, 0].nunique())
        out["items"] = int(df.iloc[:, 1].nunique())
    elif a.kind == "roof":
        import numpy as np

        n = 4096
        rng = np.random.default_rng(0)
        x, y = rng.random((n, n)), rng.random((n, n))
        x @ y  # warm-up
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            x @ y
            runs.append(time.perf_counter() - t0)
        out |= {
            "n": n,
            "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or os.cpu_count(),
            "runs_s": runs,
            "gflops_best": 2 * n**3 / min(runs) / 1e9,
            "gflops_median": 2 * n**3 / statistics.median(runs) / 1e9,
            "numpy_blas": _numpy_blas(),
        }
    elif a.kind in ("fit", "topn"):
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        from movierec.engines import ALSParams
        from movierec.engines.local_als import LocalEngine, warm_up
        from movierec.schema import ITEM, RATING, USER

        # The system allocator returns freed buffers to the OS; arrow's default pool
        # (mimalloc) keeps the Parquet read buffers and would add ~20 B/rating to the RSS.
        pa.set_memory_pool(pa.system_memory_pool())
        out["warmup_s"] = warm_up()
        out["rss_baseline_bytes"] = _rss_now()
        t0 = time.perf_counter()
        tbl = pq.read_table(a.path, columns=[USER, ITEM, RATING])
        df = tbl.to_pandas(split_blocks=True, self_destruct=True)
        del tbl
        out["read_s"] = time.perf_counter() - t0
        out["rss_after_read_bytes"] = _rss_now()
        engine = LocalEngine()
        t0 = time.perf_counter()
        data = engine.data(df)
        out["index_s"] = time.perf_counter() - t0
        out["rss_after_index_bytes"] = _rss_now()
        out |= {"nnz": data.nnz, "n_users": data.n_users, "n_items": data.n_items}
        rank = a.rank
        from movierec.engines._local_plan import solve_half_flops

        fu = solve_half_flops(np.diff(data.csr_indptr), rank)
        fi = solve_half_flops(np.diff(data.csc_indptr), rank)
        out["flops_per_iter"] = {key: fu[key] + fi[key] for key in ("executed", "useful")}
        iters = (a.iters or 5) if a.kind == "fit" else 5
        params = ALSParams(rank=rank, reg_param=REG, max_iter=iters, seed=SEED)
        t0 = time.perf_counter()
        model = engine.fit(data, params)
        fit_s = time.perf_counter() - t0
        out |= {"rank": rank, "iters": iters, "fit_s": fit_s}
        if a.kind == "fit":
            try:
                from movierec.engines.local_als import solve_items, solve_users

                # One untimed call of each first: the stand-alone half-step entry points are
                # other compiled functions than the fit's, and their first call in a process
                # loads them from numba's disk cache (tens of ms, which at 1M ratings is most
                # of a half-step). Then the median of 3 timed calls.
                items = solve_items(data, model.user_factors, REG)
                solve_users(data, items, REG)
                item_s, user_s = [], []
                for _ in range(3):
                    t0 = time.perf_counter()
                    items = solve_items(data, model.user_factors, REG)
                    t1 = time.perf_counter()
                    solve_users(data, items, REG)
                    t2 = time.perf_counter()
                    item_s.append(t1 - t0)
                    user_s.append(t2 - t1)
                out["half_steps_s"] = [statistics.median(item_s), statistics.median(user_s)]
                out["half_steps_runs_s"] = [item_s, user_s]
            except (ImportError, AttributeError) as exc:  # engine API moved
                out["half_steps_error"] = repr(exc)
        else:
            out["fit_iters"] = iters
            runs = []
            rows = 0
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                recs = model.recommend(None, 10, data)
                runs.append(time.perf_counter() - t0)
                rows = len(recs)
                del recs
            out |= {"runs_s": runs, "median_s": statistics.median(runs), "rows": rows}
        out["peak_rss_bytes"] = _peak_rss()
        out["numba_threads"] = _numba_threads()
    elif a.kind == "spark-fit":
        from movierec.engines import get_engine
        from movierec.split import random_split

        ratings = load_small(Path(a.data))
        train, test = random_split(ratings, 0.2, seed=SEED)
        spark_engine = get_engine("spark")
        handle = spark_engine.data(train)
        jvm = spark_engine.spark.sparkContext._jvm  # type: ignore[attr-defined]
        ranks = {}
        for rank in (10, 50):
            ranks[str(rank)] = time_fits(spark_engine, handle, test, rank, a.iters or 15, a.repeats)
        try:
            out["blas_impl"] = jvm.dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getName()
            out["lapack_impl"] = (
                jvm.dev.ludovic.netlib.lapack.LAPACK.getInstance().getClass().getName()
            )
        except Exception as exc:
            out["blas_impl"] = f"unknown ({exc.__class__.__name__})"
        out["ranks"] = ranks
        from movierec.spark import stop_spark

        stop_spark()
    print("WORKER " + json.dumps(out), flush=True)


def _numba_threads() -> int | None:
    try:
        import numba

        return int(numba.get_num_threads())
    except Exception:
        return None


def _numpy_blas() -> str:
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


# --------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--fit", action="store_true", help="ALS fit: spark vs local engine")
    p.add_argument("--pipeline", action="store_true", help="movierec run vs the naive script")
    p.add_argument("--scaling", action="store_true", help="synthetic 1M/10M/25M, local engine")
    p.add_argument("--topn", action="store_true", help="top-10 for all users at 10M ratings")
    p.add_argument("--blas", action="store_true", help="Spark fit: Java vs native BLAS")
    p.add_argument("--all", action="store_true", help="fit, pipeline, scaling and topn")
    p.add_argument("--quick", action="store_true", help="tiny sizes, to test the scripts")
    p.add_argument("--data", help="ml-latest-small ratings.csv (default: shared datasets)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results)")
    p.add_argument("--sizes", help="scaling sizes, e.g. 1M,10M,25M")
    p.add_argument("--topn-size", help="top-N benchmark size (default 10M)")
    p.add_argument("--skip-25m-rank50", action="store_true", help="skip rank 50 above 20M")
    p.add_argument("--install-blas", action="store_true", help="apt-get install OpenBLAS (root)")
    p.add_argument("--keep-blas", action="store_true", help="keep OpenBLAS installed afterwards")
    opts = p.parse_args()
    if opts.out is None:
        opts.out = CACHE / "results-quick" if opts.quick else DEFAULT_OUT
    chosen = [
        name
        for name in ("fit", "pipeline", "scaling", "topn", "blas")
        if getattr(opts, name) or (opts.all and name != "blas")
    ]
    if not chosen:
        p.error("choose at least one of --fit --pipeline --scaling --topn --blas --all")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        started = time.perf_counter()
        {
            "fit": bench_fit,
            "pipeline": bench_pipeline,
            "scaling": bench_scaling,
            "topn": bench_topn,
            "blas": bench_blas,
        }[name](opts)
        log(f"{name} done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
