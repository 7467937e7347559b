"""Thin Celery entry points: validate the broker's arguments, prepare, compute day chunks, write, finalize.

    summarize_ocp (prepare) --launches--> chord( compute_chunk(run, days) for each day chunk )
        --> write_tables (run) --launches--> chord( write_table(run, table) for each staged table )
        --> finalize_run (run) --stores the run's result on summarize_ocp's id-->

summarize_* is not replaced by its chord: it stays the task Koku sent, listed in Flower under its own name. It
ends without a result of its own (Ignore); every later task of the run reports PROGRESS (step, day, chunks and
tables done) on its id, and finalize_run stores the run's result there (run_failed the error), so the caller's
AsyncResult(id).get() returns the run's summary as before.

Day chunks run on any number of workers; each table is then staged (write_table, in parallel) into a side table
of the run, and finalize swaps every table in at once, in one transaction (db.run_swap). Arguments arrive from
a broker, so each task validates them (schema names, uuids, dates) before any SQL or path is built from them;
staging paths come from the worker's own settings, never from the message.

One run at a time per (schema, provider, source, month): summarize_* takes a Redis lease (poc_tasks.locks)
that every task of the run renews and finalize_run (or, on failure, release_run_lock) gives back; a second
run re-queues itself with a countdown. shadow_compare is phase 1's read-only comparison (poc_tasks.compare).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from typing import Any

from celery import chord
from celery.exceptions import Ignore

from poc_tasks import metrics
from poc_tasks.app import QUEUE, app
from poc_tasks.errors import ConfigurationError, InvalidArgument
from poc_tasks.locks import RunCancelled, RunLock, RunLocked, is_cancelled, redis_for, run_lock
from poc_tasks.retry import with_retries
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.settings import Settings

LOG = logging.getLogger(__name__)
PROGRESS = "PROGRESS"  # custom state: Flower shows meta {"step", "day", ...} while a run computes
metrics.install_worker_hooks(app)


def _stage(run_id: str):
    from poc_tasks.io.staging import Stage

    settings = Settings.from_env()
    return settings, Stage(settings.effective_staging_root(), _run_id(run_id), settings.storage_options())


def _run_id(value: Any) -> str:
    try:
        return uuid.UUID(str(value)).hex
    except ValueError as exc:
        raise InvalidArgument(f"run id {value!r} is not a uuid") from exc


def _queue(task: Any) -> str:
    """Follow-up tasks stay on the queue the run came in on (poc_aggregation or poc_aggregation_xl)."""
    info = task.request.delivery_info or {}
    return info.get("routing_key") or QUEUE


# --- run lock (poc_tasks.locks) ------------------------------------------------------------------------------


def _direct(task: Any) -> bool:
    return not task.request.id or bool(task.request.is_eager)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None


def _take_lock(task: Any, provider: str, spec: Any, token: str) -> dict[str, str] | None:
    """The run's lease, or re-queue the task (countdown) when another run of the same month holds it."""
    lock = run_lock(task.app, provider, spec.schema_name, spec.source_uuid, spec.start_date, token)
    if lock is None:  # no Redis (the demo's in-memory broker): one process, nothing to serialise
        return None
    if lock.acquire():
        return {"key": lock.key, "token": token}
    metrics.LOCK_WAITS.labels(provider).inc()
    message = f"another {provider} run ({lock.holder()}) holds {lock.key}"
    if _direct(task):
        raise RunLocked(message)
    countdown = _env_number("POC_LOCK_RETRY_COUNTDOWN", 30.0)
    LOG.info("%s; re-queued in %gs", message, countdown)
    raise task.retry(countdown=countdown, max_retries=int(_env_number("POC_LOCK_MAX_RETRIES", 240)),
                     exc=RunLocked(message))


def _lease(task: Any, lock: dict[str, str] | None) -> RunLock | None:
    found = redis_for(task.app) if lock else None
    return RunLock(found[0], lock["key"], lock["token"]) if found else None


def _guard(task: Any, lock: dict[str, str] | None) -> None:
    """Before a task of a run does its work: stop if the caller cancelled the run, and renew the lease."""
    lease = _lease(task, lock)
    if lease is None:
        return
    if is_cancelled(task.app, lease.token):
        raise RunCancelled(f"run {lease.token} was cancelled by its caller; nothing more is written")
    if not lease.renew() and not lease.acquire():
        raise RunLocked(f"run {lease.token} lost {lease.key} to {lease.holder()} (expired: POC_LOCK_TTL too short?)")


def _release(task: Any, lock: dict[str, str] | None) -> None:
    lease = _lease(task, lock)
    if lease is not None and not lease.release():
        LOG.warning("run lock %s was no longer held by %s at release", lease.key, lease.token)


@app.task(name="poc_tasks.release_run_lock", bind=True)
def release_run_lock(self, lock: dict[str, str] | None = None) -> bool:
    """Error callback of a run's chords: give the lease back at once instead of waiting for it to expire."""
    lease = _lease(self, lock)
    return bool(lease and lease.release())


# --- the run as Flower and the caller see it: the summarize_* task's own id -------------------------------------


