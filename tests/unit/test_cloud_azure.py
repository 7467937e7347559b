"""Koku's OCP-on-Azure rules (spec ocp-on-cloud.md §4.1-4.3 "Azure", §8), on small frames with hand-computed answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import azure
from poc_tasks.cloud.matching import ContainsMatcher
from poc_tasks.cloud.project import project_tag_keys
from poc_tasks.errors import InputFileError

NAN = float("nan")
SUB = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute"
TIERS = [("P1", 4), ("P10", 128), ("S4", 32), ("E10", 128)]


# --- units -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("unit", "expected"), [
    ("100 Hours", "Hrs"), ("10 Hours", "Hrs"), ("100 GB/Month", "GB-Mo"),
    # Trino's split_part gives NULL past the last field: a two-word unit keeps its text
    ("1 Hour", "1 Hour"), ("1 GB", "1 GB"), ("1 GiB/Hour", "1 GiB/Hour"), ("10K Operations", "10K Operations"),
    # a trailing space makes an empty 3rd field: the 2nd word alone
    ("1 Hour ", "Hour"),
    ("Hours", "Hours"), ("", ""), (None, None),
])
def test_unit_of_measure_follows_trino_split_part(unit, expected):
    assert azure.unit_of_measure(unit) == expected


@pytest.mark.parametrize(("unit", "category", "factor"), [
    ("100 Hours", "Virtual Machines", 1),  # legacy VM unit: already hours
    ("100 Hours", "Storage", 100),
    ("10 Hours", "Virtual Machines", 10),
    ("100 GB/Month", "Storage", 100),
    ("1 GB", "Bandwidth", 1),
    ("10K Operations", "Key Vault", 1),  # '10K' is not a number
    ("100", "Storage", 1),  # no 2nd word
    ("100  Hours", "Storage", 1),  # an empty 2nd word (two spaces)
])
def test_usage_multiplier(unit, category, factor):
    assert azure.usage_multiplier(unit, category) == factor


def test_a_decimal_unit_number_fails_as_koku_cast_to_integer_does():
    with pytest.raises(ValueError, match="integer"):
        azure.usage_multiplier("0.5 GB", "Storage")


# --- step 1 ------------------------------------------------------------------------------------------------------

def _line(**kw):
    base = {"date": pd.Timestamp("2026-01-05"), "row_uuid": "u", "resourceid": "", "servicename": "",
            "metercategory": "Virtual Machines", "metername": "D4s v3", "consumedservice": "Microsoft.Compute",
            "additionalinfo": "{}", "subscriptionid": "", "subscriptionguid": "sub-1", "subscriptionname": "Sub",
            "resourcelocation": "eastus", "unitofmeasure": "1 Hour", "quantity": 24.0, "billingcurrencycode": "",
            "billingcurrency": "USD", "costinbillingcurrency": 2.4, "tags": "{}"}
    base.update(kw)
    return base


def _day(lines) -> pa.Table:
    return pa.Table.from_pandas(pd.DataFrame(lines), preserve_index=False)


LINES = [
    _line(row_uuid="vm", resourceid=f"{SUB}/virtualMachines/worker-1",
          additionalinfo=json.dumps({"ServiceType": "Standard_D4s_v3"}), unitofmeasure="100 Hours", quantity=0.24),
    _line(row_uuid="osdisk", resourceid=f"{SUB}/disks/worker-1_OSDisk", metercategory="Storage",
          metername="P10 LRS Disk", unitofmeasure="1/Month", quantity=0.03, costinbillingcurrency=0.5),
    _line(row_uuid="net", resourceid=f"{SUB}/virtualMachines/worker-1", servicename="Virtual Network",
          metercategory="Bandwidth", additionalinfo=json.dumps({"DataTransferDirection": "DataTrIn"}),
          unitofmeasure="1 GB", quantity=3.0, costinbillingcurrency=0.3),
    _line(row_uuid="tagged", resourceid="/subscriptions/s1/resourceGroups/data/providers/Microsoft.Cache/Redis/c",
          metercategory="Redis Cache", unitofmeasure="100 GB/Month", quantity=0.5, subscriptionid="sub-2",
          tags=json.dumps({"app": "api", "other": "x"})),
    _line(row_uuid="other", resourceid="/subscriptions/s1/resourceGroups/ci/providers/Microsoft.Compute/"
                                       "virtualMachines/jenkins", tags=json.dumps({"app": "ci"})),
]


def test_daily_temp_keeps_matched_and_tag_matched_lines_with_koku_columns():
    temp = azure.daily_temp(_day(LINES), ContainsMatcher(["worker-1"]), ['"app": "api"'], ["app"]).set_index(
        "row_uuid")
    assert sorted(temp.index) == ["net", "osdisk", "tagged", "vm"]  # the CI VM matches nothing
    vm, disk, net, tagged = (temp.loc[k] for k in ("vm", "osdisk", "net", "tagged"))
    assert vm["resource_id"] == "worker-1" and vm["complete_resource_id"].endswith("/worker-1")
    assert vm["instance_type"] == "Standard_D4s_v3" and vm["unit_of_measure"] == "Hrs"
    assert vm["usage_amount"] == pytest.approx(0.24)  # '100 Hours' on a VM: not multiplied
    assert vm["service_name"] == "Virtual Machines" and vm["currency"] == "USD"  # coalesce(nullif(..), ..)
    assert disk["resource_id"] == "worker-1_OSDisk" and disk["unit_of_measure"] == "1/Month"
    # Virtual Network + microsoft.compute + DataTransferDirection on a matched line: lower-cased value
    assert net["data_transfer_direction"] == "datatrin" and vm["data_transfer_direction"] is None
    assert tagged["resource_id_matched"] == False and tagged["matched_tag"] == '"app": "api"'  # noqa: E712
    assert tagged["usage_amount"] == pytest.approx(50.0)  # 0.5 x 100 GB/Month
    assert tagged["unit_of_measure"] == "GB-Mo" and tagged["subscription_guid"] == "sub-2"
    assert tagged["tags"] == '{"app":"api"}'  # only enabled and openshift keys survive
    assert vm["resource_id_matched"] == True and vm["matched_tag"] is None  # noqa: E712


def test_network_direction_needs_the_line_to_be_resource_matched():
    net = dict(LINES[2], resourceid=f"{SUB}/virtualMachines/elsewhere", tags=json.dumps({"app": "api"}))
    temp = azure.daily_temp(_day([net]), ContainsMatcher(["worker-1"]), ['"app": "api"'], ["app"])
    assert temp.loc[0, "data_transfer_direction"] is None and temp.loc[0, "matched_tag"] == '"app": "api"'


def test_unusable_tag_json_names_the_column():
    bad = dict(LINES[0], tags='{"openshift_project": ')
    with pytest.raises(InputFileError, match="tags"):
        azure.daily_temp(_day([bad]), ContainsMatcher(["worker-1"]), [], [])


# --- disk sizes ----------------------------------------------------------------------------------------------------

def test_disk_capacity_from_the_meter_name_tier_followed_by_a_space():
    narrow = pd.DataFrame({
        "resourceid": [f"{SUB}/disks/pvc-1", f"{SUB}/disks/pvc-1", f"{SUB}/disks/pvc-2", f"{SUB}/disks/node_OSDisk",
                       f"{SUB}/disks/xosdisk", f"{SUB}/disks/pvc-3", f"{SUB}/snapshots/pvc-4", f"{SUB}/disks/pvc-5"],
        "servicename": ["", "", "", "", "", "", "", "Storage"],
        "metercategory": ["Storage"] * 7 + ["Bandwidth"],
        "metername": ["P1 LRS Disk", "P10 LRS Disk", "Ultra LRS Provisioned Capacity", "P10 LRS Disk",
                      "P10 LRS Disk", "S4 LRS Disk", "P10 LRS Disk", "E10 LRS Disk"],
    })
    matched = np.array([True, True, True, True, True, False, True, True])
    caps = azure.disk_capacities(narrow, matched, TIERS)
    # pvc-1: 'P1 ' is not in 'P10 LRS Disk' but 'P10 ' is; the largest of its lines; pvc-2's meter is unknown;
    # OS disks ('%_osdisk', any character before osdisk) are out; pvc-3 is not matched; a snapshot is not a disk
    assert caps == {"pvc-1": 128, "pvc-5": 128}


def test_pv_capacity_totals_per_disk_over_pvs_and_clusters():
    ocp_all = pd.DataFrame({
        "data_source": ["Storage", "Storage", "Storage", "Storage", "Pod"],
        "persistentvolume": ["pv-a", "pv-a", "pv-b", "pv-c", None],
        "csi_volume_handle": [None, None, "DISK-X", None, None],
        "cluster_id": ["c1", "c1", "c1", "c2", "c1"],
        attr.PVC_CAPACITY: [10.0, 12.0, 20.0, 5.0, NAN],
    })
    # disk-x-pv-a holds pv-a (by name), and disk-x by csi handle (case-insensitive equality) holds pv-b
    contrib = azure.pv_capacity_contributions(["disk-x-pv-a", "disk-x", "pv-c-disk"], ocp_all)
    totals = azure.pv_capacity_totals(contrib)
    assert totals == {"disk-x-pv-a": (12.0, 1), "disk-x": (20.0, 1), "pv-c-disk": (5.0, 1)}


# --- step 2 ------------------------------------------------------------------------------------------------------

def temp(rows):
    out = []
    for r in rows:
        base = {"row_uuid": None, "usage_start": "2026-01-05", "resource_id": None, "complete_resource_id": None,
                "service_name": "Virtual Machines", "data_transfer_direction": None, "instance_type": None,
                "subscription_guid": "sub-1", "subscription_name": "Sub", "resource_location": "eastus",
                "unit_of_measure": "Hrs", "usage_amount": 24.0, "currency": "USD", "pretax_cost": 2.4,
                "metername": None, "tags": '{"team":"t"}', "resource_id_matched": True, "matched_tag": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def ocp(rows):
    out = []
    for r in rows:
        base = {"source": "s1", "report_period_id": 1, "cluster_id": "c-1", "cluster_alias": "My Cluster",
                "data_source": "Pod", "namespace": None, "node": "worker-1", "resource_id": "vm-id-1",
                "pod_labels": None, "volume_labels": None, "persistentvolumeclaim": None, "persistentvolume": None,
                "storageclass": None, attr.PVC_CAPACITY: NAN, attr.EFF_CPU: NAN, attr.EFF_MEM: NAN,
                attr.CAP_CPU: 24.0, attr.CAP_MEM: 96.0, "cost_category_id": NAN, "csi_volume_handle": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


NODE = ocp([
    {"namespace": "a", "pod_labels": '{"app":"a"}', attr.EFF_CPU: 6.0, attr.EFF_MEM: 24.0},
    {"namespace": "b", "pod_labels": '{"app":"b"}', attr.EFF_CPU: 12.0, attr.EFF_MEM: 24.0},
    {"namespace": "Worker unallocated", attr.EFF_CPU: 6.0, attr.EFF_MEM: 48.0},
    {"namespace": "b", "data_source": "Storage", "persistentvolumeclaim": "data-b", "persistentvolume": "pvc-1",
     "volume_labels": '{"v":"1"}', "storageclass": "managed-csi", attr.PVC_CAPACITY: 32.0, attr.CAP_CPU: NAN,
     attr.CAP_MEM: NAN, "cost_category_id": 2.0},
    # a released PV: no claim, no namespace
    {"namespace": "", "data_source": "Storage", "persistentvolumeclaim": "", "persistentvolume": "pvc-9",
     "node": None, "resource_id": None, attr.PVC_CAPACITY: 8.0, attr.CAP_CPU: NAN, attr.CAP_MEM: NAN},
])


def _by_ns(final, col="pretax_cost"):
    """Cost per (namespace, data_source), summed over rows."""
    out: dict = {}
    for r in final.itertuples():
        key = (r.namespace, r.data_source)
        out[key] = round(out.get(key, 0.0) + getattr(r, col), 12)
    return out


def test_vm_and_its_os_disk_are_split_by_pod_cpu_usage_with_decimal_cost():
    lines = temp([{"row_uuid": "vm", "resource_id": "worker-1", "pretax_cost": 2.4000000000004},
                  {"row_uuid": "os", "resource_id": "Worker-1_OSDisk", "service_name": "Storage",
                   "pretax_cost": 0.48}])
    final = azure.step2_rows(lines, NODE, {}, set(), {}, "cpu", 0.1)
    vm = final[final["row_uuid"] == "vm"]
    # cast to decimal(24,9) first: 2.4000000000004 -> 2.4; then 2.4 x 6/24, 12/24, 6/24
    assert _by_ns(vm) == {("a", "Pod"): 0.6, ("b", "Pod"): 1.2, ("Worker unallocated", "Pod"): 0.6}
    assert _by_ns(vm, "markup_cost")[("b", "Pod")] == pytest.approx(0.12)
    # the OS disk (lower-cased, '_osdisk' removed = the node) goes the same way
    os_ = final[final["row_uuid"] == "os"]
    assert _by_ns(os_) == {("a", "Pod"): 0.12, ("b", "Pod"): 0.24, ("Worker unallocated", "Pod"): 0.12}
    assert vm["usage_amount"].tolist() == [8.0, 8.0, 8.0]  # usage split evenly (§8.3)


def test_memory_distribution():
    final = azure.step2_rows(temp([{"row_uuid": "vm", "resource_id": "worker-1"}]), NODE, {}, set(), {}, "memory",
                             0.0)
    assert _by_ns(final) == {("a", "Pod"): 0.6, ("b", "Pod"): 0.6, ("Worker unallocated", "Pod"): 1.2}


def test_sized_disk_split_by_claim_over_tier_rest_unattributed():
    disk = temp([{"row_uuid": "d", "resource_id": "pvc-1", "service_name": "Storage", "unit_of_measure": "1/Month",
                  "usage_amount": 1.0, "pretax_cost": 1.28}])
    totals = {"pvc-1": (32.0, 1)}
    final = azure.step2_rows(disk, NODE, {"pvc-1": 128}, {"pvc-1"}, totals, "cpu", 0.0)
    # b's claim: 32/128 x 1.28; the rest (128 - 32)/128 x 1.28 / 1 cluster; both fresh uuids, unit GB-Mo
    assert _by_ns(final) == {("b", "Storage"): 0.32, ("Storage unattributed", "Storage"): 0.96}
    assert set(final["unit_of_measure"]) == {"GB-Mo"} and "d" not in set(final["row_uuid"])
    claim = final[final["namespace"] == "b"].iloc[0]
    assert claim["persistentvolume"] == "pvc-1" and claim["cost_category_id"] == 2.0
    assert claim["tags"] == '{"team":"t","v":"1"}'  # volume labels overlaid with the line's tags
    rest = final[final["namespace"] == "Storage unattributed"].iloc[0]
    assert rest["tags"] is None and pd.isna(rest["usage_amount"]) and rest["node"] is None


def test_unattributed_storage_is_written_even_at_zero_and_can_be_negative():
    disk = temp([{"row_uuid": "d", "resource_id": "pvc-1", "service_name": "Storage", "pretax_cost": 0.64}])
    full = azure.step2_rows(disk, NODE, {"pvc-1": 32}, {"pvc-1"}, {"pvc-1": (32.0, 1)}, "cpu", 0.0)
    assert _by_ns(full) == {("b", "Storage"): 0.64, ("Storage unattributed", "Storage"): 0.0}
    below = azure.step2_rows(disk, NODE, {"pvc-1": 16}, {"pvc-1"}, {"pvc-1": (32.0, 1)}, "cpu", 0.0)
    assert _by_ns(below) == {("b", "Storage"): 1.28, ("Storage unattributed", "Storage"): -0.64}


def test_claimless_pv_disk_goes_to_storage_unattributed_by_csi_handle():
    node = pd.concat([NODE, ocp([{"namespace": "", "data_source": "Storage", "persistentvolumeclaim": "",
                                  "persistentvolume": "other-name", "csi_volume_handle": "PVC-7", "node": None,
                                  "resource_id": None, attr.PVC_CAPACITY: 4.0}])], ignore_index=True)
    disk = temp([{"row_uuid": "d", "resource_id": "pvc-7", "service_name": "Storage", "pretax_cost": 0.4}])
    final = azure.step2_rows(disk, node, {"pvc-7": 4}, {"pvc-7"}, {"pvc-7": (4.0, 1)}, "cpu", 0.0)
    # the claim row (4/4 x 0.4, without labels or cost category) and the rest (4 - 4)/4 x 0.4 = 0
    assert sorted(final["pretax_cost"].round(12).tolist()) == [0.0, 0.4]
    assert set(final["namespace"]) == {"Storage unattributed"} and final["pod_labels"].isna().all()


def test_unsized_disk_matched_directly_by_pv_name_split_evenly_over_its_storage_rows():
    disk = temp([{"row_uuid": "d", "resource_id": "pvc-1", "service_name": "Storage", "pretax_cost": 0.7}])
    final = azure.step2_rows(disk, NODE, {}, set(), {}, "cpu", 0.0)
    assert _by_ns(final) == {("b", "Storage"): 0.7}
    # a disk sized on another day of the chunk is not matched directly
    assert azure.step2_rows(disk, NODE, {}, {"pvc-1"}, {}, "cpu", 0.0).empty


def test_tag_matched_line_split_evenly_over_namespaces():
    line = temp([{"row_uuid": "t", "resource_id_matched": False, "matched_tag": '"app": "a"',
                  "tags": '{"openshift_project":"b"}', "pretax_cost": 1.0}])
    node = NODE.assign(pod_labels=NODE["pod_labels"].replace({'{"app":"a"}': '{"app":"a"}'}))
    final = azure.step2_rows(line, node, {}, set(), {}, "cpu", 0.0)
    # namespace a by label, b (Pod and Storage rows) by openshift_project; unallocated never; 1/3 each
    assert _by_ns(final) == {("a", "Pod"): pytest.approx(1 / 3), ("b", "Pod"): pytest.approx(1 / 3),
                             ("b", "Storage"): pytest.approx(1 / 3)}


def test_data_transfer_of_a_node_goes_whole_to_network_unattributed():
    line = temp([{"row_uuid": "n", "resource_id": "worker-1", "service_name": "Virtual Network",
                  "data_transfer_direction": "datatrout", "usage_amount": 3.0, "pretax_cost": 0.3}])
    final = azure.step2_rows(line, NODE, {}, set(), {}, "cpu", 0.1)
    assert _by_ns(final) == {("Network unattributed", "Pod"): 0.3}
    row = final.iloc[0]
    assert row["data_transfer_direction"] == "datatrout" and row["markup_cost"] == pytest.approx(0.03)
    assert row["tags"] == '{"team":"t"}' and row["usage_amount"] == 3.0


def test_project_rows_map_directions_and_count_the_usage_as_data_in_or_out():
    line = temp([{"row_uuid": "n", "resource_id": "worker-1", "service_name": "Virtual Network",
                  "data_transfer_direction": "datatrin", "usage_amount": 3.0, "pretax_cost": 0.3}])
    final = azure.step2_rows(line, NODE, {}, set(), {}, "cpu", 0.0)
    project = azure.project_rows(final, project_tag_keys(["team"]))
    row = project.iloc[0]
    assert row["data_transfer_direction"] == "IN" and row["infrastructure_data_in_gigabytes"] == 3.0
    assert row["infrastructure_data_out_gigabytes"] == 0.0 and row["usage_quantity"] == 3.0
    assert row["enabled_tags"] == '{"team":"t"}'
    assert math.isclose(row["pretax_cost"], 0.3)


def test_ui_tables_filter_as_koku_does():
    final = pd.DataFrame({"usage_start": ["2026-01-05"] * 4, "cluster_id": "c", "cluster_alias": "C",
                          "subscription_guid": "s", "subscription_name": "S", "currency": "USD",
                          "cost_category_id": NAN, "resource_location": "eastus", "resource_id": ["a", "b", "c", "d"],
                          "instance_type": ["D4", None, None, None],
                          "service_name": ["Virtual Machines", "Storage", "Azure Database for PostgreSQL",
                                           "Virtual Network"],
                          "unit_of_measure": ["Hrs", "GB-Mo", "Hrs", "1 GB"], "usage_quantity": [1.0, 2.0, 3.0, 4.0],
                          "pretax_cost": [1.0, 2.0, 3.0, 4.0], "markup_cost": 0.0})
    from poc_tasks.cloud.outputs import ui_rows
    rows = {t.name.removeprefix("reporting_ocpazure_"): ui_rows(final, t) for t in azure.UI_TABLES}
    assert rows["compute_summary_p"]["resource_id"].tolist() == ["a"]
    assert rows["storage_summary_p"]["pretax_cost"].tolist() == [2.0]
    assert rows["database_summary_p"]["service_name"].tolist() == ["Azure Database for PostgreSQL"]
    assert rows["network_summary_p"]["usage_quantity"].tolist() == [4.0]
    assert rows["cost_summary_p"]["pretax_cost"].tolist() == [10.0]
    assert len(rows["cost_summary_by_service_p"]) == 4


def test_lines_read_twice_double_the_vm_pod_shares_only_as_kokus_sql_does():
    """The same rows in two files: Koku's step 2 groups by row_uuid with max() (one line), but its direct insert sums
    the pods' effective usage over every copy; the network line stays whole, once."""
    lines = temp([{"row_uuid": "vm", "resource_id": "worker-1"},
                  {"row_uuid": "n", "resource_id": "worker-1", "service_name": "Virtual Network",
                   "data_transfer_direction": "datatrout", "usage_amount": 3.0, "pretax_cost": 0.3}])
    twice = attr.collapse_copies(pd.concat([lines, lines], ignore_index=True))
    final = azure.step2_rows(twice, NODE, {}, set(), {}, "cpu", 0.0)
    # 2.4 x (2 x 6)/24, (2 x 12)/24, (2 x 6)/24 (once: 0.6, 1.2, 0.6); transfer 0.3 once
    assert _by_ns(final) == {("a", "Pod"): 1.2, ("b", "Pod"): 2.4, ("Worker unallocated", "Pod"): 1.2,
                             ("Network unattributed", "Pod"): 0.3}
    assert len(final) == 4
