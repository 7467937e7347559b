"""One day of a synthetic cluster as the DataFrames Koku's CSV reader and OCP post-processor produce.

`day_frames` gives the raw (hourly) frame of each report type for one day, typed as Koku's `read_csv` converters
type them: naive UTC datetime64, float64 numbers, object strings with '' for "no value", label JSON text.
`koku_daily` turns one chunk of such a frame into its `_daily` frame the way Koku's per-chunk daily grouping does.
All rows of a day come from numpy arrays (no per-row Python), so a 5 000-pod day is 120 000 rows in well under a
second.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from poc_tasks.sample.cluster import GIB, MISSING_HOURS, Cluster

HOURS = 24
# Groupings and aggregations of Koku's daily frames (spec ocp.md §1.4); the day is added as a pd.Grouper.
_GROUP_KEYS = {
    "pod_usage": ["namespace", "node", "pod", "pod_labels"],
    "storage_usage": ["namespace", "node", "pod", "persistentvolumeclaim", "persistentvolume", "storageclass",
                      "csi_driver", "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels"],
    "node_labels": ["node", "node_labels"],
    "namespace_labels": ["namespace", "namespace_labels"],
}
_PERIOD_MAX = {"report_period_start": "max", "report_period_end": "max"}
_AGGREGATIONS = {
    "pod_usage": {
        **_PERIOD_MAX, "resource_id": "max",
        "pod_usage_cpu_core_seconds": "sum", "pod_request_cpu_core_seconds": "sum",
        "pod_effective_usage_cpu_core_seconds": "sum", "pod_limit_cpu_core_seconds": "sum",
        "pod_usage_memory_byte_seconds": "sum", "pod_request_memory_byte_seconds": "sum",
        "pod_effective_usage_memory_byte_seconds": "sum", "pod_limit_memory_byte_seconds": "sum",
        "node_capacity_cpu_cores": "max", "node_capacity_cpu_core_seconds": "sum",
        "node_capacity_memory_bytes": "max", "node_capacity_memory_byte_seconds": "sum",
        "node_role": "max",
    },
    "storage_usage": {
        **_PERIOD_MAX, "persistentvolumeclaim_capacity_bytes": "max",
        "persistentvolumeclaim_capacity_byte_seconds": "sum", "volume_request_storage_byte_seconds": "sum",
        "persistentvolumeclaim_usage_byte_seconds": "sum",
    },
    "node_labels": dict(_PERIOD_MAX),
    "namespace_labels": dict(_PERIOD_MAX),
}
# Columns Koku adds to a daily frame when the CSV lacked them: all-null pyarrow strings.
_ADDED_IF_MISSING = {
    "pod_usage": ("node_role",),
    "storage_usage": ("node", "csi_driver", "csi_volume_handle"),
}


def koku_daily(raw: pd.DataFrame, report_type: str) -> pd.DataFrame:
    """The `_daily` frame of one raw chunk: grouped by the type's keys and the day, sorted as pandas sorts groups.
    Per chunk, not per day: a day spread over several chunks gives several rows for one key."""
    keys = [k for k in _GROUP_KEYS[report_type] if k in raw.columns]
    aggregations = {c: f for c, f in _AGGREGATIONS[report_type].items() if c in raw.columns}
    grouped = raw.groupby([*keys, pd.Grouper(key="interval_start", freq="D")], dropna=False)
    daily = grouped.agg(aggregations).reset_index()
    for col in _ADDED_IF_MISSING.get(report_type, ()):
        if col not in daily.columns:
            daily[col] = pd.Series(dtype=pd.StringDtype("pyarrow"))
    return daily


class DayPlan:
    """Which node, pod and mount reports in which hour of one day (True = a row exists)."""

    def __init__(self, c: Cluster, day_index: int, seed: int) -> None:
        rng = np.random.default_rng([seed, day_index, 0])
        n_nodes, n_pods = len(c.node_name), len(c.pod_name)
        self.node_present = np.ones((n_nodes, HOURS), dtype=bool)
        if day_index == 0:
            self.node_present[c.missing_node, :MISSING_HOURS] = False
        running = c.pod_node >= 0
        self.pod_present = np.ones((n_pods, HOURS), dtype=bool)
        self.pod_present[running] = self.node_present[c.pod_node[running]]
        # ~3% of ordinary pods live only part of the day: [start, end) hours
        short = (rng.random(n_pods) < 0.03) & ~c.pod_stable
        start = rng.integers(0, 18, n_pods)
        end = rng.integers(start + 1, HOURS + 1)
        hours = np.arange(HOURS)
        window = (hours >= start[:, None]) & (hours < end[:, None])
        self.pod_present[short] &= window[short]
        orphan = c.mount_pod < 0
        self.mount_present = np.ones((len(c.mount_pvc), HOURS), dtype=bool)
        self.mount_present[~orphan] = self.pod_present[c.mount_pod[~orphan]]


def _hour_major(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hour, entity) of every True cell, ordered by hour then entity, as the operator writes its CSVs."""
    hours, entity = np.nonzero(present.T)
    return hours, entity


