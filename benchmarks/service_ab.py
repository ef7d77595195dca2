"""Same-machine A/B of the HTTP service: two source trees served in alternation.

Runs ``benchmarks/bench_service.py`` for the "before" tree, then the "after" tree, round
after round (A B A B …, so a busy machine's load hits both alike), and prints a Markdown
table of the medians over the rounds for every scenario and concurrency: throughput, p50,
p99 and the server's CPU per request (the figure that depends least on what else the
machine runs), with the range of the 1-minute load average.

Example (the "before" tree: ``git archive e6566cf src | tar -x -C /tmp/before``):
  python benchmarks/service_ab.py --model /tmp/svc/models/small --before-src /tmp/before/src \\
      --after-src src --rounds 4 --duration 8 --concurrency 1,8 --out /tmp/ab-small
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(args: argparse.Namespace, variant: str, src: Path, round_: int) -> dict[str, Any]:
    out = args.out / f"{variant}-{round_}.json"
    cmd = [
        sys.executable,
        str(HERE / "bench_service.py"),
        "--model",
        str(args.model),
        "--src",
        str(src.resolve()),
        "--client",
        args.client,
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        args.concurrency,
        "--startups",
        "1",
        "--out",
        str(out),
        "--label",
        f"{variant} round {round_}",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    keys = sorted(
        {(r["scenario"], r["concurrency"]) for res in results["before"] for r in res["runs"]},
        key=lambda k: (["known", "foldin", "similar"].index(k[0]), k[1]),
    )

    def med(variant: str, key: tuple[str, int], field: str) -> float:
        values = [
            r[field]
            for res in results[variant]
            for r in res["runs"]
            if (r["scenario"], r["concurrency"]) == key
        ]
        return statistics.median(values)

    lines = [
        "| scenario | c | before req/s | after req/s | before p50 ms | after p50 ms "
        "| before p99 ms | after p99 ms | before CPU ms/req | after CPU ms/req "
        "| after/before CPU |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key in keys:
        b = {f: med("before", key, f) for f in ("throughput_rps", "p50_ms", "p99_ms")}
        a = {f: med("after", key, f) for f in ("throughput_rps", "p50_ms", "p99_ms")}
        bc = med("before", key, "server_cpu_ms_per_request")
        ac = med("after", key, "server_cpu_ms_per_request")
        lines.append(
            f"| {key[0]} | {key[1]} | {b['throughput_rps']:,.0f} | {a['throughput_rps']:,.0f} "
            f"| {b['p50_ms']:.2f} | {a['p50_ms']:.2f} | {b['p99_ms']:.2f} | {a['p99_ms']:.2f} "
            f"| {bc:.3f} | {ac:.3f} | {ac / bc:.2f} |"
        )
    loads = [r["loadavg_1min_end"] for v in results.values() for res in v for r in res["runs"]]
    ups = {
        v: statistics.median(u["cpu_seconds"] for res in results[v] for u in res["startups"])
        for v in results
    }
    lines.append("")
    lines.append(
        f"Medians of {len(results['before'])} alternating rounds; load average (1 min) "
        f"{min(loads):.1f}–{max(loads):.1f} during the runs. Start-up CPU seconds (launch to "
        f"first /health, median): before {ups['before']:.2f}, after {ups['after']:.2f}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--before-src", type=Path, required=True)
    ap.add_argument("--after-src", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--client", choices=("python", "wrk"), default="wrk")
    ap.add_argument("--out", type=Path, required=True, help="Folder for each run's JSON.")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(args.rounds):
        for variant, src in (("before", args.before_src), ("after", args.after_src)):
            results[variant].append(run(args, variant, src, i))
            print(f"round {i} {variant} done", flush=True)
    text = table(results)
    (args.out / "ab.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
