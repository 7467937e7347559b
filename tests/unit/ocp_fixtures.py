"""Hand-made DayInputs for the transform tests: every number below is chosen so results can be checked by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from poc_tasks.ocp.day_inputs import DayInputs
from poc_tasks.ocp.inputs import POD_METRICS

DAY = dt.date(2026, 1, 10)  # January: 31 days


def pods(rows: list[dict]) -> pd.DataFrame:
    """Pre-aggregated pod rows; metrics default to 0 unless given (seconds / byte-seconds)."""
    out = []
    for r in rows:
        base = {"namespace": None, "node": None, "pod_labels": "{}", "resource_id": None,
                **{m: 0.0 for m in POD_METRICS}, "node_capacity_cpu_cores": 4.0,
                "node_capacity_memory_bytes": 8 * 2**30}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def frame(columns: list[str], rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def day_inputs(pod_rows=(), pod_nodes=(), storage=(), node_labels=(), namespace_labels=(), capacity=()) -> DayInputs:
    storage_cols = ["namespace", "pod", "persistentvolumeclaim", "persistentvolume", "storageclass",
                    "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels",
                    "persistentvolumeclaim_capacity_bytes", "persistentvolumeclaim_capacity_byte_seconds",
                    "volume_request_storage_byte_seconds", "persistentvolumeclaim_usage_byte_seconds"]
    return DayInputs(
        day=DAY,
        pods=pods(list(pod_rows)) if pod_rows else pods([]).iloc[0:0],
        pod_nodes=frame(["namespace", "pod", "node", "resource_id"], list(pod_nodes)),
        storage=frame(storage_cols, list(storage)),
        node_labels=frame(["node", "labels"], list(node_labels)),
        namespace_labels=frame(["namespace", "labels"], list(namespace_labels)),
        node_capacity=frame(["node", "cpu_core_seconds", "memory_byte_seconds"], list(capacity)),
    )
