"""The AWS daily summary and the EC2 compute summary without Trino.

Koku's specification (koku/masu/database/aws_report_db_accessor.py and trino_sql/aws/):

- ``populate_line_item_daily_summary_table_trino(start_date, end_date, source_uuid, bill_id, markup_value)``
  (reporting_awscostentrylineitem_daily_summary.sql): the source's ``aws_line_items_daily`` lines of
  [start, end] grouped by day and the raw texts of billing entity, product code, product name, usage account,
  availability zone, product family, region, resource tags, cost category, instance type and pricing unit (NULL
  and '' are different groups, as in SQL); per group the sums, maxima and distinct resource ids of
  :func:`aggregate_lines`; tags filtered to the tenant's enabled AWS keys; the account alias and the
  organizational units valid on the day joined (an account in two such units gives two rows, as the SQL's join
  does); markup on the four costs. The updater deletes the range's rows of the bill first
  (``delete_line_item_daily_summary_entries_for_date_range_raw``: usage_start in [start, end] and
  cost_entry_bill_id); here that delete and the insert are one transaction.
- ``populate_ec2_compute_summary_table_trino(source_uuid, start_date, bill_id, markup_value)``
  (reporting_awscostentrylineitem_summary_by_ec2_compute_p.sql): the month's EC2 compute instance lines
  (product code 'AmazonEC2', family like '%Compute Instance%', resource id not '') per resource, joined with the
  resource's "latest values" (instance type, tags, cost category, memory, vcpu of its lines on the last day any
  line of the resource has in the month; one output row per distinct set); the updater's delete is usage_start in
  [month start, end_date] and the source.

Numbers are computed in double precision as Trino does and cast to the columns' numeric scales through
daily/numbers.py. Sums of doubles may differ from Trino's in the last bits (Trino's summation order is not
defined either).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from poc_tasks.daily.numbers import to_decimal
from poc_tasks.daily.run import ChunkInput, DailyFlow, DailyRunSpec, DailyTable, staged_schema
from poc_tasks.db.connection import qualified
from poc_tasks.db.init import ensure_provider
from poc_tasks.db.tables_daily import AWS_DAILY_TABLE
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.settings import Settings

__all__ = ["DAILY", "LINE_COLUMNS", "DAILY_KEYS", "MARKUPS", "open_daily_lines", "aggregate_lines", "daily_rows",
           "filter_tags", "prepare_daily", "compute_daily", "cost_columns"]

TIME = "lineitem_usagestartdate"
TABLE = "aws_line_items_daily"
LINE_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("lineitem_resourceid", STRING),
    ColumnSpec("bill_billingentity", STRING),
    ColumnSpec("product_productname", STRING),
    ColumnSpec("lineitem_productcode", STRING),
    ColumnSpec("lineitem_usageaccountid", STRING),
    ColumnSpec("lineitem_availabilityzone", STRING),
    ColumnSpec("product_productfamily", STRING),
    ColumnSpec("product_region", STRING),
    ColumnSpec("resourcetags", STRING),
    ColumnSpec("costcategory", STRING, required=False),
    ColumnSpec("product_instancetype", STRING),
    ColumnSpec("pricing_unit", STRING),
    ColumnSpec("lineitem_lineitemtype", STRING),
    ColumnSpec("lineitem_usageamount", NUMBER),
    ColumnSpec("lineitem_normalizationfactor", NUMBER, required=False),
    ColumnSpec("lineitem_normalizedusageamount", NUMBER, required=False),
    ColumnSpec("lineitem_currencycode", STRING),
    ColumnSpec("lineitem_unblendedrate", NUMBER, required=False),
    ColumnSpec("lineitem_unblendedcost", NUMBER),
    ColumnSpec("lineitem_blendedrate", NUMBER, required=False),
    ColumnSpec("lineitem_blendedcost", NUMBER),
    ColumnSpec("savingsplan_savingsplaneffectivecost", NUMBER),
    ColumnSpec("pricing_publicondemandcost", NUMBER, required=False),
    ColumnSpec("pricing_publicondemandrate", NUMBER, required=False),
    ColumnSpec("product_operatingsystem", STRING, required=False),
    ColumnSpec("product_memory", STRING, required=False),
    ColumnSpec("product_vcpu", STRING, required=False),
]
# the group keys of Koku's daily summary SQL (raw texts), after the day
DAILY_KEYS = ["bill_billingentity", "lineitem_productcode", "product_productname", "lineitem_usageaccountid",
              "lineitem_availabilityzone", "product_productfamily", "product_region", "resourcetags", "costcategory",
              "product_instancetype", "pricing_unit"]
MARKUPS = {"unblended_cost": "markup_cost", "blended_cost": "markup_cost_blended",
           "savingsplan_effective_cost": "markup_cost_savingsplan",
           "calculated_amortized_cost": "markup_cost_amortized"}
_SP_AMORTIZED = ["SavingsPlanCoveredUsage", "SavingsPlanNegation", "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee"]


# --- inputs ---------------------------------------------------------------------------------------------------

def open_daily_lines(settings: Settings, spec: DailyRunSpec) -> ParquetSource:
    """The source-month's ``aws_line_items_daily`` Parquet (data/parquet/daily/{account}/AWS/raw/source=/year=/
    month=/); none is MissingInputData."""
    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    folder = provider_prefix(root, spec.account, "AWS", spec.source_uuid, spec.year, spec.month, daily=True)
    files = list_parquet(fs, folder)
    if not files:
        raise MissingInputData(f"no {TABLE} Parquet for AWS source {spec.source_uuid} {spec.year}-{spec.month} "
                               f"under {folder}")
    return ParquetSource(fs, files, LINE_COLUMNS, TABLE, time_column=TIME)


def source_fs(ctx: ChunkInput):
    return filesystem(ctx.settings.require_data_root(), ctx.settings.storage_options())


def _str(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name)


def _f(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name).cast(pa.float64())


def _is(table: pa.Table, name: str, values: list[str]) -> pa.ChunkedArray:
    return pc.fill_null(pc.is_in(_str(table, name), value_set=pa.array(values)), False)


def _derived(lines: pa.Table) -> pa.Table:
    """The per-line terms of the sums: usage without SavingsPlanNegation lines, the amortized cost."""
    negation = _is(lines, "lineitem_lineitemtype", ["SavingsPlanNegation"])
    sp = _is(lines, "lineitem_lineitemtype", _SP_AMORTIZED)
    usage = pc.if_else(negation, pa.scalar(0.0), _f(lines, "lineitem_usageamount"))
    amortized = pc.if_else(sp, _f(lines, "savingsplan_savingsplaneffectivecost"), _f(lines, "lineitem_unblendedcost"))
    day = pc.cast(_str(lines, TIME), pa.date32())
    out = lines.append_column("usage_start", day).append_column("x_usage", usage)
    return out.append_column("x_amortized", amortized)


_SUMS = {"x_usage": "usage_amount", "lineitem_normalizedusageamount": "normalized_usage_amount",
         "lineitem_unblendedcost": "unblended_cost", "lineitem_blendedcost": "blended_cost",
         "savingsplan_savingsplaneffectivecost": "savingsplan_effective_cost",
         "x_amortized": "calculated_amortized_cost", "pricing_publicondemandcost": "public_on_demand_cost"}
_MAXES = {"lineitem_normalizationfactor": "normalization_factor", "lineitem_currencycode": "currency_code",
          "lineitem_unblendedrate": "unblended_rate", "lineitem_blendedrate": "blended_rate",
          "pricing_publicondemandrate": "public_on_demand_rate"}


def aggregate_lines(parts: list[pa.Table]) -> pa.Table:
    """Koku's daily group-by over the line tables `parts` (each already reduced per resource, see
    :func:`_partial`): per (day, DAILY_KEYS) the sums, maxima, distinct resource ids (NULL kept, as Trino's
    array_agg(DISTINCT) keeps it) and their count (NULL not counted)."""
    keys = ["usage_start", *DAILY_KEYS]
    data = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    aggs = [(c, "sum", pc.ScalarAggregateOptions(min_count=1)) for c in _SUMS.values()]
    aggs += [(c, "max") for c in _MAXES.values()]
    aggs += [("lineitem_resourceid", "distinct", pc.CountOptions(mode="all")),
             ("lineitem_resourceid", "count_distinct", pc.CountOptions(mode="only_valid"))]
    out = data.group_by(keys, use_threads=False).aggregate(aggs)
    names = {f"{c}_sum": c for c in _SUMS.values()}
    names |= {f"{c}_max": c for c in _MAXES.values()}
    names |= {"lineitem_resourceid_distinct": "resource_ids", "lineitem_resourceid_count_distinct": "resource_count"}
    return out.rename_columns([names.get(n, n) for n in out.column_names])


def _partial(lines: pa.Table) -> pa.Table:
    """One row group's lines reduced per (day, keys, resource id): sums and maxima (associative)."""
    d = _derived(lines)
    keys = ["usage_start", *DAILY_KEYS, "lineitem_resourceid"]
    aggs = [(c, "sum", pc.ScalarAggregateOptions(min_count=1)) for c in _SUMS]
    aggs += [(c, "max") for c in _MAXES]
    out = d.group_by(keys, use_threads=False).aggregate(aggs)
    names = {f"{c}_sum": v for c, v in _SUMS.items()} | {f"{c}_max": v for c, v in _MAXES.items()}
    return out.rename_columns([names.get(n, n) for n in out.column_names])