def _event(task: Any, type_: str, root: str, **fields: Any) -> None:
    """A task event about the summarize_* task `root`, sent from whichever task of the run is working, so that
    Flower (and any event receiver) shows the run under the name Koku sent: task-progress (a custom state,
    PROGRESS) while it runs, task-succeeded / task-failed at the end. Monitoring only: a lost event is logged."""
    try:
        with task.app.events.default_dispatcher(hostname=task.request.hostname) as dispatcher:
            dispatcher.send(type_, uuid=root, **fields)
    except Exception:  # noqa: BLE001 - never fail a run for its monitoring
        LOG.warning("could not send %s for run %s", type_, root, exc_info=True)


def _report_progress(task: Any, root: str | None, meta: dict[str, Any]) -> None:
    """The run's PROGRESS (step, day, chunks or tables done) on the summarize_* task's id: in the result backend
    (what AsyncResult(id).info and Flower's task result show) and as an event (Flower's task list)."""
    if not root or _direct(task):
        return
    task.app.backend.store_result(root, meta, PROGRESS)
    _event(task, "task-progress", root, result=repr(meta))


def _progress(task: Any, run_id: str, root: str | None = None, extra: dict[str, Any] | None = None):
    def report(step: str, meta: dict[str, Any]) -> None:
        if task.request.id and not task.request.is_eager:
            full = {"step": step, "run_id": run_id, **(extra or {}), **meta}
            if root is None or root == task.request.id:
                task.update_state(state=PROGRESS, meta=full)
            else:
                _report_progress(task, root, full)

    return report


def _finished(task: Any, run_id: str, what: str) -> bool:
    """True (and said in the log) when the run already finished or failed: a late or redelivered task of it
    (a worker killed after it stored its result, before its late ack) does nothing: no lock, no write."""
    state = _run_state(task, run_id)
    if state in ("done", "failed"):
        LOG.warning("%s of run %s arrived after the run %s: ignored (no lock taken, nothing written)",
                    what, run_id, "finished" if state == "done" else "failed")
        metrics.LATE_TASKS.labels(what.split(" ")[0]).inc()
        return True
    return False


def _run_state(task: Any, run_id: str) -> str | None:
    from poc_tasks.locks import run_state

    return None if _direct(task) else run_state(task.app, run_id)


def _mark(task: Any, run_id: str, state: str) -> None:
    from poc_tasks.locks import set_run_state

    if not _direct(task):
        set_run_state(task.app, run_id, state)


def _pg_run_lock_holder(settings: Settings, provider: str, spec: Any) -> str | None:
    """Who holds the PostgreSQL run lock of this run's key (an in-process run: the CLI), if anyone."""
    from poc_tasks.locks import lock_key, pg_run_lock_holder

    return pg_run_lock_holder(settings.require_database_url(),
                              lock_key(provider, spec.schema_name, spec.source_uuid, spec.start_date))


# --- the steps every run shares (OCP and OCP on cloud): the provider's function does the work -------------


def _stage_id(task: Any) -> str:
    """The run's staging id: the summarize_* task's id, so a redelivered message finds the run it started."""
    try:
        return uuid.UUID(str(task.request.id)).hex
    except ValueError:
        return uuid.uuid4().hex


def _start_run(task: Any, lock_name: str, lock_spec: Any, prepare: Any, compute_task: Any, write_tables_task: Any,
               describe: str) -> Any:
    """A summarize_* task's shared start: take the run lock, prepare into a new stage, then launch the chord of
    day chunks whose callback fans out the table writes (in-process when the task is called directly).

    The task is not replaced by its chord (replace() would hand its id to finalize_run and Flower would list no
    summarize_* task): it launches the chord, records PROGRESS on its own id and ends without a result of its
    own (Ignore); the chord's tasks then report the run's PROGRESS on this id, and finalize (or the error
    callback) stores the run's result or error on it -- what the caller's AsyncResult(id).get() returns."""
    run_id = uuid.uuid4().hex if _direct(task) else _stage_id(task)
    if not _direct(task):
        state = _run_state(task, run_id)
        if state in ("launched", "writing", "done", "failed"):
            LOG.warning("summarize message of run %s redelivered after its chord started (%s): ignored", run_id,
                        state)
            raise Ignore()
    settings, stage = _stage(run_id)
    started = time.time()
    # the task id is the token: a redelivered or retried message of the same task takes its own lock back
    lock = _take_lock(task, lock_name, lock_spec, task.request.id or stage.run_id)
    try:
        _guard(task, lock)  # a caller that gave up before the run started (the Koku hook's timeout)
        if not _direct(task):
            holder = _pg_run_lock_holder(settings, lock_name, lock_spec)
            if holder is not None:  # an in-process run (the CLI) of the same month
                _release(task, lock)
                metrics.LOCK_WAITS.labels(lock_name).inc()
                countdown = _env_number("POC_LOCK_RETRY_COUNTDOWN", 30.0)
                message = f"an in-process run ({holder}) holds the run lock of {lock_name} {lock_spec.schema_name}"
                LOG.info("%s; re-queued in %gs", message, countdown)
                raise task.retry(countdown=countdown, max_retries=int(_env_number("POC_LOCK_MAX_RETRIES", 240)),
                                 exc=RunLocked(message))
    except RunCancelled:
        _release(task, lock)
        raise
    LOG.info("%s run=%s", describe, stage.run_id)
    root = task.request.id
    from poc_tasks.inprocess import sweep_staging

    sweep_staging(settings, stage.run_id)
    try:
        manifest = with_retries("prepare", lambda: prepare(settings, stage, _progress(task, stage.run_id)), settings)
        if _direct(task):  # called directly: the same steps in-process
            chunks = [compute_task(run_id=stage.run_id, chunk_start=a, chunk_end=b, lock=lock)
                      for a, b in manifest["chunks"]]
            return write_tables_task(chunks, run_id=stage.run_id, lock=lock, started_at=started)
        queue = _queue(task)
        total = len(manifest["chunks"])
        header = [compute_task.s(run_id=stage.run_id, chunk_start=a, chunk_end=b, lock=lock, root=root,
                                 chunks_total=total).set(queue=queue)
                  for a, b in manifest["chunks"]]
        body = write_tables_task.s(run_id=stage.run_id, lock=lock, started_at=started, root=root).set(queue=queue)
        body = body.on_error(run_failed.s(run_id=stage.run_id, lock=lock, root=root).set(queue=queue))
        task.update_state(state=PROGRESS, meta={"step": "compute", "run_id": stage.run_id, "chunks_done": 0,
                                                "chunks_total": total})
        chord(header, body).apply_async()
    except BaseException as exc:
        if isinstance(exc, Ignore):
            raise
        stage.discard()
        _release(task, lock)
        raise
    _mark(task, stage.run_id, "launched")
    raise Ignore()  # the run's result is stored on this id by finalize (or run_failed), not by this return


