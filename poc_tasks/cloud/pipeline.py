"""The OCP-on-AWS run: prepare -> compute day chunks (stream, match, attribute, stage) -> write -> finalize.

Koku's order (OCPCloudParquetReportSummaryUpdater.update_aws_summary_tables): the OCP report period of the
month must exist (else nothing happens), the AWS bill(s) of the month, then per Koku date chunk (5-day
``date_range_pair``) matching, attribution and the project rows, the back-populated OCP rows, tag summaries and
the eight UI tables; finally the report period's ``ocp_on_cloud_updated_datetime``.

A chunk is computed in two passes over its days, so that at most one day of CUR lines is in memory:
1. a narrow pass (resource ids, and tag texts when the matched tags must be discovered from the Parquet): which
   lines can match, the EBS capacity of each disk and day, each disk's total PV capacity over the chunk;
2. the full pass: per day the matched lines, their attribution, and every output row of that day.
Every table is then written in one transaction (writer.replace_rows), with Koku's delete rules (cloud/runs.py, as
for Azure and GCP).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import aws, runs, tenant_cloud
from poc_tasks.cloud import tenant as cloud_tenant
from poc_tasks.cloud.attribution import CloudProfile
from poc_tasks.cloud.category_summary import update_category_summary
from poc_tasks.cloud.frames import arrow_schema, to_arrow
from poc_tasks.cloud.jsontext import clear_caches
from poc_tasks.cloud.matching import (
    SuffixMatcher,
    contained_pairs,
    label_pairs,
    matched_tags_from_pairs,
    special_candidates,
    tag_candidates,
)
from poc_tasks.cloud.ocp_input import OcpChunkSets, open_ocp_parquet, read_ocp_rows, scan_chunk
from poc_tasks.cloud.project import BACK_POPULATE_COLUMNS, back_populate_rows, project_rows, project_tag_keys
from poc_tasks.cloud.runs import WRITE_BATCH_ROWS, Progress, RunTables, read_staged
from poc_tasks.cloud.runs import noop_progress as _noop
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.tag_summary import SUMMARY_STAGED, VALUES_STAGED, ChunkTags, write_tag_summaries
from poc_tasks.cloud.ui_tables import AWS_UI_TABLES, combine_ui_rows, ui_rows
from poc_tasks.db.connection import connect
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.db.tables_aws import OCPAWS_PROJECT_TABLE, OCPAWS_TAGS_SUMMARY
from poc_tasks.errors import InputFileError
from poc_tasks.inprocess import new_stage, run_in_process
from poc_tasks.io.staging import Stage
from poc_tasks.memory import release_memory, tune_allocators
from poc_tasks.run import days_in_range, parse_date
from poc_tasks.settings import Settings

__all__ = ["prepare_ocp_on_aws", "compute_chunk", "write_table", "finalize", "run_ocp_on_aws", "AWS_PROFILE",
           "PROVIDER", "WRITE_ORDER", "WRITE_BATCH_ROWS", "new_stage"]

LOG = logging.getLogger(__name__)
PROVIDER = "OCP-on-AWS"
# step-2 rows per part of a day: a day of a 50,000-pod cluster is ~100 k rows of ~40 columns; parts keep it at ~20 k
BUCKET_ROWS = int(os.environ.get("POC_BUCKET_ROWS", 20_000))
AWS_PROFILE = CloudProfile(costs=aws.COSTS, markups=aws.MARKUPS, attributes=aws.CLOUD_ATTRIBUTES,
                           category="aws_cost_category")
UI_NAMES = [t.name for t in AWS_UI_TABLES]
TAGS_SUMMARY_PART, TAGS_VALUES_PART = "ocpawstags_summary_part", "ocpawstags_values_part"
CATEGORY_SUMMARY = "reporting_ocpawscategory_summary"
# Koku's order of the per-chunk writes; the chord writes them in parallel (each from staged rows, so the order
# changes nothing in what is written), run_ocp_on_aws in this order.
WRITE_ORDER = [OCPAWS_PROJECT_TABLE, SUMMARY_TABLE, OCPAWS_TAGS_SUMMARY, *UI_NAMES]

_PROJECT_COLUMNS = [c.name for c in get_table(OCPAWS_PROJECT_TABLE).columns if c.name != "uuid"]
_UI_COLUMNS = {name: [c.name for c in get_table(name).columns] for name in UI_NAMES}
PROJECT_SCHEMA = arrow_schema(get_table(OCPAWS_PROJECT_TABLE), _PROJECT_COLUMNS)
BACK_POPULATE_SCHEMA = arrow_schema(get_table(SUMMARY_TABLE), BACK_POPULATE_COLUMNS)
UI_SCHEMAS = {name: arrow_schema(get_table(name), cols) for name, cols in _UI_COLUMNS.items()}


# --- prepare ---------------------------------------------------------------------------------------------------

def _accounts(sources: aws.AwsSources, start: dt.date, end: dt.date) -> tuple[set[str], str | None]:
    """Usage accounts of the range and the bill's payer (Koku: the first distinct bill_payeraccountid)."""
    lo = dt.datetime(start.year, start.month, start.day)
    hi = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    accounts: set[str] = set()
    payers: set[str] = set()
    for _p, tbl in sources.daily.read_range(lo, hi, ["lineitem_usageaccountid", "bill_payeraccountid"]):
        d = tbl.group_by(["lineitem_usageaccountid", "bill_payeraccountid"]).aggregate([]).to_pydict()
        accounts.update(a for a in d["lineitem_usageaccountid"] if a)
        payers.update(p for p in d["bill_payeraccountid"] if p)
    return accounts, (min(payers) if payers else None)


