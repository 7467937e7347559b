"""Azure specifics of OCP on Azure: the Parquet Koku writes, the matched lines (step 1), disk sizes and the step-2
rows that differ from AWS (spec ocp-on-cloud.md §2.3, §4.1, §4.2 "Azure, where it differs").

Input: ``azure_line_items`` only (Azure exports are daily already; Koku has no daily Azure table) under
``data/parquet/{account}/Azure/source=/year=/month=/``, read a day at a time by ``date``.

What differs from AWS, as Koku's SQL does it:
- a line's ``resource_id`` is the 9th ``/``-field of its resource id (Trino ``split_part``: NULL when there are
  fewer fields), i.e. the VM or disk name; the line is *matched* when a node, PV name or CSI handle of the chunk
  occurs anywhere in the full resource id;
- units are rewritten (:func:`unit_of_measure`) and quantities multiplied by the unit's leading number
  (:func:`usage_multiplier`), with Trino's ``split_part`` semantics: '1 Hour' stays '1 Hour';
- managed disks are sized through ``public.reporting_common_diskcapacity`` (meter name containing a tier name and
  a space), not from the bill; OS disks (``..._OSDisk``) are split with their VM by the pods' usage;
- costs and usage are cast to decimal(24,9) before they are split (direct, tag and network rows);
- data transfer is recognised from ``AdditionalInfo.DataTransferDirection`` (lower-cased: 'datatrin' /
  'datatrout') on 'Virtual Network' lines of a matched VM, and charged whole to the node ('Network unattributed').

The frames here are one day's; the chunk-wide inputs (disk sizes of the chunk, each disk's total PV capacity) are
computed by the run's first pass with :func:`disk_capacities` and :func:`pv_capacity_contributions`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import tenant
from poc_tasks.cloud.attribution import (
    NETWORK_UNATTRIBUTED,
    PVC_CAPACITY,
    STORAGE_UNATTRIBUTED,
    CloudProfile,
    final_columns,
)
from poc_tasks.cloud.frames import mapped_once, str_mask, text_column
from poc_tasks.cloud.jsontext import filter_text
from poc_tasks.cloud.matching import ContainsMatcher, contained_pairs, step1_lines
from poc_tasks.cloud.ocp_input import read_ocp_rows
from poc_tasks.cloud.outputs import CostTerm, UiTable, group_rows
from poc_tasks.cloud.provider import (
    ChunkContext,
    ChunkState,
    DaySources,
    day_parts,
    module_provider,
    tag_hooks,
)
from poc_tasks.cloud.spec import CloudRunSpec
from poc_tasks.cloud.sqlfn import decimal_9_array, like, split_part
from poc_tasks.cloud.tag_summary import TagTables
from poc_tasks.db.tables_azure import OCPAZURE_PROJECT_TABLE, OCPAZURE_TAGS_SUMMARY, OCPAZURE_TAGS_VALUES
from poc_tasks.errors import ConfigurationError, InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import ParquetSource, line_columns
from poc_tasks.ocp.frames import sql_group

__all__ = [
    "PROFILE",
    "LINE_COLUMNS",
    "NARROW_COLUMNS",
    "open_sources",
    "unit_of_measure",
    "usage_multiplier",
    "daily_temp",
    "disk_capacities",
    "pv_capacity_contributions",
    "pv_capacity_totals",
    "storage_rows",
    "direct_rows",
    "network_rows",
    "step2_rows",
    "project_rows",
    "UI_TABLES",
    "PROVIDER",
]

TIME = "date"
PROFILE = CloudProfile(
    costs=("pretax_cost",),
    markups={"pretax_cost": "markup_cost"},
    attributes=("resource_id", "service_name", "instance_type", "subscription_guid", "subscription_name",
                "resource_location", "unit_of_measure", "currency"),
    category=None,
)
LINE_COLUMNS = line_columns(
    TIME,
    "row_uuid resourceid servicename metercategory metername consumedservice additionalinfo "
    "subscriptionid subscriptionguid subscriptionname resourcelocation unitofmeasure quantity "
    "billingcurrencycode billingcurrency costinbillingcurrency tags",
    numbers=frozenset({"quantity", "costinbillingcurrency"}),
)
NARROW_COLUMNS = ["resourceid", "servicename", "metercategory", "metername"]
TEMP_COLUMNS = ["row_uuid", "usage_start", "resource_id", "complete_resource_id", "service_name",
                "data_transfer_direction", "instance_type", "subscription_guid", "subscription_name",
                "resource_location", "unit_of_measure", "usage_amount", "currency", "pretax_cost", "metername", "tags",
                "resource_id_matched", "matched_tag"]
EFF, CAPS = (attr.EFF_CPU, attr.EFF_MEM), (attr.CAP_CPU, attr.CAP_MEM)


# --- input ---------------------------------------------------------------------------------------------------

def open_sources(root: str, account: str, source_uuid: str, year: str, month: str,
                       storage_options: dict[str, Any] | None = None) -> DaySources:
    """The Azure source-month's azure_line_items Parquet; none is MissingInputData (Koku: no bill, no run)."""
    fs = filesystem(root, storage_options)
    folder = provider_prefix(root, account, "Azure", source_uuid, year, month, daily=False)
    lines = ParquetSource(fs, list_parquet(fs, folder), LINE_COLUMNS, "azure_line_items", time_column=TIME)
    if not lines.files:
        raise MissingInputData(f"no azure_line_items Parquet for Azure source {source_uuid} {year}-{month} "
                               f"under {folder}")
    return DaySources({(year, month): lines})