def _compute_chunk(task: Any, compute: Any, run_id: str, chunk_start: str, chunk_end: str,
                   lock: dict[str, str] | None, root: str | None, chunks_total: int | None) -> dict[str, Any]:
    if _finished(task, run_id, f"compute_chunk {chunk_start}..{chunk_end}"):
        return {"skipped": True, "chunk": [chunk_start, chunk_end]}
    settings, stage = _stage(run_id)
    with_retries("run lock", lambda: _guard(task, lock), settings)
    extra = {"chunks_total": chunks_total} if chunks_total else {}
    report = _progress(task, stage.run_id, root, extra)
    result = with_retries(f"compute_chunk {chunk_start}..{chunk_end}",
                          lambda: compute(settings, stage, chunk_start, chunk_end, report), settings)
    # which worker ran the chunk (scale-out is visible in the run's result) and its peak memory
    result["hostname"] = task.request.hostname or socket.gethostname()
    result["peak_rss_bytes"] = metrics.peak_rss_bytes()
    if root and not _direct(task):
        from poc_tasks.locks import count_run_step

        done = count_run_step(task.app, run_id, "chunks")
        _report_progress(task, root, {"step": "compute", "run_id": run_id, "chunk": [chunk_start, chunk_end],
                                      "chunks_done": done, "chunks_total": chunks_total})
    return result


def _fan_out_writes(task: Any, write_task: Any, finalize_task: Any, chunk_results: list[dict[str, Any]],
                    run_id: str, lock: dict[str, str] | None, started_at: float | None,
                    root: str | None) -> Any:
    """One write task per staged table, then the finalize callback (in-process when called directly)."""
    if _finished(task, run_id, "write_tables"):
        return {"skipped": True}
    _guard(task, lock)
    _settings, stage = _stage(run_id)
    manifest = stage.read_manifest()
    if _direct(task):
        results = [write_task(run_id=stage.run_id, table=t, lock=lock) for t in manifest["tables"]]
        return finalize_task(results, run_id=stage.run_id, chunk_results=chunk_results, lock=lock,
                             started_at=started_at)
    if _run_state(task, run_id) == "writing":  # redelivered after it launched the writes
        LOG.warning("write_tables of run %s redelivered after its writes started: ignored", run_id)
        return {"skipped": True}
    queue = _queue(task)
    tables = list(manifest["tables"])
    header = [write_task.s(run_id=stage.run_id, table=t, lock=lock, root=root, tables_total=len(tables))
              .set(queue=queue) for t in tables]
    callback = finalize_task.s(run_id=stage.run_id, chunk_results=chunk_results, lock=lock,
                               started_at=started_at, root=root).set(queue=queue)
    callback = callback.on_error(run_failed.s(run_id=stage.run_id, lock=lock, root=root).set(queue=queue))
    _report_progress(task, root, {"step": "write", "run_id": run_id, "tables_done": 0, "tables_total": len(tables),
                                  "chunks_done": len(chunk_results), "chunks_total": len(chunk_results)})
    chord(header, callback).apply_async()
    _mark(task, run_id, "writing")
    return {"tables": tables}


def _write_one(task: Any, write: Any, run_id: str, table: str, lock: dict[str, str] | None, root: str | None,
               tables_total: int | None) -> dict[str, int]:
    if _finished(task, run_id, f"write_table {table}"):
        return {}
    settings, stage = _stage(run_id)
    with_retries("run lock", lambda: _guard(task, lock), settings)  # a cancelled run writes nothing
    rows = with_retries(f"write_table {table}", lambda: write(settings, stage, table), settings)
    if root and not _direct(task):
        from poc_tasks.locks import count_run_step

        done = count_run_step(task.app, run_id, "tables")
        _report_progress(task, root, {"step": "write", "run_id": run_id, "table": table, "tables_done": done,
                                      "tables_total": tables_total})
    return {table: rows}


