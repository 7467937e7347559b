"""The month's EC2 compute summary without Trino (Koku's populate_ec2_compute_summary_table_trino).

reporting_awscostentrylineitem_summary_by_ec2_compute_p.sql, read as a specification:

- ``ds``: the month partition's EC2 compute lines (lineitem_productcode = 'AmazonEC2', product_productfamily
  containing 'Compute Instance', lineitem_resourceid not '' and not NULL), one row per resource: first and last
  day, the largest usage account / operating system / region / unit (''  is NULL), usage without
  SavingsPlanNegation lines, unblended and blended cost without SavingsPlanCoveredUsage lines, the savings-plan
  effective cost, the amortized cost (savings-plan lines count their effective cost), public on-demand cost,
  and the maxima of the rates and factors.
- ``cte_latest_values``: the same lines on the resource's last day in the month, where "last day" is over
  *every* line of the resource in the partition, EC2 compute or not (Koku's subquery does not filter the
  product); grouped by the raw instance type, tags, cost category, memory and vcpu texts. A resource whose last
  line is not an EC2 compute line has no latest values and no row; a resource with two distinct sets on its last
  day has two rows (the JOIN repeats ``ds``).
- tags filtered to the enabled AWS keys, ``instance_name`` the tags' ``Name`` scalar, ``vcpu`` the integer
  text, the account alias joined on the usage account.

The whole month partition is read (the SQL has no date filter), in two streaming passes over its row groups: the
resources' last days, then the aggregates and the latest values. Memory grows with the number of resources.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.daily.aws import (
    LINE_COLUMNS,
    TABLE,
    TIME,
    _checked_json,
    _derived,
    _is,
    _markups,
    _nullif_empty,
    _per_distinct,
    cost_columns,
    filter_tags,
    prepare_daily,
    source_fs,
)
from poc_tasks.daily.run import ChunkInput, DailyFlow, DailyRunSpec, DailyTable, staged_schema
from poc_tasks.db.tables_daily import AWS_EC2_COMPUTE_TABLE
from poc_tasks.errors import InputFileError
from poc_tasks.io.line_checks import refuse_rows
from poc_tasks.io.parquet import ParquetSource

__all__ = ["EC2_COMPUTE", "ec2_rows", "last_days", "is_compute_line", "instance_name", "vcpu_value"]

_ALL = (dt.datetime(1, 1, 1), dt.datetime(9999, 1, 1))
LATEST_KEYS = ["lineitem_resourceid", "product_instancetype", "resourcetags", "costcategory", "product_memory",
               "product_vcpu"]
_SUMS = {"x_usage": "usage_amount", "lineitem_normalizedusageamount": "normalized_usage_amount",
         "x_unblended": "unblended_cost", "x_blended": "blended_cost",
         "savingsplan_savingsplaneffectivecost": "savingsplan_effective_cost",
         "x_amortized": "calculated_amortized_cost", "pricing_publicondemandcost": "public_on_demand_cost"}
_MAXES = {"lineitem_usageaccountid": "usage_account_id", "x_os": "operating_system", "x_region": "region",
          "x_unit": "unit", "lineitem_normalizationfactor": "normalization_factor",
          "lineitem_currencycode": "currency_code", "lineitem_unblendedrate": "unblended_rate",
          "lineitem_blendedrate": "blended_rate", "pricing_publicondemandrate": "public_on_demand_rate",
          "usage_end": "usage_end"}
_MINS = {"usage_start": "usage_start"}


def is_compute_line(lines: pa.Table) -> pa.ChunkedArray:
    """product code 'AmazonEC2', family LIKE '%Compute Instance%', resource id neither '' nor NULL."""
    code = pc.equal(lines.column("lineitem_productcode"), "AmazonEC2")
    family = pc.match_substring(lines.column("product_productfamily"), "Compute Instance")
    rid = pc.not_equal(lines.column("lineitem_resourceid"), "")
    return pc.fill_null(pc.and_(pc.and_(code, family), rid), False)


_NO_RESOURCE = ("EC2 compute lines without a resource id (NULL): Koku's EC2 summary (lineitem_resourceid != '') "
                "would drop them silently")


def _compute_without_resource(lines: pa.Table) -> pa.ChunkedArray:
    """EC2 compute lines whose resource id is NULL (a '' is Koku's "no resource" and is filtered, as Koku does)."""
    code = pc.equal(lines.column("lineitem_productcode"), "AmazonEC2")
    family = pc.match_substring(lines.column("product_productfamily"), "Compute Instance")
    return pc.and_(pc.and_(code, family), pc.is_null(lines.column("lineitem_resourceid")))


def _max_day(t: pa.Table) -> pa.Table:
    out = t.group_by("r", use_threads=False).aggregate([("d", "max")])
    return pa.table({"r": out.column("r"), "d": out.column("d_max")})


def last_days(source: ParquetSource) -> dict[str, dt.date]:
    """Pass one: each resource's last day over every line of the month partition."""
    parts: list[pa.Table] = []
    for _path, t in source.read_range(*_ALL, ["lineitem_resourceid", TIME]):
        parts.append(_max_day(pa.table({"r": t.column("lineitem_resourceid"),
                                        "d": pc.cast(t.column(TIME), pa.date32())})))
        if len(parts) >= 16:
            parts = [_max_day(pa.concat_tables(parts))]
    if not parts:
        return {}
    total = _max_day(pa.concat_tables(parts))
    return dict(zip(total.column("r").to_pylist(), total.column("d").to_pylist(), strict=True))


def _ec2_terms(lines: pa.Table) -> pa.Table:
    """The per-line terms of the EC2 sums and maxima."""
    d = _derived(lines)  # usage_start (the day), x_usage (no SavingsPlanNegation), x_amortized
    covered = _is(lines, "lineitem_lineitemtype", ["SavingsPlanCoveredUsage"])
    zero = pa.scalar(0.0)
    d = d.append_column("x_unblended", pc.if_else(covered, zero, lines.column("lineitem_unblendedcost")))
    d = d.append_column("x_blended", pc.if_else(covered, zero, lines.column("lineitem_blendedcost")))
    d = d.append_column("x_os", _nullif_empty(lines.column("product_operatingsystem")))
    d = d.append_column("x_region", _nullif_empty(lines.column("product_region")))
    d = d.append_column("x_unit", _nullif_empty(lines.column("pricing_unit")))
    return d.append_column("usage_end", d.column("usage_start"))


def _aggregate(data: pa.Table, names: dict[str, dict[str, str]]) -> pa.Table:
    aggs = [(c, "sum", pc.ScalarAggregateOptions(min_count=1)) for c in names["sum"]]
    aggs += [(c, "max") for c in names["max"]] + [(c, "min") for c in names["min"]]
    out = data.group_by("lineitem_resourceid", use_threads=False).aggregate(aggs)
    rename = {f"{c}_{op}": v for op in ("sum", "max", "min") for c, v in names[op].items()}
    return out.rename_columns([rename.get(n, n) for n in out.column_names])


_FIRST = {"sum": _SUMS, "max": _MAXES, "min": _MINS}
_AGAIN = {op: {v: v for v in m.values()} for op, m in _FIRST.items()}


def _combine(parts: list[pa.Table]) -> pa.Table:
    return parts[0] if len(parts) == 1 else _aggregate(pa.concat_tables(parts), _AGAIN)


def instance_name(tags: str | None, path: str = TABLE) -> str | None:
    """``json_extract_scalar(json_parse(resourcetags), '$.Name')``: a scalar's text, NULL otherwise."""
    if tags is None:
        return None
    try:
        obj = json.loads(tags)
    except ValueError as exc:
        raise InputFileError(path, f"not JSON ({exc.msg}): {tags[:80]!r}", "resourcetags") from exc
    value = obj.get("Name") if isinstance(obj, dict) else None
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def vcpu_value(text: str | None, path: str = TABLE) -> int | None:
    """``cast(nullif(product_vcpu, '') AS integer)``; a text that is not an integer fails as Trino's cast does."""
    if text is None or text == "":
        return None
    try:
        return int(text.strip())
    except ValueError as exc:
        raise InputFileError(path, f"{text!r} is not an integer (cast to integer)", "product_vcpu") from exc


def ec2_rows(ds: pa.Table, latest: pa.Table, manifest: dict[str, Any], path: str = TABLE) -> pa.Table:
    """The table rows: ``ds`` (one row per resource) joined with its latest values (one or more per resource)."""
    schema = staged_schema(AWS_EC2_COMPUTE_TABLE)
    joined = latest.join(ds, "lineitem_resourceid", join_type="inner", use_threads=False)
    n = joined.num_rows
    if n == 0:
        return schema.empty_table()
    enabled = frozenset(manifest["enabled_keys"])
    aliases: dict[str, int] = manifest["account_aliases"]
    sums = {c: joined.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in _SUMS.values()}
    out: dict[str, Any] = {
        "usage_start": joined.column("usage_start"),
        "usage_end": joined.column("usage_end"),
        "cost_entry_bill_id": pa.array([manifest["bill_id"]] * n, type=pa.int64()),
        "account_alias_id": pa.array([aliases.get(a) for a in joined.column("usage_account_id").to_pylist()],
                                     type=pa.int64()),
        "usage_account_id": joined.column("usage_account_id"),
        "resource_id": joined.column("lineitem_resourceid"),
        "instance_name": _per_distinct(joined.column("resourcetags"), lambda t: instance_name(t, path)),
        "instance_type": _nullif_empty(joined.column("product_instancetype")),
        "operating_system": joined.column("operating_system"),
        "region": joined.column("region"),
        "vcpu": pa.array([vcpu_value(v, path) for v in joined.column("product_vcpu").to_pylist()], type=pa.int64()),
        "memory": _nullif_empty(joined.column("product_memory")),
        "unit": joined.column("unit"),
        **cost_columns(joined, sums),
        "tags": _per_distinct(joined.column("resourcetags"), lambda t: filter_tags(t, enabled, path)),
        "cost_category": _per_distinct(joined.column("costcategory"),
                                       lambda t: _checked_json(t, path, "costcategory")),
        "source_uuid": pa.array([manifest["run"]["source_uuid"]] * n, type=pa.string()),
    }
    _markups(out, sums, float(manifest["markup_value"]))
    return pa.table({f.name: (out[f.name] if f.name in out else pa.nulls(n, f.type)) for f in schema}).cast(schema)


def compute_ec2(ctx: ChunkInput) -> Iterator[tuple[str, pa.Table]]:
    """Both passes over the month partition, then the rows."""
    source = ParquetSource(source_fs(ctx), ctx.manifest["files"], LINE_COLUMNS, TABLE, time_column=TIME,
                           index=ctx.manifest.get("index"))
    ctx.progress("scan", {"pass": "last days"})
    last = last_days(source)
    resources = pa.array(list(last), type=pa.string())
    last_arr = pa.array(list(last.values()), type=pa.date32())
    columns = [c.name for c in LINE_COLUMNS]
    ds_parts: list[pa.Table] = []
    latest_parts: list[pa.Table] = []
    path = TABLE
    ctx.progress("aggregate", {"pass": "resources"})
    for file_path, t in source.read_range(*_ALL, columns):
        path = file_path  # errors name the last file read
        refuse_rows(path, _compute_without_resource(t), "lineitem_resourceid", _NO_RESOURCE)
        lines = t.filter(is_compute_line(t))
        if lines.num_rows == 0:
            continue
        terms = _ec2_terms(lines)
        ds_parts.append(_aggregate(terms, _FIRST))
        rid_last = pc.take(last_arr, pc.index_in(lines.column("lineitem_resourceid"), value_set=resources))
        on_last = pc.fill_null(pc.equal(terms.column("usage_start"), rid_last), False)
        # the SQL compares the line's timestamp with the day (midnight): a line later on that day is no match
        at_midnight = pc.equal(pc.cast(lines.column(TIME), pa.date32()).cast(pa.timestamp("ms")), lines.column(TIME))
        picked = lines.filter(pc.and_(on_last, at_midnight)).select(LATEST_KEYS)
        latest_parts.append(picked.group_by(LATEST_KEYS, use_threads=False).aggregate([]))
        if len(ds_parts) >= 16:
            ds_parts = [_combine(ds_parts)]
    if ds_parts:
        latest = pa.concat_tables(latest_parts).group_by(LATEST_KEYS, use_threads=False).aggregate([])
        yield AWS_EC2_COMPUTE_TABLE, ec2_rows(_combine(ds_parts), latest, ctx.manifest, path)
    yield "__stats__", pa.table({"rows_read": [source.rows_read], "bytes_read": [source.bytes_read]})


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _one_chunk(spec: DailyRunSpec, _step: int) -> list[tuple[dt.date, dt.date]]:
    return [(spec.month_start, spec.end_date)]


def _params(m: dict[str, Any]) -> dict[str, Any]:
    start = dt.date.fromisoformat(m["start_date"]).replace(day=1)
    return {"start": start, "end": dt.date.fromisoformat(m["end_date"]), "source": m["run"]["source_uuid"]}


def _partitions(m: dict[str, Any]) -> tuple[dt.date, dt.date]:
    start = dt.date.fromisoformat(m["start_date"]).replace(day=1)
    return start, _month_end(start)


EC2_COMPUTE = DailyFlow(
    name="AWS-EC2",
    tables=(DailyTable(AWS_EC2_COMPUTE_TABLE,
                       # the updater's delete_line_item_daily_summary_entries_for_date_range_raw(month start,
                       # end_date, filters={"source_uuid"}); rows are the month's (usage_start = a first day)
                       "usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s",
                       _params, _partitions),),
    prepare=prepare_daily,
    compute=compute_ec2,
    chunks=_one_chunk,
    lock_name="daily-AWS-EC2",
)

