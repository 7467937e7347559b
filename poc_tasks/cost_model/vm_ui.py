"""The virtualization UI table, reporting_ocp_vm_summary_p (Koku's _populate_virtualization_ui_summary_table).

Koku fills a scratch table ``tmp_virt_<uuid>`` through Trino (one row per VM and PVC: node, cores x 24, memory GiB
x 24; vm.py's vm_tmp_rows_*) and then runs its PostgreSQL ui_summary/reporting_ocp_vm_summary_p.sql over the daily
summary and that table. Here the scratch rows stay in memory and the three inserts are computed from the summary
rows of the source (read with plain selects), with numeric arithmetic as PostgreSQL's:

1. VM rows: the source's Pod rows of VM pods with a cost (CPU, memory or volume cost-model cost, distributed, raw or
   markup: not the GPU cost, which Koku's filter leaves out; not the four unallocated/unattributed namespaces),
   per (cluster, namespace, VM node, VM, rate type, VM labels): the summed costs, the VM's requests from the
   scratch rows, its labels from the summary rows of the reference day (the second-to-last day with CPU requests
   of the source in range, the last when there is only one), its resource ids.
2. Distributed rows: the source's rows with a distributed cost, on a (namespace, node, day) where a VM pod ran,
   each weighted by the VM's share of the effective usage there (cpu or memory after the cost model's
   ``distribution`` column); Koku's ratio divides by the node's usage once per VM row of the group (kept).
3. Storage rows: the source's Storage rows of the PVCs the scratch rows name, with the volume labels of the
   reference day (second-to-last day with PVCs) merged with the VM labels written by 1 and 2.

Where Koku's DISTINCT ON leaves the pick among rows of one day to the database (several label sets of a VM, or
of a PVC, that day), poc_tasks takes the greatest label text; the parity datasets have one per day.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.cost_model.pgnumeric import pg_div, pg_round
from poc_tasks.cost_model.vm import VM_LABEL
from poc_tasks.db.connection import qualified
from poc_tasks.db.tables import SUMMARY_TABLE

__all__ = ["vm_ui_rows", "read_vm_ui_inputs", "VM_UI_COLUMNS", "EXCLUDED_NAMESPACES", "FILTER_COSTS"]

Connection = psycopg2.extensions.connection
EXCLUDED_NAMESPACES = ("Worker unallocated", "Platform unallocated", "Network unattributed", "Storage unattributed")
COSTS = ["cost_model_cpu_cost", "cost_model_memory_cost", "cost_model_volume_cost", "cost_model_gpu_cost",
         "distributed_cost", "infrastructure_markup_cost", "infrastructure_raw_cost"]
VM_UI_COLUMNS = ["id", "cluster_alias", "cluster_id", "namespace", "node", "vm_name", *COSTS, "cost_model_rate_type",
                 "pod_labels", "pod_request_cpu_core_hours", "pod_request_memory_gigabyte_hours",
                 "persistentvolumeclaim", "storageclass", "persistentvolumeclaim_usage_gigabyte_months",
                 "persistentvolumeclaim_capacity_gigabyte_months", "raw_currency", "resource_ids", "usage_start",
                 "usage_end", "cost_category_id", "source_uuid"]
# Koku's "has a cost" filter of the VM insert adds these six, not cost_model_gpu_cost: a VM pod row whose only cost
# is a GPU cost is left out (its GPU cost is summed only when the row has one of these too)
FILTER_COSTS = ["cost_model_cpu_cost", "cost_model_memory_cost", "cost_model_volume_cost", "distributed_cost",
                "infrastructure_raw_cost", "infrastructure_markup_cost"]
_READ = ["usage_start", "source_uuid", "cluster_id", "cluster_alias", "namespace", "node", "data_source",
         "resource_id", "persistentvolumeclaim", "storageclass", "persistentvolumeclaim_usage_gigabyte_months",
         "persistentvolumeclaim_capacity_gigabyte_months", "pod_labels", "all_labels", "volume_labels",
         "pod_request_cpu_core_hours", "pod_effective_usage_cpu_core_hours",
         "pod_effective_usage_memory_gigabyte_hours", "cost_model_rate_type", "raw_currency", "cost_category_id",
         *COSTS]


def _select(conn: Connection, schema: str, where: str, params: dict[str, Any]) -> pd.DataFrame:
    cols = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in ("pod_labels", "all_labels", "volume_labels",
                                                                "source_uuid") else sql.Identifier(c)
        for c in _READ)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} WHERE ").format(cols, qualified(schema, SUMMARY_TABLE))
                    + sql.SQL(where), params)
        return pd.DataFrame(cur.fetchall(), columns=_READ)


def read_vm_ui_inputs(conn: Connection, schema: str, source_uuid: str, start: dt.date,
                      end: dt.date) -> dict[str, Any]:
    """What the three inserts read from PostgreSQL, and only that (a month of a large cluster has hundreds of
    thousands of summary rows): the source's rows in range of VM pods, with a distributed cost or with a PVC; the
    effective usage per (namespace, node, day) summed in the database; the rows of the VM reference day (every
    source, as Koku's label CTE does not filter on it); the cost model's ``distribution``."""
    p = {"s": start, "e": end, "src": source_uuid, "key": VM_LABEL}
    in_range = "usage_start >= %(s)s AND usage_start <= %(e)s AND source_uuid = %(src)s"
    source_rows = _select(conn, schema, in_range + " AND (pod_labels ? %(key)s OR distributed_cost <> 0"
                          " OR persistentvolumeclaim IS NOT NULL)", p)
    table = qualified(schema, SUMMARY_TABLE)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT namespace, node, usage_start, sum(pod_effective_usage_cpu_core_hours),"
                            " sum(pod_effective_usage_memory_gigabyte_hours) FROM {} WHERE ").format(table)
                    + sql.SQL(in_range + " GROUP BY namespace, node, usage_start"), p)
        node_usage = {(ns, node, day): {"cpu": cpu, "memory": mem} for ns, node, day, cpu, mem in cur.fetchall()}
        cur.execute(sql.SQL("SELECT DISTINCT usage_start FROM {} WHERE ").format(table)
                    + sql.SQL(in_range + " AND pod_request_cpu_core_hours IS NOT NULL ORDER BY 1 DESC LIMIT 2"), p)
        cpu_days = [r[0] for r in cur.fetchall()]
        cur.execute(sql.SQL("SELECT max(cm.distribution) FROM {} m JOIN {} cm ON m.cost_model_id = cm.uuid"
                            " WHERE m.provider_uuid = %s").format(qualified(schema, "cost_model_map"),
                                                                  qualified(schema, "cost_model")), (source_uuid,))
        distribution = cur.fetchone()[0] or "cpu"
    ref_rows = pd.DataFrame(columns=_READ)
    if cpu_days:
        ref_rows = _select(conn, schema, "usage_start = %(d)s AND pod_request_cpu_core_hours IS NOT NULL"
                           " AND all_labels ? %(key)s", {**p, "d": cpu_days[-1]})
    return {"source_rows": source_rows, "ref_rows": ref_rows, "distribution": distribution,
            "node_usage": node_usage}


def _label(text: str | None) -> str | None:
    if text is None:
        return None
    value = json.loads(text).get(VM_LABEL)
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _keys(key: tuple) -> tuple:
    """A groupby key with pandas' NaN for a NULL (dropna=False) back to None."""
    return tuple(None if isinstance(v, float) and pd.isna(v) else v for v in key)


def _dsum(values: pd.Series) -> Decimal | None:
    vals = [Decimal(v) for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))]
    return sum(vals, Decimal(0)) if vals else None


