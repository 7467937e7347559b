"""The in-process runs' streamed writes: a finished chunk's rows go into PostgreSQL while the next chunks compute.

Without it an in-process run (inprocess.run_in_process) writes PostgreSQL only after every chunk is computed:
the side tables, then finalize's swap transaction, serially, one core busy (the 50-node OCP on AWS month: 23.6
s of 61.6 s). With it (the default; ``POC_STREAM_WRITES=0`` turns it off, e.g. to A/B it):

1. Once prepare is done, the flow's ``StreamPlan`` (its tables' Koku delete rules, how a staged part becomes the
   rows to COPY, its finalize statements, its result) opens ONE transaction on a connection of its own
   (db.run_stream.StreamedSwap): the month partitions first (their own short transaction), then the write lock
   of every (table, month) of the run, all first, in the global order every swap uses (two runs never
   deadlock; a second run of the same tables waits here for the first one's commit), then Koku's DELETEs.
2. parallel_chunks.compute_chunks reports each chunk as soon as it and every chunk before it are done (chunk
   order: the rows land in the order the non-streamed swap gives them); the parent COPYs that chunk's part of
   every table (stage.read_part, ``batch_size`` as the flow's write_table reads: one batch in memory, encoded
   by the writer while PostgreSQL loads the previous one) into the real tables, with the writer's checks
   (partition range, report period, uuids), while the children compute the next chunks.
3. After the last chunk: the staged parts of every table must be exactly the parts COPYed (a guard), then the
   flow's finalize statements on the same transaction -- whatever needs every chunk stays here: the tag
   summaries merged from all chunks' parts, AWS's category summary, the report period stamps -- COMMIT,
   ANALYZE, and the flow's result, as finalize gives it.

Readers: no compute child may read a table of the plan while the transaction is open. A plain SELECT would not
wait on our ROW EXCLUSIVE lock (and under MVCC sees the committed state), but a third session's DDL would: another
run creating a month partition of the table asks for ACCESS EXCLUSIVE, queues behind this transaction, and every
later SELECT queues behind that request -- our children's reads too, while this transaction waits for them: a
deadlock PostgreSQL cannot see. OCP on cloud's children read the OCP summary, which it back-populates: they read
the copy prepare made in the run's stage (cloud/ocp_input.export_ocp_rows), so its back-populated rows stream
like the rest (they used to wait for the last chunk: a serial tail of 20-35 % of the run). A plan whose compute
must read one of its tables names it in ``at_end``: its DELETE and COPY then wait for the last chunk. The tables
are locked for the whole compute instead of finalize's seconds: another session's DDL on them (a new month's
partition) waits that long, and readers of those tables queue behind it meanwhile.

Failure: any error of the stream (a PostgreSQL blip, a bad batch) rolls the transaction back -- every table as
before the run -- and the run falls back to the non-streamed path from the stage (every part is still staged):
the side tables and finalize's swap, each under with_retries as before; a permanent error (bad input) is
raised there again. A chunk that fails rolls the stream back before the run's clean-up. The Celery chord
(tasks.py) never streams: its write and finalize tasks keep the side tables and ``direct`` swaps.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from poc_tasks.db.encode import Batch
from poc_tasks.db.run_swap import Connection, TableReplace

__all__ = ["StreamPlan", "StreamedRun", "stream_writes_enabled"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamPlan:
    """What a flow streams: `rules` (the tables COPYed chunk by chunk), `batches(table, part)` (a staged part's
    rows as the flow's write_table would send them), `then` (finalize's statements, in the transaction) and
    `report(written, chunk_results)` (the run's result after the commit, as the flow's finalize returns it);
    `at_end`: tables of `rules` the compute itself reads (OCP on cloud reads the OCP summary): their DELETE and
    COPY wait for the last chunk, so the open transaction holds no lock on them while the chunks compute."""

    schema: str
    tables: Sequence[str]
    rules: Sequence[TableReplace]
    batches: Callable[[str, str], Iterable[Batch]]
    then: Callable[[Connection], Mapping[str, int] | None] | None
    report: Callable[[dict[str, int], list[dict[str, Any]]], dict[str, Any]]
    at_end: frozenset[str] = frozenset()


def stream_writes_enabled() -> bool:
    """POC_STREAM_WRITES: 1 (default) streams the in-process runs' writes; 0 writes after the compute."""
    return os.environ.get("POC_STREAM_WRITES", "1").strip().lower() not in ("0", "false", "no", "off")


