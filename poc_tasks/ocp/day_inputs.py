"""Read one day of OCP Parquet and reduce it, row group by row group, to the small frames the summary needs.

Memory grows with the day's groups (namespaces x nodes x label sets, pods, volumes, node-hours), never with the
month's rows: each row group is reduced to partial aggregates as soon as it is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.ocp.arrow_agg import combine, combine_distinct, distinct, group
from poc_tasks.ocp.frames import sql_group
from poc_tasks.ocp.inputs import POD_METRICS, STORAGE_METRICS, OcpSources
from poc_tasks.ocp.labels import LabelParser

_EFFECTIVE = {
    "pod_effective_usage_cpu_core_seconds": ("pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds"),
    "pod_effective_usage_memory_byte_seconds": ("pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds"),
}
POD_KEYS = ["namespace", "node", "pod_labels"]
POD_AGGS = {**{m: "sum" for m in POD_METRICS}, "resource_id": "max", "node_capacity_cpu_cores": "max",
            "node_capacity_memory_bytes": "max"}
POD_NODE_KEYS = ["namespace", "pod", "node", "resource_id"]
STORAGE_KEYS = ["namespace", "pod", "persistentvolumeclaim", "persistentvolume", "storageclass",
                "csi_volume_handle", "persistentvolume_labels", "persistentvolumeclaim_labels"]
STORAGE_AGGS = {"persistentvolumeclaim_capacity_bytes": "max", **{m: "sum" for m in STORAGE_METRICS}}


@dataclass
class DayInputs:
    """One day of OCP input, reduced. Label columns hold canonical JSON restricted to the enabled keys."""

    day: dt.date
    pods: pd.DataFrame  # namespace, node (!= ''), pod_labels, resource_id, 8 metric sums, node capacity maxima
    pod_nodes: pd.DataFrame  # distinct namespace, pod, node, resource_id of every pod row (pending pods too)
    storage: pd.DataFrame  # STORAGE_KEYS + capacity max + 3 sums
    node_labels: pd.DataFrame  # distinct node, labels
    namespace_labels: pd.DataFrame  # distinct namespace, labels
    node_capacity: pd.DataFrame  # node, cpu_core_seconds, memory_byte_seconds (sum over hours of the hourly max)


def _coalesce_effective(tbl: pa.Table) -> pa.Table:
    """coalesce(effective, greatest(usage, request)) per row; PostgreSQL's greatest ignores NULL arguments."""
    for eff, (usage, request) in _EFFECTIVE.items():
        u, r = tbl.column(usage), tbl.column(request)
        greatest = pc.max_element_wise(u, r, skip_nulls=True)
        tbl = tbl.set_column(tbl.schema.get_field_index(eff), eff, pc.coalesce(tbl.column(eff), greatest))
    return tbl


def _reduce_pods(sources: OcpSources, day: dt.date, parser: LabelParser) -> tuple[pa.Table, pa.Table]:
    cols = ["namespace", "node", "pod", "pod_labels", "resource_id", *POD_METRICS, "node_capacity_cpu_cores",
            "node_capacity_memory_bytes"]
    parts, node_parts = [], []
    for path, tbl in sources.pod_daily.read_day(day, cols):
        parser.validate(pc.unique(tbl.column("pod_labels")).to_pylist(), path, "pod_labels")
        node_parts.append(distinct(tbl, POD_NODE_KEYS))
        # Koku's pod rows skip unscheduled pods: node != '' (a NULL node fails the comparison too)
        tbl = tbl.filter(pc.fill_null(pc.not_equal(tbl.column("node"), ""), False))
        if tbl.num_rows:
            parts.append(group(_coalesce_effective(tbl), POD_KEYS, POD_AGGS))
    pod_schema = pa.schema([(k, pa.string()) for k in POD_KEYS]
                           + [(m, pa.float64()) for m in POD_METRICS]
                           + [("resource_id", pa.string()), ("node_capacity_cpu_cores", pa.float64()),
                              ("node_capacity_memory_bytes", pa.float64())])
    node_schema = pa.schema([(k, pa.string()) for k in POD_NODE_KEYS])
    return (combine(parts, POD_KEYS, POD_AGGS, pod_schema),
            combine_distinct(node_parts, POD_NODE_KEYS, node_schema))


