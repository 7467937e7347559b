"""AWS specifics of OCP on AWS: the CUR Parquet Koku writes, the matched-line columns, EBS capacity.

Inputs (spec ocp-on-cloud.md §2.1-2.2): ``aws_line_items_daily`` (one row per resource, day and CUR key, with a
``row_uuid``) under ``data/parquet/daily/{account}/AWS/raw/source=/year=/month=/`` and the hourly
``aws_line_items`` under ``data/parquet/{account}/AWS/source=/year=/month=/`` (only for EBS capacity). Both are
read a day at a time by ``lineitem_usagestartdate``.

:func:`daily_temp` is Koku's step 1 output for the lines of one day (``managed_aws_openshift_daily_temp``):
derived columns, resource-id match, tag match; :func:`ebs_capacities` is step 2's disk capacity.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.cloud.jsontext import TagJsonError, filter_text
from poc_tasks.cloud.matching import SuffixMatcher, matched_tag
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource

__all__ = [
    "COSTS",
    "MARKUPS",
    "CLOUD_ATTRIBUTES",
    "OPENSHIFT_TAG_KEYS",
    "AwsSources",
    "open_aws_sources",
    "daily_temp",
    "ebs_capacities",
    "hours_in_month",
    "round_half_away",
]

TIME = "lineitem_usagestartdate"
# The four cost columns Koku carries, each with its markup column.
COSTS = ("unblended_cost", "blended_cost", "savingsplan_effective_cost", "calculated_amortized_cost")
MARKUPS = {"unblended_cost": "markup_cost", "blended_cost": "markup_cost_blended",
           "savingsplan_effective_cost": "markup_cost_savingsplan",
           "calculated_amortized_cost": "markup_cost_amortized"}
# Cloud columns that travel unchanged from a matched line to every row attributed from it.
CLOUD_ATTRIBUTES = ("resource_id", "product_code", "product_family", "instance_type", "usage_account_id",
                    "availability_zone", "region", "unit", "currency_code")
OPENSHIFT_TAG_KEYS = ("openshift_cluster", "openshift_node", "openshift_project")

DAILY_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("row_uuid", STRING),
    ColumnSpec("lineitem_resourceid", STRING),
    ColumnSpec("bill_billingentity", STRING),
    ColumnSpec("bill_payeraccountid", STRING, required=False),
    ColumnSpec("product_productname", STRING),
    ColumnSpec("lineitem_productcode", STRING),
    ColumnSpec("lineitem_usageaccountid", STRING),
    ColumnSpec("lineitem_availabilityzone", STRING),
    ColumnSpec("product_productfamily", STRING),
    ColumnSpec("product_instancetype", STRING),
    ColumnSpec("product_region", STRING),
    ColumnSpec("pricing_unit", STRING),
    ColumnSpec("resourcetags", STRING),
    ColumnSpec("costcategory", STRING),
    ColumnSpec("lineitem_usageamount", NUMBER),
    ColumnSpec("lineitem_usagetype", STRING),
    ColumnSpec("lineitem_operation", STRING),
    ColumnSpec("lineitem_currencycode", STRING),
    ColumnSpec("lineitem_lineitemtype", STRING),
    ColumnSpec("lineitem_unblendedcost", NUMBER),
    ColumnSpec("lineitem_blendedcost", NUMBER),
    ColumnSpec("savingsplan_savingsplaneffectivecost", NUMBER),
]
RAW_COLUMNS = [
    ColumnSpec(TIME, TIMESTAMP),
    ColumnSpec("lineitem_resourceid", STRING),
    ColumnSpec("lineitem_unblendedcost", NUMBER),
    ColumnSpec("lineitem_unblendedrate", NUMBER),
]
TEMP_COLUMNS = ["row_uuid", "resource_id", "product_code", "usage_start", "usage_account_id", "availability_zone",
                "product_family", "instance_type", "region", "unit", "tags", "aws_cost_category", "usage_amount",
                "data_transfer_direction", "currency_code", *COSTS, "resource_id_matched", "matched_tag"]


@dataclass
class AwsSources:
    daily: ParquetSource
    raw: ParquetSource

    def rows_read(self) -> int:
        return self.daily.rows_read + self.raw.rows_read

    def bytes_read(self) -> int:
        return self.daily.bytes_read + self.raw.bytes_read

    def read_day(self, day: dt.date, columns: list[str]) -> pa.Table | None:
        """Every daily line of the day with the given columns (one day of CUR lines, never more)."""
        parts = [t for _path, t in self.daily.read_day(day, columns)]
        return pa.concat_tables(parts) if parts else None


def open_aws_sources(root: str, account: str, source_uuid: str, year: str, month: str,
                     storage_options: dict[str, Any] | None = None,
                     index: dict[str, Any] | None = None) -> AwsSources:
    """The AWS source-month's daily and raw Parquet in Koku's layout; no daily file is MissingInputData."""
    fs = filesystem(root, storage_options)
    daily_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=True)
    raw_dir = provider_prefix(root, account, "AWS", source_uuid, year, month, daily=False)
    index = index or {}
    daily = ParquetSource(fs, list_parquet(fs, daily_dir), DAILY_COLUMNS, "aws_line_items_daily",
                          time_column=TIME, index=index.get("daily"))
    raw = ParquetSource(fs, list_parquet(fs, raw_dir), RAW_COLUMNS, "aws_line_items", time_column=TIME,
                        index=index.get("raw"))
    if not daily.files:
        raise MissingInputData(f"no aws_line_items_daily Parquet for AWS source {source_uuid} {year}-{month} "
                               f"under {daily_dir}")
    return AwsSources(daily, raw)


def _text(col: pd.Series) -> pd.Series:
    """varchar column with NULL and '' both meaning 'empty' for the tests below ('' = NULL after nullif)."""
    return col.astype(object).where(col.notna(), None)


def _nullif_empty(col: pd.Series) -> pd.Series:
    col = _text(col)
    return col.where(col != "", None)


def _contains_lower(col: pd.Series, needle: str) -> np.ndarray:
    return col.str.lower().str.contains(needle, regex=False, na=False).to_numpy(dtype=bool)


def transfer_direction(product_code: pd.Series, family: pd.Series, usage_type: pd.Series,
                       operation: pd.Series) -> pd.Series:
    """'IN' / 'OUT' for EC2 data-transfer lines (Koku's order of tests), NULL otherwise."""
    network = ((product_code == "AmazonEC2") & (family == "Data Transfer")).fillna(False).to_numpy(dtype=bool)
    regional = _contains_lower(usage_type, "regional-bytes")
    choices = [
        _contains_lower(usage_type, "in-bytes"),
        _contains_lower(usage_type, "out-bytes"),
        regional & _contains_lower(operation, "-in"),
        regional & _contains_lower(operation, "-out"),
    ]
    out = np.select(choices, ["IN", "OUT", "IN", "OUT"], default=None)
    return pd.Series(np.where(network, out, None), index=product_code.index, dtype=object)


def product_code(billing_entity: pd.Series, product_name: pd.Series, code: pd.Series) -> pd.Series:
    """Marketplace lines are named by their product name (if any), others by lineitem_productcode; '' is NULL."""
    name, code_n = _nullif_empty(product_name), _nullif_empty(code)
    marketplace = (billing_entity == "AWS Marketplace").fillna(False).to_numpy(dtype=bool)
    return pd.Series(np.where(marketplace, name.where(name.notna(), code_n), code_n), index=code.index,
                     dtype=object)


def costs(line_type: pd.Series, unblended: pd.Series, blended: pd.Series,
          savingsplan: pd.Series) -> dict[str, np.ndarray]:
    """The four cost columns of a matched line (COST-5098: SavingsPlanCoveredUsage shows no unblended cost;
    amortized = unblended for Tax and Usage lines, the savings-plan effective cost for every other type)."""
    covered = (line_type == "SavingsPlanCoveredUsage").fillna(False).to_numpy(dtype=bool)
    tax_or_usage = line_type.isin(["Tax", "Usage"]).to_numpy(dtype=bool)
    u, b, s = (c.to_numpy(dtype=float) for c in (unblended, blended, savingsplan))
    return {
        "unblended_cost": np.where(covered, 0.0, u),
        "blended_cost": np.where(covered, 0.0, b),
        "savingsplan_effective_cost": s,
        "calculated_amortized_cost": np.where(tax_or_usage, u, s),
    }


def _mapped(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """fn applied once per distinct value (tag texts repeat across lines)."""
    uniques = pd.unique(values.to_numpy(dtype=object))
    lookup = {v: fn(v) for v in uniques}
    return pd.Series([lookup[v] for v in values.to_numpy(dtype=object)], index=values.index, dtype=object)


def daily_temp(day_table: pa.Table, matcher: SuffixMatcher, candidates: list[str],
               enabled_aws_keys: Iterable[str], path_hint: str = "aws_line_items_daily") -> pd.DataFrame:
    """Koku's step 1 for one day of daily CUR lines: the lines that belong to the cluster, in the temp shape.

    A line is kept when its resource id ends with a node / volume id (`matcher`; resource_id_matched) or, if
    not, when a candidate occurs in its raw tag text (matched_tag). `tags` keeps only the enabled AWS keys and the
    openshift_* keys. A tag text that is not a JSON object raises InputFileError naming the column.
    """
    df = day_table.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    rid = _text(df["lineitem_resourceid"])
    resource_matched = _mapped(rid, matcher.matches).astype(bool).to_numpy()
    raw_tags = _text(df["resourcetags"])
    hits = _mapped(raw_tags, lambda t: matched_tag(t, candidates))
    hits = hits.where(~resource_matched, None)  # resource matching wins: such lines are never tag-matched
    keep = resource_matched | hits.notna().to_numpy()
    df, rid, raw_tags, hits = df[keep], rid[keep], raw_tags[keep], hits[keep]
    resource_matched = resource_matched[keep]
    keys = frozenset(enabled_aws_keys) | frozenset(OPENSHIFT_TAG_KEYS)
    try:
        tags = _mapped(raw_tags, lambda t: filter_text(t, keys))
    except TagJsonError as exc:
        raise InputFileError(path_hint, f"unusable tag JSON: {exc}", "resourcetags") from exc
    out = pd.DataFrame({
        "row_uuid": _text(df["row_uuid"]),
        "resource_id": rid.where(rid != "", None),
        "product_code": product_code(df["bill_billingentity"], df["product_productname"], df["lineitem_productcode"]),
        "usage_start": df[TIME].dt.date,
        "usage_account_id": _text(df["lineitem_usageaccountid"]),
        "availability_zone": _nullif_empty(df["lineitem_availabilityzone"]),
        "product_family": _nullif_empty(df["product_productfamily"]),
        "instance_type": _nullif_empty(df["product_instancetype"]),
        "region": _nullif_empty(df["product_region"]),
        "unit": _nullif_empty(df["pricing_unit"]),
        "tags": tags,
        "aws_cost_category": _text(df["costcategory"]),
        "usage_amount": df["lineitem_usageamount"].to_numpy(dtype=float),
        "data_transfer_direction": transfer_direction(df["lineitem_productcode"], df["product_productfamily"],
                                                      df["lineitem_usagetype"], df["lineitem_operation"]),
        "currency_code": _nullif_empty(df["lineitem_currencycode"]),
        **costs(df["lineitem_lineitemtype"], df["lineitem_unblendedcost"], df["lineitem_blendedcost"],
                df["savingsplan_savingsplaneffectivecost"]),
        "resource_id_matched": resource_matched,
        "matched_tag": hits,
    })
    return out.reset_index(drop=True)[TEMP_COLUMNS]


def hours_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1] * 24


def round_half_away(x: float) -> float:
    """Trino's round(double): half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def ebs_capacities(raw: ParquetSource, day: dt.date, resource_ids: Iterable[str]) -> dict[str, int]:
    """Step 2's disk capacity in GiB for the given resources on one day, from the hourly lines.

    capacity = round(max(unblended cost) / (max(unblended rate) / hours in the month)); only capacity > 0 is
    kept, as an integer. A disk with zero rate and non-zero cost (an infinite capacity, on which Koku's insert
    into the integer column fails) is left out: it is then attributed like any other resource.
    """
    wanted = sorted({r for r in resource_ids if r})
    if not wanted:
        return {}
    hours = hours_in_month(day)
    value_set = pa.array(wanted, type=pa.string())
    parts = []
    for _path, tbl in raw.read_day(day, ["lineitem_resourceid", "lineitem_unblendedcost", "lineitem_unblendedrate"]):
        tbl = tbl.filter(pc.is_in(tbl.column("lineitem_resourceid"), value_set=value_set))
        if tbl.num_rows:
            parts.append(tbl.group_by("lineitem_resourceid").aggregate(
                [("lineitem_unblendedcost", "max"), ("lineitem_unblendedrate", "max")]))
    if not parts:
        return {}
    maxima = pa.concat_tables(parts).group_by("lineitem_resourceid").aggregate(
        [("lineitem_unblendedcost_max", "max"), ("lineitem_unblendedrate_max", "max")]).to_pylist()
    out: dict[str, int] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for row in maxima:
            cost, rate = row["lineitem_unblendedcost_max_max"], row["lineitem_unblendedrate_max_max"]
            if cost is None or rate is None:
                continue
            value = float(np.float64(cost) / (np.float64(rate) / hours))
            if not math.isfinite(value):
                continue
            value = round_half_away(value)
            if value > 0:
                out[row["lineitem_resourceid"]] = int(value)
    return out
