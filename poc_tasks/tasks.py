"""Thin Celery entry points: validate the broker's arguments, prepare, compute day chunks, write, finalize.

    summarize_ocp (prepare) --replace--> chord( compute_chunk(run, days) for each day chunk )
        --> write_tables (run) --replace--> chord( write_table(run, table) for each staged table )
        --> finalize_run (run)

Day chunks run on any number of workers; each table is then written in one transaction. Arguments arrive from
a broker, so each task validates them (schema names, uuids, dates) before any SQL or path is built from them;
staging paths come from the worker's own settings, never from the message.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import chord

from poc_tasks.app import QUEUE, app
from poc_tasks.errors import InvalidArgument
from poc_tasks.run import OcpRunSpec
from poc_tasks.settings import Settings

LOG = logging.getLogger(__name__)
PROGRESS = "PROGRESS"  # custom state: Flower shows meta {"step", "day", ...} while a run computes


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


def _progress(task: Any, run_id: str):
    def report(step: str, meta: dict[str, Any]) -> None:
        if task.request.id and not task.request.is_eager:
            task.update_state(state=PROGRESS, meta={"step": step, "run_id": run_id, **meta})

    return report


@app.task(name="poc_tasks.summarize_ocp", bind=True, acks_late=True)
def summarize_ocp(self, schema_name: str, source_uuid: str, start_date: str, end_date: str, cluster_id: str,
                  cluster_alias: str | None = None, report_period_id: int | None = None,
                  tracing_id: str | None = None) -> Any:
    """Koku's populate_line_item_daily_summary_table_trino, without Trino: one OCP source, one month's range."""
    from poc_tasks.ocp.pipeline import prepare_ocp

    spec = OcpRunSpec.build(schema_name, source_uuid, cluster_id, start_date, end_date, cluster_alias,
                            report_period_id)
    settings, stage = _stage(uuid.uuid4().hex)
    LOG.info("summarize_ocp run=%s schema=%s source=%s %s..%s tracing_id=%s", stage.run_id, spec.schema_name,
             spec.source_uuid, spec.start_date, spec.end_date, tracing_id)
    try:
        manifest = prepare_ocp(spec, settings, stage, _progress(self, stage.run_id))
    except BaseException:
        stage.cleanup()
        raise
    if not self.request.id or self.request.is_eager:  # called directly: the same steps in-process
        chunks = [compute_chunk(run_id=stage.run_id, chunk_start=a, chunk_end=b) for a, b in manifest["chunks"]]
        return write_tables(chunks, run_id=stage.run_id)
    queue = _queue(self)
    header = [compute_chunk.s(run_id=stage.run_id, chunk_start=a, chunk_end=b).set(queue=queue)
              for a, b in manifest["chunks"]]
    raise self.replace(chord(header, write_tables.s(run_id=stage.run_id).set(queue=queue)))


@app.task(name="poc_tasks.compute_chunk", bind=True, acks_late=True)
def compute_chunk(self, run_id: str, chunk_start: str, chunk_end: str) -> dict[str, Any]:
    """Summarise one day chunk into the run's staging folder (a retry rewrites the same part file)."""
    from poc_tasks.ocp.pipeline import compute_chunk as compute

    settings, stage = _stage(run_id)
    return compute(settings, stage, chunk_start, chunk_end, _progress(self, stage.run_id))


@app.task(name="poc_tasks.write_tables", bind=True, acks_late=True)
def write_tables(self, chunk_results: list[dict[str, Any]], run_id: str) -> Any:
    """After every chunk: one write task per staged table, then the finalize callback."""
    settings, stage = _stage(run_id)
    manifest = stage.read_manifest()
    if not self.request.id or self.request.is_eager:
        results = [write_table(run_id=stage.run_id, table=t) for t in manifest["tables"]]
        return finalize_run(results, run_id=stage.run_id, chunk_results=chunk_results)
    queue = _queue(self)
    header = [write_table.s(run_id=stage.run_id, table=t).set(queue=queue) for t in manifest["tables"]]
    callback = finalize_run.s(run_id=stage.run_id, chunk_results=chunk_results).set(queue=queue)
    raise self.replace(chord(header, callback))


@app.task(name="poc_tasks.write_table", bind=True, acks_late=True)
def write_table(self, run_id: str, table: str) -> dict[str, int]:
    """One table's replace: delete what the run replaces, COPY the staged rows, commit (one transaction)."""
    from poc_tasks.ocp.pipeline import write_table as write

    settings, stage = _stage(run_id)
    return {table: write(settings, stage, table)}


@app.task(name="poc_tasks.finalize_run", bind=True, acks_late=True)
def finalize_run(self, write_results: list[dict[str, int]], run_id: str,
                 chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Chord callback: stamp the report period, drop the staging folder, return rows per table and timings."""
    from poc_tasks.ocp.pipeline import finalize

    settings, stage = _stage(run_id)
    written: dict[str, int] = {}
    for part in write_results:
        written.update(part)
    return finalize(settings, stage, written, chunk_results)
