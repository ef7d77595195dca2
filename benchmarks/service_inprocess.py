"""CPU per request of the service's hot routes, in-process (ASGI calls, no sockets).

Calls the app returned by ``create_app(model)`` directly with prepared ASGI requests —
``GET /users/{id}/recommendations?k=10``, ``GET /movies/{id}/similar?k=10`` and ``POST
/recommendations?k=10`` with 20 ratings of a random user — and reports the process CPU
milliseconds per request. No HTTP parsing, no client on the same cores: the figure moves
far less with the machine's load than socket benchmarks do, which makes it the fairer A/B
on a shared machine. BLAS is pinned to one thread, as ``movierec serve`` does.

``--variant NAME=SRC`` (repeatable) runs each variant in its own process with
``PYTHONPATH=SRC``, alternating them round after round, and prints the medians; a variant
name ending in ``-nofast`` builds the app with ``fast_paths=False`` (FastAPI's own
dispatch for every request). Example:

  python benchmarks/service_inprocess.py --model /tmp/svc/models/small --rounds 6 \\
      --variant before=/tmp/before/src --variant after=src --variant after-nofast=src
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _requests(model: Path, seed: int) -> dict[str, list[tuple[str, str, bytes, bytes]]]:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    with np.load(model / "factors.npz") as z:
        users, items = z["user_ids"], z["item_ids"]
    t = pq.read_table(model / "train_ratings.parquet")
    u_col = t.column("user_id").to_numpy()
    i_col = t.column("movie_id").to_numpy()
    r_col = t.column("rating").to_numpy()
    order = np.argsort(u_col, kind="stable")
    bounds = np.searchsorted(u_col[order], users)
    ends = np.append(bounds[1:], len(order))

    def body(j: int) -> bytes:
        rows = order[bounds[j] : ends[j]]
        rows = rng.choice(rows, min(20, len(rows)), replace=False)
        ratings = [{"movie_id": int(i_col[r]), "rating": float(r_col[r])} for r in rows]
        return json.dumps({"ratings": ratings}).encode()

    return {
        "known": [
            ("GET", f"/users/{u}/recommendations", b"k=10", b"") for u in rng.choice(users, 500)
        ],
        "similar": [("GET", f"/movies/{i}/similar", b"k=10", b"") for i in rng.choice(items, 500)],
        "foldin": [
            ("POST", "/recommendations", b"k=10", body(int(rng.integers(len(users)))))
            for _ in range(500)
        ],
    }


async def _call(app: Any, method: str, path: str, qs: bytes, payload: bytes) -> int:
    headers = [(b"host", b"bench")]
    if payload:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": qs,
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "scheme": "http",
        "root_path": "",
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def worker(model: Path, calls: int, fast: bool, seed: int) -> dict[str, float]:
    """CPU ms per request of each route (after 100 warm-up calls each)."""
    from movierec.service.app import create_app

    app = create_app(model, api_key="", **({} if fast else {"fast_paths": False}))
    reqs = _requests(model, seed)

    async def main() -> dict[str, float]:
        out = {}
        async with app.router.lifespan_context(app):
            for name, rs in reqs.items():
                for r in rs[:100]:
                    assert await _call(app, *r) == 200
                c0 = time.process_time()
                for k in range(calls):
                    await _call(app, *rs[k % len(rs)])
                out[name] = (time.process_time() - c0) / calls * 1e3
        return out

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--calls", type=int, default=3000, help="Calls per route and run.")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--variant", action="append", default=[], help="NAME=SRC (repeatable).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-fast", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.model, args.calls, not args.no_fast, args.seed)))
        return
    variants = [v.split("=", 1) for v in args.variant] or [["current", ""]]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    loads = []
    for i in range(args.rounds):
        for name, src in variants:
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = str(Path(src).resolve())
            cmd = [sys.executable, __file__, "--worker", "--model", str(args.model)]
            cmd += ["--calls", str(args.calls), "--seed", str(args.seed)]
            if name.endswith("-nofast"):
                cmd.append("--no-fast")
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
            print(f"round {i} {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    routes = ["known", "similar", "foldin"]
    print("| variant | " + " | ".join(f"{r} CPU ms/req (median, min–max)" for r in routes) + " |")
    print("|---|" + "--:|" * len(routes))
    for name, runs in results.items():
        cells = []
        for r in routes:
            v = [run[r] for run in runs]
            cells.append(f"{statistics.median(v):.3f} ({min(v):.3f}–{max(v):.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        f"\n{args.rounds} alternating rounds of {args.calls} calls per route; load average "
        f"(1 min) {min(loads):.1f}–{max(loads):.1f}."
    )


if __name__ == "__main__":
    main()
