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

``--client wrk`` runs the closed-loop load with wrk (a C client; ``apt-get install -y
wrk``; Lua script generated here) instead of the asyncio client, and ``--workers N``
serves with ``movierec serve --workers N`` (server CPU and memory are then summed over its
processes; memory as PSS). Every run also reports the client's CPU per request.

Example (one command; writes the JSON and a Markdown table):
  python benchmarks/bench_service.py --model /tmp/model --client wrk --workers 2 \\
      --duration 30 --concurrency 1,8,32 --out benchmarks/results/service-small.json \\
      --md benchmarks/results/service-small.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
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


def _one_rss(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _one_pss(pid: int) -> float:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    """Memory of the server in MiB: the resident set (VmRSS) of its process or, with
    ``--workers N`` (several processes), the sum of their proportional set sizes (Pss: a
    page shared by n processes — the forked model arrays, the memory-mapped serving index
    — counts 1/n in each), so the figure is what the service occupies, not a multiple."""
    pids = _descendants(pid)
    one = _one_rss if len(pids) == 1 else _one_pss
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):
            total += one(p)
    return total


def _descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (``movierec serve --workers N`` forks)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return out


def _one_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process (all its threads) and its live
    child processes (the workers of ``movierec serve --workers N``)."""
    total = 0.0
    for p in _descendants(pid):
        with contextlib.suppress(OSError):
            total += _one_cpu(p)
    return total


def server_cpu_ms(pid: int, before: float, res: dict[str, Any]) -> float:
    """Server CPU milliseconds per answered request over a run (warm-up requests included
    in both counts): a cost measure that depends little on what else the machine runs."""
    answered = res["requests"] + res.get("warmup_requests", 0)
    return round(1e3 * (cpu_seconds(pid) - before) / max(answered, 1), 3)


class Server:
    """``movierec serve`` in a subprocess."""

    def __init__(self, model: Path, port: int, workers: int = 1, src: Path | None = None) -> None:
        self.port = port
        started = time.perf_counter()
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-serve-{port}.log"
        self.log = self.log_path.open("w")
        cmd = [
            sys.executable,
            "-m",
            "movierec",
            "serve",
            "--model",
            str(model),
            "--port",
            str(port),
        ]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        env = dict(os.environ)
        if src is not None:  # serve another checkout's code (A/B runs)
            env["PYTHONPATH"] = str(src)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
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


# ---------------------------------------------------------------------- wrk (C client)

WRK_SCRIPT = r"""
-- movierec bench_service.py: cycle through prepared requests, report JSON when done.
-- Data file: one request a line, "METHOD<TAB>PATH<TAB>BODY" (BODY may be empty).
local reqs, n, i = {}, 0, 0
local counter = 0
function setup(thread)
  thread:set("offset", counter * 997)
  counter = counter + 1
end
function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]*)\t(.*)$")
    local headers = nil
    if body == "" then
      body = nil
    else
      headers = {["Content-Type"] = "application/json"}
    end
    n = n + 1
    reqs[n] = wrk.format(method, path, headers, body)
  end
  f:close()
  i = ((tonumber(args[2]) or 0) + (offset or 0)) % n
end
function request()
  i = i % n + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"connect\": %d, \"read\": %d, "
    .. "\"write\": %d, \"status\": %d, \"timeout\": %d, \"p50_us\": %d, "
    .. "\"p95_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def wrk_files(requests: list[bytes], folder: Path, scenario: str) -> tuple[Path, Path]:
    """(Lua script, data file) for wrk: the same requests as the Python client sends."""
    script = folder / "bench_service.lua"
    script.write_text(WRK_SCRIPT)
    data = folder / f"{scenario}.tsv"
    lines = []
    for raw in requests:
        head, _, body = raw.partition(b"\x00")
        method, path = head.split(b" ", 2)[:2]
        if b"\t" in body or b"\n" in body:
            raise ValueError("request body with a tab or newline")
        lines.append(method + b"\t" + path + b"\t" + body)
    data.write_bytes(b"\n".join(lines) + b"\n")
    return script, data


