"""Phase-1 shadow comparison of a cloud daily summary (``poc-tasks compare aws`` / ``aws-ec2``), as compare/shadow.py
does it for OCP: compute poc_tasks' rows into a private stage (the live tables are not touched), read the live rows
Koku's Trino SQL wrote for the same range (read-only session), compare them as multisets (compare/rows.py), write
the report (JSON + HTML) and store the verdict in <tenant>.poc_shadow_comparison.

The live rows compared are the ones the run would replace: Koku's delete rule of the flow (AWS daily: usage_start
in the chunk and the bill; EC2: usage_start in [month start, end] and the source).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from contextlib import closing
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from psycopg2 import sql

from poc_tasks.compare.report import write_report
from poc_tasks.compare.rows import Comparison, Tolerance, shape_of
from poc_tasks.compare.store import insert_verdict
from poc_tasks.daily import run as daily
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import get_table
from poc_tasks.inprocess import new_stage
from poc_tasks.io.layout import join
from poc_tasks.io.staging import Stage
from poc_tasks.settings import Settings

__all__ = ["shadow_compare_daily", "daily_spec_for"]

LOG = logging.getLogger(__name__)
_NAMES = {"AWS": "AWS-daily", "AWS-EC2": "AWS-EC2-compute", "Azure": "Azure-daily", "GCP": "GCP-daily"}
_FLOWS = {kind: name for name, kind in _NAMES.items()}


def daily_spec_for(provider_type: str, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
                   bill_id: Any = None, markup_value: Any = None, invoice_month: Any = None) -> daily.DailyRunSpec:
    """The run spec of a shadow comparison sent by Koku (poc_tasks.shadow_compare with a daily provider type:
    AWS-daily, AWS-EC2-compute, Azure-daily, GCP-daily), with the summary's own arguments."""
    from poc_tasks.errors import InvalidArgument
    from poc_tasks.koku.names import provider_type as canonical

    kind = canonical(provider_type)
    if kind not in _FLOWS:
        raise InvalidArgument(f"provider_type {provider_type!r} is not a cloud daily summary type "
                              f"({', '.join(_FLOWS)})")
    return daily.DailyRunSpec.build(_FLOWS[kind], schema_name, source_uuid, start_date, end_date, bill_id,
                                    markup_value, invoice_month)


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def _shape(table: str):
    t = get_table(table)
    columns = [c.name for c in t.columns if c.name != "uuid"]
    numbers = [c.name for c in t.columns if isinstance(c.type, sa.Numeric) and c.name != "uuid"]
    json_columns = [c.name for c in t.columns if type(c.type).__name__ == "JSONB"]
    return columns, shape_of(columns, numbers, json_columns)