def _finalize(task: Any, finalize: Any, write_results: list[dict[str, int]], run_id: str,
              chunk_results: list[dict[str, Any]] | None, lock: dict[str, str] | None,
              started_at: float | None, root: str | None = None) -> dict[str, Any]:
    if _finished(task, run_id, "finalize"):
        return {"skipped": True, "run_id": run_id}
    settings, stage = _stage(run_id)
    written: dict[str, int] = {}
    for part in write_results:
        written.update(part)
    result = with_retries("finalize", lambda: finalize(settings, stage, written, chunk_results), settings)
    _mark(task, run_id, "done")  # before the lock goes: a late task of this run must find the run finished
    _release(task, lock)
    chunks = chunk_results or []
    result["workers"] = sorted({c["hostname"] for c in chunks if c.get("hostname")})
    result["peak_rss_bytes"] = max([metrics.peak_rss_bytes(), *(c.get("peak_rss_bytes", 0) for c in chunks)])
    finished = time.time()
    seconds = finished - started_at if started_at else None
    if seconds is not None:
        result["timings"]["run_s"] = round(seconds, 3)
    result["started_at"], result["finished_at"] = started_at, finished  # epoch seconds: when the lock was held
    metrics.observe_run(result, seconds)
    if root and not _direct(task):
        task.app.backend.store_result(root, result, "SUCCESS")
        _event(task, "task-succeeded", root, result=repr(result), runtime=seconds or 0.0)
    return result


@app.task(name="poc_tasks.run_failed")
def run_failed(request: Any, exc: BaseException, traceback: Any, run_id: str | None = None,
               lock: dict[str, str] | None = None, root: str | None = None) -> None:
    """Error callback of a run's chords (called in the process that saw the failure): the run is marked failed
    (its late tasks are no-ops), its staging is removed, its lock given back at once, and the error is stored as
    the summarize_* task's result and sent as its task-failed event: the caller gets a failed task, not silence.
    Every table is as before the run: the tables are only staged until finalize swaps all of them in one
    transaction (db.run_swap; docs/reliability.md §4).

    Not bound (bind=True would make Celery send it as an old-style errback with the task id only)."""
    from poc_tasks.locks import run_state, set_run_state

    if run_id:
        first = run_state(app, run_id) != "failed"
        set_run_state(app, run_id, "failed")
        from poc_tasks.inprocess import discard_run

        discard_run(*_stage(run_id))  # its side tables in PostgreSQL and its staging folder
        if not first:
            return
    lease = RunLock(*_found_lease(lock)) if lock and _found_lease(lock) else None
    if lease is not None and not lease.release():
        LOG.warning("run lock %s was no longer held by %s at release", lease.key, lease.token)
    exc = _real_error(exc)
    LOG.error("run %s (task %s) failed: %s: %s", run_id, root, type(exc).__name__, exc)
    if root:
        app.backend.mark_as_failure(root, exc, traceback=None)
        try:
            with app.events.default_dispatcher() as dispatcher:
                dispatcher.send("task-failed", uuid=root, exception=repr(exc))
        except Exception:  # noqa: BLE001 - monitoring only
            LOG.warning("could not send task-failed for run %s", root, exc_info=True)


def _real_error(exc: BaseException) -> BaseException:
    """The failed step's own exception instead of the chord's wrapper ("Dependency <id> raised ..."): the error the
    caller sees names the service, the file or the argument, as the step did."""
    from celery.exceptions import ChordError

    match = re.match(r"Dependency ([0-9a-f-]{36}) raised", str(exc)) if isinstance(exc, ChordError) else None
    if match:
        try:
            inner = app.AsyncResult(match.group(1)).result
        except Exception:  # noqa: BLE001 - keep the wrapper then
            return exc
        if isinstance(inner, BaseException):
            return inner
    return exc


def _found_lease(lock: dict[str, str]) -> tuple[Any, str, str] | None:
    found = redis_for(app)
    return (found[0], lock["key"], lock["token"]) if found else None


# --- OCP --------------------------------------------------------------------------------------------------


@app.task(name="poc_tasks.summarize_ocp", bind=True, acks_late=True)
def summarize_ocp(self, schema_name: str, source_uuid: str, start_date: str, end_date: str, cluster_id: str,
                  cluster_alias: str | None = None, report_period_id: int | None = None,
                  tracing_id: str | None = None) -> Any:
    """Koku's populate_line_item_daily_summary_table_trino, without Trino: one OCP source, one month's range."""
    from poc_tasks.ocp.pipeline import prepare_ocp

    spec = OcpRunSpec.build(schema_name, source_uuid, cluster_id, start_date, end_date, cluster_alias,
                            report_period_id)
    return _start_run(self, "OCP", spec,
                      lambda settings, stage, progress: prepare_ocp(spec, settings, stage, progress),
                      compute_chunk, write_tables,
                      f"summarize_ocp schema={spec.schema_name} source={spec.source_uuid} "
                      f"{spec.start_date}..{spec.end_date} tracing_id={tracing_id}")


