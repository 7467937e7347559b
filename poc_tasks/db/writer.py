"""Transactional writes: ensure partitions, delete what a run replaces, COPY the new rows, commit.

A crash or a bad value anywhere leaves the previous rows in place (the delete and the COPY share one
transaction); a re-run replaces exactly what the first run wrote.

Writers are serialised in PostgreSQL, whatever started them (the CLI, a Celery task, two workers, a run whose
Redis lease expired, a run while Redis is down): the first statement of every replace transaction is a
transaction-level advisory lock on (schema, table, month) -- one per month of the replaced range, taken in order.
A second write of the same table and month waits there until the first commits or rolls back; its DELETE then
runs on a fresh snapshot (READ COMMITTED), sees the first writer's rows and removes them, so the table ends
with exactly one run's rows. The key is wider than the rows one run replaces (two sources of one tenant-month
queue for each other's COPY): a key that covers the table-month can never miss an overlap of two date ranges or
of two delete rules (the OCP summary and the OCP-on-cloud back-populated rows share a table).

Rows are streamed into one COPY batch by batch, so memory stays at one batch.

Missing month partitions are created in a short transaction of their own, committed before the replace
transaction starts. Creating a partition locks the parent table exclusively; done inside the long replace
transaction that lock would be held for the whole COPY and block every reader of the table. An empty
partition left by a failed run is harmless (Koku creates partitions ahead of its writes too).

The connection's transaction is committed (or rolled back on error) by these functions: do not call them
with uncommitted work of your own on the same connection.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd
import psycopg2
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from psycopg2 import sql

from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.db.encode import Batch, CsvStream, csv_bytes, encode_ahead, to_arrow
from poc_tasks.db.partitions import ensure_month_partitions, months_between
from poc_tasks.db.tables import SUMMARY_TABLE, get_table, is_partitioned, partition_column
from poc_tasks.errors import InvalidArgument
from poc_tasks.validate import parse_date, validate_schema

__all__ = ["WriteResult", "copy_rows", "bounded_slices", "COPY_CHUNK_BYTES", "replace_rows", "replace_daily_summary",
           "analyze_months", "DAILY_SUMMARY_DELETE_WHERE", "write_lock_keys", "lock_table_months", "range_check",
           "same_report_period", "partitions_and_checks"]

Connection = psycopg2.extensions.connection
BatchCheck = Callable[[pa.Table], None]
_COPY_READ_SIZE = 1 << 20
# Arrow bytes of the rows encoded into one CSV chunk. A caller's batch may be any size (the OCP summary read back
# from the stage 65,536 rows at a time: ~40 MiB of Arrow, ~38 MiB of CSV); each chunk is held up to four times at
# once (the converted copy, its CSV, encode_ahead's queue of two, the one being sent), so the chunk, not the
# caller's batch, sets the COPY's memory: at 3x OCP the main process went from 215 to 419 MiB in the COPY.
COPY_CHUNK_BYTES = 8 << 20

# Koku's delete_all_except_infrastructure_raw_cost_from_daily_summary: rows that carry OCP-on-cloud
# infrastructure cost survive a re-summary. It filters on the report period, not on the source.
DAILY_SUMMARY_DELETE_WHERE = (
    "usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(report_period_id)s"
    " AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)"
)


class WriteResult(NamedTuple):
    deleted: int
    inserted: int


def _table(table: str | sa.Table) -> sa.Table:
    return get_table(table) if isinstance(table, str) else table


def _iter_batches(batches: Batch | Iterable[Batch]) -> Iterator[Batch]:
    if isinstance(batches, pd.DataFrame | pa.RecordBatch | pa.Table):
        return iter([batches])
    return iter(batches)


def _batch_columns(batch: Batch) -> list[str]:
    return list(batch.columns) if isinstance(batch, pd.DataFrame) else list(batch.schema.names)


def copy_rows(
    conn: Connection,
    schema: str,
    table: str | sa.Table,
    batches: Batch | Iterable[Batch],
    columns: Sequence[str] | None = None,
    *,
    constants: Mapping[str, Any] | None = None,
    generate_uuid: bool = True,
    check: BatchCheck | None = None,
) -> int:
    """COPY the rows of every batch into schema.table in the current transaction (no commit); return the count.

    `columns`: the table columns to write, default the first batch's columns, then the `constants` keys the
    batch lacks, then ``uuid`` (random, when `generate_uuid` and the batch has none). Every batch must
    supply the same columns. `check` sees each batch (as Arrow) before it is sent and may raise.
    """
    validate_schema(schema)
    t = _table(table)
    it = _iter_batches(batches)
    first = next(it, None)
    if first is None:
        return 0
    generate = ("uuid",) if generate_uuid and "uuid" in t.columns else ()
    if columns is None:
        have = _batch_columns(first)
        columns = have + [c for c in (constants or {}) if c not in have]
        columns += [c for c in generate if c not in columns]
    columns = list(columns)
    unknown = [c for c in columns if c not in t.columns]
    if unknown:
        raise InvalidArgument(f"columns {unknown} do not exist in {t.name}")
    count = 0

    def chunks() -> Iterator[bytes | pa.Buffer]:
        nonlocal count
        for piece in bounded_slices(itertools.chain([first], it), COPY_CHUNK_BYTES):
            data = to_arrow(piece, t, columns, constants, generate)
            if data.num_rows == 0:
                continue
            if check is not None:
                check(data)
            count += data.num_rows
            yield csv_bytes(data)

    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')").format(
        qualified(schema, t.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    stream = CsvStream(encode_ahead(chunks()))  # the next batch is encoded while PostgreSQL loads this one
    with conn.cursor() as cur:
        try:
            cur.copy_expert(stmt, stream, size=_COPY_READ_SIZE)
        except psycopg2.Error as exc:
            if stream.error is not None:  # the rows' own error (bad input, a check), not the cancelled COPY
                raise stream.error from exc
            raise
        if cur.rowcount >= 0 and cur.rowcount != count:  # a guard on the streaming, never expected
            raise RuntimeError(f"COPY into {t.name} stored {cur.rowcount} rows, {count} were sent")
    return count


def _nbytes(batch: Batch) -> int:
    if isinstance(batch, pd.DataFrame):  # object columns counted as their pointers: a lower bound
        return int(batch.memory_usage(index=False, deep=False).sum())
    return batch.nbytes


def bounded_slices(batches: Iterable[Batch], max_bytes: int) -> Iterator[Batch]:
    """Every batch cut into row slices of about `max_bytes` each (zero-copy slices of the batch; the batch's rows
    in order); a batch under the bound passes as it is."""
    for batch in batches:
        n = len(batch) if isinstance(batch, pd.DataFrame) else batch.num_rows
        size = _nbytes(batch)
        if size <= max_bytes or n <= 1:
            yield batch
            continue
        step = max(1, n * max_bytes // size)
        for at in range(0, n, step):
            yield batch.iloc[at:at + step] if isinstance(batch, pd.DataFrame) else batch.slice(at, step)


def write_lock_keys(schema: str, table: str, months: Iterable[dt.date] | None) -> list[str]:
    """The advisory-lock names a write of `table` over `months` takes (the whole table when months is None)."""
    if months is None:
        return [f"write:{schema}.{table}"]
    return [f"write:{schema}.{table}:{m:%Y-%m}" for m in sorted({dt.date(m.year, m.month, 1) for m in months})]


def lock_table_months(conn: Connection, schema: str, table: str, start: dt.date | None = None,
                      end: dt.date | None = None) -> None:
    """Wait for (and take, until this transaction ends) the write lock of a table's months [start, end]."""
    months = months_between(start, end) if start is not None and end is not None else None
    with conn.cursor() as cur:
        for key in write_lock_keys(validate_schema(schema), table, months):
            advisory_xact_lock(cur, key)


