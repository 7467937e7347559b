"""Koku's OCP-on-GCP rules (spec ocp-on-cloud.md §4.1-4.3 "GCP", §8), on small frames with hand-computed answers."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.cloud import attribution as attr
from poc_tasks.cloud import gcp
from poc_tasks.cloud.matching import ContainsMatcher
from poc_tasks.cloud.project import project_tag_keys
from poc_tasks.io.fs import filesystem
from poc_tasks.io.parquet import ParquetSource

NAN = float("nan")
INSTANCE = "//compute.googleapis.com/projects/p/zones/z/instances/worker-1"
DISK = "//compute.googleapis.com/projects/p/zones/z/disk/vol-1"


def test_invoice_partitions_are_the_month_and_its_neighbours():
    assert gcp.invoice_partitions(dt.date(2026, 1, 15)) == [("2025", "12"), ("2026", "01"), ("2026", "02")]
    assert gcp.invoice_partitions(dt.date(2025, 12, 1)) == [("2025", "11"), ("2025", "12"), ("2026", "01")]


def test_matchable_names_by_node_pv_or_csi_substring():
    nodes = ContainsMatcher(["worker-1", "pvc-abc"])
    csi = ContainsMatcher(["vol-1"])
    pairs = [("worker-10", None), ("gke-worker-1-x", None), ("vol-1", DISK), ("disk-z", DISK),
             ("pvc-abc", "//x/disks/pvc-abc"), ("bucket", "//storage/bucket"), (None, DISK)]
    # 'worker-1' is inside 'worker-10' (Koku's substring quirk); a CSI handle in the global name is enough; a NULL
    # name never joins
    assert gcp.matched_names(pairs, nodes, csi) == {"worker-10", "gke-worker-1-x", "vol-1", "disk-z", "pvc-abc"}


def _line(**kw):
    base = {"usage_start_time": pd.Timestamp("2026-01-05", tz="UTC"), "row_uuid": "u", "invoice_month": "202601",
            "billing_account_id": "acct", "project_id": "proj", "project_name": "Proj", "service_id": "svc",
            "service_description": "Compute Engine", "sku_id": "sku", "sku_description": "N2 Instance Core",
            "system_labels": json.dumps({"compute.googleapis.com/machine_spec": "n2-standard-8"}), "labels": "{}",
            "location_region": "us-central1", "resource_name": "worker-1", "resource_global_name": INSTANCE,
            "usage_pricing_unit": "hour", "usage_amount_in_pricing_units": 24.0000000004, "currency": "USD",
            "cost": 2.4000000000004, "daily_credits": -0.24}
    base.update(kw)
    return base


def test_daily_temp_columns_direction_decimals_and_tag_match():
    lines = [_line(row_uuid="vm"),
             _line(row_uuid="in", sku_description="Network Inter Zone Data Transfer In"),
             _line(row_uuid="out", sku_description="Network Internet Data Transfer Out", sku_id=""),
             _line(row_uuid="sql", resource_name="db", service_description="Cloud SQL",
                   sku_description="Data transfer", labels=json.dumps({"app": "api", "x": "y"})),
             _line(row_uuid="none", resource_name="bq", labels=json.dumps({"app": "other"}))]
    temp = gcp.daily_temp(pa.Table.from_pylist(lines), {"worker-1"}, ['"app": "api"'], ["app"]).set_index("row_uuid")
    assert sorted(temp.index) == ["in", "out", "sql", "vm"]
    vm = temp.loc["vm"]
    assert vm["usage_amount"] == 24.0 and vm["unblended_cost"] == 2.4  # cast to decimal(24,9)
    assert vm["credit_amount"] == -0.24 and vm["instance_type"] == "n2-standard-8"
    assert vm["usage_start"] == dt.date(2026, 1, 5) and vm["account_id"] == "acct"
    assert vm["data_transfer_direction"] is None
    assert temp.loc["in", "data_transfer_direction"] == "IN" and temp.loc["out", "data_transfer_direction"] == "OUT"
    assert temp.loc["out", "sku_id"] is None  # nullif(sku_id, '')
    sql = temp.loc["sql"]  # not Compute Engine, not resource-matched: no direction; matched by label
    assert sql["data_transfer_direction"] is None and sql["matched_tag"] == '"app": "api"'
    assert sql["tags"] == '{"app":"api"}'


def test_disk_candidates_and_size_from_the_usage_months_raw_partition(tmp_path):
    rows = pd.DataFrame({
        "resource_name": ["vol-1", "vol-1", "pvc-9", "vol-2", "vol-3"],
        "resource_global_name": [DISK, DISK, "//x/disks/pvc-9", DISK.replace("vol-1", "vol-2"),
                                 DISK.replace("vol-1", "vol-3")],
        "service_description": ["Compute Engine"] * 5,
        "sku_description": ["Balanced PD Capacity", "Balanced PD Capacity", "Balanced PD Capacity",
                            "Snapshot Storage", "SSD backed PD Capacity"],
        "usage": [1.0, 1.0, 1.0, 1.0, 0.0],
    })
    # '/disks/' (plural) is not sized, a snapshot SKU has no ' pd ', zero usage is not sized
    assert gcp.capacity_candidates(rows, ["vol-1", "pvc-9", "vol-2", "vol-3"]) == {DISK}
    assert gcp.capacity_candidates(rows, ["vol-7"]) == set()  # no CSI handle of the day in the names
    raw = pa.table({"usage_start_time": pa.array([dt.datetime(2026, 1, 5, h) for h in range(3)],
                                                 pa.timestamp("ms")),
                    "resource_global_name": [DISK, DISK, "other"],
                    "resource_name": ["vol-1"] * 3,
                    "usage_amount": [40 * 2**30 * 3600.0, 39.6 * 2**30 * 3600.0, 999 * 2**30 * 3600.0]})
    pq.write_table(raw, tmp_path / "raw.parquet")
    source = ParquetSource(filesystem(str(tmp_path)), [str(tmp_path / "raw.parquet")], gcp.RAW_COLUMNS,
                           "gcp_line_items", time_column=gcp.TIME)
    # byte-seconds of an hour -> GiB: max over the partition
    assert gcp.disk_capacities(source, {DISK}) == {DISK: 40}


def temp(rows):
    out = []
    for r in rows:
        base = {"row_uuid": None, "usage_start": dt.date(2026, 1, 5), "resource_id": None, "resource_name": None,
                "resource_global_name": None, "account_id": "acct", "project_id": "proj", "project_name": "Proj",
                "instance_type": None, "service_id": "svc", "service_description": "Compute Engine",
                "service_alias": "Compute Engine", "sku_id": "sku", "sku_description": "sku", "sku_alias": "sku",
                "region": "us-central1", "unit": "hour", "currency": "USD", "invoice_month": "202601",
                "usage_amount": 24.0, "unblended_cost": 2.4, "credit_amount": -0.24, "data_transfer_direction": None,
                "tags": '{"team":"t"}', "resource_id_matched": True, "matched_tag": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def ocp(rows):
    out = []
    for r in rows:
        base = {"source": "s1", "report_period_id": 1, "cluster_id": "c-1", "cluster_alias": "C",
                "data_source": "Pod", "namespace": None, "node": "worker-1", "resource_id": "node-id-1",
                "pod_labels": None, "volume_labels": None, "persistentvolumeclaim": None, "persistentvolume": None,
                "storageclass": None, attr.PVC_CAPACITY: NAN, attr.EFF_CPU: NAN, attr.EFF_MEM: NAN,
                attr.CAP_CPU: 24.0, attr.CAP_MEM: 96.0, "cost_category_id": NAN, "csi_volume_handle": None}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


NODE = ocp([
    {"namespace": "a", "pod_labels": '{"app":"a"}', attr.EFF_CPU: 6.0},
    {"namespace": "b", "pod_labels": '{"app":"b"}', attr.EFF_CPU: 12.0},
    {"namespace": "Worker unallocated", attr.EFF_CPU: 6.0},
    {"namespace": "b", "data_source": "Storage", "persistentvolumeclaim": "data-b", "persistentvolume": "pvc-1",
     "csi_volume_handle": "vol-1", "volume_labels": '{"v":"1"}', attr.PVC_CAPACITY: 10.0, attr.CAP_CPU: NAN,
     attr.CAP_MEM: NAN},
])


def _sums(final, col="unblended_cost"):
    out: dict = {}
    for r in final.itertuples():
        out[(r.namespace, r.data_source)] = round(out.get((r.namespace, r.data_source), 0.0) + getattr(r, col), 12)
    return out


def test_instance_and_credits_split_by_cpu_usage_with_the_nodes_resource_id():
    line = temp([{"row_uuid": "vm", "resource_name": "gke-worker-1-abc"}])
    final = gcp.step2_rows(line, NODE, {}, {}, 1, "cpu", 0.1)
    assert _sums(final) == {("a", "Pod"): 0.6, ("b", "Pod"): 1.2, ("Worker unallocated", "Pod"): 0.6}
    assert _sums(final, "credit_amount") == {("a", "Pod"): -0.06, ("b", "Pod"): -0.12,
                                             ("Worker unallocated", "Pod"): -0.06}
    assert _sums(final, "markup_cost")[("b", "Pod")] == pytest.approx(0.12)  # markup on cost, not on credits
    assert set(final["resource_id"]) == {"node-id-1"}  # the OCP row's resource id, not the line's


def test_a_sized_disk_larger_than_the_claim_takes_fresh_rows_rest_divided_by_pv_count():
    line = temp([{"row_uuid": "d", "resource_name": "vol-1", "resource_global_name": DISK, "usage_amount": 1.0,
                  "unblended_cost": 0.4, "credit_amount": -0.04}])
    final = gcp.step2_rows(line, NODE, {DISK: 40}, {DISK: (10.0, 1)}, 1, "cpu", 0.0)
    # claim 10/40 x 0.4 = 0.1; rest (40 - 10)/40 x 0.4 / 1 PV = 0.3; credits alike
    assert _sums(final) == {("b", "Storage"): 0.1, ("Storage unattributed", "Storage"): 0.3}
    assert _sums(final, "credit_amount") == {("b", "Storage"): -0.01, ("Storage unattributed", "Storage"): -0.03}
    assert "d" not in set(final["row_uuid"])
    rest = final[final["namespace"] == "Storage unattributed"].iloc[0]
    assert rest["usage_amount"] == 0.0 and rest["volume_labels"] == '{"v":"1"}'


def test_a_disk_smaller_than_the_claim_keeps_the_line_and_its_full_cost():
    line = temp([{"row_uuid": "d", "resource_name": "vol-1", "resource_global_name": DISK, "unblended_cost": 0.4}])
    final = gcp.step2_rows(line, NODE, {DISK: 5}, {DISK: (10.0, 1)}, 1, "cpu", 0.0)
    # full cost on the claim (row_uuid kept), the rest is 0 (the PVs claim more than the disk)
    assert _sums(final) == {("b", "Storage"): 0.4, ("Storage unattributed", "Storage"): 0.0}
    assert "d" in set(final["row_uuid"])


def test_unattributed_rest_divided_by_the_pv_count():
    node = pd.concat([NODE, ocp([{"namespace": "c", "data_source": "Storage", "persistentvolumeclaim": "data-c",
                                  "persistentvolume": "pvc-2", "csi_volume_handle": "vol-1",
                                  attr.PVC_CAPACITY: 10.0}])], ignore_index=True)
    line = temp([{"row_uuid": "d", "resource_name": "vol-1", "resource_global_name": DISK, "unblended_cost": 0.4}])
    final = gcp.step2_rows(line, node, {DISK: 40}, {DISK: (20.0, 2)}, 1, "cpu", 0.0)
    # each claim 10/40 x 0.4; one rest row per namespace group, each (40 - 20)/40 x 0.4 / 2 PVs
    assert _sums(final) == {("b", "Storage"): 0.1, ("c", "Storage"): 0.1, ("Storage unattributed", "Storage"): 0.2}
    assert (final["namespace"] == "Storage unattributed").sum() == 2


def test_a_sized_disk_whose_name_holds_its_pv_name_is_also_matched_directly():
    node = NODE.assign(csi_volume_handle=NODE["csi_volume_handle"].replace({"vol-1": "vol-9"}))
    line = temp([{"row_uuid": "d", "resource_name": "pvc-1", "resource_global_name": DISK.replace("vol-1", "vol-9"),
                  "unblended_cost": 0.4}])
    final = gcp.step2_rows(line, node, {DISK.replace("vol-1", "vol-9"): 10}, {DISK.replace("vol-1", "vol-9"):
                                                                                (10.0, 1)}, 1, "cpu", 0.0)
    # sized: claim 10/10 x 0.4 (fresh row) and a zero rest; direct: the PV's Storage row takes the line's 0.4 too
    assert _sums(final) == {("b", "Storage"): 0.8, ("Storage unattributed", "Storage"): 0.0}


def test_tag_matched_lines_are_not_divided_across_clusters_and_stay_in_the_report_period():
    line = temp([{"row_uuid": "t", "resource_id_matched": False, "matched_tag": '"app": "a"',
                  "tags": '{"app":"a"}'}])
    other_period = ocp([{"namespace": "z", "pod_labels": '{"app":"a"}', "report_period_id": 2}])
    final = gcp.step2_rows(line, pd.concat([NODE, other_period], ignore_index=True), {}, {}, 1, "cpu", 0.0)
    assert _sums(final) == {("a", "Pod"): 2.4}
    assert final.iloc[0]["resource_id"] == "node-id-1"  # max of the joined OCP rows'


def test_network_line_whole_per_node_and_gibibytes_in_gigabytes():
    line = temp([{"row_uuid": "n", "resource_name": "worker-1", "data_transfer_direction": "IN",
                  "unit": "gibibyte", "usage_amount": 10.0, "unblended_cost": 0.3}])
    final = gcp.step2_rows(line, NODE, {}, {}, 1, "cpu", 0.1)
    assert _sums(final) == {("Network unattributed", "Pod"): 0.3}
    project = gcp.project_rows(final, project_tag_keys(["team"]))
    row = project.iloc[0]
    assert row["infrastructure_data_in_gigabytes"] == pytest.approx(10.7374)
    assert row["infrastructure_data_out_gigabytes"] == 0.0 and row["markup_cost"] == pytest.approx(0.03)
    assert row["data_transfer_direction"] == "IN" and row["resource_id"] == "node-id-1"


def test_ui_storage_filter_takes_pd_and_snapshot_skus_of_compute_engine():
    final = pd.DataFrame({"usage_start": ["2026-01-05"] * 3, "cluster_id": "c", "cluster_alias": "C",
                          "invoice_month": "202601", "account_id": "a", "service_id": "s", "currency": "USD",
                          "service_alias": ["Compute Engine", "Compute Engine", "Cloud Storage"],
                          "sku_alias": ["Balanced PD Capacity", "N2 Core", "Standard Storage"],
                          "unit": "x", "usage_amount": [1.0, 2.0, 4.0], "unblended_cost": [1.0, 2.0, 4.0],
                          "markup_cost": 0.0, "credit_amount": 0.0, "cost_category_id": NAN})
    from poc_tasks.cloud.outputs import ui_rows
    table = next(t for t in gcp.UI_TABLES if t.name.endswith("storage_summary_p"))
    rows = ui_rows(final, table)
    assert sorted(rows["unblended_cost"].tolist()) == [1.0, 4.0]


def test_day_parts_keep_together_the_lines_that_can_reach_a_common_node():
    """GCP rows take the OCP node's id: lines are split only where no node (NULL included) is reachable from two
    parts. worker-1's pods join worker-10's instance too (substring), a tag joins pods of worker-2 and worker-3, a
    disk reaches its PV's node through the CSI handle, a line that joins nothing stands alone."""
    nodes = ocp([{"namespace": n, "node": node, "resource_id": f"id-{node}", "pod_labels": f'{{"app":"{n}"}}'}
                 for n, node in (("a", "worker-1"), ("a", "worker-10"), ("b", "worker-2"), ("c", "worker-3"),
                                 ("d", "worker-4"))]
                + [{"namespace": "d", "node": "worker-4", "resource_id": "id-worker-4", "data_source": "Storage",
                    "persistentvolume": "pv-9", "csi_volume_handle": "vol-9"}])
    lines = temp([{"row_uuid": "w1", "resource_name": "gke-worker-1-x"},
                  {"row_uuid": "w10", "resource_name": "gke-worker-10-x"},
                  {"row_uuid": "w2", "resource_name": "gke-worker-2-x"},
                  {"row_uuid": "w3", "resource_name": "gke-worker-3-x"},
                  {"row_uuid": "tag", "resource_id_matched": False, "matched_tag": '"app": "b","app": "c"',
                   "tags": '{"app":"b"}'},
                  {"row_uuid": "disk", "resource_name": "disk-vol-9"},
                  {"row_uuid": "w4", "resource_name": "gke-worker-4-x"},
                  {"row_uuid": "lone", "resource_name": "bucket"}])
    ctx = type("Ctx", (), {"manifest": {"report_period_id": 1}})()
    key = gcp.node_groups(ctx, lines, nodes, {}).set_axis(lines["row_uuid"])
    groups = {frozenset(g.index) for _k, g in key.groupby(key)}
    assert groups == {frozenset({"w1", "w10"}), frozenset({"w2", "w3", "tag"}), frozenset({"disk", "w4"}),
                      frozenset({"lone"})}