# --- step 1: the matched lines -----------------------------------------------------------------------------------

def unit_of_measure(unit: str | None) -> str | None:
    """Koku's rewrite: 2nd word 'Hours' -> 'Hrs', 'GB/Month' -> 'GB-Mo'; a non-empty 2nd word followed by an empty
    3rd one (a trailing space) -> the 2nd word; anything else unchanged (Trino: '1 Hour' has no 3rd field, so
    ``split_part(.., 3) = ''`` is NULL and the unit stays '1 Hour')."""
    second = split_part(unit, " ", 2)
    if second == "Hours":
        return "Hrs"
    if second == "GB/Month":
        return "GB-Mo"
    if second is not None and second != "" and split_part(unit, " ", 3) == "":
        return second
    return unit


_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def usage_multiplier(unit: str | None, meter_category: str | None) -> int:
    """The factor Koku multiplies the quantity by: the unit's leading number when it is numeric and a 2nd word
    follows, except for '100 Hours' on Virtual Machines (already hours); otherwise 1. Koku casts the number to an
    integer, which fails its whole query for a decimal like '0.5 GB'; that raises ValueError here."""
    first, second = split_part(unit, " ", 1), split_part(unit, " ", 2)
    if first is None or not _NUMBER.fullmatch(first) or second is None or second == "":
        return 1
    if unit == "100 Hours" and meter_category == "Virtual Machines":
        return 1
    if "." in first:
        raise ValueError(f"unit {unit!r}: Koku casts {first!r} to an integer, which fails")
    return int(first)


def _coalesce_nullif(first: pd.Series, second: pd.Series) -> pd.Series:
    """coalesce(nullif(first, ''), second)."""
    a = text_column(first)
    return a.where(a.notna() & (a != ""), text_column(second))


def _json_or_empty(text: str | None) -> Any:
    if text is None:
        return None
    if text == "":
        return {}
    return json.loads(text)