def prepare_ocp_on_aws(spec: CloudRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop,
                       date_step: int | None = None) -> dict[str, Any]:
    """Everything Koku does before the per-chunk work; the manifest tells the chunk tasks what to do."""
    tune_allocators()  # before the first Arrow thread makes its own malloc arena
    t0 = time.perf_counter()
    root = settings.require_data_root()
    month_start = spec.start_date.replace(day=1)
    sources = aws.open_aws_sources(root, spec.account, spec.cloud_provider_uuid, spec.year, spec.month,
                                   settings.storage_options())
    open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                     settings.storage_options())  # fails early without OCP Parquet
    progress("prepare", {"aws_provider_uuid": spec.cloud_provider_uuid})
    accounts, payer = _accounts(sources, spec.start_date, spec.end_date)
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            rp = runs.checked_report_period(conn, spec, month_start)
            cloud_tenant.ensure_bill(conn, spec.schema_name, spec.cloud_provider_uuid, month_start, payer)
            cloud_tenant.ensure_account_aliases(conn, spec.schema_name, accounts | ({payer} if payer else set()))
            bills = cloud_tenant.bill_ids(conn, spec.schema_name, spec.cloud_provider_uuid, month_start,
                                          spec.end_date)
            aws_keys = cloud_tenant.enabled_keys(conn, spec.schema_name, "AWS")
            ocp_keys = cloud_tenant.enabled_keys(conn, spec.schema_name, "OCP")
            both = sorted(set(aws_keys) & set(ocp_keys))
            pg_matched: list[str] = []
            if both and cloud_tenant.keys_exist(conn, spec.schema_name, "OCP"):
                pg_matched = cloud_tenant.postgres_matched_tags(conn, spec.schema_name)
            aliases = cloud_tenant.account_aliases(conn, spec.schema_name)
    keys = {"aws_keys": aws_keys, "ocp_keys": ocp_keys, "matched_keys": both, "pg_matched_tags": pg_matched,
            "aliases": {k: [v[0], v[1]] for k, v in aliases.items()}}
    return runs.write_run_manifest(stage, spec, PROVIDER, "AWS", rp, bills, list(WRITE_ORDER), keys, sources, t0,
                                   date_step)


# --- compute ---------------------------------------------------------------------------------------------------

