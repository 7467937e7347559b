"""Storage rows of the daily summary (spec ocp.md §2.2 steps D and F, as Koku's PostgreSQL port computes them).

A volume's node is the node its pod ran on that day (from the pod usage rows, pending pods' '' included); a
volume seen on N nodes splits its request and usage evenly over N rows; capacity is never divided.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from poc_tasks.ocp.categories import explode_categories
from poc_tasks.ocp.day_inputs import DayInputs
from poc_tasks.ocp.frames import float_or, left_join, sql_group
from poc_tasks.ocp.pods import INFRASTRUCTURE_USAGE_COST, merge_columns, with_label_variants
from poc_tasks.ocp.units import gigabyte_months, gigabytes

VOLUME_KEYS = ["persistentvolumeclaim", "persistentvolume", "pod", "namespace"]


def volume_nodes(inputs: DayInputs) -> pd.DataFrame:
    """Distinct (pvc, pv, pod, namespace, node, resource_id): storage rows joined to the pod rows of the same pod."""
    storage = inputs.storage[VOLUME_KEYS].dropna(subset=["pod", "namespace"]).drop_duplicates()
    pods = inputs.pod_nodes.dropna(subset=["pod", "namespace"])
    vn = storage.merge(pods, on=["namespace", "pod"], how="inner", sort=False)
    return vn[[*VOLUME_KEYS, "node", "resource_id"]].drop_duplicates()


def shared_volume_node_count(vn: pd.DataFrame) -> pd.DataFrame:
    """Per persistent volume: the number of distinct (non-NULL) nodes it is on that day."""
    counts = vn.dropna(subset=["node"]).groupby("persistentvolume", sort=False)["node"].nunique()
    return counts.rename("node_count").reset_index()


def storage_rows(inputs: DayInputs, patterns: Sequence[tuple[str, int]]) -> pd.DataFrame:
    storage = inputs.storage
    if storage.empty:
        return pd.DataFrame()
    vn = volume_nodes(inputs)
    nc = shared_volume_node_count(vn)
    # the join to the volume's nodes is on (pvc, pod, namespace): not on the PV, exactly as Koku joins
    df = left_join(storage, vn[["persistentvolumeclaim", "pod", "namespace", "node", "resource_id"]],
                   ["persistentvolumeclaim", "pod", "namespace"])
    df = left_join(df, nc, ["persistentvolume"])
    df = with_label_variants(df, inputs, node_col="node")
    df["merged"] = merge_columns(df, ["node_map", "namespace_map", "persistentvolume_labels",
                                      "persistentvolumeclaim_labels"])
    df = explode_categories(df, patterns)
    keys = ["namespace", "node", "resource_id", "persistentvolumeclaim", "persistentvolume", "storageclass",
            "csi_volume_handle", "merged"]
    g = sql_group(df, keys, {
        "persistentvolumeclaim_capacity_bytes": "max",
        "persistentvolumeclaim_capacity_byte_seconds": "sum",
        "volume_request_storage_byte_seconds": "sum",
        "persistentvolumeclaim_usage_byte_seconds": "sum",
        "node_count": "max",
        "cost_category_id": "max",
    })
    divisor = float_or(g["node_count"], 1.0)  # the PG port's COALESCE(node_count, 1)
    day = inputs.day
    out = pd.DataFrame({
        "data_source": "Storage",
        "usage_start": day,
        "usage_end": day,
        "namespace": g["namespace"],
        "node": g["node"],
        "resource_id": g["resource_id"],
        "persistentvolumeclaim": g["persistentvolumeclaim"],
        "persistentvolume": g["persistentvolume"],
        "storageclass": g["storageclass"],
        "volume_labels": g["merged"],
        "persistentvolumeclaim_capacity_gigabyte": gigabytes(
            g["persistentvolumeclaim_capacity_bytes"].to_numpy(dtype=float)),
        "persistentvolumeclaim_capacity_gigabyte_months": gigabyte_months(
            g["persistentvolumeclaim_capacity_byte_seconds"].to_numpy(dtype=float), day),
        "volume_request_storage_gigabyte_months": gigabyte_months(
            g["volume_request_storage_byte_seconds"].to_numpy(dtype=float) / divisor, day),
        "persistentvolumeclaim_usage_gigabyte_months": gigabyte_months(
            g["persistentvolumeclaim_usage_byte_seconds"].to_numpy(dtype=float) / divisor, day),
        "all_labels": g["merged"],
        "infrastructure_usage_cost": INFRASTRUCTURE_USAGE_COST,
        "cost_category_id": g["cost_category_id"],
        "csi_volume_handle": g["csi_volume_handle"],
    })
    return out
