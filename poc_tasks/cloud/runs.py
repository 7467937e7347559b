"""What every OCP-on-cloud run shares, whatever computes its chunks (cloud/pipeline.py for AWS, cloud/flow.py for
the provider modules): prepare's checks and manifest, the staged project / UI rows, the table writes with Koku's
delete rules, finalize's stamp and summary. What differs is passed in: the tag tables (AWS: tag_summary.py,
Azure/GCP: tag_tables.py) and what finalize writes besides (AWS: the cost-category summary)."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from poc_tasks.cloud import tenant as cloud_tenant
from poc_tasks.cloud.frames import to_arrow
from poc_tasks.cloud.outputs import round_to_column_scales
from poc_tasks.cloud.spec import CloudRunSpec, date_range_pair
from poc_tasks.db.connection import connect
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.db.writer import replace_rows
from poc_tasks.errors import MissingInputData
from poc_tasks.io.staging import Stage
from poc_tasks.ownership import check_cloud_run
from poc_tasks.settings import Settings
from poc_tasks.validate import parse_date

__all__ = ["DEFAULT_DATE_STEP", "WRITE_BATCH_ROWS", "Progress", "noop_progress", "RunTables", "checked_report_period",
           "write_run_manifest", "project_arrow", "ui_arrow", "chunk_result", "read_staged", "write_table", "finalize"]

Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_DATE_STEP = 5  # Koku's TRINO_DATE_STEP
# rows per COPY batch: the project rows carry two label JSON texts each, so a batch of 8 k rows is ~10 MiB of CSV
WRITE_BATCH_ROWS = 8192


def noop_progress(_step: str, _meta: dict[str, Any]) -> None:
    return None


# --- prepare ---------------------------------------------------------------------------------------------------

def checked_report_period(conn, spec: CloudRunSpec, month_start: dt.date,
                          requires_cluster: bool = True) -> tuple[int, str, str]:
    """The OCP source's report period of the month (id, cluster id, alias); MissingInputData without it, or
    without the source's reporting_ocp_clusters row where the provider needs one."""
    rp = cloud_tenant.report_period(conn, spec.schema_name, spec.openshift_provider_uuid, month_start)
    if rp is None:
        raise MissingInputData(
            f"no OCP report period of {month_start:%Y-%m} for OCP source {spec.openshift_provider_uuid} in "
            f"{spec.schema_name}: run the OCP summary of the range first (poc-tasks run ocp)")
    if requires_cluster and not cloud_tenant.has_cluster(conn, spec.schema_name, spec.openshift_provider_uuid):
        raise MissingInputData(f"no reporting_ocp_clusters row for OCP source {spec.openshift_provider_uuid}: "
                               "run the OCP summary of the range first (poc-tasks run ocp)")
    check_cloud_run(conn, spec.schema_name, spec.openshift_provider_uuid, spec.cloud_provider_uuid, spec.cloud_type,
                    spec.cluster_id, rp, spec.report_period_id)
    return rp


def write_run_manifest(stage: Stage, spec: CloudRunSpec, run_name: str, cloud_name: str, rp: tuple[int, str, str],
                       bills: list[int], tables: list[str], keys: dict[str, Any], sources, t0: float,
                       date_step: int | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest that tells the chunk tasks what to do, written to the stage: the run, its report period and
    bill(s) (the run's bill_id must be one of the month's), its tables, its Koku date chunks, the provider's
    tag keys (`keys`) and anything else the provider adds (`extra`)."""
    month_start = spec.start_date.replace(day=1)
    if spec.bill_id is not None and spec.bill_id not in bills:
        raise MissingInputData(f"bill_id {spec.bill_id} is not a bill of {cloud_name} source "
                               f"{spec.cloud_provider_uuid} for {month_start:%Y-%m} in {spec.schema_name} "
                               f"(its bills: {bills})")
    step = date_step or int(os.environ.get("POC_DATE_STEP", DEFAULT_DATE_STEP))
    manifest = {
        "provider": run_name,
        "run": spec.to_kwargs(),
        "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "report_period_id": spec.report_period_id or rp[0],
        "rp_cluster_id": rp[1],
        "rp_cluster_alias": rp[2],
        "bill_id": spec.bill_id or bills[0],
        "bill_ids": bills,
        "tables": tables,
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in date_range_pair(spec.start_date, spec.end_date, step)],
        **keys,
        "markup": spec.markup_fraction,
        "distribution": spec.distribution,
        "rows_read": sources.rows_read(),
        "bytes_read": sources.bytes_read(),
        "timings": {"prepare_s": round(time.perf_counter() - t0, 3)},
        **(extra or {}),
    }
    stage.write_manifest(manifest)
    return manifest


# --- compute ---------------------------------------------------------------------------------------------------

def project_arrow(p: pd.DataFrame, manifest: dict[str, Any], spec: CloudRunSpec, table: str,
                  schema: pa.Schema) -> pa.Table:
    """A chunk's project rows as staged (`p` is the caller's copy: its columns are set here)."""
    p["pod_labels"] = p["enabled_tags"]
    p["tags"] = p["enabled_tags"]
    p["usage_end"] = p["usage_start"]
    p["report_period_id"] = manifest["report_period_id"]
    p["cost_entry_bill_id"] = manifest["bill_id"]
    p["source_uuid"] = spec.cloud_provider_uuid
    # numeric(33, 9) columns as Trino's INSERT lands a double in them (shortest text, half up), not as the COPY
    # writer's 15-significant-digit rounding would: the two differ on half-way values (0.35374218749999997)
    return to_arrow(round_to_column_scales(p, get_table(table)), schema)


def ui_arrow(frame: pd.DataFrame, table: str, schema: pa.Schema, spec: CloudRunSpec) -> pa.Table:
    """A UI table's rows as staged."""
    f = round_to_column_scales(frame, get_table(table))  # a copy; see project_arrow
    f["id"] = [str(uuid.uuid4()) for _ in range(len(f))]
    f["usage_end"] = f["usage_start"]
    f["source_uuid"] = spec.cloud_provider_uuid
    return to_arrow(f, schema)


