"""The one OCP-on-cloud run, for every provider module: prepare -> compute chunks -> write tables -> finalize.

Koku's order (OCPCloudParquetReportSummaryUpdater.update_{aws,azure,gcp}_summary_tables): the OCP report period of
the month must exist (AWS and Azure also need the cluster row), the cloud bill(s) of the month, then per Koku date
chunk (5-day ``date_range_pair``) matching, attribution and the project rows, the back-populated OCP rows, tag
summaries and the UI tables (GCP runs the UI tables before the tags; both are computed from the same staged rows
here, so the order changes nothing); finally the provider's own steps (AWS: the category summary) and the report
period's ``ocp_on_cloud_updated_datetime``.

A chunk is computed in two passes over its days, so that at most one day of cloud lines is in memory: the
provider's narrow first pass (which lines can match, disk sizes, each disk's total PV capacity over the chunk, the
texts the matched tags are discovered from), then per day the matched lines in parts (the provider's day_rows),
each part's attribution and output rows, appended to the chunk's staged Parquet; the memory of each part goes back
to the system before the next. Every table is then staged into a side table of the run (in parallel, as a
Celery chord or in threads) and finalize swaps all of them in with Koku's delete rules, the tag summaries and
the report period's stamp in ONE transaction (db.run_swap): a run that gives up leaves every table as it was.
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

from poc_tasks.cloud import tenant
from poc_tasks.cloud.frames import arrow_schema, to_arrow
from poc_tasks.cloud.jsontext import clear_caches
from poc_tasks.cloud.matching import special_candidates, tag_candidates
from poc_tasks.cloud.ocp_input import export_ocp_rows, open_ocp_parquet, scan_chunk
from poc_tasks.cloud.outputs import (
    BACK_POPULATE_COLUMNS,
    back_populate_groups,
    back_populate_rows_of,
    combine_ui_rows,
    merge_back_populate_groups,
    round_to_column_scales,
    ui_tables_rows,
)
from poc_tasks.cloud.project import project_tag_keys
from poc_tasks.cloud.provider import ChunkContext, CloudProvider
from poc_tasks.cloud.spec import CloudRunSpec, date_range_pair
from poc_tasks.cloud.tag_summary import ChunkTags, write_tag_summaries
from poc_tasks.db.connection import connect
from poc_tasks.db.run_swap import TableReplace, stage_table, swap_tables
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.errors import MissingInputData
from poc_tasks.inprocess import run_in_process
from poc_tasks.io.staging import Stage
from poc_tasks.memory import release_memory, tune_allocators
from poc_tasks.ownership import check_cloud_run
from poc_tasks.runspec import days_in_range
from poc_tasks.settings import Settings
from poc_tasks.stream_writes import StreamPlan
from poc_tasks.validate import parse_date

__all__ = ["PROVIDERS", "provider", "prepare", "compute_chunk", "write_table", "finalize", "run", "write_order",
           "Progress", "DEFAULT_DATE_STEP", "WRITE_BATCH_ROWS"]

PROVIDERS = {"AWS": "poc_tasks.cloud.aws", "Azure": "poc_tasks.cloud.azure", "GCP": "poc_tasks.cloud.gcp"}
Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_DATE_STEP = 5  # Koku's TRINO_DATE_STEP
# rows per COPY batch: the project rows carry two label JSON texts each, so a batch of 8 k rows is ~10 MiB of CSV
WRITE_BATCH_ROWS = 8192
TAGS_SUMMARY_PART, TAGS_VALUES_PART = "tags_summary_part", "tags_values_part"
BACK_POPULATE_SCHEMA = arrow_schema(get_table(SUMMARY_TABLE), BACK_POPULATE_COLUMNS)


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def provider(name: str) -> CloudProvider:
    """The provider module's description ('AWS', 'Azure', 'GCP', or a run name such as 'OCP-on-GCP')."""
    key = name.removeprefix("OCP-on-")
    if key not in PROVIDERS:
        raise ValueError(f"no OCP-on-cloud provider {name!r} (known: {', '.join(PROVIDERS)})")
    return importlib.import_module(PROVIDERS[key]).PROVIDER