def _scalar(value: Any) -> str | None:
    """json_extract_scalar: strings as they are, numbers and booleans as JSON text, null / objects NULL."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def additional_info(text: str | None) -> tuple[str | None, bool, str | None]:
    """(ServiceType, has datatransferdirection, its value) of an AdditionalInfo text: ``$.ServiceType`` of the
    JSON, and ``$.datatransferdirection`` of the *lower-cased* JSON text (so 'DataTrIn' reads 'datatrin')."""
    obj = _json_or_empty(text)
    service_type = _scalar(obj.get("ServiceType")) if isinstance(obj, dict) else None
    low = _json_or_empty(text.lower()) if text is not None else None
    has = isinstance(low, dict) and "datatransferdirection" in low
    return service_type, has, (_scalar(low["datatransferdirection"]) if has else None)


def daily_temp(day_table: pa.Table, matcher: ContainsMatcher, candidates: Sequence[str],
               enabled_azure_keys: Iterable[str], path_hint: str = "azure_line_items") -> pd.DataFrame:
    """Koku's step 1 for one day of Azure lines (managed_azure_openshift_daily_temp).

    A line is kept when a node, PV or CSI handle occurs in its resource id (resource_id_matched) or, if not, when a
    candidate occurs in its raw tag text (matched_tag). Unusable tag or AdditionalInfo JSON raises InputFileError
    naming the column (Koku's json_parse fails the whole query).
    """
    df = day_table.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    rid = text_column(df["resourceid"])
    matched = mapped_once(rid, matcher.matches).astype(bool).to_numpy()
    keep, hits, tags = step1_lines(matched, text_column(df["tags"]), candidates, enabled_azure_keys, path_hint, "tags")
    df, rid, matched = df[keep], rid[keep], matched[keep]
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    try:
        info = mapped_once(text_column(df["additionalinfo"]), additional_info)
    except (ValueError, AttributeError) as exc:
        raise InputFileError(path_hint, f"unusable AdditionalInfo JSON: {exc}", "additionalinfo") from exc
    service = _coalesce_nullif(df["servicename"], df["metercategory"])
    consumed = text_column(df["consumedservice"]).str.lower()
    network = ((service == "Virtual Network").to_numpy(dtype=bool)
               & (consumed == "microsoft.compute").fillna(False).to_numpy(dtype=bool)
               & np.array([i[1] for i in info], dtype=bool) & matched)
    direction = [i[2] if n else None for i, n in zip(info, network, strict=True)]
    unit = text_column(df["unitofmeasure"])
    try:
        factor = [usage_multiplier(u, m) for u, m in zip(unit, text_column(df["metercategory"]), strict=True)]
    except ValueError as exc:
        raise InputFileError(path_hint, str(exc), "unitofmeasure") from exc
    out = pd.DataFrame({
        "row_uuid": text_column(df["row_uuid"]),
        "usage_start": df[TIME].dt.date,
        "resource_id": [split_part(r, "/", 9) for r in rid],
        "complete_resource_id": rid,
        "service_name": service,
        "data_transfer_direction": pd.Series(direction, index=df.index, dtype=object),
        "instance_type": pd.Series([i[0] for i in info], index=df.index, dtype=object),
        "subscription_guid": _coalesce_nullif(df["subscriptionid"], df["subscriptionguid"]),
        "subscription_name": text_column(df["subscriptionname"]),
        "resource_location": text_column(df["resourcelocation"]),
        "unit_of_measure": mapped_once(unit, unit_of_measure),
        "usage_amount": df["quantity"].to_numpy(dtype=float) * np.array(factor, dtype=float),
        "currency": _coalesce_nullif(df["billingcurrencycode"], df["billingcurrency"]),
        "pretax_cost": df["costinbillingcurrency"].to_numpy(dtype=float),
        "metername": text_column(df["metername"]),
        "tags": tags,
        "resource_id_matched": matched,
        "matched_tag": hits,
    })
    return out.reset_index(drop=True)[TEMP_COLUMNS]


# --- disk sizes (first pass, narrow columns) ------------------------------------------------------------------

def _os_disk(resource_id: str | None) -> bool:
    """lower(resource_id) LIKE '%_osdisk' ('_' is any one character): ends with 'osdisk' after >= 1 character.
    NULL is not kept either (NULL NOT LIKE .. is NULL)."""
    return resource_id is None or like(resource_id.lower(), "%_osdisk")


def disk_capacities(narrow: pd.DataFrame, matched: np.ndarray,
                    tiers: Sequence[tuple[str, int]]) -> dict[str, int]:
    """managed_azure_openshift_disk_capacities_temp for one day: resource name -> the largest capacity (GiB) of a
    tier whose name, followed by a space, occurs in the meter name, over the day's matched storage lines of
    managed disks (resource id with 'Microsoft.Compute/disks/', not an OS disk). Columns of `narrow`:
    resourceid, servicename, metercategory, metername."""
    if narrow.empty:
        return {}
    service = _coalesce_nullif(narrow["servicename"], narrow["metercategory"])
    rid = text_column(narrow["resourceid"])
    cand = (matched & service.str.contains("Storage", regex=False, na=False).to_numpy(dtype=bool)
            & rid.str.contains("Microsoft.Compute/disks/", regex=False, na=False).to_numpy(dtype=bool))
    out: dict[str, int] = {}
    sizes: dict[str | None, int | None] = {}
    for full, meter in zip(rid[cand], text_column(narrow["metername"])[cand], strict=True):
        name = split_part(full, "/", 9)
        if _os_disk(name):
            continue
        if meter not in sizes:
            fits = [cap for sub, cap in tiers if like(meter, f"%{sub} %")]
            sizes[meter] = max(fits) if fits else None
        cap = sizes[meter]
        if cap is not None and name is not None and (name not in out or cap > out[name]):
            out[name] = cap
    return out


def _pv_or_csi_pairs(resource_ids: Iterable[str | None], ocp: pd.DataFrame) -> pd.DataFrame:
    """(resource_id, OCP row position) pairs of Koku's Azure disk join: the PV name occurs in the resource name
    and the OCP row is a Storage row, or the CSI handle equals the resource name case-insensitively."""
    rids = sorted({r for r in resource_ids if r is not None})
    if not rids or ocp.empty:
        return pd.DataFrame({"resource_id": pd.Series(dtype=object), "pos": pd.Series(dtype=np.int64)})
    pos = np.arange(len(ocp))
    storage = (ocp["data_source"] == "Storage").to_numpy(dtype=bool)
    pv = ocp["persistentvolume"].to_numpy(dtype=object)
    parts = []
    needles = pd.DataFrame({"needle": pv[storage], "pos": pos[storage]}).dropna(subset=["needle"])
    empty = needles["needle"] == ""
    if empty.any():  # strpos(x, '') = 1: an empty PV name is in every resource name
        parts.append(pd.DataFrame({"resource_id": np.repeat(rids, empty.sum()),
                                   "pos": np.tile(needles.loc[empty, "pos"].to_numpy(), len(rids))}))
    pairs = contained_pairs(rids, needles.loc[~empty, "needle"].unique())
    if not pairs.empty:
        parts.append(pairs.merge(needles, on="needle")[["haystack", "pos"]].rename(columns={"haystack": "resource_id"}))
    csi = ocp["csi_volume_handle"].astype(object)
    by_lower = pd.DataFrame({"low": csi.str.lower().to_numpy(dtype=object), "pos": pos}).dropna(subset=["low"])
    low_rids = pd.DataFrame({"resource_id": rids, "low": [r.lower() for r in rids]})
    parts.append(low_rids.merge(by_lower, on="low")[["resource_id", "pos"]])
    out = pd.concat(parts, ignore_index=True).drop_duplicates()
    return out.reset_index(drop=True)


def pv_capacity_contributions(resource_ids: Iterable[str | None], ocp_all: pd.DataFrame) -> pd.DataFrame:
    """One day's part of Koku's cte_total_pv_capacity: (resource_id, persistentvolume, cluster_id) -> the largest
    PVC capacity, over the OCP rows of every source that join the resource (see :func:`_pv_or_csi_pairs`)."""
    cols = ["resource_id", "persistentvolume", "cluster_id", PVC_CAPACITY]
    pairs = _pv_or_csi_pairs(resource_ids, ocp_all)
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    o = ocp_all.iloc[pairs["pos"].to_numpy()][["persistentvolume", "cluster_id", PVC_CAPACITY]].reset_index(drop=True)
    j = pd.concat([pairs[["resource_id"]], o], axis=1)
    return sql_group(j, ["resource_id", "persistentvolume", "cluster_id"], {PVC_CAPACITY: "max"})[cols]


def pv_capacity_totals(contributions: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """resource -> (sum over its (PV, cluster) of the largest PVC capacity, distinct clusters), over a chunk."""
    return attr.pv_capacity_totals(contributions)


# --- step 2 ------------------------------------------------------------------------------------------------

def _cloud(temp: pd.DataFrame) -> pd.DataFrame:
    """The line columns every step-2 insert carries."""
    return temp[[*PROFILE.cloud_columns]].copy()


def _nullif_view(temp: pd.DataFrame) -> pd.DataFrame:
    """Every step-2 insert reads max(nullif(service_name, '')) and max(nullif(resource_location, ''))."""
    t = temp.copy()
    for col in ("service_name", "resource_location"):
        t[col] = t[col].where(t[col].notna() & (t[col] != ""), None)
    return t


def _decimal_view(temp: pd.DataFrame) -> pd.DataFrame:
    """The lines with usage and cost cast to decimal(24,9), as Koku's direct, tag and network inserts read them."""
    t = temp.copy()
    t["usage_amount"] = decimal_9_array(t["usage_amount"].to_numpy(dtype=float))
    t["pretax_cost"] = decimal_9_array(t["pretax_cost"].to_numpy(dtype=float))
    return t


def _fresh_uuids(n: int) -> list[str]:
    import uuid

    return [str(uuid.uuid4()) for _ in range(n)]


def storage_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, capacity: Mapping[str, int],
                 totals: Mapping[str, tuple[float, int]]) -> pd.DataFrame:
    """Step 2 (b) and (c) for sized disks.

    (b) per (line, namespace, data_source, pod_labels, volume_labels) of the OCP rows that join the disk (PV name
    in the resource name on a Storage row, or CSI handle = resource name): cost x max(PVC capacity) / capacity,
    the full disk quantity (decimal), unit 'GB-Mo'; a claimless PV's row goes to 'Storage unattributed' without
    labels or cost category. (c) per (line, data_source): cost x (capacity - total PV capacity) / capacity /
    cluster count, **always** (Koku has no `capacity <> total` filter here: zero and negative rows appear), without
    usage, node, labels or tags. Every row gets a fresh row_uuid.
    """
    cols = [*PROFILE.cloud_columns, *attr.TEMP_ROW_COLUMNS]
    sized = temp["resource_id"].isin(list(capacity)).to_numpy(dtype=bool) & temp["resource_id_matched"].to_numpy(
        dtype=bool)
    ns = ocp_this["namespace"]
    o = ocp_this[ns.notna().to_numpy() & (ns != STORAGE_UNATTRIBUTED).to_numpy(dtype=bool)].reset_index(drop=True)
    if not sized.any() or o.empty:
        return attr.empty_frame(cols)
    cand = temp[sized]
    pairs = _pv_or_csi_pairs(cand["resource_id"].unique(), o)
    if pairs.empty:
        return attr.empty_frame(cols)
    j = pd.concat([pairs[["resource_id"]].rename(columns={"resource_id": "disk"}),
                   o.iloc[pairs["pos"].to_numpy()].reset_index(drop=True)], axis=1)
    parts = [_pv_rows(cand, j, capacity), _unattributed_rows(cand, j, capacity, totals)]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True)[cols] if parts else attr.empty_frame(cols)