class _Chunk:
    """Everything one chunk computes before its days are attributed (pass 1)."""

    def __init__(self, manifest: dict[str, Any], spec: CloudRunSpec, ocp_sets: OcpChunkSets) -> None:
        self.manifest = manifest
        self.spec = spec
        self.sets = ocp_sets
        self.matcher = SuffixMatcher([*ocp_sets.node_resource_ids, *ocp_sets.volumes, *ocp_sets.csi_handles])
        self.capacity: dict[dt.date, dict[str, int]] = {}
        self.contributions: list[pd.DataFrame] = []
        # matched-tag discovery input, reduced day by day to the (key, value) pairs of the texts that hold a matched
        # key: a 50,000-pod chunk has ~29 k distinct label texts (~40 MiB kept) but far fewer distinct pairs
        self.cloud_tag_pairs: set[tuple[str, str | None]] = set()
        self.ocp_label_pairs: set[tuple[str, str | None]] = set()


def _pass_one(chunk: _Chunk, settings: Settings, sources: aws.AwsSources, days: list[dt.date],
              discover: bool) -> None:
    spec = chunk.spec
    keys = chunk.manifest["matched_keys"]
    columns = ["lineitem_resourceid", *(["resourcetags"] if discover else [])]
    with closing(connect(settings.require_database_url())) as conn:
        for day in days:
            tbl = sources.read_day(day, columns)
            ids: set[str] = set()
            if tbl is not None:
                ids = {r for r in pc.unique(tbl.column("lineitem_resourceid")).to_pylist() if r}
                if discover:
                    chunk.cloud_tag_pairs |= label_pairs(pc.unique(tbl.column("resourcetags")).to_pylist(), keys)
            matched = {r for r in ids if chunk.matcher.matches(r)}
            storage = read_ocp_rows(conn, spec.schema_name, day, day, spec.openshift_provider_uuid,
                                    chunk.sets.csi_by_day_pv, storage_only=True)
            if discover:
                pods, volumes = tenant_cloud.ocp_label_texts(conn, spec.schema_name, spec.openshift_provider_uuid,
                                                             day, day)
                chunk.ocp_label_pairs |= label_pairs(pods | volumes, keys)
            own_storage = storage[storage["source"] == spec.openshift_provider_uuid]
            disks = attr.disk_candidates(matched, own_storage)
            chunk.capacity[day] = aws.ebs_capacities(sources.raw, day, disks)
            contrib = attr.pv_capacity_contributions(matched, storage)
            if not contrib.empty:
                chunk.contributions.append(contrib)
        conn.rollback()


def _matched_tag_strings(chunk: _Chunk, discover: bool) -> list[str]:
    """_get_matched_tags_strings: PostgreSQL's answer if any, else Koku's Trino query over the chunk's data."""
    manifest = chunk.manifest
    if manifest["pg_matched_tags"] or not discover:
        return list(manifest["pg_matched_tags"])
    return matched_tags_from_pairs(chunk.cloud_tag_pairs, chunk.ocp_label_pairs)


def _check_required(project: pd.DataFrame, ui: dict[str, pd.DataFrame], day: dt.date, folder: str) -> None:
    """Koku's inserts fail on a NULL product code (project table) or currency (UI tables): say so, write nothing."""
    if not project.empty and project["product_code"].isna().any():
        bad = project.loc[project["product_code"].isna(), "resource_id"].dropna().unique()[:3]
        raise InputFileError(folder, f"matched CUR lines of {day} have no product code (lineitem_productcode is "
                             f"empty; e.g. resources {list(bad)}); Koku's insert into {OCPAWS_PROJECT_TABLE} fails "
                             "on them (product_code is NOT NULL)", "lineitem_productcode")
    for name, rows in ui.items():
        if not rows.empty and rows["currency_code"].isna().any():
            raise InputFileError(folder, f"matched CUR lines of {day} have no currency code; Koku's insert into "
                                 f"{name} fails on them (currency_code is NOT NULL)", "lineitem_currencycode")


