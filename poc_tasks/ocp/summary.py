"""One day of reporting_ocpusagelineitem_daily_summary: pod, storage and unallocated rows, in the table's shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from poc_tasks.ocp.day_inputs import DayInputs
from poc_tasks.ocp.pods import pod_rows
from poc_tasks.ocp.storage import storage_rows
from poc_tasks.ocp.unallocated import unallocated_rows

SUMMARY_TABLE = "reporting_ocpusagelineitem_daily_summary"

_STR, _F64, _I64, _DATE = pa.string(), pa.float64(), pa.int64(), pa.date32()
# The columns the summary step sets (everything else stays NULL until cost models / OCP-on-cloud run), plus
# csi_volume_handle, which Koku keeps only in its staging copy: staged for the OCP-on-cloud flows, not written.
STAGED_SCHEMA = pa.schema([
    ("report_period_id", _I64), ("cluster_id", _STR), ("cluster_alias", _STR), ("data_source", _STR),
    ("usage_start", _DATE), ("usage_end", _DATE), ("namespace", _STR), ("node", _STR), ("resource_id", _STR),
    ("pod_labels", _STR),
    ("pod_usage_cpu_core_hours", _F64), ("pod_request_cpu_core_hours", _F64),
    ("pod_effective_usage_cpu_core_hours", _F64), ("pod_limit_cpu_core_hours", _F64),
    ("pod_usage_memory_gigabyte_hours", _F64), ("pod_request_memory_gigabyte_hours", _F64),
    ("pod_effective_usage_memory_gigabyte_hours", _F64), ("pod_limit_memory_gigabyte_hours", _F64),
    ("node_capacity_cpu_cores", _F64), ("node_capacity_cpu_core_hours", _F64),
    ("node_capacity_memory_gigabytes", _F64), ("node_capacity_memory_gigabyte_hours", _F64),
    ("cluster_capacity_cpu_core_hours", _F64), ("cluster_capacity_memory_gigabyte_hours", _F64),
    ("persistentvolumeclaim", _STR), ("persistentvolume", _STR), ("storageclass", _STR), ("volume_labels", _STR),
    ("all_labels", _STR),
    ("persistentvolumeclaim_capacity_gigabyte", _F64), ("persistentvolumeclaim_capacity_gigabyte_months", _F64),
    ("volume_request_storage_gigabyte_months", _F64), ("persistentvolumeclaim_usage_gigabyte_months", _F64),
    ("source_uuid", _STR), ("infrastructure_usage_cost", _STR), ("cost_category_id", _I64),
    ("csi_volume_handle", _STR),
])
WRITTEN_COLUMNS = [n for n in STAGED_SCHEMA.names if n != "csi_volume_handle"]


@dataclass(frozen=True)
class RunConstants:
    report_period_id: int
    cluster_id: str
    cluster_alias: str
    source_uuid: str


def summarize_day(inputs: DayInputs, patterns: Sequence[tuple[str, int]], roles: pd.DataFrame) -> pd.DataFrame:
    """All summary rows of one day (pure: frames in, frame out)."""
    pods = pod_rows(inputs, patterns)
    parts = [pods, storage_rows(inputs, patterns), unallocated_rows(pods, roles, patterns)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=STAGED_SCHEMA.names)
    return pd.concat(parts, ignore_index=True)


def to_arrow(rows: pd.DataFrame, constants: RunConstants) -> pa.Table:
    """The day's rows in STAGED_SCHEMA, constants filled in, missing columns NULL."""
    n = len(rows)
    arrays = []
    for field in STAGED_SCHEMA:
        name = field.name
        if name in ("report_period_id", "cluster_id", "cluster_alias", "source_uuid"):
            arrays.append(pa.array([getattr(constants, name)] * n, type=field.type))
        elif name in rows.columns:
            col = rows[name]
            if field.type == _I64:
                arrays.append(pa.array(col.astype("Float64").astype("Int64"), type=_I64))
            elif field.type == _DATE:
                arrays.append(pa.array(list(col), type=_DATE))
            elif field.type == _F64:
                arrays.append(pa.array(col.to_numpy(dtype=float), type=_F64, from_pandas=True))
            else:
                arrays.append(pa.array(col.astype(object).where(col.notna(), None), type=_STR))
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=STAGED_SCHEMA)
