"""GCP specifics of OCP on GCP: the Parquet Koku writes, the matched lines (step 1), disk sizes and the step-2 rows
that differ from AWS (spec ocp-on-cloud.md §2.4, §4.1, §4.2 "GCP, where it differs").

Inputs: ``gcp_line_items_daily`` under ``data/parquet/daily/{account}/GCP/raw/source=/year=/month=/`` and the raw
``gcp_line_items`` under ``data/parquet/{account}/GCP/source=/year=/month=/``. Their year/month partitions are the
**invoice** month, so a usage day can sit in the partition of the month before or after: step 1 reads the
partitions of the chunk's month and its neighbours, filtered by ``usage_start_time`` (timestamps with or without a
time zone, read as UTC). Koku's quirks kept here:
- a line is matched when a node or PV name occurs in its ``resource_name`` or a CSI handle in its name or global
  name; node names are compared as **substrings** in the cost step too (``worker-1`` also takes a share of
  ``worker-10``'s instance);
- cost and usage are cast to decimal(24,9) in step 1; credits are carried and split like cost, without markup;
- a persistent disk (global name with ``/disk/``, a " pd " SKU) is sized from the **raw** partition of the usage
  month: max(usage_amount) / 2^30 / 3600 (byte-seconds of an hour), so a disk invoiced only in another month is not
  sized; a claim larger than the disk keeps the line's own row_uuid and full cost; the unattributed rest is divided
  by the number of PVs on the disk; disks are matched directly as well (no exclusion of sized disks);
- every row's ``resource_id`` is the OCP row's (the node's id), not the line's;
- tag-matched lines are not divided across clusters; the matched tags Koku discovers from the Parquet come from
  the first day of the chunk, in the invoice partition of the chunk's month.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud.attribution import (
    NETWORK_UNATTRIBUTED,
    PVC_CAPACITY,
    STORAGE_UNATTRIBUTED,
    CloudProfile,
    final_columns,
)
from poc_tasks.cloud.frames import mapped_once, renamed_texts, str_mask, text_column
from poc_tasks.cloud.jsontext import filter_text
from poc_tasks.cloud.matching import ContainsMatcher, TagKey, contained_pairs, step1_lines, tag_join_mask
from poc_tasks.cloud.ocp_input import read_ocp_rows
from poc_tasks.cloud.outputs import CostTerm, UiTable, group_rows
from poc_tasks.cloud.provider import ChunkContext, ChunkState, DaySources, day_parts, module_provider, tag_hooks
from poc_tasks.cloud.sqlfn import decimal_9_array, like, round_half_away
from poc_tasks.cloud.tag_summary import TagTables
from poc_tasks.db.partitions import month_start, next_month
from poc_tasks.db.tables_gcp import OCPGCP_PROJECT_TABLE, OCPGCP_TAGS_SUMMARY, OCPGCP_TAGS_VALUES
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import provider_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource, line_columns
from poc_tasks.ocp.frames import sql_group

__all__ = ["PROFILE", "DAILY_COLUMNS", "open_sources", "invoice_partitions", "daily_temp",
           "matched_names", "capacity_candidates", "disk_capacities", "pv_capacity_contributions",
           "pv_capacity_totals", "storage_rows", "direct_rows", "network_rows", "step2_rows", "project_rows",
           "UI_TABLES", "PROVIDER"]

TIME = "usage_start_time"
PROFILE = CloudProfile(
    costs=("unblended_cost", "credit_amount"),
    markups={"unblended_cost": "markup_cost"},
    attributes=("resource_id", "account_id", "project_id", "project_name", "instance_type", "service_id",
                "service_alias", "sku_id", "sku_alias", "region", "unit", "currency", "invoice_month"),
    category=None,
    resource_id_from_ocp=True,
)
# resource_name / resource_global_name are optional: Koku writes '' when the export has no resource columns
DAILY_COLUMNS = line_columns(
    TIME,
    "row_uuid invoice_month billing_account_id project_id project_name service_id service_description "
    "sku_id sku_description system_labels labels location_region resource_name resource_global_name "
    "usage_pricing_unit usage_amount_in_pricing_units currency cost daily_credits",
    numbers=frozenset({"usage_amount_in_pricing_units", "cost", "daily_credits"}),
    optional=frozenset({"resource_name", "resource_global_name"}),
)
RAW_COLUMNS = [ColumnSpec(TIME, TIMESTAMP), ColumnSpec("resource_global_name", STRING, required=False),
               ColumnSpec("resource_name", STRING, required=False), ColumnSpec("usage_amount", NUMBER)]
NARROW_COLUMNS = ["resource_name", "resource_global_name", "service_description", "sku_description",
                  "usage_amount_in_pricing_units"]
TEMP_COLUMNS = ["row_uuid", "usage_start", "resource_id", "resource_name", "resource_global_name", "account_id",
                "project_id", "project_name", "instance_type", "service_id", "service_description", "service_alias",
                "sku_id", "sku_description", "sku_alias", "region", "unit", "currency", "invoice_month",
                "usage_amount", "unblended_cost", "credit_amount", "data_transfer_direction", "tags",
                "resource_id_matched", "matched_tag"]
EFF, CAPS = (attr.EFF_CPU, attr.EFF_MEM), (attr.CAP_CPU, attr.CAP_MEM)
MACHINE_SPEC = "compute.googleapis.com/machine_spec"
GIB = 1073741824.0


# --- input ---------------------------------------------------------------------------------------------------

def invoice_partitions(usage_month: dt.date) -> list[tuple[str, str]]:
    """The invoice-month partitions step 1 reads for a chunk of a usage month: the month before, the month, the
    month after (Koku's cte_usage_date_partitions for a chunk inside one month)."""
    first = month_start(usage_month)
    before = month_start(first - dt.timedelta(days=1))
    return [(f"{m.year:04d}", f"{m.month:02d}") for m in (before, first, next_month(first))]


def open_sources(root: str, account: str, source_uuid: str, year: str, month: str,
                     storage_options: dict[str, Any] | None = None) -> DaySources:
    """The GCP source's daily Parquet of the usage month's invoice partitions and its neighbours, and the usage
    month's raw partition. No daily file in any of them is MissingInputData (Koku: no data, no run)."""
    fs = filesystem(root, storage_options)
    daily: dict[tuple[str, str], ParquetSource] = {}
    for y, m in invoice_partitions(dt.date(int(year), int(month), 1)):
        folder = provider_prefix(root, account, "GCP", source_uuid, y, m, daily=True)
        files = list_parquet(fs, folder)
        if files:
            daily[(y, m)] = ParquetSource(fs, files, DAILY_COLUMNS, "gcp_line_items_daily", time_column=TIME)
    if not daily:
        raise MissingInputData(f"no gcp_line_items_daily Parquet for GCP source {source_uuid} in the invoice months "
                               f"around {year}-{month} under "
                               f"{provider_prefix(root, account, 'GCP', source_uuid, year, month, daily=True)}")
    raw_dir = provider_prefix(root, account, "GCP", source_uuid, year, month, daily=False)
    raw = ParquetSource(fs, list_parquet(fs, raw_dir), RAW_COLUMNS, "gcp_line_items", time_column=TIME)
    return DaySources(daily, raw)


# --- step 1 ----------------------------------------------------------------------------------------------------

def machine_spec(system_labels: str | None) -> str | None:
    """json_extract_scalar(system_labels, '$["compute.googleapis.com/machine_spec"]')."""
    if system_labels is None or system_labels == "":
        return None
    obj = json.loads(system_labels)
    if not isinstance(obj, dict):
        return None
    value = obj.get(MACHINE_SPEC)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def matched_names(pairs: Iterable[tuple[str | None, str | None]], node_matcher: ContainsMatcher,
                  csi_matcher: ContainsMatcher) -> set[str]:
    """cte_matchable_resource_names over a chunk's distinct (resource_name, resource_global_name): a name holding a
    node or PV name or CSI handle, or whose global name holds a CSI handle. (A NULL name never joins.)"""
    out = set()
    for name, glob in pairs:
        if name is None:
            continue
        if node_matcher.matches(name) or csi_matcher.matches(name) or csi_matcher.matches(glob):
            out.add(name)
    return out


def transfer_direction(service: pd.Series, sku: pd.Series, matched: np.ndarray) -> list[str | None]:
    """'IN' / 'OUT' for matched Compute Engine lines whose SKU reads 'data transfer in' / 'data transfer'."""
    low = text_column(sku).str.lower()
    compute = (service == "Compute Engine").fillna(False).to_numpy(dtype=bool) & matched
    is_in = low.str.contains("data transfer in", regex=False, na=False).to_numpy(dtype=bool)
    is_any = low.str.contains("data transfer", regex=False, na=False).to_numpy(dtype=bool)
    return list(np.select([compute & is_in, compute & is_any], ["IN", "OUT"], default=None))


# step 1's text columns: {temp column: export column}, as text / with '' as NULL
_TEXTS = dict(row_uuid="row_uuid", resource_global_name="resource_global_name", account_id="billing_account_id",
              project_id="project_id", project_name="project_name", service_id="service_id",
              sku_description="sku_description", region="location_region", unit="usage_pricing_unit",
              currency="currency", invoice_month="invoice_month")
_NULLIF = {"service_alias": "service_description", "sku_id": "sku_id", "sku_alias": "sku_description"}


def daily_temp(day_table: pa.Table, names: set[str], candidates: Sequence[str], enabled_gcp_keys: Iterable[str],
               path_hint: str = "gcp_line_items_daily") -> pd.DataFrame:
    """Koku's step 1 for one day of daily GCP lines (managed_gcp_openshift_daily_temp): lines whose resource name
    is matchable (`names`, see :func:`matched_names`) or, if not, whose raw labels hold a candidate."""
    df = day_table.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    name = text_column(df["resource_name"])
    matched = name.isin(list(names)).to_numpy(dtype=bool) & name.notna().to_numpy(dtype=bool)
    keep, hits, tags = step1_lines(matched, text_column(df["labels"]), candidates, enabled_gcp_keys, path_hint,
                                   "labels", "label")
    df, name, matched = df[keep], name[keep], matched[keep]
    if df.empty:
        return pd.DataFrame(columns=TEMP_COLUMNS)
    try:
        instance = mapped_once(text_column(df["system_labels"]), machine_spec)
    except ValueError as exc:
        raise InputFileError(path_hint, f"unusable system label JSON: {exc}", "system_labels") from exc
    service = text_column(df["service_description"])
    out = pd.DataFrame({
        **renamed_texts(df, _TEXTS, _NULLIF),
        "usage_start": df[TIME].dt.date,
        "resource_id": None,
        "resource_name": name,
        "instance_type": instance,
        "service_description": service,
        "usage_amount": decimal_9_array(df["usage_amount_in_pricing_units"].to_numpy(dtype=float)),
        "unblended_cost": decimal_9_array(df["cost"].to_numpy(dtype=float)),
        "credit_amount": df["daily_credits"].to_numpy(dtype=float),
        "data_transfer_direction": transfer_direction(service, df["sku_description"], matched),
        "tags": tags,
        "resource_id_matched": matched,
        "matched_tag": hits,
    })
    return out.reset_index(drop=True)[TEMP_COLUMNS]


# --- disk sizes (first pass) -------------------------------------------------------------------------------------

def capacity_candidates(rows: pd.DataFrame, csi_handles: Iterable[str | None]) -> set[str]:
    """Global names Koku sizes for one day: matched lines with '/disk/' in the global name, Compute Engine, a
    ' pd ' SKU (lower-cased), usage > 0 (decimal), whose global or resource name holds a CSI handle of the day's
    OCP storage. `rows`: resource_name, resource_global_name, service_description, sku_description, usage (decimal)."""
    handles = ContainsMatcher(csi_handles)
    out = set()
    for name, glob, service, sku, usage in rows[["resource_name", "resource_global_name", "service_description",
                                                 "sku_description", "usage"]].itertuples(index=False, name=None):
        if (glob is not None and like(glob, "%/disk/%") and service == "Compute Engine" and sku is not None
                and like(sku.lower(), "% pd %") and usage == usage and usage > 0
                and (handles.matches(glob) or handles.matches(name))):
            out.add(glob)
    return out


def disk_capacities(raw: ParquetSource, global_names: set[str]) -> dict[str, int]:
    """managed_gcp_openshift_disk_capacities_temp: global name -> max(usage_amount) / 2^30 / 3600 over the raw
    partition of the usage month (every day of it), as an integer (rounded half away from zero)."""
    if not global_names:
        return {}
    value_set = pa.array(sorted(global_names), type=pa.string())
    best: dict[str, float] = {}
    # the whole partition (no usage-date filter in Koku's query): every row group, one at a time
    for _path, tbl in raw.read_range(dt.datetime(1, 1, 1), dt.datetime(9999, 1, 1),
                                     ["resource_global_name", "usage_amount"]):
        tbl = tbl.filter(pc.is_in(tbl.column("resource_global_name"), value_set=value_set))
        if not tbl.num_rows:
            continue
        g = tbl.group_by("resource_global_name").aggregate([("usage_amount", "max")]).to_pydict()
        for name, value in zip(g["resource_global_name"], g["usage_amount_max"], strict=True):
            if value is not None and (name not in best or value > best[name]):
                best[name] = value
    return {name: int(round_half_away(value / GIB / 3600)) for name, value in best.items()}


def pv_capacity_contributions(globals_: Iterable[str | None], ocp_all: pd.DataFrame) -> pd.DataFrame:
    """One day's part of cte_total_pv_capacity: (global name, PV) -> the largest PVC capacity, over OCP rows of
    every source whose CSI handle (non-empty) the global name holds."""
    cols = ["resource_global_name", "persistentvolume", PVC_CAPACITY]
    csi = ocp_all["csi_volume_handle"]
    o = ocp_all[(csi.notna() & (csi != "")).to_numpy(dtype=bool)]
    pairs = contained_pairs([g for g in globals_ if g], o["csi_volume_handle"].unique())
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    j = pairs.merge(o[["csi_volume_handle", "persistentvolume", PVC_CAPACITY]], left_on="needle",
                    right_on="csi_volume_handle").rename(columns={"haystack": "resource_global_name"})
    return sql_group(j, ["resource_global_name", "persistentvolume"], {PVC_CAPACITY: "max"})[cols]


def pv_capacity_totals(contributions: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """global name -> (sum over its PVs of the largest PVC capacity, distinct PVs) over a chunk."""
    return attr.pv_capacity_totals(contributions, ["resource_global_name", "persistentvolume"],
                                   "resource_global_name", "persistentvolume")


# --- step 2 ----------------------------------------------------------------------------------------------------

def _step2_view(temp: pd.DataFrame) -> pd.DataFrame:
    """Every step-2 insert reads max(nullif(service_id, '')) and max(nullif(region, ''))."""
    t = temp.copy()
    for col in ("service_id", "region"):
        t[col] = t[col].where(t[col].notna() & (t[col] != ""), None)
    return t


def _cloud(temp: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    cols = [c for c in PROFILE.cloud_columns if c != "resource_id"]
    return temp[[*cols, *extra]].copy()


def _positions_by_value(values: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The distinct values and, per value, its positions in their order."""
    codes, uniques = pd.factorize(values)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    by_code = positions[order]
    return uniques, {u: by_code[bounds[i]:bounds[i + 1]] for i, u in enumerate(uniques)}


def _line_pairs(lines: pd.DataFrame, o: pd.DataFrame, hay_cols: Sequence[str], needle_col: str,
                mask: np.ndarray) -> pd.DataFrame:
    """(line index, OCP position) where one of the line's `hay_cols` holds the OCP row's `needle_col` (rows in
    `mask` only; an empty needle is in every haystack, strpos(x, '') = 1), first occurrence kept.

    The pairs' order reaches float sums downstream, so it is fixed: per haystack column in turn, lines ascending;
    a line's positions those of its haystack -- the empty needles' first, then each needle it holds in sorted
    order, a needle's positions ascending. Matched per distinct haystack and needle and gathered by index
    arithmetic (two pandas merges on text keys per column took a tenth of an OCP-on-GCP run)."""
    needle_values = o[needle_col].to_numpy(dtype=object)[mask]
    positions = np.flatnonzero(mask)
    keep = pd.notna(needle_values)
    needle_values, positions = needle_values[keep], positions[keep]
    empty = np.array([v == "" for v in needle_values], dtype=bool)
    empty_pos = positions[empty]
    needles, pos_of = _positions_by_value(needle_values[~empty], positions[~empty])
    found_line, found_pos = [], []
    for col in hay_cols:
        codes, hays = pd.factorize(lines[col].to_numpy(dtype=object), use_na_sentinel=True)
        if not len(hays):
            continue
        cp = contained_pairs(hays, needles)
        held: dict[str, list[str]] = {}
        for h, n in zip(cp["haystack"].tolist(), cp["needle"].tolist(), strict=True):
            held.setdefault(h, []).append(n)
        per_hay = [np.concatenate([empty_pos, *(pos_of[n] for n in held.get(h, ()))]) for h in hays]
        counts = np.array([len(x) for x in per_hay], dtype=np.int64)
        flat = np.concatenate(per_hay) if len(per_hay) else np.zeros(0, dtype=np.int64)
        offsets = np.cumsum(counts) - counts
        line = np.flatnonzero(codes >= 0)
        n_per_line = counts[codes[line]]
        total = int(n_per_line.sum())
        if not total:
            continue
        start = np.repeat(offsets[codes[line]], n_per_line)
        within = np.arange(total) - np.repeat(np.cumsum(n_per_line) - n_per_line, n_per_line)
        found_line.append(np.repeat(line, n_per_line))
        found_pos.append(flat[start + within].astype(np.int64))
    if not found_line:
        return pd.DataFrame({"line": pd.Series(dtype=np.int64), "pos": pd.Series(dtype=np.int64)})
    line, pos = np.concatenate(found_line).astype(np.int64), np.concatenate(found_pos)
    if len(found_line) > 1:  # a pair two columns give: its first occurrence
        _u, first = np.unique(line * (int(pos.max()) + 1) + pos, return_index=True)
        first.sort()
        line, pos = line[first], pos[first]
    return pd.DataFrame({"line": line, "pos": pos})


def _ocp_nulls(ocp_this: pd.DataFrame) -> pd.DataFrame:
    """The OCP rows with '' PVC / PV / storage class as NULL (nullif in Koku's direct and network inserts)."""
    o = ocp_this.copy()
    for c in ("persistentvolumeclaim", "persistentvolume", "storageclass"):
        o[c] = o[c].where(o[c] != "", None)
    return o


def _joined(lines: pd.DataFrame, o: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The joined (line, OCP row) frame: the line's columns suffixed '_line', then the OCP rows' columns. Built on
    the one taken copy of the OCP rows (iloc, reset_index and a concat copied a day part's ~100 k joined rows
    three times)."""
    j = o.take(pairs["pos"].to_numpy())
    j.index = pd.RangeIndex(len(j))
    at = pairs["line"].to_numpy()
    for i, c in enumerate(lines.columns):
        j.insert(i, f"{c}_line", lines[c].to_numpy()[at])
    return j


def storage_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, capacity: Mapping[str, int],
                 totals: Mapping[str, tuple[float, int]]) -> pd.DataFrame:
    """Step 2 (b) and (c) for sized disks (global name in `capacity`), joined to this source's Storage rows (with a
    PV and a CSI handle held by the disk's global or resource name), one row each per (line, namespace,
    pod_labels, volume_labels).

    (b) a disk smaller than the claim, or of size 0, keeps the line's row_uuid and full cost and credits; else a
    fresh uuid and cost / credits x claim / size. (c) the rest, (size - total PV capacity) / size x cost /
    number of PVs on the disk, 0 when the PVs claim more than the disk (or the size is 0), usage 0.
    """
    cols = [*PROFILE.cloud_columns, *attr.TEMP_ROW_COLUMNS]
    glob = temp["resource_global_name"]
    lines = temp[temp["resource_id_matched"].to_numpy(dtype=bool) & temp["data_transfer_direction"].isna().to_numpy()
                 & glob.isin(list(capacity)).to_numpy(dtype=bool)].reset_index(drop=True)
    csi = ocp_this["csi_volume_handle"]
    mask = ((ocp_this["data_source"] == "Storage") & csi.notna() & (csi != "")
            & ocp_this["persistentvolume"].notna()).to_numpy(dtype=bool)
    if lines.empty or not mask.any():
        return attr.empty_frame(cols)
    pairs = _line_pairs(lines, ocp_this, ["resource_global_name", "resource_name"], "csi_volume_handle", mask)
    if pairs.empty:
        return attr.empty_frame(cols)
    j = _joined(lines[["row_uuid"]], ocp_this, pairs)
    aggs = {**{c: "max" for c in ("data_source", "persistentvolumeclaim", "persistentvolume", "storageclass", "node",
                                  "cluster_id", "cluster_alias", "resource_id", "cost_category_id", PVC_CAPACITY,
                                  *CAPS)},
            **{c: "sum" for c in EFF}}
    g = sql_group(j, ["row_uuid_line", "namespace", "pod_labels", "volume_labels"], aggs).rename(
        columns={"row_uuid_line": "row_uuid"})
    base = _cloud(lines, ["resource_global_name"]).merge(g, on="row_uuid")
    cap = base["resource_global_name"].map(capacity).to_numpy(dtype=float)
    pvc = base[PVC_CAPACITY].to_numpy(dtype=float)
    return pd.concat([_pv_rows(base.copy(), cap, pvc), _unattributed_rows(base.copy(), cap, totals)],
                     ignore_index=True)[cols]


def _pv_rows(rows: pd.DataFrame, cap: np.ndarray, pvc: np.ndarray) -> pd.DataFrame:
    with np.errstate(invalid="ignore"):
        full = (cap < pvc) | (cap == 0)
    for c in PROFILE.costs:
        x = rows[c].to_numpy(dtype=float)
        rows[c] = np.where(full, x, pvc / cap * x)
    claimless = (rows["persistentvolumeclaim"] == "").to_numpy(dtype=bool)
    rows["namespace"] = np.where(claimless, STORAGE_UNATTRIBUTED, rows["namespace"].to_numpy(dtype=object))
    rows["volume_labels"] = rows["volume_labels"].astype(object).where(~claimless, None)
    rows["cost_category_id"] = rows["cost_category_id"].astype(object).where(~claimless, None)
    rows["pod_labels"] = None
    for c in (*EFF, *CAPS):
        rows[c] = np.nan
    rows["row_uuid"] = [u if f else str(uuid.uuid4()) for u, f in zip(rows["row_uuid"], full, strict=True)]
    return attr.temp_defaults(rows, True)


def _unattributed_rows(rows: pd.DataFrame, cap: np.ndarray,
                       totals: Mapping[str, tuple[float, int]]) -> pd.DataFrame:
    glob = rows["resource_global_name"]
    total = np.array([totals.get(g, (np.nan, 0))[0] for g in glob], dtype=float)
    count = np.array([totals.get(g, (np.nan, np.nan))[1] for g in glob], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        zero = (cap < total) | (cap == 0)
        for c in PROFILE.costs:
            rows[c] = np.where(zero, 0.0, (cap - total) / cap * rows[c].to_numpy(dtype=float) / count)
    rows["namespace"] = STORAGE_UNATTRIBUTED
    rows["usage_amount"] = 0.0
    rows["cost_category_id"] = None
    rows["row_uuid"] = [str(uuid.uuid4()) for _ in range(len(rows))]
    return attr.temp_defaults(rows, True)


def direct_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame) -> pd.DataFrame:
    """Step 2 (d): matched lines (no data transfer; sized disks too) and this source's OCP rows with a resource id
    whose node (Pod rows) or PV name (Storage rows) occurs in the line's resource name; one row per (line,
    namespace, data_source, pod_labels, volume_labels) with the line's full usage, cost and credits."""
    cols = [*PROFILE.cloud_columns, *attr.TEMP_ROW_COLUMNS]
    lines = temp[temp["resource_id_matched"].to_numpy(dtype=bool)
                 & temp["data_transfer_direction"].isna().to_numpy()].reset_index(drop=True)
    rid = ocp_this["resource_id"]
    has_rid = (rid.notna() & (rid != "")).to_numpy(dtype=bool)
    if lines.empty or not has_rid.any():
        return attr.empty_frame(cols)
    pod = has_rid & (ocp_this["data_source"] == "Pod").to_numpy(dtype=bool)
    storage = has_rid & (ocp_this["data_source"] == "Storage").to_numpy(dtype=bool)
    pairs = pd.concat([_line_pairs(lines, ocp_this, ["resource_name"], "node", pod),
                       _line_pairs(lines, ocp_this, ["resource_name"], "persistentvolume", storage)],
                      ignore_index=True).drop_duplicates()
    if pairs.empty:
        return attr.empty_frame(cols)
    aggs = {**{c: "max" for c in ("cluster_id", "cluster_alias", "node", "persistentvolumeclaim", "persistentvolume",
                                  "storageclass", "resource_id", "cost_category_id", *CAPS)},
            **{c: "sum" for c in EFF}}
    # only the OCP columns the grouping reads are joined (every joined column is a copy of ~100 k rows)
    j = _joined(lines[["row_uuid"]], _ocp_nulls(ocp_this[["namespace", "data_source", "pod_labels", "volume_labels",
                                                          *aggs]]), pairs)
    # text as codes (frames.sql_group): a node's lines times its pods' label texts, the largest grouping of a day
    # part; its rows' order is not used (every later grouping sorts its rows, the split counts rows per line)
    g = sql_group(j, ["row_uuid_line", "namespace", "data_source", "pod_labels", "volume_labels"], aggs,
                  text_codes=True).rename(columns={"row_uuid_line": "row_uuid"})
    rows = _cloud(lines).merge(g, on="row_uuid")
    rows["matched_tag"] = None
    return attr.temp_defaults(attr.count_copies(rows, lines), True)[cols]


def network_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, markup: float) -> pd.DataFrame:
    """Step 2 (g): matched data-transfer lines and this source's Pod rows (with a resource id) whose node occurs in
    the line's resource name; whole, one row per (line, node) in 'Network unattributed', the line's labels only."""
    cols = final_columns(PROFILE)
    d = temp["data_transfer_direction"]
    lines = temp[temp["resource_id_matched"].to_numpy(dtype=bool)
                 & (d.notna() & (d != "")).to_numpy(dtype=bool)].reset_index(drop=True)
    rid = ocp_this["resource_id"]
    pod = ((ocp_this["data_source"] == "Pod") & rid.notna() & (rid != "")).to_numpy(dtype=bool)
    if lines.empty or not pod.any():
        return attr.empty_frame(cols)
    pairs = _line_pairs(lines, ocp_this, ["resource_name"], "node", pod)
    if pairs.empty:
        return attr.empty_frame(cols)
    j = _joined(lines[["row_uuid"]], _ocp_nulls(ocp_this), pairs)
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "data_source", "persistentvolumeclaim",
                               "persistentvolume", "storageclass", "resource_id")}
    g = sql_group(j, ["row_uuid_line", "node"], aggs).rename(columns={"row_uuid_line": "row_uuid"})
    rows = _cloud(lines, ["data_transfer_direction"]).merge(g, on="row_uuid")
    rows["markup_cost"] = rows["unblended_cost"].to_numpy(dtype=float) * markup
    rows["namespace"] = NETWORK_UNATTRIBUTED
    for c in ("pod_labels", "volume_labels", "cost_category_id", "resource_id_matched", "account_alias_id"):
        rows[c] = None
    return rows[cols]


def step2_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, capacity: Mapping[str, int],
               totals: Mapping[str, tuple[float, int]], report_period_id: int, distribution: str,
               markup: float, cache: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One day's (part's) final managed rows (managed_reporting_ocpgcpcostlineitem_project_daily_summary);
    `cache`: tag-join masks over this day's OCP rows of the report period."""
    temp = _step2_view(temp)
    rp = pd.to_numeric(ocp_this["report_period_id"], errors="coerce")
    parts = [storage_rows(temp, ocp_this, capacity, totals),
             direct_rows(temp, ocp_this),
             attr.tag_rows(temp, ocp_this[(rp == report_period_id).to_numpy(dtype=bool)], PROFILE, cache)]
    return attr.with_network(parts, network_rows(temp, ocp_this, markup), distribution, markup, PROFILE)