def _line_groups(temp: pd.DataFrame, pre: pd.DataFrame, namespaces: int) -> pd.Series:
    """An estimate, per line, of the rows step 2 makes of it: the OCP groups of the nodes its id contains (direct
    match), or twice the namespaces (tag match: one row per namespace and data source)."""
    per_node = pre.groupby("resource_id", sort=False).size() if not pre.empty else pd.Series(dtype=int)
    pairs = contained_pairs(temp["resource_id"].dropna().unique(), per_node.index)
    per_line = pairs.assign(n=pairs["needle"].map(per_node)).groupby("haystack")["n"].sum()
    est = temp["resource_id"].map(per_line).fillna(0).to_numpy(dtype=float)
    tagged = ~temp["resource_id_matched"].to_numpy(dtype=bool)
    return pd.Series(1 + np.where(tagged, 2 * namespaces, est), index=temp.index)


def _buckets(temp: pd.DataFrame, weights: pd.Series, target: int) -> Iterator[pd.DataFrame]:
    """The day's lines in parts of about `target` step-2 rows; the lines of one resource stay together (every
    step-2 and step-3 grouping of a line's rows has its resource id in the key, so parts never share a group)."""
    key = temp["resource_id"].fillna("\x00")
    per_resource = weights.groupby(key, sort=False).sum()
    bucket, size, assign = 0, 0.0, {}
    for resource, w in per_resource.items():
        if size and size + w > target:
            bucket, size = bucket + 1, 0.0
        assign[resource] = bucket
        size += w
    labels = key.map(assign).to_numpy()
    for b in range(bucket + 1):
        yield temp[labels == b]


def _day_rows(chunk: _Chunk, conn, sources: aws.AwsSources, day: dt.date, candidates: list[str],
              totals: dict[str, tuple[float, int]]) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Pass 2 for one day: the matched lines, then per part of them (bounded memory on big clusters) the step-2
    rows and the final rows: yields (lines, final rows) per part."""
    spec, manifest = chunk.spec, chunk.manifest
    tbl = sources.read_day(day, [c.name for c in aws.DAILY_COLUMNS])
    if tbl is None:
        return
    folder = sources.daily.files[0].rsplit("/", 1)[0] if sources.daily.files else "aws_line_items_daily"
    temp = aws.daily_temp(tbl, chunk.matcher, candidates, manifest["aws_keys"], folder)
    del tbl
    if temp.empty:
        yield temp, pd.DataFrame()
        return
    ocp_all = read_ocp_rows(conn, spec.schema_name, day, day, spec.openshift_provider_uuid, chunk.sets.csi_by_day_pv)
    ocp = ocp_all[ocp_all["source"] == spec.openshift_provider_uuid]
    capacity = chunk.capacity.get(day, {})
    disk_ids = set(capacity)
    aliases = {k: v[0] for k, v in manifest["aliases"].items()}
    pre = attr.direct_pre(ocp)
    weights = _line_groups(temp, pre, int(ocp["namespace"].nunique()))
    cache_this: dict[str, np.ndarray] = {}
    cache_all: dict[str, np.ndarray] = {}
    for part in _buckets(temp, weights, BUCKET_ROWS):
        rows = [attr.storage_rows(part, ocp, capacity, totals, AWS_PROFILE),
                attr.direct_rows(part, ocp, disk_ids, AWS_PROFILE, pre=pre),
                attr.tag_rows(part, ocp, AWS_PROFILE, cache=cache_this)]
        rows = [r for r in rows if not r.empty]
        final_parts = []
        if rows:
            counts = attr.tag_cluster_counts(part, ocp_all, cache=cache_all)
            final_parts.append(attr.final_rows(attr.concat_rows(rows), counts, manifest["distribution"],
                                               manifest["markup"], aliases, AWS_PROFILE))
        del rows
        network = attr.network_rows(part, ocp, manifest["markup"], aliases, AWS_PROFILE)
        if not network.empty:
            final_parts.append(network)
        yield part, attr.concat_rows(final_parts)


def _conservation(temp: pd.DataFrame | None, final: pd.DataFrame | None) -> dict[str, float]:
    """Per day: the matched lines' cost and what the final rows attribute (every namespace)."""
    have_temp = temp is not None and not temp.empty
    have_final = final is not None and not final.empty
    out: dict[str, float] = {"matched_lines": int(len(temp)) if have_temp else 0}
    for c in ("calculated_amortized_cost", "unblended_cost"):
        out[f"matched_{c}"] = float(temp[c].sum()) if have_temp else 0.0
        out[f"attributed_{c}"] = float(pd.to_numeric(final[c]).sum()) if have_final else 0.0
    return out