def _month_bill(p: CloudProvider) -> Callable[..., dict[str, Any]]:
    """A provider's prepare_tenant when its ingestion makes nothing but the month's bill."""
    return lambda conn, spec, sources: tenant.month_bill(conn, spec, sources, p.bill_table, p.name)


def write_order(p: CloudProvider) -> list[str]:
    """Koku's order of the per-chunk writes: project table, back-populated OCP rows, tags, UI tables. The chord
    writes them in parallel (each from staged rows, so the order changes nothing), `run` in this order."""
    return [p.project_table, SUMMARY_TABLE, p.tags.summary, *(t.name for t in p.ui_tables)]


def _table_schema(name: str, drop: tuple[str, ...] = ()) -> pa.Schema:
    table = get_table(name)
    return arrow_schema(table, [c.name for c in table.columns if c.name not in drop])


def _open_sources(p: CloudProvider, spec: CloudRunSpec, settings: Settings):
    return p.open_sources(settings.require_data_root(), spec.account, spec.cloud_provider_uuid, spec.year, spec.month,
                          settings.storage_options())


# --- prepare ---------------------------------------------------------------------------------------------------

def _report_period(conn, spec: CloudRunSpec, month_start: dt.date, requires_cluster: bool) -> tuple[int, str, str]:
    """The OCP source's report period of the month (id, cluster id, alias); MissingInputData without it, or
    without the source's reporting_ocp_clusters row where the provider needs one."""
    rp = tenant.report_period(conn, spec.schema_name, spec.openshift_provider_uuid, month_start)
    if rp is None:
        raise MissingInputData(
            f"no OCP report period of {month_start:%Y-%m} for OCP source {spec.openshift_provider_uuid} in "
            f"{spec.schema_name}: run the OCP summary of the range first (poc-tasks run ocp)")
    if requires_cluster and not tenant.has_cluster(conn, spec.schema_name, spec.openshift_provider_uuid):
        raise MissingInputData(f"no reporting_ocp_clusters row for OCP source {spec.openshift_provider_uuid}: "
                               "run the OCP summary of the range first (poc-tasks run ocp)")
    check_cloud_run(conn, spec.schema_name, spec.openshift_provider_uuid, spec.cloud_provider_uuid, spec.cloud_type,
                    spec.cluster_id, rp, spec.report_period_id)
    return rp