# --- the provider module's hooks (cloud/provider.py) ----------------------------------------------------------

def _day_csi(ctx: ChunkContext, day: dt.date) -> set[str]:
    """The non-empty CSI handles of this source's storage Parquet on the day."""
    return {csi for (d, _pv), csi in ctx.ocp.csi_by_day_pv.items() if d == day and csi}


def pass_one(ctx: ChunkContext, conn) -> ChunkState:
    """Narrow pass: the chunk's matchable resource names, the global names Koku sizes (and their sizes from the raw
    partition), each one's total PV capacity and PV count, and the discovery texts (first day of the chunk)."""
    spec, sets = ctx.spec, ctx.ocp
    node_matcher = ContainsMatcher([*(n for n in sets.nodes if n), *sets.volumes])
    csi_matcher = ContainsMatcher(sets.csi_handles)
    state = ChunkState()
    per_day: dict[dt.date, pd.DataFrame] = {}
    name_pairs: set[tuple[str | None, str | None]] = set()
    for day in ctx.days:
        tbl = ctx.sources.read_day(day, NARROW_COLUMNS)
        if tbl is None:
            continue
        df = tbl.to_pandas()
        df = pd.DataFrame({"resource_name": text_column(df["resource_name"]),
                           "resource_global_name": text_column(df["resource_global_name"]),
                           "service_description": text_column(df["service_description"]),
                           "sku_description": text_column(df["sku_description"]),
                           "usage": decimal_9_array(df["usage_amount_in_pricing_units"].to_numpy(dtype=float))})
        per_day[day] = df.drop_duplicates()
        name_pairs.update(zip(df["resource_name"], df["resource_global_name"], strict=True))
    names = matched_names(name_pairs, node_matcher, csi_matcher)
    sized: set[str] = set()
    contributions = []
    for day in ctx.days:
        df = per_day.get(day)
        matched = df[df["resource_name"].isin(list(names)).to_numpy(dtype=bool)] if df is not None else None
        if matched is not None and not matched.empty:
            sized |= capacity_candidates(matched, _day_csi(ctx, day))
        ocp = read_ocp_rows(ctx.stage, conn, spec.schema_name, day, spec.openshift_provider_uuid,
                            sets.csi_by_day_pv, storage_only=True)
        if matched is not None and not matched.empty:
            storage = ocp[(ocp["data_source"] == "Storage").to_numpy(dtype=bool)]
            contributions.append(pv_capacity_contributions(matched["resource_global_name"].unique(), storage))
    conn.rollback()
    if ctx.discover:  # Koku: invoice partition = the chunk start's month, usage_start_time on the chunk's first day
        first = ctx.days[0]
        tbl = ctx.sources.read_day(first, ["labels"], partitions=[(f"{first.year:04d}", f"{first.month:02d}")])
        if tbl is not None:
            state.discovery.cloud_tag_texts.update(t for t in pc.unique(tbl.column("labels")).to_pylist() if t)
    capacity = disk_capacities(ctx.sources.raw, sized)
    contrib = [c for c in contributions if not c.empty]
    totals = pv_capacity_totals(pd.concat(contrib, ignore_index=True)) if contrib else {}
    state.data = {"names": names, "capacity": capacity, "totals": {k: v for k, v in totals.items() if k in capacity}}
    return state




