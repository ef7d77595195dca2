"""Load benchmark of the HTTP service (issue 6): throughput and latency percentiles.

Starts ``movierec serve`` for a model folder on 127.0.0.1 (a free port), waits until
``/health`` answers (the startup time is reported), then, for each scenario and each
concurrency, runs a closed-loop load for ``--duration`` seconds: ``concurrency`` keep-alive
HTTP/1.1 connections, each sending its next request as soon as the previous answer is read.
The client is a minimal asyncio HTTP/1.1 client (uvloop when installed): much cheaper per
request than a general-purpose client, which matters when client and server share the
2 cores of the machine. Every response's status is checked (anything but 200 is an error).

Scenarios:
  known    GET /users/{random known user}/recommendations?k=10
  foldin   POST /recommendations?k=10 with 20 ratings of a random known user
  similar  GET /movies/{random movie}/similar?k=10

The server's resident memory (VmRSS) is sampled every 0.5 s; the report gives it at the
start and end of each run.

Start-up is measured ``--startups`` times (launch of ``python -m movierec serve`` to the
first ``/health`` answer, a fresh process each time) before the load runs. Every run
records the 1-minute load average of the machine, since client and server share its cores.

Example (one command; writes the JSON and a Markdown table):
  python benchmarks/bench_service.py --model /tmp/model --duration 30 --concurrency 1,8,32 \\
      --out benchmarks/results/service-small.json --md benchmarks/results/service-small.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def server_cpu_ms(pid: int, before: float, res: dict[str, Any]) -> float:
    """Server CPU milliseconds per answered request over a run (warm-up requests included
    in both counts): a cost measure that depends little on what else the machine runs."""
    answered = res["requests"] + res.get("warmup_requests", 0)
    return round(1e3 * (cpu_seconds(pid) - before) / max(answered, 1), 3)


class Server:
    """``movierec serve`` in a subprocess."""

    def __init__(self, model: Path, port: int) -> None:
        self.port = port
        started = time.perf_counter()
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-serve-{port}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "movierec", "serve", "--model", str(model), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    self.health = json.loads(r.read())
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.02)
        self.startup_seconds = time.perf_counter() - started
        self.startup_cpu_seconds = cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[float] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(OSError):
                self.samples.append(rss_mib(self.pid))
            self.stop_event.wait(0.5)


def make_requests(model: Path, scenario: str, n: int, seed: int) -> list[bytes]:
    """``n`` raw HTTP/1.1 requests for a scenario, built from the model's own ids."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    with np.load(model / "factors.npz", allow_pickle=False) as z:
        users, items = z["user_ids"], z["item_ids"]
    umap = np.load(model / "user_ids.npy") if (model / "user_ids.npy").is_file() else None
    imap = np.load(model / "item_ids.npy") if (model / "item_ids.npy").is_file() else None

    def uid(u: Any) -> str:
        return str(umap[u] if umap is not None else u)

    def iid(i: Any) -> Any:
        return imap[i].item() if imap is not None else int(i)

    out = []
    if scenario == "known":
        for u in rng.choice(users, n):
            out.append(f"GET /users/{uid(u)}/recommendations?k=10 HTTP/1.1\r\n".encode())
    elif scenario == "similar":
        for i in rng.choice(items, n):
            out.append(f"GET /movies/{iid(i)}/similar?k=10 HTTP/1.1\r\n".encode())
    elif scenario == "foldin":
        train = pq.read_table(model / "train_ratings.parquet")
        u_col = train.column("user_id").to_numpy()
        i_col = train.column("movie_id").to_numpy()
        r_col = train.column("rating").to_numpy()
        order = np.argsort(u_col, kind="stable")
        bounds = np.searchsorted(u_col[order], users)
        ends = np.append(bounds[1:], len(order))
        for _ in range(n):
            j = int(rng.integers(len(users)))
            rows = order[bounds[j] : ends[j]]
            rows = rng.choice(rows, min(20, len(rows)), replace=False)
            body = json.dumps(
                {"ratings": [{"movie_id": iid(i_col[r]), "rating": float(r_col[r])} for r in rows]}
            ).encode()
            head = (
                "POST /recommendations?k=10 HTTP/1.1\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\n"
            ).encode()
            out.append(head + b"\x00" + body)  # \x00 marks where the body goes
    else:
        raise ValueError(scenario)
    return out


def finish(raw: bytes) -> bytes:
    head, _, body = raw.partition(b"\x00")
    return head + b"host: 127.0.0.1\r\n\r\n" + body


