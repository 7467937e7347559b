"""The OCP Parquet tables the daily summary reads, with the columns each step needs (spec ocp.md §1.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poc_tasks.errors import MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.io.parquet import NUMBER, STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.runspec import OcpRunSpec

POD_METRICS = (
    "pod_usage_cpu_core_seconds",
    "pod_request_cpu_core_seconds",
    "pod_effective_usage_cpu_core_seconds",
    "pod_limit_cpu_core_seconds",
    "pod_usage_memory_byte_seconds",
    "pod_request_memory_byte_seconds",
    "pod_effective_usage_memory_byte_seconds",
    "pod_limit_memory_byte_seconds",
)
STORAGE_METRICS = (
    "persistentvolumeclaim_capacity_byte_seconds",
    "volume_request_storage_byte_seconds",
    "persistentvolumeclaim_usage_byte_seconds",
)

POD_DAILY = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("namespace", STRING, not_null=True),
    ColumnSpec("node", STRING, not_null=True),
    ColumnSpec("pod", STRING),
    ColumnSpec("pod_labels", STRING),
    ColumnSpec("resource_id", STRING),
    *(ColumnSpec(m, NUMBER, required="effective" not in m) for m in POD_METRICS),
    ColumnSpec("node_capacity_cpu_cores", NUMBER),
    ColumnSpec("node_capacity_memory_bytes", NUMBER),
    ColumnSpec("node_role", STRING, required=False),  # operator 4.x only; Koku adds it empty otherwise
]
POD_RAW = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("node", STRING),
    ColumnSpec("node_capacity_cpu_core_seconds", NUMBER),
    ColumnSpec("node_capacity_memory_byte_seconds", NUMBER),
]
STORAGE_DAILY = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("namespace", STRING, not_null=True),
    ColumnSpec("pod", STRING),
    ColumnSpec("persistentvolumeclaim", STRING),
    ColumnSpec("persistentvolume", STRING),
    ColumnSpec("storageclass", STRING),
    ColumnSpec("csi_volume_handle", STRING, required=False),  # older operators; Koku adds it empty
    ColumnSpec("persistentvolume_labels", STRING),
    ColumnSpec("persistentvolumeclaim_labels", STRING),
    ColumnSpec("persistentvolumeclaim_capacity_bytes", NUMBER),
    *(ColumnSpec(m, NUMBER) for m in STORAGE_METRICS),
]
NODE_LABELS_DAILY = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("node", STRING, not_null=True),
    ColumnSpec("node_labels", STRING),
]
NAMESPACE_LABELS_DAILY = [
    ColumnSpec("interval_start", TIMESTAMP),
    ColumnSpec("namespace", STRING, not_null=True),
    ColumnSpec("namespace_labels", STRING),
]


@dataclass
class OcpSources:
    pod_daily: ParquetSource
    pod_raw: ParquetSource
    storage_daily: ParquetSource
    node_labels_daily: ParquetSource
    namespace_labels_daily: ParquetSource

    def all(self) -> list[ParquetSource]:
        return [self.pod_daily, self.pod_raw, self.storage_daily, self.node_labels_daily,
                self.namespace_labels_daily]

    def export_index(self) -> dict[str, list[dict[str, Any]]]:
        return {name: getattr(self, name).export_index() for name in _SOURCE_NAMES}

    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self.all())

    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.all())


_SOURCE_NAMES = ("pod_daily", "pod_raw", "storage_daily", "node_labels_daily", "namespace_labels_daily")


def open_sources(root: str, spec: OcpRunSpec, storage_options: dict[str, Any] | None = None,
                 index: dict[str, list[dict[str, Any]]] | None = None) -> OcpSources:
    """Find the source-month's Parquet in Koku's layout; a month without pod usage files is an error.

    `index` (from OcpSources.export_index of an earlier step) skips listing folders and reading footers again.
    """
    fs = filesystem(root, storage_options)
    names = iter(_SOURCE_NAMES)

    def source(report_type: str, daily: bool, columns: list[ColumnSpec]) -> ParquetSource:
        table = f"openshift_{report_type}_line_items" + ("_daily" if daily else "")
        known = index.get(next(names)) if index else None
        if known is not None:
            return ParquetSource(fs, [], columns, table, index=known)
        folder = ocp_prefix(root, spec.account, report_type, spec.source_uuid, spec.year, spec.month, daily)
        return ParquetSource(fs, list_parquet(fs, folder), columns, table)

    sources = OcpSources(
        pod_daily=source("pod_usage", True, POD_DAILY),
        pod_raw=source("pod_usage", False, POD_RAW),
        storage_daily=source("storage_usage", True, STORAGE_DAILY),
        node_labels_daily=source("node_labels", True, NODE_LABELS_DAILY),
        namespace_labels_daily=source("namespace_labels", True, NAMESPACE_LABELS_DAILY),
    )
    for required in (sources.pod_daily, sources.pod_raw):
        if not required.files:
            folder = ocp_prefix(root, spec.account, "pod_usage", spec.source_uuid, spec.year, spec.month,
                                required is sources.pod_daily)
            raise MissingInputData(f"no {required.table} Parquet for source {spec.source_uuid} "
                                   f"{spec.year}-{spec.month} under {folder}")
    return sources
