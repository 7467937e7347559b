"""Koku's Azure daily summary without Trino: ``reporting_azurecostentrylineitem_daily_summary`` from
``azure_line_items`` (Koku's trino_sql/azure/reporting_azurecostentrylineitem_daily_summary.sql, run by
``AzureReportDBAccessor.populate_line_item_daily_summary_table_trino``).

Per line (Koku's ``cte_line_items``):
- ``subscription_guid`` = coalesce(nullif(subscriptionid, ''), subscriptionguid); ``subscription_name`` =
  coalesce(nullif(subscriptionname, ''), nullif(subscriptionid, ''), subscriptionguid); ``service_name`` =
  coalesce(nullif(servicename, ''), metercategory); ``currency`` = coalesce(nullif(billingcurrencycode, ''),
  billingcurrency); ``instance_type`` = ``$.ServiceType`` of the AdditionalInfo JSON; ``instance_id`` = resourceid;
- cost and quantity cast to decimal(24,9); the quantity multiplied by the unit's leading integer ('100 Hours' ->
  100) unless it is '100 Hours' of 'Virtual Machines', the unit rewritten ('Hours'/'Hour' -> 'Hrs', 'GB/Month' ->
  'GB-Mo', '<n> <unit>' with a trailing space -> '<unit>'), with Trino's ``split_part`` (NULL past the last field);
- the markup per line: cast(cost * markup AS decimal(24,9)).
Grouped by day, subscription, location, service, instance type, the tags filtered to the tenant's enabled Azure keys
(Trino's map text: keys sorted, no spaces) and the subscription name: the sums, max(unit), max(currency), the
distinct resource ids (sorted here; Trino's order is arbitrary) and their count.

Documented deviations (Koku's query fails where these give a value): an empty ``tags`` or ``additionalinfo`` text is
read as ``{}``; NaN costs or quantities are NULL. A unit whose leading number is a decimal ('0.5 GB') fails the
run, as Koku's cast to INTEGER fails the query.

Memory: a day is reduced row group by row group to partial sums per (group, resource id), which are combined at the
end of the day (:func:`partial`, :func:`summary_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.cloud.jsontext import TagJsonError, filter_text
from poc_tasks.cloud.sqlfn import split_part
from poc_tasks.cloud.tenant import enabled_keys
from poc_tasks.daily.arrowfn import coalesce_nullif, column, group_by, json_extract_scalar, map_distinct
from poc_tasks.daily.bills import month_bill
from poc_tasks.daily.days import bill_range_table, reduce_days
from poc_tasks.daily.decimal9 import cast_double, markup_literal, times_literal
from poc_tasks.daily.run import ChunkInput, DailyFlow, DailyRunSpec
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.settings import Settings

__all__ = ["DAILY", "TABLE", "TIME", "LINE_COLUMNS", "KEYS", "unit_of_measure", "multiplier", "service_type",
           "line_values", "partial", "partial_merge", "summary_rows", "OUTPUT_SCHEMA", "OUTPUT_COLUMNS", "open_lines",
           "prepare_daily", "compute_daily"]

TABLE = "reporting_azurecostentrylineitem_daily_summary"
TIME = "date"
LINE_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("subscriptionid", STRING),
    ColumnSpec("subscriptionguid", STRING),
    ColumnSpec("subscriptionname", STRING),
    ColumnSpec("resourcelocation", STRING),
    ColumnSpec("servicename", STRING),
    ColumnSpec("metercategory", STRING),
    ColumnSpec("additionalinfo", STRING),
    ColumnSpec("quantity", NUMBER),
    ColumnSpec("costinbillingcurrency", NUMBER),
    ColumnSpec("billingcurrencycode", STRING),
    ColumnSpec("billingcurrency", STRING),
    ColumnSpec("tags", STRING),
    ColumnSpec("resourceid", STRING),
    ColumnSpec("unitofmeasure", STRING),
]
KEYS = ["usage_start", "subscription_guid", "resource_location", "service_name", "instance_type", "tags",
        "subscription_name"]
SUMS = ["pretax_cost", "usage_quantity", "markup_cost"]
_TEXT, _SUM = pa.string(), pa.decimal128(38, 9)  # Trino's sum(decimal(24,9)) is decimal(38,9)
OUTPUT_SCHEMA = pa.schema([
    ("usage_start", pa.date32()), ("usage_end", pa.date32()), ("cost_entry_bill_id", pa.int64()),
    ("subscription_guid", _TEXT), ("resource_location", _TEXT), ("service_name", _TEXT), ("instance_type", _TEXT),
    ("pretax_cost", _SUM), ("usage_quantity", _SUM), ("unit_of_measure", _TEXT), ("currency", _TEXT),
    ("tags", _TEXT), ("instance_ids", pa.list_(_TEXT)), ("instance_count", pa.int32()), ("source_uuid", _TEXT),
    ("markup_cost", _SUM), ("subscription_name", _TEXT),
])
OUTPUT_COLUMNS = OUTPUT_SCHEMA.names
_LEADING_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")  # Trino regexp_like(x, '^\d+(\.\d+)?$'): ASCII digits
_INT_MAX = 2**31 - 1


def unit_of_measure(unit: str | None) -> str | None:
    """Koku's unit rewrite of the daily summary ('Hours' and 'Hour' -> 'Hrs'; Trino ``split_part`` semantics)."""
    second = split_part(unit, " ", 2)
    if second in ("Hours", "Hour"):
        return "Hrs"
    if second == "GB/Month":
        return "GB-Mo"
    if second is not None and second != "" and split_part(unit, " ", 3) == "":
        return second
    return unit


