"""The OCP daily summary run: prepare -> compute day chunks (stream, transform, stage) -> write -> finalize.

Koku's order (OCPReportParquetSummaryUpdater.update_summary_tables): move the start to the first day with data,
ensure the report period, fill the cluster info tables (their node roles name the unallocated rows), summarise
each day, replace the range's rows, stamp the report period. The compute step is split into day chunks
(Koku's TRINO_DATE_STEP, 5 days) so a big source-month can run on several workers; every chunk stages its rows
under the run's folder and each table is then written in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import pandas as pd
import pyarrow as pa

from poc_tasks.db import tenant
from poc_tasks.db.connection import connect
from poc_tasks.db.init import ensure_report_period
from poc_tasks.db.run_swap import TableReplace, side_tables_needed, stage_table, swap_tables
from poc_tasks.db.writer import DAILY_SUMMARY_DELETE_WHERE, same_report_period
from poc_tasks.errors import MissingInputData
from poc_tasks.inprocess import new_stage as new_stage  # compare/shadow.py and tests take it from here
from poc_tasks.inprocess import run_in_process
from poc_tasks.io.staging import Stage
from poc_tasks.memory import tune_allocators
from poc_tasks.ocp import cluster_info
from poc_tasks.ocp.day_inputs import read_day
from poc_tasks.ocp.inputs import open_sources
from poc_tasks.ocp.labels import ALWAYS_ENABLED_KEY, LabelParser
from poc_tasks.ocp.summary import STAGED_SCHEMA, SUMMARY_TABLE, WRITTEN_COLUMNS, RunConstants, summarize_day, to_arrow
from poc_tasks.ocp.unallocated import node_roles
from poc_tasks.ownership import check_ocp_run
from poc_tasks.runspec import OcpRunSpec, days_in_range
from poc_tasks.settings import Settings
from poc_tasks.stream_writes import StreamPlan
from poc_tasks.validate import parse_date

LOG = logging.getLogger(__name__)
Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_DATE_STEP = 5  # Koku's TRINO_DATE_STEP


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def date_chunks(start: dt.date, end: dt.date, step: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive inclusive chunks of at most `step` days covering [start, end]."""
    if step < 1:
        raise ValueError("step must be >= 1")
    days = days_in_range(start, end)
    return [(days[i], days[min(i + step, len(days)) - 1]) for i in range(0, len(days), step)]


def prepare_ocp(spec: OcpRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop,
                date_step: int | None = None, shadow: bool = False) -> dict[str, Any]:
    """Everything Koku does before the per-chunk summary; the manifest tells the chunk tasks what to do.

    shadow=True is the read-only variant of the phase-1 shadow runs (poc_tasks.compare): the report period must
    exist already (Koku's run made it) and the cluster info tables are left as Koku's run filled them; the
    session is read-only, and the manifest is marked so that write_table and finalize refuse it.
    """
    tune_allocators()  # before the first Arrow thread makes its own malloc arena
    t0 = time.perf_counter()
    db_url = settings.require_database_url()
    sources = open_sources(settings.require_data_root(), spec, settings.storage_options())
    progress("scan", {"source_uuid": spec.source_uuid})
    first = cluster_info.first_usage_day(sources, spec.start_date, spec.end_date)
    if first is None:
        raise MissingInputData(f"no pod usage rows for source {spec.source_uuid} between {spec.start_date} and "
                               f"{spec.end_date} in {len(sources.pod_daily.files)} daily file(s)")
    start = max(spec.start_date, first)  # Koku's _check_parquet_date_range
    info = cluster_info.scan(sources, start, spec.end_date)
    with closing(connect(db_url)) as conn:
        # before any write: a cluster id or report period that contradicts the tenant's is refused
        with conn:
            check_ocp_run(conn, spec.schema_name, spec.source_uuid, spec.cluster_id, spec.start_date,
                          spec.report_period_id)
        if shadow:
            rp_id = _shadow_report_period(conn, spec)
        else:
            with conn:  # Koku's create_bill: the report period exists before the summary
                rp_id = spec.report_period_id or ensure_report_period(
                    conn, spec.schema_name, spec.source_uuid, spec.cluster_id, spec.cluster_alias,
                    spec.start_date.replace(day=1))
            tenant.upsert_cluster_info(conn, spec.schema_name, spec.source_uuid, spec.cluster_id,
                                       spec.cluster_alias, info.nodes, info.pvcs, info.projects)
        enabled = tenant.enabled_tag_keys(conn, spec.schema_name, "OCP")
        patterns = tenant.cost_category_namespaces(conn, spec.schema_name)
        roles = node_roles(tenant.ocp_nodes(conn, spec.schema_name))
    step = date_step or int(os.environ.get("POC_DATE_STEP", DEFAULT_DATE_STEP))
    manifest = {
        "provider": "OCP",
        "run": spec.to_kwargs(),
        "start_date": start.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "report_period_id": rp_id,
        "tables": [SUMMARY_TABLE],
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in date_chunks(start, spec.end_date, step)],
        "enabled_keys": enabled,
        "cost_category_namespaces": [list(p) for p in patterns],
        "node_roles": roles.astype(object).where(roles.notna(), None).values.tolist(),
        "cluster_info": {"nodes": len(info.nodes), "pvcs": len(info.pvcs), "projects": len(info.projects)},
        "rows_read": sources.rows_read(),
        "bytes_read": sources.bytes_read(),
        "timings": {"prepare_s": round(time.perf_counter() - t0, 3)},
    }
    if shadow:
        manifest["shadow"] = True
    stage.write_json("parquet_index", sources.export_index())
    stage.write_manifest(manifest)
    return manifest