def _dmax(values: pd.Series) -> Any:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))]
    return max(vals) if vals else None


def _ids(values: pd.Series) -> list[str | None]:
    """array_agg(DISTINCT resource_id): sorted, NULL (once) last."""
    present = sorted({v for v in values if v is not None})
    return present + ([None] * any(v is None for v in values))


def _costs(group: pd.DataFrame) -> dict[str, Any]:
    return {c: _dsum(group[c]) for c in COSTS}


def _merge_labels(volume: str | None, vm: str | None) -> str | None:
    if volume is not None and vm is not None:
        return json.dumps({**json.loads(volume), **json.loads(vm)})
    return volume if volume is not None else vm


def vm_ui_rows(inputs: dict[str, Any], tmp: pd.DataFrame, source_uuid: str) -> pd.DataFrame:
    """The rows of the three inserts. `tmp`: the scratch rows (vm_name, node, pvc_name, cpu_request, mem_request)."""
    rows: list[dict[str, Any]] = []
    src = inputs["source_rows"]
    if not len(src) or not len(tmp):
        return pd.DataFrame(columns=VM_UI_COLUMNS)
    # reference labels per VM (all_labels' name, pod_labels' text), then the scratch rows' values per (VM, labels)
    ref = inputs["ref_rows"]
    labels: dict[str, str] = {}
    for all_text, pod_text in zip(ref["all_labels"], ref["pod_labels"], strict=True):
        vm = _label(all_text)
        if vm is not None and (vm not in labels or (pod_text or "") > (labels[vm] or "")):
            labels[vm] = pod_text
    per_vm = tmp.groupby("vm_name", dropna=True).agg(cpu=("cpu_request", "max"), mem=("mem_request", "max"),
                                                      node=("node", lambda s: _dmax(s)))
    latest = {vm: (labels[vm], r["cpu"], r["mem"], r["node"]) for vm, r in per_vm.iterrows() if vm in labels}

    # 1. VM pod rows
    pods = src[(src["data_source"] == "Pod") & ~src["namespace"].isin(EXCLUDED_NAMESPACES)]
    pods = pods.assign(vm=[_label(t) for t in pods["pod_labels"]])
    pods = pods[pods["vm"].isin(latest.keys())]
    total = [sum((Decimal(v) for v in vals if v is not None), Decimal(0))
             for vals in zip(*(pods[c] for c in FILTER_COSTS), strict=True)] if len(pods) else []
    pods = pods[[t != 0 for t in total]] if len(pods) else pods
    if len(pods):
        pods = pods.assign(vm_node=[latest[v][3] for v in pods["vm"]], labels=[latest[v][0] for v in pods["vm"]])
        keys = ["cluster_alias", "cluster_id", "namespace", "vm_node", "vm", "cost_model_rate_type", "labels"]
        for key, g in pods.groupby(keys, dropna=False, sort=False):
            alias, cluster, ns, node, vm, rate_type, lab = _keys(key)
            _l, cpu, mem, _n = latest[vm]
            rows.append({"cluster_alias": alias, "cluster_id": cluster, "namespace": ns, "node": node,
                         "vm_name": _label(lab), **_costs(g), "cost_model_rate_type": rate_type, "pod_labels": lab,
                         "pod_request_cpu_core_hours": cpu, "pod_request_memory_gigabyte_hours": mem,
                         "raw_currency": _dmax(g["raw_currency"]), "resource_ids": _ids(g["resource_id"]),
                         "usage_start": g["usage_start"].min(), "usage_end": g["usage_start"].max(),
                         "cost_category_id": _dmax(g["cost_category_id"])})

    # 2. distributed cost shared by the VMs' effective usage on the node and namespace
    rows += _distributed(src, inputs["distribution"], inputs.get("node_usage"))

    # 3. storage rows of the VMs' PVCs
    rows += _storage(src, tmp, rows)
    out = pd.DataFrame(rows, columns=[c for c in VM_UI_COLUMNS if c != "id"])
    out["id"] = [str(uuid.uuid4()) for _ in range(len(out))]
    out["source_uuid"] = source_uuid
    out["cost_category_id"] = pd.array(out["cost_category_id"], dtype="Int64")
    for c in COSTS:  # exact numerics, sent as text
        out[c] = [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in out[c]]
    return out[VM_UI_COLUMNS]


