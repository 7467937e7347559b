"""VM rules (monthly_vm_core.sql, hourly_vm_core.sql, hourly_cost_virtual_machine.sql) on hand-computed fixtures."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pandas as pd
import pytest

from poc_tasks.cost_model.vm import (
    amortized_rate_numeric,
    numeric15,
    vm_core_hourly_rows,
    vm_core_monthly_rows,
    vm_hourly_rows,
    vm_hours_from_vm_report,
)

D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
SRC = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"


def _summary(rows: list[dict]) -> pd.DataFrame:
    base = {"usage_end": None, "source_uuid": SRC, "cluster_id": "c1", "cluster_alias": "a", "namespace": "vms",
            "node": "n1", "resource_id": "i-n1", "data_source": "Pod", "cost_category_id": None,
            "cost_model_rate_type": None}
    out = pd.DataFrame([{**base, **r} for r in rows])
    out["usage_end"] = out["usage_start"]
    return out


def _labels(**kv) -> str:
    return json.dumps(dict(sorted(kv.items())))


SUMMARY = _summary([
    {"usage_start": D1, "vm_name": "vm-a", "pod_labels": _labels(app="x", vm_kubevirt_io_name="vm-a"),
     "all_labels": _labels(app="x", vm_kubevirt_io_name="vm-a")},
    {"usage_start": D2, "vm_name": "vm-a", "pod_labels": _labels(app="y", vm_kubevirt_io_name="vm-a"),
     "all_labels": _labels(app="y", env="prod", vm_kubevirt_io_name="vm-a")},
    # a second row of vm-a on its last day (another label variant): the combined labels take the greatest value
    {"usage_start": D2, "vm_name": "vm-a", "pod_labels": _labels(app="z", vm_kubevirt_io_name="vm-a"),
     "all_labels": _labels(app="z", vm_kubevirt_io_name="vm-a")},
    # a usage-cost row of Koku's (has a rate type): not costed again
    {"usage_start": D2, "vm_name": "vm-a", "pod_labels": _labels(vm_kubevirt_io_name="vm-a"),
     "all_labels": None, "cost_model_rate_type": "Infrastructure"},
    # vm-b has no summary row on its last day (D2): no row at all
    {"usage_start": D1, "vm_name": "vm-b", "pod_labels": _labels(vm_kubevirt_io_name="vm-b"),
     "all_labels": _labels(vm_kubevirt_io_name="vm-b")},
])


def _vm(rows: list[tuple]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["vm_name", "interval_start", "node", "resource_id", "vm_cpu_request_cores",
                                      "vm_uptime_total_seconds"])
    out["usage_start"] = out["interval_start"].dt.date
    return out


VM = _vm([
    ("vm-a", pd.Timestamp("2026-01-01 10:00"), "n1", "i-n1", 2.0, 3600.0),
    ("vm-a", pd.Timestamp("2026-01-01 11:00"), "n1", "i-n1", 2.0, 1800.0),
    ("vm-a", pd.Timestamp("2026-01-02 05:00"), "n1", "i-n1", 2.0, 3600.0),
    ("vm-a", pd.Timestamp("2026-01-02 06:00"), "n2", "i-n2", 4.0, 3600.0),  # resized and moved at its last hour
    ("vm-a", pd.Timestamp("2026-01-02 06:00"), "n2", "i-n2", 4.0, 3600.0),  # a second disk: a second row
    ("vm-b", pd.Timestamp("2026-01-02 01:00"), "n1", "i-n1", 8.0, 3600.0),
])


def test_rate_casts():
    assert amortized_rate_numeric(12.5, 31) == float(Decimal("0.403225806451613"))
    assert numeric15(0.0125) == 0.0125
    assert numeric15(1 / 3) == float(Decimal("0.333333333333333"))


def test_vm_core_monthly_hand_computed():
    out = vm_core_monthly_rows(SUMMARY, VM, "Supplementary", 31.0, D1, D2, 31).set_index("usage_start")
    assert sorted(out.index) == [D1, D2]  # vm-b: no summary row on its last day; the rate-typed row is skipped
    assert out.loc[D1, "cost_model_cpu_cost"] == pytest.approx(2.0)  # max cores that day x 31/31
    assert out.loc[D2, "cost_model_cpu_cost"] == pytest.approx(4.0)
    # node and resource at the VM's last interval, for every day
    assert set(out["node"]) == {"n2"} and set(out["resource_id"]) == {"i-n2"}
    combined = json.loads(out.loc[D1, "pod_labels"])
    assert combined == {"app": "z", "env": "prod", "vm_kubevirt_io_name": "vm-a"}
    assert (out["pod_labels"] == out["all_labels"]).all()
    assert set(out["monthly_cost_type"]) == {"OCP_VM_CORE"} and set(out["cost_model_rate_type"]) == {"Supplementary"}


def test_vm_core_hourly_hand_computed():
    out = vm_core_hourly_rows(SUMMARY, VM, "Infrastructure", 0.5, D1, D2).set_index("usage_start")
    # D1: one (cores 2) group, 5400 s -> 1.5 h x 2 cores x 0.5
    assert out.loc[D1, "cost_model_cpu_cost"] == pytest.approx(1.5)
    # D2: groups cores 2 (3600 s) and cores 4 (7200 s: two disks): max uptime 2 h x max cores 4 x 0.5
    assert out.loc[D2, "cost_model_cpu_cost"] == pytest.approx(4.0)
    assert out["monthly_cost_type"].isna().all()


def test_vm_hourly_with_the_vm_report():
    hours = vm_hours_from_vm_report(VM)
    assert hours[("vm-a", D2)] == pytest.approx(3.0)  # 3 rows of 3600 s
    out = vm_hourly_rows(SUMMARY, hours, "Supplementary", 0.25, D1, D2)
    # one row per summary row group (label variants stay apart; the rate-typed row is skipped), node from the row
    # vm-a D1: 1.5 h x 0.25; D2: two label variants, 3 h x 0.25 each
    assert sorted(out["cost_model_cpu_cost"].round(12).tolist()) == [0.375, 0.75, 0.75]
    assert set(out["node"]) == {"n1"}
    vm_b = out[out["pod_labels"].str.contains("vm-b")]
    assert vm_b.empty  # vm-b has no VM-report rows on D1


def test_vm_tmp_rows_with_the_vm_report():
    from poc_tasks.cost_model.vm import vm_tmp_rows_with_vm_report

    vm = VM.assign(vm_memory_request_bytes=[8 * 2**30] * 5 + [2**30],
                   vm_persistentvolumeclaim_name=["a-root", "a-root", "a-root", "a-root", "a-data", "b-root"])
    out = vm_tmp_rows_with_vm_report(vm).sort_values("pvc_name").reset_index(drop=True)
    # the month's last interval (01-02 06:00) has only vm-a, on n2 with 4 cores; one row per PVC vm-a ever had
    assert out.to_dict("records") == [
        {"vm_name": "vm-a", "node": "n2", "pvc_name": "a-data", "cpu_request": 96.0, "mem_request": 192.0},
        {"vm_name": "vm-a", "node": "n2", "pvc_name": "a-root", "cpu_request": 96.0, "mem_request": 192.0}]


def test_vm_tmp_rows_from_pods_picks_one_row_per_vm_and_joins_pvcs():
    from poc_tasks.cost_model.vm import vm_tmp_rows_from_pods

    latest = pd.DataFrame([("vm-a", "n1", 24.0, 48.0), ("vm-a", "n1", 12.0, 24.0), ("vm-b", "n2", 2.0, 4.0)],
                          columns=["vm_name", "node", "cpu_request", "mem_request"])
    pvcs = pd.DataFrame([("a-root", "vm-a"), ("a-data", "vm-a")], columns=["persistentvolumeclaim", "vm_name"])
    out = vm_tmp_rows_from_pods(latest, pvcs).sort_values(["vm_name", "pvc_name"]).reset_index(drop=True)
    assert out[["vm_name", "pvc_name", "cpu_request"]].fillna("NULL").values.tolist() == [
        ["vm-a", "a-data", 24.0], ["vm-a", "a-root", 24.0], ["vm-b", "NULL", 2.0]]


def test_vm_tag_rows_hand_computed():
    from poc_tasks.cost_model.rates import TagRateParams
    from poc_tasks.cost_model.vm import vm_tag_rows

    daily = VM.groupby(["vm_name", "usage_start"], as_index=False)["vm_cpu_request_cores"].max()
    # app=y priced 2.0, other apps the default 1.0 (default present: every row with the key is selected)
    by_app = TagRateParams("Infrastructure", "app", {"y": 2.0}, 1.0)
    month = vm_tag_rows("vm_core_month", SUMMARY, by_app, D1, D2, vm_raw=VM, vm_daily=daily, days=31)
    costs = {json.loads(p)["app"]: c for p, c in zip(month["pod_labels"], month["cost_model_cpu_cost"], strict=True)}
    assert costs == {"x": pytest.approx(2 * 1.0 / 31), "y": pytest.approx(4 * 2.0 / 31), "z": pytest.approx(4 / 31)}
    assert set(month["node"]) == {"n2"} and set(month["monthly_cost_type"]) == {"Tag"}
    # value rates only: rows without a priced value are not selected
    only_y = TagRateParams("Supplementary", "app", {"y": 0.5}, None)
    hour = vm_tag_rows("vm_core_hour", SUMMARY, only_y, D1, D2, vm_raw=VM)
    assert hour["cost_model_cpu_cost"].tolist() == [pytest.approx(4 * 0.5 * 2.0)]  # 4 cores x 0.5 x 2 h
    hours = vm_hours_from_vm_report(VM)
    per_hour = vm_tag_rows("vm_hour", SUMMARY, by_app, D1, D2, vm_hours=hours)
    assert sorted(per_hour["cost_model_cpu_cost"].round(12)) == [1.5, 3.0, 6.0]  # x: 1.5 h x 1; z: 3 x 1; y: 3 x 2


def test_vm_rows_take_sqls_max_over_a_null_resource_id():
    """Koku's back-populated OCP-on-cloud rows of a VM pod may have no resource id; in one row group with a row that
    has one, SQL's max() ignores the NULL (seen inside real Koku: pandas' max raised on the mixed column)."""
    from poc_tasks.cost_model.rates import TagRateParams
    from poc_tasks.cost_model.vm import vm_hourly_rows, vm_tag_rows

    labels = _labels(app="x", vm_kubevirt_io_name="vm-a")
    summary = _summary([{"usage_start": D1, "vm_name": "vm-a", "pod_labels": labels, "all_labels": labels},
                        {"usage_start": D1, "vm_name": "vm-a", "pod_labels": labels, "all_labels": labels,
                         "resource_id": None}])
    hours = vm_hours_from_vm_report(VM)
    tag = vm_tag_rows("vm_hour", summary, TagRateParams("Infrastructure", "app", {}, 1.0), D1, D1, vm_hours=hours)
    assert tag["resource_id"].tolist() == ["i-n1"] and tag["cost_model_cpu_cost"].tolist() == [pytest.approx(1.5)]
    hourly = vm_hourly_rows(summary, hours, "Infrastructure", 2.0, D1, D1)
    assert hourly["resource_id"].tolist() == ["i-n1"] and hourly["cost_model_cpu_cost"].tolist() == [3.0]
    only_null = summary.assign(resource_id=None)
    assert vm_tag_rows("vm_hour", only_null, TagRateParams("Infrastructure", "app", {}, 1.0), D1, D1,
                       vm_hours=hours)["resource_id"].tolist() == [None]