def _and3(*values: bool | None) -> bool | None:
    """SQL AND of three-valued operands."""
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _not3(value: bool | None) -> bool | None:
    return None if value is None else not value


def multiplier(unit: str | None, meter_category: str | None) -> int:
    """The CASE of Koku's ``multiplier`` with SQL's three-valued logic (a NULL condition takes the ELSE 1): the
    unit's leading number when it is numeric, a second word follows and the line is not '100 Hours' of 'Virtual
    Machines'. A decimal leading number fails Koku's cast to INTEGER, and raises ValueError here."""
    if unit is None:
        return 1
    first, second = split_part(unit, " ", 1), split_part(unit, " ", 2)
    numeric = first is not None and _LEADING_NUMBER.fullmatch(first) is not None
    is_vm_hours = _and3(unit == "100 Hours", None if meter_category is None else meter_category == "Virtual Machines")
    has_second = None if second is None else second != ""
    if _and3(numeric, _not3(is_vm_hours), has_second) is not True:
        return 1
    if "." in first or int(first) > _INT_MAX:
        raise ValueError(f"unit {unit!r}: Koku casts {first!r} to INTEGER, which fails")
    return int(first)


def service_type(additional_info: str | None) -> str | None:
    """json_extract_scalar(json_parse(additionalinfo), '$.ServiceType')."""
    return json_extract_scalar(additional_info, "ServiceType")


def _mapped(arr: pa.Array, fn, path: str, name: str, out_type: pa.DataType = pa.string()) -> pa.Array:
    try:
        return map_distinct(arr, fn, out_type)
    except (TagJsonError, ValueError) as exc:
        raise InputFileError(path, str(exc), name) from exc


def line_values(lines: pa.Table, enabled_keys: frozenset[str], markup_literal: str,
                path: str = "azure_line_items") -> pa.Table:
    """Koku's cte_line_items for one batch of lines (columns of :data:`LINE_COLUMNS`, already limited to the run's
    days): the group keys, the resource id and the per-line decimal values."""
    unit = column(lines, "unitofmeasure")
    category = column(lines, "metercategory")
    base = _mapped(unit, lambda u: multiplier(u, "Other"), path, "unitofmeasure", pa.int64())
    vm_hours = pc.and_kleene(pc.equal(unit, "100 Hours"),
                             pc.or_kleene(pc.equal(category, "Virtual Machines"), pc.is_null(category)))
    factor = pc.if_else(vm_hours.fill_null(False), pa.scalar(1, pa.int64()), base)
    pretax = cast_double(column(lines, "costinbillingcurrency"), "costinbillingcurrency")
    quantity = cast_double(column(lines, "quantity"), "quantity")
    usage = pc.multiply(quantity, factor.cast(pa.int32()).cast(pa.decimal128(10, 0))).cast(pa.decimal128(38, 9))
    keys = frozenset(enabled_keys)
    return pa.table({
        "usage_start": column(lines, TIME).cast(pa.date32()),
        "subscription_guid": coalesce_nullif(column(lines, "subscriptionid"), column(lines, "subscriptionguid")),
        "resource_location": column(lines, "resourcelocation"),
        "service_name": coalesce_nullif(column(lines, "servicename"), category),
        "instance_type": _mapped(column(lines, "additionalinfo"), service_type, path, "additionalinfo"),
        "tags": _mapped(column(lines, "tags"), lambda t: filter_text(t, keys), path, "tags"),
        "subscription_name": coalesce_nullif(column(lines, "subscriptionname"), column(lines, "subscriptionid"),
                                             column(lines, "subscriptionguid")),
        "instance_id": column(lines, "resourceid"),
        "pretax_cost": pretax.cast(pa.decimal128(38, 9)),
        "usage_quantity": usage,
        "markup_cost": times_literal(pretax, markup_literal).cast(pa.decimal128(38, 9)),
        "unit_of_measure": _mapped(unit, unit_of_measure, path, "unitofmeasure"),
        "currency": coalesce_nullif(column(lines, "billingcurrencycode"), column(lines, "billingcurrency")),
    })


_PARTIAL_AGGS = [(c, "sum") for c in SUMS] + [("unit_of_measure", "max"), ("currency", "max")]
_PARTIAL_NAMES = [*SUMS, "unit_of_measure", "currency"]


def partial(values: pa.Table) -> pa.Table:
    """Partial sums per (group, resource id): what a batch of lines contributes (combined by summary_rows)."""
    return group_by(values, [*KEYS, "instance_id"], _PARTIAL_AGGS, _PARTIAL_NAMES)


