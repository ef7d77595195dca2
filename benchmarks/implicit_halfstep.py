"""One implicit half-step, single thread: movierec's CG kernel against `implicit`'s.

    python benchmarks/implicit_halfstep.py --data /tmp/synth-10M.parquet --ranks 16,64,128

A check on benchmarks/implicit_compare.py without any threading: one thread each (numba's pool
of 1, implicit ``num_threads=1``, BLAS at 1 thread), the same random fixed factors (uniform
[0, 0.1)) and warm start, one half-step of 3 CG steps per row over the items (solved from
the users' factors) and over the users, alternating movierec / implicit, process CPU time,
best of ``--repeats``. movierec: ``local_implicit.half_step`` (implicit-als, alpha 1: YᵀY
included, as implicit computes its YᵀY inside its solver); implicit:
``implicit.cpu._als.least_squares_cg`` on the confidence matrix 1 + r. Prints one line per
rank; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="Parquet ratings (datasets synth)")
    ap.add_argument("--ranks", default="16,64,128")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = "1"
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from implicit.cpu import _als
    from threadpoolctl import threadpool_limits

    from movierec.engines import local_implicit as LI
    from movierec.engines.base import ALSParams
    from movierec.engines.local_als import LocalEngine, warm_up

    data = LocalEngine().data(pd.read_parquet(args.data))
    warm_up()
    conf = (1.0 + data.csr_values.astype(np.float64)).astype(np.float32)
    shape = (data.n_users, data.n_items)
    cui = sp.csr_matrix((conf, data.csr_indices, data.csr_indptr), shape=shape)
    ciu = cui.T.tocsr()
    csr = (data.csr_indptr, data.csr_indices, data.csr_values)
    csc = (data.csc_indptr, data.csc_indices, data.csc_values)
    rng = np.random.default_rng(0)

    with threadpool_limits(1, "blas"):
        for k in (int(r) for r in args.ranks.split(",")):
            users = rng.random((data.n_users, k), dtype=np.float32) * 0.1
            items = rng.random((data.n_items, k), dtype=np.float32) * 0.1
            p = ALSParams(rank=k, model="implicit-als", alpha=1.0, implicit_solver="cg", cg_steps=3)

            def case(name: str, users: np.ndarray, items: np.ndarray, p: ALSParams) -> None:
                if name == "movierec items":
                    LI.half_step(*csc, users, items.copy(), p)
                elif name == "implicit items":
                    _als.least_squares_cg(ciu, items.copy(), users, 0.1, num_threads=1, cg_steps=3)
                elif name == "movierec users":
                    LI.half_step(*csr, items, users.copy(), p)
                else:
                    _als.least_squares_cg(cui, users.copy(), items, 0.1, num_threads=1, cg_steps=3)

            names = ["movierec items", "implicit items", "movierec users", "implicit users"]
            best: dict[str, float] = {}
            for _ in range(args.repeats):
                for name in names:
                    c0 = time.process_time()
                    case(name, users, items, p)
                    best[name] = min(best.get(name, float("inf")), time.process_time() - c0)
            load = Path("/proc/loadavg").read_text().split()[0]
            items_x = best["implicit items"] / best["movierec items"]
            users_x = best["implicit users"] / best["movierec users"]
            print(
                f"rank {k}: "
                + ", ".join(f"{n} {s:.3f} s" for n, s in best.items())
                + f"; implicit/movierec items {items_x:.2f}×, users {users_x:.2f}×"
                + f" (CPU s, best of {args.repeats}; load {load} after)",
                flush=True,
            )


if __name__ == "__main__":
    main()
