"""The worker's log: one INFO line per run step (prepare, each day chunk, each table write, finalize), shown at
the worker's default log level.

`celery worker` sets the root logger to WARNING unless --loglevel says otherwise, which would hide every INFO
line of poc_tasks. After Celery set logging up, the "poc_tasks" logger gets its own level: POC_LOG_LEVEL
(default INFO), so a worker started as the README says shows what its runs do; Koku's own workers keep their
logging configuration (these hooks act on this app's workers only).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

__all__ = ["install", "step_summary"]

LOG = logging.getLogger("poc_tasks.worker")
_started: dict[str, float] = {}
_lock = threading.Lock()
_installed: set[int] = set()


def _ours(task: Any) -> bool:
    return str(getattr(task, "name", "") or "").startswith("poc_tasks.")


def step_summary(name: str, retval: Any, kwargs: dict[str, Any]) -> str:
    """A few words on what a finished step did, from its result and arguments (never credentials: tasks take
    none)."""
    short = name.removeprefix("poc_tasks.")
    if isinstance(retval, dict) and "chunk" in retval:
        first, last = retval["chunk"]
        rows = retval.get("rows", 0)
        count = sum(int(n) for n in rows.values()) if isinstance(rows, dict) else int(rows or 0)
        return f"{short} {first}..{last}: {count} rows"
    if short.endswith("write_table") and isinstance(retval, dict):
        return f"{short}: " + ", ".join(f"{t} {n} rows" for t, n in retval.items())
    if isinstance(retval, dict) and "rows" in retval and isinstance(retval["rows"], dict):
        total = sum(int(n) for n in retval["rows"].values())
        return (f"{short} run {retval.get('run_id', '?')}: {total} rows in {len(retval['rows'])} table(s), "
                f"{retval.get('start_date')}..{retval.get('end_date')}")
    run = kwargs.get("run_id")
    return f"{short}" + (f" run {run}" if run else "")


def _on_prerun(task_id: str | None = None, task: Any = None, **_kw: Any) -> None:
    if task_id and _ours(task):
        with _lock:
            _started[task_id] = time.perf_counter()


def _on_postrun(task_id: str | None = None, task: Any = None, kwargs: dict[str, Any] | None = None,
                retval: Any = None, state: str | None = None, **_kw: Any) -> None:
    if not (task_id and _ours(task)):
        return
    with _lock:
        t0 = _started.pop(task_id, None)
    seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    if state == "SUCCESS":
        LOG.info("%s done in %.2fs", step_summary(task.name, retval, kwargs or {}), seconds)
    elif state == "IGNORED":  # task.replace(): the step handed on to its chord
        LOG.info("%s handed on to its chord after %.2fs", step_summary(task.name, None, kwargs or {}), seconds)
    elif state == "RETRY":
        LOG.info("%s re-queued after %.2fs", step_summary(task.name, None, kwargs or {}), seconds)
    else:  # failures: Celery logs the error itself at ERROR
        LOG.info("%s ended %s after %.2fs", step_summary(task.name, None, kwargs or {}), state, seconds)


def _level() -> int:
    name = (os.environ.get("POC_LOG_LEVEL") or "INFO").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def _on_logging_set_up(loglevel: int | None = None, **_kw: Any) -> None:
    wanted = _level()
    logger = logging.getLogger("poc_tasks")
    # --loglevel DEBUG (or INFO) stays as asked; a quieter default gains poc_tasks' INFO lines
    if loglevel is None or loglevel > wanted:
        logger.setLevel(wanted)


def install(app: Any) -> None:
    """Connect the hooks once per app (the task signals fire for poc_tasks.* tasks only)."""
    if id(app) in _installed:
        return
    _installed.add(id(app))
    from celery import signals

    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
    signals.after_setup_logger.connect(_on_logging_set_up, weak=False)