def test_lines_read_twice_double_the_instance_pod_shares_only_as_kokus_sql_does():
    """The same rows in two files: Koku's step 2 groups by row_uuid with max() (one line), but its direct insert sums
    the pods' effective usage over every copy; the network line stays whole, once."""
    lines = temp([{"row_uuid": "vm", "resource_name": "gke-worker-1-abc"},
                  {"row_uuid": "n", "resource_name": "worker-1", "data_transfer_direction": "IN",
                   "usage_amount": 10.0, "unblended_cost": 0.3}])
    twice = attr.collapse_copies(pd.concat([lines, lines], ignore_index=True))
    final = gcp.step2_rows(twice, NODE, {}, {}, 1, "cpu", 0.0)
    # 2.4 x (2 x 6)/24, (2 x 12)/24, (2 x 6)/24 (once: 0.6, 1.2, 0.6); credits alike; transfer 0.3 once
    assert _sums(final) == {("a", "Pod"): 1.2, ("b", "Pod"): 2.4, ("Worker unallocated", "Pod"): 1.2,
                            ("Network unattributed", "Pod"): 0.3}
    assert _sums(final, "credit_amount")[("b", "Pod")] == -0.24
    assert len(final) == 4


def test_a_tag_line_reaches_only_the_largest_node_of_each_namespace_it_joins():
    """A tag-matched line's rows carry, per (namespace, data_source), the largest node of the pods it joins
    (attr.tag_rows): namespace "e" runs on worker-2 and worker-3, so the tag line's row carries worker-3 and can
    share a group with worker-3's line only; worker-2's line may go to another part."""
    nodes = ocp([{"namespace": "e", "node": node, "resource_id": f"id-{node}", "pod_labels": '{"app":"e"}'}
                 for node in ("worker-2", "worker-3")])
    lines = temp([{"row_uuid": "w2", "resource_name": "gke-worker-2-x"},
                  {"row_uuid": "w3", "resource_name": "gke-worker-3-x"},
                  {"row_uuid": "tag", "resource_id_matched": False, "matched_tag": '"app": "e"',
                   "tags": '{"app":"e"}'}])
    ctx = type("Ctx", (), {"manifest": {"report_period_id": 1}})()
    key = gcp.node_groups(ctx, lines, nodes, {}).set_axis(lines["row_uuid"])
    assert {frozenset(g.index) for _k, g in key.groupby(key)} == {frozenset({"w2"}), frozenset({"w3", "tag"})}
    rows = attr.tag_rows(gcp._step2_view(lines), nodes, gcp.PROFILE)
    assert rows["node"].tolist() == ["worker-3"]  # what the part key assumes


