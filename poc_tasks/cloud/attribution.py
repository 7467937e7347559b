"""Koku's attribution of matched cloud lines to OpenShift namespaces (step 2, spec ocp-on-cloud.md §4.2).

Pure functions over one day's frames (every join of Koku's step 2 requires the same usage_start, so a day is
self-contained; the only chunk-wide input is the disk's total PV capacity, see :func:`pv_capacity_totals`):

- ``temp``: the day's matched lines (aws.daily_temp): row_uuid, the cloud attribute columns, usage_amount, the
  cost columns, tags (filtered), the category column, data_transfer_direction, resource_id_matched, matched_tag;
- ``ocp``: the day's OCP summary rows (ocp_input.read_ocp_rows): of this OCP source, or of all sources.

Rows built by the step-2 inserts (:func:`storage_rows`, :func:`direct_rows`, :func:`tag_rows`) go through
:func:`final_rows` (the split into the final managed table); :func:`network_rows` builds final rows directly.
Arithmetic is float64 with SQL NULL semantics (NaN), in the order Koku's SQL writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc_tasks.cloud.jsontext import concat_text
from poc_tasks.cloud.matching import TagKey, contained_pairs, tag_join_mask
from poc_tasks.ocp.frames import sql_group

__all__ = [
    "CloudProfile",
    "TEMP_ROW_COLUMNS",
    "final_columns",
    "concat_rows",
    "storage_rows",
    "direct_rows",
    "direct_pre",
    "tag_rows",
    "tag_cluster_counts",
    "final_rows",
    "network_rows",
    "pv_capacity_contributions",
    "pv_capacity_totals",
    "disk_candidates",
    "LINE_COPIES",
    "collapse_copies",
    "count_copies",
]

EFF_CPU, EFF_MEM = "pod_effective_usage_cpu_core_hours", "pod_effective_usage_memory_gigabyte_hours"
CAP_CPU, CAP_MEM = "node_capacity_cpu_core_hours", "node_capacity_memory_gigabyte_hours"
PVC_CAPACITY = "persistentvolumeclaim_capacity_gigabyte"
STORAGE_UNATTRIBUTED = "Storage unattributed"
NETWORK_UNATTRIBUTED = "Network unattributed"
LINE_COPIES = "line_copies"  # how many times a matched line was read (collapse_copies)


@dataclass(frozen=True)
class CloudProfile:
    """What differs between clouds in the shared attribution: cost columns, their markups, carried columns."""

    costs: tuple[str, ...]
    markups: Mapping[str, str]  # cost column -> markup column (a cost without one, e.g. GCP credits, has none)
    attributes: tuple[str, ...]  # cloud columns carried from a line to its rows (resource_id among them)
    category: str | None  # the cloud's own cost-category JSON column, if any
    # GCP writes the OCP row's resource_id (the node's id), not the line's: tag rows then take max(ocp.resource_id)
    resource_id_from_ocp: bool = False

    @property
    def cloud_columns(self) -> list[str]:
        cols = ["row_uuid", *self.attributes, "usage_start", "usage_amount", *self.costs, "tags"]
        return cols + ([self.category] if self.category else [])


OCP_ATTRIBUTES = ["cluster_id", "cluster_alias", "data_source", "namespace", "node", "persistentvolumeclaim",
                  "persistentvolume", "storageclass", "pod_labels", "volume_labels", "cost_category_id"]
TEMP_ROW_COLUMNS = OCP_ATTRIBUTES + [EFF_CPU, EFF_MEM, CAP_CPU, CAP_MEM, "resource_id_matched", "matched_tag"]
FINAL_EXTRA = ["account_alias_id", "data_transfer_direction"]


def final_columns(profile: CloudProfile) -> list[str]:
    return [*profile.cloud_columns, *profile.markups.values(), *OCP_ATTRIBUTES, *FINAL_EXTRA,
            "resource_id_matched"]


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """pd.concat of row frames whose columns may differ in dtype (a column all NULL in one frame): such columns
    become object in every frame first, so the result does not depend on pandas' all-NA dtype rules."""
    frames = [f for f in frames if not f.empty]
    if len(frames) <= 1:
        return frames[0].reset_index(drop=True) if frames else pd.DataFrame()
    dtypes = [f.dtypes for f in frames]
    columns = list(frames[0].columns)
    if all(list(f.columns) == columns for f in frames[1:]) and not frames[0].columns.has_duplicates:
        return _stacked(frames, columns, dtypes)
    mixed = {c for c in columns if len({str(d[c]) for d in dtypes if c in d.index}) > 1}
    if mixed:
        frames = [f.astype({c: object for c in mixed if c in f.columns}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def _stacked(frames: list[pd.DataFrame], columns: list[str], dtypes: list[pd.Series]) -> pd.DataFrame:
    """concat_rows of frames with the same columns, one np.concatenate per column: pd.concat tests every value of
    an all-NULL object column for its dtype rules (a cost that grows with the rows), which the mixed-dtype rule
    above makes moot. A column whose frames differ in dtype becomes object; other columns keep their dtype."""
    data = {}
    for c in columns:
        kinds = {d[c] for d in dtypes}
        single = len(kinds) == 1 and isinstance(next(iter(kinds)), np.dtype)
        parts = [f[c].to_numpy() if single else f[c].to_numpy(dtype=object) for f in frames]
        data[c] = np.concatenate(parts)
    return pd.DataFrame(data, columns=columns)


def empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _nonempty(col: pd.Series) -> np.ndarray:
    return (col.notna() & (col != "")).to_numpy(dtype=bool)


def _cloud(temp: pd.DataFrame, profile: CloudProfile) -> pd.DataFrame:
    return temp[profile.cloud_columns]


def _fresh_uuids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


# --- the same line read twice ---------------------------------------------------------------------------------

def collapse_copies(temp: pd.DataFrame) -> pd.DataFrame:
    """The day's matched lines with one row per row_uuid, and LINE_COPIES (the times it was read) when a line was
    read more than once: the same rows in two Parquet files of the partition.

    Koku's step 2 reads every file, but each of its inserts groups by the line's row_uuid and takes max() of the
    line's columns (storage, unattributed storage, direct, tag and network inserts of trino_sql/{aws,azure,gcp}/
    openshift/populate_daily_summary/2_summarize_data_by_cluster.sql), and the split counts rows per row_uuid:
    copies of a line are one line there. The one exception is the direct match's sum(ocp.pod_effective_usage_*),
    which adds every OCP row once per copy (count_copies). A copy is taken as equal to the first: the same rows.
    Lines without a row_uuid are kept as read."""
    uuids = temp["row_uuid"]
    copy = (uuids.duplicated(keep="first") & uuids.notna()).to_numpy(dtype=bool)
    if not copy.any():
        return temp
    out = temp[~copy].copy()
    out[LINE_COPIES] = out["row_uuid"].map(uuids.value_counts()).fillna(1).to_numpy(dtype=np.int64)
    return out


def count_copies(rows: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Direct-match rows (one per line and OCP group) with the effective usage summed once per copy of the line, as
    Koku's join of every copy to the OCP rows sums it (the node capacity is a max: unchanged)."""
    if LINE_COPIES not in lines.columns or rows.empty:
        return rows
    k = rows["row_uuid"].map(dict(zip(lines["row_uuid"], lines[LINE_COPIES], strict=True))).fillna(1)
    for c in (EFF_CPU, EFF_MEM):
        rows[c] = rows[c].to_numpy(dtype=float) * k.to_numpy(dtype=float)
    return rows


# --- EBS / disks ---------------------------------------------------------------------------------------------

def disk_candidates(matched_ids: set[str], ocp_this: pd.DataFrame) -> set[str]:
    """Resource-matched cloud ids of the day that contain a non-empty csi handle of this source's OCP rows of the
    day: the resources whose capacity step 2 computes (cte_ocp_filtered_resources)."""
    handles = ocp_this["csi_volume_handle"]
    pairs = contained_pairs(matched_ids, handles[_nonempty(handles)].unique())
    return set(pairs["haystack"])


def pv_capacity_contributions(matched_ids: set[str], ocp_all: pd.DataFrame) -> pd.DataFrame:
    """One day's part of cte_total_pv_capacity: (resource_id, persistentvolume, cluster_id) -> max PVC capacity,
    over the OCP rows of every source whose csi handle the resource id contains."""
    cols = ["resource_id", "persistentvolume", "cluster_id", PVC_CAPACITY]
    o = ocp_all[_nonempty(ocp_all["csi_volume_handle"])]
    pairs = contained_pairs(matched_ids, o["csi_volume_handle"].unique())
    if pairs.empty:
        return empty_frame(cols)
    j = pairs.merge(o, left_on="needle", right_on="csi_volume_handle")
    j = j.rename(columns={"haystack": "resource_id_cloud"})[["resource_id_cloud", "persistentvolume", "cluster_id",
                                                             PVC_CAPACITY]]
    g = sql_group(j, ["resource_id_cloud", "persistentvolume", "cluster_id"], {PVC_CAPACITY: "max"})
    return g.rename(columns={"resource_id_cloud": "resource_id"})[cols]


def pv_capacity_totals(contributions: pd.DataFrame,
                       per: Sequence[str] = ("persistentvolume", "resource_id", "cluster_id"),
                       key: str = "resource_id", count: str = "cluster_id") -> dict[str, tuple[float, int]]:
    """resource -> (total_pv_capacity, cluster_count) over a chunk's contributions: per (volume, resource,
    cluster) the largest capacity, summed per resource; distinct clusters counted (GCP: per (disk, volume),
    volumes counted)."""
    if contributions.empty:
        return {}
    per_pv = sql_group(contributions, list(per), {PVC_CAPACITY: "max"})
    # per resource (in order of first appearance, rows in table order, as groupby(sort=False) gives them)
    codes, rids = pd.factorize(per_pv[key], use_na_sentinel=True)
    caps_all = per_pv[PVC_CAPACITY].to_numpy(dtype=float)
    counted = per_pv[count].to_numpy(dtype=object)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(rids) + 1))
    out: dict[str, tuple[float, int]] = {}
    for i, rid in enumerate(rids):
        rows = order[bounds[i]:bounds[i + 1]]
        caps = caps_all[rows]
        total = float(np.nansum(caps)) if np.isfinite(caps).any() else float("nan")
        out[rid] = (total, len({c for c in counted[rows] if not pd.isna(c)}))
    return out


def storage_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, capacity: Mapping[str, int],
                 totals: Mapping[str, tuple[float, int]], profile: CloudProfile) -> pd.DataFrame:
    """Step 2 (b) and (c): a disk's cost split by PVC capacity over disk capacity, the rest 'Storage unattributed'.

    (b) one row per (line, namespace, pod_labels, volume_labels) of the OCP storage rows whose csi handle the
    disk id contains: cost x pvc_capacity / capacity; a claimless volume (PVC '') goes to Storage unattributed
    without usage, labels or categories. (c) one row per line where capacity != total PV capacity:
    cost x (capacity - total) / capacity / cluster_count (negative when the PVs claim more than the disk).
    Every row gets a fresh row_uuid.
    """
    cols = [*profile.cloud_columns, *TEMP_ROW_COLUMNS]
    cand = temp[temp["resource_id_matched"].to_numpy(dtype=bool) & temp["data_transfer_direction"].isna().to_numpy()
                & temp["resource_id"].isin(list(capacity)).to_numpy()]
    ns = ocp_this["namespace"]
    o = ocp_this[ocp_this["persistentvolume"].notna().to_numpy() & ns.notna().to_numpy()
                 & (ns != STORAGE_UNATTRIBUTED).to_numpy() & _nonempty(ocp_this["csi_volume_handle"])]
    if cand.empty or o.empty:
        return empty_frame(cols)
    pairs = contained_pairs(cand["resource_id"].unique(), o["csi_volume_handle"].unique())
    if pairs.empty:
        return empty_frame(cols)
    j = pairs.merge(o, left_on="needle", right_on="csi_volume_handle").rename(columns={"haystack": "disk"})
    parts = [_pv_rows(cand, j, capacity, profile), _unattributed_rows(cand, j, capacity, totals, profile)]
    parts = [p for p in parts if not p.empty]
    return concat_rows(parts)[cols] if parts else empty_frame(cols)