def prepare(p: CloudProvider, spec: CloudRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop,
            date_step: int | None = None) -> dict[str, Any]:
    """Everything Koku does before the per-chunk work. The manifest, written to the stage, tells the chunk tasks
    what to do: the run, its report period and bill(s) (the run's bill_id must be one of the month's), its tables,
    its Koku date chunks, the tag keys and anything else the provider adds."""
    tune_allocators()  # before the first Arrow thread makes its own malloc arena
    t0 = time.perf_counter()
    root = settings.require_data_root()
    month_start = spec.start_date.replace(day=1)
    sources = _open_sources(p, spec, settings)  # fails early without cloud Parquet
    open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                     settings.storage_options())  # ... or without OCP Parquet
    progress("prepare", {p.kwarg: spec.cloud_provider_uuid})
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            rp = _report_period(conn, spec, month_start, p.requires_cluster)
            extra = (p.prepare_tenant or _month_bill(p))(conn, spec, sources)
            bills = tenant.bill_ids(conn, spec.schema_name, p.bill_table, spec.cloud_provider_uuid, month_start,
                                    spec.end_date)
            cloud_keys = tenant.enabled_keys(conn, spec.schema_name, p.name)
            ocp_keys = tenant.enabled_keys(conn, spec.schema_name, "OCP")
            both = sorted(set(cloud_keys) & set(ocp_keys))  # check_for_matching_enabled_keys
            pg_matched: list[str] = []
            if both and tenant.keys_exist(conn, spec.schema_name, "OCP"):
                pg_matched = p.postgres_matched_tags(conn, spec.schema_name)
            any_keys = tenant.tag_keys(conn, spec.schema_name)
            ocp_listed = tenant.tag_keys(conn, spec.schema_name, "OCP")
    if spec.bill_id is not None and spec.bill_id not in bills:
        raise MissingInputData(f"bill_id {spec.bill_id} is not a bill of {p.name} source "
                               f"{spec.cloud_provider_uuid} for {month_start:%Y-%m} in {spec.schema_name} "
                               f"(its bills: {bills})")
    t_export = time.perf_counter()
    ocp_rows = export_ocp_rows(settings.require_database_url(), spec.schema_name, spec.start_date, spec.end_date,
                               stage)
    export_s = time.perf_counter() - t_export
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
        "cloud_keys": cloud_keys, "ocp_keys": ocp_keys, "matched_keys": both, "pg_matched_tags": pg_matched,
        "any_keys": any_keys, "ocp_listed_keys": ocp_listed,
        "markup": spec.markup_fraction,
        "distribution": spec.distribution,
        "rows_read": sources.rows_read(),
        "bytes_read": sources.bytes_read(),
        "ocp_summary_rows": ocp_rows,
        "timings": {"prepare_s": round(time.perf_counter() - t0, 3), "ocp_export_s": round(export_s, 3)},
        **extra,
    }
    stage.write_manifest(manifest)
    return manifest


# --- compute ---------------------------------------------------------------------------------------------------

def _conservation(p: CloudProvider, temp: pd.DataFrame | None, final: pd.DataFrame | None) -> dict[str, float]:
    """Per day (part): the matched lines' cost and what the final rows attribute (every namespace)."""
    have_temp = temp is not None and not temp.empty
    have_final = final is not None and not final.empty
    out: dict[str, float] = {"matched_lines": int(len(temp)) if have_temp else 0}
    for c in p.conservation_costs:
        out[f"matched_{c}"] = float(pd.to_numeric(temp[c]).sum()) if have_temp else 0.0
        out[f"attributed_{c}"] = float(pd.to_numeric(final[c]).sum()) if have_final else 0.0
    return out


def _project_arrow(p: pd.DataFrame, manifest: dict[str, Any], spec: CloudRunSpec, table: str,
                   schema: pa.Schema) -> pa.Table:
    """A day part's project rows as staged (`p` is the caller's copy: its columns are set here)."""
    p["pod_labels"] = p["enabled_tags"]
    p["tags"] = p["enabled_tags"]
    p["usage_end"] = p["usage_start"]
    p["report_period_id"] = manifest["report_period_id"]
    p["cost_entry_bill_id"] = manifest["bill_id"]
    p["source_uuid"] = spec.cloud_provider_uuid
    # numeric(33, 9) columns as Trino's INSERT lands a double in them (shortest text, half up), not as the COPY
    # writer's 15-significant-digit rounding would: the two differ on half-way values (0.35374218749999997)
    return to_arrow(round_to_column_scales(p, get_table(table)), schema)


def _ui_arrow(frame: pd.DataFrame, table: str, schema: pa.Schema, spec: CloudRunSpec) -> pa.Table:
    """A UI table's rows of a day as staged."""
    f = round_to_column_scales(frame, get_table(table))  # a copy; see _project_arrow
    f["id"] = [str(uuid.uuid4()) for _ in range(len(f))]
    f["usage_end"] = f["usage_start"]
    f["source_uuid"] = spec.cloud_provider_uuid
    return to_arrow(f, schema)


