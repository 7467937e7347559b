"""The shared OCP-on-cloud run for a provider module: prepare -> compute chunks -> write tables -> finalize.

Koku's order (OCPCloudParquetReportSummaryUpdater.update_{azure,gcp}_summary_tables): the OCP report period of the
month must exist (Azure also needs the cluster row), the cloud bill(s) of the month, then per Koku date chunk
(5-day ``date_range_pair``) matching, attribution and the project rows, the back-populated OCP rows, tag summaries
and the UI tables (GCP runs the UI tables before the tags; both are computed from the same staged rows here, so
the order changes nothing); finally the report period's ``ocp_on_cloud_updated_datetime``.

A chunk is computed in two passes over its days, so that at most one day of cloud lines is in memory: the
provider's narrow first pass (which lines can match, disk sizes, each disk's total PV capacity over the chunk, the
texts the matched tags are discovered from), then per day the matched lines, their attribution and every output
row of that day, appended to the chunk's staged Parquet. Every table is then written in one transaction
(writer.replace_rows / tag_tables.write_tag_tables) with Koku's delete rules, as a Celery chord or in-process.
The provider modules are registered in :data:`PROVIDERS` (name -> module whose ``PROVIDER`` describes it).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, closing
from typing import Any

import pandas as pd
import pyarrow as pa

from poc_tasks.cloud import tenant as cloud_tenant
from poc_tasks.cloud import tenant_cloud
from poc_tasks.cloud.frames import arrow_schema, to_arrow
from poc_tasks.cloud.matching import special_candidates, tag_candidates
from poc_tasks.cloud.ocp_input import open_ocp_parquet, scan_chunk
from poc_tasks.cloud.outputs import back_populate_rows, round_to_column_scales, ui_rows
from poc_tasks.cloud.pipeline import WRITE_BATCH_ROWS, new_stage
from poc_tasks.cloud.project import BACK_POPULATE_COLUMNS, project_tag_keys
from poc_tasks.cloud.provider import ChunkContext, CloudProvider
from poc_tasks.cloud.spec import CloudRunSpec, date_range_pair
from poc_tasks.cloud.tag_tables import ChunkTagParts, write_tag_tables
from poc_tasks.db.connection import connect
from poc_tasks.db.parallel_writes import write_tables
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.db.writer import replace_rows
from poc_tasks.errors import MissingInputData
from poc_tasks.io.staging import Stage
from poc_tasks.memory import release_memory, tune_allocators
from poc_tasks.run import days_in_range, parse_date
from poc_tasks.settings import Settings

__all__ = ["PROVIDERS", "provider", "prepare", "compute_chunk", "write_table", "finalize", "run", "write_order",
           "compute_any_chunk", "write_any_table", "finalize_any"]

Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_DATE_STEP = 5  # Koku's TRINO_DATE_STEP
PROVIDERS = {"Azure": "poc_tasks.cloud.azure", "GCP": "poc_tasks.cloud.gcp"}
TAGS_SUMMARY_PART, TAGS_VALUES_PART = "tags_summary_part", "tags_values_part"
BACK_POPULATE_SCHEMA = arrow_schema(get_table(SUMMARY_TABLE), BACK_POPULATE_COLUMNS)


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def provider(name: str) -> CloudProvider:
    """The provider module's description ('Azure', 'GCP', or a run name such as 'OCP-on-GCP')."""
    key = name.removeprefix("OCP-on-")
    if key not in PROVIDERS:
        raise ValueError(f"no OCP-on-cloud provider {name!r} (known: {', '.join(PROVIDERS)})")
    return importlib.import_module(PROVIDERS[key]).PROVIDER


def write_order(p: CloudProvider) -> list[str]:
    """Koku's order of the per-chunk writes: project table, back-populated OCP rows, tags, UI tables."""
    return [p.project_table, SUMMARY_TABLE, p.tags.summary, *(t.name for t in p.ui_tables)]


def _project_schema(p: CloudProvider) -> pa.Schema:
    table = get_table(p.project_table)
    return arrow_schema(table, [c.name for c in table.columns if c.name != "uuid"])


def _ui_schema(name: str) -> pa.Schema:
    table = get_table(name)
    return arrow_schema(table, [c.name for c in table.columns])