def _pv_rows(cand, j, capacity, profile) -> pd.DataFrame:
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "node", "persistentvolumeclaim", "persistentvolume",
                               "storageclass", "cost_category_id", PVC_CAPACITY)}
    g = sql_group(j, ["disk", "namespace", "pod_labels", "volume_labels"], aggs)
    rows = _cloud(cand, profile).merge(g, left_on="resource_id", right_on="disk").drop(columns="disk")
    if rows.empty:
        return rows
    claimless = (rows["persistentvolumeclaim"] == "").to_numpy(dtype=bool)
    cap = rows["resource_id"].map(capacity).to_numpy(dtype=float)
    ratio_num = rows[PVC_CAPACITY].to_numpy(dtype=float)
    for c in profile.costs:
        rows[c] = ratio_num / cap * rows[c].to_numpy(dtype=float)
    rows["namespace"] = np.where(claimless, STORAGE_UNATTRIBUTED, rows["namespace"].to_numpy(dtype=object))
    rows["usage_amount"] = np.where(claimless, np.nan, rows["usage_amount"].to_numpy(dtype=float))
    for c in ("pod_labels", "volume_labels", "cost_category_id", *([profile.category] if profile.category else [])):
        rows[c] = rows[c].astype(object).where(~claimless, None)
    rows["data_source"] = "Storage"
    rows["row_uuid"] = _fresh_uuids(len(rows))
    return temp_defaults(rows, matched=True)