def _distributed(src: pd.DataFrame, distribution: str, sums: dict[tuple, dict] | None) -> list[dict[str, Any]]:
    """`sums`: the effective usage per (namespace, node, day) of all the source's rows in range (summed in the
    database); None: sum `src` (all its rows then)."""
    usage_col = "pod_effective_usage_cpu_core_hours" if distribution == "cpu" else \
        "pod_effective_usage_memory_gigabyte_hours"
    node_usage: dict[tuple, Decimal | None] = {}
    if sums is not None:
        node_usage = {k: v["cpu" if distribution == "cpu" else "memory"] for k, v in sums.items()
                      if None not in k}  # a join on NULL never matches
    else:
        for key, g in src.groupby(["namespace", "node", "usage_start"], dropna=True, sort=False):
            node_usage[key] = _dsum(g[usage_col])
    vm_rows = src.assign(vm=[_label(t) for t in src["pod_labels"]])
    vm_rows = vm_rows[vm_rows["pod_labels"].notna() & vm_rows["pod_labels"].map(
        lambda t: t is not None and VM_LABEL in json.loads(t))]
    nonzero = [(c is not None and c != 0) and (m is not None and m != 0) for c, m in
               zip(vm_rows["pod_effective_usage_cpu_core_hours"], vm_rows["pod_effective_usage_memory_gigabyte_hours"],
                   strict=True)]
    vm_rows = vm_rows[nonzero]
    ratios: list[tuple] = []  # (vm, day, node, namespace, ratio)
    for key, g in vm_rows.groupby(["vm", "usage_start", "node", "namespace", "pod_labels"], dropna=False,
                                  sort=False):
        vm, day, node, ns, _labels = _keys(key)
        denom_one = node_usage.get((ns, node, day))
        if denom_one is None:
            continue  # the join to the node usage finds nothing (a NULL key)
        num = _dsum(g[usage_col])
        denom = denom_one * len(g)  # sum() of the joined node usage: once per VM row of the group
        ratios.append((vm, day, node, ns, None if num is None else pg_div(num, denom)))
    if not ratios:
        return []
    lat = pd.DataFrame(ratios, columns=["vm", "usage_start", "node", "namespace", "ratio"])
    dist = src[src["distributed_cost"].map(lambda v: v is not None and v != 0)]
    j = dist.merge(lat, on=["node", "namespace", "usage_start"])
    out = []
    for key, g in j.groupby(["cluster_alias", "cluster_id", "namespace", "node", "vm", "pod_labels",
                             "cost_model_rate_type"], dropna=False, sort=False):
        alias, cluster, ns, node, vm, labels, rate_type = _keys(key)
        parts = [Decimal(c) * r for c, r in zip(g["distributed_cost"], g["ratio"], strict=True) if r is not None]
        out.append({"cluster_alias": alias, "cluster_id": cluster, "namespace": ns, "node": node, "vm_name": vm,
                    "cost_model_rate_type": rate_type,
                    "distributed_cost": pg_round(sum(parts, Decimal(0)), 15) if parts else None,
                    "pod_labels": labels, "raw_currency": _dmax(g["raw_currency"]),
                    "resource_ids": _ids(g["resource_id"]), "usage_start": g["usage_start"].min(),
                    "usage_end": g["usage_start"].max()})
    return out