# --- prepare ---------------------------------------------------------------------------------------------------

def prepare(p: CloudProvider, spec: CloudRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop,
            date_step: int | None = None) -> dict[str, Any]:
    """Everything Koku does before the per-chunk work; the manifest tells the chunk tasks what to do."""
    t0 = time.perf_counter()
    root = settings.require_data_root()
    month_start = spec.start_date.replace(day=1)
    sources = p.open_sources(settings, spec)  # fails early without cloud Parquet
    open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                     settings.storage_options())  # ... or without OCP Parquet
    progress("prepare", {p.kwarg: spec.cloud_provider_uuid})
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            rp = cloud_tenant.report_period(conn, spec.schema_name, spec.openshift_provider_uuid, month_start)
            if rp is None:
                raise MissingInputData(
                    f"no OCP report period of {month_start:%Y-%m} for OCP source {spec.openshift_provider_uuid} in "
                    f"{spec.schema_name}: run the OCP summary of the range first (poc-tasks run ocp)")
            if p.requires_cluster and not cloud_tenant.has_cluster(conn, spec.schema_name,
                                                                   spec.openshift_provider_uuid):
                raise MissingInputData(f"no reporting_ocp_clusters row for OCP source {spec.openshift_provider_uuid}: "
                                       "run the OCP summary of the range first (poc-tasks run ocp)")
            tenant_cloud.ensure_month_bill(conn, spec.schema_name, p.bill_table, spec.cloud_provider_uuid, p.name,
                                           p.name, month_start)
            bills = tenant_cloud.month_bill_ids(conn, spec.schema_name, p.bill_table, spec.cloud_provider_uuid,
                                                month_start, spec.end_date)
            cloud_keys = cloud_tenant.enabled_keys(conn, spec.schema_name, p.name)
            ocp_keys = cloud_tenant.enabled_keys(conn, spec.schema_name, "OCP")
            both = tenant_cloud.keys_enabled_for_both(conn, spec.schema_name, p.name)
            pg_matched: list[str] = []
            if both and cloud_tenant.keys_exist(conn, spec.schema_name, "OCP"):
                pg_matched = tenant_cloud.postgres_matched_tags(conn, spec.schema_name, p.name, p.tags_values_table,
                                                                p.pg_discovery_enabled_only)
            extra = p.extra_manifest(conn, spec) if p.extra_manifest else {}
            any_keys = tenant_cloud.tag_keys(conn, spec.schema_name)
            ocp_listed = tenant_cloud.tag_keys(conn, spec.schema_name, "OCP")
    if spec.bill_id is not None and spec.bill_id not in bills:
        raise MissingInputData(f"bill_id {spec.bill_id} is not a {p.name} bill of source {spec.cloud_provider_uuid} "
                               f"for {month_start:%Y-%m} (its bills: {bills})")
    step = date_step or int(os.environ.get("POC_DATE_STEP", DEFAULT_DATE_STEP))
    manifest = {
        "provider": p.run_name,
        "run": spec.to_kwargs(),
        "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "report_period_id": spec.report_period_id or rp[0],
        "rp_cluster_id": rp[1],
        "rp_cluster_alias": rp[2],
        "bill_id": spec.bill_id or bills[0],
        "bill_ids": bills,
        "tables": write_order(p),
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in date_range_pair(spec.start_date, spec.end_date, step)],
        "cloud_keys": cloud_keys,
        "ocp_keys": ocp_keys,
        "keys_enabled_for_both": both,
        "pg_matched_tags": pg_matched,
        "any_keys": any_keys,
        "ocp_listed_keys": ocp_listed,
        "markup": spec.markup_fraction,
        "distribution": spec.distribution,
        "rows_read": sources.rows_read(),
        "bytes_read": sources.bytes_read(),
        "timings": {"prepare_s": round(time.perf_counter() - t0, 3)},
        **extra,
    }
    stage.write_manifest(manifest)
    return manifest


# --- compute ---------------------------------------------------------------------------------------------------

