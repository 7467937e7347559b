"""A run's tables replaced together: staged in parallel into side tables, swapped in ONE transaction at the end.

Why: a run writes up to a dozen tables (OCP on cloud: the project rows, back-populated OCP rows, tag summaries,
the UI tables). Written one transaction per table, a run that gives up half-way leaves some tables new and some
old. Here a run that gives up leaves every table as it was, and a run that finishes replaces all of them at the
same instant (readers never see a mix):

1. stage (the write chord, tables in parallel): ``stage_table`` creates an UNLOGGED side table of the run
   (``poc_swap_<run>_<hash of table>`` in the tenant schema, no index, no WAL) and COPYs the staged rows into it
   with the writer's checks (the partition range, the report period): bad input is refused here, before any
   table is touched. The month partitions are created here too (their own short transaction).
2. swap (finalize): ``swap_tables`` opens one transaction, takes the write lock of every (table, month) of the
   run -- all of them, first, in one global order, so two runs' swaps never deadlock -- then per table Koku's
   DELETE and ``INSERT INTO table SELECT FROM side``, drops the side tables, runs the flow's own finalize
   statements (report period stamps, tag summaries, AWS's category summary) on the same transaction, commits.

A run of ONE table (the OCP summary, a daily summary of one table) needs no side table: the one swap transaction
is all-or-nothing already, so its rows are COPYed straight from the stage inside it (``side_tables_needed``,
``swap_tables(direct=...)``) and are not written twice; its write task has nothing to do.

The side table's comment records the rows it received; the swap compares the INSERT's row count with it, so a
side table emptied by crash recovery (PostgreSQL truncates unlogged tables after a crash) fails the swap instead
of replacing good rows with none. A finalize that finds none of the run's side tables committed before (a
redelivered finalize whose first attempt committed and was killed before its ack): it does nothing.

Failed runs' side tables are dropped by the run's clean-up (``drop_side_tables``) and, for runs that died
without one, by ``sweep_side_tables`` (older than a day) at the start of every run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
import pyarrow as pa
import sqlalchemy as sa
from psycopg2 import sql

from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.db.encode import Batch
from poc_tasks.db.partitions import months_between
from poc_tasks.db.tables import get_table
from poc_tasks.db.writer import (
    BatchCheck,
    WriteResult,
    analyze_months,
    copy_rows,
    partitions_and_checks,
    write_lock_keys,
)
from poc_tasks.errors import InvalidArgument
from poc_tasks.validate import validate_schema

__all__ = ["TableReplace", "side_table", "side_tables_needed", "stage_table", "swap_tables", "drop_side_tables",
           "sweep_side_tables", "SideTableLost", "prepare_table", "lock_tables", "delete_replaced"]

LOG = logging.getLogger(__name__)
Connection = psycopg2.extensions.connection
SIDE_PREFIX = "poc_swap_"
STALE_AFTER_S = 24 * 3600.0


class SideTableLost(RuntimeError):
    """A side table of the run is missing or lost rows (PostgreSQL's crash recovery truncates unlogged tables)."""


@dataclass(frozen=True)
class TableReplace:
    """What a run replaces in one table: Koku's delete rule (SQL code; values in ``params``), the partition range
    (inclusive dates; required for partitioned tables), and how the staged rows are completed at the COPY."""

    table: str
    delete_where: str | sql.Composable
    params: Mapping[str, Any] | Sequence[Any]
    partition_range: tuple[dt.date, dt.date] | None = None
    constants: Mapping[str, Any] | None = None
    generate_uuid: bool = True
    checks: Sequence[BatchCheck] = field(default_factory=tuple)
    analyze: bool = False  # ANALYZE the months after the swap (a table read back soon: the OCP summary)

    @property
    def declared(self) -> sa.Table:
        return get_table(self.table)


def side_table(run_id: str, table: str) -> str:
    """The side table of `table` for run `run_id` (an identifier under 63 bytes; the run id is a uuid hex)."""
    if not run_id.isalnum():
        raise InvalidArgument(f"run id {run_id!r} is not a uuid hex")
    return f"{SIDE_PREFIX}{run_id[:32]}_{hashlib.md5(table.encode()).hexdigest()[:8]}"  # noqa: S324 - a name


def _columns(t: sa.Table, first: Batch, constants: Mapping[str, Any] | None, generate_uuid: bool) -> list[str]:
    """The columns the COPY writes (as writer.copy_rows would choose them): the batch's, then the constants it
    lacks, then uuid when generated."""
    import pandas as pd

    have = list(first.columns) if isinstance(first, pd.DataFrame) else list(first.schema.names)
    cols = have + [c for c in (constants or {}) if c not in have]
    if generate_uuid and "uuid" in t.columns and "uuid" not in cols:
        cols.append("uuid")
    return cols


def _batches(batches: Batch | Iterable[Batch]) -> Iterator[Batch]:
    import pandas as pd

    if isinstance(batches, pd.DataFrame | pa.RecordBatch | pa.Table):
        return iter([batches])
    return iter(batches)


def prepare_table(conn: Connection, schema: str, rule: TableReplace) -> BatchCheck:
    """The rule's month partitions created (committed); the check every batch must pass."""
    return partitions_and_checks(conn, schema, rule.declared, rule.partition_range, rule.checks, "TableReplace")


def side_tables_needed(tables: Sequence[str]) -> bool:
    """Whether a run stages its tables in side tables: only when it writes more than one. A run of one table
    needs none (its one swap transaction is all-or-nothing already): its swap COPYs straight from the stage
    (``swap_tables(direct=...)``), which spares writing its rows twice."""
    return len(tables) > 1


def stage_table(conn: Connection, schema: str, run_id: str, rule: TableReplace,
                batches: Batch | Iterable[Batch]) -> int:
    """Load a table's staged rows into the run's side table (replacing an earlier attempt's); commit; return
    the row count. No lock on the real table is taken: nothing a reader sees changes until ``swap_tables``."""
    validate_schema(schema)
    t = rule.declared
    check = prepare_table(conn, schema, rule)
    it = _batches(batches)
    first = next(it, None)
    side = qualified(schema, side_table(run_id, t.name))
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(side))
            cols = _columns(t, first, rule.constants, rule.generate_uuid) if first is not None else []
            # the real table's column types, no constraint or index: a heap to COPY into and select from
            select = sql.SQL(", ").join(sql.Identifier(c) for c in cols) if cols else sql.SQL("")
            cur.execute(sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                side, select, qualified(schema, t.name)))
            _note_staged(cur, side, run_id, t.name, None)  # rows unknown yet: the sweep can still find it
        conn.commit()  # so the COPY does not hold the real table's share lock (Koku's DDL on it would wait)
        rows = 0
        if first is not None:
            import itertools

            # the side table as the writer sees it: the real columns' types, under the side table's name
            into = sa.Table(side_table(run_id, t.name), sa.MetaData(),
                            *[sa.Column(c.name, c.type) for c in t.columns if c.name in cols])
            rows = copy_rows(conn, schema, into, itertools.chain([first], it), cols, constants=rule.constants,
                             generate_uuid=rule.generate_uuid, check=check)
        with conn.cursor() as cur:
            _note_staged(cur, side, run_id, t.name, rows)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return rows


