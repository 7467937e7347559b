"""A run's tables replaced chunk by chunk in ONE open transaction: the in-process runs' streamed swap.

``swap_tables`` (db.run_swap) replaces every table of a run at the end, from side tables. ``StreamedSwap`` does
the same work in the same transaction shape, spread over the run: ``open`` creates the month partitions (their
own short transaction, before any row lock: see db.partitions), then opens the run's transaction, takes the
write lock of every (table, month) of the run -- all of them first, in the one global order of
``run_swap.lock_tables`` -- and runs Koku's DELETE of every table; ``copy`` COPYs a batch stream (one chunk's
staged part) into a real table with the writer's checks (partition range, report period, generated uuids:
exactly what ``swap_tables(direct=...)`` and ``stage_table`` apply); ``commit`` runs the flow's finalize
statements on the same transaction, commits, ANALYZEs. Until the commit nothing a reader sees changes; a
``rollback`` (or a lost connection) leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from psycopg2 import sql

from poc_tasks.db.connection import rollback_quietly
from poc_tasks.db.encode import Batch
from poc_tasks.db.run_swap import Connection, TableReplace, delete_replaced, lock_tables, prepare_table
from poc_tasks.db.writer import BatchCheck, WriteResult, analyze_months, copy_rows
from poc_tasks.validate import validate_schema

__all__ = ["StreamedSwap"]


class StreamedSwap:
    """One run's replacement of `rules`' tables on `conn` (a connection of its own), open until commit/rollback."""

    def __init__(self, conn: Connection, schema: str, rules: Sequence[TableReplace]) -> None:
        self.conn = conn
        self.schema = validate_schema(schema)
        self.rules = {r.table: r for r in rules}
        self.results: dict[str, WriteResult] = {}
        self._checks: dict[str, BatchCheck] = {}

    def open(self, later: Collection[str] = ()) -> None:
        """Partitions (committed), then the run's transaction: every write lock, Koku's DELETE of every table but
        those of `later` (``delete`` them before their COPY: a table other sessions must read meanwhile is not
        touched, so this transaction holds no lock on it but the advisory ones)."""
        self._checks = {t: prepare_table(self.conn, self.schema, r) for t, r in self.rules.items()}
        try:
            with self.conn.cursor() as cur:
                lock_tables(cur, self.schema, list(self.rules.values()))
                _checks_at_each_statement(cur, self.schema, list(self.rules))
            for t in self.rules:
                if t not in later:
                    self.delete(t)
        except BaseException:
            rollback_quietly(self.conn)
            raise

    def delete(self, table: str) -> int:
        """Koku's DELETE of `table`'s replaced rows, in the open transaction; the rows deleted."""
        with self.conn.cursor() as cur:
            deleted = delete_replaced(cur, self.schema, self.rules[table])
        self.results[table] = WriteResult(deleted, 0)
        return deleted

    def copy(self, table: str, batches: Iterable[Batch]) -> int:
        """COPY `batches` into `table` in the open transaction (the writer's checks on every batch); the rows."""
        r = self.rules[table]
        if table not in self.results:
            raise RuntimeError(f"{table}: COPY before its DELETE")
        n = copy_rows(self.conn, self.schema, r.declared, batches, constants=r.constants,
                      generate_uuid=r.generate_uuid, check=self._checks[table])
        deleted, inserted = self.results[table]
        self.results[table] = WriteResult(deleted, inserted + n)
        return n

    def commit(self, then: Callable[[Connection], Mapping[str, int] | None] | None = None) -> dict[str, WriteResult]:
        """`then(conn)` (the flow's finalize statements) in the transaction, COMMIT, ANALYZE the tables that ask
        for it; {table: (deleted, inserted)}, with the rows `then` reports. Rolls back on any failure."""
        results = dict(self.results)
        try:
            extra = then(self.conn) if then is not None else None
            for table, rows in (extra or {}).items():
                results[table] = WriteResult(0, rows)
            self.conn.commit()
        except BaseException:
            rollback_quietly(self.conn)
            raise
        for r in self.rules.values():
            if r.analyze:
                analyze_months(self.conn, self.schema, r.declared, *(r.partition_range or (None, None)))
        return results

    def rollback(self) -> None:
        rollback_quietly(self.conn)


def _checks_at_each_statement(cur: Any, schema: str, tables: Sequence[str]) -> None:
    """The deferred foreign keys of `tables` (Django declares them DEFERRABLE INITIALLY DEFERRED) checked at the
    end of each COPY instead of at COMMIT: the checks of a chunk's rows then run while the next chunks compute,
    not all at the end (the 50-node OCP on AWS month: 3.1 s of COMMIT). Only these tables' constraints: the
    finalize statements keep their usual (deferred) checks. The rows reference what prepare committed, so an
    early check fails exactly where the commit would have."""
    cur.execute("SELECT DISTINCT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND t.relname = ANY(%s)"
                " AND c.contype = 'f' AND c.condeferrable ORDER BY 1", (schema, list(tables)))
    names = [name for (name,) in cur.fetchall()]
    if names:  # a name also names the clones of the constraint on every partition (same name, same schema)
        cur.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(
            sql.SQL(", ").join(sql.Identifier(schema, n) for n in names)))
