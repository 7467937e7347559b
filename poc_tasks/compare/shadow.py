"""Phase 1 of the migration: a shadow run compares poc_tasks' rows with the rows Trino already wrote.

    prepare_ocp(shadow=True) -> compute_chunk per day chunk (into a private stage, never the live tables)
        -> per chunk: read the live rows of the chunk's days (read-only session) and compare (rows.Comparison)
        -> report (JSON + HTML) -> verdict row in <tenant>.poc_shadow_comparison

Koku's own validate_daily_data compares one sum per day between Trino and PostgreSQL; this compares every
row as a multiset with tolerances, and totals per day, namespace and node.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from contextlib import closing
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from psycopg2 import sql

from poc_tasks.compare.report import write_report
from poc_tasks.compare.rows import Comparison, Tolerance, shape_of
from poc_tasks.compare.store import insert_verdict, read_live
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import get_table
from poc_tasks.errors import MissingInputData
from poc_tasks.io.layout import join
from poc_tasks.io.staging import Stage
from poc_tasks.ocp.pipeline import compute_chunk, new_stage, prepare_ocp
from poc_tasks.ocp.summary import STAGED_SCHEMA, SUMMARY_TABLE, WRITTEN_COLUMNS
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.settings import Settings
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = ["shadow_compare_ocp", "resolve_ocp_spec", "ocp_shape", "default_report_path"]

LOG = logging.getLogger(__name__)
_JSON = {c.name for c in get_table(SUMMARY_TABLE).columns if type(c.type).__name__ == "JSONB"}
_NUMBERS = [f.name for f in STAGED_SCHEMA if str(f.type) == "double" and f.name in WRITTEN_COLUMNS]


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def ocp_shape():
    """The daily summary's compared columns: everything the summary step writes (uuid aside)."""
    return shape_of(WRITTEN_COLUMNS, _NUMBERS, sorted(_JSON & set(WRITTEN_COLUMNS)))


def resolve_ocp_spec(settings: Settings, schema_name: str, source_uuid: str, start_date: Any, end_date: Any,
                     cluster_id: str | None = None, cluster_alias: str | None = None,
                     report_period_id: int | None = None) -> OcpRunSpec:
    """An OcpRunSpec for a comparison; cluster id, alias and report period default to the live report period's
    (Koku's run created it), so Koku's hook only needs schema, source and range."""
    schema, source = validate_schema(schema_name), validate_uuid(source_uuid)
    start = parse_date(start_date, "start_date")
    if cluster_id is None or report_period_id is None:
        with closing(connect(settings.require_database_url())) as conn:
            conn.set_session(readonly=True)
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT id, cluster_id, cluster_alias FROM {} WHERE provider_id = %s"
                            " AND report_period_start = %s ORDER BY id LIMIT 1").format(
                        qualified(schema, "reporting_ocpusagereportperiod")),
                    (source, dt.datetime(start.year, start.month, 1, tzinfo=dt.UTC)),
                )
                row = cur.fetchone()
        if row is None:
            raise MissingInputData(f"no report period of source {source} for {start:%Y-%m} in {schema}: "
                                   "nothing to compare with (has Koku summarised it?)")
        report_period_id = report_period_id or row[0]
        cluster_id = cluster_id or row[1]
        cluster_alias = cluster_alias or row[2]
    return OcpRunSpec.build(schema, source, cluster_id, start, end_date, cluster_alias, report_period_id)


def default_report_path(settings: Settings, spec: OcpRunSpec, now: dt.datetime | None = None) -> str:
    """POC_SHADOW_REPORT_ROOT (or DATA_ROOT/poc_tasks_reports)/<schema>/<source>/<start>_<end>_<utc time>."""
    root = os.environ.get("POC_SHADOW_REPORT_ROOT") or join(settings.require_data_root(), "poc_tasks_reports")
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return join(root, spec.schema_name, spec.source_uuid, f"ocp_{spec.start_date}_{spec.end_date}_{stamp}")


def _staged_part(stage: Stage, first: str) -> pd.DataFrame:
    path = stage.part_path(SUMMARY_TABLE, first)
    if not stage.fs.exists(path):
        return pd.DataFrame(columns=WRITTEN_COLUMNS)
    with stage.fs.open(path, "rb") as fh:
        return pq.read_table(fh, columns=WRITTEN_COLUMNS).to_pandas(date_as_object=True)