def _pv_rows(cand: pd.DataFrame, j: pd.DataFrame, capacity: Mapping[str, int]) -> pd.DataFrame:
    lines = cand[cand["data_transfer_direction"].isna().to_numpy()]
    jj = j[j["persistentvolume"].notna().to_numpy()]
    if lines.empty or jj.empty:
        return pd.DataFrame()
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "node", "persistentvolumeclaim", "persistentvolume",
                               "storageclass", "cost_category_id", PVC_CAPACITY)}
    g = sql_group(jj, ["disk", "namespace", "data_source", "pod_labels", "volume_labels"], aggs)
    rows = _cloud(lines).merge(g.drop(columns="data_source"), left_on="resource_id", right_on="disk").drop(
        columns="disk")
    if rows.empty:
        return rows
    claimless = (rows["persistentvolumeclaim"] == "").to_numpy(dtype=bool)
    cap = rows["resource_id"].map(capacity).to_numpy(dtype=float)
    rows["pretax_cost"] = rows[PVC_CAPACITY].to_numpy(dtype=float) / cap * rows["pretax_cost"].to_numpy(dtype=float)
    rows["usage_amount"] = decimal_9_array(rows["usage_amount"].to_numpy(dtype=float))
    rows["unit_of_measure"] = "GB-Mo"
    rows["namespace"] = np.where(claimless, STORAGE_UNATTRIBUTED, rows["namespace"].to_numpy(dtype=object))
    for c in ("pod_labels", "volume_labels", "cost_category_id"):
        rows[c] = rows[c].astype(object).where(~claimless, None)
    rows["data_source"] = "Storage"
    rows["row_uuid"] = _fresh_uuids(len(rows))
    return attr.temp_defaults(rows.drop(columns=PVC_CAPACITY), True)