def _step2(ctx: ChunkContext, state: ChunkState, day: dt.date, part: pd.DataFrame, ocp: pd.DataFrame,
           cache: dict[str, np.ndarray]) -> pd.DataFrame:
    d, m = state.data, ctx.manifest
    return step2_rows(part, ocp, d["capacity"], d["totals"], m["report_period_id"], m["distribution"], m["markup"],
                      cache)


def _reached(lines: pd.DataFrame, hay_cols: Sequence[str], o: pd.DataFrame, needle_col: str,
             mask: np.ndarray) -> Iterator[tuple[int, Any]]:
    """(line position, node) for every OCP row in `mask` whose `needle_col` one of the line's `hay_cols` holds (an
    empty needle is in every name, as in _pairs)."""
    if not len(lines) or not mask.any():
        return
    needles = o[needle_col].to_numpy(dtype=object)[mask]
    nodes = o["node"].to_numpy(dtype=object)[mask]
    by_needle: dict[Any, set[Any]] = {}
    for needle, node in zip(needles, nodes, strict=True):
        by_needle.setdefault(needle, set()).add(node)
    for col in hay_cols:
        hay = lines[col].to_numpy(dtype=object)
        pairs = contained_pairs(hay, by_needle)
        found: dict[str, set[Any]] = {}
        for h, needle in zip(pairs["haystack"], pairs["needle"], strict=True):
            found.setdefault(h, set()).update(by_needle[needle])
        everywhere = by_needle.get("", set())
        for i, h in enumerate(hay):
            if h is not None:
                for node in found.get(h, set()) | everywhere:
                    yield i, node