def _back_populate(p: CloudProvider, manifest: dict[str, Any], spec: CloudRunSpec, groups: list[pd.DataFrame],
                   writer: Any) -> int:
    """The back-populated OCP rows of back_populate_groups (one part's, or a day's parts'), staged; returns their
    count."""
    merged = merge_back_populate_groups(groups, p.currency)
    back = back_populate_rows_of(merged, manifest["report_period_id"], spec.openshift_provider_uuid, p.cost_terms,
                                 p.currency)
    writer.write_table(to_arrow(back, BACK_POPULATE_SCHEMA))
    return len(back)


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
    root = settings.require_data_root()
    sources = _open_sources(p, spec, settings)
    ocp_parquet = open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                                   settings.storage_options())
    progress("scan", {"chunk": [first.isoformat(), last.isoformat()]})
    discover = bool(manifest["matched_keys"]) and not manifest["pg_matched_tags"]
    ctx = ChunkContext(spec, manifest, settings, sources, days_in_range(first, last),
                       scan_chunk(ocp_parquet, first, last), discover, stage)
    tag_keys = project_tag_keys([*manifest["cloud_keys"], *manifest["ocp_keys"]])
    cloud_keys = frozenset(manifest["cloud_keys"])
    rows = {t: 0 for t in manifest["tables"]}
    days_out: dict[str, dict[str, float]] = {}
    tags = ChunkTags(p.tags, chunk_index)
    project_schema = _table_schema(p.project_table, drop=("uuid",))
    ui_schemas = {t.name: _table_schema(t.name) for t in p.ui_tables}
    with ExitStack() as stack:
        conn = stack.enter_context(closing(connect(settings.require_database_url())))
        state = p.pass_one(ctx, conn)
        release_memory()
        # _get_matched_tags_strings: PostgreSQL's answer if any, else Koku's Trino query over the chunk's data
        matched = p.discovery_pairs(ctx, state, conn) if discover else list(manifest["pg_matched_tags"])
        candidates = tag_candidates(matched, special_candidates(spec.cluster_id, spec.cluster_alias, ctx.ocp.nodes,
                                                                ctx.ocp.namespaces))
        schemas = {p.project_table: project_schema, SUMMARY_TABLE: BACK_POPULATE_SCHEMA,
                   TAGS_SUMMARY_PART: p.tags.summary_schema, TAGS_VALUES_PART: p.tags.values_schema, **ui_schemas}
        w = {name: stack.enter_context(stage.writer(name, sch, part=first.isoformat()))
             for name, sch in schemas.items()}
        clear_caches()  # per chunk, not per day: a day's label texts recur the next days (the memos are bounded)
        for day in ctx.days:
            progress("attribute", {"day": day.isoformat()})
            ui_parts: dict[str, list[pd.DataFrame]] = {t.name: [] for t in p.ui_tables}
            sums = _conservation(p, None, None)
            # p.back_populate_per_day: the day's parts' back-populate groups (a fraction of their project rows)
            day_groups: list[pd.DataFrame] = []
            for lines, final in p.day_rows(ctx, state, day, candidates, conn):
                sums = {k: sums[k] + v for k, v in _conservation(p, lines, final).items()}
                if final is None or final.empty:
                    continue
                view = final.copy(deep=False)  # the same arrays under the UI tables' names (rename copies them)
                view.columns = [p.usage_column if c == "usage_amount" else c for c in final.columns]
                for name, part in ui_tables_rows(view, p.ui_tables, p.ui_numeric).items():
                    ui_parts[name].append(part)
                del view
                project = p.project_rows(final, tag_keys, ctx)
                del final  # the day's largest frame: gone before the next outputs are built
                w[p.project_table].write_table(_project_arrow(project.copy(), manifest, spec, p.project_table,
                                                              project_schema))
                rows[p.project_table] += len(project)
                groups = back_populate_groups(project, p.cost_terms, p.strict_raw, p.currency, p.strict_project)
                if p.back_populate_per_day:
                    day_groups.append(groups)
                else:
                    rows[SUMMARY_TABLE] += _back_populate(p, manifest, spec, [groups], w[SUMMARY_TABLE])
                del groups
                tags.add(project, cloud_keys)
                del project
                release_memory()  # per part, not only per day: the next part reuses the returned pages
            if day_groups:
                rows[SUMMARY_TABLE] += _back_populate(p, manifest, spec, day_groups, w[SUMMARY_TABLE])
                del day_groups
            days_out[day.isoformat()] = sums
            ui = {t.name: combine_ui_rows(ui_parts.pop(t.name), t, p.ui_numeric) for t in p.ui_tables}
            if p.check_ui is not None:
                p.check_ui(ctx, ui, day)
            for name, frame in ui.items():
                w[name].write_table(_ui_arrow(frame, name, ui_schemas[name], spec))
                rows[name] += len(frame)
            del ui
            release_memory()
        w[TAGS_SUMMARY_PART].write_table(tags.summary_table())  # the chunk's distinct rows (PostgreSQL merges)
        w[TAGS_VALUES_PART].write_table(tags.values_table())
        conn.rollback()
    inputs = [sources, ocp_parquet]
    return {"chunk": [first.isoformat(), last.isoformat()], "rows": rows, "days": days_out,
            "matched_tag_strings": len(matched), "candidates": len(candidates),
            "rows_read": sum(i.rows_read() for i in inputs), "bytes_read": sum(i.bytes_read() for i in inputs),
            "seconds": round(time.perf_counter() - t0, 3)}


