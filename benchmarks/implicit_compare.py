"""Implicit-feedback ALS: movierec's local engine (implicit-als and ials, CG) against `implicit`.

One command, one process, alternating runs:

    pip install implicit threadpoolctl        # benchmark-only dependencies, not movierec's
    python -m movierec datasets synth --ratings 10000000 --out /tmp/synth-10M.parquet
    python benchmarks/implicit_compare.py --data /tmp/synth-10M.parquet   # ranks 16, 64, 128

What is timed: 5 iterations of each model (``--iters``) on the same synthetic ratings, data
conversion EXCLUDED on both sides. movierec: ``LocalEngine.fit`` on a ready ``LocalData``
(ratings already indexed as CSR by user and CSC by item); implicit: the body of
``AlternatingLeastSquares.fit`` — the same random initial factors (``random_state.random ×
0.01``) and, per iteration, ``model.solver`` (``least_squares_cg`` with 3 CG steps) on the
users then on the items — with the item-by-user CSR that ``fit`` builds by ``Cui.T.tocsr()``
computed beforehand (its time is reported separately, as is movierec's indexing). Both sides
solve the same rows of the same matrix (movierec's CSR arrays are implicit's, zero-copy).

Threads: 2 each — numba's pool (``NUMBA_NUM_THREADS``, set here before numba is imported)
and implicit's ``num_threads=2``; every run happens under
``threadpoolctl.threadpool_limits(1, "blas")`` (implicit's own warning asks for a 1-thread
BLAS; its CG takes YᵀY with numpy).

Same problem: implicit is given the confidence c = 1 + alpha·r (alpha 1) as its matrix (its
loss uses the value as the confidence, preference 1), which is movierec ``implicit-als``'s
Hu-Koren-Volinsky confidence for a rating r; both take 3 CG steps per row warm-started from
the previous factors. Regularisation: implicit's is a plain λ, movierec's implicit-als scales
λ by the row's count (Spark's form) and ials uses (n + α0·|Y|)^ν (config defaults α0 0.3,
ν 1.25) — the work per CG step does not depend on λ. ``ials`` (Rendle et al.) is a different
model of the same data: binary preference, α0·YᵀY for the unobserved pairs; its row solve is
the same CG with c = t = 1.

Each (method, rank) runs ``--repeats`` times; within a round the methods alternate (the order
rotates each round). Reported: best wall time of the repeats and best process CPU time
(``time.process_time``: all threads of this process), the 1-minute load average before every
run. On a shared machine the CPU-time ratio is the steadier one; both are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(os.environ.get("MOVIEREC_BENCH_CACHE", "/tmp/movierec-bench"))


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", default="10M", help="synthetic ratings (default 10M)")
    ap.add_argument("--data", type=Path, help="Parquet ratings (default: synth in the cache)")
    ap.add_argument("--ranks", default="16,64,128")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--methods",
        default="implicit-als-cg,ials-cg",
        help="movierec model-solver pairs to time (implicit-als-cg, ials-cg, "
        "implicit-als-cholesky, ials-cholesky)",
    )
    ap.add_argument("--no-implicit", action="store_true", help="skip the implicit library")
    ap.add_argument("--reg", type=float, default=0.1, help="regParam (implicit-als) / implicit λ")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    ap.add_argument("--name", default="implicit_compare", help="result file name (no suffix)")
    return ap.parse_args()


def main() -> None:
    args = _parse()
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pandas as pd
    from bench import loadavg, machine, table, versions
    from threadpoolctl import threadpool_limits

    from movierec.config import IALS_DEFAULTS
    from movierec.data.synth import parse_count, save_synthetic, synthesize
    from movierec.engines.base import ALSParams
    from movierec.engines.local_als import LocalEngine, warm_up

    n = parse_count(args.ratings)
    path = args.data or DEFAULT_DATA / f"synth-{n}-seed0.parquet"
    if not path.exists():
        print(f"generating {n} synthetic ratings into {path}", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_synthetic(synthesize(n, seed=0), path)
    ratings = pd.read_parquet(path)
    engine = LocalEngine()
    t0 = time.perf_counter()
    data = engine.data(ratings)
    index_seconds = time.perf_counter() - t0
    del ratings
    warm_up()
    ranks = [int(r) for r in args.ranks.split(",")]
    methods = [f"movierec-{m}" for m in args.methods.split(",") if m]
    implicit_version = None
    transpose_seconds = None
    if not args.no_implicit:
        import implicit
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.utils import check_random_state

        implicit_version = implicit.__version__
        conf = (1.0 + data.csr_values.astype(np.float64)).astype(np.float32)
        shape = (data.n_users, data.n_items)
        cui = sp.csr_matrix((conf, data.csr_indices, data.csr_indptr), shape=shape)
        t0 = time.perf_counter()
        ciu = cui.T.tocsr()  # what implicit's fit does first (not timed below)
        transpose_seconds = time.perf_counter() - t0
        methods.insert(1, "implicit")

    def run_implicit(rank: int, iters: int) -> None:
        model = AlternatingLeastSquares(
            factors=rank,
            regularization=args.reg,
            iterations=iters,
            use_cg=True,
            num_threads=args.threads,
            random_state=0,
            calculate_training_loss=False,
        )
        # AlternatingLeastSquares.fit (implicit 0.7.3) minus check_csr / astype / transpose
        rs = check_random_state(model.random_state)
        users, items = cui.shape
        model.user_factors = rs.random((users, rank), dtype=model.dtype) * 0.01
        model.item_factors = rs.random((items, rank), dtype=model.dtype) * 0.01
        solver = model.solver
        for _ in range(iters):
            solver(cui, model.user_factors, model.item_factors, args.reg, num_threads=args.threads)
            solver(ciu, model.item_factors, model.user_factors, args.reg, num_threads=args.threads)
        if not np.isfinite(model.user_factors).all():
            raise RuntimeError("implicit produced non-finite factors")

    def run_movierec(method: str, rank: int, iters: int) -> None:
        model, solver = method.removeprefix("movierec-").rsplit("-", 1)
        extra: dict[str, Any] = {"reg_param": args.reg}
        if model == "ials":
            extra = {"reg_param": IALS_DEFAULTS["reg_param"]}
        params = ALSParams(
            rank=rank,
            max_iter=iters,
            model=model,
            alpha=1.0,
            implicit_solver=solver,
            cg_steps=3,
            seed=0,
            **extra,
        )
        fitted = engine.fit(data, params)
        del fitted

    def run(method: str, rank: int, iters: int) -> tuple[float, float]:
        with threadpool_limits(1, "blas"):
            c0 = time.process_time()
            t0 = time.perf_counter()
            if method == "implicit":
                run_implicit(rank, iters)
            else:
                run_movierec(method, rank, iters)
            return time.perf_counter() - t0, time.process_time() - c0

    for method in methods:  # compile / warm every path once on the real data
        run(method, ranks[0], 1)
    runs: dict[str, dict[int, list[dict[str, float]]]] = {
        m: {r: [] for r in ranks} for m in methods
    }
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_start = loadavg()
    for rep in range(args.repeats):
        for rank in ranks:
            order = methods[rep % len(methods) :] + methods[: rep % len(methods)]
            for method in order:
                load = loadavg()[0]
                wall, cpu = run(method, rank, args.iters)
                runs[method][rank].append(
                    {"seconds": wall, "cpu_seconds": cpu, "load_1min_before": load}
                )
                print(
                    f"rank {rank:4d} {method:30s} {wall:8.2f} s wall {cpu:8.2f} s CPU "
                    f"(load {load:.2f})",
                    flush=True,
                )
    best = {m: {r: min(x["seconds"] for x in runs[m][r]) for r in ranks} for m in methods}
    best_cpu = {m: {r: min(x["cpu_seconds"] for x in runs[m][r]) for r in ranks} for m in methods}
    ours = [m for m in methods if m != "implicit"]
    rows = []
    for rank in ranks:
        row: list[Any] = [rank]
        for m in methods:
            row.append(f"{best[m][rank]:.2f} ({best_cpu[m][rank]:.2f})")
        if "implicit" in methods:
            for m in ours:
                row.append(
                    f"**{best['implicit'][rank] / best[m][rank]:.2f}×** "
                    f"({best_cpu['implicit'][rank] / best_cpu[m][rank]:.2f}×)"
                )
        rows.append(row)
    headers = ["rank", *[f"{m} wall (CPU) s" for m in methods]]
    if "implicit" in methods:
        headers += [f"implicit / {m} wall (CPU)" for m in ours]
    meta = {
        "benchmark": "implicit ALS: movierec local (implicit-als / ials, CG) vs implicit",
        "date": started,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "versions": {**versions(), "implicit": implicit_version or "not installed"},
        "loadavg_at_start": load_start,
        "loadavg_at_end": loadavg(),
        "data": {
            "path": str(path),
            "ratings": data.nnz,
            "users": data.n_users,
            "items": data.n_items,
        },
        "not_timed": {
            "movierec_index_seconds": index_seconds,
            "implicit_transpose_seconds": transpose_seconds,
        },
        "settings": {
            "iterations": args.iters,
            "threads": args.threads,
            "repeats": args.repeats,
            "reg": args.reg,
            "ials_reg": IALS_DEFAULTS["reg_param"],
            "alpha": 1.0,
            "cg_steps": 3,
            "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER", "default"),
        },
        "best_seconds": {m: {str(r): v for r, v in b.items()} for m, b in best.items()},
        "best_cpu_seconds": {m: {str(r): v for r, v in b.items()} for m, b in best_cpu.items()},
        "runs": {m: {str(r): v for r, v in x.items()} for m, x in runs.items()},
    }
    m_ = meta["machine"]
    md = (
        f"## Implicit ALS fit: movierec vs implicit ({args.iters} iterations, "
        f"{data.nnz:,} synthetic ratings)\n\n"
        f"{started} · {m_['cpu']}, {m_['cores']} cores, {m_['ram_gib']} GiB · "
        f"numba {meta['versions']['numba']}, implicit {meta['versions']['implicit']} · "
        f"{args.threads} threads each · load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{' '.join(f'{x:.2f}' for x in meta['loadavg_at_end'])}\n\n"
        f"`{meta['command']}`\n\n"
        f"{data.n_users:,} users × {data.n_items:,} movies. Best of {args.repeats} per cell: "
        "seconds of one whole fit, wall (process CPU time in brackets); the last columns are "
        "implicit's time divided by movierec's (above 1: movierec faster). Not timed: "
        f"movierec's indexing {index_seconds:.2f} s, implicit's transpose "
        + (f"{transpose_seconds:.2f} s" if transpose_seconds is not None else "—")
        + ".\n\n"
        + table(headers, rows)
        + "\nEvery run (wall s / CPU s, with the 1-minute load average before it): "
        + "; ".join(
            f"{m} rank {r}: "
            + ", ".join(
                f"{x['seconds']:.2f}/{x['cpu_seconds']:.2f} (load {x['load_1min_before']:.1f})"
                for x in runs[m][r]
            )
            for m in methods
            for r in ranks
        )
        + ".\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