def _storage(src: pd.DataFrame, tmp: pd.DataFrame, written: list[dict[str, Any]]) -> list[dict[str, Any]]:
    vm_labels: dict[str, set[str]] = {}
    for r in written:
        if r.get("pod_labels") is not None and r.get("vm_name") is not None:
            vm_labels.setdefault(r["vm_name"], set()).add(r["pod_labels"])
    pvc_days = sorted({d for d, p in zip(src["usage_start"], src["persistentvolumeclaim"], strict=True)
                       if p is not None}, reverse=True)
    if not pvc_days:
        return []
    day = pvc_days[1] if len(pvc_days) > 1 else pvc_days[0]
    mapping = tmp.dropna(subset=["pvc_name"])
    on_day = src[(src["usage_start"] == day) & src["persistentvolumeclaim"].notna()]
    candidates: dict[str, tuple[str | None, str]] = {}
    for pvc, volume in zip(on_day["persistentvolumeclaim"], on_day["volume_labels"], strict=True):
        for vm in mapping.loc[mapping["pvc_name"] == pvc, "vm_name"]:
            for vm_lab in (vm_labels.get(vm) or {None}):
                combined = _merge_labels(volume, vm_lab)
                pick = (combined, vm)
                if pvc not in candidates or (combined or "", vm or "") > (candidates[pvc][0] or "",
                                                                          candidates[pvc][1] or ""):
                    candidates[pvc] = pick
    store = src[(src["data_source"] == "Storage") & src["node"].notna() & src["resource_id"].notna()
                & src["persistentvolumeclaim"].isin(candidates.keys()) & ~src["namespace"].isin(EXCLUDED_NAMESPACES)]
    if not len(store):
        return []
    store = store.assign(labels=[candidates[p][0] for p in store["persistentvolumeclaim"]],
                         vm=[candidates[p][1] for p in store["persistentvolumeclaim"]])
    out = []
    for key, g in store.groupby(["labels", "cluster_alias", "cluster_id", "namespace", "vm", "cost_model_rate_type",
                                 "persistentvolumeclaim"], dropna=False, sort=False):
        lab, alias, cluster, ns, vm, rate_type, pvc = _keys(key)
        out.append({"pod_labels": lab, "cluster_alias": alias, "cluster_id": cluster, "namespace": ns,
                    "node": _dmax(g["node"]), "vm_name": vm, **_costs(g), "cost_model_rate_type": rate_type,
                    "raw_currency": _dmax(g["raw_currency"]), "resource_ids": _ids(g["resource_id"]),
                    "usage_start": g["usage_start"].min(), "usage_end": g["usage_start"].max(),
                    "cost_category_id": _dmax(g["cost_category_id"]), "persistentvolumeclaim": pvc,
                    "persistentvolumeclaim_capacity_gigabyte_months":
                        _dmax(g["persistentvolumeclaim_capacity_gigabyte_months"]),
                    "persistentvolumeclaim_usage_gigabyte_months":
                        _dmax(g["persistentvolumeclaim_usage_gigabyte_months"]),
                    "storageclass": _dmax(g["storageclass"])})
    return out
