"""Pod rows of the daily summary (spec ocp.md §2.2 step E, as Koku's PostgreSQL port computes them)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from poc_tasks.ocp.categories import explode_categories
from poc_tasks.ocp.day_inputs import DayInputs
from poc_tasks.ocp.frames import float_or, left_join, sql_group
from poc_tasks.ocp.inputs import POD_METRICS
from poc_tasks.ocp.labels import EMPTY, merge
from poc_tasks.ocp.units import gigabyte_hours, gigabytes, hours

INFRASTRUCTURE_USAGE_COST = '{"cpu": 0.000000000, "memory": 0.000000000, "storage": 0.000000000}'

_CPU = {
    "pod_usage_cpu_core_seconds": "pod_usage_cpu_core_hours",
    "pod_request_cpu_core_seconds": "pod_request_cpu_core_hours",
    "pod_effective_usage_cpu_core_seconds": "pod_effective_usage_cpu_core_hours",
    "pod_limit_cpu_core_seconds": "pod_limit_cpu_core_hours",
}
_MEM = {
    "pod_usage_memory_byte_seconds": "pod_usage_memory_gigabyte_hours",
    "pod_request_memory_byte_seconds": "pod_request_memory_gigabyte_hours",
    "pod_effective_usage_memory_byte_seconds": "pod_effective_usage_memory_gigabyte_hours",
    "pod_limit_memory_byte_seconds": "pod_limit_memory_gigabyte_hours",
}


def with_label_variants(df: pd.DataFrame, inputs: DayInputs, node_col: str = "node") -> pd.DataFrame:
    """Join the day's node and namespace label variants (a node with two variants doubles its rows)."""
    out = left_join(df, inputs.node_labels.rename(columns={"node": "_vnode", "labels": "node_map"}),
                    {node_col: "_vnode"}).drop(columns="_vnode")
    out = left_join(out, inputs.namespace_labels.rename(columns={"labels": "namespace_map"}), ["namespace"])
    out["node_map"] = out["node_map"].fillna(EMPTY)
    out["namespace_map"] = out["namespace_map"].fillna(EMPTY)
    return out


def merge_columns(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """jsonb || over the given canonical label columns, computed once per distinct combination."""
    if df.empty:
        return pd.Series([], dtype=object, index=df.index)
    combos = df[list(columns)].drop_duplicates()
    combos["_merged"] = [merge(*row) for row in combos.itertuples(index=False, name=None)]
    return df[list(columns)].merge(combos, on=list(columns), how="left", sort=False)["_merged"].set_axis(df.index)


def pod_rows(inputs: DayInputs, patterns: Sequence[tuple[str, int]]) -> pd.DataFrame:
    """One row per (namespace, node, merged label set) of the day: usage sums and node/cluster capacity."""
    pods = inputs.pods
    if pods.empty:
        return pd.DataFrame()
    df = with_label_variants(pods, inputs)
    df["merged"] = merge_columns(df, ["node_map", "namespace_map", "pod_labels"])
    df = explode_categories(df, patterns)
    g = sql_group(df, ["namespace", "node", "merged"],
                  {**{m: "sum" for m in POD_METRICS}, "resource_id": "max", "node_capacity_cpu_cores": "max",
                   "node_capacity_memory_bytes": "max", "cost_category_id": "max"})
    cap = inputs.node_capacity
    g = g.merge(cap, on="node", how="left", sort=False)
    cluster_cpu = cap["cpu_core_seconds"].sum(min_count=1) if len(cap) else np.nan
    cluster_mem = cap["memory_byte_seconds"].sum(min_count=1) if len(cap) else np.nan

    out = pd.DataFrame({
        "data_source": "Pod",
        "usage_start": inputs.day,
        "usage_end": inputs.day,
        "namespace": g["namespace"],
        "node": g["node"],
        "resource_id": g["resource_id"],
        "pod_labels": g["merged"],
    })
    for src, dst in _CPU.items():
        out[dst] = hours(g[src].to_numpy(dtype=float))
    for src, dst in _MEM.items():
        out[dst] = gigabyte_hours(g[src].to_numpy(dtype=float))
    out["node_capacity_cpu_cores"] = g["node_capacity_cpu_cores"].to_numpy(dtype=float)
    # the PostgreSQL port coalesces missing raw capacity to 0 (Trino leaves NULL): spec §2.7
    out["node_capacity_cpu_core_hours"] = hours(float_or(g["cpu_core_seconds"], 0.0))
    out["node_capacity_memory_gigabytes"] = gigabytes(g["node_capacity_memory_bytes"].to_numpy(dtype=float))
    out["node_capacity_memory_gigabyte_hours"] = gigabyte_hours(float_or(g["memory_byte_seconds"], 0.0))
    out["cluster_capacity_cpu_core_hours"] = hours(np.full(len(g), 0.0 if np.isnan(cluster_cpu) else cluster_cpu))
    out["cluster_capacity_memory_gigabyte_hours"] = gigabyte_hours(
        np.full(len(g), 0.0 if np.isnan(cluster_mem) else cluster_mem))
    out["all_labels"] = g["merged"]
    out["infrastructure_usage_cost"] = INFRASTRUCTURE_USAGE_COST
    out["cost_category_id"] = g["cost_category_id"]
    return out
