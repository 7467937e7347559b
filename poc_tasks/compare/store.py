"""The verdict table (poc_shadow_comparison in the tenant schema) and the read of the live rows.

The live read runs in a read-only session: a shadow comparison cannot write to Koku's tables even by mistake.
The verdict insert is the only write of a comparison, into poc_tasks' own table.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.db.tables import SHADOW_TABLE, get_table, shadow_comparison
from poc_tasks.validate import validate_identifier, validate_schema, validate_uuid

__all__ = ["ensure_verdict_table", "insert_verdict", "read_live", "LIVE_FILTER"]

Connection = psycopg2.extensions.connection

# The rows the summary step owns: cost-model rows (cost_model_rate_type / monthly_cost_type set) and the rows
# OCP-on-cloud back-populates are made by later steps and are not compared. A back-populated row carries
# supplementary_usage_cost (Koku's reporting_ocp<cloud>_ocp_infrastructure_back_populate.sql sets it, the summary
# never does) and usually infrastructure_raw_cost; one whose attributed cost is 0 has only the former.
LIVE_FILTER = (
    "source_uuid = %(source)s::uuid AND usage_start >= %(start)s AND usage_start <= %(end)s"
    " AND cost_model_rate_type IS NULL AND monthly_cost_type IS NULL AND supplementary_usage_cost IS NULL"
    " AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)"
)


def ensure_verdict_table(conn: Connection, schema: str) -> None:
    """CREATE TABLE / INDEX IF NOT EXISTS for poc_shadow_comparison in the tenant schema (no commit)."""
    validate_schema(schema)
    opts = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
    dialect = pg_dialect.dialect()
    with conn.cursor() as cur:
        advisory_xact_lock(cur, f"shadow_table:{schema}")
        cur.execute(str(CreateTable(shadow_comparison, if_not_exists=True).compile(dialect=dialect, **opts)))
        for index in shadow_comparison.indexes:
            cur.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect, **opts)))


def insert_verdict(conn: Connection, schema: str, report: dict[str, Any], report_path: str | None) -> int:
    """Store one comparison's verdict (creating the table if needed); commits; returns the row id."""
    rows = report["rows"]
    values = {
        "provider_type": report["provider_type"],
        "source_uuid": validate_uuid(report["source_uuid"]),
        "report_period_id": report.get("report_period_id"),
        "start_date": report["start_date"],
        "end_date": report["end_date"],
        "equal": bool(report["equal"]),
        "live_rows": rows["live"],
        "poc_rows": rows["poc"],
        "changed_rows": rows["changed"],
        "missing_rows": rows["missing_in_poc"],
        "extra_rows": rows["extra_in_poc"],
        "differing_days": json.dumps(report["differing_days"]),
        "differing_namespaces": json.dumps(report["differing_namespaces"]),
        "summary": json.dumps({k: report[k] for k in ("rows", "changed_columns", "tolerance", "timings")
                               if k in report}, default=str),
        "report_path": report_path,
        "tracing_id": report.get("tracing_id"),
    }
    columns = list(values)
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        qualified(schema, SHADOW_TABLE),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
    )
    try:
        ensure_verdict_table(conn, schema)
        with conn.cursor() as cur:
            cur.execute(query, values)
            new_id = int(cur.fetchone()[0])
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return new_id


def read_live(conn: Connection, schema: str, table: str, columns: list[str], json_columns: set[str],
              numeric_columns: set[str], source_uuid: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The live rows of one source over [start, end] that the summary step owns (LIVE_FILTER).

    Numbers come as float8, JSON as text (canonicalised by the comparison), uuids as text.
    """
    declared = {c.name: c for c in get_table(table).columns}

    def select(col: str) -> sql.Composable:
        ident = sql.Identifier(validate_identifier(col))
        if col in json_columns or col == "source_uuid":
            return sql.SQL("{}::text AS {}").format(ident, ident)
        if col in numeric_columns:
            return sql.SQL("{}::float8 AS {}").format(ident, ident)
        return ident

    missing = [c for c in columns if c not in declared]
    if missing:
        raise ValueError(f"{table} has no column(s) {missing}")
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(select(c) for c in columns), qualified(schema, table), sql.SQL(LIVE_FILTER))
    with conn.cursor() as cur:
        cur.execute(query, {"source": validate_uuid(source_uuid), "start": start, "end": end})
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=columns)