def _shadow_report_period(conn: Any, spec: OcpRunSpec) -> int:
    """The live report period id, read in a read-only session (a shadow run never creates one)."""
    conn.set_session(readonly=True)
    rp_id = spec.report_period_id or tenant.get_report_period(conn, spec.schema_name, spec.source_uuid,
                                                              spec.start_date)
    if rp_id is None:
        raise MissingInputData(f"no report period of source {spec.source_uuid} for {spec.start_date:%Y-%m} in "
                               f"{spec.schema_name}: nothing to compare with (has Koku summarised it?)")
    return rp_id


def _refuse_shadow(stage: Stage, manifest: dict[str, Any]) -> None:
    if manifest.get("shadow"):
        raise ValueError(f"run {stage.run_id} is a shadow run: its rows never go to the live tables")


def compute_chunk(settings: Settings, stage: Stage, chunk_start: str | dt.date, chunk_end: str | dt.date,
                  progress: Progress = _noop) -> dict[str, Any]:
    """Summarise the days of one chunk into the stage (one part file per table). Pure re-runs: same file."""
    t0 = time.perf_counter()
    tune_allocators()
    manifest = stage.read_manifest()
    spec = OcpRunSpec.build(**manifest["run"])
    first, last = parse_date(chunk_start, "chunk_start"), parse_date(chunk_end, "chunk_end")
    sources = open_sources(settings.require_data_root(), spec, settings.storage_options(),
                           index=stage.read_json("parquet_index"))
    parser = LabelParser(manifest["enabled_keys"])
    patterns = [(p, int(c)) for p, c in manifest["cost_category_namespaces"]]
    roles = pd.DataFrame(manifest["node_roles"], columns=["node", "resource_id", "node_role"], dtype=object)
    constants = RunConstants(manifest["report_period_id"], spec.cluster_id, spec.cluster_alias, spec.source_uuid)
    rows = 0
    with stage.writer(SUMMARY_TABLE, STAGED_SCHEMA, part=first.isoformat()) as writer:
        for day in days_in_range(first, last):
            progress("summarize", {"day": day.isoformat()})
            table = to_arrow(summarize_day(read_day(sources, day, parser), patterns, roles), constants)
            writer.write_table(table)
            rows += table.num_rows
    return {"chunk": [first.isoformat(), last.isoformat()], "rows": rows, "rows_read": sources.rows_read(),
            "bytes_read": sources.bytes_read(), "seconds": round(time.perf_counter() - t0, 3),
            "label_keys": sorted(parser.keys_seen())}


