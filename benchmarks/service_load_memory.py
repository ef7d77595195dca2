"""Start-up cost and memory of loading a model folder into the service's scorer.

Prints the wall and CPU seconds of ``Scorer.load`` (and of the background rating read of
older versions), the process RSS after the load, after touching every user's seen movies
and ratings (what requests do over time; memory-mapped pages count in RSS once read), and
the peak RSS. Run it with ``PYTHONPATH`` pointing at the source tree to measure, alternating
trees on a busy machine, e.g. (SERVICE.md, "What private copies and checksums cost"):

  for i in 1 2 3; do for src in /tmp/before/src src; do
    PYTHONPATH=$src python benchmarks/service_load_memory.py /tmp/svc/s25m-model; done; done
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    import movierec
    from movierec.service.scorer import Scorer

    path = sys.argv[1]
    t0, c0 = time.perf_counter(), time.process_time()
    s = Scorer.load(path)
    wait = getattr(s, "wait_ratings", None)  # versions with a background rating read
    if wait is not None:
        wait()
    t1, c1 = time.perf_counter(), time.process_time()
    after = rss_mib()
    seen = getattr(s, "seen_items", None)
    if seen is None:
        seen = s.catalog.seen_items
    touched = int(np.asarray(seen).sum()) + float(np.asarray(s.ratings).sum())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{os.path.dirname(movierec.__file__)}: load {t1 - t0:.2f} s wall, {c1 - c0:.2f} CPU s; "
        f"RSS after load {after:.0f} MiB, after touching every seen list {rss_mib():.0f} MiB, "
        f"peak {peak:.0f} MiB; load average {os.getloadavg()[0]:.1f} ({touched > 0})"
    )


if __name__ == "__main__":
    main()