def _note_staged(cur: Any, side: sql.Composable, run_id: str, table: str, rows: int | None) -> None:
    """The side table's comment: its run and table, the rows it received (None while the COPY runs), when."""
    note = json.dumps({"run": run_id, "table": table, "rows": rows, "staged_at": time.time()})
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(side, sql.Literal(note)))


def _side_tables(cur: Any, schema: str, run_id: str) -> dict[str, dict[str, Any]]:
    """{side table name: its comment (run, table, rows, staged_at)} of a run in `schema`."""
    cur.execute("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE %s",
                (schema, f"{SIDE_PREFIX}{run_id[:32]}\\_%"))
    return {name: _note(note) for name, note in cur.fetchall()}


def _note(text: str | None) -> dict[str, Any]:
    try:
        note = json.loads(text or "{}")
    except ValueError:
        return {}
    return note if isinstance(note, dict) else {}


def swap_tables(conn: Connection, schema: str, run_id: str, rules: Sequence[TableReplace],
                then: Callable[[Connection], Mapping[str, int] | None] | None = None,
                direct: Mapping[str, Callable[[], Iterable[Batch]]] | None = None) -> dict[str, WriteResult]:
    """Replace every table of `rules` in one transaction -- by its side table, or for the tables of `direct` by the
    batches its function gives (COPYed in the transaction: a run of one table, see side_tables_needed) -- run
    `then(conn)` in the same transaction (the flow's finalize statements; rows it reports are added to the
    result), commit, ANALYZE the tables that ask for it. {table: (deleted, inserted)}; {} when the run had swapped
    already (none of its side tables is left)."""
    validate_schema(schema)
    direct = direct or {}
    checks = {r.table: prepare_table(conn, schema, r) for r in rules if r.table in direct}
    staged = [r for r in rules if r.table not in direct]
    results: dict[str, WriteResult] = {}
    try:
        with conn.cursor() as cur:
            found = _side_tables(cur, schema, run_id)
            expected = {side_table(run_id, r.table): r for r in staged}
            if expected and not found:
                conn.rollback()
                LOG.warning("run %s: no side table left in %s: its swap committed before (a redelivered "
                            "finalize): nothing to do", run_id, schema)
                return {}
            missing = sorted(r.table for name, r in expected.items() if name not in found)
            if missing:
                raise SideTableLost(f"run {run_id}: the staged rows of {', '.join(missing)} are missing in {schema}"
                                    " (side table dropped): re-run")
            lock_tables(cur, schema, rules)
            for r in rules:
                name = side_table(run_id, r.table)
                if r.table in direct:
                    results[r.table] = _copy_one(conn, cur, schema, r, direct[r.table](), checks[r.table])
                    continue
                rows = found[name].get("rows")
                if not isinstance(rows, int):
                    raise SideTableLost(f"run {run_id}: {r.table} was not completely staged ({schema}.{name}): re-run")
                results[r.table] = _swap_one(cur, schema, name, r, rows)
        extra = then(conn) if then is not None else None
        for table, rows in (extra or {}).items():
            results[table] = WriteResult(0, rows)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    for r in rules:
        if r.analyze:
            analyze_months(conn, schema, r.declared, *(r.partition_range or (None, None)))
    return results


