"""Which Spark executors took part in a run, read from Spark's own status store.

The driver keeps a record of every executor of the application, the ones still alive and
the ones that were lost (up to ``spark.ui.retainedDeadExecutors``, default 100), with the
number of tasks each ran and why a lost one was removed. This store exists with the web UI
turned off, so the run's summary can say where the work really ran: in local mode a single
``driver`` entry; on a cluster one entry per executor JVM plus the driver.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Peak memory metrics copied from Spark's ExecutorMetrics (bytes). ProcessTreeJVMRSSMemory is
#: only measured with ``spark.executor.processTreeMetrics.enabled=true``; zeros are left out.
PEAK_METRICS = ("JVMHeapMemory", "JVMOffHeapMemory", "ProcessTreeJVMRSSMemory")


def executor_report(spark: Any) -> dict[str, Any] | None:
    """The application's executors, alive and lost, as JSON-ready data.

    Returns ``{"master", "app_id", "executors": [...], "lost": [ids]}`` where each executor
    is ``{"id", "host_port", "worker_ui", "active", "total_tasks", "failed_tasks",
    "remove_reason", "peak_memory_bytes"}``. ``worker_ui`` is the scheme, host and port of the
    executor's log URL, i.e. the web UI of the standalone worker (or YARN node manager) that
    launched it; None when Spark gives no log URL (the driver, local mode).
    ``peak_memory_bytes`` maps metric names of :data:`PEAK_METRICS` to peak bytes as last
    reported by heartbeat (so a short-lived executor may report none).

    Returns None when the session has no JVM-side SparkContext (Spark Connect) or the status
    store cannot be read; the reason is logged, never raised.
    """
    if spark is None:
        return None
    try:
        sc = spark.sparkContext
        jsc = sc._jsc.sc()
        summaries = jsc.statusStore().executorList(False)  # False: dead executors too
        rows = [_executor_row(summaries.apply(i)) for i in range(summaries.size())]
        master, app_id = str(sc.master), str(sc.applicationId)
    except Exception as exc:  # py4j and Connect raise many types; the report is optional
        log.info("executor list not available (%s): %s", type(exc).__name__, exc)
        return None
    rows.sort(key=_order)
    lost = [r["id"] for r in rows if not r["active"]]
    if lost:
        log.warning("executors lost during the run: %s", ", ".join(lost))
    return {"master": master, "app_id": app_id, "executors": rows, "lost": lost}


def _order(row: dict[str, Any]) -> tuple[int, int, str]:
    ident = row["id"]
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


def _option(value: Any) -> Any:
    """A Scala Option seen through py4j: its value, or None."""
    return value.get() if value.isDefined() else None


def _executor_row(summary: Any) -> dict[str, Any]:
    stdout = _option(summary.executorLogs().get("stdout"))
    worker_ui = None
    if stdout is not None:
        url = urlsplit(str(stdout))
        worker_ui = f"{url.scheme}://{url.netloc}"
    peaks: dict[str, int] = {}
    metrics = _option(summary.peakMemoryMetrics())
    if metrics is not None:
        for name in PEAK_METRICS:
            value = int(metrics.getMetricValue(name))
            if value > 0:
                peaks[name] = value
    reason = _option(summary.removeReason())
    return {
        "id": str(summary.id()),
        "host_port": str(summary.hostPort()),
        "worker_ui": worker_ui,
        "active": bool(summary.isActive()),
        "total_tasks": int(summary.totalTasks()),
        "failed_tasks": int(summary.failedTasks()),
        "remove_reason": None if reason is None else str(reason),
        "peak_memory_bytes": peaks,
    }