def _unattributed_rows(cand: pd.DataFrame, j: pd.DataFrame, capacity: Mapping[str, int],
                       totals: Mapping[str, tuple[float, int]]) -> pd.DataFrame:
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "persistentvolumeclaim", "persistentvolume",
                               "storageclass")}
    g = sql_group(j, ["disk", "data_source"], aggs)
    rows = _cloud(cand).merge(g, left_on="resource_id", right_on="disk").drop(columns="disk")
    if rows.empty:
        return rows
    cap = rows["resource_id"].map(capacity).to_numpy(dtype=float)
    total = np.array([totals.get(r, (np.nan, 0))[0] for r in rows["resource_id"]], dtype=float)
    count = np.array([totals.get(r, (np.nan, np.nan))[1] for r in rows["resource_id"]], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["pretax_cost"] = (cap - total) / cap * rows["pretax_cost"].to_numpy(dtype=float) / count
    rows["namespace"] = STORAGE_UNATTRIBUTED
    rows["data_source"] = "Storage"
    rows["unit_of_measure"] = "GB-Mo"
    rows["usage_amount"] = np.nan
    for c in ("node", "pod_labels", "volume_labels", "tags", "cost_category_id"):
        rows[c] = None
    rows["row_uuid"] = _fresh_uuids(len(rows))
    return attr.temp_defaults(rows, True)


def direct_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, sized: set[str]) -> pd.DataFrame:
    """Step 2 (d): matched lines (no data transfer, not a disk sized anywhere in the chunk) and the OCP rows with a
    resource id where the line's resource name, lower-cased and without '_osdisk', equals the node (Pod rows: a
    VM and its OS disk), or contains the PV name (Storage rows); one row per (line, namespace, data_source,
    pod_labels, volume_labels) with the summed effective usage, the largest node capacity, the line's decimal
    usage and cost."""
    cols = [*PROFILE.cloud_columns, *attr.TEMP_ROW_COLUMNS]
    cand = temp[temp["resource_id_matched"].to_numpy(dtype=bool) & temp["data_transfer_direction"].isna().to_numpy()
                & ~temp["resource_id"].isin(list(sized)).to_numpy(dtype=bool)]
    rid = ocp_this["resource_id"]
    o = ocp_this[(rid.notna() & (rid != "")).to_numpy(dtype=bool)].reset_index(drop=True)
    if cand.empty or o.empty:
        return attr.empty_frame(cols)
    names = sorted({r for r in cand["resource_id"].unique() if r is not None})
    parts = []
    pod = (o["data_source"] == "Pod").to_numpy(dtype=bool)
    node_low = pd.DataFrame({"key": o.loc[pod, "node"].astype(object).str.lower().to_numpy(dtype=object),
                             "pos": np.flatnonzero(pod)}).dropna(subset=["key"])
    keys = pd.DataFrame({"resource_id": names, "key": [n.lower().replace("_osdisk", "") for n in names]})
    parts.append(keys.merge(node_low, on="key")[["resource_id", "pos"]])
    storage = (o["data_source"] == "Storage").to_numpy(dtype=bool)
    pvs = pd.DataFrame({"needle": o.loc[storage, "persistentvolume"].to_numpy(dtype=object),
                        "pos": np.flatnonzero(storage)}).dropna(subset=["needle"])
    sp = contained_pairs(names, pvs["needle"].unique())
    if not sp.empty:
        parts.append(sp.merge(pvs, on="needle")[["haystack", "pos"]].rename(columns={"haystack": "resource_id"}))
    pairs = pd.concat(parts, ignore_index=True).drop_duplicates()
    if pairs.empty:
        return attr.empty_frame(cols)
    j = pd.concat([pairs[["resource_id"]].rename(columns={"resource_id": "line_rid"}).reset_index(drop=True),
                   o.iloc[pairs["pos"].to_numpy()].reset_index(drop=True)], axis=1)
    aggs = {**{c: "max" for c in ("cluster_id", "cluster_alias", "node", "persistentvolumeclaim", "persistentvolume",
                                  "storageclass", "cost_category_id", *CAPS)},
            **{c: "sum" for c in EFF}}
    g = sql_group(j, ["line_rid", "namespace", "data_source", "pod_labels", "volume_labels"], aggs)
    rows = _cloud(_decimal_view(cand)).merge(g, left_on="resource_id", right_on="line_rid").drop(columns="line_rid")
    rows["matched_tag"] = None
    return attr.temp_defaults(attr.count_copies(rows, cand), True)[cols]