def _unattributed_rows(cand, j, capacity, totals, profile) -> pd.DataFrame:
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "persistentvolumeclaim", "persistentvolume",
                               "storageclass")}
    g = sql_group(j, ["disk"], aggs)
    rows = _cloud(cand, profile).merge(g, left_on="resource_id", right_on="disk").drop(columns="disk")
    if rows.empty:
        return rows
    cap = rows["resource_id"].map(capacity).to_numpy(dtype=float)
    total = np.array([totals.get(r, (np.nan, 0))[0] for r in rows["resource_id"]], dtype=float)
    clusters = np.array([totals.get(r, (np.nan, 0))[1] for r in rows["resource_id"]], dtype=float)
    keep = np.isfinite(total) & (cap != total)  # Koku skips zero-cost rows (and rows without a total)
    rows, cap, total, clusters = rows[keep].copy(), cap[keep], total[keep], clusters[keep]
    for c in profile.costs:
        rows[c] = (cap - total) / cap * rows[c].to_numpy(dtype=float) / clusters
    rows["namespace"] = STORAGE_UNATTRIBUTED
    rows["data_source"] = "Storage"
    rows["usage_amount"] = np.nan
    for c in ("node", "pod_labels", "volume_labels", "tags", "cost_category_id",
              *([profile.category] if profile.category else [])):
        rows[c] = None
    rows["row_uuid"] = _fresh_uuids(len(rows))
    return temp_defaults(rows, matched=True)