def node_groups(ctx: ChunkContext, temp: pd.DataFrame, ocp_this: pd.DataFrame,
                cache: dict[str, np.ndarray]) -> pd.Series:
    """The day parts of GCP: a label per matched line, the same for lines whose step-2 rows can carry the same
    node. A GCP row takes its OCP row's node and resource id (max over the OCP rows it joins), not its line's id,
    and both are in every project and back-populate key; so lines that can reach a common node (Koku's substring
    rule: `worker-1`'s pods join the instances of `worker-10`..`worker-19` too; a tag-matched line's rows carry
    the largest node of each namespace it joins: tag_row_nodes) stay in one part, and parts never share a group.
    Reach is over-estimated (every join of a resource-matched line, a NULL node counted as a node), never
    under."""
    rid, source = ocp_this["resource_id"], ocp_this["data_source"]
    has_rid = (rid.notna() & (rid != "")).to_numpy(dtype=bool)
    csi = ocp_this["csi_volume_handle"]
    storage = (source == "Storage").to_numpy(dtype=bool)
    matched = temp["resource_id_matched"].to_numpy(dtype=bool)
    direct = temp[matched].reset_index()
    reach = [*_reached(direct, ["resource_name"], ocp_this, "node", has_rid & (source == "Pod").to_numpy(dtype=bool)),
             *_reached(direct, ["resource_name"], ocp_this, "persistentvolume", has_rid & storage),
             *_reached(direct, ["resource_global_name", "resource_name"], ocp_this, "csi_volume_handle",
                       storage & (csi.notna() & (csi != "")).to_numpy(dtype=bool)
                       & ocp_this["persistentvolume"].notna().to_numpy(dtype=bool))]
    labels = direct["index"].to_numpy()
    pairs = [(int(labels[i]), node) for i, node in reach]
    tagged = temp[~matched & (temp["matched_tag"].notna() & (temp["matched_tag"] != "")).to_numpy(dtype=bool)]
    if not tagged.empty:
        rp = pd.to_numeric(ocp_this["report_period_id"], errors="coerce")
        o = ocp_this[(rp == ctx.manifest["report_period_id"]).to_numpy(dtype=bool)]  # as step2_rows' tag rows
        grouped = o[["namespace", "data_source", "node"]]
        by_key: dict[tuple[Any, Any], list[int]] = {}
        for line, tags, hit in zip(tagged.index, tagged["tags"], tagged["matched_tag"], strict=True):
            by_key.setdefault((tags, hit), []).append(int(line))
        for (tags, hit), group in by_key.items():
            joined = tag_row_nodes(grouped[tag_join_mask(TagKey(tags, hit), o, cache)])
            pairs.extend((line, node) for line in group for node in joined)
    # rows of lines that differ in one of these line columns never share a project group (each is in its key,
    # taken from the line unchanged); the back-populated rows, whose key has none of them, are made per day
    link = list(zip(*(temp[c].astype(object).where(temp[c].notna(), None) for c in PART_LINE_COLUMNS), strict=True))
    return pd.Series(_components(temp.index, pairs, dict(zip(temp.index, link, strict=True))), index=temp.index)