def _times(day: dt.date, hours: np.ndarray, period: tuple[dt.date, dt.date]) -> dict[str, np.ndarray]:
    start = np.datetime64(day, "ns") + hours.astype("timedelta64[h]")
    n = len(hours)
    return {
        "report_period_start": np.full(n, np.datetime64(period[0], "ns")),
        "report_period_end": np.full(n, np.datetime64(period[1], "ns")),
        "interval_start": start,
        "interval_end": start + np.timedelta64(3599, "s"),  # the operator's 'HH:59:59'
    }


def _labels_on(base: np.ndarray, entity: np.ndarray, hours: np.ndarray, before: dict[int, str], day_index: int,
               change_day: int) -> np.ndarray:
    """Label text per row; entities in `before` carry their old variant until noon of the change day."""
    out = base[entity]
    if day_index > change_day:
        return out
    for idx, text in before.items():
        mask = entity == idx
        if day_index == change_day:
            mask &= hours < HOURS // 2
        out[mask] = text
    return out


def pod_usage_frame(c: Cluster, plan: DayPlan, day: dt.date, day_index: int, change_day: int,
                    period: tuple[dt.date, dt.date], seed: int, with_node_role: bool) -> pd.DataFrame:
    rng = np.random.default_rng([seed, day_index, 1])
    hours, pod = _hour_major(plan.pod_present)
    n = len(pod)
    node = c.pod_node[pod]
    running = node >= 0
    node_ix = np.where(running, node, 0)
    # pending pods (node = -1) have no node: '' strings and zero capacity, as the operator reports them
    node_name = np.where(running, c.node_name[node_ix], "").astype(object)
    cores = np.where(running, c.node_cpu_cores[node_ix], 0.0)
    mem = np.where(running, c.node_mem_bytes[node_ix], 0.0)
    cpu_usage = np.where(running, c.pod_cpu_level[pod] * rng.lognormal(0.0, 0.25, n), 0.0) * 3600
    mem_usage = np.where(running, c.pod_mem_level[pod] * rng.lognormal(0.0, 0.1, n), 0.0) * 3600
    cpu_request = c.pod_cpu_request[pod] * 3600
    mem_request = c.pod_mem_request[pod] * 3600
    cols: dict[str, np.ndarray] = {
        **_times(day, hours, period),
        "node": node_name,
        "namespace": c.ns_name[c.pod_ns[pod]],
        "pod": c.pod_name[pod],
        "pod_usage_cpu_core_seconds": cpu_usage,
        "pod_request_cpu_core_seconds": cpu_request,
        "pod_limit_cpu_core_seconds": c.pod_cpu_limit[pod] * 3600,
        "pod_usage_memory_byte_seconds": mem_usage,
        "pod_request_memory_byte_seconds": mem_request,
        "pod_limit_memory_byte_seconds": c.pod_mem_limit[pod] * 3600,
        "node_capacity_cpu_cores": cores,
        "node_capacity_cpu_core_seconds": cores * 3600,
        "node_capacity_memory_bytes": mem,
        "node_capacity_memory_byte_seconds": mem * 3600,
    }
    if with_node_role:
        cols["node_role"] = np.where(running, c.node_role[node_ix], "").astype(object)
    cols["resource_id"] = np.where(running, c.node_resource_id[node_ix], "").astype(object)
    cols["pod_labels"] = _labels_on(c.pod_labels, pod, hours, c.pod_labels_before, day_index, change_day)
    # Koku's post-processor adds these per hourly row, before grouping, so the raw files carry them too.
    cols["pod_effective_usage_cpu_core_seconds"] = np.maximum(cpu_usage, cpu_request)
    cols["pod_effective_usage_memory_byte_seconds"] = np.maximum(mem_usage, mem_request)
    return pd.DataFrame(cols)


