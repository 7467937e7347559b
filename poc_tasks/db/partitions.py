"""Monthly range partitions of Koku's partitioned tables, created as Koku creates them.

Koku names a partition ``<table>_YYYY_MM``, bounds it ``FOR VALUES FROM ('YYYY-MM-01') TO (<next month>)``,
keeps a ``<table>_default`` partition, and, when it creates a month, first moves any rows of that month out
of the default partition (koku/pg_partition.py get_or_create_partition). Koku does this through its tracking
table ``partitioned_tables`` and a trigger; here the DDL runs directly and, when the schema has a
``partitioned_tables`` table (always in a Koku schema, and after ``init-db``), a tracking row is recorded
as Koku records it. Koku's trigger, where installed, sees an existing table and does nothing
(CREATE TABLE IF NOT EXISTS).

Concurrency: the catalog is read first without locking; only when a month is missing does the caller take
a transaction-level advisory lock keyed on the table, re-read, and create. Call this before the transaction
touches the table's rows (see writer.py), so that no transaction ever waits for the lock while holding row
locks on the table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.db.connection import advisory_xact_lock, qualified
from poc_tasks.db.tables import partition_column
from poc_tasks.errors import PocTasksError
from poc_tasks.validate import validate_identifier, validate_schema

__all__ = ["ensure_month_partitions", "ensure_default_partition", "month_start", "next_month", "months_between"]

Cursor = psycopg2.extensions.cursor


def month_start(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, 1)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of every month from start's to end's, inclusive."""
    out, m = [], month_start(start)
    while m <= end:
        out.append(m)
        m = next_month(m)
    return out


def _attached_partitions(cur: Cursor, schema: str, table: str) -> set[str]:
    cur.execute(
        """
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace n ON n.oid = p.relnamespace
         WHERE n.nspname = %s AND p.relname = %s
        """,
        (schema, table),
    )
    return {r[0] for r in cur.fetchall()}


def _relation_exists(cur: Cursor, schema: str, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{name}"',))
    return bool(cur.fetchone()[0])


def _default_partition(cur: Cursor, schema: str, table: str) -> str | None:
    cur.execute(
        """
        SELECT d.relname
          FROM pg_partitioned_table pt
          JOIN pg_class c ON c.oid = pt.partrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_class d ON d.oid = pt.partdefid
         WHERE n.nspname = %s AND c.relname = %s
        """,
        (schema, table),
    )
    row = cur.fetchone()
    return row[0] if row else None


def _column_names(cur: Cursor, schema: str, table: str) -> list[str]:
    """The live table's columns (a Koku table may have more than poc_tasks declares)."""
    cur.execute(
        """
        SELECT a.attname FROM pg_attribute a
         WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
        """,
        (f'"{schema}"."{table}"',),
    )
    return [r[0] for r in cur.fetchall()]


def _track(cur: Cursor, schema: str, table: str, partition: str, col: str, params: dict) -> None:
    """Record the partition in Koku's tracking table, if the schema has one."""
    if not _relation_exists(cur, schema, "partitioned_tables"):
        return
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (schema_name, table_name, partition_of_table_name, partition_type, partition_col,"
            " partition_parameters, active) VALUES (%s, %s, %s, 'range', %s, %s::jsonb, true)"
            " ON CONFLICT (schema_name, table_name) DO NOTHING"
        ).format(qualified(schema, "partitioned_tables")),
        (schema, partition, table, col, json.dumps(params)),
    )


def ensure_default_partition(cur: Cursor, schema: str, table: str) -> None:
    """CREATE the ``<table>_default`` partition if the table has none (idempotent)."""
    col = partition_column(table)
    if _default_partition(cur, schema, table) is None:
        name = f"{table}_default"
        cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
                qualified(schema, name), qualified(schema, table)
            )
        )
    _track(cur, schema, table, f"{table}_default", col, {"default": True})


def _create_month(cur: Cursor, schema: str, table: str, col: str, first: dt.date, default: str | None) -> None:
    name = f"{table}_{first:%Y_%m}"
    upper = next_month(first)
    moved = 0
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in _column_names(cur, schema, table))
    tmp = sql.Identifier("poc_tasks_partition_move")  # dropped again below, before the next month
    if default is not None:
        # Rows of this month in the default partition would make CREATE ... PARTITION OF fail: park them.
        cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(tmp, qualified(schema, table)))
        cur.execute(
            sql.SQL(
                "WITH moved AS (DELETE FROM {dflt} WHERE {col} >= %s AND {col} < %s RETURNING {cols})"
                " INSERT INTO {tmp} ({cols}) SELECT {cols} FROM moved"
            ).format(dflt=qualified(schema, default), col=sql.Identifier(col), cols=cols, tmp=tmp),
            (first, upper),
        )
        moved = cur.rowcount
    cur.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM (%s) TO (%s)").format(
            qualified(schema, name), qualified(schema, table)
        ),
        (first, upper),
    )
    if default is not None:
        if moved:
            cur.execute(
                sql.SQL("INSERT INTO {} ({cols}) SELECT {cols} FROM {tmp}").format(
                    qualified(schema, table), cols=cols, tmp=tmp
                )
            )
        cur.execute(sql.SQL("DROP TABLE {}").format(tmp))
    _track(cur, schema, table, name, col, {"default": False, "from": str(first), "to": str(upper)})


def ensure_month_partitions(
    conn: psycopg2.extensions.connection, schema: str, table: str, months: Iterable[dt.date]
) -> list[str]:
    """Create the missing ``<table>_YYYY_MM`` partitions for the given months (any day of a month will do).

    Runs in the connection's current transaction and does not commit. Returns the names it created.
    """
    validate_schema(schema)
    validate_identifier(table)
    col = partition_column(table)
    wanted = sorted({month_start(m) for m in months})
    with conn.cursor() as cur:
        missing = [m for m in wanted if f"{table}_{m:%Y_%m}" not in _attached_partitions(cur, schema, table)]
        if not missing:
            return []
        advisory_xact_lock(cur, f"partitions:{schema}.{table}")
        attached = _attached_partitions(cur, schema, table)  # another run may have created them meanwhile
        default = _default_partition(cur, schema, table)
        created = []
        for first in missing:
            name = f"{table}_{first:%Y_%m}"
            if name in attached:
                continue
            if _relation_exists(cur, schema, name):
                raise PocTasksError(f'"{schema}"."{name}" exists but is not a partition of {table}')
            _create_month(cur, schema, table, col, first, default)
            created.append(name)
        return created
