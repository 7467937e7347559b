"""The cost-model steps Koku runs on Trino, for one OCP source and one month: read, compute, replace.

Koku's OCPCostModelCostUpdater runs, per month, PostgreSQL statements over the daily summary and a few that read
the Parquet through Trino; these are the latter, on the Parquet (rules and deviations: docs/cost-model.md):

- ``gpu_monthly``       monthly_cost_gpu.sql (populate_tag_based_costs, gpu_cost_per_month)
- ``vm_core_monthly``   monthly_vm_core.sql (populate_monthly_cost_sql("OCP_VM_CORE"))
- ``vm_hourly``         hourly_cost_virtual_machine.sql, hourly_vm_core.sql (populate_vm_usage_costs)
- ``vm_tag_based``      the VM tag statements of populate_tag_based_costs
- optional, run when named: ``gpu_distribution`` (distribute_unallocated_gpu_cost.sql), ``vm_tmp_table``
  (populate_vm_tmp_table*.sql into Koku's tmp_virt_<uuid>), ``gpu_ui_usage_only`` (reporting_ocp_gpu_summary_p),
  ``vm_ui_summary`` (the whole _populate_virtualization_ui_summary_table into reporting_ocp_vm_summary_p).

With ``use_rtu`` (Koku's flag of that name) the steps run the ``_rtu`` variants and write rates_to_usage
(poc_tasks.cost_model.rtu); the UI and tmp-table steps have no variant.

Deletes are Koku's where its delete covers exactly the statement's rows (OCP_VM_CORE, gpu_distributed, the GPU UI
table); where Koku deletes a family shared with its PostgreSQL statements before running them all (Tag rows, usage
rows), the delete is narrowed to the rows the replaced statement writes, so a re-run replaces exactly its own rows
and never Koku's. Each step is one transaction (db.writer.replace_rows): a failure leaves the previous rows.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pandas as pd

from poc_tasks.cost_model import gpu as gpu_rules
from poc_tasks.cost_model import vm as vm_rules
from poc_tasks.cost_model.inputs import (
    VM_COLUMNS,
    CostModelSources,
    open_cost_model_sources,
    read_gpu_daily,
    read_gpu_node_hours,
    read_namespace_labels,
    read_vm,
    read_vm_pod_hours,
    read_vm_pvc_pairs,
)
from poc_tasks.cost_model.rates import (
    GPU_MONTH,
    INFRASTRUCTURE,
    PROJECT_MONTH,
    SUPPLEMENTARY,
    VM_CORE_HOUR,
    VM_CORE_MONTH,
    VM_HOUR,
    CostModelInputs,
    days_in_month,
    load_cost_model,
)
from poc_tasks.db import tenant
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.db.writer import replace_rows
from poc_tasks.errors import InvalidArgument
from poc_tasks.runspec import OcpRunSpec

__all__ = ["run_cost_model", "apply_cost_model", "STEPS", "OPTIONAL_STEPS", "GPU_DELETE_WHERE", "VM_CORE_DELETE_WHERE",
           "VM_HOURLY_DELETE_WHERE", "VM_TAG_DELETE_WHERE", "GPU_DISTRIBUTION_DELETE_WHERE"]

STEPS = ("gpu_monthly", "vm_core_monthly", "vm_hourly", "vm_tag_based", "project_tag_based")
# steps run only when asked for (they need an argument of Koku's run)
OPTIONAL_STEPS = ("vm_tmp_table", "gpu_ui_usage_only", "gpu_distribution", "vm_ui_summary")

_RANGE = "usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(rp)s"
# delete_monthly_cost.sql with cost_type OCP_VM_CORE (Koku passes no rate_type to the delete)
VM_CORE_DELETE_WHERE = _RANGE + " AND cost_model_rate_type IS NOT NULL AND monthly_cost_type = 'OCP_VM_CORE'"
# _delete_tag_usage_costs (source, range, report period, monthly_cost_type = 'Tag'), narrowed to the GPU rows
GPU_DELETE_WHERE = _RANGE + " AND source_uuid = %(source)s AND monthly_cost_type = 'Tag' AND data_source = 'GPU'"
# Koku's usage-cost step deletes every row with a rate type and no monthly cost type before populate_vm_usage_costs
# inserts; narrowed to what the two VM hourly statements write: a VM pod's Pod row with only a CPU cost (Koku's
# usage-cost rows always carry a memory and a volume cost, its tag rows a monthly cost type)
VM_HOURLY_DELETE_WHERE = (
    _RANGE + " AND source_uuid = %(source)s AND data_source = 'Pod' AND monthly_cost_type IS NULL"
    " AND cost_model_rate_type IN ('Infrastructure', 'Supplementary') AND cost_model_memory_cost IS NULL"
    " AND cost_model_volume_cost IS NULL AND pod_labels ? 'vm_kubevirt_io_name'"
)


def _params(spec: OcpRunSpec, rp: int) -> dict[str, Any]:
    return {"start": spec.start_date, "end": spec.end_date, "rp": rp, "source": spec.source_uuid}


# --- the _rtu variants (use_rtu=True): the same rows as rates_to_usage rows (poc_tasks.cost_model.rtu) -------------
# Koku's own deletes before its rtu statements: delete_monthly_cost_rates_to_usage.sql (OCP_VM_CORE, exact), and the
# one of insert_usage_rates_to_usage.sql (every Infrastructure/Supplementary row without a monthly cost type or with
# 'Tag', written by Koku's PostgreSQL usage and tag statements too), narrowed here to the rows of the statement's
# own metrics: their rate's metric (rate_id), or, for a rate Koku's rate_info_map did not know, the custom name
# Koku falls back to (the metric name).
_RTU_SOURCE = _RANGE + " AND source_uuid = %(source)s AND cost_model_rate_type IN ('Infrastructure', 'Supplementary')"
RTU_VM_CORE_DELETE_WHERE = _RANGE + " AND monthly_cost_type = 'OCP_VM_CORE'"
RTU_GPU_DELETE_WHERE = _RTU_SOURCE + " AND monthly_cost_type = 'Tag' AND data_source = 'GPU'"


def _frame(conn: Any, query: Any, params: tuple, columns: list[str]) -> pd.DataFrame:
    """A read of the step's PostgreSQL inputs, as a frame; the read transaction is ended at once."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        out = pd.DataFrame(cur.fetchall(), columns=columns)
    conn.commit()
    return out