def _combine(partials: list[pa.Table]) -> pa.Table:
    """Partials of several row groups merged per (day, keys, resource id) before the daily group-by."""
    if len(partials) == 1:
        return partials[0]
    data = pa.concat_tables(partials)
    keys = ["usage_start", *DAILY_KEYS, "lineitem_resourceid"]
    aggs = [(c, "sum", pc.ScalarAggregateOptions(min_count=1)) for c in _SUMS.values()]
    aggs += [(c, "max") for c in _MAXES.values()]
    out = data.group_by(keys, use_threads=False).aggregate(aggs)
    names = {f"{c}_sum": c for c in _SUMS.values()} | {f"{c}_max": c for c in _MAXES.values()}
    return out.rename_columns([names.get(n, n) for n in out.column_names])


# --- tags and JSON ---------------------------------------------------------------------------------------------

def _json_object(text: str, path: str, column: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputFileError(path, f"not JSON ({exc.msg}): {text[:80]!r}", column) from exc
    if not isinstance(value, dict):
        raise InputFileError(path, f"not a JSON object: {text[:80]!r}", column)
    return value


def _varchar(value: Any) -> str | None:
    """A JSON value as Trino's cast(json AS map(varchar, varchar)) makes it a varchar."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise ValueError("a tag value is an array or object")


def filter_tags(text: str | None, enabled: frozenset[str], path: str = TABLE,
                column: str = "resourcetags") -> str | None:
    """``cast(map_filter(cast(json_parse(tags) AS map(varchar, varchar)), (k, v) -> contains(enabled, k)) AS
    json)``: the JSON object of the enabled keys (``{}`` when none); NULL stays NULL."""
    if text is None:
        return None
    obj = _json_object(text, path, column)
    try:
        kept = {k: _varchar(v) for k, v in obj.items() if k in enabled}
    except ValueError as exc:
        raise InputFileError(path, f"{exc} (Trino cannot cast it to map(varchar, varchar)): {text[:80]!r}",
                             column) from exc
    return json.dumps(dict(sorted(kept.items())), ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=1 << 16)
def _filtered_tags(text: str, enabled: frozenset[str]) -> str | None:
    """filter_tags, remembered across days and chunks of a process (a source's tag texts repeat every day)."""
    return filter_tags(text, enabled)


def _tags_of(text: str | None, enabled: frozenset[str], path: str) -> str | None:
    try:
        return _filtered_tags(text, enabled)
    except InputFileError as exc:  # the message names the file being read, not the default
        raise InputFileError(path, str(exc).split(": ", 1)[-1], "resourcetags") from exc


def _checked_json(text: str | None, path: str, column: str) -> str | None:
    """``json_parse(text)`` stored as jsonb: the same text once it parses (jsonb normalises it)."""
    if text is None:
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        raise InputFileError(path, f"not JSON ({exc.msg}): {text[:80]!r}", column) from exc
    return text


def _per_distinct(arr: pa.ChunkedArray | pa.Array, fn) -> pa.Array:
    """fn applied once per distinct text (tag texts repeat across groups)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = arr.dictionary_encode()
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], type=pa.string())
    return pc.take(mapped, enc.indices)


# --- the daily summary -----------------------------------------------------------------------------------------

def _nullif_empty(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _markups(out: dict[str, Any], sums: dict[str, np.ndarray], markup: float) -> None:
    scales = {"markup_cost": 9, "markup_cost_blended": 15, "markup_cost_savingsplan": 15, "markup_cost_amortized": 9}
    for cost, mcol in MARKUPS.items():
        out[mcol] = to_decimal(sums[cost] * markup, scales[mcol])


def _org_units(rows: pa.Table, alias_ids: pa.Array, units: list[dict[str, Any]]) -> tuple[np.ndarray, pa.Array]:
    """The LEFT JOIN on reporting_awsorganizationalunit: (row index repeated per matching unit, unit ids)."""
    by_alias: dict[int, list[tuple[int, dt.date, dt.date | None]]] = {}
    for u in units:
        by_alias.setdefault(u["account_alias_id"], []).append(
            (u["id"], dt.date.fromisoformat(u["created"]), dt.date.fromisoformat(u["deleted"]) if u["deleted"]
             else None))
    if not by_alias:  # no unit of this source: every row once, no unit (the common case, no Python loop)
        return np.arange(rows.num_rows, dtype=np.int64), pa.nulls(rows.num_rows, pa.int64())
    index: list[int] = []
    ids: list[int | None] = []
    days = rows.column("usage_start").to_pylist()
    for i, (alias, day) in enumerate(zip(alias_ids.to_pylist(), days, strict=True)):
        found = [uid for uid, created, deleted in by_alias.get(alias, ()) if created <= day
                 and (deleted is None or deleted > day)] if alias is not None else []
        for uid in found or [None]:
            index.append(i)
            ids.append(uid)
    return np.asarray(index, dtype=np.int64), pa.array(ids, type=pa.int64())


def daily_rows(agg: pa.Table, manifest: dict[str, Any], path: str = TABLE) -> pa.Table:
    """The table rows of aggregated groups (see aggregate_lines), in staged_schema(AWS_DAILY_TABLE)."""
    n = agg.num_rows
    schema = staged_schema(AWS_DAILY_TABLE)
    if n == 0:
        return schema.empty_table()
    enabled = frozenset(manifest["enabled_keys"])
    markup = float(manifest["markup_value"])
    marketplace = pc.fill_null(pc.equal(agg.column("bill_billingentity"), "AWS Marketplace"), False)
    code = _nullif_empty(agg.column("lineitem_productcode"))
    name = _nullif_empty(agg.column("product_productname"))
    product_code = pc.if_else(marketplace, pc.coalesce(name, code), code)
    aliases: dict[str, int] = manifest["account_aliases"]
    accounts = agg.column("lineitem_usageaccountid").to_pylist()
    alias_ids = pa.array([aliases.get(a) for a in accounts], type=pa.int64())
    sums = {c: agg.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in
            ("usage_amount", "unblended_cost", "blended_cost", "savingsplan_effective_cost",
             "calculated_amortized_cost", "public_on_demand_cost")}
    out: dict[str, Any] = {
        "cost_entry_bill_id": pa.array([manifest["bill_id"]] * n, type=pa.int64()),
        "usage_start": agg.column("usage_start"),
        "usage_end": agg.column("usage_start"),
        "usage_account_id": agg.column("lineitem_usageaccountid"),
        "account_alias_id": alias_ids,
        "product_code": product_code,
        "product_family": _nullif_empty(agg.column("product_productfamily")),
        "availability_zone": _nullif_empty(agg.column("lineitem_availabilityzone")),
        "region": _nullif_empty(agg.column("product_region")),
        "instance_type": _nullif_empty(agg.column("product_instancetype")),
        "unit": _nullif_empty(agg.column("pricing_unit")),
        "resource_ids": agg.column("resource_ids"),
        "resource_count": agg.column("resource_count").cast(pa.int64()),
        **cost_columns(agg, sums),
        "tags": _per_distinct(agg.column("resourcetags"), lambda t: _tags_of(t, enabled, path)),
        "cost_category": _per_distinct(agg.column("costcategory"),
                                       lambda t: _checked_json(t, path, "costcategory")),
        "source_uuid": pa.array([manifest["run"]["source_uuid"]] * n, type=pa.string()),
    }
    _markups(out, sums, markup)
    rows = pa.table({f.name: (out[f.name] if f.name in out else pa.nulls(n, f.type)) for f in schema})
    index, unit_ids = _org_units(rows, alias_ids, manifest["org_units"])
    if len(index) != n:
        rows = rows.take(pa.array(index))
    return rows.set_column(rows.schema.get_field_index("organizational_unit_id"), "organizational_unit_id",
                           unit_ids).cast(schema)


def cost_columns(agg: pa.Table, sums: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """The usage, rate and cost columns both AWS summaries write (daily and EC2 compute), as Koku's SQL casts
    them: sums and rates to numeric(24,9), the normalisation columns as doubles. `agg` holds the group's rates
    and currency, `sums` its summed terms."""
    out = {"usage_amount": to_decimal(sums["usage_amount"], 9),
           "normalization_factor": agg.column("normalization_factor").cast(pa.float64()),
           "normalized_usage_amount": agg.column("normalized_usage_amount").cast(pa.float64()),
           "currency_code": agg.column("currency_code")}
    for rate in ("unblended_rate", "blended_rate", "public_on_demand_rate"):
        out[rate] = to_decimal(agg.column(rate), 9)
    for cost in ("unblended_cost", "blended_cost", "savingsplan_effective_cost", "calculated_amortized_cost",
                 "public_on_demand_cost"):
        out[cost] = to_decimal(sums[cost], 9)
    return out


def _read_columns() -> list[str]:
    return [c.name for c in LINE_COLUMNS if c.name not in ("product_operatingsystem", "product_memory",
                                                          "product_vcpu")]


def compute_daily(ctx: ChunkInput) -> Iterator[tuple[str, pa.Table]]:
    """The chunk's days: each day's row groups reduced as they are read, then Koku's group-by and the rows."""
    source = ParquetSource(source_fs(ctx), ctx.manifest["files"], LINE_COLUMNS, TABLE, time_column=TIME,
                           index=ctx.manifest.get("index"))
    columns = _read_columns()
    day = ctx.first
    while day <= ctx.last:
        ctx.progress("aggregate", {"day": day.isoformat()})
        partials: list[pa.Table] = []
        last_path = TABLE
        for path, part in source.read_day(day, columns):
            partials.append(_partial(part))
            last_path = path
            if len(partials) >= 8:  # keep the pending partials few: merge them
                partials = [_combine(partials)]
        if partials:
            agg = aggregate_lines([_combine(partials)])
            yield AWS_DAILY_TABLE, daily_rows(agg, ctx.manifest, last_path)
        day += dt.timedelta(days=1)
    yield "__stats__", pa.table({"rows_read": [source.rows_read], "bytes_read": [source.bytes_read]})


# --- prepare (PostgreSQL reads) ----------------------------------------------------------------------------------

def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _month_bill(conn, spec: DailyRunSpec) -> int:
    """The bill the run writes under: Koku's bill_id when given (it must be the source's), else the source's bill
    of the month (bills_for_provider_uuid(...).first()), created as Koku's ingestion creates it when missing."""
    table = qualified(spec.schema_name, "reporting_awscostentrybill")
    with conn.cursor() as cur:
        if spec.bill_id is not None:
            cur.execute(sql.SQL("SELECT id FROM {} WHERE id = %s AND provider_id = %s").format(table),
                        (spec.bill_id, spec.source_uuid))
            if cur.fetchone() is None:
                raise MissingInputData(f"bill_id {spec.bill_id} is not a reporting_awscostentrybill row of AWS "
                                       f"source {spec.source_uuid} in {spec.schema_name}")
            return spec.bill_id
        month_start = spec.month_start
        month_end = month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1])
        query = sql.SQL("SELECT id FROM {} WHERE provider_id = %s AND billing_period_start = %s ORDER BY id"
                        " LIMIT 1").format(table)
        cur.execute(query, (spec.source_uuid, _utc(month_start)))
        row = cur.fetchone()
        if row is None:  # standalone use (CLI, demo): AWSReportParquetProcessor.create_bill's row
            ensure_provider(conn, spec.schema_name, spec.source_uuid, f"AWS {spec.source_uuid[:8]}", "AWS")
            cur.execute(sql.SQL("INSERT INTO {} (billing_resource, billing_period_start, billing_period_end,"
                                " provider_id) VALUES ('aws', %s, %s, %s) RETURNING id").format(table),
                        (_utc(month_start), _utc(month_end), spec.source_uuid))
            row = cur.fetchone()
            conn.commit()
        return int(row[0])