def temp_defaults(rows: pd.DataFrame, matched: bool) -> pd.DataFrame:
    for c in TEMP_ROW_COLUMNS:
        if c not in rows.columns:
            rows[c] = np.nan if c in (EFF_CPU, EFF_MEM, CAP_CPU, CAP_MEM) else None
    rows["resource_id_matched"] = matched
    return rows


# --- instances: direct resource-id match ----------------------------------------------------------------------

_DIRECT_AGGS = {EFF_CPU: "sum", EFF_MEM: "sum", CAP_CPU: "max", CAP_MEM: "max", "node": "max", "cluster_id": "max",
                "cluster_alias": "max", "cost_category_id": "max"}


def direct_pre(ocp_this: pd.DataFrame) -> pd.DataFrame:
    """The OCP side of the direct match, aggregated once per day: per (resource_id, namespace, pod_labels) the
    effective usage sums, node capacities, node, cluster and cost category (maxima)."""
    # only the grouped columns: the rows with a resource id are nearly the whole day's OCP frame (a copy of every
    # column was the OCP-on-AWS 10x chunk's peak)
    o = ocp_this.loc[_nonempty(ocp_this["resource_id"]), ["resource_id", "namespace", "pod_labels", *_DIRECT_AGGS]]
    if o.empty:
        return empty_frame(["resource_id", "namespace", "pod_labels", *_DIRECT_AGGS])
    return sql_group(o, ["resource_id", "namespace", "pod_labels"], _DIRECT_AGGS)


