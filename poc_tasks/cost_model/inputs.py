"""What the cost-model steps read from Koku's Parquet: GPU usage (daily), node labels (raw) and VM usage (raw).

Koku's self-hosted SQL reads these from its PostgreSQL copies of the Parquet (openshift_gpu_usage_line_items_daily,
openshift_node_labels_line_items, openshift_vm_usage_line_items, with usage_start = date(interval_start)); Trino
reads the Parquet itself. Here the Parquet is read row group by row group, a day at a time, with only the columns
a step needs, and reduced at once: node-label hours are counted per (node, day, label text) as they stream by.
GPU and VM rows are few (one per GPU pod-day, one per VM-hour) and are kept as read.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.runspec import OcpRunSpec

__all__ = ["CostModelSources", "open_cost_model_sources", "read_gpu_daily", "read_gpu_node_hours", "read_vm",
           "WHOLE_PARTITION", "read_vm_pod_hours", "read_vm_pvc_pairs", "read_namespace_labels",
           "GPU_COLUMNS", "VM_COLUMNS"]

# koku/masu/util/ocp/common.py GPU_USAGE_COLUMNS + the optional MIG columns (GPU_USAGE_NEWV_COLUMNS_AND_TYPES)
GPU_DAILY = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("node", STRING),
    ColumnSpec("namespace", STRING),
    ColumnSpec("pod", STRING),
    ColumnSpec("gpu_uuid", STRING),
    ColumnSpec("gpu_model_name", STRING),
    ColumnSpec("gpu_vendor_name", STRING),
    ColumnSpec("gpu_memory_capacity_mib", NUMBER),
    ColumnSpec("gpu_pod_uptime", NUMBER),
    ColumnSpec("mig_instance_id", STRING, required=False),
    ColumnSpec("mig_profile", STRING, required=False),
    ColumnSpec("mig_strategy", STRING, required=False),
    ColumnSpec("mig_slice_count", NUMBER, required=False),
    ColumnSpec("mig_memory_capacity_mib", NUMBER, required=False),
    ColumnSpec("gpu_max_slices", NUMBER, required=False),
]
GPU_COLUMNS = [c.name for c in GPU_DAILY]
NODE_LABELS_RAW = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("node", STRING),
                   ColumnSpec("node_labels", STRING)]
VM_RAW = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("node", STRING),
    ColumnSpec("resource_id", STRING),
    ColumnSpec("vm_name", STRING),
    ColumnSpec("vm_cpu_request_cores", NUMBER),
    ColumnSpec("vm_memory_request_bytes", NUMBER, required=False),
    ColumnSpec("vm_persistentvolumeclaim_name", STRING, required=False),
    ColumnSpec("vm_uptime_total_seconds", NUMBER, required=False),
]
VM_COLUMNS = [c.name for c in VM_RAW]
VM_DAILY = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("vm_name", STRING),
            ColumnSpec("vm_cpu_request_cores", NUMBER)]
POD_DAILY_LABELS = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("pod", STRING),
                    ColumnSpec("pod_labels", STRING)]
STORAGE_DAILY_PVC = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("pod", STRING),
                     ColumnSpec("persistentvolumeclaim", STRING)]
NAMESPACE_LABELS_DAILY = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("namespace", STRING),
                          ColumnSpec("namespace_labels", STRING)]
POD_RAW_LABELS = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("pod_labels", STRING)]
VM_LABEL = "vm_kubevirt_io_name"
GPU_PRESENT = '"nvidia_com_gpu_present": "True"'  # the LIKE of monthly_cost_gpu.sql, on the label text


@dataclass
class CostModelSources:
    gpu_daily: ParquetSource
    gpu_raw: ParquetSource
    node_labels_raw: ParquetSource
    vm_raw: ParquetSource
    vm_daily: ParquetSource
    pod_raw: ParquetSource
    pod_daily: ParquetSource
    storage_daily: ParquetSource
    namespace_labels_daily: ParquetSource

    @property
    def has_gpu(self) -> bool:
        """Koku's trino_table_exists("openshift_gpu_usage_line_items_daily"), per source-month."""
        return bool(self.gpu_daily.files)

    @property
    def has_vm(self) -> bool:
        """Koku's trino_table_exists("openshift_vm_usage_line_items"), per source-month."""
        return bool(self.vm_raw.files)

    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in (self.gpu_daily, self.gpu_raw, self.node_labels_raw, self.vm_raw,
                                          self.vm_daily, self.pod_raw, self.pod_daily, self.storage_daily,
                                          self.namespace_labels_daily))


