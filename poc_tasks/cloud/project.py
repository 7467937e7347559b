"""The rows Koku writes to PostgreSQL from the final managed rows: the project daily summary (step 3) and the
OCP rows back-populated into ``reporting_ocpusagelineitem_daily_summary`` (spec ocp-on-cloud.md §4.3, §5.1).

Pure functions over one day's frames. Numbers stay float64 (what Trino hands to PostgreSQL); the one place where
PostgreSQL's rounding changes a result is emulated: the back-populated cost sums the project table's
``numeric(33,9)`` amortized columns *after* they were rounded on insert.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable

import numpy as np
import pandas as pd

from poc_tasks.cloud.attribution import CloudProfile
from poc_tasks.cloud.jsontext import TagJsonError, filter_text, parse_map
from poc_tasks.errors import InputFileError
from poc_tasks.ocp.frames import sql_group

__all__ = ["project_tag_keys", "project_rows", "back_populate_rows", "PROJECT_KEYS", "BACK_POPULATE_COLUMNS",
           "ZERO_USAGE_COST", "json_value_text"]

VM_NAME_KEY = "vm_kubevirt_io_name"
PROJECT_KEYS = ["usage_start", "cluster_id", "data_source", "namespace", "node", "persistentvolumeclaim",
                "persistentvolume", "storageclass", "resource_id", "product_code", "product_family", "instance_type",
                "usage_account_id", "availability_zone", "region", "unit", "data_transfer_direction",
                "currency_code", "enabled_tags", "category_json", "cost_category_id"]
ZERO_USAGE_COST = '{"cpu": 0.000000000, "memory": 0.000000000, "storage": 0.000000000}'


def project_tag_keys(enabled_keys: Iterable[str]) -> frozenset[str]:
    """Step 3's key list: ['vm_kubevirt_io_name'] || the keys enabled for the cloud or OCP. With no enabled key at
    all the aggregate is NULL, NULL || array is NULL, and no key survives (not even the VM name)."""
    keys = frozenset(enabled_keys)
    return keys | {VM_NAME_KEY} if keys else frozenset()


def json_value_text(text: str | None) -> str | None:
    """json_parse(text) as a grouping key: canonical JSON text ('' and NULL are NULL; documented deviation: Trino's
    json_parse('') fails)."""
    if text is None or text == "":
        return None
    mapping = parse_map(text)
    return None if mapping is None else _canonical(mapping)


def _canonical(mapping: dict) -> str:
    import json

    return json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _mapped(values: pd.Series, fn) -> list:
    uniques = pd.unique(values.to_numpy(dtype=object))
    lookup = {v: fn(v) for v in uniques}
    return [lookup[v] for v in values.to_numpy(dtype=object)]


def project_rows(final: pd.DataFrame, tag_keys: frozenset[str], profile: CloudProfile) -> pd.DataFrame:
    """Step 3: the final rows grouped as Koku's INSERT into the project table groups them.

    Output columns: the PROJECT_KEYS (``enabled_tags`` becomes pod_labels and tags, ``category_json`` the
    cloud's category column), cluster_alias and account_alias_id (max), sums of usage_amount, the data in / out
    (usage of IN / OUT lines, 0 otherwise) and every cost and markup column.
    """
    sums = ["usage_amount", "infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes",
            *profile.costs, *profile.markups.values()]
    if final.empty:
        return pd.DataFrame(columns=[*PROJECT_KEYS, "cluster_alias", "account_alias_id", *sums])
    plain = [k for k in PROJECT_KEYS if k not in ("enabled_tags", "category_json")]
    # only the columns step 3 reads: the final rows of a 50,000-pod day are ~100 k rows of ~40 columns
    f = final[[*plain, "cluster_alias", "account_alias_id", "tags", "usage_amount", *profile.costs,
               *profile.markups.values(), *([profile.category] if profile.category else [])]].copy()
    f["enabled_tags"] = _mapped(f["tags"], lambda t: filter_text(t, tag_keys))
    if profile.category:
        try:
            f["category_json"] = _mapped(f[profile.category], json_value_text)
        except TagJsonError as exc:
            raise InputFileError("aws_line_items_daily", f"unusable cost category JSON: {exc}",
                                 "costcategory") from exc
    else:
        f["category_json"] = None
    direction = f["data_transfer_direction"].astype(object).str.upper()
    usage = f["usage_amount"].to_numpy(dtype=float)
    f["infrastructure_data_in_gigabytes"] = np.where((direction == "IN").to_numpy(dtype=bool), usage, 0.0)
    f["infrastructure_data_out_gigabytes"] = np.where((direction == "OUT").to_numpy(dtype=bool), usage, 0.0)
    for c in ("cost_category_id", "account_alias_id"):
        f[c] = pd.to_numeric(f[c], errors="coerce").astype("float64")
    aggs = {"cluster_alias": "max", "account_alias_id": "max", **{c: "sum" for c in sums}}
    for c in sums:
        f[c] = f[c].astype("float64")
    f["usage_start"] = f["usage_start"].astype(str)
    out = sql_group(f[[*PROJECT_KEYS, *aggs]], PROJECT_KEYS, aggs)
    out["usage_start"] = pd.to_datetime(out["usage_start"]).dt.date
    return out


_NANO = decimal.Decimal("1e-9")


def numeric_9_nanos(values: np.ndarray) -> np.ndarray:
    """What numeric(33,9) stores for each float sent as its shortest text (half away from zero), in units of
    1e-9 (int64, so that sums are exact); NaN -> a masked value (returned as float NaN in a float array)."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.tolist()):
        if v == v:  # not NaN
            d = decimal.Decimal(repr(v)).quantize(_NANO, rounding=decimal.ROUND_HALF_UP)
            out[i] = float(d.scaleb(9))
    return out


BACK_POPULATE_COLUMNS = [
    "report_period_id", "usage_start", "usage_end", "cluster_id", "cluster_alias", "namespace", "data_source", "node",
    "persistentvolumeclaim", "persistentvolume", "storageclass", "resource_id", "pod_labels", "volume_labels",
    "all_labels", "source_uuid", "infrastructure_raw_cost", "infrastructure_project_raw_cost",
    "infrastructure_usage_cost", "supplementary_usage_cost", "infrastructure_data_in_gigabytes",
    "infrastructure_data_out_gigabytes", "raw_currency", "cost_category_id",
    "pod_usage_cpu_core_hours", "pod_request_cpu_core_hours", "pod_limit_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours", "pod_request_memory_gigabyte_hours", "pod_limit_memory_gigabyte_hours",
    "node_capacity_cpu_cores", "node_capacity_cpu_core_hours", "node_capacity_memory_gigabytes",
    "node_capacity_memory_gigabyte_hours", "cluster_capacity_cpu_core_hours",
    "cluster_capacity_memory_gigabyte_hours", "persistentvolumeclaim_capacity_gigabyte",
    "persistentvolumeclaim_capacity_gigabyte_months", "volume_request_storage_gigabyte_months",
    "persistentvolumeclaim_usage_gigabyte_months",
]
_ZERO_COLUMNS = BACK_POPULATE_COLUMNS[BACK_POPULATE_COLUMNS.index("pod_usage_cpu_core_hours"):]


def back_populate_rows(project: pd.DataFrame, report_period_id: int, ocp_source_uuid: str,
                       cost: str = "calculated_amortized_cost",
                       markup: str = "markup_cost_amortized") -> pd.DataFrame:
    """OCP rows carrying the attributed cloud cost (reporting_ocpaws_ocp_infrastructure_back_populate.sql).

    One row per (day, cluster, alias, namespace, data_source, node, PVC, resource, labels, direction) of the
    project rows: infrastructure_raw_cost = infrastructure_project_raw_cost = sum(cost + markup) over the stored
    (numeric(33,9)) values, a row with either NULL contributing nothing; data in / out = the group's sum for
    IN / OUT rows, NULL otherwise; labels: pod_labels on Pod rows, volume_labels on Storage rows, '{}' else;
    every usage and capacity column 0.
    """
    if project.empty:
        return pd.DataFrame(columns=BACK_POPULATE_COLUMNS)
    keys = ["usage_start", "cluster_id", "cluster_alias", "namespace", "data_source", "node", "persistentvolumeclaim",
            "resource_id", "enabled_tags", "data_transfer_direction"]
    p = project[keys].copy()
    # nanos as int64: exact sums of the stored values (float64 would be exact only up to 2**53 nanos = 9e6)
    nanos = (numeric_9_nanos(project[cost].to_numpy(dtype=float))
             + numeric_9_nanos(project[markup].to_numpy(dtype=float)))
    p["raw_nanos"] = pd.array(np.where(np.isnan(nanos), 0, nanos).astype(np.int64), dtype="Int64")
    p.loc[np.isnan(nanos), "raw_nanos"] = pd.NA
    for c in ("persistentvolume", "storageclass", "currency_code"):
        p[c] = project[c]
    for c in ("infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes", "cost_category_id"):
        p[c] = pd.to_numeric(project[c], errors="coerce").astype("float64")
    p["usage_start"] = p["usage_start"].astype(str)
    aggs = {"raw_nanos": "sum", "persistentvolume": "max", "storageclass": "max", "currency_code": "max",
            "infrastructure_data_in_gigabytes": "sum", "infrastructure_data_out_gigabytes": "sum",
            "cost_category_id": "max"}
    g = sql_group(p, keys, aggs)
    total = pd.to_numeric(g["raw_nanos"], errors="coerce").to_numpy(dtype=float) / 1e9
    upper = g["data_transfer_direction"].astype(object).str.upper()
    source = g["data_source"]
    labels = g["enabled_tags"]
    out = pd.DataFrame({
        "report_period_id": report_period_id,
        "usage_start": pd.to_datetime(g["usage_start"]).dt.date,
        "cluster_id": g["cluster_id"], "cluster_alias": g["cluster_alias"], "namespace": g["namespace"],
        "data_source": source, "node": g["node"], "persistentvolumeclaim": g["persistentvolumeclaim"],
        "persistentvolume": g["persistentvolume"], "storageclass": g["storageclass"],
        "resource_id": g["resource_id"],
        "pod_labels": labels.where(source == "Pod", "{}"),
        "volume_labels": labels.where(source == "Storage", "{}"),
        "all_labels": labels,
        "source_uuid": ocp_source_uuid,
        "infrastructure_raw_cost": total,
        "infrastructure_project_raw_cost": total,
        "infrastructure_usage_cost": ZERO_USAGE_COST,
        "supplementary_usage_cost": ZERO_USAGE_COST,
        "infrastructure_data_in_gigabytes": g["infrastructure_data_in_gigabytes"].where(upper == "IN"),
        "infrastructure_data_out_gigabytes": g["infrastructure_data_out_gigabytes"].where(upper == "OUT"),
        "raw_currency": g["currency_code"],
        "cost_category_id": g["cost_category_id"],
    })
    out["usage_end"] = out["usage_start"]
    for c in _ZERO_COLUMNS:
        out[c] = 0.0
    return out[BACK_POPULATE_COLUMNS]