@app.task(name="poc_tasks.compute_chunk", bind=True, acks_late=True)
def compute_chunk(self, run_id: str, chunk_start: str, chunk_end: str, lock: dict[str, str] | None = None,
                  root: str | None = None, chunks_total: int | None = None) -> dict[str, Any]:
    """Summarise one day chunk into the run's staging folder (a retry rewrites the same part file)."""
    from poc_tasks.ocp.pipeline import compute_chunk as compute

    return _compute_chunk(self, compute, run_id, chunk_start, chunk_end, lock, root, chunks_total)


@app.task(name="poc_tasks.write_tables", bind=True, acks_late=True)
def write_tables(self, chunk_results: list[dict[str, Any]], run_id: str, lock: dict[str, str] | None = None,
                 started_at: float | None = None, root: str | None = None) -> Any:
    """After every chunk: one write task per staged table, then the finalize callback."""
    return _fan_out_writes(self, write_table, finalize_run, chunk_results, run_id, lock, started_at, root)


@app.task(name="poc_tasks.write_table", bind=True, acks_late=True)
def write_table(self, run_id: str, table: str, lock: dict[str, str] | None = None, root: str | None = None,
                tables_total: int | None = None) -> dict[str, int]:
    """Stage one table: COPY the staged rows into the run's side table (finalize swaps every table in at once)."""
    from poc_tasks.ocp.pipeline import write_table as write

    return _write_one(self, write, run_id, table, lock, root, tables_total)


@app.task(name="poc_tasks.finalize_run", bind=True, acks_late=True)
def finalize_run(self, write_results: list[dict[str, int]], run_id: str,
                 chunk_results: list[dict[str, Any]] | None = None, lock: dict[str, str] | None = None,
                 started_at: float | None = None, root: str | None = None) -> dict[str, Any]:
    """Chord callback: stamp the report period, drop the staging folder, return rows per table and timings."""
    from poc_tasks.ocp.pipeline import finalize

    return _finalize(self, finalize, write_results, run_id, chunk_results, lock, started_at, root)


# --- OCP on AWS -------------------------------------------------------------------------------------------
#
#   summarize_ocp_on_aws (prepare) --launches--> chord( cloud_compute_chunk(run, days) for each Koku date chunk )
#       --> cloud_write_tables (run) --launches--> chord( cloud_write_table(run, table) ) --> cloud_finalize_run


def _cloud_lock_spec(spec: Any) -> Any:
    """The run lock of an OCP-on-cloud run: per (schema, OCP source, cloud source, month), as Koku's
    update_openshift_on_cloud lock key [schema, cloud uuid, ocp uuid, month]."""
    from types import SimpleNamespace

    return SimpleNamespace(schema_name=spec.schema_name, source_uuid=spec.cloud_provider_uuid,
                           start_date=spec.start_date)


@app.task(name="poc_tasks.summarize_ocp_on_aws", bind=True, acks_late=True)
def summarize_ocp_on_aws(self, schema_name: str, openshift_provider_uuid: str, aws_provider_uuid: str,
                         start_date: str, end_date: str, cluster_id: str, cluster_alias: str | None = None,
                         report_period_id: int | None = None, bill_id: int | None = None,
                         markup: str | float | None = None, distribution: str | None = None,
                         tracing_id: str | None = None) -> Any:
    """Koku's update_aws_summary_tables / populate_ocp_on_aws_cost_daily_summary_trino, without Trino: one
    (OCP source, AWS source) pair over days of one month; needs the OCP summary of the range."""
    return _summarize_cloud(self, "AWS", {
        "schema_name": schema_name, "openshift_provider_uuid": openshift_provider_uuid,
        "aws_provider_uuid": aws_provider_uuid, "start_date": start_date, "end_date": end_date,
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "report_period_id": report_period_id,
        "bill_id": bill_id, "markup": markup, "distribution": distribution, "tracing_id": tracing_id})


def _summarize_cloud(task: Any, cloud_type: str, kwargs: dict[str, Any]) -> Any:
    """summarize_ocp_on_aws / _azure / _gcp: prepare with the provider module, then the same chords for every cloud
    (cloud_compute_chunk / cloud_write_tables / cloud_write_table / cloud_finalize_run read the run's provider from
    its manifest)."""
    from poc_tasks.cloud import flow
    from poc_tasks.cloud.spec import CloudRunSpec

    p = flow.provider(cloud_type)
    tracing_id = kwargs.pop("tracing_id", None)
    spec = CloudRunSpec.from_kwargs(kwargs, cloud_type=p.name)
    return _start_run(task, f"{p.run_name}-{spec.openshift_provider_uuid}", _cloud_lock_spec(spec),
                      lambda settings, stage, progress: flow.prepare(p, spec, settings, stage, progress),
                      cloud_compute_chunk, cloud_write_tables,
                      f"summarize_ocp_on_{p.name.lower()} schema={spec.schema_name} "
                      f"ocp={spec.openshift_provider_uuid} cloud={spec.cloud_provider_uuid} "
                      f"{spec.start_date}..{spec.end_date} tracing_id={tracing_id}")