def _wrk(
    port: int, script: Path, data: Path, connections: int, seconds: int, threads: int, seed: int
) -> dict[str, Any]:
    """One wrk run; its JSON summary (printed by the script's ``done``)."""
    cmd = [
        "wrk",
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(data),
        str(seed),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            summary: dict[str, Any] = json.loads(line[8:])
            return summary
    raise RuntimeError(f"no summary from wrk: {proc.stdout[-500:]}")


def run_wrk(
    port: int,
    script: Path,
    data: Path,
    concurrency: int,
    duration: float,
    threads: int,
    seed: int,
) -> dict[str, Any]:
    """Closed loop with wrk: ``concurrency`` keep-alive connections for ``duration`` s
    (whole seconds). Latency percentiles come from wrk's HdrHistogram; non-2xx/3xx answers
    and socket errors count as errors; the CPU wrk used is reported per request."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = _wrk(port, script, data, concurrency, max(1, round(duration)), threads, seed)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seconds = w["duration_us"] / 1e6
    errors = {k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]}
    return {
        "client": "wrk",
        "requests": w["requests"],
        "measured_requests_only": True,
        "errors": sum(errors.values()),
        "error_examples": [f"{k}: {v}" for k, v in errors.items()],
        "throughput_rps": w["requests"] / seconds,
        "p50_ms": w["p50_us"] / 1e3,
        "p95_ms": w["p95_us"] / 1e3,
        "p99_ms": w["p99_us"] / 1e3,
        "max_ms": w["max_us"] / 1e3,
        "client_cpu_ms_per_request": round(1e3 * client_cpu / max(w["requests"], 1), 3),
    }


def _print_run(res: dict[str, Any], label: str) -> None:
    lag = res.get("send_lag_p99_ms")
    print(
        f"{res['scenario']:8s} {label:8s} {res['throughput_rps']:8.0f} req/s  "
        f"p50 {res['p50_ms']:6.2f} ms  p95 {res['p95_ms']:6.2f} ms  "
        f"p99 {res['p99_ms']:6.2f} ms  errors {res['errors']}  "
        f"RSS {res['rss_mib_start']:.0f} -> {res['rss_mib_end']:.0f} MiB  "
        f"server CPU {res['server_cpu_ms_per_request']:.2f} ms/req  "
        f"client CPU {res.get('client_cpu_ms_per_request', float('nan')):.2f} ms/req  "
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
    ap.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="Closed-loop load generator: the asyncio client here, or wrk (C; Debian: "
        "apt-get install -y wrk), which needs far less CPU per request. Open-loop runs "
        "(--rates) always use the Python client.",
    )
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (-t).")
    ap.add_argument(
        "--workers", type=int, default=1, help="Server processes (movierec serve --workers)."
    )
    ap.add_argument(
        "--src",
        type=Path,
        help="Serve the movierec package under this src/ folder (PYTHONPATH of the server), "
        "e.g. a checkout of an older commit for a same-machine A/B (benchmarks/service_ab.py).",
    )
    args = ap.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        ap.error("--client wrk: wrk is not installed (Debian: apt-get install -y wrk)")

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    load_at_start = os.getloadavg()
    startups = []
    for _ in range(max(0, args.startups)):
        probe = Server(args.model, free_port(), src=args.src)
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
    server = Server(args.model, free_port(), args.workers, src=args.src)
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
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    try:
        for scenario in args.scenarios.split(","):
            raw = make_requests(args.model, scenario, 5000, args.seed)
            reqs = [finish(r) for r in raw]
            if args.client == "wrk":
                script, data = wrk_files(raw, tmp, scenario)
            for c in (int(x) for x in args.concurrency.split(",")):
                rss_before = rss_mib(server.proc.pid)
                if args.client == "wrk":
                    if args.warmup > 0:  # not counted in the server CPU (as the run's own)
                        _wrk(server.port, script, data, c, max(1, round(args.warmup)), 1, 1)
                    cpu_before = cpu_seconds(server.proc.pid)
                    res = run_wrk(server.port, script, data, c, args.duration, args.wrk_threads, 0)
                else:
                    cpu_before = cpu_seconds(server.proc.pid)
                    client_before = time.process_time()
                    res = asyncio.run(run_load(server.port, reqs, c, args.duration, args.warmup))
                    res["client"] = "python"
                    res["client_cpu_ms_per_request"] = round(
                        1e3
                        * (time.process_time() - client_before)
                        / max(res["requests"] + res["warmup_requests"], 1),
                        3,
                    )
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
                client_before = time.process_time()
                res = asyncio.run(
                    run_open_loop(server.port, reqs, rate, args.duration, args.warmup)
                )
                res["client"] = "python"
                res["client_cpu_ms_per_request"] = round(
                    1e3 * (time.process_time() - client_before) / max(res["requests"], 1), 3
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
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "model": str(args.model),
        "model_info": model,
        "startup_seconds": server.startup_seconds,
        "startups": startups,
        "rss_mib_min": min(sampler.samples) if sampler.samples else None,
        "rss_mib_max": max(sampler.samples) if sampler.samples else None,
        "cpus": os.cpu_count(),
        "label": args.label,
        "src": str(args.src) if args.src else None,
        "client": args.client,
        "workers": args.workers,
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
        f"average at start {result['loadavg_at_start'][0]:.1f}. Closed-loop client: "
        f"{result.get('client', 'python')}; server processes: {result.get('workers', 1)}. "
        f"{result['label']}".rstrip(),
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
        f"| server {'PSS' if result.get('workers', 1) > 1 else 'RSS'} MiB "
        "| server CPU ms/req | client CPU ms/req | load avg |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|",
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
            f"| {r['server_cpu_ms_per_request']:.2f} "
            f"| {r.get('client_cpu_ms_per_request', float('nan')):.2f} "
            f"| {r['loadavg_1min_end']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
