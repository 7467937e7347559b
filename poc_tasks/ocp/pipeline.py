"""The OCP daily summary run: read (stream) -> transform (pure, per day) -> stage -> write (one transaction).

Koku's order (OCPReportParquetSummaryUpdater.update_summary_tables): move the start to the first day with data,
ensure the report period, fill the cluster info tables (their node roles feed the unallocated rows), summarise
each day, replace the range's rows, stamp the report period.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import pyarrow as pa

from poc_tasks.db import tenant
from poc_tasks.db.connection import connect
from poc_tasks.db.init import ensure_report_period
from poc_tasks.db.writer import replace_daily_summary
from poc_tasks.errors import MissingInputData
from poc_tasks.io.staging import Stage
from poc_tasks.ocp import cluster_info
from poc_tasks.ocp.day_inputs import read_day
from poc_tasks.ocp.inputs import open_sources
from poc_tasks.ocp.labels import LabelParser
from poc_tasks.ocp.summary import STAGED_SCHEMA, SUMMARY_TABLE, WRITTEN_COLUMNS, RunConstants, summarize_day, to_arrow
from poc_tasks.ocp.unallocated import node_roles
from poc_tasks.run import OcpRunSpec, days_in_range
from poc_tasks.settings import Settings

LOG = logging.getLogger(__name__)
Progress = Callable[[str, dict[str, Any]], None]


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def compute_ocp(spec: OcpRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop) -> dict[str, Any]:
    """Compute the run's summary rows into the stage; returns the manifest the write tasks and callback need."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    db_url = settings.require_database_url()
    sources = open_sources(settings.require_data_root(), spec, settings.storage_options())

    progress("scan", {"source_uuid": spec.source_uuid})
    first = cluster_info.first_usage_day(sources, spec.start_date, spec.end_date)
    if first is None:
        raise MissingInputData(f"no pod usage rows for source {spec.source_uuid} between {spec.start_date} and "
                               f"{spec.end_date} in {len(sources.pod_daily.files)} daily file(s)")
    start = max(spec.start_date, first)
    info = cluster_info.scan(sources, start, spec.end_date)
    timings["scan_s"] = time.perf_counter() - t0

    with closing(connect(db_url)) as conn:
        with conn:  # Koku's create_bill: the report period exists before the summary
            rp_id = spec.report_period_id or ensure_report_period(
                conn, spec.schema_name, spec.source_uuid, spec.cluster_id, spec.cluster_alias,
                spec.start_date.replace(day=1))
        # Koku fills the cluster info tables before the summary: their node roles name the unallocated rows
        tenant.upsert_cluster_info(conn, spec.schema_name, spec.source_uuid, spec.cluster_id,
                                   spec.cluster_alias, info.nodes, info.pvcs, info.projects)
        enabled = tenant.enabled_tag_keys(conn, spec.schema_name, "OCP")
        patterns = tenant.cost_category_namespaces(conn, spec.schema_name)
        roles = node_roles(tenant.ocp_nodes(conn, spec.schema_name))
    timings["cluster_info_s"] = time.perf_counter() - t0 - timings["scan_s"]

    parser = LabelParser(enabled)
    constants = RunConstants(rp_id, spec.cluster_id, spec.cluster_alias, spec.source_uuid)
    rows_by_day: dict[str, int] = {}
    t1 = time.perf_counter()
    with stage.writer(SUMMARY_TABLE, STAGED_SCHEMA) as writer:
        for day in days_in_range(start, spec.end_date):
            progress("summarize", {"day": day.isoformat()})
            frame = summarize_day(read_day(sources, day, parser), patterns, roles)
            table = to_arrow(frame, constants)
            writer.write_table(table)
            rows_by_day[day.isoformat()] = table.num_rows
    timings["summarize_s"] = time.perf_counter() - t1
    manifest = {
        "provider": "OCP",
        "run": spec.to_kwargs(),
        "start_date": start.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "report_period_id": rp_id,
        "tables": [SUMMARY_TABLE],
        "rows_by_day": rows_by_day,
        "rows_read": sources.rows_read(),
        "bytes_read": sources.bytes_read(),
        "cluster_info": {"nodes": len(info.nodes), "pvcs": len(info.pvcs), "projects": len(info.projects)},
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    stage.write_manifest(manifest)
    return manifest


def _with_uuids(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Koku gives every summary row a random uuid (uuid_generate_v4 in its final insert)."""
    for batch in batches:
        ids = pa.array([str(uuid.uuid4()) for _ in range(batch.num_rows)], type=pa.string())
        cols = [batch.column(batch.schema.get_field_index(c)) for c in WRITTEN_COLUMNS]
        yield pa.RecordBatch.from_arrays([ids, *cols], names=["uuid", *WRITTEN_COLUMNS])


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Replace the run's rows of one table in one transaction; returns the rows written."""
    manifest = stage.read_manifest()
    if table != SUMMARY_TABLE:
        raise ValueError(f"OCP runs stage no table {table!r}")
    run = manifest["run"]
    with closing(connect(settings.require_database_url())) as conn:
        return replace_daily_summary(
            conn, run["schema_name"], manifest["report_period_id"],
            manifest["start_date"], manifest["end_date"], _with_uuids(stage.read_batches(table)))


def finalize(settings: Settings, stage: Stage, written: dict[str, int]) -> dict[str, Any]:
    """After every write: stamp the report period as Koku does, drop the staging folder, summarise the run."""
    manifest = stage.read_manifest()
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            tenant.set_report_period_summary_times(conn, manifest["run"]["schema_name"], manifest["report_period_id"])
    stage.cleanup()
    return {"run_id": stage.run_id, "provider": manifest["provider"], "rows": written,
            "start_date": manifest["start_date"], "end_date": manifest["end_date"],
            "report_period_id": manifest["report_period_id"], "rows_read": manifest["rows_read"],
            "bytes_read": manifest["bytes_read"], "timings": manifest["timings"]}


def run_ocp(spec: OcpRunSpec, settings: Settings, progress: Progress = _noop) -> dict[str, Any]:
    """The whole run in-process (the CLI's `run ocp`): same steps as the Celery chord, one after the other."""
    t0 = time.perf_counter()
    stage = Stage(settings.effective_staging_root(), uuid.uuid4().hex, settings.storage_options())
    try:
        manifest = compute_ocp(spec, settings, stage, progress)
        t1 = time.perf_counter()
        written = {t: write_table(settings, stage, t) for t in manifest["tables"]}
        result = finalize(settings, stage, written)
    except BaseException:
        stage.cleanup()
        raise
    result["timings"]["write_s"] = round(time.perf_counter() - t1, 3)
    result["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
    return result
