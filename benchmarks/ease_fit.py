"""EASE fit: primal (float64 / float32 Cholesky) vs dual, and the cost of a top-k sparse B.

On fold 1 of movierec's seeded 5-fold split of ml-latest-small (``split.kfold``, seed 42),
interactions = training ratings >= 3, λ = 200:

* seconds and max |B − B_ref| of :func:`movierec.engines.ease.weights_primal` in float64
  (the reference) and in float32, and of :func:`weights_dual` (float64);
* NDCG@10 / P@10 on the fold's test part (catalogue top-10, training-rated movies
  excluded, relevance >= 3) with the dense B and with B sparsified to the k
  largest-magnitude weights per row (the ``ease_topk`` option) for several k.

Example:

  python benchmarks/ease_fit.py --out benchmarks/results/ease_fit
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from movierec.config import RunConfig
from movierec.data import load_ratings
from movierec.engines.base import ALSParams
from movierec.engines.ease import gram, sparsify_rows, weights_dual, weights_primal
from movierec.engines.ease_model import EaseModel
from movierec.engines.local_als import LocalEngine
from movierec.metrics import catalogue_top_k
from movierec.schema import USER
from movierec.split import kfold


def default_data() -> str:
    """ml-latest-small from $MOVIEREC_DATA_DIR or ../shared/datasets (as the tests find it),
    else the dataset name (downloaded once into the cache)."""
    root = os.environ.get("MOVIEREC_DATA_DIR") or str(
        Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    )
    folder = Path(root) / "ml-latest-small"
    return str(folder) if folder.is_dir() else "ml-latest-small"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data(), help="dataset name or ratings path")
    ap.add_argument("--lam", type=float, default=200.0)
    ap.add_argument("--topk", default="500,1000,2000,4000")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    data: dict[str, Any] = (
        {"path": args.data} if os.path.exists(args.data) else {"dataset": args.data}
    )
    cfg = RunConfig.model_validate({"engine": "local", "data": data})
    train, test = kfold(load_ratings(cfg.data).ratings, 5, 42)[0]
    engine = LocalEngine()
    handle = engine.data(train)
    params = ALSParams(model="ease", reg_param=args.lam)
    model = engine.fit(handle, params)
    assert isinstance(model, EaseModel)
    x = model.x
    users = np.unique(test[USER].to_numpy())
    report: dict[str, Any] = {
        "data": args.data,
        "users": x.shape[0],
        "items": x.shape[1],
        "interactions": int(x.nnz),
        "lambda": args.lam,
        "load_average_1min": [os.getloadavg()[0]],
    }

    def timed(fn: Any) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - started

    ref, t64 = timed(lambda: weights_primal(gram(x), args.lam))
    b32, t32 = timed(lambda: weights_primal(gram(x).astype(np.float32), args.lam))
    bd, td = timed(lambda: weights_dual(x, args.lam))
    report["fits"] = [
        {"method": "primal float64 (potrf+potri)", "seconds": t64, "max_abs_diff": 0.0},
        {
            "method": "primal float32",
            "seconds": t32,
            "max_abs_diff": float(np.abs(b32 - ref).max()),
        },
        {
            "method": "dual float64 (users×users)",
            "seconds": td,
            "max_abs_diff": float(np.abs(bd - ref).max()),
        },
    ]
    report["max_abs_weight"] = float(np.abs(ref).max())

    def score(weights: np.ndarray | sp.csr_matrix) -> dict[str, float]:
        m = EaseModel(params, model.user_ids, model.item_ids, x, weights)
        m_recs = m.recommend(users, 10, exclude=handle)
        got = catalogue_top_k(m_recs, test, 10, 3.0)
        return {"ndcg": float(got["ndcg"]), "precision": float(got["precision"])}

    rows = [{"weights": "dense (float32)", "bytes": int(ref.nbytes), **score(ref)}]
    rows.append({"weights": "dense from float32 fit", "bytes": int(b32.nbytes), **score(b32)})
    for k in (int(v) for v in args.topk.split(",")):
        w = sparsify_rows(ref, k)
        nbytes = int(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes)
        rows.append({"weights": f"top-{k} per row", "bytes": nbytes, **score(w)})
    report["weights"] = rows
    report["load_average_1min"].append(os.getloadavg()[0])
    md = markdown(report)
    print(md)
    if args.out is not None:
        args.out.with_suffix(".json").write_text(
            json.dumps(report, indent=2) + "\n", encoding="utf-8"
        )
        args.out.with_suffix(".md").write_text(md, encoding="utf-8")


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"EASE on fold 1 of 5 ({r['users']} users, {r['items']} movies, {r['interactions']:,} "
        f"interactions >= 3), λ = {r['lambda']:g}; load average {r['load_average_1min']}.",
        "",
        "| fit | seconds | max abs diff to float64 primal |",
        "|---|---|---|",
    ]
    lines += [
        f"| {f['method']} | {f['seconds']:.2f} | {f['max_abs_diff']:.2e} |" for f in r["fits"]
    ]
    lines += [
        "",
        f"(largest |B_ij|: {r['max_abs_weight']:.3f})",
        "",
        "| weights | MB | NDCG@10 | P@10 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {w['weights']} | {w['bytes'] / 1e6:.0f} | {w['ndcg']:.4f} | {w['precision']:.4f} |"
        for w in r["weights"]
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