def direct_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, disk_ids: set[str],
                profile: CloudProfile, pre: pd.DataFrame | None = None) -> pd.DataFrame:
    """Step 2 (d): resource-matched lines (not disks, not data transfer) joined to every OCP row whose
    resource_id the line's id contains, one row per (line, namespace, pod_labels).

    Every OCP row joins, whatever its data_source: Storage rows carry the node's resource_id, so a namespace with
    PVCs on the node also gets a group with NULL pod_labels and NULL usage (its cost ends up NULL; it still counts
    in the usage split). `pre` is direct_pre(ocp_this), when the caller has it already.
    """
    cols = [*profile.cloud_columns, *TEMP_ROW_COLUMNS]
    cand = temp[temp["resource_id_matched"].to_numpy(dtype=bool) & temp["data_transfer_direction"].isna().to_numpy()
                & ~temp["resource_id"].isin(list(disk_ids)).to_numpy()]
    if pre is None:
        pre = direct_pre(ocp_this)
    if cand.empty or pre.empty:
        return empty_frame(cols)
    pairs = contained_pairs(cand["resource_id"].unique(), pre["resource_id"].unique())
    if pairs.empty:
        return empty_frame(cols)
    j = pairs.merge(pre, left_on="needle", right_on="resource_id").drop(columns=["needle", "resource_id"])
    g = sql_group(j, ["haystack", "namespace", "pod_labels"], _DIRECT_AGGS)
    rows = _cloud(cand, profile).merge(g, left_on="resource_id", right_on="haystack").drop(columns="haystack")
    rows["data_source"] = "Pod"
    for c in ("persistentvolumeclaim", "persistentvolume", "storageclass", "volume_labels", "matched_tag"):
        rows[c] = None
    return temp_defaults(count_copies(rows, cand), matched=True)[cols]


# --- tag matching ---------------------------------------------------------------------------------------------

def _tag_keys(cand: pd.DataFrame) -> tuple[pd.Series, list[TagKey]]:
    """Index of each candidate line into the list of its distinct (tags, matched_tag)."""
    pairs = list(zip(cand["tags"].to_numpy(dtype=object), cand["matched_tag"].to_numpy(dtype=object), strict=True))
    distinct = list(dict.fromkeys(pairs))
    index = {p: i for i, p in enumerate(distinct)}
    return pd.Series([index[p] for p in pairs], index=cand.index), [TagKey(t, m) for t, m in distinct]


def _tag_candidates(temp: pd.DataFrame) -> pd.DataFrame:
    return temp[~temp["resource_id_matched"].to_numpy(dtype=bool) & _nonempty(temp["matched_tag"])]


def tag_cluster_counts(temp: pd.DataFrame, ocp_all: pd.DataFrame,
                       cache: dict[str, np.ndarray] | None = None) -> dict[str, int]:
    """cte_cluster_counts: per tag-matched line, the number of distinct OCP sources (of every cluster) with a
    row that joins it. `cache`: label masks over this `ocp_all` (see tag_join_mask), kept by the caller."""
    cand = _tag_candidates(temp)
    if cand.empty or ocp_all.empty:
        return {}
    idx, keys = _tag_keys(cand)
    cache = {} if cache is None else cache
    sources = ocp_all["source"].to_numpy(dtype=object)
    per_key = [len(set(sources[tag_join_mask(k, ocp_all, cache)])) for k in keys]
    return {r: per_key[i] for r, i in zip(cand["row_uuid"], idx, strict=True) if per_key[i] > 0}


