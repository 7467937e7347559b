"""GCPReportDBAccessor's two Trino reads that return values to Koku, without Trino, in Koku's return shapes.

- :func:`fetch_invoice_month_dates` (trino_sql/gcp/get_invoice_month_dates.sql): ``[(min, max)]`` of
  usage_start_time of the invoice month's ``gcp_line_items_daily`` lines, as naive UTC datetimes (the Trino
  client's type for a Hive timestamp), ``[(None, None)]`` when there is none (an aggregate without GROUP BY always
  returns one row). The window is [start_date, end_date], widened by 3 days before a start on the 1st and after an
  end on the month's last day (to catch an invoice month's crossover days, e.g. 2025-07-31 and 2025-09-01 of invoice
  202508); note the upper bound compares with end's midnight (``<= DATE(end)``), as Koku's SQL does. Partitions read:
  start's month, end's month, the month before start, the month after end.
- :func:`get_gcp_topology` (reportdb_accessor_trino.get_gcp_topology_sql, run by ``get_gcp_topology_trino``): the
  distinct (source, billing_account_id, project_id, project_name, service_id, service_description,
  location_region) of the raw ``gcp_line_items`` of the invoice month's partition with usage_start_time in
  [start_date, end_date + 1 day) (no invoice_month filter, as in Koku), as a list of tuples, sorted here (Trino's
  order is arbitrary).

Both read only the columns they need, and only the row groups whose usage_start_time statistics overlap the window.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.daily.arrowfn import column
from poc_tasks.db.partitions import month_start, next_month
from poc_tasks.errors import InvalidArgument
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.settings import Settings
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = ["fetch_invoice_month_dates", "get_gcp_topology", "invoice_window", "invoice_date_partitions",
           "TOPOLOGY_COLUMNS"]

TIME = "usage_start_time"
TOPOLOGY_COLUMNS = ["billing_account_id", "project_id", "project_name", "service_id", "service_description",
                    "location_region"]
_ONE_MS = dt.timedelta(milliseconds=1)


def _ym(day: dt.date) -> tuple[str, str]:
    return f"{day.year:04d}", f"{day.month:02d}"


def _invoice_month(value: Any) -> str:
    text = str(value)
    if not (len(text) == 6 and text.isdigit() and 1 <= int(text[4:]) <= 12):
        raise InvalidArgument(f"invoice_month {value!r} is not YYYYMM")
    return text


def invoice_window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[low, high] of usage_start_time the invoice-month query accepts (both inclusive, midnights)."""
    low = start - dt.timedelta(days=3) if start.day == 1 else start
    last = calendar.monthrange(end.year, end.month)[1]
    high = end + dt.timedelta(days=3) if end.day == last else end
    return dt.datetime(low.year, low.month, low.day), dt.datetime(high.year, high.month, high.day)


def invoice_date_partitions(start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    """start's month, end's month, the month before start, the month after end (Koku's OR of partitions)."""
    before = month_start(month_start(start) - dt.timedelta(days=1))
    return list(dict.fromkeys([_ym(start), _ym(end), _ym(before), _ym(next_month(end))]))


def _source(settings: Settings, schema: str, source_uuid: str, partitions: list[tuple[str, str]], daily: bool,
            columns: list[ColumnSpec], table: str) -> ParquetSource:
    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    account = schema.removeprefix("acct")
    files: list[str] = []
    for year, month in partitions:
        files += list_parquet(fs, provider_prefix(root, account, "GCP", source_uuid, year, month, daily=daily))
    return ParquetSource(fs, files, columns, table, time_column=TIME)


def fetch_invoice_month_dates(settings: Settings, schema_name: str, start_date: Any, end_date: Any,
                              invoice_month: Any, source_uuid: Any) -> list[tuple[dt.datetime | None,
                                                                                   dt.datetime | None]]:
    """GCPReportDBAccessor.fetch_invoice_month_dates(start_date, end_date, invoice_month, source_uuid)."""
    schema = validate_schema(schema_name)
    source = validate_uuid(source_uuid)
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    month = _invoice_month(invoice_month)
    low, high = invoice_window(start, end)
    src = _source(settings, schema, source, invoice_date_partitions(start, end), True,
                  [ColumnSpec(TIME, TIMESTAMP), ColumnSpec("invoice_month", STRING)], "gcp_line_items_daily")
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for _path, tbl in src.read_range(low, high + _ONE_MS, [TIME, "invoice_month"]):
        times = column(tbl, TIME).filter(pc.equal(column(tbl, "invoice_month"), month).fill_null(False))
        if len(times) == 0:
            continue
        mm = pc.min_max(times).as_py()
        if mm["min"] is not None:
            first = mm["min"] if first is None else min(first, mm["min"])
            last = mm["max"] if last is None else max(last, mm["max"])
    return [(first, last)]


def get_gcp_topology(settings: Settings, schema_name: str, source_uuid: Any, start_date: Any, end_date: Any,
                     invoice_month: Any) -> list[tuple[str | None, ...]]:
    """GCPReportDBAccessor.get_gcp_topology_trino(source_uuid, start_date, end_date, invoice_month)."""
    schema = validate_schema(schema_name)
    source = validate_uuid(source_uuid)
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    month = _invoice_month(invoice_month)
    src = _source(settings, schema, source, [(month[:4], month[4:])], False,
                  [ColumnSpec(TIME, TIMESTAMP), *(ColumnSpec(c, STRING) for c in TOPOLOGY_COLUMNS)], "gcp_line_items")
    low = dt.datetime(start.year, start.month, start.day)
    high = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    seen: set[tuple[str | None, ...]] = set()
    for _path, tbl in src.read_range(low, high, TOPOLOGY_COLUMNS):
        distinct = pa.table({c: column(tbl, c) for c in TOPOLOGY_COLUMNS}).group_by(
            TOPOLOGY_COLUMNS, use_threads=False).aggregate([])
        seen.update((source, *row) for row in zip(*(distinct.column(c).to_pylist() for c in TOPOLOGY_COLUMNS),
                                                  strict=True))
    return sorted(seen, key=lambda r: tuple((v is None, v or "") for v in r))