class StreamedRun:
    """A run's streamed write: open() after prepare, chunk_done() per chunk, finish() after the last; close()
    always. A failure marks it failed (the transaction rolled back); finish() then returns None: fall back."""

    def __init__(self, settings: Any, stage: Any, plan: StreamPlan, parts: Sequence[str]) -> None:
        self.settings, self.stage, self.plan, self.parts = settings, stage, plan, list(parts)
        self.copied: list[str] = []  # the parts COPYed, in order
        self.copy_s = 0.0
        self.failed: BaseException | None = None
        self._conn: Any = None
        self._swap: Any = None

    @classmethod
    def open(cls, settings: Any, stage: Any, plan: StreamPlan, parts: Sequence[str]) -> StreamedRun | None:
        """The run's transaction opened (locks, Koku's deletes); None when it could not be (logged): no stream."""
        from poc_tasks.db.connection import connect
        from poc_tasks.db.run_stream import StreamedSwap

        run = cls(settings, stage, plan, parts)
        try:
            run._conn = connect(settings.require_database_url())
            run._swap = StreamedSwap(run._conn, plan.schema, plan.rules)
            run._swap.open(later=plan.at_end)
        except Exception as exc:  # noqa: BLE001 - the run goes on without streaming
            run._fail("open", exc)
            run.close()
            return None
        return run

    def _fail(self, what: str, exc: BaseException) -> None:
        self.failed = exc
        if self._swap is not None:
            self._swap.rollback()
        LOG.warning("run %s: streamed write failed at %s (%s: %s); rolled back, the run writes from the stage",
                    self.stage.run_id, what, type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc) else "")

    def chunk_done(self, i: int, _result: dict[str, Any]) -> None:
        """COPY chunk i's part of every table (called in chunk order); never raises (a failure marks the run)."""
        if self.failed is not None:
            return
        part = self.parts[i]
        t0 = time.perf_counter()
        try:
            for r in self.plan.rules:
                if r.table not in self.plan.at_end:
                    self._swap.copy(r.table, self.plan.batches(r.table, part))
            self.copied.append(part)
        except Exception as exc:  # noqa: BLE001 - the run falls back to the stage
            self._fail(f"chunk {part}", exc)
        self.copy_s += time.perf_counter() - t0

    def finish(self, chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
        """After the last chunk: the finalize statements, COMMIT, ANALYZE; the flow's result. None when the stream
        failed (rolled back: write from the stage instead)."""
        if self.failed is None:
            try:
                self._check_parts()
                for table in (r.table for r in self.plan.rules if r.table in self.plan.at_end):
                    self._swap.delete(table)
                    for part in self.copied:
                        self._swap.copy(table, self.plan.batches(table, part))
                swapped = self._swap.commit(self.plan.then)
            except Exception as exc:  # noqa: BLE001 - rolled back; the run falls back to the stage
                self._fail("commit", exc)
        if self.failed is not None:
            return None
        written = {t: 0 for t in self.plan.tables} | {t: r.inserted for t, r in swapped.items()}
        return self.plan.report(written, chunks)

    def _check_parts(self) -> None:
        """Every staged part of every streamed table is one the stream COPYed (nothing extra, nothing missed)."""
        want = sorted(self.copied)
        for r in self.plan.rules:
            staged = sorted(p.rsplit("/part-", 1)[-1].removesuffix(".parquet") for p in self.stage.parts(r.table))
            if staged != want or len(want) != len(self.parts):
                raise RuntimeError(f"{r.table}: staged parts {staged} are not the parts streamed {want}")

    def close(self) -> None:
        """Roll back whatever was not committed; close the connection. Never raises."""
        if self._conn is not None:
            with suppress(Exception):
                self._conn.rollback()
            with suppress(Exception):
                self._conn.close()
            self._conn = None