def _conservation(p: CloudProvider, temp: pd.DataFrame | None, final: pd.DataFrame | None) -> dict[str, float]:
    """Per day: the matched lines' cost and what the final rows attribute (every namespace)."""
    have_temp = temp is not None and not temp.empty
    have_final = final is not None and not final.empty
    out: dict[str, float] = {"matched_lines": int(len(temp)) if have_temp else 0}
    for c in p.conservation_costs:
        out[f"matched_{c}"] = float(pd.to_numeric(temp[c]).sum()) if have_temp else 0.0
        out[f"attributed_{c}"] = float(pd.to_numeric(final[c]).sum()) if have_final else 0.0
    return out


def _matched_tag_strings(p: CloudProvider, ctx: ChunkContext, state) -> list[str]:
    """_get_matched_tags_strings: PostgreSQL's answer if any, else Koku's Trino query over the chunk's data."""
    if ctx.manifest["pg_matched_tags"] or not ctx.discover:
        return list(ctx.manifest["pg_matched_tags"])
    return p.discovery_pairs(ctx, state)


def compute_chunk(settings: Settings, stage: Stage, chunk_start: str | dt.date, chunk_end: str | dt.date,
                  progress: Progress = _noop) -> dict[str, Any]:
    """Match and attribute the days of one chunk into the stage (one part file per table; a re-run rewrites it)."""
    t0 = time.perf_counter()
    tune_allocators()
    manifest = stage.read_manifest()
    p = provider(manifest["provider"])
    spec = CloudRunSpec.from_kwargs(manifest["run"], cloud_type=p.name)
    first, last = parse_date(chunk_start, "chunk_start"), parse_date(chunk_end, "chunk_end")
    chunk_index = [c[0] for c in manifest["chunks"]].index(first.isoformat())
    days = days_in_range(first, last)
    root = settings.require_data_root()
    sources = p.open_sources(settings, spec)
    ocp_parquet = open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                                   settings.storage_options())
    progress("scan", {"chunk": [first.isoformat(), last.isoformat()]})
    discover = bool(manifest["keys_enabled_for_both"]) and not manifest["pg_matched_tags"]
    ctx = ChunkContext(spec, manifest, settings, sources, days, scan_chunk(ocp_parquet, first, last), discover)
    tag_keys = project_tag_keys([*manifest["cloud_keys"], *manifest["ocp_keys"]])
    cloud_keys = frozenset(manifest["cloud_keys"])
    part = first.isoformat()
    rows = {t: 0 for t in manifest["tables"]}
    days_out: dict[str, dict[str, float]] = {}
    tags = ChunkTagParts(p.tags, chunk_index)
    project_schema = _project_schema(p)
    ui_schemas = {t.name: _ui_schema(t.name) for t in p.ui_tables}
    with ExitStack() as stack:
        conn = stack.enter_context(closing(connect(settings.require_database_url())))
        state = p.pass_one(ctx, conn)
        matched_strings = _matched_tag_strings(p, ctx, state)
        candidates = tag_candidates(matched_strings, special_candidates(
            spec.cluster_id, spec.cluster_alias, ctx.ocp.nodes, ctx.ocp.namespaces))
        schemas = {p.project_table: project_schema, SUMMARY_TABLE: BACK_POPULATE_SCHEMA,
                   TAGS_SUMMARY_PART: p.tags.summary_schema, TAGS_VALUES_PART: p.tags.values_schema, **ui_schemas}
        w = {name: stack.enter_context(stage.writer(name, sch, part=part)) for name, sch in schemas.items()}
        for day in days:
            progress("attribute", {"day": day.isoformat()})
            temp, final = p.day_rows(ctx, state, day, candidates, conn)
            days_out[day.isoformat()] = _conservation(p, temp, final)
            if final is None or final.empty:
                continue
            project = p.project_rows(final, tag_keys)
            back = back_populate_rows(project, manifest["report_period_id"], spec.openshift_provider_uuid,
                                      p.cost_terms, p.strict_raw, p.currency)
            view = final.rename(columns={"usage_amount": p.usage_column})
            for t in p.ui_tables:
                frame = ui_rows(view, t, p.ui_numeric)
                w[t.name].write_table(_ui_arrow(frame, t.name, ui_schemas[t.name], spec))
                rows[t.name] += len(frame)
            w[p.project_table].write_table(_project_arrow(project, manifest, spec, p.project_table, project_schema))
            w[SUMMARY_TABLE].write_table(to_arrow(back, BACK_POPULATE_SCHEMA))
            tags.add(project, cloud_keys)
            rows[p.project_table] += len(project)
            rows[SUMMARY_TABLE] += len(back)
            del temp, final, view, project, back
            release_memory()  # the next day's frames are as big: return this day's to the system
        w[TAGS_SUMMARY_PART].write_table(tags.summary_table())
        w[TAGS_VALUES_PART].write_table(tags.values_table())
        conn.rollback()
    return {"chunk": [first.isoformat(), last.isoformat()], "rows": rows, "days": days_out,
            "matched_tag_strings": len(matched_strings), "candidates": len(candidates),
            "rows_read": sources.rows_read() + ocp_parquet.rows_read(),
            "bytes_read": sources.bytes_read() + ocp_parquet.bytes_read(),
            "seconds": round(time.perf_counter() - t0, 3)}