def chunk_result(first: dt.date, last: dt.date, rows: dict[str, int], days: dict[str, dict[str, float]],
                 matched_tag_strings: int, candidates: int, inputs: list, t0: float) -> dict[str, Any]:
    """What a chunk task returns (finalize sums it): rows staged per table, the days' conservation sums, what
    was read from the cloud and OCP Parquet (`inputs`)."""
    return {"chunk": [first.isoformat(), last.isoformat()], "rows": rows, "days": days,
            "matched_tag_strings": matched_tag_strings, "candidates": candidates,
            "rows_read": sum(i.rows_read() for i in inputs),
            "bytes_read": sum(i.bytes_read() for i in inputs),
            "seconds": round(time.perf_counter() - t0, 3)}


# --- write / finalize ------------------------------------------------------------------------------------------

def read_staged(stage: Stage, table: str, schema: pa.Schema) -> pa.Table:
    batches = list(stage.read_batches(table))
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


@dataclass(frozen=True)
class RunTables:
    """A provider's tables as write_table needs them: the spec's cloud type, the project table, the tag summary
    table and its writer (conn, schema, manifest, stage) -> summary rows written."""

    cloud_type: str
    project: str
    tags: str
    write_tags: Callable[[Any, str, dict[str, Any], Stage], int]


def write_table(settings: Settings, stage: Stage, table: str, tables_of: Callable[[str], RunTables]) -> int:
    """Replace the run's rows of one table in one transaction (Koku's delete rule); returns the rows written.
    `tables_of` gives the tables of the manifest's provider."""
    manifest = stage.read_manifest()
    if table not in manifest["tables"]:
        raise ValueError(f"run {stage.run_id} staged no table {table!r}")
    tables = tables_of(manifest["provider"])
    run = CloudRunSpec.from_kwargs(manifest["run"], cloud_type=tables.cloud_type)
    schema = run.schema_name
    start, end = parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")
    rp = manifest["report_period_id"]
    # the staged rows of a table in COPY-sized batches (~10 MiB of CSV each: memory stays at one batch)
    batches = stage.read_batches(table, batch_size=WRITE_BATCH_ROWS)
    with closing(connect(settings.require_database_url())) as conn:
        if table == tables.project:
            # Koku: usage_start BETWEEN start AND end AND cost_entry_bill_id = bill; restricted to this run's
            # cluster (report period), since a run here is one (cluster, cloud source) pair.
            where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND cost_entry_bill_id = %(bill)s"
                     " AND report_period_id = %(rp)s")
            params = {"start": start, "end": end, "bill": manifest["bill_id"], "rp": rp}
            return replace_rows(conn, schema, table, where, params, batches, partition_range=(start, end)).inserted
        if table == SUMMARY_TABLE:
            # Koku's delete_infrastructure_raw_cost_from_daily_summary, plus back-populated rows without cost
            # (only the back-populate writes supplementary_usage_cost), which Koku leaves to pile up.
            where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(rp)s"
                     " AND ((infrastructure_raw_cost IS NOT NULL AND infrastructure_raw_cost <> 0)"
                     " OR supplementary_usage_cost IS NOT NULL)")
            params = {"start": start, "end": end, "rp": rp}
            return replace_rows(conn, schema, table, where, params, batches,
                                partition_range=(start, end), analyze=True).inserted
        if table == tables.tags:
            return tables.write_tags(conn, schema, manifest, stage)
        # UI tables: Koku deletes usage_start BETWEEN start AND end AND source_uuid = cloud source; restricted to
        # this run's cluster as above.
        where = ("usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s"
                 " AND cluster_id = %(cluster)s")
        params = {"start": start, "end": end, "source": run.cloud_provider_uuid, "cluster": run.cluster_id}
        return replace_rows(conn, schema, table, where, params, batches, partition_range=(start, end),
                            generate_uuid=False).inserted


def finalize(settings: Settings, stage: Stage, written: dict[str, int], chunk_results: list[dict[str, Any]] | None,
             also: Callable[[Any, dict[str, Any]], dict[str, int]] | None = None) -> dict[str, Any]:
    """After every write, in one transaction: `also(conn, manifest)` (rows it wrote per table, added to
    `written`), the report period's ocp_on_cloud_updated_datetime; then drop the stage and summarise."""
    manifest = stage.read_manifest()
    with closing(connect(settings.require_database_url())) as conn:
        with conn:
            if also is not None:
                written = {**written, **also(conn, manifest)}
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
