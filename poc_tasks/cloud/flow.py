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
(writer.replace_rows / tag_tables.write_tag_tables) with Koku's delete rules, as a Celery chord or in-process;
prepare's checks and manifest, the writes and finalize are cloud/runs.py's, as for OCP on AWS.
The provider modules are registered in :data:`PROVIDERS` (name -> module whose ``PROVIDER`` describes it).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import time
from contextlib import ExitStack, closing
from typing import Any

import pandas as pd
import pyarrow as pa

from poc_tasks.cloud import runs, tenant_cloud
from poc_tasks.cloud import tenant as cloud_tenant
from poc_tasks.cloud.frames import arrow_schema, to_arrow
from poc_tasks.cloud.matching import special_candidates, tag_candidates
from poc_tasks.cloud.ocp_input import open_ocp_parquet, scan_chunk
from poc_tasks.cloud.outputs import back_populate_rows, ui_rows
from poc_tasks.cloud.project import BACK_POPULATE_COLUMNS, project_tag_keys
from poc_tasks.cloud.provider import ChunkContext, CloudProvider
from poc_tasks.cloud.runs import Progress, RunTables, read_staged
from poc_tasks.cloud.runs import noop_progress as _noop
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.tag_tables import ChunkTagParts, write_tag_tables
from poc_tasks.db.connection import connect
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.inprocess import run_in_process
from poc_tasks.io.staging import Stage
from poc_tasks.memory import release_memory, tune_allocators
from poc_tasks.run import days_in_range, parse_date
from poc_tasks.settings import Settings

__all__ = ["PROVIDERS", "provider", "prepare", "compute_chunk", "write_table", "finalize", "run", "write_order",
           "compute_any_chunk", "write_any_table", "finalize_any"]

PROVIDERS = {"Azure": "poc_tasks.cloud.azure", "GCP": "poc_tasks.cloud.gcp"}
TAGS_SUMMARY_PART, TAGS_VALUES_PART = "tags_summary_part", "tags_values_part"
BACK_POPULATE_SCHEMA = arrow_schema(get_table(SUMMARY_TABLE), BACK_POPULATE_COLUMNS)


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
    tune_allocators()  # before the first Arrow thread makes its own malloc arena
    t0 = time.perf_counter()
    root = settings.require_data_root()
    month_start = spec.start_date.replace(day=1)
    sources = p.open_sources(settings, spec)  # fails early without cloud Parquet
    open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                     settings.storage_options())  # ... or without OCP Parquet
    progress("prepare", {p.kwarg: spec.cloud_provider_uuid})
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            rp = runs.checked_report_period(conn, spec, month_start, p.requires_cluster)
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
    keys = {"cloud_keys": cloud_keys, "ocp_keys": ocp_keys, "keys_enabled_for_both": both,
            "pg_matched_tags": pg_matched, "any_keys": any_keys, "ocp_listed_keys": ocp_listed}
    return runs.write_run_manifest(stage, spec, p.run_name, p.name, rp, bills, write_order(p), keys, sources, t0,
                                   date_step, extra)


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
                w[t.name].write_table(runs.ui_arrow(frame, t.name, ui_schemas[t.name], spec))
                rows[t.name] += len(frame)
            w[p.project_table].write_table(runs.project_arrow(project.copy(), manifest, spec, p.project_table,
                                                              project_schema))
            w[SUMMARY_TABLE].write_table(to_arrow(back, BACK_POPULATE_SCHEMA))
            tags.add(project, cloud_keys)
            rows[p.project_table] += len(project)
            rows[SUMMARY_TABLE] += len(back)
            del temp, final, view, project, back
            release_memory()  # the next day's frames are as big: return this day's to the system
        w[TAGS_SUMMARY_PART].write_table(tags.summary_table())
        w[TAGS_VALUES_PART].write_table(tags.values_table())
        conn.rollback()
    return runs.chunk_result(first, last, rows, days_out, len(matched_strings), len(candidates),
                             [sources, ocp_parquet], t0)


# --- write -----------------------------------------------------------------------------------------------------

def _write_tags(p: CloudProvider, conn, schema: str, manifest: dict[str, Any], stage: Stage) -> int:
    counts = write_tag_tables(conn, schema, p.tags, manifest["bill_id"], manifest["report_period_id"],
                              manifest["rp_cluster_id"], manifest["rp_cluster_alias"],
                              read_staged(stage, TAGS_SUMMARY_PART, p.tags.summary_schema),
                              read_staged(stage, TAGS_VALUES_PART, p.tags.values_schema))
    return counts["summary_rows"]


def _tables(run_name: str) -> RunTables:
    p = provider(run_name)
    return RunTables(p.name, p.project_table, p.tags.summary, functools.partial(_write_tags, p))


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Replace the run's rows of one table in one transaction (Koku's delete rule); returns the rows written."""
    return runs.write_table(settings, stage, table, _tables)


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every write: stamp the report period's ocp_on_cloud_updated_datetime, drop the stage, summarise."""
    return runs.finalize(settings, stage, written, chunk_results)


def run(p: CloudProvider, spec: CloudRunSpec, settings: Settings, progress: Progress = _noop,
        date_step: int | None = None) -> dict[str, Any]:
    """The whole run in-process (the CLI's `run ocp-on-azure` / `run ocp-on-gcp`): the chord's steps (table
    writes in threads)."""
    return run_in_process(settings, lambda stage: prepare(p, spec, settings, stage, progress, date_step),
                          compute_chunk, write_table, finalize, progress,
                          run_key=(f"{p.run_name}-{spec.openshift_provider_uuid}", spec.schema_name,
                                   spec.cloud_provider_uuid, spec.start_date))


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