def _ensure_output_tables(conn: Any, schema: str) -> None:
    """rates_to_usage and reporting_ocp_vm_summary_p where Koku has not created them (standalone); committed."""
    from poc_tasks.db.tables_cost_model import ensure_cost_model_output_tables

    try:
        ensure_cost_model_output_tables(conn, schema)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _rtu_metric_where(schema: str, shape: str) -> Any:
    from psycopg2 import sql as pgsql

    from poc_tasks.db.connection import qualified

    rates = pgsql.SQL(" AND (rate_id IN (SELECT uuid FROM {} WHERE metric = ANY(%(metrics)s))"
                      " OR (rate_id IS NULL AND custom_name = ANY(%(metrics)s)))").format(
        qualified(schema, "cost_model_rate"))
    return pgsql.SQL(_RTU_SOURCE) + pgsql.SQL(" AND ") + pgsql.SQL(shape) + rates  # shape: code, not data


def _write(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, parts: list[tuple], *, summary_where: Any,
           cost_column: str, rtu: bool, rtu_where: Any = None, metrics: tuple[str, ...] = (),
           volume_columns: bool = False) -> dict[str, Any]:
    """Replace the step's rows: in the daily summary, or (`rtu`) in rates_to_usage.

    `parts`: (rows as the summary statement writes them, metric, rate type, tag key) per rate.
    """
    from poc_tasks.cost_model import rtu as rtu_rules
    from poc_tasks.db.tables_cost_model import rates_to_usage

    if not rtu:
        result = replace_rows(conn, spec.schema_name, SUMMARY_TABLE, summary_where, _params(spec, rp),
                              [f for f, *_k in parts if len(f)], constants={"report_period_id": rp},
                              partition_range=(spec.start_date, spec.end_date))
        return {"deleted": result.deleted, "inserted": result.inserted}
    frames = []
    for rows, metric, rate_type, tag_key in parts:
        if not len(rows):
            continue
        rate_id, custom_name = model.rate_ref(metric, rate_type, tag_key)
        monthly = rows["monthly_cost_type"].iloc[0]
        if custom_name is None:  # Koku: custom_name or cost_type (monthly), rate_info.get("custom_name", metric)
            custom_name = "OCP_VM_CORE" if monthly == "OCP_VM_CORE" else metric
        frames.append(rtu_rules.to_rtu_rows(
            rows, cost_column, cost_model_id=model.uuid, rate_id=rate_id, custom_name=custom_name,
            metric_type=rtu_rules.metric_type_for(metric, model.distribution, monthly),
            with_volume_columns=volume_columns))
    _ensure_output_tables(conn, spec.schema_name)
    params = {**_params(spec, rp), "metrics": list(metrics)}
    result = replace_rows(conn, spec.schema_name, rates_to_usage, rtu_where, params, frames,
                          constants={"report_period_id": rp}, partition_range=(spec.start_date, spec.end_date))
    return {"deleted": result.deleted, "inserted": result.inserted, "table": "rates_to_usage"}