def _project_arrow(project: pd.DataFrame, manifest: dict[str, Any], spec: CloudRunSpec, table: str,
                   schema: pa.Schema) -> pa.Table:
    p = project.copy()
    p["pod_labels"] = p["enabled_tags"]
    p["tags"] = p["enabled_tags"]
    p["usage_end"] = p["usage_start"]
    p["report_period_id"] = manifest["report_period_id"]
    p["cost_entry_bill_id"] = manifest["bill_id"]
    p["source_uuid"] = spec.cloud_provider_uuid
    return to_arrow(round_to_column_scales(p, get_table(table)), schema)


def _ui_arrow(frame: pd.DataFrame, table: str, schema: pa.Schema, spec: CloudRunSpec) -> pa.Table:
    f = round_to_column_scales(frame, get_table(table))
    f["id"] = [str(uuid.uuid4()) for _ in range(len(f))]
    f["usage_end"] = f["usage_start"]
    f["source_uuid"] = spec.cloud_provider_uuid
    return to_arrow(f, schema)


# --- write -----------------------------------------------------------------------------------------------------

def _batches(stage: Stage, table: str):
    """The staged rows of a table in COPY-sized batches (~10 MiB of CSV each: memory stays at one batch)."""
    return stage.read_batches(table, batch_size=WRITE_BATCH_ROWS)


def _read_staged(stage: Stage, table: str, schema: pa.Schema) -> pa.Table:
    batches = list(stage.read_batches(table))
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Replace the run's rows of one table in one transaction (Koku's delete rule); returns the rows written."""
    manifest = stage.read_manifest()
    if table not in manifest["tables"]:
        raise ValueError(f"run {stage.run_id} staged no table {table!r}")
    p = provider(manifest["provider"])
    run = CloudRunSpec.from_kwargs(manifest["run"], cloud_type=p.name)
    schema = run.schema_name
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    rp = manifest["report_period_id"]
    with closing(connect(settings.require_database_url())) as conn:
        if table == p.project_table:
            # Koku: usage_start BETWEEN start AND end AND cost_entry_bill_id = bill; restricted to this run's
            # cluster (report period), since a run here is one (cluster, cloud source) pair.
            where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND cost_entry_bill_id = %(bill)s"
                     " AND report_period_id = %(rp)s")
            params = {"start": start, "end": end, "bill": manifest["bill_id"], "rp": rp}
            return replace_rows(conn, schema, table, where, params, _batches(stage, table),
                                partition_range=(start, end)).inserted
        if table == SUMMARY_TABLE:
            # Koku's delete_infrastructure_raw_cost_from_daily_summary, plus back-populated rows without cost
            # (only the back-populate writes supplementary_usage_cost), which Koku leaves to pile up.
            where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(rp)s"
                     " AND ((infrastructure_raw_cost IS NOT NULL AND infrastructure_raw_cost <> 0)"
                     " OR supplementary_usage_cost IS NOT NULL)")
            params = {"start": start, "end": end, "rp": rp}
            return replace_rows(conn, schema, table, where, params, _batches(stage, table),
                                partition_range=(start, end), analyze=True).inserted
        if table == p.tags.summary:
            counts = write_tag_tables(conn, schema, p.tags, manifest["bill_id"], rp, manifest["rp_cluster_id"],
                                      manifest["rp_cluster_alias"],
                                      _read_staged(stage, TAGS_SUMMARY_PART, p.tags.summary_schema),
                                      _read_staged(stage, TAGS_VALUES_PART, p.tags.values_schema))
            return counts["summary_rows"]
        # UI tables: Koku deletes usage_start BETWEEN start AND end AND source_uuid = cloud source; restricted to
        # this run's cluster as above.
        where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s"
                 " AND cluster_id = %(cluster)s")
        params = {"start": start, "end": end, "source": run.cloud_provider_uuid, "cluster": run.cluster_id}
        return replace_rows(conn, schema, table, where, params, _batches(stage, table),
                            partition_range=(start, end), generate_uuid=False).inserted


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every write: stamp the report period's ocp_on_cloud_updated_datetime, drop the stage, summarise."""
    manifest = stage.read_manifest()
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            cloud_tenant.stamp_report_period(conn, manifest["run"]["schema_name"], manifest["report_period_id"])
    stage.cleanup()
    chunks = chunk_results or []
    timings = dict(manifest["timings"])
    timings["compute_s"] = round(sum(c["seconds"] for c in chunks), 3)
    days: dict[str, Any] = {}
    for c in chunks:
        days.update(c.get("days", {}))
    return {"run_id": stage.run_id, "provider": manifest["provider"], "rows": written,
            "start_date": manifest["start_date"], "end_date": manifest["end_date"],
            "report_period_id": manifest["report_period_id"], "bill_id": manifest["bill_id"],
            "chunks": len(manifest["chunks"]), "days": days,
            "rows_read": manifest["rows_read"] + sum(c["rows_read"] for c in chunks),
            "bytes_read": manifest["bytes_read"] + sum(c["bytes_read"] for c in chunks),
            "timings": timings}


