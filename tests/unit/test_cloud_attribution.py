"""Koku's attribution rules (spec ocp-on-cloud.md §4.2, §8), on small frames with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud.aws import PROFILE as AWS_PROFILE

NAN = float("nan")
ALIASES = {"111": 7}


def temp(rows):
    """Matched lines (aws.daily_temp's shape); every cost column takes `cost` unless given."""
    out = []
    for r in rows:
        cost = r.pop("cost", 1.0)
        base = {"row_uuid": None, "resource_id": None, "product_code": "AmazonEC2", "usage_start": "2026-01-05",
                "usage_account_id": "111", "availability_zone": None, "product_family": None,
                "instance_type": None, "region": "us-east-1", "unit": "Hrs", "tags": '{"team":"t"}',
                "aws_cost_category": '{"cc":"x"}', "usage_amount": 1.0, "data_transfer_direction": None,
                "currency_code": "USD", "unblended_cost": cost, "blended_cost": cost,
                "savingsplan_effective_cost": cost, "calculated_amortized_cost": cost,
                "resource_id_matched": True, "matched_tag": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def ocp(rows):
    out = []
    for r in rows:
        base = {"source": "s1", "cluster_id": "c-1", "cluster_alias": "My Cluster", "data_source": "Pod",
                "namespace": None, "node": "n1", "resource_id": "i-1", "pod_labels": None, "volume_labels": None,
                "persistentvolumeclaim": None, "persistentvolume": None, "storageclass": None,
                "persistentvolumeclaim_capacity_gigabyte": NAN, attr.EFF_CPU: NAN, attr.EFF_MEM: NAN,
                attr.CAP_CPU: 24.0, attr.CAP_MEM: 100.0, "cost_category_id": NAN, "csi_volume_handle": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


NODE = ocp([
    {"namespace": "a", "pod_labels": '{"app":"a"}', attr.EFF_CPU: 6.0, attr.EFF_MEM: 10.0, "cost_category_id": 1.0},
    {"namespace": "a", "pod_labels": '{"app":"a2"}', attr.EFF_CPU: 2.0, attr.EFF_MEM: 10.0},
    {"namespace": "b", "pod_labels": '{"app":"b"}', attr.EFF_CPU: 10.0, attr.EFF_MEM: 30.0},
    {"namespace": "Worker unallocated", attr.EFF_CPU: 6.0, attr.EFF_MEM: 50.0},
    # the PVC row of namespace b carries the node's resource_id (and NULL usage)
    {"namespace": "b", "data_source": "Storage", "persistentvolumeclaim": "claim", "persistentvolume": "pv1",
     "volume_labels": '{"v":"1"}', "csi_volume_handle": "vol-1", "persistentvolumeclaim_capacity_gigabyte": 20.0,
     attr.CAP_CPU: NAN, attr.CAP_MEM: NAN},
])
INSTANCE = temp([{"row_uuid": "r1", "resource_id": "arn:x/i-1", "usage_amount": 24.0, "cost": 2.4}])


def _final(rows, distribution="cpu", markup=0.1, counts=None):
    return attr.final_rows(rows, counts or {}, distribution, markup, ALIASES, AWS_PROFILE)


def _by_ns(final, col="calculated_amortized_cost"):
    return {(r.namespace, r.pod_labels): (None if pd.isna(getattr(r, col)) else round(getattr(r, col), 12))
            for r in final.itertuples()}


def test_node_cost_split_by_effective_cpu_with_unallocated_taking_the_idle_share():
    direct = attr.direct_rows(INSTANCE, NODE, set(), AWS_PROFILE)
    final = _final(direct)
    # 2.4 x 6/24, 2/24, 10/24, 6/24; the storage-only group of b has NULL usage -> NULL cost
    assert _by_ns(final) == {("a", '{"app":"a"}'): 0.6, ("a", '{"app":"a2"}'): 0.2, ("b", '{"app":"b"}'): 1.0,
                             ("Worker unallocated", None): 0.6, ("b", None): None}
    assert math.isclose(final["calculated_amortized_cost"].sum(), 2.4)  # conservation
    assert final["usage_amount"].tolist() == [4.8] * 5  # usage split evenly over the 5 groups (quirk §8.3)
    assert _by_ns(final, "markup_cost")[("b", '{"app":"b"}')] == 0.1
    assert set(final["data_source"]) == {"Pod"} and final["resource_id_matched"].all()
    a = final[final["pod_labels"] == '{"app":"a"}'].iloc[0]
    assert a["tags"] == '{"app":"a","team":"t"}'  # labels overlaid with the line's tags
    assert a["cost_category_id"] == 1.0 and a["account_alias_id"] == 7
    assert final.loc[final["namespace"] == "Worker unallocated", "tags"].tolist() == [None]


def test_memory_distribution_uses_memory_over_memory_capacity():
    final = _final(attr.direct_rows(INSTANCE, NODE, set(), AWS_PROFILE), distribution="memory")
    assert _by_ns(final) == {("a", '{"app":"a"}'): 0.24, ("a", '{"app":"a2"}'): 0.24, ("b", '{"app":"b"}'): 0.72,
                             ("Worker unallocated", None): 1.2, ("b", None): None}


def test_zero_node_capacity_gives_null_cost():
    node = ocp([{"namespace": "a", "pod_labels": "{}", attr.EFF_CPU: 1.0, attr.CAP_CPU: 0.0}])
    final = _final(attr.direct_rows(INSTANCE, node, set(), AWS_PROFILE))
    assert final["unblended_cost"].isna().all() and final["markup_cost"].isna().all()


def test_disks_and_data_transfer_are_not_split_by_pods():
    lines = temp([{"row_uuid": "d", "resource_id": "i-1", "cost": 1.0},
                  {"row_uuid": "t", "resource_id": "i-1", "data_transfer_direction": "IN"}])
    assert attr.direct_rows(lines, NODE, {"i-1"}, AWS_PROFILE).empty
    assert set(attr.direct_rows(lines, NODE, set(), AWS_PROFILE)["row_uuid"]) == {"d"}


DISKS = ocp([
    {"namespace": "b", "data_source": "Storage", "persistentvolumeclaim": "claim", "persistentvolume": "pv1",
     "storageclass": "gp3", "volume_labels": '{"v":"1"}', "csi_volume_handle": "vol-1", "cost_category_id": 3.0,
     "persistentvolumeclaim_capacity_gigabyte": 20.0},
    {"namespace": "", "node": None, "resource_id": None, "data_source": "Storage", "persistentvolumeclaim": "",
     "persistentvolume": "pv2", "volume_labels": "{}", "csi_volume_handle": "vol-2",
     "persistentvolumeclaim_capacity_gigabyte": 50.0},
    {"namespace": "c", "data_source": "Storage", "persistentvolumeclaim": "big", "persistentvolume": "pv3",
     "volume_labels": "{}", "csi_volume_handle": "vol-3", "persistentvolumeclaim_capacity_gigabyte": 12.0},
])
DISK_LINES = temp([{"row_uuid": "v1", "resource_id": "vol-1", "cost": 1.0, "usage_amount": 3.0},
                   {"row_uuid": "v2", "resource_id": "vol-2", "cost": 2.0},
                   {"row_uuid": "v3", "resource_id": "vol-3", "cost": 5.0}])
CAPACITY = {"vol-1": 100, "vol-2": 50, "vol-3": 10}


def _storage(totals):
    rows = attr.storage_rows(DISK_LINES, DISKS, CAPACITY, totals, AWS_PROFILE)
    return _final(rows)


def test_ebs_cost_split_by_pvc_capacity_with_the_rest_storage_unattributed():
    final = _storage({"vol-1": (20.0, 1), "vol-2": (50.0, 1), "vol-3": (12.0, 1)})
    got = {(r.resource_id, r.namespace): round(r.calculated_amortized_cost, 12) for r in final.itertuples()}
    assert got == {
        ("vol-1", "b"): 0.2,  # 20 GiB of a 100 GiB disk
        ("vol-1", "Storage unattributed"): 0.8,  # (100 - 20) / 100
        ("vol-2", "Storage unattributed"): 2.0,  # claimless PV: the whole claim share; total = capacity: no rest row
        ("vol-3", "c"): 6.0,  # 12 GiB claimed of a 10 GiB disk: 1.2 x the cost ...
        ("vol-3", "Storage unattributed"): -1.0,  # ... and a negative rest (no guard in Koku)
    }
    b = final[final["namespace"] == "b"].iloc[0]
    assert (b["persistentvolumeclaim"], b["persistentvolume"], b["storageclass"], b["cost_category_id"]) == \
        ("claim", "pv1", "gp3", 3.0)
    assert b["usage_amount"] == 3.0  # the disk's whole usage, not split
    assert b["tags"] == '{"team":"t","v":"1"}'
    claimless = final[final["resource_id"] == "vol-2"].iloc[0]
    assert pd.isna(claimless["usage_amount"]) and claimless["tags"] is None and claimless["aws_cost_category"] is None
    rest = final[(final["resource_id"] == "vol-1") & (final["namespace"] == "Storage unattributed")].iloc[0]
    assert rest["node"] is None and rest["tags"] is None and rest["persistentvolume"] == "pv1"
    assert len(set(final["row_uuid"])) == len(final)  # fresh row uuids
    for res, cost in (("vol-1", 1.0), ("vol-2", 2.0), ("vol-3", 5.0)):
        assert math.isclose(final.loc[final["resource_id"] == res, "calculated_amortized_cost"].sum(), cost)


def test_shared_disk_rest_is_divided_by_the_clusters_on_it():
    # another cluster claims 30 GiB of vol-1: rest = (100 - 50) / 100 / 2 clusters
    final = _storage({"vol-1": (50.0, 2), "vol-2": (50.0, 1), "vol-3": (12.0, 1)})
    rest = final[(final["resource_id"] == "vol-1") & (final["namespace"] == "Storage unattributed")]
    assert rest["calculated_amortized_cost"].round(12).tolist() == [0.25]


def test_pv_capacity_totals_over_a_chunk():
    contributions = pd.DataFrame({
        "resource_id": ["vol-1", "vol-1", "vol-1"], "persistentvolume": ["pv1", "pv1", "pv9"],
        "cluster_id": ["c-1", "c-1", "c-2"], attr.PVC_CAPACITY: [20.0, 25.0, 30.0]})
    assert attr.pv_capacity_totals(contributions) == {"vol-1": (55.0, 2)}  # per PV the max, summed; 2 clusters


def test_pv_capacity_contributions_and_disk_candidates_by_csi_handle():
    matched = {"vol-1", "arn:x:volume/vol-2", "i-1"}
    assert attr.disk_candidates(matched, DISKS) == {"vol-1", "arn:x:volume/vol-2"}
    got = attr.pv_capacity_contributions(matched, DISKS).sort_values("resource_id")
    assert got.to_dict("records") == [
        {"resource_id": "arn:x:volume/vol-2", "persistentvolume": "pv2", "cluster_id": "c-1",
         attr.PVC_CAPACITY: 50.0},
        {"resource_id": "vol-1", "persistentvolume": "pv1", "cluster_id": "c-1", attr.PVC_CAPACITY: 20.0}]


TAGGED = ocp([
    {"namespace": "a", "pod_labels": '{"app":"a"}'},
    {"namespace": "a", "pod_labels": '{"app":"z"}'},
    {"namespace": "a", "data_source": "Storage", "persistentvolumeclaim": "c1", "persistentvolume": "p1",
     "volume_labels": '{"v":"1"}', "pod_labels": None},
    {"namespace": "Worker unallocated"},
])
TAG_LINE = temp([{"row_uuid": "t1", "resource_id": "bucket", "resource_id_matched": False, "cost": 3.0,
                  "usage_amount": 6.0, "tags": '{"openshift_project":"a"}',
                  "matched_tag": '"openshift_project": "a"'}])


def test_tag_matched_line_divided_over_namespaces_and_matching_clusters():
    rows = attr.tag_rows(TAG_LINE, TAGGED, AWS_PROFILE)
    assert sorted(zip(rows["namespace"], rows["data_source"], strict=True)) == [("a", "Pod"), ("a", "Storage")]
    other_cluster = ocp([{"source": "s2", "cluster_id": "c-2", "namespace": "a", "pod_labels": "{}"}])
    counts = attr.tag_cluster_counts(TAG_LINE, pd.concat([TAGGED, other_cluster], ignore_index=True))
    assert counts == {"t1": 2}
    final = _final(rows, counts=counts)
    # 3.0 / (2 rows x 2 clusters); usage 6 / 4
    assert final["calculated_amortized_cost"].tolist() == [0.75, 0.75]
    assert final["usage_amount"].tolist() == [1.5, 1.5]
    assert final["markup_cost"].round(12).tolist() == [0.075, 0.075]
    pod = final[final["data_source"] == "Pod"].iloc[0]
    assert pod["pod_labels"] == '{"app":"z"}'  # the lexicographic max of the group's labels (quirk §8.12)
    assert pod["tags"] == '{"app":"z","openshift_project":"a"}'
    storage = final[final["data_source"] == "Storage"].iloc[0]
    assert (storage["persistentvolumeclaim"], storage["tags"]) == ("c1", '{"openshift_project":"a","v":"1"}')
    assert not final["resource_id_matched"].any()


def test_tag_match_never_reaches_resource_matched_lines():
    line = TAG_LINE.assign(resource_id_matched=True)
    assert attr.tag_rows(line, TAGGED, AWS_PROFILE).empty
    assert attr.tag_cluster_counts(line, TAGGED) == {}


def test_node_data_transfer_goes_whole_to_network_unattributed():
    line = temp([{"row_uuid": "n1", "resource_id": "i-1", "data_transfer_direction": "OUT", "cost": 0.5,
                  "usage_amount": 3.0}])
    final = attr.network_rows(line, NODE, 0.1, ALIASES, AWS_PROFILE)
    assert len(final) == 1  # one row per (line, node, direction); Storage rows do not join
    row = final.iloc[0]
    assert (row["namespace"], row["node"], row["data_transfer_direction"]) == ("Network unattributed", "n1", "OUT")
    assert (row["calculated_amortized_cost"], row["usage_amount"]) == (0.5, 3.0)
    assert math.isclose(row["markup_cost_amortized"], 0.05)
    assert row["tags"] == '{"team":"t"}' and row["cost_category_id"] is None and row["aws_cost_category"] is None


@pytest.mark.parametrize("distribution", ["cpu", "memory"])
def test_day_invariant_attributed_equals_matched(distribution):
    """Every matched line of a day (instance, disks, tag line, transfer) ends up whole in some namespace."""
    lines = pd.concat([INSTANCE, DISK_LINES, TAG_LINE,
                       temp([{"row_uuid": "n1", "resource_id": "i-1", "data_transfer_direction": "IN",
                              "cost": 0.7}])], ignore_index=True)
    node = pd.concat([NODE, DISKS, TAGGED], ignore_index=True)
    totals = {"vol-1": (20.0, 1), "vol-2": (50.0, 1), "vol-3": (12.0, 1)}
    parts = [attr.storage_rows(lines, node, CAPACITY, totals, AWS_PROFILE),
             attr.direct_rows(lines, node, set(CAPACITY), AWS_PROFILE), attr.tag_rows(lines, node, AWS_PROFILE)]
    final = pd.concat([_final(pd.concat(parts, ignore_index=True), distribution,
                              counts=attr.tag_cluster_counts(lines, node)),
                       attr.network_rows(lines, node, 0.1, ALIASES, AWS_PROFILE)], ignore_index=True)
    for col in ("unblended_cost", "calculated_amortized_cost"):
        assert math.isclose(np.nansum(final[col]), lines[col].sum())
    assert math.isclose(np.nansum(final["markup_cost"]), 0.1 * lines["unblended_cost"].sum())


# --- the same lines read twice (the same rows in two files; docs/reliability.md §5) ------------------------------

def _twice(lines):
    """Every line read twice, as when its Parquet file is in the partition under two names; then what day_rows
    does with the day's matched lines before step 2."""
    return attr.collapse_copies(pd.concat([lines, lines], ignore_index=True))


def test_collapse_copies_keeps_one_row_per_row_uuid_with_its_number_of_copies():
    lines = pd.concat([INSTANCE, DISK_LINES], ignore_index=True)
    once = attr.collapse_copies(lines)
    assert once is lines and attr.LINE_COPIES not in once.columns  # nothing read twice: untouched
    twice = _twice(lines)
    assert twice["row_uuid"].tolist() == ["r1", "v1", "v2", "v3"] and twice[attr.LINE_COPIES].tolist() == [2] * 4
    three = attr.collapse_copies(pd.concat([INSTANCE] * 3 + [DISK_LINES], ignore_index=True))
    assert dict(zip(three["row_uuid"], three[attr.LINE_COPIES], strict=True)) == {"r1": 3, "v1": 1, "v2": 1, "v3": 1}
    # lines without a row_uuid are not one line: kept as read
    no_uuid = temp([{"resource_id": "i-1"}, {"resource_id": "i-1"}, {"row_uuid": "x", "resource_id": "i-1"}])
    assert len(attr.collapse_copies(no_uuid)) == 3


def test_an_instance_read_twice_doubles_its_pod_shares_as_kokus_usage_sum_does():
    """Koku's direct insert groups by row_uuid with max(cost) but sum(ocp.pod_effective_usage_*) over the join of
    every copy: the effective usage (not the capacity, a max) counts twice, so each Pod share doubles."""
    final = _final(attr.direct_rows(_twice(INSTANCE), NODE, set(), AWS_PROFILE))
    # 2.4 x (2 x 6)/24, (2 x 2)/24, (2 x 10)/24, (2 x 6)/24; read once: 0.6, 0.2, 1.0, 0.6
    assert _by_ns(final) == {("a", '{"app":"a"}'): 1.2, ("a", '{"app":"a2"}'): 0.4, ("b", '{"app":"b"}'): 2.0,
                             ("Worker unallocated", None): 1.2, ("b", None): None}
    assert final["usage_amount"].tolist() == [4.8] * 5  # max(usage) / the line's 5 rows: as read once
    assert len(final) == 5  # one row per (line, namespace, pod_labels), not one per copy


def test_data_transfer_read_twice_is_one_network_row_with_the_cost_once():
    """Koku's network insert groups by (row_uuid, node, direction) with max(cost): one row, the line's cost once
    (the rows were doubled before: the defect of issue 12 item 4)."""
    line = temp([{"row_uuid": "n1", "resource_id": "i-1", "data_transfer_direction": "OUT", "cost": 0.5,
                  "usage_amount": 3.0}])
    final = attr.network_rows(_twice(line), NODE, 0.1, ALIASES, AWS_PROFILE)
    assert len(final) == 1
    assert (final.iloc[0]["calculated_amortized_cost"], final.iloc[0]["usage_amount"]) == (0.5, 3.0)


def test_disks_and_tag_matched_lines_read_twice_give_the_rows_of_one_read():
    """Storage, unattributed storage and tag inserts group by row_uuid with max(): a copy changes nothing."""
    totals = {"vol-1": (20.0, 1), "vol-2": (50.0, 1), "vol-3": (12.0, 1)}
    storage = _final(attr.storage_rows(_twice(DISK_LINES), DISKS, CAPACITY, totals, AWS_PROFILE))
    got = {(r.resource_id, r.namespace): round(r.calculated_amortized_cost, 12) for r in storage.itertuples()}
    assert got == {("vol-1", "b"): 0.2, ("vol-1", "Storage unattributed"): 0.8,
                   ("vol-2", "Storage unattributed"): 2.0, ("vol-3", "c"): 6.0,
                   ("vol-3", "Storage unattributed"): -1.0}
    lines = _twice(TAG_LINE)
    final = _final(attr.tag_rows(lines, TAGGED, AWS_PROFILE), counts=attr.tag_cluster_counts(lines, TAGGED))
    assert final["calculated_amortized_cost"].tolist() == [1.5, 1.5]  # 3.0 / 2 rows, one cluster
    assert final["usage_amount"].tolist() == [3.0, 3.0]