def tag_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, profile: CloudProfile,
             cache: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Step 2 (e): lines matched only by tags, one row per (line, namespace, data_source) of the joined OCP rows
    (tag_join_mask); labels are the lexicographically largest of the group, PVC/PV/storage class the largest
    non-empty value; the line's full cost for now (split in final_rows)."""
    cols = [*profile.cloud_columns, *TEMP_ROW_COLUMNS]
    cand = _tag_candidates(temp)
    if cand.empty or ocp_this.empty:
        return empty_frame(cols)
    idx, keys = _tag_keys(cand)
    cache = {} if cache is None else cache
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "node", "persistentvolumeclaim", "persistentvolume",
                               "storageclass", "pod_labels", "volume_labels", "cost_category_id")}
    if profile.resource_id_from_ocp:
        aggs["resource_id"] = "max"
    hits = [(i, np.flatnonzero(tag_join_mask(key, ocp_this, cache))) for i, key in enumerate(keys)]
    hits = [(i, at) for i, at in hits if len(at)]
    if not hits:
        return empty_frame(cols)
    j = _joined_rows(ocp_this, ["namespace", "data_source", *aggs], hits)
    for c in ("persistentvolumeclaim", "persistentvolume", "storageclass"):
        j[c] = j[c].where(j[c] != "", None)
    g = sql_group(j, ["tag_key", "namespace", "data_source"], aggs)
    g["tag_key"] = g["tag_key"].astype(int)
    lines = _cloud(cand, profile).assign(tag_key=idx.to_numpy(), matched_tag=cand["matched_tag"].to_numpy())
    if profile.resource_id_from_ocp:
        lines = lines.drop(columns="resource_id")
    rows = lines.merge(g, on="tag_key").drop(columns="tag_key")
    return temp_defaults(rows, matched=False)[cols]


def _joined_rows(ocp_this: pd.DataFrame, columns: list[str], hits: list[tuple[int, np.ndarray]]) -> pd.DataFrame:
    """The OCP rows each tag key joins (`hits`: key, row positions), key after key, with a ``tag_key`` column: only
    the `columns` tag_rows groups, gathered once. A key that joins every row (a cluster tag) used to copy the
    day's whole OCP frame, every column, then concat_rows copied it again (the OCP-on-AWS 10x peak). The columns'
    types are those concat_rows gave the per-key frames: one key keeps the frame's, several make non-numpy object."""
    at = np.concatenate([a for _i, a in hits])
    if len(hits) == 1:
        j = ocp_this[columns].iloc[at].reset_index(drop=True)
    else:
        j = pd.DataFrame({c: (ocp_this[c].to_numpy() if isinstance(ocp_this[c].dtype, np.dtype)
                              else ocp_this[c].to_numpy(dtype=object))[at] for c in columns}, columns=columns)
    j["tag_key"] = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in hits])
    return j


# --- the split into the final managed table --------------------------------------------------------------------

def final_rows(temp_rows: pd.DataFrame, cluster_counts: Mapping[str, int], distribution: str, markup: float,
               aliases: Mapping[str, int], profile: CloudProfile, copy: bool = True) -> pd.DataFrame:
    """Step 2 (f): each step-2 row's share of its line.

    n = rows of the same line; resource-matched Pod rows take effective usage / node capacity (cpu, or memory
    for any other distribution; NULL on zero capacity); tag-matched rows 1 / (n x clusters matching the line);
    other rows (storage) 1 / n. Usage is always split evenly. Markups = share x markup. Tags = labels (pod, else
    volume) overlaid with the line's tags, NULL when either is NULL. `copy=False`: `temp_rows` is the caller's to
    give away, and its columns are replaced in place (no copy of a day part's ~100 k rows).
    """
    cols = final_columns(profile)
    if temp_rows.empty:
        return empty_frame(cols)
    rows = temp_rows.copy() if copy else temp_rows
    n = rows.groupby("row_uuid", sort=False)["row_uuid"].transform("size").to_numpy(dtype=float)
    matched = rows["resource_id_matched"].to_numpy(dtype=bool)
    clusters = rows["row_uuid"].map(cluster_counts).fillna(1).to_numpy(dtype=float)
    pod = matched & (rows["data_source"] == "Pod").to_numpy(dtype=bool)
    eff, cap = (EFF_CPU, CAP_CPU) if distribution == "cpu" else (EFF_MEM, CAP_MEM)
    cap_v = rows[cap].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rows[eff].to_numpy(dtype=float) / np.where(cap_v == 0, np.nan, cap_v)
        for c in profile.costs:
            x = rows[c].to_numpy(dtype=float)
            share = np.where(pod, ratio * x, np.where(~matched, x / (n * clusters), x / n))
            rows[c] = share
            if c in profile.markups:
                rows[profile.markups[c]] = share * markup
        usage = rows["usage_amount"].to_numpy(dtype=float)
        rows["usage_amount"] = np.where(~matched, usage / (n * clusters), usage / n)
    labels = rows["pod_labels"].where(rows["pod_labels"].notna(), rows["volume_labels"])
    rows["tags"] = _merged_tags(labels.to_numpy(dtype=object), rows["tags"].to_numpy(dtype=object))
    rows["account_alias_id"] = rows["usage_account_id"].map(aliases) if "usage_account_id" in rows else None
    rows["data_transfer_direction"] = None
    return rows[cols]