def gpu_monthly(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs,
                sources: CostModelSources, *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    parts: list[tuple] = []
    params = model.tag_params.get(GPU_MONTH, [])
    if params and sources.has_gpu and spec.cluster_id:
        days = days_in_month(spec.start_date)
        gpu = read_gpu_daily(sources.gpu_daily, spec.start_date, spec.end_date)
        hours = read_gpu_node_hours(sources.node_labels_raw, spec.start_date, spec.end_date)
        categories = tenant.cost_category_namespaces(conn, spec.schema_name)
        conn.commit()
        for p in params:
            args = (p, days, spec.cluster_id, spec.cluster_alias, spec.source_uuid)
            key = (GPU_MONTH, p.rate_type, p.tag_key)
            parts.append((gpu_rules.gpu_pod_rows(gpu, *args, categories), *key))
            parts.append((gpu_rules.gpu_unallocated_rows(gpu, hours, *args, unmatched_zero=rtu), *key))
    out = _write(conn, spec, rp, model, parts, summary_where=GPU_DELETE_WHERE, cost_column="cost_model_gpu_cost",
                 rtu=rtu, rtu_where=RTU_GPU_DELETE_WHERE, volume_columns=True)
    return {**out, "tag_rates": len(params)}


def vm_core_monthly(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs,
                    sources: CostModelSources, *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    if not sources.has_vm:
        return {"skipped": "no VM report for the month"}
    rate_type, rate = model.monthly_rate(VM_CORE_MONTH)
    parts: list[tuple] = []
    if rate:
        summary = vm_rules.vm_summary_rows(conn, spec.schema_name, rp)
        conn.commit()
        vm_raw = read_vm(sources.vm_raw, VM_COLUMNS)
        parts.append((vm_rules.vm_core_monthly_rows(summary, vm_raw, rate_type, rate, spec.start_date, spec.end_date,
                                                    days_in_month(spec.start_date)), VM_CORE_MONTH, rate_type, ""))
    out = _write(conn, spec, rp, model, parts, summary_where=VM_CORE_DELETE_WHERE, cost_column="cost_model_cpu_cost",
                 rtu=rtu, rtu_where=RTU_VM_CORE_DELETE_WHERE)
    return {**out, "rate_type": rate_type}


def vm_hourly(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs,
              sources: CostModelSources, *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    """populate_vm_usage_costs for both rate types: vm_cost_per_hour (hours from the VM report, or from the VM
    pods' raw rows without one) and vm_core_cost_per_hour (only with a VM report)."""
    parts: list[tuple] = []
    rates = {INFRASTRUCTURE: model.infrastructure_rates, SUPPLEMENTARY: model.supplementary_rates}
    wanted = {rt: {m: r[m] for m in (VM_HOUR, VM_CORE_HOUR) if m in r} for rt, r in rates.items()}
    if any(wanted.values()):
        summary = vm_rules.vm_summary_rows(conn, spec.schema_name, rp)
        conn.commit()
        vm_raw = read_vm(sources.vm_raw, VM_COLUMNS) if sources.has_vm else None
        hours = None
        for rate_type, metric_rates in wanted.items():
            if VM_HOUR in metric_rates:
                if hours is None:
                    hours = (vm_rules.vm_hours_from_vm_report(vm_raw) if vm_raw is not None
                             else read_vm_pod_hours(sources.pod_raw, spec.start_date, spec.end_date))
                parts.append((vm_rules.vm_hourly_rows(summary, hours, rate_type, metric_rates[VM_HOUR],
                                                      spec.start_date, spec.end_date), VM_HOUR, rate_type, ""))
            if VM_CORE_HOUR in metric_rates and vm_raw is not None:
                parts.append((vm_rules.vm_core_hourly_rows(summary, vm_raw, rate_type, metric_rates[VM_CORE_HOUR],
                                                           spec.start_date, spec.end_date), VM_CORE_HOUR, rate_type,
                              ""))
    out = _write(conn, spec, rp, model, parts, summary_where=VM_HOURLY_DELETE_WHERE,
                 cost_column="cost_model_cpu_cost", rtu=rtu,
                 rtu_where=_rtu_metric_where(spec.schema_name, "monthly_cost_type IS NULL AND data_source = 'Pod'"
                                             " AND pod_labels ? 'vm_kubevirt_io_name'"),
                 metrics=(VM_HOUR, VM_CORE_HOUR))
    return {**out, "vm_report": sources.has_vm}


def _vm_tmp_rows(conn: Any, spec: OcpRunSpec, sources: CostModelSources) -> pd.DataFrame:
    """The rows of Koku's tmp_virt_<uuid>: from the VM report, or without one from the summary and the pods' PVCs."""
    if sources.has_vm:
        return vm_rules.vm_tmp_rows_with_vm_report(read_vm(sources.vm_raw, VM_COLUMNS))
    latest = vm_rules.vm_tmp_latest_from_summary(conn, spec.schema_name, spec.source_uuid, spec.start_date,
                                                 spec.end_date)
    conn.commit()
    return vm_rules.vm_tmp_rows_from_pods(latest, read_vm_pvc_pairs(sources.pod_daily, sources.storage_daily))


VM_UI_DELETE_WHERE = "usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s"


def vm_ui_summary(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                  **_options: Any) -> dict[str, Any]:
    """_populate_virtualization_ui_summary_table whole: the scratch rows (in memory, no tmp_virt table) and
    reporting_ocp_vm_summary_p's delete and three inserts (cost_model.vm_ui), one transaction. Koku returns before
    its delete when the source has no daily pod or storage Parquet; so does this step."""
    from poc_tasks.cost_model import vm_ui
    from poc_tasks.db.tables_cost_model import ocp_vm_summary_p

    if not (sources.pod_daily.files and sources.storage_daily.files):
        return {"skipped": "no daily pod or storage report for the month"}
    tmp = _vm_tmp_rows(conn, spec, sources)
    inputs = vm_ui.read_vm_ui_inputs(conn, spec.schema_name, spec.source_uuid, spec.start_date, spec.end_date)
    conn.commit()
    rows = vm_ui.vm_ui_rows(inputs, tmp, spec.source_uuid)
    _ensure_output_tables(conn, spec.schema_name)
    result = replace_rows(conn, spec.schema_name, ocp_vm_summary_p, VM_UI_DELETE_WHERE, _params(spec, rp),
                          [rows] if len(rows) else [], generate_uuid=False,
                          partition_range=(spec.start_date, spec.end_date))
    return {"deleted": result.deleted, "inserted": result.inserted, "vm_report": sources.has_vm,
            "tmp_rows": len(tmp)}


def vm_tmp_table(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                 vm_tmp_uuid: str | None = None, **_options: Any) -> dict[str, Any]:
    """The Trino statement of _populate_virtualization_ui_summary_table: fill Koku's scratch table
    ``tmp_virt_<uuid>`` (created by Koku, read by its VM UI SQL) from the VM report, or without one from the
    summary and the pods' PVCs. Replaces the table's rows in one transaction."""
    import re

    import sqlalchemy as sa

    if not vm_tmp_uuid or not re.fullmatch(r"[0-9a-f]{32}", str(vm_tmp_uuid)):
        raise InvalidArgument(f"vm_tmp_uuid {vm_tmp_uuid!r}: the step vm_tmp_table needs Koku's 32-hex uuid of "
                              "tmp_virt_<uuid>")
    name = f"tmp_virt_{vm_tmp_uuid}"
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{spec.schema_name}"."{name}"',))
        if cur.fetchone()[0] is None:
            raise InvalidArgument(f"{spec.schema_name}.{name} does not exist (Koku creates it before this step)")
    conn.commit()
    table = sa.Table(name, sa.MetaData(), sa.Column("vm_name", sa.Text), sa.Column("node", sa.Text),
                     sa.Column("pvc_name", sa.Text), sa.Column("cpu_request", sa.Float),
                     sa.Column("mem_request", sa.Float))
    rows = _vm_tmp_rows(conn, spec, sources)
    result = replace_rows(conn, spec.schema_name, table, "true", {}, [rows] if len(rows) else [],
                          columns=vm_rules.TMP_COLUMNS, generate_uuid=False)
    return {"deleted": result.deleted, "inserted": result.inserted, "vm_report": sources.has_vm, "table": name}


def gpu_ui_usage_only(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                      **_options: Any) -> dict[str, Any]:
    """_populate_gpu_ui_summary_table_with_usage_only: when the source has GPU data, a cluster id, and the cost
    model prices no GPU, replace the range's reporting_ocp_gpu_summary_p rows of the source with usage-only rows
    from the raw GPU report (Koku returns before its delete otherwise; so does this step)."""
    if not sources.gpu_raw.files:
        return {"skipped": "no GPU report for the month"}
    if model.tag_params.get(GPU_MONTH):
        return {"skipped": "the cost model prices GPUs (the UI table comes from the summary)"}
    if not spec.cluster_id:
        return {"skipped": "no cluster id"}
    from poc_tasks.cost_model.inputs import GPU_COLUMNS
    from poc_tasks.db.tables_cost_model import ocp_gpu_summary_p

    lo = dt.datetime(spec.start_date.year, spec.start_date.month, spec.start_date.day)
    hi = dt.datetime(spec.end_date.year, spec.end_date.month, spec.end_date.day) + dt.timedelta(days=1)
    parts = [t.to_pandas() for _p, t in sources.gpu_raw.read_range(lo, hi, GPU_COLUMNS)]
    rows = pd.DataFrame()
    if parts:
        raw = pd.concat(parts, ignore_index=True)
        raw["usage_start"] = pd.to_datetime(raw["interval_start"]).dt.date
        rows = gpu_rules.gpu_ui_usage_only_rows(raw, spec.cluster_id, spec.cluster_alias, spec.source_uuid,
                                                tenant.cost_category_namespaces(conn, spec.schema_name))
    result = replace_rows(conn, spec.schema_name, ocp_gpu_summary_p,
                          "usage_start >= %(start)s AND usage_start <= %(end)s AND source_uuid = %(source)s",
                          _params(spec, rp), [rows] if len(rows) else [],
                          partition_range=(spec.start_date, spec.end_date))
    return {"deleted": result.deleted, "inserted": result.inserted}


# Koku's _delete_tag_usage_costs removes every 'Tag' row first; the Tag rows of its PostgreSQL statements always
# carry a memory and a volume cost (0 when none): narrowed to the VM pod rows with only a CPU cost these write
VM_TAG_DELETE_WHERE = (
    _RANGE + " AND source_uuid = %(source)s AND data_source = 'Pod' AND monthly_cost_type = 'Tag'"
    " AND cost_model_memory_cost IS NULL AND cost_model_volume_cost IS NULL AND pod_labels ? 'vm_kubevirt_io_name'"
)


def vm_tag_based(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                 *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    """The VM entries of populate_tag_based_costs: vm_cost_per_hour (hours from the VM report, or the VM pods' raw
    rows without one), vm_core_cost_per_month and vm_core_cost_per_hour (only with a VM report)."""
    parts: list[tuple] = []
    hour_params = model.tag_params.get(VM_HOUR, [])
    core_month = model.tag_params.get(VM_CORE_MONTH, []) if sources.has_vm else []
    core_hour = model.tag_params.get(VM_CORE_HOUR, []) if sources.has_vm else []
    if hour_params or core_month or core_hour:
        summary = vm_rules.vm_summary_rows(conn, spec.schema_name, rp)
        conn.commit()
        vm_raw = read_vm(sources.vm_raw, VM_COLUMNS) if sources.has_vm else None
        args = (summary,)
        if hour_params:
            hours = (vm_rules.vm_hours_from_vm_report(vm_raw) if vm_raw is not None
                     else read_vm_pod_hours(sources.pod_raw, spec.start_date, spec.end_date))
            parts += [(vm_rules.vm_tag_rows("vm_hour", *args, p, spec.start_date, spec.end_date, vm_hours=hours),
                       VM_HOUR, p.rate_type, p.tag_key) for p in hour_params]
        if core_month:
            vm_daily = read_vm(sources.vm_daily, ["vm_name", "vm_cpu_request_cores"])
            parts += [(vm_rules.vm_tag_rows("vm_core_month", *args, p, spec.start_date, spec.end_date, vm_raw=vm_raw,
                                            vm_daily=vm_daily, days=days_in_month(spec.start_date)),
                       VM_CORE_MONTH, p.rate_type, p.tag_key) for p in core_month]
        parts += [(vm_rules.vm_tag_rows("vm_core_hour", *args, p, spec.start_date, spec.end_date, vm_raw=vm_raw),
                   VM_CORE_HOUR, p.rate_type, p.tag_key) for p in core_hour]
    out = _write(conn, spec, rp, model, parts, summary_where=VM_TAG_DELETE_WHERE, cost_column="cost_model_cpu_cost",
                 rtu=rtu, rtu_where=_rtu_metric_where(spec.schema_name, "monthly_cost_type = 'Tag' AND data_source ="
                                                      " 'Pod' AND pod_labels ? 'vm_kubevirt_io_name'"),
                 metrics=(VM_HOUR, VM_CORE_MONTH, VM_CORE_HOUR))
    return {**out, "tag_rates": len(hour_params) + len(core_month) + len(core_hour)}


# narrowed like VM_TAG_DELETE_WHERE, to the project rows (namespace labels: no VM label)
PROJECT_TAG_DELETE_WHERE = (
    _RANGE + " AND source_uuid = %(source)s AND data_source = 'Pod' AND monthly_cost_type = 'Tag'"
    " AND cost_model_memory_cost IS NULL AND cost_model_volume_cost IS NULL"
    " AND NOT (pod_labels ? 'vm_kubevirt_io_name')"
)


def project_tag_based(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                      *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    """The project_per_month entry of populate_tag_based_costs (monthly_project_tag_based.sql)."""
    from poc_tasks.cost_model import project

    parts: list[tuple] = []
    params = model.tag_params.get(PROJECT_MONTH, [])
    if params:
        labels = read_namespace_labels(sources.namespace_labels_daily, spec.start_date, spec.end_date)
        pairs = project.namespace_nodes(conn, spec.schema_name, spec.source_uuid, spec.start_date, spec.end_date)
        conn.commit()
        days = days_in_month(spec.start_date)
        parts = [(project.project_tag_rows(labels, pairs, p, days, spec.cluster_id, spec.cluster_alias,
                                           spec.source_uuid), PROJECT_MONTH, p.rate_type, p.tag_key) for p in params]
    out = _write(conn, spec, rp, model, parts, summary_where=PROJECT_TAG_DELETE_WHERE,
                 cost_column="cost_model_cpu_cost", rtu=rtu,
                 rtu_where=_rtu_metric_where(spec.schema_name, "monthly_cost_type = 'Tag' AND data_source = 'Pod'"),
                 metrics=(PROJECT_MONTH,), volume_columns=True)
    return {**out, "tag_rates": len(params)}


GPU_DISTRIBUTED = "gpu_distributed"
# delete_monthly_cost_model_rate_type.sql with cost_model_rate_type = 'gpu_distributed'
GPU_DISTRIBUTION_DELETE_WHERE = _RANGE + " AND cost_model_rate_type = 'gpu_distributed'"


# delete_distributed_rates_to_usage.sql with cost_model_rate_type = 'gpu_distributed' (Koku's, exact)
RTU_GPU_DISTRIBUTION_DELETE_WHERE = _RANGE + " AND monthly_cost_type = 'gpu_distributed'"
_DISTRIBUTION_TYPES = ("worker_distributed", "platform_distributed", "gpu_distributed", "unattributed_storage",
                       "unattributed_network")


def _gpu_distribution_rtu(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                          enabled: bool) -> dict[str, Any]:
    """distribute_unallocated_gpu_cost_rtu.sql: Koku deletes the summary's and rates_to_usage's gpu_distributed
    rows of the range, then distributes the rates_to_usage "GPU unallocated" rows per rate."""
    from psycopg2 import sql as pgsql

    from poc_tasks.cost_model import rtu as rtu_rules
    from poc_tasks.db.connection import qualified
    from poc_tasks.db.tables_cost_model import rates_to_usage

    summary = replace_rows(conn, spec.schema_name, SUMMARY_TABLE, GPU_DISTRIBUTION_DELETE_WHERE, _params(spec, rp),
                           [], partition_range=(spec.start_date, spec.end_date))
    _ensure_output_tables(conn, spec.schema_name)
    rows: list[pd.DataFrame] = []
    if enabled and sources.has_gpu:
        unallocated = _frame(conn, pgsql.SQL(
            "SELECT usage_start, cluster_id, cluster_alias, report_period_id, node, all_labels->>'gpu-model',"
            " custom_name, metric_type, cost_model_rate_type, calculated_cost FROM {} WHERE usage_start >= %s"
            " AND usage_start <= %s AND source_uuid = %s AND namespace = 'GPU unallocated'"
            " AND (monthly_cost_type IS NULL OR NOT monthly_cost_type = ANY(%s))"
        ).format(qualified(spec.schema_name, "rates_to_usage")),
            (spec.start_date, spec.end_date, spec.source_uuid, list(_DISTRIBUTION_TYPES)),
            ["usage_start", "cluster_id", "cluster_alias", "report_period_id", "node", "gpu_model", "custom_name",
             "metric_type", "cost_model_rate_type", "calculated_cost"])
        gpu = read_gpu_daily(sources.gpu_daily, spec.start_date, spec.end_date)
        rows.append(rtu_rules.distribution_rows(unallocated, gpu, spec.source_uuid, model.uuid, GPU_DISTRIBUTED))
    result = replace_rows(conn, spec.schema_name, rates_to_usage, RTU_GPU_DISTRIBUTION_DELETE_WHERE,
                          _params(spec, rp), [f for f in rows if len(f)],
                          partition_range=(spec.start_date, spec.end_date))
    return {"deleted": summary.deleted + result.deleted, "inserted": result.inserted, "enabled": enabled,
            "table": "rates_to_usage"}


def gpu_distribution(conn: Any, spec: OcpRunSpec, rp: int, model: CostModelInputs, sources: CostModelSources,
                     *, rtu: bool = False, **_options: Any) -> dict[str, Any]:
    """The GPU_UNALLOCATED entry of populate_distributed_cost_sql for the range Koku passes (the whole month):
    delete the range's 'gpu_distributed' rows, then, when distribution_info["gpu_unallocated"] is on and the month
    has GPU data, distribute the "GPU unallocated" rows' cost to the namespaces by slice-hours."""
    from psycopg2 import sql as pgsql

    from poc_tasks.db.connection import qualified

    frames: list[pd.DataFrame] = []
    enabled = bool(model.distribution_info.get("gpu_unallocated", False))
    if rtu:
        return _gpu_distribution_rtu(conn, spec, rp, model, sources, enabled)
    if enabled and sources.has_gpu:
        unallocated = _frame(conn, pgsql.SQL(
            "SELECT report_period_id, cluster_id, cluster_alias, usage_start, node, data_source,"
            " all_labels->>'gpu-model', cost_model_gpu_cost::float8 FROM {} WHERE namespace = 'GPU unallocated'"
            " AND usage_start >= %s AND usage_start <= %s AND source_uuid = %s"
        ).format(qualified(spec.schema_name, SUMMARY_TABLE)), (spec.start_date, spec.end_date, spec.source_uuid),
            ["report_period_id", "cluster_id", "cluster_alias", "usage_start", "node", "data_source", "gpu_model",
             "cost"])
        gpu = read_gpu_daily(sources.gpu_daily, spec.start_date, spec.end_date)
        frames.append(gpu_rules.gpu_distribution_rows(unallocated, gpu, spec.source_uuid, GPU_DISTRIBUTED))
    result = replace_rows(conn, spec.schema_name, SUMMARY_TABLE, GPU_DISTRIBUTION_DELETE_WHERE, _params(spec, rp),
                          [f for f in frames if len(f)], partition_range=(spec.start_date, spec.end_date))
    return {"deleted": result.deleted, "inserted": result.inserted, "enabled": enabled}


_STEP_FUNCS = {"gpu_monthly": gpu_monthly, "gpu_distribution": gpu_distribution,
               "gpu_ui_usage_only": gpu_ui_usage_only, "vm_core_monthly": vm_core_monthly, "vm_hourly": vm_hourly,
               "vm_tmp_table": vm_tmp_table, "vm_tag_based": vm_tag_based, "project_tag_based": project_tag_based,
               "vm_ui_summary": vm_ui_summary}


def run_cost_model(conn: Any, data_root: str, spec: OcpRunSpec, *, steps: tuple[str, ...] = STEPS,
                   storage_options: dict[str, Any] | None = None, price_lists: bool = True,
                   vm_tmp_uuid: str | None = None, use_rtu: bool = False) -> dict[str, Any]:
    """Run the chosen steps for the source-month of `spec`; return per-step rows and timings.

    Koku's report_periods_for_provider_uuid: without a report period for the month there is nothing to cost.
    `use_rtu`: Koku's flag of the same name (Unleash ``cost_breakdown_rates_to_usage``): the ``_rtu`` variants,
    writing rates_to_usage instead of the daily summary (the UI and tmp-table steps are the same either way).
    """
    unknown = [s for s in steps if s not in _STEP_FUNCS]
    if unknown:
        raise InvalidArgument(f"unknown cost-model step(s) {unknown}; known: {', '.join(STEPS + OPTIONAL_STEPS)}")
    rp = spec.report_period_id or tenant.get_report_period(conn, spec.schema_name, spec.source_uuid,
                                                           spec.start_date.replace(day=1))
    conn.commit()
    if rp is None:
        return {"report_period_id": None, "steps": {}, "skipped": "no report period for the month"}
    model = load_cost_model(conn, spec.schema_name, spec.source_uuid, spec.start_date.replace(day=1),
                            price_lists=price_lists)
    conn.commit()
    _ = model.distribution  # a malformed distribution_type is bad input before anything is written
    sources = open_cost_model_sources(data_root, spec, storage_options)
    out: dict[str, Any] = {"report_period_id": rp, "cost_model": model.uuid, "use_rtu": use_rtu, "steps": {}}
    for name in steps:
        t0 = time.monotonic()
        res = _STEP_FUNCS[name](conn, spec, rp, model, sources, vm_tmp_uuid=vm_tmp_uuid, rtu=use_rtu)
        res["seconds"] = round(time.monotonic() - t0, 3)
        out["steps"][name] = res
    out["bytes_read"] = sources.bytes_read()
    return out



def apply_cost_model(spec: OcpRunSpec, settings: Any, *, steps: tuple[str, ...] | None = None,
                     cost_model_rows: dict[str, list[dict[str, Any]]] | None = None,
                     price_lists: bool = True, vm_tmp_uuid: str | None = None,
                     use_rtu: bool = False) -> dict[str, Any]:
    """run_cost_model with the worker's settings (database, data root, S3 options); what the task and CLI call.

    `cost_model_rows` (standalone use: the sample's cost model) is stored in Koku's cost-model tables first.
    """
    from contextlib import closing

    from poc_tasks.db.connection import connect

    with closing(connect(settings.require_database_url())) as conn:
        if cost_model_rows:
            from poc_tasks.cost_model.sample_data import store_cost_model

            try:
                store_cost_model(conn, spec.schema_name, cost_model_rows)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        result = run_cost_model(conn, settings.require_data_root(), spec, steps=steps or STEPS,
                                storage_options=settings.storage_options(), price_lists=price_lists,
                                vm_tmp_uuid=vm_tmp_uuid, use_rtu=use_rtu)
    result.update(schema=spec.schema_name, source_uuid=spec.source_uuid, start_date=spec.start_date.isoformat(),
                  end_date=spec.end_date.isoformat())
    return result