def open_cost_model_sources(root: str, spec: OcpRunSpec,
                            storage_options: dict[str, Any] | None = None) -> CostModelSources:
    fs = filesystem(root, storage_options)

    def source(report_type: str, daily: bool, columns: list[ColumnSpec]) -> ParquetSource:
        folder = ocp_prefix(root, spec.account, report_type, spec.source_uuid, spec.year, spec.month, daily)
        return ParquetSource(fs, list_parquet(fs, folder), columns,
                             f"openshift_{report_type}_line_items" + ("_daily" if daily else ""))

    return CostModelSources(gpu_daily=source("gpu_usage", True, GPU_DAILY),
                            gpu_raw=source("gpu_usage", False, GPU_DAILY),
                            node_labels_raw=source("node_labels", False, NODE_LABELS_RAW),
                            vm_raw=source("vm_usage", False, VM_RAW),
                            vm_daily=source("vm_usage", True, VM_DAILY),
                            pod_raw=source("pod_usage", False, POD_RAW_LABELS),
                            pod_daily=source("pod_usage", True, POD_DAILY_LABELS),
                            storage_daily=source("storage_usage", True, STORAGE_DAILY_PVC),
                            namespace_labels_daily=source("namespace_labels", True, NAMESPACE_LABELS_DAILY))


def _range(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(start.year, start.month, start.day), dt.datetime(end.year, end.month, end.day) + dt.timedelta(1)


def _with_usage_start(tbl: pa.Table) -> pd.DataFrame:
    df = tbl.to_pandas()
    df["usage_start"] = pd.to_datetime(df["interval_start"]).dt.date
    return df


def read_gpu_daily(src: ParquetSource, start: dt.date, end: dt.date) -> pd.DataFrame:
    """GPU daily rows with usage_start in [start, end] (gpu.usage_start >= start AND <= end)."""
    lo, hi = _range(start, end)
    parts = [_with_usage_start(t) for _path, t in src.read_range(lo, hi, GPU_COLUMNS)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*GPU_COLUMNS, "usage_start"]})
    return pd.concat(parts, ignore_index=True)