def compute_chunk(settings: Settings, stage: Stage, chunk_start: str | dt.date, chunk_end: str | dt.date,
                  progress: Progress = _noop) -> dict[str, Any]:
    """Match and attribute the days of one chunk into the stage (one part file per table; a re-run rewrites it)."""
    t0 = time.perf_counter()
    tune_allocators()
    manifest = stage.read_manifest()
    spec = CloudRunSpec.from_kwargs(manifest["run"])
    first, last = parse_date(chunk_start, "chunk_start"), parse_date(chunk_end, "chunk_end")
    chunk_index = [c[0] for c in manifest["chunks"]].index(first.isoformat())
    days = days_in_range(first, last)
    root = settings.require_data_root()
    sources = aws.open_aws_sources(root, spec.account, spec.cloud_provider_uuid, spec.year, spec.month,
                                   settings.storage_options())
    ocp_parquet = open_ocp_parquet(root, spec.account, spec.openshift_provider_uuid, spec.year, spec.month,
                                   settings.storage_options())
    progress("scan", {"chunk": [first.isoformat(), last.isoformat()]})
    chunk = _Chunk(manifest, spec, scan_chunk(ocp_parquet, first, last))
    discover = bool(manifest["matched_keys"]) and not manifest["pg_matched_tags"]
    _pass_one(chunk, settings, sources, days, discover)
    release_memory()
    totals = attr.pv_capacity_totals(pd.concat(chunk.contributions, ignore_index=True)) \
        if chunk.contributions else {}
    matched_strings = _matched_tag_strings(chunk, discover)
    candidates = tag_candidates(matched_strings, special_candidates(
        spec.cluster_id, spec.cluster_alias, chunk.sets.nodes, chunk.sets.namespaces))
    tag_keys = project_tag_keys([*manifest["aws_keys"], *manifest["ocp_keys"]])
    aws_keys = frozenset(manifest["aws_keys"])
    alias_names = {k: v[1] for k, v in manifest["aliases"].items()}
    part = first.isoformat()
    rows = {t: 0 for t in manifest["tables"]}
    days_out: dict[str, dict[str, float]] = {}
    tags = ChunkTags(chunk_index)
    folder = sources.daily.files[0].rsplit("/", 1)[0]
    with ExitStack() as stack:
        conn = stack.enter_context(closing(connect(settings.require_database_url())))
        schemas = {OCPAWS_PROJECT_TABLE: PROJECT_SCHEMA, SUMMARY_TABLE: BACK_POPULATE_SCHEMA,
                   TAGS_SUMMARY_PART: SUMMARY_STAGED, TAGS_VALUES_PART: VALUES_STAGED, **UI_SCHEMAS}
        w = {name: stack.enter_context(stage.writer(name, sch, part=part)) for name, sch in schemas.items()}
        for day in days:
            progress("attribute", {"day": day.isoformat()})
            clear_caches()
            ui_parts: dict[str, list[pd.DataFrame]] = {t.name: [] for t in AWS_UI_TABLES}
            sums = _conservation(None, None)
            for lines, final in _day_rows(chunk, conn, sources, day, candidates, totals):
                sums = {k: sums[k] + v for k, v in _conservation(lines, final).items()}
                if final.empty:
                    continue
                for t in AWS_UI_TABLES:
                    ui_parts[t.name].append(ui_rows(final, t))
                project = project_rows(final, tag_keys, AWS_PROFILE)
                del final  # the day's largest frame: gone before the next outputs are built
                _check_required(project, {}, day, folder)
                w[OCPAWS_PROJECT_TABLE].write_table(_project_arrow(project, manifest, spec))
                rows[OCPAWS_PROJECT_TABLE] += len(project)
                back = back_populate_rows(project, manifest["report_period_id"], spec.openshift_provider_uuid)
                w[SUMMARY_TABLE].write_table(to_arrow(back, BACK_POPULATE_SCHEMA))
                rows[SUMMARY_TABLE] += len(back)
                del back
                tags.add(project, aws_keys, alias_names)
                del project
                release_memory()  # per part, not only per day: the next part reuses the returned pages
            days_out[day.isoformat()] = sums
            ui = {t.name: combine_ui_rows(ui_parts[t.name], t) for t in AWS_UI_TABLES}
            _check_required(pd.DataFrame(), ui, day, folder)
            for name, frame in ui.items():
                w[name].write_table(_ui_arrow(frame, name, spec))
                rows[name] += len(frame)
            w[TAGS_SUMMARY_PART].write_table(tags.summary_table())  # the day's distinct rows (PostgreSQL merges)
            del ui, ui_parts
            release_memory()
        w[TAGS_VALUES_PART].write_table(tags.values_table())
        conn.rollback()
    return runs.chunk_result(first, last, rows, days_out, len(matched_strings), len(candidates),
                             [sources, ocp_parquet], t0)