def summary_rows(partials: Iterable[pa.Table], bill_id: int, source_uuid: str) -> pa.Table:
    """The day's (or chunk's) summary rows from the partials of all its batches, in Koku's columns."""
    parts = [p for p in partials if p.num_rows]
    if not parts:
        return OUTPUT_SCHEMA.empty_table()
    merged = partial_merge(parts) if len(parts) > 1 else parts[0]
    out = group_by(merged, KEYS, [
        *_PARTIAL_AGGS,
        ("instance_id", "distinct", pc.CountOptions(mode="all")),  # array_agg(DISTINCT): a NULL id is kept once
        ("instance_id", "count_distinct", pc.CountOptions(mode="only_valid")),
    ], [*_PARTIAL_NAMES, "instance_ids", "instance_count"])
    n = out.num_rows
    return pa.table({
        "usage_start": out.column("usage_start"),
        "usage_end": out.column("usage_start"),
        "cost_entry_bill_id": pa.array([int(bill_id)] * n, pa.int64()),
        "subscription_guid": out.column("subscription_guid"),
        "resource_location": out.column("resource_location"),
        "service_name": out.column("service_name"),
        "instance_type": out.column("instance_type"),
        "pretax_cost": out.column("pretax_cost"),
        "usage_quantity": out.column("usage_quantity"),
        "unit_of_measure": out.column("unit_of_measure"),
        "currency": out.column("currency"),
        "tags": out.column("tags"),
        "instance_ids": _sorted_lists(out.column("instance_ids")),
        "instance_count": out.column("instance_count").cast(pa.int32()),
        "source_uuid": pa.array([str(source_uuid)] * n, pa.string()),
        "markup_cost": out.column("markup_cost"),
        "subscription_name": out.column("subscription_name"),
    }, schema=OUTPUT_SCHEMA)


def _sorted_lists(lists: pa.ChunkedArray) -> pa.Array:
    """Each list sorted (NULL last), so the text[] is the same on every run. Vectorised: the elements sorted by
    (list, NULL last, value; UTF-8 bytes order as code points do) under the same offsets, no Python objects."""
    arr = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    flat = arr.flatten()
    order = pc.sort_indices(pa.table({"list": pc.list_parent_indices(arr), "null": pc.is_null(flat), "value": flat}),
                            sort_keys=[("list", "ascending"), ("null", "ascending"), ("value", "ascending")])
    offsets = pc.subtract(arr.offsets, arr.offsets[0])
    return pa.ListArray.from_arrays(offsets, pc.take(flat, order), mask=pc.is_null(arr))



# --- the flow (daily/run.py): prepare, compute per chunk, Koku's delete ----------------------------------------

def open_lines(settings: Settings, spec: DailyRunSpec) -> ParquetSource:
    """The source-month's ``azure_line_items`` (data/parquet/{account}/Azure/source=/year=/month=/: Koku's Trino
    query reads the partition of start_date's year and month); none is MissingInputData."""
    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    folder = provider_prefix(root, spec.account, "Azure", spec.source_uuid, spec.year, spec.month, daily=False)
    files = list_parquet(fs, folder)
    if not files:
        raise MissingInputData(f"no azure_line_items Parquet for Azure source {spec.source_uuid} "
                               f"{spec.year}-{spec.month} under {folder}")
    return ParquetSource(fs, files, LINE_COLUMNS, "azure_line_items", time_column=TIME)


def prepare_daily(spec: DailyRunSpec, settings: Settings, conn) -> dict[str, Any]:
    source = open_lines(settings, spec)
    index = source.export_index()  # every footer checked once: a missing or mistyped column fails here
    bill = month_bill(conn, spec.schema_name, "reporting_azurecostentrybill", "Azure", spec.source_uuid,
                      spec.bill_id, spec.month_start)
    return {"bill_id": bill, "markup": markup_literal(spec.markup_value), "files": source.files, "index": index,
            "enabled_keys": enabled_keys(conn, spec.schema_name, "Azure")}


def compute_daily(ctx: ChunkInput) -> Iterator[tuple[str, pa.Table]]:
    """Each day of the chunk: its row groups reduced to partials as they are read, then the day's rows."""
    m = ctx.manifest
    source = ParquetSource(filesystem(ctx.settings.require_data_root(), ctx.settings.storage_options()),
                           m["files"], LINE_COLUMNS, "azure_line_items", time_column=TIME, index=m.get("index"))
    keys = frozenset(m["enabled_keys"])
    return reduce_days(ctx, source, [c.name for c in LINE_COLUMNS], TABLE,
                       lambda lines, path: partial(line_values(lines, keys, m["markup"], path)), partial_merge,
                       lambda partials: summary_rows(partials, m["bill_id"], ctx.spec.source_uuid))


def partial_merge(partials: list[pa.Table]) -> pa.Table:
    """Several partials as one (sums of sums, maxima of maxima)."""
    return group_by(pa.concat_tables(partials), [*KEYS, "instance_id"], _PARTIAL_AGGS, _PARTIAL_NAMES)


DAILY = DailyFlow(name="Azure", tables=(bill_range_table(TABLE),), prepare=prepare_daily, compute=compute_daily,
                  lock_name="daily-Azure")