def read_gpu_node_hours(src: ParquetSource, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Hours per (node, usage_start, node_labels) of nodes whose labels say a GPU is present.

    count(interval_start) of Koku's cte_unutilized_uptime_hours, before its join: every raw node-label row
    counts (rows repeated across files count twice, as they do in Koku's table).
    """
    counts: dict[tuple[str, dt.date, str], int] = {}
    for day in pd.date_range(start, end, freq="D").date:
        for _path, tbl in src.read_day(day, ["interval_start", "node", "node_labels"]):
            mask = pc.match_substring(tbl.column("node_labels"), GPU_PRESENT)
            mask = pc.and_(pc.fill_null(mask, False), pc.is_valid(tbl.column("interval_start")))
            tbl = tbl.filter(mask)
            if tbl.num_rows == 0:
                continue
            grouped = pa.table({"node": tbl.column("node"), "node_labels": tbl.column("node_labels"),
                                "n": pa.array([1] * tbl.num_rows, pa.int64())}).group_by(
                ["node", "node_labels"], use_threads=False).aggregate([("n", "sum")])
            for node, labels, n in zip(grouped.column("node").to_pylist(), grouped.column("node_labels").to_pylist(),
                                       grouped.column("n_sum").to_pylist(), strict=True):
                key = (node, day, labels)
                counts[key] = counts.get(key, 0) + n
    return pd.DataFrame([(k[0], k[1], k[2], n) for k, n in counts.items()],
                        columns=["node", "usage_start", "node_labels", "hours"])


# Koku's VM statements filter the VM tables on the year/month partition only, not on a date range
WHOLE_PARTITION = (dt.date(1970, 1, 1), dt.date(2999, 12, 31))


def read_vm(src: ParquetSource, columns: list[str], start: dt.date = WHOLE_PARTITION[0],
            end: dt.date = WHOLE_PARTITION[1]) -> pd.DataFrame:
    """VM report rows (raw: one per VM, PVC and hour; daily: one per VM and day) of [start, end]."""
    lo, hi = _range(start, end)
    cols = list(dict.fromkeys(["interval_start", *columns]))
    parts = [_with_usage_start(t) for _path, t in src.read_range(lo, hi, cols)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*cols, "usage_start"]})
    return pd.concat(parts, ignore_index=True)


def read_vm_pod_hours(src: ParquetSource, start: dt.date, end: dt.date) -> pd.Series:
    """Per (vm_name, usage_start): count(interval_start) of raw pod rows whose label text holds
    ``vm_kubevirt_io_name`` (hourly_cost_virtual_machine.sql without the VM report); vm_name is the label's value
    (NULL when the text holds the key elsewhere, as ``pod_labels::jsonb->>key`` gives)."""
    counts: dict[tuple[str | None, dt.date], int] = {}
    for day in pd.date_range(start, end, freq="D").date:
        for _path, tbl in src.read_day(day, ["interval_start", "pod_labels"]):
            mask = pc.fill_null(pc.match_substring(tbl.column("pod_labels"), VM_LABEL), False)
            texts = tbl.filter(mask).column("pod_labels").to_pylist()
            for text in texts:
                value = json.loads(text).get(VM_LABEL) if text else None
                vm = value if isinstance(value, str) or value is None else json.dumps(value)
                counts[(vm, day)] = counts.get((vm, day), 0) + 1
    index = pd.MultiIndex.from_tuples(list(counts), names=["vm_name", "usage_start"]) if counts else \
        pd.MultiIndex.from_tuples([], names=["vm_name", "usage_start"])
    return pd.Series(list(counts.values()), index=index, dtype=float)


def read_vm_pvc_pairs(pod_daily: ParquetSource, storage_daily: ParquetSource) -> pd.DataFrame:
    """Distinct (persistentvolumeclaim, vm_name) of the month: daily pod rows labelled vm_kubevirt_io_name joined
    on pod name with daily storage rows that have a PVC (populate_vm_tmp_table.sql's ``pvc`` subquery)."""
    lo, hi = _range(*WHOLE_PARTITION)
    vm_pods: set[tuple[str, str]] = set()
    for _path, tbl in pod_daily.read_range(lo, hi, ["pod", "pod_labels"]):
        mask = pc.fill_null(pc.match_substring(tbl.column("pod_labels"), VM_LABEL), False)
        for pod, text in zip(*(tbl.filter(mask).column(c).to_pylist() for c in ("pod", "pod_labels")), strict=True):
            value = json.loads(text).get(VM_LABEL) if text else None
            if value is not None:
                vm_pods.add((pod, value if isinstance(value, str) else json.dumps(value)))
    if not vm_pods:
        return pd.DataFrame(columns=["persistentvolumeclaim", "vm_name"])
    by_pod: dict[str, set[str]] = {}
    for pod, vm in vm_pods:
        by_pod.setdefault(pod, set()).add(vm)
    pairs: set[tuple[str, str]] = set()
    for _path, tbl in storage_daily.read_range(lo, hi, ["pod", "persistentvolumeclaim"]):
        for pod, pvc in zip(tbl.column("pod").to_pylist(), tbl.column("persistentvolumeclaim").to_pylist(),
                            strict=True):
            if pvc and pod in by_pod:
                pairs.update((pvc, vm) for vm in by_pod[pod])
    return pd.DataFrame(sorted(pairs), columns=["persistentvolumeclaim", "vm_name"])


def read_namespace_labels(src: ParquetSource, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily namespace-label rows of [start, end] (usage_start, namespace, namespace_labels)."""
    lo, hi = _range(start, end)
    parts = [_with_usage_start(t) for _p, t in src.read_range(lo, hi, ["interval_start", "namespace",
                                                                       "namespace_labels"])]
    if not parts:
        return pd.DataFrame(columns=["interval_start", "namespace", "namespace_labels", "usage_start"])
    return pd.concat(parts, ignore_index=True)