def _ranges(spec: OcpRunSpec, manifest: dict[str, Any]) -> list[tuple[dt.date, dt.date, str | None]]:
    """(first, last, staged part) per chunk, plus the days before poc_tasks' first day with data (live only)."""
    out: list[tuple[dt.date, dt.date, str | None]] = []
    first_poc = dt.date.fromisoformat(manifest["start_date"])
    if spec.start_date < first_poc:
        out.append((spec.start_date, first_poc - dt.timedelta(days=1), None))
    for a, b in manifest["chunks"]:
        out.append((dt.date.fromisoformat(a), dt.date.fromisoformat(b), a))
    return out


def shadow_compare_ocp(spec: OcpRunSpec, settings: Settings, *, report_path: str | None = None,
                       tracing_id: str | None = None, tolerance: Tolerance | None = None,
                       store: bool = True, progress: Any = _noop) -> dict[str, Any]:
    """Compute poc_tasks' OCP daily summary for `spec` without writing it, compare with the live table, write
    the report and store the verdict. Returns the report's summary (equal, rows, differing days, paths)."""
    t0 = time.perf_counter()
    shape = ocp_shape()
    comparison = Comparison(shape, tolerance or Tolerance())
    stage = new_stage(settings)
    try:
        manifest = prepare_ocp(spec, settings, stage, progress, shadow=True)
        chunk_results = [compute_chunk(settings, stage, a, b, progress) for a, b in manifest["chunks"]]
        t1 = time.perf_counter()
        with closing(connect(settings.require_database_url())) as conn:
            conn.set_session(readonly=True)
            for first, last, part in _ranges(spec, manifest):
                progress("compare", {"chunk": [first.isoformat(), last.isoformat()]})
                live = read_live(conn, spec.schema_name, SUMMARY_TABLE, WRITTEN_COLUMNS, _JSON, set(_NUMBERS),
                                 spec.source_uuid, first, last)
                poc = _staged_part(stage, part) if part else pd.DataFrame(columns=WRITTEN_COLUMNS)
                comparison.add(live, poc)
    finally:
        stage.cleanup()
    report = {
        "provider_type": "OCP",
        "table": SUMMARY_TABLE,
        "schema_name": spec.schema_name,
        "source_uuid": spec.source_uuid,
        "cluster_id": spec.cluster_id,
        "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "report_period_id": manifest["report_period_id"],
        "tracing_id": tracing_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **comparison.summary(),
        "differing_totals": comparison.differing_totals(),
        "examples": comparison.examples,
        "poc_run": {"chunks": len(manifest["chunks"]), "first_day_with_data": manifest["start_date"],
                    "rows_read": manifest["rows_read"] + sum(c["rows_read"] for c in chunk_results),
                    "bytes_read": manifest["bytes_read"] + sum(c["bytes_read"] for c in chunk_results)},
        "timings": {"compute_s": round(t1 - t0, 3), "compare_s": round(time.perf_counter() - t1, 3)},
    }
    report["verdict"] = "equal" if report["equal"] else "different"
    path = report_path or default_report_path(settings, spec)
    paths = write_report(report, path, settings.storage_options())
    comparison_id = None
    if store:
        with closing(connect(settings.require_database_url())) as conn:
            comparison_id = insert_verdict(conn, spec.schema_name, report, paths["json"])
    _count(report)
    LOG.info("shadow comparison %s schema=%s source=%s %s..%s: %s (tracing_id=%s)", comparison_id, spec.schema_name,
             spec.source_uuid, spec.start_date, spec.end_date, report["verdict"], tracing_id)
    return {
        "equal": report["equal"],
        "verdict": report["verdict"],
        "comparison_id": comparison_id,
        "rows": report["rows"],
        "changed_columns": report["changed_columns"],
        "differing_days": [d["day"] for d in report["differing_days"]],
        "differing_namespaces": [d["namespace"] for d in report["differing_namespaces"]],
        "report": paths,
        "timings": report["timings"],
    }


def _count(report: dict[str, Any]) -> None:
    from poc_tasks import metrics

    metrics.SHADOW_COMPARISONS.labels("OCP", report["verdict"]).inc()
    rows = report["rows"]
    metrics.SHADOW_MISMATCHES.labels("OCP").inc(rows["changed"] + rows["missing_in_poc"] + rows["extra_in_poc"])
