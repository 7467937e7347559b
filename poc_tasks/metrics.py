"""Prometheus metrics of poc_tasks runs (prometheus_client, which Koku's workers already use).

Worker side (installed on the poc_tasks app by poc_tasks.tasks): per-task duration, failures and the process's
peak RSS from Celery's task signals; per-run duration, rows read and written and bytes read from each
finished run; shadow comparisons and mismatches; lock waits. Koku side (poc_tasks.koku): fallbacks to Trino.

The HTTP exporter starts when the worker is ready if POC_METRICS_PORT is set (off otherwise). With a prefork
pool the tasks run in child processes: set PROMETHEUS_MULTIPROC_DIR (an empty, writable directory) before the
worker starts, as Koku does for its own workers, and the exporter aggregates every child's values.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
from typing import Any

# prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) writes each process's values to files in
# that directory from the moment a metric exists: the directory must be there before the metrics below are made.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server  # noqa: E402

__all__ = [
    "RUN_SECONDS",
    "TASK_SECONDS",
    "ROWS_READ",
    "ROWS_WRITTEN",
    "BYTES_READ",
    "PEAK_RSS",
    "TASK_FAILURES",
    "FALLBACKS",
    "SHADOW_COMPARISONS",
    "SHADOW_MISMATCHES",
    "LOCK_WAITS",
    "LATE_TASKS",
    "observe_run",
    "peak_rss_bytes",
    "install_worker_hooks",
    "start_exporter",
]

LOG = logging.getLogger(__name__)
_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, float("inf"))

RUN_SECONDS = Histogram("poc_tasks_run_duration_seconds", "Wall time of a poc_tasks run, first task to last",
                        ["provider_type"], buckets=_BUCKETS)
TASK_SECONDS = Histogram("poc_tasks_task_duration_seconds", "Duration of one poc_tasks Celery task",
                         ["task"], buckets=_BUCKETS)
ROWS_READ = Counter("poc_tasks_rows_read", "Parquet rows read by poc_tasks runs", ["provider_type"])
BYTES_READ = Counter("poc_tasks_bytes_read", "Parquet bytes read by poc_tasks runs", ["provider_type"])
ROWS_WRITTEN = Counter("poc_tasks_rows_written", "Rows written to Koku's tables by poc_tasks runs",
                       ["provider_type", "table"])
PEAK_RSS = Gauge("poc_tasks_peak_rss_bytes", "Peak resident memory of the worker process (getrusage)",
                 multiprocess_mode="max")
TASK_FAILURES = Counter("poc_tasks_task_failures", "poc_tasks Celery tasks that raised", ["task", "exception"])
FALLBACKS = Counter("poc_tasks_fallbacks", "poc_tasks runs that failed and fell back to Koku's Trino SQL",
                    ["provider_type", "reason"])
SHADOW_COMPARISONS = Counter("poc_tasks_shadow_comparisons", "Phase-1 shadow comparisons", ["provider_type",
                                                                                          "verdict"])
SHADOW_MISMATCHES = Counter("poc_tasks_shadow_mismatched_rows",
                            "Rows that differ between Trino's and poc_tasks' results in shadow comparisons",
                            ["provider_type"])
LOCK_WAITS = Counter("poc_tasks_lock_waits", "Runs re-queued because another run of the same month held the lock",
                     ["provider_type"])
LATE_TASKS = Counter("poc_tasks_late_tasks", "Tasks of a finished or failed run that arrived late and did nothing",
                     ["task"])


def peak_rss_bytes() -> int:
    """This process's peak resident set size (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def observe_run(result: dict[str, Any], seconds: float | None = None) -> None:
    """Count one finished run from its summary (finalize's dict: provider, rows, rows_read, bytes_read)."""
    provider = str(result.get("provider") or "unknown")
    ROWS_READ.labels(provider).inc(max(0, int(result.get("rows_read") or 0)))
    BYTES_READ.labels(provider).inc(max(0, int(result.get("bytes_read") or 0)))
    for table, rows in (result.get("rows") or {}).items():
        ROWS_WRITTEN.labels(provider, table).inc(max(0, int(rows)))
    if seconds is not None:
        RUN_SECONDS.labels(provider).observe(max(0.0, seconds))
    PEAK_RSS.set(peak_rss_bytes())


# --- worker hooks ---------------------------------------------------------------------------------------------

_started: dict[str, float] = {}
_started_lock = threading.Lock()
_installed: set[int] = set()


def _ours(task: Any) -> bool:
    return str(getattr(task, "name", "") or "").startswith("poc_tasks.")


def _on_prerun(task_id: str | None = None, task: Any = None, **_kw: Any) -> None:
    if task_id and _ours(task):
        with _started_lock:
            _started[task_id] = time.perf_counter()


def _on_postrun(task_id: str | None = None, task: Any = None, **_kw: Any) -> None:
    if not (task_id and _ours(task)):
        return
    with _started_lock:
        t0 = _started.pop(task_id, None)
    if t0 is not None:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - t0)
    PEAK_RSS.set(peak_rss_bytes())


def _on_failure(sender: Any = None, exception: BaseException | None = None, **_kw: Any) -> None:
    if _ours(sender):
        TASK_FAILURES.labels(sender.name, type(exception).__name__ if exception else "unknown").inc()


def install_worker_hooks(app: Any) -> None:
    """Connect the task signals (for poc_tasks.* tasks only) and the exporter start for this app's workers."""
    if id(app) in _installed:
        return
    _installed.add(id(app))
    from celery import signals

    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)

    def on_ready(sender: Any = None, **_kw: Any) -> None:
        if getattr(sender, "app", None) is app:
            start_exporter()

    signals.worker_ready.connect(on_ready, weak=False)


# --- exporter -------------------------------------------------------------------------------------------------

_server: Any = None
_server_lock = threading.Lock()


def _registry() -> CollectorRegistry:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    if not directory:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def start_exporter(port: int | str | None = None, addr: str | None = None) -> Any:
    """Serve /metrics on POC_METRICS_PORT (or `port`) once per process; None when no port is configured."""
    global _server
    raw = port if port is not None else os.environ.get("POC_METRICS_PORT")
    if raw in (None, ""):
        return None
    try:
        number = int(raw)
    except (TypeError, ValueError):
        LOG.error("POC_METRICS_PORT=%r is not a port number; metrics exporter not started", raw)
        return None
    with _server_lock:
        if _server is None:
            host = addr or os.environ.get("POC_METRICS_ADDR", "0.0.0.0")  # noqa: S104 - a metrics port in a pod
            _server = start_http_server(number, addr=host, registry=_registry())
            LOG.info("poc_tasks metrics on http://%s:%s/metrics", host, _server[0].server_port)
    return _server