def tag_row_nodes(hit: pd.DataFrame) -> set[Any]:
    """The nodes a tag-matched line's step-2 rows carry: attr.tag_rows makes one row per (namespace, data_source)
    of the OCP rows the line joins (`hit`: namespace, data_source, node), with the largest node of the group (NULL
    when all are NULL). Not every node the line joins: a tag on the whole cluster joins pods on every node, and
    counting each of them put every line of the day in one part (the 3x GCP month: 40 % of a day in one frame,
    651 MiB), where its rows carry only the few largest node names."""
    if hit.empty:
        return set()
    return set(sql_group(hit, ["namespace", "data_source"], {"node": "max"})["node"])


PART_LINE_COLUMNS = ("account_id", "project_id", "service_id", "sku_id")


def _components(lines: Iterable[int], pairs: Iterable[tuple[int, Any]],
                line_keys: Mapping[int, Any] | None = None) -> list[str]:
    """Union-find over lines sharing a node (and the same `line_keys` value, if given): per line, its
    component's root node (or its own label)."""
    parent: dict[Any, Any] = {}

    def root(x: Any) -> Any:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    first: dict[int, Any] = {}
    for line, node in pairs:
        # NULL (None or NaN) nodes group together
        node = ("node", line_keys.get(line) if line_keys else None, node if isinstance(node, str) else None)
        if line not in first:
            first[line] = node
        a, b = root(first[line]), root(node)
        if a != b:
            parent[a] = b
    return [repr(root(first[i])) if i in first else f"line {i}" for i in lines]


