"""The in-process twin of the write chord: a run's tables staged concurrently, one transaction each.

Through Celery the per-table writes are a chord, so they run in parallel on the worker's processes. The CLI's
in-process runs (and the embedded demo) call the same per-table write in threads instead: each write opens its own
connection and the COPY is server-side work (psycopg2 releases the GIL while PostgreSQL maintains the indexes),
so two tables load in about the time of the larger one. As with the chord, the writes only stage the tables (each
into the run's side table, db.run_swap); finalize swaps all of them in one transaction, so when one fails no
table has changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

__all__ = ["write_tables", "DEFAULT_WRITE_WORKERS"]

DEFAULT_WRITE_WORKERS = 2  # PostgreSQL's COPY is CPU-bound per connection; more than the cores only queues


def write_tables(tables: Sequence[str], write_one: Callable[[str], int], workers: int | None = None) -> dict[str, int]:
    """{table: rows written} for every table, `workers` at a time (POC_WRITE_WORKERS, default 2), in input order.

    The first failure is raised after every started write has ended (no write is abandoned mid-transaction).
    """
    n = workers or int(os.environ.get("POC_WRITE_WORKERS", DEFAULT_WRITE_WORKERS))
    if n <= 1 or len(tables) <= 1:
        return {t: write_one(t) for t in tables}
    with ThreadPoolExecutor(max_workers=min(n, len(tables)), thread_name_prefix="poc-write") as pool:
        futures = {t: pool.submit(write_one, t) for t in tables}
    return {t: f.result() for t, f in futures.items()}