def lock_tables(cur: Any, schema: str, rules: Sequence[TableReplace]) -> None:
    """The write lock of every (table, month) of `rules`, all of them first, in one global order for every run
    (a swap, a streamed run, a single-table write): two runs' swaps never deadlock."""
    keys = sorted({k for r in rules for k in write_lock_keys(
        schema, r.table, months_between(*r.partition_range) if r.partition_range else None)})
    for key in keys:
        advisory_xact_lock(cur, key)


def delete_replaced(cur: Any, schema: str, r: TableReplace) -> int:
    """Koku's delete of the rows a run replaces in one table (in the caller's transaction); the rows deleted."""
    where = sql.SQL(r.delete_where) if isinstance(r.delete_where, str) else r.delete_where
    cur.execute(sql.SQL("DELETE FROM {} WHERE ").format(qualified(schema, r.table)) + where, r.params)
    return cur.rowcount


def _copy_one(conn: Connection, cur: Any, schema: str, r: TableReplace, batches: Iterable[Batch],
              check: BatchCheck) -> WriteResult:
    """Koku's delete, then the rows COPYed straight from the stage (writer.copy_rows), in the swap's transaction."""
    deleted = delete_replaced(cur, schema, r)
    inserted = copy_rows(conn, schema, r.declared, batches, constants=r.constants, generate_uuid=r.generate_uuid,
                         check=check)
    return WriteResult(deleted, inserted)


def _swap_one(cur: Any, schema: str, side: str, r: TableReplace, staged: int) -> WriteResult:
    target = qualified(schema, r.table)
    deleted = delete_replaced(cur, schema, r)
    cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum", (f'"{schema}"."{side}"',))
    cols = [c for (c,) in cur.fetchall()]
    inserted = 0
    if cols:
        names = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            target, names, names, qualified(schema, side)))
        inserted = cur.rowcount
    if inserted != staged:
        raise SideTableLost(f"{r.table}: the run staged {staged} rows, its side table {schema}.{side} holds"
                            f" {inserted} (truncated by PostgreSQL's crash recovery?): nothing replaced; re-run")
    cur.execute(sql.SQL("DROP TABLE {}").format(qualified(schema, side)))
    return WriteResult(deleted, inserted)


def drop_side_tables(conn: Connection, run_id: str) -> int:
    """Drop a failed or cancelled run's side tables, in whichever schema (the run id is unique; the manifest that
    names the schema may be out of reach when the run failed); commit; the number dropped."""
    side_table(run_id, "")  # validates the run id
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind = 'r' AND c.relname LIKE %s", (f"{SIDE_PREFIX}{run_id[:32]}\\_%",))
            names = cur.fetchall()
            for schema, name in names:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                          sql.Identifier(name)))
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return len(names)


def sweep_side_tables(conn: Connection, older_than_s: float = STALE_AFTER_S, keep: str | None = None) -> int:
    """Drop side tables of every tenant staged more than `older_than_s` ago (runs that died without their
    clean-up); commit; the number dropped. Tables being staged are not touched (their comment is recent)."""
    now = time.time()
    dropped = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
                        " AND c.relname LIKE %s", (f"{SIDE_PREFIX}%",))
            for schema, name, text in cur.fetchall():
                note = _note(text)
                staged_at = note.get("staged_at")
                if (keep and note.get("run") == keep) or not isinstance(staged_at, int | float):
                    continue  # the caller's run, or a table without our comment: left alone
                if now - staged_at > older_than_s:
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                              sql.Identifier(name)))
                    dropped += 1
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    if dropped:
        LOG.info("dropped %d side table(s) of runs staged more than %gs ago", dropped, older_than_s)
    return dropped
