"""The eight reporting_ocpaws_*_p UI summary tables (Koku's trino_sql/aws/openshift/ui_summary/*.sql).

Each is a filter and a GROUP BY over the final managed rows of a day (not over the project table: the sums run
over float64 values before PostgreSQL rounds them): cluster id / alias, account alias and currency are maxima,
the eight cost columns sums; ``cost_category_id`` is kept (max) only by ``reporting_ocpaws_cost_summary_p``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc_tasks.cloud.aws import COSTS, MARKUPS
from poc_tasks.ocp.frames import sql_group

__all__ = ["UiTable", "AWS_UI_TABLES", "ui_rows", "combine_ui_rows"]

Filter = Callable[[pd.DataFrame], np.ndarray]
DATABASE_CODES = ("AmazonRDS", "AmazonDynamoDB", "AmazonElastiCache", "AmazonNeptune", "AmazonRedshift",
                  "AmazonDocumentDB")
NETWORK_CODES = ("AmazonVPC", "AmazonCloudFront", "AmazonRoute53", "AmazonAPIGateway")  # not EC2 data transfer
COST_COLUMNS = [*COSTS, *MARKUPS.values()]


@dataclass(frozen=True)
class UiTable:
    name: str
    keys: tuple[str, ...] = ()  # GROUP BY besides usage_start
    usage: bool = False  # sum(usage_amount) and max(unit)
    cost_category: bool = False  # max(cost_category_id)
    where: Filter | None = None


def _isin(column: str, values: tuple[str, ...]) -> Filter:
    return lambda f: f[column].isin(values).to_numpy(dtype=bool)


def _storage(f: pd.DataFrame) -> np.ndarray:
    family = f["product_family"].astype(object)
    return (family.str.contains("Storage", regex=False, na=False) & (f["unit"] == "GB-Mo")).to_numpy(dtype=bool)


_ACCOUNT = ("usage_account_id", "account_alias_id")
AWS_UI_TABLES = (
    UiTable("reporting_ocpaws_compute_summary_p", (*_ACCOUNT, "instance_type", "resource_id"), usage=True,
            where=lambda f: f["instance_type"].notna().to_numpy(dtype=bool)),
    UiTable("reporting_ocpaws_cost_summary_p", cost_category=True),
    UiTable("reporting_ocpaws_cost_summary_by_account_p", _ACCOUNT),
    UiTable("reporting_ocpaws_cost_summary_by_region_p", (*_ACCOUNT, "region", "availability_zone")),
    UiTable("reporting_ocpaws_cost_summary_by_service_p", (*_ACCOUNT, "product_code", "product_family")),
    UiTable("reporting_ocpaws_database_summary_p", (*_ACCOUNT, "product_code"), usage=True,
            where=_isin("product_code", DATABASE_CODES)),
    UiTable("reporting_ocpaws_network_summary_p", (*_ACCOUNT, "product_code"), usage=True,
            where=_isin("product_code", NETWORK_CODES)),
    UiTable("reporting_ocpaws_storage_summary_p", (*_ACCOUNT, "product_family"), usage=True, where=_storage),
)


def _aggs(table: UiTable) -> tuple[list[str], dict[str, str]]:
    aggs = {"cluster_id": "max", "cluster_alias": "max", "currency_code": "max", **{c: "sum" for c in COST_COLUMNS}}
    if table.usage:
        aggs.update({"usage_amount": "sum", "unit": "max"})
    if table.cost_category:
        aggs["cost_category_id"] = "max"
    return ["usage_start", *table.keys], aggs


def _group(f: pd.DataFrame, keys: list[str], aggs: dict[str, str]) -> pd.DataFrame:
    f = f[list(dict.fromkeys([*keys, *aggs]))].copy()
    for c in ("account_alias_id", "cost_category_id"):
        if c in f.columns:
            f[c] = pd.to_numeric(f[c], errors="coerce").astype("float64")
    for c, fn in aggs.items():
        if fn == "sum":
            f[c] = f[c].astype("float64")
    f["usage_start"] = f["usage_start"].astype(str)
    out = sql_group(f, keys, aggs)
    out["usage_start"] = pd.to_datetime(out["usage_start"]).dt.date
    return out[[*keys, *aggs]]


def ui_rows(final: pd.DataFrame, table: UiTable) -> pd.DataFrame:
    """One day's rows of a UI table (without id, usage_end and source_uuid, which the writer adds)."""
    keys, aggs = _aggs(table)
    columns = [*keys, *aggs]
    if final.empty:
        return pd.DataFrame(columns=columns)
    f = final if table.where is None else final[table.where(final)]
    if f.empty:
        return pd.DataFrame(columns=columns)
    return _group(f, keys, aggs)


def combine_ui_rows(parts: list[pd.DataFrame], table: UiTable) -> pd.DataFrame:
    """ui_rows of parts of a day's final rows, combined (sums of sums, maxima of maxima)."""
    keys, aggs = _aggs(table)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=[*keys, *aggs])
    if len(parts) == 1:
        return parts[0]
    return _group(pd.concat([p.astype(object) for p in parts], ignore_index=True), keys, aggs)