def network_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, markup: float) -> pd.DataFrame:
    """Step 2 (g): matched data-transfer lines whose resource name equals a node of the OCP Pod rows (with a
    resource id), whole (decimal), one row per (line, node) in 'Network unattributed' with the cloud tags only."""
    cols = final_columns(PROFILE)
    cand = temp[temp["resource_id_matched"].to_numpy(dtype=bool)
                & (temp["data_transfer_direction"].notna() & (temp["data_transfer_direction"] != "")).to_numpy(
                    dtype=bool)]
    rid = ocp_this["resource_id"]
    o = ocp_this[(ocp_this["data_source"] == "Pod").to_numpy(dtype=bool) & (rid.notna() & (rid != "")).to_numpy(
        dtype=bool)]
    if cand.empty or o.empty:
        return attr.empty_frame(cols)
    o = o.assign(pvc=o["persistentvolumeclaim"].where(o["persistentvolumeclaim"] != "", None),
                 pv=o["persistentvolume"].where(o["persistentvolume"] != "", None),
                 sc=o["storageclass"].where(o["storageclass"] != "", None))
    g = sql_group(o, ["node"], {"cluster_id": "max", "cluster_alias": "max", "data_source": "max", "pvc": "max",
                                "pv": "max", "sc": "max"})
    g = g.rename(columns={"pvc": "persistentvolumeclaim", "pv": "persistentvolume", "sc": "storageclass"})
    lines = _cloud(_decimal_view(cand)).assign(data_transfer_direction=cand["data_transfer_direction"].to_numpy())
    rows = lines.merge(g, left_on="resource_id", right_on="node")
    if rows.empty:
        return attr.empty_frame(cols)
    rows["markup_cost"] = rows["pretax_cost"].to_numpy(dtype=float) * markup
    rows["namespace"] = NETWORK_UNATTRIBUTED
    for c in ("pod_labels", "volume_labels", "cost_category_id", "resource_id_matched", "account_alias_id"):
        rows[c] = None
    return rows[cols]


def step2_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, capacity: Mapping[str, int], sized: set[str],
               totals: Mapping[str, tuple[float, int]], distribution: str, markup: float,
               cache: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One day's final managed rows (Koku's managed_reporting_ocpazurecostlineitem_project_daily_summary): storage,
    direct and tag rows split by (f) -- n counted per line over this cluster's rows --, plus the network rows."""
    temp = _nullif_view(temp)
    parts = [storage_rows(temp, ocp_this, capacity, totals),
             direct_rows(temp, ocp_this, sized),
             attr.tag_rows(_decimal_view(temp), ocp_this, PROFILE, cache=cache)]
    return attr.with_network(parts, network_rows(temp, ocp_this, markup), distribution, markup, PROFILE)


