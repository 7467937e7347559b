"""GPUs, virtual machines and a cost model added to a dataset written by ``poc-tasks sample``.

Kept apart from the sample generator: it rewrites the sample's files in place (same rows) and adds new report
types, so the generator itself is untouched.

- GPU nodes: the first worker nodes (sorted) get NVIDIA node labels (nvidia_com_gpu_present/count/product and
  mig_strategy) on every hour: node 0 has 2 A100 (7 MIG slices, strategy mixed), node 1 one Tesla-T4 (strategy
  single), node 2, when there is one, an idle T4 (strategy single, no GPU pod).
- GPU usage (``gpu_usage``, raw hourly and Koku's daily grouping): on node 0 a 3g MIG pod and a 1g MIG pod sharing
  GPU 0 and a dedicated pod on GPU 1 that runs 3/4 of each hour; on node 1 a T4 pod and an AMD pod (another vendor).
- VMs (``vm_usage`` raw and daily; pods relabelled ``vm_kubevirt_io_name``): three worker pods become VMs, one
  with two disks (two rows per hour), one whose cores grow from 2 to 4 on the second day, one that moves node on
  the last day (the VM report says another node then).
- ``cost_model_rows``: a cost model with every rate type the cost-model steps read (monthly VM core, GPU tag rates
  with a model rate and a default, VM hourly, project, markup and distribution), as Koku stores it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg2 import sql
from psycopg2.extras import Json

from poc_tasks.db.connection import qualified
from poc_tasks.io.fs import filesystem, list_parquet, strip_scheme
from poc_tasks.io.layout import join, ocp_prefix

__all__ = ["add_gpus_and_vms", "cost_model_rows", "store_cost_model", "SAMPLE_COST_MODEL_UUID", "VM_LABEL"]

VM_LABEL = "vm_kubevirt_io_name"
SAMPLE_COST_MODEL_UUID = "5f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SAMPLE_PRICE_LIST_UUID = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
GIB = 1024**3


def _read(fs: Any, path: str) -> pd.DataFrame:
    with fs.open(strip_scheme(path), "rb") as fh:
        return pq.read_table(fh).to_pandas()


def _write(fs: Any, path: str, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with fs.open(strip_scheme(path), "wb") as fh:
        pq.write_table(table, fh, coerce_timestamps="ms", allow_truncated_timestamps=True)


def _relabel(text: str, extra: dict[str, str]) -> str:
    labels = json.loads(text) if text else {}
    labels.update(extra)
    return json.dumps(dict(sorted(labels.items())))


def _rewrite(fs: Any, folder: str, column: str, key: str, extra: dict[str, dict[str, str]]) -> None:
    """Add labels to `column` of the rows whose `key` is in `extra`, in every file of the folder."""
    for path in list_parquet(fs, folder):
        frame = _read(fs, path)
        hit = frame[key].isin(extra.keys())
        if hit.any():
            frame.loc[hit, column] = [_relabel(t, extra[k]) for t, k in zip(frame.loc[hit, column],
                                                                           frame.loc[hit, key], strict=True)]
            _write(fs, path, frame)


def _daily(raw: pd.DataFrame, keys: list[str], agg: dict[str, str]) -> pd.DataFrame:
    grouped = raw.groupby([*keys, pd.Grouper(key="interval_start", freq="D")], dropna=False)
    return grouped.agg(agg).reset_index()


GPU_NODE_LABELS = [
    {"nvidia_com_gpu_present": "True", "nvidia_com_gpu_count": "2", "nvidia_com_gpu_product": "NVIDIA-A100-SXM4-40GB",
     "nvidia_com_mig_strategy": "mixed"},
    {"nvidia_com_gpu_present": "True", "nvidia_com_gpu_count": "1", "nvidia_com_gpu_product": "Tesla-T4",
     "nvidia_com_mig_strategy": "single"},
    {"nvidia_com_gpu_present": "True", "nvidia_com_gpu_count": "1", "nvidia_com_gpu_product": "Tesla-T4",
     "nvidia_com_mig_strategy": "single"},
]
# (node index, gpu uuid, model, vendor, memory MiB, mig profile, slices, max slices, mig memory, share of each hour)
GPU_PODS = [
    (0, "GPU-a100-0", "A100", "NVIDIA", 40960.0, "3g.20gb", 3, 7, 20480.0, 1.0),
    (0, "GPU-a100-0", "A100", "NVIDIA", 40960.0, "1g.5gb", 1, 7, 5120.0, 1.0),
    (0, "GPU-a100-1", "A100", "NVIDIA", 40960.0, None, None, 7, None, 0.75),
    (1, "GPU-t4-0", "Tesla-T4", "NVIDIA", 15360.0, None, None, 1, None, 1.0),
    (1, "GPU-mi210-0", "Instinct MI210", "AMD", 65536.0, None, None, None, None, 0.5),
]


def add_gpus_and_vms(root: str, scenario: dict[str, Any], storage_options: dict | None = None) -> dict[str, Any]:
    """Add GPUs and VMs to the sample at `root` (see the module docstring); update and return the scenario."""
    fs = filesystem(root, storage_options)
    acct, src, year, month = scenario["account"], scenario["source_uuid"], scenario["year"], scenario["month"]

    def folder(rt: str, daily: bool) -> str:
        return ocp_prefix(root, acct, rt, src, year, month, daily)

    pods = pd.concat([_read(fs, p) for p in list_parquet(fs, folder("pod_usage", False))], ignore_index=True)
    workers = sorted(pods.loc[pods["node_role"].fillna("worker") == "worker", "node"].dropna().unique())
    if not workers:
        raise ValueError("the sample needs a worker node for GPUs and VMs")
    gpu_nodes = workers[: max(1, min(3, len(workers) - 1))]
    node_extra = {n: GPU_NODE_LABELS[i] for i, n in enumerate(gpu_nodes)}
    for daily in (False, True):
        _rewrite(fs, folder("node_labels", daily), "node_labels", "node", node_extra)

    # a pod present all day on each GPU node hosts the GPU work; VM pods run on the remaining workers
    hours_per_pod = pods.groupby(["node", "namespace", "pod"]).size().reset_index(name="n")
    full = hours_per_pod[hours_per_pod["n"] == hours_per_pod["n"].max()]
    full = full[~full["namespace"].str.startswith(("openshift", "kube")) & (full["node"].fillna("") != "")]
    gpu_rows = []
    for node_idx, gpu_uuid, model, vendor, mem, profile, slices, max_slices, mig_mem, share in GPU_PODS:
        node_idx = min(node_idx, len(gpu_nodes) - 1)
        node = gpu_nodes[node_idx]
        candidates = full[full["node"] == node].sort_values("pod")
        if not len(candidates):
            candidates = hours_per_pod[hours_per_pod["node"] == node].sort_values("pod")
        host = candidates.iloc[len(gpu_rows) % len(candidates)]
        times = pods.loc[(pods["pod"] == host["pod"]) & (pods["namespace"] == host["namespace"]),
                         ["report_period_start", "report_period_end", "interval_start", "interval_end"]]
        for t in times.drop_duplicates("interval_start").itertuples(index=False):
            gpu_rows.append({**t._asdict(), "node": node, "namespace": host["namespace"], "pod": host["pod"],
                             "gpu_uuid": gpu_uuid, "gpu_model_name": model, "gpu_vendor_name": vendor,
                             "gpu_memory_capacity_mib": mem, "gpu_pod_uptime": 3600.0 * share,
                             "mig_instance_id": f"{gpu_uuid}-{profile}" if profile else None, "mig_profile": profile,
                             "mig_strategy": GPU_NODE_LABELS[node_idx]["nvidia_com_mig_strategy"] if profile else None,
                             "mig_slice_count": slices, "mig_memory_capacity_mib": mig_mem,
                             "gpu_max_slices": max_slices})
    gpu_raw = pd.DataFrame(gpu_rows)
    for c in ("mig_slice_count", "gpu_max_slices"):
        gpu_raw[c] = gpu_raw[c].astype("Int64")
    gpu_daily = _daily(gpu_raw, ["node", "namespace", "pod", "gpu_uuid", "mig_instance_id"], {
        "report_period_start": "max", "report_period_end": "max", "interval_end": "max", "gpu_model_name": "max",
        "gpu_vendor_name": "max", "gpu_memory_capacity_mib": "max", "gpu_pod_uptime": "sum", "mig_profile": "max",
        "mig_slice_count": "max", "gpu_max_slices": "max", "mig_memory_capacity_mib": "max", "mig_strategy": "max"})

    vm_hosts = full[~full["node"].isin(gpu_nodes)].sort_values(["node", "pod"]).head(3)
    if len(vm_hosts) < 3:
        vm_hosts = full[~full["pod"].isin(gpu_raw["pod"])].sort_values(["node", "pod"]).head(3)
    vm_names = {(r.namespace, r.pod): f"vm-{i}" for i, r in enumerate(vm_hosts.itertuples(index=False))}
    pod_extra = {p: {VM_LABEL: vm} for (_ns, p), vm in vm_names.items()}
    for daily in (False, True):
        _rewrite(fs, folder("pod_usage", daily), "pod_labels", "pod", pod_extra)
    last_day = pods["interval_start"].dt.normalize().max()
    other_node = workers[-1]
    vm_rows = []
    for (ns, pod), vm in vm_names.items():
        host = pods[(pods["pod"] == pod) & (pods["namespace"] == ns)].drop_duplicates("interval_start")
        for r in host.itertuples(index=False):
            day = r.interval_start.normalize()
            cores = 4.0 if vm == "vm-1" and day > pods["interval_start"].min() else 2.0
            node = other_node if vm == "vm-2" and day == last_day else r.node
            disks = ["disk-a", "disk-b"] if vm == "vm-0" else ["disk-a"]
            for disk in disks:
                vm_rows.append({"report_period_start": r.report_period_start, "report_period_end": r.report_period_end,
                                "interval_start": r.interval_start, "interval_end": r.interval_end, "node": node,
                                "namespace": ns, "vm_name": vm, "resource_id": f"i-{node}",
                                "vm_cpu_request_cores": cores, "vm_cpu_request_core_seconds": cores * 3600,
                                "vm_memory_request_bytes": 4.0 * GIB * cores,
                                "vm_memory_request_byte_seconds": 4.0 * GIB * cores * 3600,
                                "vm_uptime_total_seconds": 3600.0, "vm_persistentvolumeclaim_name": f"{vm}-{disk}",
                                "vm_labels": json.dumps({"kubevirt_io_domain": vm})})
    vm_raw = pd.DataFrame(vm_rows)
    vm_daily = _daily(vm_raw, ["namespace", "node", "vm_name", "vm_labels"], {
        "report_period_start": "max", "report_period_end": "max", "interval_end": "max", "resource_id": "max",
        "vm_cpu_request_cores": "max", "vm_cpu_request_core_seconds": "sum", "vm_memory_request_bytes": "max",
        "vm_memory_request_byte_seconds": "sum", "vm_uptime_total_seconds": "sum",
        "vm_persistentvolumeclaim_name": "max"})

    for rt, raw, daily in (("gpu_usage", gpu_raw, gpu_daily), ("vm_usage", vm_raw, vm_daily)):
        for is_daily, frame in ((False, raw), (True, daily)):
            target = folder(rt, is_daily)
            if not root.startswith(("s3://", "s3a://")):
                fs.makedirs(strip_scheme(target), exist_ok=True)
            _write(fs, join(target, f"{rt}.sample.{'daily_' if is_daily else ''}0.parquet"), frame)

    keys = list(scenario.get("enabled_tag_keys") or [])
    if VM_LABEL not in keys:
        keys.append(VM_LABEL)
    scenario["enabled_tag_keys"] = keys
    scenario.setdefault("features", {})["cost_model"] = {
        "gpu_nodes": list(gpu_nodes), "idle_gpu_node": gpu_nodes[2] if len(gpu_nodes) > 2 else None,
        "vms": {vm: pod for (_ns, pod), vm in vm_names.items()}, "vm_moved_to": other_node,
        "gpu_rows": len(gpu_raw), "vm_rows": len(vm_raw)}
    with fs.open(strip_scheme(join(root, "scenario.json")), "w") as fh:
        fh.write(json.dumps(scenario, indent=2) + "\n")
    return scenario


def cost_model_rows(provider_uuid: str, start: dt.date, end: dt.date, *, distribution: str = "cpu",
                    markup: float = 10.0, rate_type: str = "Infrastructure") -> dict[str, list[dict[str, Any]]]:
    """A cost model, its price list and rate rows, as Koku stores them (rows per table, JSON as dicts)."""
    other = "Supplementary" if rate_type == "Infrastructure" else "Infrastructure"
    rates = [
        {"metric": {"name": "vm_core_cost_per_month"}, "cost_type": rate_type,
         "tiered_rates": [{"value": 12.5, "unit": "USD"}], "description": "", "custom_name": "vm core month"},
        {"metric": {"name": "vm_cost_per_hour"}, "cost_type": other,
         "tiered_rates": [{"value": 0.25, "unit": "USD"}], "description": "", "custom_name": "vm hour"},
        {"metric": {"name": "vm_core_cost_per_hour"}, "cost_type": rate_type,
         "tiered_rates": [{"value": 0.0125, "unit": "USD"}], "description": "", "custom_name": "vm core hour"},
        {"metric": {"name": "vm_cost_per_hour"}, "cost_type": rate_type, "description": "",
         "custom_name": "vm hour app",
         "tag_rates": {"tag_key": "app", "tag_values": [
             {"tag_value": "api", "value": 0.5, "unit": "USD", "default": False, "description": ""},
             {"tag_value": "other", "value": 0.1, "unit": "USD", "default": True, "description": ""}]}},
        {"metric": {"name": "vm_core_cost_per_month"}, "cost_type": other, "description": "",
         "custom_name": "vm core month by vm", "tag_rates": {"tag_key": "vm_kubevirt_io_name", "tag_values": [
             {"tag_value": "vm-1", "value": 40.0, "unit": "USD", "default": False, "description": ""}]}},
        {"metric": {"name": "vm_core_cost_per_hour"}, "cost_type": other, "description": "",
         "custom_name": "vm core hour env", "tag_rates": {"tag_key": "environment", "tag_values": [
             {"tag_value": "default", "value": 0.02, "unit": "USD", "default": True, "description": ""}]}},
        {"metric": {"name": "project_per_month"}, "cost_type": rate_type, "description": "",
         "custom_name": "project by name", "tag_rates": {"tag_key": "kubernetes_io_metadata_name", "tag_values": [
             {"tag_value": "payments", "value": 300.0, "unit": "USD", "default": False, "description": ""},
             {"tag_value": "other", "value": 100.0, "unit": "USD", "default": True, "description": ""}]}},
        {"metric": {"name": "gpu_cost_per_month"}, "cost_type": rate_type, "description": "", "custom_name": "gpu",
         "tag_rates": {"tag_key": "NVIDIA", "tag_values": [
             {"tag_value": "A100", "value": 1500.0, "unit": "USD", "default": False, "description": ""},
             {"tag_value": "Tesla T4", "value": 310.0, "unit": "USD", "default": False, "description": ""},
             {"tag_value": "other", "value": 200.0, "unit": "USD", "default": True, "description": ""}]}},
        {"metric": {"name": "gpu_cost_per_month"}, "cost_type": other, "description": "", "custom_name": "amd gpu",
         "tag_rates": {"tag_key": "AMD", "tag_values": [
             {"tag_value": "Instinct MI210", "value": 900.0, "unit": "USD", "default": False, "description": ""}]}},
    ]
    now = dt.datetime.now(dt.UTC)
    month_end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    cm = {"uuid": SAMPLE_COST_MODEL_UUID, "name": "Sample cost model", "description": "poc-tasks sample",
          "source_type": "OCP", "created_timestamp": now, "updated_timestamp": now, "rates": rates,
          "markup": {"value": markup, "unit": "percent"}, "distribution": distribution,
          "distribution_info": {"distribution_type": distribution, "platform_cost": True, "worker_cost": True,
                                "network_unattributed": False, "storage_unattributed": False, "gpu_unallocated": True},
          "currency": "USD"}
    pl = {"uuid": SAMPLE_PRICE_LIST_UUID, "name": "Sample price list", "description": "", "currency": "USD",
          "effective_start_date": start.replace(day=1), "effective_end_date": max(end, month_end), "enabled": True,
          "version": 1, "rates": rates, "created_timestamp": now, "updated_timestamp": now}
    rate_rows = []
    for r in rates:
        tag = r.get("tag_rates")
        rate_rows.append({"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SAMPLE_PRICE_LIST_UUID}/{r['custom_name']}")),
                          "price_list_id": SAMPLE_PRICE_LIST_UUID, "custom_name": r["custom_name"], "description": "",
                          "metric": r["metric"]["name"], "metric_type": "cpu" if "gpu" not in r["metric"]["name"]
                          else "gpu", "cost_type": r["cost_type"],
                          "default_rate": None if tag else r["tiered_rates"][0]["value"],
                          "tag_key": tag["tag_key"] if tag else "", "tag_values": tag["tag_values"] if tag else [],
                          "created_timestamp": now, "updated_timestamp": now})
    return {"cost_model": [cm], "cost_model_map": [{"provider_uuid": provider_uuid,
                                                    "cost_model_id": SAMPLE_COST_MODEL_UUID}],
            "price_list": [pl], "price_list_cost_model_map": [{"price_list_id": SAMPLE_PRICE_LIST_UUID,
                                                               "cost_model_id": SAMPLE_COST_MODEL_UUID,
                                                               "priority": 1}],
            "cost_model_rate": rate_rows}



# insertion order: referenced tables first
_TABLES = ("cost_model", "cost_model_map", "price_list", "price_list_cost_model_map", "cost_model_rate")


def store_cost_model(conn: Any, schema: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert cost_model_rows() into the tenant's cost-model tables, replacing a model of the same uuid; no commit."""
    with conn.cursor() as cur:
        for cm in rows.get("cost_model", []):
            cur.execute(sql.SQL("DELETE FROM {} WHERE cost_model_id = %s").format(
                qualified(schema, "price_list_cost_model_map")), (cm["uuid"],))
            cur.execute(sql.SQL("DELETE FROM {} WHERE cost_model_id = %s").format(
                qualified(schema, "cost_model_map")), (cm["uuid"],))
            cur.execute(sql.SQL("DELETE FROM {} WHERE uuid = %s").format(qualified(schema, "cost_model")),
                        (cm["uuid"],))
        for pl in rows.get("price_list", []):
            cur.execute(sql.SQL("DELETE FROM {} WHERE price_list_id = %s").format(
                qualified(schema, "cost_model_rate")), (pl["uuid"],))
            cur.execute(sql.SQL("DELETE FROM {} WHERE uuid = %s").format(qualified(schema, "price_list")),
                        (pl["uuid"],))
        for table in _TABLES:
            for row in rows.get(table, []):
                cols = list(row)
                values = [Json(v) if isinstance(v, dict | list) else v for v in row.values()]
                cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    qualified(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                    sql.SQL(", ").join(sql.Placeholder() * len(cols))), values)