def test_lines_of_other_skus_on_one_node_go_to_separate_parts():
    """Rows of lines that differ in SKU (or service, account, project) never share a project group, so two such
    lines on one node need not share a part; lines with the same SKU there do."""
    nodes = ocp([{"namespace": "a", "node": "worker-1", "resource_id": "id-1"}])
    lines = temp([{"row_uuid": "cpu", "resource_name": "gke-worker-1-x", "sku_id": "core"},
                  {"row_uuid": "ram", "resource_name": "gke-worker-1-x", "sku_id": "ram"},
                  {"row_uuid": "ram2", "resource_name": "gke-worker-1-y", "sku_id": "ram"}])
    ctx = type("Ctx", (), {"manifest": {"report_period_id": 1}})()
    key = gcp.node_groups(ctx, lines, nodes, {}).set_axis(lines["row_uuid"])
    assert {frozenset(g.index) for _k, g in key.groupby(key)} == {frozenset({"cpu"}), frozenset({"ram", "ram2"})}


def _merged_line_pairs(lines, o, hay_cols, needle_col, mask):
    """The pairs as two pandas merges per haystack column give them (the implementation _line_pairs replaced):
    its order is the reference, since the order reaches float sums downstream."""
    from poc_tasks.cloud.matching import contained_pairs

    needles = pd.DataFrame({"needle": o[needle_col].to_numpy(dtype=object)[mask], "pos": np.flatnonzero(mask)})
    parts = []
    for col in hay_cols:
        hays = sorted({h for h in lines[col] if h is not None})
        n = needles.dropna(subset=["needle"])
        empty = n["needle"] == ""
        ps = []
        if empty.any() and hays:
            ps.append(pd.DataFrame({"haystack": np.repeat(hays, int(empty.sum())),
                                    "pos": np.tile(n.loc[empty, "pos"].to_numpy(), len(hays))}))
        cp = contained_pairs(hays, n.loc[~empty, "needle"].unique())
        if not cp.empty:
            ps.append(cp.merge(n, on="needle")[["haystack", "pos"]])
        if not ps:
            continue
        p = pd.concat(ps, ignore_index=True).drop_duplicates()
        idx = pd.DataFrame({"haystack": lines[col].to_numpy(dtype=object), "line": np.arange(len(lines))})
        parts.append(idx.dropna(subset=["haystack"]).merge(p, on="haystack")[["line", "pos"]])
    if not parts:
        return pd.DataFrame({"line": pd.Series(dtype=np.int64), "pos": pd.Series(dtype=np.int64)})
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)


@pytest.mark.parametrize("seed", range(6))
def test_line_pairs_come_as_the_merges_gave_them_in_the_same_order(seed):
    # haystacks that hold several needles, repeated lines, NULL and empty haystacks, NULL, empty and repeated
    # needles, two haystack columns that find the same pair: the same (line, pos) rows in the same order
    rng = np.random.default_rng(seed)
    words = np.array(["node-a", "node-b", "pv-1", "pv-12", "", None, "x"], dtype=object)
    hay = np.array(["node-a-pv-1", "node-b/pv-12", "pv-1", "", None, "zzz", "node-a"], dtype=object)
    lines = pd.DataFrame({"g": rng.choice(hay, 40), "r": rng.choice(hay, 40)})
    o = pd.DataFrame({"needle": rng.choice(words, 30)})
    mask = rng.random(30) < 0.8
    for cols in (["r"], ["g", "r"]):
        expected = _merged_line_pairs(lines, o, cols, "needle", mask)
        got = gcp._line_pairs(lines, o, cols, "needle", mask)
        assert len(expected) > 10
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)
    none = gcp._line_pairs(lines, o, ["g"], "needle", np.zeros(30, dtype=bool))
    assert none.empty and list(none.columns) == ["line", "pos"]