# --- the provider module's hooks (cloud/provider.py) ----------------------------------------------------------

def prepare_tenant(conn, spec: CloudRunSpec, sources) -> dict[str, Any]:
    """The month's bill, and Koku's disk tiers (the manifest carries them to the chunk tasks)."""
    tenant.month_bill(conn, spec, sources, PROVIDER.bill_table, PROVIDER.name)
    return {"disk_tiers": [list(t) for t in disk_tiers(conn)]}


def disk_tiers(conn) -> list[tuple[str, int]]:
    """(product_substring, capacity GiB) of Koku's Azure disk lookup (public.reporting_common_diskcapacity)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.reporting_common_diskcapacity') IS NOT NULL")
        if not cur.fetchone()[0]:
            raise ConfigurationError("public.reporting_common_diskcapacity does not exist: Koku's migrations (or "
                                     "poc-tasks init-db) create and seed it; OCP on Azure sizes disks from it")
        cur.execute("SELECT product_substring, capacity FROM public.reporting_common_diskcapacity"
                    " WHERE provider_type = 'Azure' ORDER BY product_substring")
        return [(r[0], int(r[1])) for r in cur.fetchall()]


def pass_one(ctx: ChunkContext, conn) -> ChunkState:
    """Narrow pass over the chunk: matchable resource ids, each disk's size per day (capacity temp), each disk's
    total PV capacity and cluster count over the chunk (all OCP sources), and the discovery texts."""
    spec, sets = ctx.spec, ctx.ocp
    matcher = ContainsMatcher([*(n for n in sets.nodes if n), *sets.volumes, *sets.csi_handles])
    tiers = [(s, int(c)) for s, c in ctx.manifest["disk_tiers"]]
    state = ChunkState()
    capacity: dict[dt.date, dict[str, int]] = {}
    contributions = []
    columns = [*NARROW_COLUMNS, *(["tags"] if ctx.discover else [])]
    for day in ctx.days:
        tbl = ctx.sources.read_day(day, columns)
        names: set[str] = set()
        if tbl is not None:
            narrow = tbl.to_pandas()
            rid = text_column(narrow["resourceid"])
            matched = mapped_once(rid, matcher.matches).astype(bool).to_numpy()
            capacity[day] = disk_capacities(narrow, matched, tiers)
            names = {split_part(r, "/", 9) for r in rid[matched]} - {None}
            if ctx.discover:
                state.discovery.cloud_tag_texts.update(t for t in text_column(narrow["tags"]).unique() if t)
        ocp = read_ocp_rows(ctx.stage, conn, spec.schema_name, day, spec.openshift_provider_uuid,
                            sets.csi_by_day_pv, storage_only=True)
        storage = ocp[(ocp["data_source"] == "Storage").to_numpy(dtype=bool)]
        contributions.append(pv_capacity_contributions(names, storage))
    conn.rollback()
    sized = set().union(*capacity.values()) if capacity else set()
    contrib = pd.concat([c for c in contributions if not c.empty] or [pd.DataFrame(columns=[
        "resource_id", "persistentvolume", "cluster_id", PVC_CAPACITY])], ignore_index=True)
    contrib = contrib[contrib["resource_id"].isin(list(sized))]
    state.data = {"matcher": matcher, "capacity": capacity, "sized": sized, "totals": pv_capacity_totals(contrib)}
    return state




def _step2(ctx: ChunkContext, state: ChunkState, day: dt.date, part: pd.DataFrame, ocp: pd.DataFrame,
           cache: dict[str, np.ndarray]) -> pd.DataFrame:
    d, m = state.data, ctx.manifest
    return step2_rows(part, ocp, d["capacity"].get(day, {}), d["sized"], d["totals"], m["distribution"], m["markup"],
                      cache)


# Day parts of whole resources (every project and back-populate group has the line's resource id in its key).
day_rows = day_parts([c.name for c in LINE_COLUMNS], daily_temp, "matcher", _step2, final_columns(PROFILE))


PROJECT_KEYS = ["usage_start", "cluster_id", "data_source", "namespace", "node", "persistentvolumeclaim",
                "persistentvolume", "storageclass", "enabled_tags", "resource_id", "subscription_guid", "instance_type",
                "service_name", "data_transfer_direction", "resource_location", "unit_of_measure", "currency",
                "cost_category_id"]


def project_rows(final: pd.DataFrame, tag_keys: frozenset[str], _ctx: ChunkContext | None = None) -> pd.DataFrame:
    """Step 3 (3_reporting_ocpazurecostlineitem_project_daily_summary_p.sql) for one day's final rows: tags filtered
    to the enabled keys, 'datatrin' / 'datatrout' -> 'IN' / 'OUT' with the usage as data in / out, grouped."""
    sums = ["infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes", "usage_quantity",
            "pretax_cost", "markup_cost"]
    if final.empty:
        return pd.DataFrame(columns=[*PROJECT_KEYS, "cluster_alias", "subscription_name", *sums])
    f = final.rename(columns={"usage_amount": "usage_quantity"})
    f["enabled_tags"] = mapped_once(f["tags"], lambda t: filter_text(t, tag_keys))
    low = f["data_transfer_direction"].astype(object).str.lower()
    usage = f["usage_quantity"].to_numpy(dtype=float)
    is_in, is_out = (low == "datatrin").to_numpy(dtype=bool), (low == "datatrout").to_numpy(dtype=bool)
    f["infrastructure_data_in_gigabytes"] = np.where(is_in, usage, 0.0)
    f["infrastructure_data_out_gigabytes"] = np.where(is_out, usage, 0.0)
    f["data_transfer_direction"] = np.select([is_in, is_out], ["IN", "OUT"], default=None)
    aggs = {"cluster_alias": "max", "subscription_name": "max", **{c: "sum" for c in sums}}
    return group_rows(f, PROJECT_KEYS, aggs, numeric=["cost_category_id"])


def _lower_like(column: str, pattern: str):
    return lambda f: str_mask(f[column], lambda v: like(v.lower(), pattern))


_NETWORK_SERVICES = ("Virtual Network", "VPN", "DNS", "Traffic Manager", "ExpressRoute", "Load Balancer",
                     "Application Gateway")
_MAX = ("cluster_id", "cluster_alias", "currency")
_SUB_MAX = ("cluster_id", "cluster_alias", "subscription_name", "currency")
_COSTS = ("pretax_cost", "markup_cost")
UI_TABLES = (
    UiTable("reporting_ocpazure_compute_summary_p", ("subscription_guid", "instance_type", "resource_id"),
            ("usage_quantity", *_COSTS), (*_SUB_MAX, "unit_of_measure"),
            lambda f: (f["instance_type"].notna() & (f["unit_of_measure"] == "Hrs")).to_numpy(dtype=bool)),
    UiTable("reporting_ocpazure_cost_summary_p", (), _COSTS, (*_MAX, "cost_category_id")),
    UiTable("reporting_ocpazure_cost_summary_by_account_p", ("subscription_guid",), _COSTS, _SUB_MAX),
    UiTable("reporting_ocpazure_cost_summary_by_location_p", ("subscription_guid", "resource_location"), _COSTS,
            _SUB_MAX),
    UiTable("reporting_ocpazure_cost_summary_by_service_p", ("subscription_guid", "service_name"), _COSTS,
            _SUB_MAX),
    UiTable("reporting_ocpazure_database_summary_p", ("subscription_guid", "service_name"),
            ("usage_quantity", *_COSTS), (*_SUB_MAX, "unit_of_measure"),
            lambda f: (f["service_name"].isin(["Cosmos DB", "Cache for Redis"]).to_numpy(dtype=bool)
                       | _lower_like("service_name", "%database%")(f))),
    UiTable("reporting_ocpazure_network_summary_p", ("subscription_guid", "service_name"),
            ("usage_quantity", *_COSTS), (*_SUB_MAX, "unit_of_measure"),
            lambda f: f["service_name"].isin(_NETWORK_SERVICES).to_numpy(dtype=bool)),
    UiTable("reporting_ocpazure_storage_summary_p", ("subscription_guid", "service_name"),
            ("usage_quantity", *_COSTS), (*_SUB_MAX, "unit_of_measure"),
            lambda f: (f["service_name"].str.contains("Storage", regex=False, na=False)
                       & (f["unit_of_measure"] == "GB-Mo")).to_numpy(dtype=bool)),
)

PROVIDER = module_provider(
    __name__,
    name="Azure",
    profile=PROFILE,
    project_table=OCPAZURE_PROJECT_TABLE,
    ui_tables=UI_TABLES,
    tags=TagTables(OCPAZURE_TAGS_SUMMARY, OCPAZURE_TAGS_VALUES, "Azure", ("subscription_guid",),
                   (("subscription_guids", "subscription_guid"),)),
    cost_terms=(CostTerm("pretax_cost", 9), CostTerm("markup_cost", 9)),
    usage_column="usage_quantity",
    **tag_hooks("Azure", "tags", "tag", cloud_enabled_only=True),
    conservation_costs=("pretax_cost",),
)