# --- write / finalize ------------------------------------------------------------------------------------------

def _read_staged(stage: Stage, table: str, schema: pa.Schema) -> pa.Table:
    batches = list(stage.read_batches(table))
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def _replace(p: CloudProvider, manifest: dict[str, Any], table: str) -> TableReplace | None:
    """Koku's delete rule of one table of the run (None: the tag summaries, merged in finalize's transaction)."""
    run_spec = CloudRunSpec.from_kwargs(manifest["run"], cloud_type=p.name)
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    rp = manifest["report_period_id"]
    if table == p.project_table:
        # Koku: usage_start BETWEEN start AND end AND cost_entry_bill_id = bill; restricted to this run's
        # cluster (report period), since a run here is one (cluster, cloud source) pair.
        where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND cost_entry_bill_id = %(bill)s"
                 " AND report_period_id = %(rp)s")
        return TableReplace(table, where, {"start": start, "end": end, "bill": manifest["bill_id"], "rp": rp},
                            partition_range=(start, end))
    if table == SUMMARY_TABLE:
        # Koku's delete_infrastructure_raw_cost_from_daily_summary, plus back-populated rows without cost
        # (only the back-populate writes supplementary_usage_cost), which Koku leaves to pile up.
        where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(rp)s"
                 " AND ((infrastructure_raw_cost IS NOT NULL AND infrastructure_raw_cost <> 0)"
                 " OR supplementary_usage_cost IS NOT NULL)")
        return TableReplace(table, where, {"start": start, "end": end, "rp": rp}, partition_range=(start, end),
                            analyze=True)
    if table == p.tags.summary:
        return None
    # UI tables: Koku deletes usage_start BETWEEN start AND end AND source_uuid = cloud source; restricted to
    # this run's cluster as above.
    where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s"
             " AND cluster_id = %(cluster)s")
    params = {"start": start, "end": end, "source": run_spec.cloud_provider_uuid, "cluster": run_spec.cluster_id}
    return TableReplace(table, where, params, partition_range=(start, end), generate_uuid=False)


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Stage the run's rows of one table in its side table (db.run_swap: finalize swaps every table in at once);
    returns the rows staged. The tag summaries are merged by finalize, from the stage."""
    manifest = stage.read_manifest()
    if table not in manifest["tables"]:
        raise ValueError(f"run {stage.run_id} staged no table {table!r}")
    p = provider(manifest["provider"])
    rule = _replace(p, manifest, table)
    if rule is None:
        return 0
    # the staged rows of a table in COPY-sized batches (~10 MiB of CSV each: memory stays at one batch)
    batches = stage.read_batches(table, batch_size=WRITE_BATCH_ROWS)
    with closing(connect(settings.require_database_url())) as conn:
        return stage_table(conn, manifest["run"]["schema_name"], stage.run_id, rule, batches)


def _finalize_statements(p: CloudProvider, stage: Stage, manifest: dict[str, Any]) -> Callable[[Any], dict[str, int]]:
    """finalize's statements after the swap, in its transaction: the tag summaries merged from the stage, the
    provider's own steps, the report period's ocp_on_cloud_updated_datetime."""
    schema = manifest["run"]["schema_name"]

    def statements(conn: Any) -> dict[str, int]:
        counts = write_tag_summaries(conn, schema, p.tags, manifest["bill_id"], manifest["report_period_id"],
                                     manifest["rp_cluster_id"], manifest["rp_cluster_alias"],
                                     stage.read_batches(TAGS_SUMMARY_PART, batch_size=50_000),
                                     _read_staged(stage, TAGS_VALUES_PART, p.tags.values_schema), commit=False)
        written = {p.tags.summary: counts["summary_rows"]}
        if p.finalize_steps is not None:
            written.update(p.finalize_steps(conn, manifest))
        tenant.stamp_report_period(conn, schema, manifest["report_period_id"])
        return written

    return statements


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every table is staged, in ONE transaction (db.run_swap.swap_tables): every table swapped in with
    Koku's delete rules, the tag summaries, the provider's own steps (rows per table, added to `written`), the
    report period's ocp_on_cloud_updated_datetime; then drop the stage and summarise. A failure anywhere leaves
    every table as before the run."""
    manifest = stage.read_manifest()
    p = provider(manifest["provider"])
    rules = [r for r in (_replace(p, manifest, t) for t in manifest["tables"]) if r is not None]
    with closing(connect(settings.require_database_url())) as conn:
        swapped = swap_tables(conn, manifest["run"]["schema_name"], stage.run_id, rules,
                              then=_finalize_statements(p, stage, manifest))
    return _result(stage, manifest, {**written, **{t: r.inserted for t, r in swapped.items()}}, chunk_results)


