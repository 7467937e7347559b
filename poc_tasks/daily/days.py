"""What the Azure and GCP flows share: a chunk's days reduced row group by row group, and Koku's delete by range
and bill (``delete_line_item_daily_summary_entries_for_date_range_raw(filters={"cost_entry_bill_id": ...})``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from poc_tasks.daily.run import ChunkInput, DailyTable
from poc_tasks.io.parquet import ParquetSource
from poc_tasks.runspec import days_in_range

__all__ = ["reduce_days", "bill_range_table"]

_PENDING = 8  # partials kept before they are merged: a day's memory stays at a few partials


def reduce_days(ctx: ChunkInput, source: ParquetSource, columns: list[str], table: str,
                partial_of: Callable[[pa.Table, str], pa.Table | None],
                merge: Callable[[list[pa.Table]], pa.Table],
                rows_of: Callable[[list[pa.Table]], pa.Table]) -> Iterator[tuple[str, pa.Table]]:
    """For each day of the chunk: every row group's `partial_of(lines, path)` (None: nothing to keep), merged as
    they pile up, then the day's `rows_of(partials)` as (table, rows); last the read statistics (``__stats__``)."""
    for day in days_in_range(ctx.first, ctx.last):
        ctx.progress("aggregate", {"day": day.isoformat()})
        partials: list[pa.Table] = []
        for path, lines in source.read_day(day, columns):
            part = partial_of(lines, path)
            del lines  # the row group's buffers go before the next one is read and before the day's rows are built
            if part is not None and part.num_rows:
                partials.append(part)
            if len(partials) >= _PENDING:
                partials = [merge(partials)]
        if partials:
            rows = rows_of(partials)
            partials = part = None  # not held by this frame while the caller stages the rows
            yield table, rows
            del rows
    yield "__stats__", pa.table({"rows_read": [source.rows_read], "bytes_read": [source.bytes_read]})


def _params(m: dict[str, Any]) -> dict[str, Any]:
    return {"start": dt.date.fromisoformat(m["start_date"]), "end": dt.date.fromisoformat(m["end_date"]),
            "bill": m["bill_id"]}


def bill_range_table(name: str) -> DailyTable:
    """A daily summary table replaced with Koku's delete: usage_start in the run's range, the run's bill."""
    return DailyTable(name, "usage_start >= %(start)s AND usage_start <= %(end)s AND cost_entry_bill_id = %(bill)s",
                      _params)