def _merged_tags(labels: np.ndarray, tags: np.ndarray) -> list[str | None]:
    """concat_text per row, computed once per distinct (labels, tags) pair: a day's rows share few pairs."""
    lookup: dict[tuple[str | None, str | None], str | None] = {}
    out = []
    for pair in zip(labels, tags, strict=True):
        merged = lookup.get(pair, lookup)
        if merged is lookup:
            merged = lookup[pair] = concat_text(*pair)
        out.append(merged)
    return out


def network_rows(temp: pd.DataFrame, ocp_this: pd.DataFrame, markup: float, aliases: Mapping[str, int],
                 profile: CloudProfile) -> pd.DataFrame:
    """Step 2 (g): data-transfer lines of a node, whole, in 'Network unattributed', one row per (line, node,
    direction), with the cloud tags only and no categories."""
    cols = final_columns(profile)
    cand = temp[temp["resource_id_matched"].to_numpy(dtype=bool) & _nonempty(temp["data_transfer_direction"])]
    o = ocp_this[(ocp_this["data_source"] == "Pod").to_numpy(dtype=bool) & _nonempty(ocp_this["resource_id"])]
    if cand.empty or o.empty:
        return empty_frame(cols)
    pairs = contained_pairs(cand["resource_id"].unique(), o["resource_id"].unique())
    if pairs.empty:
        return empty_frame(cols)
    j = pairs.merge(o, left_on="needle", right_on="resource_id")
    aggs = {c: "max" for c in ("cluster_id", "cluster_alias", "data_source", "persistentvolumeclaim",
                               "persistentvolume", "storageclass")}
    g = sql_group(j.rename(columns={"haystack": "disk"}), ["disk", "node"], aggs)
    lines = temp.loc[cand.index, [*profile.cloud_columns, "data_transfer_direction"]]
    rows = lines.merge(g, left_on="resource_id", right_on="disk").drop(columns="disk")
    for c in profile.costs:
        rows[profile.markups[c]] = rows[c].to_numpy(dtype=float) * markup
    rows["namespace"] = NETWORK_UNATTRIBUTED
    for c in ("pod_labels", "volume_labels", "cost_category_id", "resource_id_matched",
              *([profile.category] if profile.category else [])):
        rows[c] = None
    rows["account_alias_id"] = rows["usage_account_id"].map(aliases)
    return rows[cols]


def _default_index(frame: pd.DataFrame) -> bool:
    """The frame's index is 0, 1, ..., as pd.concat(ignore_index=True) or reset_index(drop=True) would make it."""
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def with_network(rows: list[pd.DataFrame], network: pd.DataFrame, distribution: str, markup: float,
                 profile: CloudProfile) -> pd.DataFrame:
    """A day (part)'s final rows of a provider without tag-cluster counts or aliases (Azure, GCP): the split of its
    storage, direct and tag rows, then its network rows (columns all NULL in one frame: a dtype-safe concat).

    `rows` is emptied: the caller's list would otherwise hold the step-2 frames while their split is made (the
    10x GCP month's day parts: ~100 k direct rows, each copy ~40 MiB). The split is made in place on the
    concatenation (or the one frame), and the one frame of final rows without network rows is returned as it is:
    the same rows as concat_rows' copy."""
    parts = [r for r in rows if not r.empty]
    rows.clear()
    if not parts:
        out = concat_rows([network])
        return out if not out.empty else empty_frame(final_columns(profile))
    temp = parts[0] if len(parts) == 1 and _default_index(parts[0]) else pd.concat(parts, ignore_index=True)
    del parts
    final = final_rows(temp, {}, distribution, markup, {}, profile, copy=False)
    del temp
    if network.empty and _default_index(final):
        return final
    out = concat_rows([final, network])
    return out if not out.empty else empty_frame(final_columns(profile))