@app.task(name="poc_tasks.summarize_ocp_on_azure", bind=True, acks_late=True)
def summarize_ocp_on_azure(self, schema_name: str, openshift_provider_uuid: str, azure_provider_uuid: str,
                           start_date: str, end_date: str, cluster_id: str, cluster_alias: str | None = None,
                           report_period_id: int | None = None, bill_id: int | None = None,
                           markup: str | float | None = None, distribution: str | None = None,
                           tracing_id: str | None = None) -> Any:
    """Koku's update_azure_summary_tables / populate_ocp_on_azure_cost_daily_summary_trino, without Trino: one
    (OCP source, Azure source) pair over days of one month; needs the OCP summary of the range."""
    return _summarize_cloud(self, "Azure", {
        "schema_name": schema_name, "openshift_provider_uuid": openshift_provider_uuid,
        "azure_provider_uuid": azure_provider_uuid, "start_date": start_date, "end_date": end_date,
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "report_period_id": report_period_id,
        "bill_id": bill_id, "markup": markup, "distribution": distribution, "tracing_id": tracing_id})


@app.task(name="poc_tasks.summarize_ocp_on_gcp", bind=True, acks_late=True)
def summarize_ocp_on_gcp(self, schema_name: str, openshift_provider_uuid: str, gcp_provider_uuid: str,
                         start_date: str, end_date: str, cluster_id: str, cluster_alias: str | None = None,
                         report_period_id: int | None = None, bill_id: int | None = None,
                         markup: str | float | None = None, distribution: str | None = None,
                         tracing_id: str | None = None) -> Any:
    """Koku's update_gcp_summary_tables / populate_ocp_on_gcp_cost_daily_summary_trino, without Trino: one
    (OCP source, GCP source) pair over days of one month; needs the OCP summary of the range."""
    return _summarize_cloud(self, "GCP", {
        "schema_name": schema_name, "openshift_provider_uuid": openshift_provider_uuid,
        "gcp_provider_uuid": gcp_provider_uuid, "start_date": start_date, "end_date": end_date,
        "cluster_id": cluster_id, "cluster_alias": cluster_alias, "report_period_id": report_period_id,
        "bill_id": bill_id, "markup": markup, "distribution": distribution, "tracing_id": tracing_id})


@app.task(name="poc_tasks.cloud_compute_chunk", bind=True, acks_late=True)
def cloud_compute_chunk(self, run_id: str, chunk_start: str, chunk_end: str, lock: dict[str, str] | None = None,
                        root: str | None = None, chunks_total: int | None = None) -> dict[str, Any]:
    """Match and attribute one Koku date chunk into the run's staging folder (a retry rewrites its parts)."""
    from poc_tasks.cloud.flow import compute_chunk as compute

    return _compute_chunk(self, compute, run_id, chunk_start, chunk_end, lock, root, chunks_total)


@app.task(name="poc_tasks.cloud_write_tables", bind=True, acks_late=True)
def cloud_write_tables(self, chunk_results: list[dict[str, Any]], run_id: str, lock: dict[str, str] | None = None,
                       started_at: float | None = None, root: str | None = None) -> Any:
    """After every chunk: one write task per table (project, back-populated OCP rows, tags, 8 UI tables)."""
    return _fan_out_writes(self, cloud_write_table, cloud_finalize_run, chunk_results, run_id, lock, started_at,
                           root)


@app.task(name="poc_tasks.cloud_write_table", bind=True, acks_late=True)
def cloud_write_table(self, run_id: str, table: str, lock: dict[str, str] | None = None, root: str | None = None,
                      tables_total: int | None = None) -> dict[str, int]:
    """Stage one table into the run's side table (finalize swaps every table in with Koku's delete rules)."""
    from poc_tasks.cloud.flow import write_table as write

    return _write_one(self, write, run_id, table, lock, root, tables_total)


@app.task(name="poc_tasks.cloud_finalize_run", bind=True, acks_late=True)
def cloud_finalize_run(self, write_results: list[dict[str, int]], run_id: str,
                       chunk_results: list[dict[str, Any]] | None = None, lock: dict[str, str] | None = None,
                       started_at: float | None = None, root: str | None = None) -> dict[str, Any]:
    """Chord callback: stamp ocp_on_cloud_updated_datetime, drop the staging folder, return the run summary."""
    from poc_tasks.cloud.flow import finalize

    return _finalize(self, finalize, write_results, run_id, chunk_results, lock, started_at, root)


# --- cloud daily summaries (poc_tasks/daily/): AWS, the EC2 compute summary, Azure, GCP --------------------------
#
#   summarize_aws (prepare) --launches--> chord( daily_compute_chunk(run, days) for each Koku date chunk )
#       --> daily_write_tables (run) --launches--> chord( daily_write_table(run, table) ) --> daily_finalize_run