def _tenant_reads(conn, spec: DailyRunSpec) -> dict[str, Any]:
    s = spec.schema_name
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT DISTINCT key FROM {} WHERE enabled AND provider_type = 'AWS'").format(
            qualified(s, "reporting_enabledtagkeys")))
        keys = sorted(r[0] for r in cur.fetchall())
        cur.execute(sql.SQL("SELECT account_id, id FROM {}").format(qualified(s, "reporting_awsaccountalias")))
        aliases = {r[0]: int(r[1]) for r in cur.fetchall()}
        cur.execute(sql.SQL("SELECT id, account_alias_id, created_timestamp, deleted_timestamp FROM {}"
                            " WHERE provider_id = %s ORDER BY id").format(
            qualified(s, "reporting_awsorganizationalunit")), (spec.source_uuid,))
        units = [{"id": int(r[0]), "account_alias_id": r[1], "created": r[2].isoformat(),
                  "deleted": r[3].isoformat() if r[3] else None} for r in cur.fetchall()]
    return {"enabled_keys": keys, "account_aliases": aliases, "org_units": units}


def prepare_daily(spec: DailyRunSpec, settings: Settings, conn) -> dict[str, Any]:
    source = open_daily_lines(settings, spec)
    index = source.export_index()  # every footer checked once: missing or mistyped columns fail here
    bill = _month_bill(conn, spec)
    return {"bill_id": bill, "markup_value": spec.markup_value, "files": source.files, "index": index,
            **_tenant_reads(conn, spec)}


def _daily_params(m: dict[str, Any]) -> dict[str, Any]:
    return {"start": dt.date.fromisoformat(m["start_date"]), "end": dt.date.fromisoformat(m["end_date"]),
            "bill": m["bill_id"]}


DAILY = DailyFlow(
    name="AWS",
    tables=(DailyTable(AWS_DAILY_TABLE,
                       # delete_line_item_daily_summary_entries_for_date_range_raw(filters={"cost_entry_bill_id"})
                       "usage_start >= %(start)s AND usage_start <= %(end)s AND cost_entry_bill_id = %(bill)s",
                       _daily_params),),
    prepare=prepare_daily,
    compute=compute_daily,
    lock_name="daily-AWS",
)