def range_check(column: str, start: dt.date, end: dt.date) -> BatchCheck:
    """A batch check: every value of a date column lies in [start, end]."""

    def check(data: pa.Table) -> None:
        arr = data.column(column)
        if not pa.types.is_date32(arr.type):
            arr = arr.cast(pa.date32())
        mm = pc.min_max(arr).as_py()
        if mm["min"] is not None and (mm["min"] < start or mm["max"] > end):
            raise InvalidArgument(
                f"{column} values {mm['min']}..{mm['max']} fall outside the replaced range {start}..{end}"
            )

    return check


def replace_rows(
    conn: Connection,
    schema: str,
    table: str | sa.Table,
    delete_where_sql: str | sql.Composable,
    params: Mapping[str, Any] | Sequence[Any],
    batches: Batch | Iterable[Batch],
    *,
    columns: Sequence[str] | None = None,
    constants: Mapping[str, Any] | None = None,
    partition_range: tuple[dt.date, dt.date] | None = None,
    generate_uuid: bool = True,
    checks: Sequence[BatchCheck] = (),
    analyze: bool = False,
) -> WriteResult:
    """DELETE FROM schema.table WHERE <delete_where_sql>, then COPY the batches, in one transaction; commit.

    `delete_where_sql` is code, not data: values go in `params`. For a partitioned table `partition_range`
    (inclusive dates) is required: its months get partitions first, and every row's partition column must
    lie in it (rows outside would escape the next run's delete).

    `analyze`: ANALYZE the written month partitions after the commit, for a table that is read back soon (the OCP
    summary, by OCP on cloud): after a bulk delete and COPY the planner's statistics are stale until autovacuum
    gets to them, and a day's read chose a bitmap over the NULL-column indexes instead of usage_start (0.47 s
    instead of 0.04 s per day on the 50-node month).
    """
    validate_schema(schema)
    t = _table(table)
    check = partitions_and_checks(conn, schema, t, partition_range, checks, "replace_rows")
    where = sql.SQL(delete_where_sql) if isinstance(delete_where_sql, str) else delete_where_sql
    try:
        lock_table_months(conn, schema, t.name, *(partition_range or (None, None)))
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE ").format(qualified(schema, t.name)) + where, params)
            deleted = cur.rowcount
        inserted = copy_rows(
            conn, schema, t, batches, columns, constants=constants, generate_uuid=generate_uuid, check=check
        )
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    if analyze:
        analyze_months(conn, schema, t, *(partition_range or (None, None)))
    return WriteResult(deleted, inserted)