def _written_columns(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The staged batches without the staging-only columns; the writer adds a random uuid per row, as Koku's
    final insert does with uuid_generate_v4()."""
    for batch in batches:
        yield batch.select(WRITTEN_COLUMNS)


def _summary_replace(manifest: dict[str, Any]) -> TableReplace:
    """Koku's delete rule of the run's summary rows (report period, range; infrastructure cost rows kept)."""
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    rp = int(manifest["report_period_id"])
    return TableReplace(SUMMARY_TABLE, DAILY_SUMMARY_DELETE_WHERE, {"start": start, "end": end,
                                                                   "report_period_id": rp},
                        partition_range=(start, end), constants={"report_period_id": rp},
                        checks=(same_report_period(rp),), analyze=True)  # OCP on cloud reads these rows back


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Stage the run's rows of one table in its side table (db.run_swap; finalize swaps them in); returns the
    rows staged. The OCP run writes one table: nothing to stage, finalize COPYs it in its swap transaction."""
    manifest = stage.read_manifest()
    _refuse_shadow(stage, manifest)
    if table not in manifest["tables"]:
        raise ValueError(f"run {stage.run_id} staged no table {table!r}")
    if not side_tables_needed(manifest["tables"]):
        return 0  # one table: finalize COPYs it straight from the stage, in its swap transaction
    with closing(connect(settings.require_database_url())) as conn:
        return stage_table(conn, manifest["run"]["schema_name"], stage.run_id, _summary_replace(manifest),
                           _written_columns(stage.read_batches(table)))


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every table is staged, in one transaction: the summary rows swapped in (Koku's delete, the staged
    rows) and the report period stamped as Koku does; then drop the staging folder, summarise the run."""
    manifest = stage.read_manifest()
    _refuse_shadow(stage, manifest)
    schema = manifest["run"]["schema_name"]
    with closing(connect(settings.require_database_url())) as conn:
        direct = {} if side_tables_needed(manifest["tables"]) else {
            SUMMARY_TABLE: lambda: _written_columns(stage.read_batches(SUMMARY_TABLE))}
        swapped = swap_tables(conn, schema, stage.run_id, [_summary_replace(manifest)], direct=direct,
                              then=lambda c: tenant.set_report_period_summary_times(
                                  c, schema, manifest["report_period_id"], commit=False))
    return _result(stage, manifest, {**written, **{t: r.inserted for t, r in swapped.items()}}, chunk_results)


def stream_plan(settings: Settings, stage: Stage) -> StreamPlan:
    """The run's streamed write (poc_tasks.stream_writes): the summary rows COPYed chunk by chunk, the report
    period stamped as finalize does, its result."""
    manifest = stage.read_manifest()
    _refuse_shadow(stage, manifest)
    schema = manifest["run"]["schema_name"]
    return StreamPlan(schema, manifest["tables"], [_summary_replace(manifest)],
                      lambda t, part: _written_columns(stage.read_part(t, part)),
                      lambda c: tenant.set_report_period_summary_times(c, schema, manifest["report_period_id"],
                                                                       commit=False),
                      lambda written, chunks: _result(stage, manifest, written, chunks))


def _result(stage: Stage, manifest: dict[str, Any], written: dict[str, int],
            chunk_results: list[dict[str, Any]] | None) -> dict[str, Any]:
    """After the commit: the stage dropped, the run summarised."""
    stage.discard()  # after the commit: a staging endpoint that fails now must not fail the run (swept later)
    chunks = chunk_results or []
    timings = dict(manifest["timings"])
    timings["compute_s"] = round(sum(c["seconds"] for c in chunks), 3)
    return {"run_id": stage.run_id, "provider": manifest["provider"], "rows": written,
            "start_date": manifest["start_date"], "end_date": manifest["end_date"],
            "report_period_id": manifest["report_period_id"], "chunks": len(manifest["chunks"]),
            "rows_read": manifest["rows_read"] + sum(c["rows_read"] for c in chunks),
            "bytes_read": manifest["bytes_read"] + sum(c["bytes_read"] for c in chunks),
            "label_keys": label_key_report(manifest["enabled_keys"], chunks),
            "timings": timings}


def label_key_report(enabled: list[str], chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The label keys of the data and which of them the tenant enabled. Koku's ingestion records new OCP keys
    disabled (populate_enabled_tag_rows_with_false) until a user enables them; a run keeps only enabled keys,
    so a tenant with none writes no label at all: callers say so (the CLI warns, with the command to enable)."""
    seen = set().union(*(c.get("label_keys") or () for c in chunks)) - {ALWAYS_ENABLED_KEY}
    on = set(enabled)
    off = sorted(seen - on)
    return {"in_data": len(seen), "enabled": len(seen & on), "not_enabled": off[:50], "not_enabled_count": len(off)}


def run_ocp(spec: OcpRunSpec, settings: Settings, progress: Progress = _noop) -> dict[str, Any]:
    """The whole run in-process (the CLI's `run ocp`): the Celery chord's steps (table writes in threads)."""
    return run_in_process(settings, lambda stage: prepare_ocp(spec, settings, stage, progress), compute_chunk,
                          write_table, finalize, progress,
                          run_key=("OCP", spec.schema_name, spec.source_uuid, spec.start_date),
                          stream_plan=stream_plan)