def _arrays_as_text(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """ARRAY columns (resource_ids, instance_ids) as their sorted elements: Koku's array_agg has no order."""
    for c in get_table(table).columns:
        if isinstance(c.type, sa.ARRAY) and c.name in frame.columns:
            frame[c.name] = [None if v is None else json.dumps(sorted(list(v), key=lambda x: (x is None, x or "")))
                             for v in frame[c.name]]
    return frame


def _live(conn, spec: daily.DailyRunSpec, flow: daily.DailyFlow, table: str, manifest: dict[str, Any],
          first: dt.date, last: dt.date, columns: list[str]) -> pd.DataFrame:
    t = flow.table(table)
    params = {**t.params(manifest), "start": max(first, t.params(manifest)["start"]),
              "end": min(last, t.params(manifest)["end"])}
    declared = get_table(table)
    select = []
    for col in columns:
        ident = sql.Identifier(col)
        typ = declared.c[col].type
        if type(typ).__name__ in ("JSONB", "UUID"):
            select.append(sql.SQL("{}::text AS {}").format(ident, ident))
        elif isinstance(typ, sa.Numeric):
            select.append(sql.SQL("{}::float8 AS {}").format(ident, ident))
        else:
            select.append(ident)
    query = sql.SQL("SELECT {} FROM {} WHERE ").format(sql.SQL(", ").join(select),
                                                        qualified(spec.schema_name, table)) + sql.SQL(t.delete_where)
    with conn.cursor() as cur:
        cur.execute(query, params)
        return _arrays_as_text(pd.DataFrame(cur.fetchall(), columns=columns), table)


def _staged(stage: Stage, table: str, part: str, columns: list[str]) -> pd.DataFrame:
    path = stage.part_path(table, part)
    if not stage.fs.exists(path):
        return pd.DataFrame(columns=columns)
    with stage.fs.open(path, "rb") as fh:
        frame = pq.read_table(fh, columns=columns).to_pandas(date_as_object=True)
    return _arrays_as_text(frame, table)


def default_report_path(settings: Settings, spec: daily.DailyRunSpec, now: dt.datetime | None = None) -> str:
    root = os.environ.get("POC_SHADOW_REPORT_ROOT") or join(settings.require_data_root(), "poc_tasks_reports")
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    name = spec.provider.lower().replace("-", "_")
    return join(root, spec.schema_name, spec.source_uuid, f"{name}_{spec.start_date}_{spec.end_date}_{stamp}")


def shadow_compare_daily(spec: daily.DailyRunSpec, settings: Settings, *, report_path: str | None = None,
                         tracing_id: str | None = None, tolerance: Tolerance | None = None, store: bool = True,
                         progress: Any = _noop) -> dict[str, Any]:
    """Compute the flow's rows for `spec` without writing them, compare with the live table(s), report, store."""
    t0 = time.perf_counter()
    flow = daily.flow(spec.provider)
    stage = new_stage(settings)
    comparisons: dict[str, Comparison] = {}
    try:
        manifest = daily.prepare(flow, spec, settings, stage, progress)
        results = [daily.compute_chunk(settings, stage, a, b, progress) for a, b in manifest["chunks"]]
        t1 = time.perf_counter()
        with closing(connect(settings.require_database_url())) as conn:
            conn.set_session(readonly=True)
            for table in manifest["tables"]:
                columns, shape = _shape(table)
                comparison = comparisons[table] = Comparison(shape, tolerance or Tolerance())
                for a, b in manifest["chunks"]:
                    progress("compare", {"table": table, "chunk": [a, b]})
                    first, last = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
                    comparison.add(_live(conn, spec, flow, table, manifest, first, last, columns),
                                   _staged(stage, table, a, columns))
    finally:
        stage.cleanup()
    table = manifest["tables"][0]
    comparison = comparisons[table]
    kind = _NAMES.get(spec.provider, spec.provider)
    report = {
        "provider_type": kind,
        "table": table,
        "schema_name": spec.schema_name,
        "source_uuid": spec.source_uuid,
        "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "bill_id": manifest["bill_id"],
        "tracing_id": tracing_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **comparison.summary(),
        "differing_totals": comparison.differing_totals(),
        "examples": comparison.examples,
        "poc_run": {"chunks": len(manifest["chunks"]), "rows_read": sum(r.get("rows_read", 0) for r in results)},
        "timings": {"compute_s": round(t1 - t0, 3), "compare_s": round(time.perf_counter() - t1, 3)},
    }
    report["verdict"] = "equal" if report["equal"] else "different"
    paths = write_report(report, report_path or default_report_path(settings, spec), settings.storage_options())
    comparison_id = None
    if store:
        with closing(connect(settings.require_database_url())) as conn:
            comparison_id = insert_verdict(conn, spec.schema_name, report, paths["json"])
    from poc_tasks import metrics

    metrics.SHADOW_COMPARISONS.labels(kind, report["verdict"]).inc()
    LOG.info("shadow comparison %s %s schema=%s source=%s %s..%s: %s (tracing_id=%s)", comparison_id, kind,
             spec.schema_name, spec.source_uuid, spec.start_date, spec.end_date, report["verdict"], tracing_id)
    if not report["equal"]:
        metrics.SHADOW_MISMATCHES.labels(kind).inc(sum(report["rows"][k] for k in
                                                       ("changed", "missing_in_poc", "extra_in_poc")))
        LOG.warning("shadow comparison %s %s schema=%s source=%s %s..%s differs: rows %s, changed columns %s, days %s,"
                    " report %s (tracing_id=%s)", comparison_id, kind, spec.schema_name, spec.source_uuid,
                    spec.start_date, spec.end_date, report["rows"], report["changed_columns"],
                    [d["day"] for d in report["differing_days"]], paths["json"], tracing_id)
    return {"equal": report["equal"], "verdict": report["verdict"], "comparison_id": comparison_id,
            "table": table, "rows": report["rows"], "changed_columns": report["changed_columns"],
            "differing_days": [d["day"] for d in report["differing_days"]], "report": paths,
            "timings": report["timings"]}
