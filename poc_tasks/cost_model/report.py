"""The demo's cost-model section: what the cost model charged for VMs and GPUs, beside the usage it priced."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.runspec import OcpRunSpec

__all__ = ["cost_model_report"]


def _f(value: Any) -> str:
    return "-" if value is None else f"{float(value):12.2f}"


def cost_model_report(database_url: str, data_root: str, spec: OcpRunSpec, result: dict[str, Any]) -> str:
    from poc_tasks.cost_model.inputs import open_cost_model_sources, read_gpu_daily

    table = qualified(spec.schema_name, SUMMARY_TABLE)
    with closing(connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT pod_labels->>'vm_kubevirt_io_name' AS vm,"
            " sum(pod_usage_cpu_core_hours) FILTER (WHERE cost_model_rate_type IS NULL AND monthly_cost_type IS NULL),"
            " sum(cost_model_cpu_cost) FILTER (WHERE monthly_cost_type = 'OCP_VM_CORE'),"
            " sum(cost_model_cpu_cost) FILTER (WHERE monthly_cost_type IS NULL AND cost_model_rate_type IS NOT NULL),"
            " sum(cost_model_cpu_cost) FILTER (WHERE monthly_cost_type = 'Tag')"
            " FROM {} WHERE source_uuid = %s AND usage_start >= %s AND usage_start <= %s"
            " AND pod_labels ? 'vm_kubevirt_io_name' GROUP BY 1 ORDER BY 1").format(table),
            (spec.source_uuid, spec.start_date, spec.end_date))
        vms = cur.fetchall()
        cur.execute(sql.SQL(
            "SELECT namespace, coalesce(all_labels->>'gpu-model', '?'), sum(cost_model_gpu_cost),"
            " sum(distributed_cost) FROM {} WHERE source_uuid = %s AND usage_start >= %s AND usage_start <= %s"
            " AND data_source = 'GPU' GROUP BY 1, 2 ORDER BY 1, 2").format(table),
            (spec.source_uuid, spec.start_date, spec.end_date))
        gpus = cur.fetchall()
    sources = open_cost_model_sources(data_root, spec)
    gpu = read_gpu_daily(sources.gpu_daily, spec.start_date, spec.end_date)
    hours: dict[tuple[str, str], float] = {}
    if len(gpu):
        used = gpu.assign(h=gpu["gpu_pod_uptime"].astype(float) / 3600).groupby(["namespace", "gpu_model_name"])["h"]
        hours = {k: float(v) for k, v in used.sum().items()}
    lines = [f"{'VM':20s} {'CPU core-h':>12s} {'core/month':>12s} {'per hour':>12s} {'by tag':>12s}"]
    lines += [f"{(vm or '?')[:20]:20s} {_f(cpu)} {_f(month)} {_f(hour)} {_f(tag)}" for vm, cpu, month, hour, tag in vms]
    lines += ["", f"{'GPU namespace':24s} {'model':16s} {'GPU-hours':>12s} {'GPU cost':>12s} {'distributed':>12s}"]
    for ns, model, cost, dist in gpus:
        lines.append(f"{(ns or '?')[:24]:24s} {model[:16]:16s} {_f(hours.get((ns, model)))} {_f(cost)} {_f(dist)}")
    steps = ", ".join(f"{k}={v.get('inserted', v.get('skipped'))}" for k, v in result["steps"].items())
    lines += ["", f"cost model {result.get('cost_model')}: rows per step: {steps}"]
    return "\n".join(lines)