def _summarize_daily(task: Any, provider: str, kwargs: dict[str, Any]) -> Any:
    """The shared start of every daily summary task: validate Koku's arguments, take the lock of (schema,
    provider, source, month), prepare, then the same chords as the other flows (poc_tasks/daily/run.py)."""
    from poc_tasks.daily import run as daily

    tracing_id = kwargs.pop("tracing_id", None)
    spec = daily.DailyRunSpec.build(provider, **kwargs)
    f = daily.flow(provider)
    return _start_run(task, f.lock_name or f"daily-{provider}", spec,
                      lambda settings, stage, progress: daily.prepare(f, spec, settings, stage, progress),
                      daily_compute_chunk, daily_write_tables,
                      f"summarize daily {provider} schema={spec.schema_name} source={spec.source_uuid} "
                      f"{spec.start_date}..{spec.end_date} tracing_id={tracing_id}")


@app.task(name="poc_tasks.summarize_aws", bind=True, acks_late=True)
def summarize_aws(self, schema_name: str, source_uuid: str, start_date: str, end_date: str,
                  bill_id: int | None = None, markup_value: float | str | None = None,
                  tracing_id: str | None = None) -> Any:
    """Koku's AWSReportDBAccessor.populate_line_item_daily_summary_table_trino, without Trino: the AWS daily
    summary of one source over days of one month, with Koku's delete (range and bill) in the same transaction.
    ``markup_value`` is the fraction Koku passes (markup percent / 100)."""
    return _summarize_daily(self, "AWS", {
        "schema_name": schema_name, "source_uuid": source_uuid, "start_date": start_date, "end_date": end_date,
        "bill_id": bill_id, "markup_value": markup_value, "tracing_id": tracing_id})


@app.task(name="poc_tasks.summarize_aws_ec2_compute", bind=True, acks_late=True)
def summarize_aws_ec2_compute(self, schema_name: str, source_uuid: str, start_date: str,
                              end_date: str | None = None, bill_id: int | None = None,
                              markup_value: float | str | None = None, tracing_id: str | None = None) -> Any:
    """Koku's AWSReportDBAccessor.populate_ec2_compute_summary_table_trino, without Trino: the month's EC2
    compute summary of one source (Koku's delete: month start .. end_date, the source)."""
    if end_date in (None, ""):  # Koku's method has no end: its SQL reads the whole month, so replace the whole month
        import calendar

        from poc_tasks.validate import parse_date

        first = parse_date(start_date, "start_date")
        end_date = first.replace(day=calendar.monthrange(first.year, first.month)[1]).isoformat()
    return _summarize_daily(self, "AWS-EC2", {
        "schema_name": schema_name, "source_uuid": source_uuid, "start_date": start_date,
        "end_date": end_date, "bill_id": bill_id, "markup_value": markup_value, "tracing_id": tracing_id})


@app.task(name="poc_tasks.summarize_azure", bind=True, acks_late=True)
def summarize_azure(self, schema_name: str, source_uuid: str, start_date: str, end_date: str,
                    bill_id: int | None = None, markup_value: float | str | None = None,
                    tracing_id: str | None = None) -> Any:
    """Koku's AzureReportDBAccessor.populate_line_item_daily_summary_table_trino, without Trino: the Azure daily
    summary of one source over days of one month, with Koku's delete (range and bill) in the same transaction."""
    return _summarize_daily(self, "Azure", {
        "schema_name": schema_name, "source_uuid": source_uuid, "start_date": start_date, "end_date": end_date,
        "bill_id": bill_id, "markup_value": markup_value, "tracing_id": tracing_id})


@app.task(name="poc_tasks.summarize_gcp", bind=True, acks_late=True)
def summarize_gcp(self, schema_name: str, source_uuid: str, start_date: str, end_date: str,
                  bill_id: int | None = None, markup_value: float | str | None = None,
                  invoice_month: str | None = None, tracing_id: str | None = None) -> Any:
    """Koku's GCPReportDBAccessor.populate_line_item_daily_summary_table_trino, without Trino. With
    ``invoice_month`` (the accessor's call): that invoice month's lines of [start_date, end_date], which may cross
    a month boundary. Without it (the updater's loop): the invoice month of start_date over the days its lines ran
    (fetch_invoice_month_dates), as GCPReportParquetSummaryUpdater does."""
    if invoice_month in (None, ""):
        from poc_tasks.daily.gcp import resolve_invoice_range
        from poc_tasks.validate import validate_schema, validate_uuid

        invoice_month, start_date, end_date = resolve_invoice_range(
            Settings.from_env(), validate_schema(schema_name), validate_uuid(source_uuid), start_date, end_date)
    return _summarize_daily(self, "GCP", {
        "schema_name": schema_name, "source_uuid": source_uuid, "start_date": str(start_date),
        "end_date": str(end_date), "bill_id": bill_id, "markup_value": markup_value,
        "invoice_month": invoice_month, "tracing_id": tracing_id})


@app.task(name="poc_tasks.daily_compute_chunk", bind=True, acks_late=True)
def daily_compute_chunk(self, run_id: str, chunk_start: str, chunk_end: str, lock: dict[str, str] | None = None,
                        root: str | None = None, chunks_total: int | None = None) -> dict[str, Any]:
    """One chunk of a daily summary into the run's staging folder (a retry rewrites its parts)."""
    from poc_tasks.daily.run import compute_chunk as compute

    return _compute_chunk(self, compute, run_id, chunk_start, chunk_end, lock, root, chunks_total)


