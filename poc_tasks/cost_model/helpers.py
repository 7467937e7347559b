"""Koku's two small Trino look-ups of the cost-model and summary runs, answered from the Parquet.

- ``reporting_period_has_gpu_data`` (OCPReportDBAccessor._reporting_period_has_gpu_data): does the source have GPU
  data (openshift_gpu_usage_line_items_daily) in the month of `day`? Koku counts the table's partitions for the
  source, year and month; here: a daily GPU Parquet file of that source-month with at least one row.
- ``max_min_timestamp`` (OCPReportDBAccessor.get_max_min_timestamp_from_parquet): min and max interval_start of the
  daily pod Parquet in [start, end + 1 day), each defaulting to midnight of start / end when there is no row.
  Only the interval_start column of the row groups that overlap the range is read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow.compute as pc

from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.io.parquet import TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.validate import validate_schema, validate_uuid

__all__ = ["reporting_period_has_gpu_data", "max_min_timestamp"]


def _source(root: str, schema: str, source_uuid: str, day: dt.date, report_type: str,
            storage_options: dict[str, Any] | None) -> ParquetSource:
    fs = filesystem(root, storage_options)
    folder = ocp_prefix(root, validate_schema(schema).removeprefix("acct"), report_type,
                        validate_uuid(source_uuid), f"{day.year:04d}", f"{day.month:02d}", True)
    return ParquetSource(fs, list_parquet(fs, folder), [ColumnSpec("interval_start", TIMESTAMP)],
                         f"openshift_{report_type}_line_items_daily")


def reporting_period_has_gpu_data(root: str, schema: str, source_uuid: str, day: dt.date,
                                  storage_options: dict[str, Any] | None = None) -> bool:
    src = _source(root, schema, source_uuid, day, "gpu_usage", storage_options)
    return any(src._open(p).metadata.num_rows > 0 for p in src.files)


def max_min_timestamp(root: str, schema: str, source_uuid: str, start: dt.date, end: dt.date,
                      storage_options: dict[str, Any] | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(min, max) as Koku returns them from get_max_min_timestamp_from_parquet."""
    src = _source(root, schema, source_uuid, start, "pod_usage", storage_options)
    lo = dt.datetime(start.year, start.month, start.day)
    hi = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    low = high = None
    for _path, tbl in src.read_range(lo, hi, ["interval_start"]):  # one column of the overlapping row groups
        mm = pc.min_max(tbl.column("interval_start")).as_py()
        if mm["min"] is not None:
            low = mm["min"] if low is None else min(low, mm["min"])
            high = mm["max"] if high is None else max(high, mm["max"])
    return (low or lo, high or dt.datetime(end.year, end.month, end.day))