def storage_usage_frame(c: Cluster, plan: DayPlan, day: dt.date, day_index: int,
                        period: tuple[dt.date, dt.date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, day_index, 2])
    hours, mount = _hour_major(plan.mount_present)
    n = len(mount)
    pvc = c.mount_pvc[mount]
    pod = c.mount_pod[mount]
    node = np.where(pod >= 0, c.pod_node[np.maximum(pod, 0)], -1)
    node_name = np.where(node >= 0, c.node_name[np.maximum(node, 0)], "").astype(object)
    capacity = c.pvc_capacity[pvc]
    # volumes fill slowly over the month, with a little hourly noise
    growth = 1.0 + 0.002 * (day_index + hours / HOURS)
    used = np.minimum(capacity, capacity * c.pvc_used_fraction[pvc] * growth * rng.uniform(0.995, 1.005, n))
    cols = {
        **_times(day, hours, period),
        "namespace": c.ns_name[c.pvc_ns[pvc]],
        "pod": c.mount_pod_name[mount],
        "node": node_name,
        "persistentvolumeclaim": c.pvc_name[pvc],
        "persistentvolume": c.pv_name[pvc],
        "storageclass": c.pvc_storageclass[pvc],
        "csi_driver": c.pvc_csi_driver[pvc],
        "csi_volume_handle": c.pvc_csi_handle[pvc],
        "persistentvolumeclaim_capacity_bytes": capacity,
        "persistentvolumeclaim_capacity_byte_seconds": capacity * 3600,
        "volume_request_storage_byte_seconds": c.pvc_request[pvc] * 3600,
        "persistentvolumeclaim_usage_byte_seconds": used * 3600,
        "persistentvolume_labels": c.pv_labels[pvc],
        "persistentvolumeclaim_labels": c.pvc_labels[pvc],
    }
    return pd.DataFrame(cols)


def node_labels_frame(c: Cluster, plan: DayPlan, day: dt.date, day_index: int, change_day: int,
                      period: tuple[dt.date, dt.date]) -> pd.DataFrame:
    hours, node = _hour_major(plan.node_present)
    return pd.DataFrame({
        **_times(day, hours, period),
        "node": c.node_name[node],
        "node_labels": _labels_on(c.node_labels, node, hours, c.node_labels_before, day_index, change_day),
    })


def namespace_labels_frame(c: Cluster, day: dt.date, day_index: int, change_day: int,
                           period: tuple[dt.date, dt.date]) -> pd.DataFrame:
    hours, ns = _hour_major(np.ones((len(c.ns_name), HOURS), dtype=bool))
    return pd.DataFrame({
        **_times(day, hours, period),
        "namespace": c.ns_name[ns],
        "namespace_labels": _labels_on(c.ns_labels, ns, hours, c.ns_labels_before, day_index, change_day),
    })


def day_frames(c: Cluster, day: dt.date, day_index: int, change_day: int, period: tuple[dt.date, dt.date],
               seed: int, with_node_role: bool) -> dict[str, pd.DataFrame]:
    """The raw frames of one day, by report type, in the order Koku detects report types."""
    plan = DayPlan(c, day_index, seed)
    return {
        "pod_usage": pod_usage_frame(c, plan, day, day_index, change_day, period, seed, with_node_role),
        "storage_usage": storage_usage_frame(c, plan, day, day_index, period, seed),
        "node_labels": node_labels_frame(c, plan, day, day_index, change_day, period),
        "namespace_labels": namespace_labels_frame(c, day, day_index, change_day, period),
    }


def released_pv_frame(released_pv: Mapping[str, Any], storage: pd.DataFrame) -> pd.DataFrame:
    """The day's OCP storage rows plus those of a released PV (its claim was deleted, the cloud disk is still
    billed): every hour of the day, no namespace, pod, node or claim, as the operator reports such a PV.
    `released_pv`: persistentvolume, csi_volume_handle, storageclass, csi_driver, capacity_gib."""
    hours = storage["interval_start"].drop_duplicates().sort_values().to_numpy()
    if len(hours) == 0:
        return storage
    pv = released_pv
    cap = float(pv["capacity_gib"]) * GIB
    n = len(hours)
    extra = pd.DataFrame({
        "report_period_start": np.full(n, storage["report_period_start"].iloc[0]),
        "report_period_end": np.full(n, storage["report_period_end"].iloc[0]),
        "interval_start": hours,
        "interval_end": hours + np.timedelta64(3599, "s"),
        "namespace": "", "pod": "", "node": "", "persistentvolumeclaim": "",
        "persistentvolume": pv["persistentvolume"], "storageclass": pv["storageclass"], "csi_driver": pv["csi_driver"],
        "csi_volume_handle": pv["csi_volume_handle"],
        "persistentvolumeclaim_capacity_bytes": cap, "persistentvolumeclaim_capacity_byte_seconds": cap * 3600,
        "volume_request_storage_byte_seconds": cap * 3600, "persistentvolumeclaim_usage_byte_seconds": 0.0,
        "persistentvolume_labels": json.dumps({"app": "released"}), "persistentvolumeclaim_labels": "{}",
    })
    for col in ("namespace", "pod", "node", "persistentvolumeclaim", "persistentvolume", "storageclass",
                "csi_driver", "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels"):
        extra[col] = extra[col].astype(object)
    return pd.concat([storage, extra[list(storage.columns)]], ignore_index=True)