day_rows = day_parts([c.name for c in DAILY_COLUMNS], daily_temp, "names", _step2, final_columns(PROFILE),
                      part_key=node_groups)


PROJECT_KEYS = ["usage_start", "cluster_id", "data_source", "namespace", "node", "persistentvolumeclaim",
                "persistentvolume", "storageclass", "enabled_tags", "resource_id", "account_id", "project_id",
                "project_name", "instance_type", "service_id", "service_alias", "data_transfer_direction", "sku_id",
                "sku_alias", "region", "unit", "cost_category_id", "invoice_month", "currency"]


def project_rows(final: pd.DataFrame, tag_keys: frozenset[str], _ctx: ChunkContext | None = None) -> pd.DataFrame:
    """Step 3 (3_reporting_ocpgcpcostlineitem_project_daily_summary_p.sql) for one day's final rows: tags filtered
    to the enabled keys; data in / out = the usage of IN / OUT rows, gibibytes x 1.07374."""
    sums = ["infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes", "usage_amount",
            "unblended_cost", "markup_cost", "credit_amount"]
    if final.empty:
        return pd.DataFrame(columns=[*PROJECT_KEYS, "cluster_alias", *sums])
    f = final.copy(deep=False)  # only new columns are set on it: the final rows' own arrays are not copied
    f["enabled_tags"] = mapped_once(f["tags"], lambda t: filter_text(t, tag_keys))
    up = f["data_transfer_direction"].astype(object).str.upper()
    usage = f["usage_amount"].to_numpy(dtype=float)
    gb = np.where((f["unit"] == "gibibyte").to_numpy(dtype=bool), usage * 1.07374, usage)
    f["infrastructure_data_in_gigabytes"] = np.where((up == "IN").to_numpy(dtype=bool), gb, 0.0)
    f["infrastructure_data_out_gigabytes"] = np.where((up == "OUT").to_numpy(dtype=bool), gb, 0.0)
    aggs = {"cluster_alias": "max", **{c: "sum" for c in sums}}
    return group_rows(f, PROJECT_KEYS, aggs, numeric=["cost_category_id"])