def run(p: CloudProvider, spec: CloudRunSpec, settings: Settings, progress: Progress = _noop,
        date_step: int | None = None) -> dict[str, Any]:
    """The whole run in-process (the CLI's `run ocp-on-azure` / `run ocp-on-gcp`): the chord's steps (table
    writes in threads)."""
    t0 = time.perf_counter()
    stage = new_stage(settings)
    try:
        manifest = prepare(p, spec, settings, stage, progress, date_step)
        chunks = [compute_chunk(settings, stage, a, b, progress) for a, b in manifest["chunks"]]
        t1 = time.perf_counter()
        written = write_tables(manifest["tables"], lambda t: write_table(settings, stage, t))
        write_s = time.perf_counter() - t1
        result = finalize(settings, stage, written, chunks)
    except BaseException:
        stage.cleanup()
        raise
    result["timings"]["write_s"] = round(write_s, 3)
    result["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
    return result


# --- the Celery tasks' entry points for every OCP-on-cloud run -----------------------------------------------------

def _is_aws(stage: Stage) -> bool:
    return stage.read_manifest()["provider"] == "OCP-on-AWS"


def compute_any_chunk(settings: Settings, stage: Stage, chunk_start: str | dt.date, chunk_end: str | dt.date,
                      progress: Progress = _noop) -> dict[str, Any]:
    """compute_chunk of the run's provider: OCP on AWS (cloud/pipeline.py) or a provider module (this flow)."""
    if _is_aws(stage):
        from poc_tasks.cloud.pipeline import compute_chunk as aws_compute

        return aws_compute(settings, stage, chunk_start, chunk_end, progress)
    return compute_chunk(settings, stage, chunk_start, chunk_end, progress)


def write_any_table(settings: Settings, stage: Stage, table: str) -> int:
    """write_table of the run's provider (see compute_any_chunk)."""
    if _is_aws(stage):
        from poc_tasks.cloud.pipeline import write_table as aws_write

        return aws_write(settings, stage, table)
    return write_table(settings, stage, table)


def finalize_any(settings: Settings, stage: Stage, written: dict[str, int],
                 chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """finalize of the run's provider (see compute_any_chunk)."""
    if _is_aws(stage):
        from poc_tasks.cloud.pipeline import finalize as aws_finalize

        return aws_finalize(settings, stage, written, chunk_results)
    return finalize(settings, stage, written, chunk_results)
