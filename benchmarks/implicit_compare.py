"""Implicit-feedback ALS: movierec's local engine (CG and exact Cholesky) against `implicit`.

One command, one process, alternating runs:

    pip install implicit threadpoolctl        # benchmark-only dependencies, not movierec's
    python benchmarks/implicit_compare.py     # 10M synthetic ratings, ranks 16, 64, 128

What is timed: a whole fit of 5 iterations (both sides solve users then items, or items then
users, once per iteration) on the same 10M synthetic ratings (``movierec datasets synth
--ratings 10M --seed 0``, generated into ``--data`` if missing), with the data already
indexed (movierec: ``LocalData``; implicit: a float32 ``csr_matrix`` of confidences). Both
sides use 2 threads: numba's pool (``NUMBA_NUM_THREADS``, set by this script before numba is
imported) and implicit's ``num_threads=2`` with its BLAS pool limited to 1 thread
(``threadpoolctl.threadpool_limits(1, "blas")``, as implicit's own warning advises).

Same problem on both sides: movierec's ``implicit-als`` reads the ratings r with confidence
c = 1 + alpha·r (alpha 1); implicit is given c itself as its matrix (its loss uses the value
as the confidence, preference 1). implicit's regularisation is a plain λ where Spark's (and
movierec's) scales λ by the row's count — the work per iteration does not depend on it.
movierec CG: 3 steps (implicit's default ``cg_steps``), warm-started from the previous
factors as implicit's ``use_cg=True`` is. Each (method, rank) runs ``--repeats`` times in
the order movierec-cg, implicit, movierec-cholesky, rotated each round; the table shows the
best of the repeats and every run. The 1-minute load average is recorded before every run:
the machine may be shared; re-run on a quiet one for publishable numbers.
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
    ap.add_argument("--solvers", default="cg,cholesky", help="movierec solvers to time")
    ap.add_argument("--no-implicit", action="store_true", help="skip the implicit library")
    ap.add_argument("--reg", type=float, default=0.1, help="regParam / implicit regularization")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    ap.add_argument("--name", default="implicit_compare", help="result file name (no suffix)")
    return ap.parse_args()


def main() -> None:
    args = _parse()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pandas as pd
    from bench import loadavg, machine, table, versions

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
    data = engine.data(ratings)
    del ratings
    warm_up()
    ranks = [int(r) for r in args.ranks.split(",")]
    solvers = [s for s in args.solvers.split(",") if s]
    methods = [f"movierec-{s}" for s in solvers]
    implicit_version = None
    if not args.no_implicit:
        try:
            import implicit
            import scipy.sparse as sp
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits

            implicit_version = implicit.__version__
            conf = (1.0 + data.csr_values.astype(np.float64)).astype(np.float32)
            shape = (data.n_users, data.n_items)
            user_items = sp.csr_matrix((conf, data.csr_indices, data.csr_indptr), shape=shape)
            methods.insert(1, "implicit")
        except ImportError as exc:
            print(f"implicit not available ({exc}); timing movierec only", flush=True)

    def run(method: str, rank: int, iters: int) -> float:
        if method == "implicit":
            model = AlternatingLeastSquares(
                factors=rank,
                regularization=args.reg,
                iterations=iters,
                use_cg=True,
                num_threads=args.threads,
                random_state=0,
                calculate_training_loss=False,
            )
            with threadpool_limits(1, "blas"):
                t0 = time.perf_counter()
                model.fit(user_items, show_progress=False)
                return time.perf_counter() - t0
        solver = method.split("-", 1)[1]
        params = ALSParams(
            rank=rank,
            reg_param=args.reg,
            max_iter=iters,
            model="implicit-als",
            alpha=1.0,
            implicit_solver=solver,
            cg_steps=3,
            seed=0,
        )
        t0 = time.perf_counter()
        engine.fit(data, params)
        return time.perf_counter() - t0

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
                seconds = run(method, rank, args.iters)
                runs[method][rank].append({"seconds": seconds, "load_1min_before": load})
                print(f"rank {rank:4d} {method:18s} {seconds:8.2f} s (load {load:.2f})", flush=True)
    best = {m: {r: min(x["seconds"] for x in runs[m][r]) for r in ranks} for m in methods}
    rows = []
    for rank in ranks:
        row: list[Any] = [rank]
        for m in methods:
            row.append(f"{best[m][rank]:.2f}")
        if "implicit" in methods:
            for m in methods:
                if m != "implicit":
                    row.append(f"{best['implicit'][rank] / best[m][rank]:.2f}×")
        rows.append(row)
    headers = ["rank", *[f"{m} (s)" for m in methods]]
    if "implicit" in methods:
        headers += [f"implicit / {m}" for m in methods if m != "implicit"]
    meta = {
        "benchmark": "implicit ALS: movierec local (CG / Cholesky) vs implicit",
        "date": started,
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
        "settings": {
            "iterations": args.iters,
            "threads": args.threads,
            "repeats": args.repeats,
            "reg": args.reg,
            "alpha": 1.0,
            "cg_steps": 3,
            "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER", "default"),
        },
        "best_seconds": {m: {str(r): v for r, v in b.items()} for m, b in best.items()},
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
        f"{data.n_users:,} users × {data.n_items:,} movies. Best of {args.repeats} per cell "
        "(seconds of one whole fit); the last columns are implicit's time divided by "
        "movierec's (above 1: movierec faster).\n\n"
        + table(headers, rows)
        + "\nEvery run (s, with the 1-minute load average before it): "
        + "; ".join(
            f"{m} rank {r}: "
            + ", ".join(
                f"{x['seconds']:.2f} (load {x['load_1min_before']:.1f})" for x in runs[m][r]
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
