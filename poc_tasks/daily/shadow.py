"""Phase 1 for the cloud daily summaries (`poc-tasks compare azure|gcp`): compute the rows without writing them and
compare them with the rows Koku (Trino) wrote.

    daily.run.prepare -> compute_chunk per chunk (into a private stage, never the live table)
        -> the live rows Koku's delete rule gives the run (usage_start in the range, the bill) -> rows.Comparison
        -> report (JSON + HTML)

Rows are compared as a multiset (compare/rows.py): every text column a key (tags as canonical JSON, instance_ids as
their sorted text), the numeric(24,9) columns with the tolerance given (default exact).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import closing
from typing import Any

import numpy as np
import pandas as pd
from psycopg2 import sql

from poc_tasks.compare.report import write_report
from poc_tasks.compare.rows import Comparison, Tolerance, shape_of
from poc_tasks.daily.run import DailyRunSpec, compute_chunk, flow, prepare, staged_schema
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import get_table
from poc_tasks.inprocess import new_stage
from poc_tasks.io.layout import join
from poc_tasks.settings import Settings

__all__ = ["shadow_compare_daily", "daily_shape"]

_SEP = "\x1f"


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def _columns(table: str) -> tuple[list[str], list[str], list[str]]:
    """(compared columns, numeric ones, JSON ones) of a daily table: every column but uuid."""
    cols = [c for c in get_table(table).columns if c.name != "uuid"]
    numbers = [c.name for c in cols if type(c.type).__name__ in ("Numeric", "Float")]
    json_cols = [c.name for c in cols if type(c.type).__name__ == "JSONB"]
    return [c.name for c in cols], numbers, json_cols


def daily_shape(table: str):
    columns, numbers, json_cols = _columns(table)
    return shape_of(columns, numbers, json_cols)


def _normalise(frame: pd.DataFrame, numbers: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for c in numbers:
        out[c] = pd.to_numeric(out[c], errors="raise").astype(float)
    for c in out.columns:
        if len(out) and out[c].map(lambda v: isinstance(v, list | np.ndarray)).any():  # text[]: one sorted text
            out[c] = out[c].map(lambda v: None if v is None else _SEP.join(sorted("\x00" if x is None else x
                                                                                   for x in list(v))))
    for c in ("usage_start", "usage_end"):
        if c in out.columns:
            out[c] = out[c].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    for c in ("cost_entry_bill_id", "instance_count"):
        if c in out.columns:
            out[c] = out[c].map(lambda v: None if v is None or v != v else str(int(v)))
    return out


def _live(conn, spec: DailyRunSpec, table: str, columns: list[str], json_cols: list[str],
          bill_id: int) -> pd.DataFrame:
    """The rows a run of the range owns under Koku's delete rule (usage_start in [start, end], the bill)."""
    select = sql.SQL(", ").join(
        sql.SQL("{}::text AS {}").format(sql.Identifier(c), sql.Identifier(c)) if c in json_cols or c == "source_uuid"
        else sql.Identifier(c) for c in columns)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} WHERE usage_start >= %s AND usage_start <= %s"
                            " AND cost_entry_bill_id = %s").format(select, qualified(spec.schema_name, table)),
                    (spec.start_date, spec.end_date, bill_id))
        return pd.DataFrame(cur.fetchall(), columns=columns)


def shadow_compare_daily(spec: DailyRunSpec, settings: Settings, *, report_path: str | None = None,
                         tracing_id: str | None = None, tolerance: Tolerance | None = None,
                         progress: Any = _noop) -> dict[str, Any]:
    """Compute poc_tasks' rows of `spec` without writing them, compare with the live table, write the report.
    Returns the summary (equal, rows, changed columns, report paths)."""
    t0 = time.perf_counter()
    f = flow(spec.provider)
    table = f.tables[0].name
    columns, numbers, json_cols = _columns(table)
    comparison = Comparison(daily_shape(table), tolerance or Tolerance(rel=0.0, abs=0.0))
    stage = new_stage(settings)
    try:
        manifest = prepare(f, spec, settings, stage, progress)
        for a, b in manifest["chunks"]:
            compute_chunk(settings, stage, a, b, progress)
        staged = [batch.to_pandas(date_as_object=True) for batch in stage.read_batches(table)]
        poc = pd.concat(staged, ignore_index=True) if staged else pd.DataFrame(columns=staged_schema(table).names)
        with closing(connect(settings.require_database_url())) as conn:
            conn.set_session(readonly=True)
            live = _live(conn, spec, table, columns, json_cols, manifest["bill_id"])
            conn.rollback()
        comparison.add(_normalise(live[columns], numbers), _normalise(poc.reindex(columns=columns), numbers))
    finally:
        stage.cleanup()
    report = {
        "provider_type": f"{spec.provider}-daily", "table": table, "schema_name": spec.schema_name,
        "source_uuid": spec.source_uuid, "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(), "bill_id": manifest["bill_id"],
        "invoice_month": manifest.get("invoice_month"), "tracing_id": tracing_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **comparison.summary(), "examples": comparison.examples,
        "timings": {"total_s": round(time.perf_counter() - t0, 3)},
    }
    report["verdict"] = "equal" if report["equal"] else "different"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    root = os.environ.get("POC_SHADOW_REPORT_ROOT") or join(settings.require_data_root(), "poc_tasks_reports")
    path = report_path or join(root, spec.schema_name, spec.source_uuid,
                               f"{spec.provider.lower()}_{spec.start_date}_{spec.end_date}_{stamp}")
    paths = write_report(report, path, settings.storage_options())
    return {"equal": report["equal"], "verdict": report["verdict"], "rows": report["rows"],
            "changed_columns": report["changed_columns"], "report": paths, "timings": report["timings"]}