def _like_any(column: str, patterns: Sequence[str]):
    def where(f: pd.DataFrame) -> np.ndarray:
        return str_mask(f[column], lambda v: any(like(v, p) for p in patterns))
    return where


def _storage(f: pd.DataFrame) -> np.ndarray:
    alias = f["service_alias"]
    pd_or_snapshot = str_mask(f["sku_alias"], lambda s: like(s.lower(), "% pd %") or like(s.lower(), "%snapshot%"))
    return (alias.isin(["Filestore", "Storage", "Cloud Storage", "Data Transfer"]).to_numpy(dtype=bool)
            | ((alias == "Compute Engine").to_numpy(dtype=bool) & pd_or_snapshot))


_KEYS = ("cluster_id", "cluster_alias", "invoice_month")
_COSTS = ("unblended_cost", "markup_cost", "credit_amount")
_USAGE = ("usage_amount", *_COSTS)
_SERVICE = (*_KEYS, "account_id", "service_id", "service_alias")
UI_TABLES = (
    UiTable("reporting_ocpgcp_cost_summary_p", _KEYS, _COSTS, ("currency", "cost_category_id")),
    UiTable("reporting_ocpgcp_compute_summary_p", (*_KEYS, "account_id", "instance_type"), _USAGE,
            ("unit", "currency")),
    UiTable("reporting_ocpgcp_cost_summary_by_account_p", (*_KEYS, "account_id"), _COSTS, ("currency",)),
    UiTable("reporting_ocpgcp_cost_summary_by_gcp_project_p", (*_KEYS, "project_id", "project_name"), _COSTS,
            ("currency",)),
    UiTable("reporting_ocpgcp_cost_summary_by_region_p", (*_KEYS, "account_id", "region"), _COSTS, ("currency",)),
    UiTable("reporting_ocpgcp_cost_summary_by_service_p", _SERVICE, _COSTS, ("currency",)),
    UiTable("reporting_ocpgcp_database_summary_p", _SERVICE, _USAGE, ("unit", "currency"),
            _like_any("service_alias", ("%SQL%", "%Spanner%", "%Bigtable%", "%Firestore%", "%Firebase%",
                                        "%Memorystore%", "%MongoDB%"))),
    UiTable("reporting_ocpgcp_network_summary_p", _SERVICE, _USAGE, ("unit", "currency"),
            _like_any("service_alias", ("%Network%", "%VPC%", "%Firewall%", "%Route%", "%IP%", "%DNS%", "%CDN%",
                                        "%NAT%", "%Traffic Director%", "%Service Discovery%", "%Cloud Domains%",
                                        "%Private Service Connect%", "%Cloud Armor%"))),
    UiTable("reporting_ocpgcp_storage_summary_p", _SERVICE, _USAGE, ("unit", "currency"), _storage),
)

PROVIDER = module_provider(
    __name__,
    name="GCP",
    profile=PROFILE,
    project_table=OCPGCP_PROJECT_TABLE,
    ui_tables=UI_TABLES,
    tags=TagTables(OCPGCP_TAGS_SUMMARY, OCPGCP_TAGS_VALUES, "GCP", ("account_id", "project_id", "project_name"),
                   (("account_ids", "account_id"), ("project_ids", "project_id"), ("project_names", "project_name"))),
    cost_terms=(CostTerm("unblended_cost", 15), CostTerm("markup_cost", 15), CostTerm("credit_amount", 9)),
    strict_raw=False,
    requires_cluster=False,
    back_populate_per_day=True,
    **tag_hooks("GCP", "labels", "label", cloud_enabled_only=False),
    conservation_costs=("unblended_cost", "credit_amount"),
)