async def worker(
    port: int,
    requests: list[bytes],
    stop_at: float,
    measure_from: float,
    latencies: list[float],
    errors: list[str],
    warm: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = random.randrange(len(requests))
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            req = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            try:
                writer.write(req)
                status_line = await reader.readline()
                status = int(status_line.split(b" ", 2)[1])
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                errors.append(repr(exc))
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                if status != 200:
                    errors.append(f"HTTP {status}")
            else:
                warm[0] += 1
    finally:
        writer.close()


async def run_load(
    port: int, requests: list[bytes], concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    warm = [0]
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    await asyncio.gather(
        *(
            worker(port, requests, stop_at, measure_from, latencies, errors, warm)
            for _ in range(concurrency)
        )
    )
    lat = np.asarray(latencies) * 1e3
    return {
        "requests": len(lat),
        "warmup_requests": warm[0],
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "throughput_rps": len(lat) / duration,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "max_ms": float(lat.max()) if len(lat) else None,
    }


async def run_open_loop(
    port: int, requests: list[bytes], rate: float, duration: float, warmup: float, conns: int = 64
) -> dict[str, Any]:
    """Open loop: requests start at a fixed rate whatever the answers do.

    Latency runs from each request's *scheduled* start, so a stalled server is charged
    for the queue it causes (no coordinated omission). ``conns`` keep-alive connections
    carry the requests; one is taken from the idle pool per request.
    """
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter() + 0.05
    measure_from = start + warmup
    total = int((warmup + duration) * rate)

    lags: list[float] = []

    async def one(scheduled: float, req: bytes) -> None:
        reader, writer = await idle.get()
        sent = time.perf_counter()
        if scheduled >= measure_from:
            lags.append(sent - scheduled)
        try:
            writer.write(req)
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            errors.append(repr(exc))
            writer.close()
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
            return
        done = time.perf_counter()
        idle.put_nowait((reader, writer))
        if scheduled >= measure_from:
            latencies.append(done - scheduled)
            if status != 200:
                errors.append(f"HTTP {status}")

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, requests[i % len(requests)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - measure_from
    while not idle.empty():
        idle.get_nowait()[1].close()
    lat = np.asarray(latencies) * 1e3
    return {
        "requests": len(lat),
        "warmup_requests": total - len(lat),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "offered_rps": rate,
        # How late the client itself sent requests (starved client or no idle connection):
        # large values mean the latency above is partly the load generator's.
        "send_lag_p99_ms": float(np.percentile(np.asarray(lags) * 1e3, 99)),
        "throughput_rps": len(lat) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
    }


def _print_run(res: dict[str, Any], label: str) -> None:
    lag = res.get("send_lag_p99_ms")
    print(
        f"{res['scenario']:8s} {label:8s} {res['throughput_rps']:8.0f} req/s  "
        f"p50 {res['p50_ms']:6.2f} ms  p95 {res['p95_ms']:6.2f} ms  "
        f"p99 {res['p99_ms']:6.2f} ms  errors {res['errors']}  "
        f"RSS {res['rss_mib_start']:.0f} -> {res['rss_mib_end']:.0f} MiB  "
        f"server CPU {res['server_cpu_ms_per_request']:.2f} ms/req  "
        + (f"send lag p99 {lag:.1f} ms  " if lag is not None else "")
        + f"load {res['loadavg_1min_end']:.1f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="Model folder to serve.")
    ap.add_argument("--scenarios", default="known,foldin,similar")
    ap.add_argument("--concurrency", default="1,8,32", help="Closed-loop concurrencies.")
    ap.add_argument(
        "--rates",
        default="",
        help="Open-loop request rates (req/s) to run per scenario too, e.g. 1000.",
    )
    ap.add_argument("--duration", type=float, default=30.0, help="Seconds per run.")
    ap.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds per run.")
    ap.add_argument("--out", type=Path, help="Write the results as JSON here.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="Free text stored with the results.")
    ap.add_argument("--startups", type=int, default=3, help="Start-up measurements.")
    ap.add_argument("--md", type=Path, help="Write the results as a Markdown table here.")
    args = ap.parse_args()

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    load_at_start = os.getloadavg()
    startups = []
    for _ in range(max(0, args.startups)):
        probe = Server(args.model, free_port())
        startups.append(
            {
                "seconds": round(probe.startup_seconds, 3),
                "cpu_seconds": round(probe.startup_cpu_seconds, 3),
                "model_load_seconds": probe.health["model"]["load_seconds"],
                "loadavg_1min": os.getloadavg()[0],
            }
        )
        probe.stop()
        print(
            f"start-up: ready {probe.startup_seconds:.2f} s after launch, "
            f"{probe.startup_cpu_seconds:.2f} CPU s (model load "
            f"{probe.health['model']['load_seconds']:.2f} s), load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    server = Server(args.model, free_port())
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    model = server.health["model"]
    print(
        f"model {args.model}: {model['model']} rank {model['rank']}, {model['users']:,} users, "
        f"{model['movies']:,} movies, {model['ratings']:,} ratings; server ready "
        f"{server.startup_seconds:.2f} s after launch (model load {model['load_seconds']:.2f} s)",
        flush=True,
    )
    runs = []
    try:
        for scenario in args.scenarios.split(","):
            reqs = [finish(r) for r in make_requests(args.model, scenario, 5000, args.seed)]
            for c in (int(x) for x in args.concurrency.split(",")):
                rss_before = rss_mib(server.proc.pid)
                cpu_before = cpu_seconds(server.proc.pid)
                res = asyncio.run(run_load(server.port, reqs, c, args.duration, args.warmup))
                rss_after = rss_mib(server.proc.pid)
                res.update(
                    server_cpu_ms_per_request=server_cpu_ms(server.proc.pid, cpu_before, res),
                    scenario=scenario,
                    concurrency=c,
                    loadavg_1min_end=os.getloadavg()[0],
                    duration_s=args.duration,
                    rss_mib_start=round(rss_before, 1),
                    rss_mib_end=round(rss_after, 1),
                )
                runs.append(res)
                _print_run(res, f"c={c}")
            for rate in (float(x) for x in args.rates.split(",") if x):
                rss_before = rss_mib(server.proc.pid)
                cpu_before = cpu_seconds(server.proc.pid)
                res = asyncio.run(
                    run_open_loop(server.port, reqs, rate, args.duration, args.warmup)
                )
                rss_after = rss_mib(server.proc.pid)
                res.update(
                    server_cpu_ms_per_request=server_cpu_ms(server.proc.pid, cpu_before, res),
                    scenario=scenario,
                    open_loop=True,
                    loadavg_1min_end=os.getloadavg()[0],
                    duration_s=args.duration,
                    rss_mib_start=round(rss_before, 1),
                    rss_mib_end=round(rss_after, 1),
                )
                runs.append(res)
                _print_run(res, f"@{rate:.0f}/s")
    finally:
        sampler.stop_event.set()
        server.stop()
    result = {
        "model": str(args.model),
        "model_info": model,
        "startup_seconds": server.startup_seconds,
        "startups": startups,
        "rss_mib_min": min(sampler.samples) if sampler.samples else None,
        "rss_mib_max": max(sampler.samples) if sampler.samples else None,
        "cpus": os.cpu_count(),
        "label": args.label,
        "loadavg_at_start": load_at_start,
        "runs": runs,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown(result))
        print(f"wrote {args.md}")


def markdown(result: dict[str, Any]) -> str:
    """The results as Markdown: model line, start-up times, one table row per run."""
    m = result["model_info"]
    lines = [
        f"Model `{result['model']}`: {m['model']} rank {m['rank']}, {m['users']:,} users, "
        f"{m['movies']:,} movies, {m['ratings']:,} ratings. {result['cpus']} CPUs; load "
        f"average at start {result['loadavg_at_start'][0]:.1f}. {result['label']}".rstrip(),
        "",
    ]
    ups = result.get("startups") or []
    if ups:
        lines.append(
            "Start-up (launch to first `/health` answer): "
            + ", ".join(
                f"{u['seconds']:.2f} s ({u['cpu_seconds']:.2f} CPU s; model load "
                f"{u['model_load_seconds']:.2f} s; "
                f"load avg {u['loadavg_1min']:.1f})"
                for u in ups
            )
            + "."
        )
        lines.append("")
    lines += [
        "| scenario | load pattern | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| server RSS MiB | server CPU ms/req | load avg |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for r in result["runs"]:
        pattern = (
            f"open, {r['offered_rps']:.0f} req/s"
            if r.get("open_loop")
            else f"closed, c={r['concurrency']}"
        )
        lines.append(
            f"| {r['scenario']} | {pattern} | {r['throughput_rps']:,.0f} | {r['p50_ms']:.2f} "
            f"| {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} of {r['requests']:,} "
            f"| {r['rss_mib_start']:.0f} → {r['rss_mib_end']:.0f} "
            f"| {r['server_cpu_ms_per_request']:.2f} | {r['loadavg_1min_end']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