def partitions_and_checks(conn: Connection, schema: str, t: sa.Table, partition_range: tuple[dt.date, dt.date] | None,
                          checks: Sequence[BatchCheck], who: str) -> BatchCheck:
    """Before a write of `t`: its missing month partitions created and committed (a transaction of their own:
    creating one locks the parent exclusively); returns the check every batch must pass (`checks`, and for a
    partitioned table its partition column within `partition_range`, which it requires)."""
    all_checks = list(checks)
    if is_partitioned(t):
        if partition_range is None:
            raise InvalidArgument(f"{t.name} is partitioned: {who} needs partition_range=(start, end)")
        start, end = partition_range
        try:
            ensure_month_partitions(conn, schema, t.name, months_between(start, end))
            conn.commit()
        except BaseException:
            rollback_quietly(conn)
            raise
        all_checks.append(range_check(partition_column(t), start, end))

    def check(data: pa.Table) -> None:
        for c in all_checks:
            c(data)

    return check


# The columns whose statistics a table read back soon needs fresh (ANALYZE of only these costs a third: the
# OCP summary's jsonb label columns are the dear part of a full ANALYZE, 1.05 -> 0.3 s of PostgreSQL CPU on the
# 50-node month). They are the ones the reads filter or join on: OCP on cloud's day read (usage_start, the
# report period, the NULL-cost filter that chose a bitmap over the indexes of the NULL columns when stale) and
# Koku's API filters (cluster, source, namespace, node, data source, cost category). The other columns keep
# their previous statistics until autovacuum's ANALYZE, which a month's replaced rows trigger anyway; Koku
# itself never ANALYZEs after its summary insert.
ANALYZE_COLUMNS: dict[str, tuple[str, ...]] = {
    SUMMARY_TABLE: ("usage_start", "report_period_id", "cluster_id", "source_uuid", "namespace", "node",
                    "data_source", "cost_category_id", "cost_model_rate_type", "monthly_cost_type",
                    "infrastructure_raw_cost", "supplementary_usage_cost"),
}


def analyze_months(conn: Connection, schema: str, table: str | sa.Table, start: dt.date | None,
                   end: dt.date | None) -> None:
    """ANALYZE the month partitions of [start, end] (the whole table when it is not partitioned), only the
    ANALYZE_COLUMNS of the table when it has some; commits."""
    t = _table(table)
    names = [t.name]
    if is_partitioned(t) and start is not None and end is not None:
        names = [f"{t.name}_{m:%Y_%m}" for m in months_between(start, end)]
    cols = ANALYZE_COLUMNS.get(t.name)
    only = sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, cols))) if cols else sql.SQL("")
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(sql.SQL("ANALYZE {}").format(qualified(schema, name)) + only)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise


def same_report_period(report_period_id: int) -> BatchCheck:
    """A batch check: every row carries `report_period_id`."""

    def check(data: pa.Table) -> None:
        arr = data.column("report_period_id").cast(pa.int64())
        if arr.null_count or pc.any(pc.not_equal(arr, report_period_id)).as_py():
            raise InvalidArgument(f"rows carry a report_period_id other than {report_period_id}")

    return check


def replace_daily_summary(
    conn: Connection,
    schema: str,
    report_period_id: int,
    start: dt.date | str,
    end: dt.date | str,
    batches: Batch | Iterable[Batch],
    *,
    columns: Sequence[str] | None = None,
) -> int:
    """Replace the OCP daily summary rows of a report period over [start, end] (Koku's delete rule); commit.

    Batches lacking ``report_period_id`` get it filled in; ``uuid`` is generated when absent. Returns the
    number of rows written.
    """
    start_d, end_d = parse_date(start, "start_date"), parse_date(end, "end_date")
    if end_d < start_d:
        raise InvalidArgument(f"end_date {end_d} is before start_date {start_d}")
    rp = int(report_period_id)
    result = replace_rows(
        conn,
        schema,
        SUMMARY_TABLE,
        DAILY_SUMMARY_DELETE_WHERE,
        {"start": start_d, "end": end_d, "report_period_id": rp},
        batches,
        columns=columns,
        constants={"report_period_id": rp},
        partition_range=(start_d, end_d),
        checks=[same_report_period(rp)],
        analyze=True,  # OCP on cloud reads these rows back
    )
    return result.inserted