@app.task(name="poc_tasks.daily_write_tables", bind=True, acks_late=True)
def daily_write_tables(self, chunk_results: list[dict[str, Any]], run_id: str, lock: dict[str, str] | None = None,
                       started_at: float | None = None, root: str | None = None) -> Any:
    """After every chunk: one write task per table of the flow, then the finalize callback."""
    return _fan_out_writes(self, daily_write_table, daily_finalize_run, chunk_results, run_id, lock, started_at,
                           root)


@app.task(name="poc_tasks.daily_write_table", bind=True, acks_late=True)
def daily_write_table(self, run_id: str, table: str, lock: dict[str, str] | None = None, root: str | None = None,
                      tables_total: int | None = None) -> dict[str, int]:
    """Stage one table into the run's side table (finalize swaps every table in with Koku's delete rules)."""
    from poc_tasks.daily.run import write_table as write

    return _write_one(self, write, run_id, table, lock, root, tables_total)


@app.task(name="poc_tasks.daily_finalize_run", bind=True, acks_late=True)
def daily_finalize_run(self, write_results: list[dict[str, int]], run_id: str,
                       chunk_results: list[dict[str, Any]] | None = None, lock: dict[str, str] | None = None,
                       started_at: float | None = None, root: str | None = None) -> dict[str, Any]:
    """Chord callback: the flow's finalize (bill timestamps), drop the staging folder, the run summary."""
    from poc_tasks.daily.run import finalize

    return _finalize(self, finalize, write_results, run_id, chunk_results, lock, started_at, root)


# --- the OCP infrastructure map (poc_tasks/daily/infra_map.py) -----------------------------------------------


@app.task(name="poc_tasks.ocp_infrastructure_map", bind=True, acks_late=True)
def ocp_infrastructure_map(self, schema_name: str, start_date: str, end_date: str,
                           ocp_provider_uuid: str | None = None, aws_provider_uuid: str | None = None,
                           azure_provider_uuid: str | None = None, gcp_provider_uuid: str | None = None,
                           tracing_id: str | None = None) -> dict[str, list[str]]:
    """Koku's OCPReportDBAccessor.get_ocp_infrastructure_map_trino, without Trino: {ocp uuid: [cloud uuid, type]}
    (Koku's tuples as JSON lists). Read-only; Koku's hook usually calls the same function in-process."""
    from poc_tasks.daily.infra_map import get_ocp_infrastructure_map, to_json

    LOG.info("ocp_infrastructure_map schema=%s %s..%s tracing_id=%s", schema_name, start_date, end_date, tracing_id)
    return to_json(get_ocp_infrastructure_map(
        schema_name, start_date, end_date, ocp_provider_uuid=ocp_provider_uuid, aws_provider_uuid=aws_provider_uuid,
        azure_provider_uuid=azure_provider_uuid, gcp_provider_uuid=gcp_provider_uuid))


# --- phase 1: shadow comparison ------------------------------------------------------------------------------


@app.task(name="poc_tasks.shadow_compare", bind=True, acks_late=True)
def shadow_compare(self, schema_name: str, source_uuid: str, start_date: str, end_date: str,
                   cluster_id: str | None = None, cluster_alias: str | None = None,
                   report_period_id: int | None = None, tracing_id: str | None = None,
                   provider_type: str | None = None, bill_id: int | None = None,
                   markup_value: float | str | None = None, invoice_month: str | None = None) -> dict[str, Any]:
    """Compute poc_tasks' rows for a range Trino already summarised, without writing them; compare with the live
    table; store the verdict in <schema>.poc_shadow_comparison and write the report (JSON + HTML) under
    POC_SHADOW_REPORT_ROOT (default DATA_ROOT/poc_tasks_reports). Returns the verdict's summary.

    OCP by default (cluster and report period read from the live report period when not given). With
    ``provider_type`` AWS-daily, AWS-EC2-compute, Azure-daily or GCP-daily: that cloud daily summary with the
    arguments Koku's summary updater passed to Trino (bill_id, markup_value, GCP's invoice_month)."""
    settings = Settings.from_env()
    progress = _progress(self, self.request.id or "")
    if provider_type not in (None, "", "OCP"):
        from poc_tasks.compare.daily import daily_spec_for, shadow_compare_daily

        spec = daily_spec_for(provider_type, schema_name, source_uuid, start_date, end_date, bill_id, markup_value,
                              invoice_month)
        LOG.info("shadow_compare %s schema=%s source=%s %s..%s tracing_id=%s", provider_type, spec.schema_name,
                 spec.source_uuid, spec.start_date, spec.end_date, tracing_id)
        return shadow_compare_daily(spec, settings, tracing_id=tracing_id, progress=progress)
    from poc_tasks.compare.shadow import resolve_ocp_spec, shadow_compare_ocp

    spec = resolve_ocp_spec(settings, schema_name, source_uuid, start_date, end_date, cluster_id, cluster_alias,
                            report_period_id)
    LOG.info("shadow_compare schema=%s source=%s %s..%s tracing_id=%s", spec.schema_name, spec.source_uuid,
             spec.start_date, spec.end_date, tracing_id)
    return shadow_compare_ocp(spec, settings, tracing_id=tracing_id, progress=progress)