def _reduce_storage(sources: OcpSources, day: dt.date, parser: LabelParser) -> pa.Table:
    parts = []
    for path, tbl in sources.storage_daily.read_day(day, [*STORAGE_KEYS, *STORAGE_AGGS]):
        for col in ("persistentvolume_labels", "persistentvolumeclaim_labels"):
            parser.validate(pc.unique(tbl.column(col)).to_pylist(), path, col)
        parts.append(group(tbl, STORAGE_KEYS, STORAGE_AGGS))
    schema = pa.schema([(k, pa.string()) for k in STORAGE_KEYS] + [(m, pa.float64()) for m in STORAGE_AGGS])
    return combine(parts, STORAGE_KEYS, STORAGE_AGGS, schema)


def _reduce_labels(source, day: dt.date, key: str, label_col: str, parser: LabelParser) -> pd.DataFrame:
    parts = []
    for path, tbl in source.read_day(day, [key, label_col]):
        parser.validate(pc.unique(tbl.column(label_col)).to_pylist(), path, label_col)
        parts.append(distinct(tbl, [key, label_col]))
    schema = pa.schema([(key, pa.string()), (label_col, pa.string())])
    raw = combine_distinct(parts, [key, label_col], schema).to_pandas()
    # variants are distinct *after* filtering (Koku groups by the filtered map)
    raw["labels"] = [parser.filtered(v) for v in raw[label_col]]
    return raw[[key, "labels"]].drop_duplicates().reset_index(drop=True)


def _reduce_capacity(sources: OcpSources, day: dt.date) -> pd.DataFrame:
    """Node capacity: max per (hour, node) over the raw hourly pod rows, then summed over the day's hours."""
    keys = ["interval_start", "node"]
    aggs = {"node_capacity_cpu_core_seconds": "max", "node_capacity_memory_byte_seconds": "max"}
    parts = [group(tbl, keys, aggs) for _path, tbl in sources.pod_raw.read_day(day, [*keys, *aggs])]
    schema = pa.schema([("interval_start", pa.timestamp("ms")), ("node", pa.string()),
                        ("node_capacity_cpu_core_seconds", pa.float64()),
                        ("node_capacity_memory_byte_seconds", pa.float64())])
    hourly = combine(parts, keys, aggs, schema)
    per_node = group(hourly, ["node"], {"node_capacity_cpu_core_seconds": "sum",
                                        "node_capacity_memory_byte_seconds": "sum"}) if hourly.num_rows else None
    if per_node is None:
        return pd.DataFrame({"node": pd.Series(dtype=object), "cpu_core_seconds": pd.Series(dtype=float),
                             "memory_byte_seconds": pd.Series(dtype=float)})
    df = per_node.to_pandas()
    return df.rename(columns={"node_capacity_cpu_core_seconds": "cpu_core_seconds",
                              "node_capacity_memory_byte_seconds": "memory_byte_seconds"})


def _filter_label_column(df: pd.DataFrame, col: str, parser: LabelParser) -> None:
    mapping = {v: parser.filtered(v) for v in pd.unique(df[col])}
    df[col] = df[col].map(mapping) if len(df) else df[col]


def read_day(sources: OcpSources, day: dt.date, parser: LabelParser) -> DayInputs:
    pods_t, pod_nodes_t = _reduce_pods(sources, day, parser)
    pods = pods_t.to_pandas()
    _filter_label_column(pods, "pod_labels", parser)
    if len(pods):  # different raw texts can filter to one map: regroup (sums of sums, maxima of maxima)
        pods = sql_group(pods, POD_KEYS, POD_AGGS)
    storage = _reduce_storage(sources, day, parser).to_pandas()
    for col in ("persistentvolume_labels", "persistentvolumeclaim_labels"):
        _filter_label_column(storage, col, parser)
    return DayInputs(
        day=day,
        pods=pods,
        pod_nodes=pod_nodes_t.to_pandas(),
        storage=storage,
        node_labels=_reduce_labels(sources.node_labels_daily, day, "node", "node_labels", parser),
        namespace_labels=_reduce_labels(sources.namespace_labels_daily, day, "namespace", "namespace_labels",
                                        parser),
        node_capacity=_reduce_capacity(sources, day),
    )
