"""Koku's GCP daily summary without Trino: ``reporting_gcpcostentrylineitem_daily_summary`` from the raw
``gcp_line_items`` (trino_sql/gcp/reporting_gcpcostentrylineitem_daily_summary.sql, run by
``GCPReportDBAccessor.populate_line_item_daily_summary_table_trino(start, end, source, bill, markup, invoice_month)``).

Koku writes GCP Parquet under the **invoice** month's year/month partition, so a usage day at a month boundary sits
in the partition of the month before or after. The query reads the partitions of start_date's month, end_date's
month and the month before start_date, keeps the lines of the given invoice month whose usage_start_time lies in
[start_date, end_date + 1 day), and groups them by billing account, project, service, SKU, usage day, **usage end
day** (a line ending after midnight forms its own group, though that day is not a column), the raw location region
(''/NULL differ as groups, both are stored as a NULL region), the machine spec of the system labels, the tags
filtered to the enabled GCP keys, cost type and invoice month. Per group: max of project name, service and SKU
description, pricing unit and currency; cast(sum(double) AS decimal(24,9)) of usage and cost, and of cost x markup
(a double product: Trino types ``double * 0.1`` as double); the sum of each line's credit, ``$["amount"]`` of its
credits JSON cast to decimal(24,9) (0 when absent).

Documented deviations (Koku's query fails where these give a value): '' in labels, system_labels or credits is read
as {}; NaN costs are NULL. Sums of doubles are added in another order than Trino's (as any engine): a sum that
lies on a half-way point of the 9th decimal may round to the other side (one unit, 1e-9).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.cloud.jsontext import TagJsonError, filter_text
from poc_tasks.cloud.tenant import enabled_keys
from poc_tasks.daily.arrowfn import coalesce_nullif, column, group_by, json_extract_scalar, map_distinct
from poc_tasks.daily.bills import month_bill
from poc_tasks.daily.days import bill_range_table, reduce_days
from poc_tasks.daily.decimal9 import DEC, cast_double, markup_literal
from poc_tasks.daily.run import ChunkInput, DailyFlow, DailyRunSpec
from poc_tasks.db.partitions import month_start
from poc_tasks.errors import InputFileError, InvalidArgument, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.settings import Settings

__all__ = ["DAILY", "TABLE", "TIME", "LINE_COLUMNS", "KEYS", "MACHINE_SPEC", "credit", "line_values", "partial",
           "partial_merge", "summary_rows", "OUTPUT_SCHEMA", "summary_partitions", "open_lines", "prepare_daily",
           "compute_daily", "invoice_month_of", "resolve_invoice_range", "chunk_files"]

TABLE = "reporting_gcpcostentrylineitem_daily_summary"
TIME = "usage_start_time"
MACHINE_SPEC = "compute.googleapis.com/machine_spec"
LINE_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("usage_end_time", TIMESTAMP),
    ColumnSpec("billing_account_id", STRING),
    ColumnSpec("project_id", STRING),
    ColumnSpec("project_name", STRING),
    ColumnSpec("service_id", STRING),
    ColumnSpec("service_description", STRING),
    ColumnSpec("sku_id", STRING),
    ColumnSpec("sku_description", STRING),
    ColumnSpec("location_region", STRING),
    ColumnSpec("system_labels", STRING),
    ColumnSpec("labels", STRING),
    ColumnSpec("usage_pricing_unit", STRING),
    ColumnSpec("usage_amount_in_pricing_units", NUMBER),
    ColumnSpec("currency", STRING),
    ColumnSpec("cost_type", STRING),
    ColumnSpec("cost", NUMBER),
    ColumnSpec("invoice_month", STRING),
    ColumnSpec("credits", STRING),
]
KEYS = ["account_id", "project_id", "service_id", "sku_id", "usage_start", "usage_end_day", "location_region",
        "instance_type", "tags", "line_item_type", "invoice_month"]
_MAXES = {"project_name": "project_name", "service_description": "service_alias", "sku_description": "sku_alias",
          "usage_pricing_unit": "unit", "currency": "currency"}
_SUMS = ["usage_amount", "unblended_cost", "markup_cost", "credit_amount"]
_PARTIAL_AGGS = [*((c, "max") for c in _MAXES.values()), *((c, "sum") for c in _SUMS)]
_PARTIAL_NAMES = [*_MAXES.values(), *_SUMS]
_TEXT = pa.string()
OUTPUT_SCHEMA = pa.schema([
    ("cost_entry_bill_id", pa.int64()), ("account_id", _TEXT), ("project_id", _TEXT), ("project_name", _TEXT),
    ("service_id", _TEXT), ("service_alias", _TEXT), ("sku_id", _TEXT), ("sku_alias", _TEXT),
    ("usage_start", pa.date32()), ("usage_end", pa.date32()), ("region", _TEXT), ("instance_type", _TEXT),
    ("unit", _TEXT), ("usage_amount", DEC), ("tags", _TEXT), ("currency", _TEXT), ("line_item_type", _TEXT),
    ("unblended_cost", DEC), ("markup_cost", DEC), ("source_uuid", _TEXT), ("invoice_month", _TEXT),
    ("credit_amount", pa.decimal128(38, 9)),
])


def credit(credits: str | None) -> decimal.Decimal:
    """cast(coalesce(json_extract_scalar(json_parse(credits), '$["amount"]'), '0') AS decimal(24,9)) of one line
    (Koku's ``* 1000000 / 1000000`` around it changes nothing). A number keeps its JSON text (a double's shortest
    text, as Trino's JSON parser writes it back); an amount that is not a number fails, as Koku's cast does."""
    text = json_extract_scalar(credits, "amount")
    if text is None:
        return decimal.Decimal("0E-9")
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise ValueError(f"credit amount {text!r} cannot be cast to decimal(24,9)") from None
    if not value.is_finite():
        raise ValueError(f"credit amount {text!r} cannot be cast to decimal(24,9)")
    return value.quantize(decimal.Decimal("1e-9"), rounding=decimal.ROUND_HALF_UP)


def _nan_null(arr: pa.Array) -> pa.Array:
    arr = arr.cast(pa.float64())
    return pc.if_else(pc.is_nan(arr).fill_null(False), pa.scalar(None, pa.float64()), arr)


def _mapped(arr: pa.Array, fn, path: str, name: str, out_type: pa.DataType = pa.string()) -> pa.Array:
    try:
        return map_distinct(arr, fn, out_type)
    except (TagJsonError, ValueError) as exc:
        raise InputFileError(path, str(exc), name) from exc


def line_values(lines: pa.Table, enabled_keys: frozenset[str], markup_literal: str, invoice_month: str,
                path: str = "gcp_line_items") -> pa.Table:
    """One batch of lines (already limited to the run's days) of the invoice month: group keys and values."""
    lines = lines.filter(pc.equal(column(lines, "invoice_month"), invoice_month).fill_null(False))
    cost = _nan_null(column(lines, "cost"))
    usage = _nan_null(column(lines, "usage_amount_in_pricing_units"))
    keys = frozenset(enabled_keys)
    return pa.table({
        "account_id": column(lines, "billing_account_id"),
        "project_id": column(lines, "project_id"),
        "service_id": column(lines, "service_id"),
        "sku_id": column(lines, "sku_id"),
        "usage_start": column(lines, TIME).cast(pa.date32()),
        "usage_end_day": column(lines, "usage_end_time").cast(pa.date32()),
        "location_region": column(lines, "location_region"),
        "instance_type": _mapped(column(lines, "system_labels"), lambda t: json_extract_scalar(t, MACHINE_SPEC),
                                 path, "system_labels"),
        "tags": _mapped(column(lines, "labels"), lambda t: filter_text(t, keys), path, "labels"),
        "line_item_type": column(lines, "cost_type"),
        "invoice_month": column(lines, "invoice_month"),
        **{out: column(lines, src) for src, out in _MAXES.items()},
        "usage_amount": usage,
        "unblended_cost": cost,
        # cost * <markup literal>: a double product in Trino (the decimal literal is coerced to double)
        "markup_cost": pc.multiply(cost, float(markup_literal)),
        "credit_amount": _mapped(column(lines, "credits"), credit, path, "credits", DEC).cast(pa.decimal128(38, 9)),
    })


def partial(values: pa.Table) -> pa.Table:
    """Partial maxima and sums per group of a batch of lines (combined by partial_merge / summary_rows)."""
    return group_by(values, KEYS, _PARTIAL_AGGS, _PARTIAL_NAMES)


def partial_merge(partials: list[pa.Table]) -> pa.Table:
    return group_by(pa.concat_tables(partials), KEYS, _PARTIAL_AGGS, _PARTIAL_NAMES)


def summary_rows(partials: Iterable[pa.Table], bill_id: int, source_uuid: str) -> pa.Table:
    """The summary rows of the given partials (a day's), in Koku's columns."""
    parts = [p for p in partials if p.num_rows]
    if not parts:
        return OUTPUT_SCHEMA.empty_table()
    out = partial_merge(parts) if len(parts) > 1 else parts[0]
    n = out.num_rows
    return pa.table({
        "cost_entry_bill_id": pa.array([int(bill_id)] * n, pa.int64()),
        "account_id": out.column("account_id"),
        "project_id": out.column("project_id"),
        "project_name": out.column("project_name"),
        "service_id": out.column("service_id"),
        "service_alias": out.column("service_alias"),
        "sku_id": out.column("sku_id"),
        "sku_alias": out.column("sku_alias"),
        "usage_start": out.column("usage_start"),
        "usage_end": out.column("usage_start"),
        "region": coalesce_nullif(column(out, "location_region"), pa.nulls(n, pa.string())),
        "instance_type": out.column("instance_type"),
        "unit": out.column("unit"),
        "usage_amount": cast_double(out.column("usage_amount"), "usage_amount"),
        "tags": out.column("tags"),
        "currency": out.column("currency"),
        "line_item_type": out.column("line_item_type"),
        "unblended_cost": cast_double(out.column("unblended_cost"), "unblended_cost"),
        "markup_cost": cast_double(out.column("markup_cost"), "markup_cost"),
        "source_uuid": pa.array([str(source_uuid)] * n, pa.string()),
        "invoice_month": out.column("invoice_month"),
        "credit_amount": out.column("credit_amount"),
    }, schema=OUTPUT_SCHEMA)


# --- the partitions and the flow ----------------------------------------------------------------------------------

def _ym(day: dt.date) -> tuple[str, str]:
    return f"{day.year:04d}", f"{day.month:02d}"


def summary_partitions(start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    """The (year, month) partitions the summary query reads: start's month, end's month, the month before start."""
    before = month_start(month_start(start) - dt.timedelta(days=1))
    return list(dict.fromkeys([_ym(start), _ym(end), _ym(before)]))


def invoice_month_of(spec: DailyRunSpec) -> str:
    """Koku's updater: ``invoice_month = start_date.strftime("%Y%m")`` unless the caller gives one."""
    return spec.invoice_month or spec.start_date.strftime("%Y%m")


def _files(settings: Settings, spec_account: str, source_uuid: str, partitions: Iterable[tuple[str, str]],
           daily: bool) -> tuple[Any, list[str]]:
    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    files: list[str] = []
    for year, month in partitions:
        files += list_parquet(fs, provider_prefix(root, spec_account, "GCP", source_uuid, year, month, daily=daily))
    return fs, files


def _months(first: dt.date, last: dt.date) -> list[tuple[str, str]]:
    out, m = [], month_start(first)
    while m <= last:
        out.append(_ym(m))
        m = month_start(m + dt.timedelta(days=32))
    return out


def open_lines(settings: Settings, spec: DailyRunSpec) -> ParquetSource:
    """The raw gcp_line_items of every partition a chunk of the run may read (the month before start to end's
    month); each chunk then keeps the files of its own partitions (:func:`summary_partitions`). None is
    MissingInputData."""
    months = _months(month_start(spec.start_date) - dt.timedelta(days=1), spec.end_date)
    fs, files = _files(settings, spec.account, spec.source_uuid, months, daily=False)
    if not files:
        root = settings.require_data_root()
        raise MissingInputData(f"no gcp_line_items Parquet for GCP source {spec.source_uuid} in the partitions "
                               f"{months} under {provider_prefix(root, spec.account, 'GCP', spec.source_uuid, '*', '*', daily=False)}")  # noqa: E501
    return ParquetSource(fs, files, LINE_COLUMNS, "gcp_line_items", time_column=TIME)


def chunk_files(files: list[str], index: list[dict[str, Any]] | None, first: dt.date,
                last: dt.date) -> tuple[list[str], list[dict[str, Any]] | None]:
    """The files (and their footer index) of the partitions Koku's query reads for the chunk [first, last]."""
    wanted = {f"/year={y}/month={m}/" for y, m in summary_partitions(first, last)}
    keep = [f for f in files if any(w in f for w in wanted)]
    return keep, None if index is None else [d for d in index if d["path"] in set(keep)]


def prepare_daily(spec: DailyRunSpec, settings: Settings, conn) -> dict[str, Any]:
    invoice_month = invoice_month_of(spec)
    source = open_lines(settings, spec)
    index = source.export_index()
    # bills_for_provider_uuid(provider, invoice_month=...): the bill of the invoice month
    bill = month_bill(conn, spec.schema_name, "reporting_gcpcostentrybill", "GCP", spec.source_uuid, spec.bill_id,
                      _invoice_start(invoice_month))
    return {"bill_id": bill, "markup": markup_literal(spec.markup_value), "invoice_month": invoice_month,
            "files": source.files, "index": index, "enabled_keys": enabled_keys(conn, spec.schema_name, "GCP")}


def _invoice_start(invoice_month: str) -> dt.date:
    try:
        return dt.date(int(invoice_month[:4]), int(invoice_month[4:6]), 1)
    except ValueError:
        raise InvalidArgument(f"invoice_month {invoice_month!r} is not YYYYMM") from None


def compute_daily(ctx: ChunkInput) -> Iterator[tuple[str, pa.Table]]:
    """Each day of the chunk: its lines of the invoice month reduced as the row groups are read, then the rows."""
    m = ctx.manifest
    files, index = chunk_files(m["files"], m.get("index"), ctx.first, ctx.last)
    source = ParquetSource(filesystem(ctx.settings.require_data_root(), ctx.settings.storage_options()),
                           files, LINE_COLUMNS, "gcp_line_items", time_column=TIME, index=index)
    keys = frozenset(m["enabled_keys"])

    def partial_of(lines: pa.Table, path: str) -> pa.Table | None:
        values = line_values(lines, keys, m["markup"], m["invoice_month"], path)
        return partial(values) if values.num_rows else None

    return reduce_days(ctx, source, [c.name for c in LINE_COLUMNS], TABLE, partial_of, partial_merge,
                       lambda partials: summary_rows(partials, m["bill_id"], ctx.spec.source_uuid))


DAILY = DailyFlow(name="GCP", tables=(bill_range_table(TABLE),), prepare=prepare_daily, compute=compute_daily,
                  lock_name="daily-GCP")


def resolve_invoice_range(settings: Settings, schema_name: str, source_uuid: str, start_date: Any,
                          end_date: Any) -> tuple[str, dt.date, dt.date]:
    """What GCPReportParquetSummaryUpdater does before its loop when no invoice month is given: the invoice month
    of start_date, and the days its lines ran (fetch_invoice_month_dates), or the given range when it has none."""
    from poc_tasks.daily.gcp_lookups import fetch_invoice_month_dates
    from poc_tasks.validate import parse_date

    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    invoice_month = start.strftime("%Y%m")
    first, last = fetch_invoice_month_dates(settings, schema_name, start, end, invoice_month, source_uuid)[0]
    if first is None or last is None:
        return invoice_month, start, end
    return invoice_month, first.date(), last.date()