def _project_arrow(project: pd.DataFrame, manifest: dict[str, Any], spec: CloudRunSpec) -> pa.Table:
    p = project.rename(columns={"category_json": "aws_cost_category"}, copy=False)
    return runs.project_arrow(p, manifest, spec, OCPAWS_PROJECT_TABLE, PROJECT_SCHEMA)


def _ui_arrow(frame: pd.DataFrame, name: str, spec: CloudRunSpec) -> pa.Table:
    return runs.ui_arrow(frame, name, UI_SCHEMAS[name], spec)


# --- write / finalize ------------------------------------------------------------------------------------------

def _write_tags(conn, schema: str, manifest: dict[str, Any], stage: Stage) -> int:
    counts = write_tag_summaries(conn, schema, manifest["bill_id"], manifest["report_period_id"],
                                 manifest["rp_cluster_id"], manifest["rp_cluster_alias"],
                                 stage.read_batches(TAGS_SUMMARY_PART, batch_size=50_000),
                                 read_staged(stage, TAGS_VALUES_PART, VALUES_STAGED))
    return counts["summary_rows"]


_TABLES = RunTables("AWS", OCPAWS_PROJECT_TABLE, OCPAWS_TAGS_SUMMARY, _write_tags)


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Replace the run's rows of one table in one transaction (Koku's delete rule); returns the rows written."""
    return runs.write_table(settings, stage, table, lambda _provider: _TABLES)


def _category_summary(conn, manifest: dict[str, Any]) -> dict[str, int]:
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    # Koku: once per run, after every chunk (it reads the project table as written)
    return {CATEGORY_SUMMARY: update_category_summary(conn, manifest["run"]["schema_name"], manifest["bill_ids"],
                                                      start, end)}


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every write: the cost-category summary (it reads the written project table), the report period's
    ocp_on_cloud_updated_datetime, in one transaction; then drop the stage and summarise."""
    return runs.finalize(settings, stage, written, chunk_results, _category_summary)


def run_ocp_on_aws(spec: CloudRunSpec, settings: Settings, progress: Progress = _noop,
                   date_step: int | None = None) -> dict[str, Any]:
    """The whole run in-process (the CLI's `run ocp-on-aws`): the Celery chord's steps (table writes in threads)."""
    return run_in_process(settings, lambda stage: prepare_ocp_on_aws(spec, settings, stage, progress, date_step),
                          compute_chunk, write_table, finalize, progress,
                          run_key=(f"OCP-on-AWS-{spec.openshift_provider_uuid}", spec.schema_name,
                                   spec.cloud_provider_uuid, spec.start_date))
