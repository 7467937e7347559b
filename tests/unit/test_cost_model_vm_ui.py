"""The virtualization UI table's three inserts (cost_model.vm_ui), by hand-computed values."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pandas as pd

from poc_tasks.cost_model.vm_ui import _READ, vm_ui_rows

D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
SRC = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"
VM_LABELS = json.dumps({"app": "db", "vm_kubevirt_io_name": "v"})


def _row(**kw) -> dict:
    base = dict.fromkeys(_READ)
    base.update(source_uuid=SRC, cluster_id="c", cluster_alias="a", data_source="Pod", namespace="ns", node="n1")
    base.update(kw)
    return base


def _inputs(distribution: str = "cpu") -> dict:
    d = Decimal
    rows = [
        # the VM pod: costs on two days, effective usage 2 of the (ns, n1, D1) total 8
        _row(usage_start=D1, pod_labels=VM_LABELS, resource_id="r1", cost_model_cpu_cost=d("1.5"),
             cost_model_rate_type="Infrastructure", pod_request_cpu_core_hours=d(4),
             pod_effective_usage_cpu_core_hours=d(2), pod_effective_usage_memory_gigabyte_hours=d(1)),
        _row(usage_start=D2, pod_labels=VM_LABELS, resource_id="r2", cost_model_cpu_cost=d("2.5"),
             cost_model_rate_type="Infrastructure", pod_request_cpu_core_hours=d(4)),
        # the VM pod's usage row without costs (no cost: not in the first insert), and one in an excluded namespace
        _row(usage_start=D1, pod_labels=VM_LABELS, resource_id="r9", cost_model_cpu_cost=d(0)),
        _row(usage_start=D1, pod_labels=VM_LABELS, namespace="Platform unallocated", cost_model_cpu_cost=d(7)),
        # another pod on the node: 6 of the 8
        _row(usage_start=D1, pod_labels='{"app": "web"}', pod_effective_usage_cpu_core_hours=d(6),
             pod_effective_usage_memory_gigabyte_hours=d(3)),
        # a platform distribution row on (ns, n1, D1)
        _row(usage_start=D1, distributed_cost=d(3), cost_model_rate_type="platform_distributed", resource_id="r1"),
        # the VM's disk on both days
        _row(usage_start=D1, data_source="Storage", persistentvolumeclaim="pvc1", resource_id="pv1",
             volume_labels='{"disk": "a"}', cost_model_volume_cost=d(1), cost_model_rate_type="Infrastructure",
             storageclass="gp3", persistentvolumeclaim_capacity_gigabyte_months=d(2)),
        _row(usage_start=D2, data_source="Storage", persistentvolumeclaim="pvc1", resource_id="pv1",
             volume_labels='{"disk": "b"}', cost_model_volume_cost=d(1), cost_model_rate_type="Infrastructure",
             storageclass="gp3", persistentvolumeclaim_capacity_gigabyte_months=d(3)),
    ]
    src = pd.DataFrame(rows, columns=_READ)
    ref = src[(src["usage_start"] == D1) & src["pod_labels"].eq(VM_LABELS)].assign(all_labels=VM_LABELS)
    return {"source_rows": src, "ref_rows": ref, "distribution": distribution}


TMP = pd.DataFrame([("v", "n9", "pvc1", 48.0, 12.0)],
                   columns=["vm_name", "node", "pvc_name", "cpu_request", "mem_request"])


def test_the_three_inserts() -> None:
    out = vm_ui_rows(_inputs(), TMP, SRC)
    assert len(out) == 3
    pod = out[out["cost_model_rate_type"] == "Infrastructure"].set_index("persistentvolumeclaim", drop=False)
    vm = out[out["persistentvolumeclaim"].isna() & (out["cost_model_rate_type"] == "Infrastructure")].iloc[0]
    # 1. costs 1.5 + 2.5 of the VM pod (not the 0-cost row, not Platform unallocated), node and requests from the
    # scratch rows, labels from the reference day, resource ids sorted
    assert (vm["vm_name"], vm["node"], vm["namespace"]) == ("v", "n9", "ns")
    assert Decimal(vm["cost_model_cpu_cost"]) == Decimal(4) and vm["cost_model_memory_cost"] is None
    assert (vm["pod_request_cpu_core_hours"], vm["pod_request_memory_gigabyte_hours"]) == (48.0, 12.0)
    assert vm["resource_ids"] == ["r1", "r2"] and (vm["usage_start"], vm["usage_end"]) == (D1, D2)
    assert json.loads(vm["pod_labels"]) == json.loads(VM_LABELS)
    # 2. 3 x 2 / 8 of the platform row, on the distribution row's own node and labels (none)
    dist = out[out["cost_model_rate_type"] == "platform_distributed"].iloc[0]
    assert Decimal(dist["distributed_cost"]) == Decimal("0.75") and dist["node"] == "n1"
    assert dist["pod_labels"] is None and dist["vm_name"] == "v"
    # 3. the disk: both days' costs, the reference day's (the second-to-last, D1) volume labels + the VM's labels
    disk = pod.loc["pvc1"]
    assert Decimal(disk["cost_model_volume_cost"]) == Decimal(2)
    assert json.loads(disk["pod_labels"]) == {"disk": "a", "app": "db", "vm_kubevirt_io_name": "v"}
    assert disk["persistentvolumeclaim_capacity_gigabyte_months"] == Decimal(3)
    assert disk["vm_name"] == "v" and disk["resource_ids"] == ["pv1"]


def test_memory_distribution_and_koku_ratio_repeats_the_node_usage() -> None:
    inputs = _inputs("memory")
    # a second VM row on the same (ns, n1, D1) and labels: Koku's sum over the join counts the node usage twice
    extra = _row(usage_start=D1, pod_labels=VM_LABELS, pod_effective_usage_cpu_core_hours=Decimal(1),
                 pod_effective_usage_memory_gigabyte_hours=Decimal(1))
    inputs["source_rows"] = pd.concat([inputs["source_rows"], pd.DataFrame([extra], columns=_READ)],
                                      ignore_index=True)
    out = vm_ui_rows(inputs, TMP, SRC)
    dist = out[out["cost_model_rate_type"] == "platform_distributed"].iloc[0]
    # memory: VM rows 1 + 1 over (node total 1 + 3 + 1 = 5) x 2 rows -> 2/10; 3 x 0.2
    assert Decimal(dist["distributed_cost"]) == Decimal("0.6")


def test_nothing_without_scratch_rows_or_summary_rows() -> None:
    assert vm_ui_rows(_inputs(), TMP.iloc[0:0], SRC).empty
    empty = {"source_rows": pd.DataFrame(columns=_READ), "ref_rows": pd.DataFrame(columns=_READ),
             "distribution": "cpu"}
    assert vm_ui_rows(empty, TMP, SRC).empty


def test_a_gpu_cost_alone_does_not_make_a_vm_row() -> None:
    """Koku's VM insert keeps a row when cpu + memory + volume + distributed + raw + markup cost != 0: the GPU cost
    is summed but not part of that test, so a VM pod row with only a GPU cost is left out."""
    d = Decimal
    inputs = _inputs()
    extra = [
        # only a GPU cost, under a rate type no other VM row has: no row of that rate type at all
        _row(usage_start=D1, pod_labels=VM_LABELS, resource_id="r1", cost_model_gpu_cost=d("5.25"),
             cost_model_rate_type="Supplementary"),
        # a GPU cost beside a CPU cost on a kept row: summed (1.5 + 2.5 CPU as before; GPU 0.5)
        _row(usage_start=D2, pod_labels=VM_LABELS, resource_id="r2", cost_model_gpu_cost=d("0.5"),
             cost_model_cpu_cost=d(0), cost_model_memory_cost=d("0.25"), cost_model_rate_type="Infrastructure"),
    ]
    inputs["source_rows"] = pd.concat([inputs["source_rows"], pd.DataFrame(extra, columns=_READ)],
                                      ignore_index=True)
    out = vm_ui_rows(inputs, TMP, SRC)
    assert "Supplementary" not in set(out["cost_model_rate_type"])
    vm = out[out["persistentvolumeclaim"].isna() & (out["cost_model_rate_type"] == "Infrastructure")].iloc[0]
    assert Decimal(vm["cost_model_cpu_cost"]) == d(4) and Decimal(vm["cost_model_gpu_cost"]) == d("0.5")
    assert Decimal(vm["cost_model_memory_cost"]) == d("0.25")