def stream_plan(settings: Settings, stage: Stage) -> StreamPlan:
    """The run's streamed write (poc_tasks.stream_writes): the project, UI and back-populated OCP rows COPYed chunk
    by chunk (the chunks read prepare's copy of the OCP summary: ocp_input.export_ocp_rows); the tag summaries
    (merged from every chunk), the provider's steps and the stamps after the last chunk."""
    manifest = stage.read_manifest()
    p = provider(manifest["provider"])
    rules = [r for r in (_replace(p, manifest, t) for t in manifest["tables"]) if r is not None]
    return StreamPlan(manifest["run"]["schema_name"], manifest["tables"], rules,
                      lambda t, part: stage.read_part(t, part, batch_size=WRITE_BATCH_ROWS),
                      _finalize_statements(p, stage, manifest),
                      lambda written, chunks: _result(stage, manifest, written, chunks),
                      at_end=frozenset())  # the chunks read prepare's copy of the OCP summary, not the table


def _result(stage: Stage, manifest: dict[str, Any], written: dict[str, int],
            chunk_results: list[dict[str, Any]] | None) -> dict[str, Any]:
    """After the commit: the stage dropped, the run summarised."""
    stage.discard()  # after the commit: a staging endpoint that fails now must not fail the run (swept later)
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
    """The whole run in-process (the CLI's `run ocp-on-aws|azure|gcp`): the chord's steps (table writes in
    threads)."""
    return run_in_process(settings, lambda stage: prepare(p, spec, settings, stage, progress, date_step),
                          compute_chunk, write_table, finalize, progress,
                          run_key=(f"{p.run_name}-{spec.openshift_provider_uuid}", spec.schema_name,
                                   spec.cloud_provider_uuid, spec.start_date),
                          stream_plan=stream_plan)
