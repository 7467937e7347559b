"""Unallocated capacity rows (spec ocp.md §2.3): per node and day, node capacity minus what its pods used.

The namespace comes from the node's role in reporting_ocp_nodes (matched on node and resource_id, over every
cluster of the tenant): master/infra -> 'Platform unallocated', worker -> 'Worker unallocated', anything else
NULL. Results may be negative; nothing clamps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from poc_tasks.ocp.categories import explode_categories
from poc_tasks.ocp.frames import left_join, sql_group
from poc_tasks.ocp.labels import EMPTY

PLATFORM_UNALLOCATED = "Platform unallocated"
WORKER_UNALLOCATED = "Worker unallocated"
EXCLUDED_NAMESPACES = (PLATFORM_UNALLOCATED, WORKER_UNALLOCATED, "Network unattributed", "Storage unattributed")
_ROLE_NAMESPACE = {"master": PLATFORM_UNALLOCATED, "infra": PLATFORM_UNALLOCATED, "worker": WORKER_UNALLOCATED}

_USED = {
    "pod_usage_cpu_core_hours": "node_capacity_cpu_core_hours",
    "pod_request_cpu_core_hours": "node_capacity_cpu_core_hours",
    "pod_effective_usage_cpu_core_hours": "node_capacity_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours": "node_capacity_memory_gigabyte_hours",
    "pod_request_memory_gigabyte_hours": "node_capacity_memory_gigabyte_hours",
    "pod_effective_usage_memory_gigabyte_hours": "node_capacity_memory_gigabyte_hours",
}
_CAPACITY = ["node_capacity_cpu_cores", "node_capacity_cpu_core_hours", "node_capacity_memory_gigabytes",
             "node_capacity_memory_gigabyte_hours", "cluster_capacity_cpu_core_hours",
             "cluster_capacity_memory_gigabyte_hours"]


def node_roles(nodes: pd.DataFrame) -> pd.DataFrame:
    """max(node_role) per (node, resource_id) of reporting_ocp_nodes."""
    if nodes.empty:
        return pd.DataFrame({"node": pd.Series(dtype=object), "resource_id": pd.Series(dtype=object),
                             "node_role": pd.Series(dtype=object)})
    return sql_group(nodes[["node", "resource_id", "node_role"]], ["node", "resource_id"], {"node_role": "max"})


def unallocated_rows(pods: pd.DataFrame, roles: pd.DataFrame, patterns: Sequence[tuple[str, int]]) -> pd.DataFrame:
    """pods: one day's Pod rows (as pod_rows returns them); roles: node_roles() of reporting_ocp_nodes."""
    if pods.empty:
        return pd.DataFrame()
    rows = pods[pods["node"].notna()]
    rows = rows[~rows["namespace"].isin(EXCLUDED_NAMESPACES) & rows["namespace"].notna()]
    if rows.empty:
        return pd.DataFrame()
    joined = left_join(rows, roles, ["node", "resource_id"])
    day = rows["usage_start"].iloc[0]
    g = sql_group(joined, ["node"], {
        **{m: "sum" for m in _USED},
        **{c: "max" for c in _CAPACITY},
        "resource_id": "max",
        "node_role": "max",
    })
    out = pd.DataFrame({
        "data_source": "Pod",
        "usage_start": day,
        "usage_end": day,
        "namespace": [_ROLE_NAMESPACE.get(r) if isinstance(r, str) else None for r in g["node_role"]],
        "node": g["node"],
        "resource_id": g["resource_id"],
    })
    for used, capacity in _USED.items():
        out[used] = g[capacity].to_numpy(dtype=float) - g[used].to_numpy(dtype=float)
    for c in _CAPACITY:
        out[c] = g[c].to_numpy(dtype=float)
    out["all_labels"] = EMPTY
    # this join is not aggregated in Koku: overlapping patterns duplicate the row
    out = explode_categories(out, patterns)
    out["cost_category_id"] = out["cost_category_id"].astype(float)
    return out.reset_index(drop=True)


