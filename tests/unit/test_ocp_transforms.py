"""Each rule of Koku's daily summary on a hand-made day, expected values computed by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from poc_tasks.ocp.labels import LabelParser, canonical, merge
from poc_tasks.ocp.pods import INFRASTRUCTURE_USAGE_COST, pod_rows
from poc_tasks.ocp.storage import storage_rows
from poc_tasks.ocp.summary import summarize_day
from poc_tasks.ocp.unallocated import node_roles, unallocated_rows
from tests.unit.ocp_fixtures import DAY, day_inputs

GIB = 2**30
PLATFORM = [("openshift-%", 1), ("kube-%", 1), ("Platform unallocated", 1), ("openshift", 1)]


def lab(**kv: str) -> str:
    return canonical(kv)


def test_labels_filtered_to_enabled_keys_plus_kubevirt_name():
    p = LabelParser(["app"])
    assert json.loads(p.filtered('{"app": "web", "secret": "x", "vm_kubevirt_io_name": "vm1"}')) == {
        "app": "web", "vm_kubevirt_io_name": "vm1"}
    assert p.filtered("") == "{}"
    assert p.filtered(None) == "{}"
    assert p.filtered('{"other": "1"}') == "{}"


def test_label_precedence_pod_over_namespace_over_node():
    assert json.loads(merge(lab(a="node", b="node"), lab(b="ns", c="ns"), lab(c="pod"))) == {
        "a": "node", "b": "ns", "c": "pod"}


def test_pod_row_sums_units_and_capacity():
    inputs = day_inputs(
        pod_rows=[
            {"namespace": "web", "node": "n1", "pod_labels": lab(app="a"), "resource_id": "i-1",
             "pod_usage_cpu_core_seconds": 7200.0, "pod_request_cpu_core_seconds": 3600.0,
             "pod_effective_usage_cpu_core_seconds": 7200.0, "pod_limit_cpu_core_seconds": 10800.0,
             "pod_usage_memory_byte_seconds": 3600.0 * GIB, "pod_request_memory_byte_seconds": 7200.0 * GIB,
             "pod_effective_usage_memory_byte_seconds": 7200.0 * GIB},
        ],
        capacity=[("n1", 4 * 24 * 3600.0, 8 * GIB * 24 * 3600.0), ("n2", 2 * 24 * 3600.0, 0.0)],
    )
    out = pod_rows(inputs, PLATFORM)
    assert len(out) == 1
    r = out.iloc[0]
    assert (r.pod_usage_cpu_core_hours, r.pod_request_cpu_core_hours, r.pod_limit_cpu_core_hours) == (2, 1, 3)
    assert (r.pod_usage_memory_gigabyte_hours, r.pod_effective_usage_memory_gigabyte_hours) == (1, 2)
    assert r.node_capacity_cpu_core_hours == 96 and r.node_capacity_memory_gigabyte_hours == 192
    assert r.node_capacity_cpu_cores == 4 and r.node_capacity_memory_gigabytes == 8
    assert r.cluster_capacity_cpu_core_hours == 144  # both nodes of the raw data: 96 + 48
    assert r.infrastructure_usage_cost == INFRASTRUCTURE_USAGE_COST
    assert pd.isna(r.cost_category_id)
    assert r.pod_labels == r.all_labels == lab(app="a")


def test_missing_raw_capacity_is_zero_as_in_the_postgres_port():
    inputs = day_inputs(pod_rows=[{"namespace": "web", "node": "n9", "pod_usage_cpu_core_seconds": 3600.0}])
    r = pod_rows(inputs, []).iloc[0]
    assert r.node_capacity_cpu_core_hours == 0 and r.cluster_capacity_cpu_core_hours == 0


def test_pods_with_equal_merged_labels_collapse_into_one_row():
    inputs = day_inputs(pod_rows=[
        {"namespace": "web", "node": "n1", "pod_labels": lab(app="a"), "resource_id": "i-1",
         "pod_usage_cpu_core_seconds": 3600.0},
        {"namespace": "web", "node": "n1", "pod_labels": lab(app="a"), "resource_id": "i-2",
         "pod_usage_cpu_core_seconds": 7200.0},
        {"namespace": "web", "node": "n1", "pod_labels": lab(app="b"), "resource_id": "i-1",
         "pod_usage_cpu_core_seconds": 3600.0},
    ])
    out = pod_rows(inputs, []).sort_values("pod_labels")
    assert list(out.pod_usage_cpu_core_hours) == [3, 1]
    assert list(out.resource_id) == ["i-2", "i-1"]  # max(resource_id)


def test_node_with_two_label_variants_fans_out_pod_rows():
    inputs = day_inputs(
        pod_rows=[{"namespace": "web", "node": "n1", "pod_labels": lab(app="a"), "resource_id": "i-1",
                   "pod_usage_cpu_core_seconds": 3600.0, "pod_request_cpu_core_seconds": 3600.0,
                   "pod_effective_usage_cpu_core_seconds": 3600.0}],
        node_labels=[("n1", lab(zone="a")), ("n1", lab(zone="b"))],
        capacity=[("n1", 10 * 3600.0, 0.0)],
    )
    out = pod_rows(inputs, [])
    assert sorted(json.loads(x)["zone"] for x in out.pod_labels) == ["a", "b"]
    assert list(out.pod_usage_cpu_core_hours) == [1, 1]  # each variant carries the full usage
    un = unallocated_rows(out, node_roles(pd.DataFrame(
        [("n1", "i-1", "worker")], columns=["node", "resource_id", "node_role"])), [])
    assert len(un) == 1 and un.iloc[0].pod_usage_cpu_core_hours == 10 - 2  # shrinks by both variants


def test_variant_collapsing_under_pod_label_sums_twice():
    # both node variants are overridden by the pod's own label: one group, the usage counted twice (Koku's join)
    inputs = day_inputs(
        pod_rows=[{"namespace": "web", "node": "n1", "pod_labels": lab(zone="pod"),
                   "pod_usage_cpu_core_seconds": 3600.0}],
        node_labels=[("n1", lab(zone="a")), ("n1", lab(zone="b"))],
    )
    out = pod_rows(inputs, [])
    assert len(out) == 1 and out.iloc[0].pod_usage_cpu_core_hours == 2


def test_cost_category_like_patterns_and_overlap_multiplies():
    inputs = day_inputs(pod_rows=[
        {"namespace": "openshift-etcd", "node": "n1", "pod_usage_cpu_core_seconds": 3600.0},
        {"namespace": "kube_system", "node": "n1", "pod_usage_cpu_core_seconds": 3600.0},  # '_' is not '-'
        {"namespace": "team-x", "node": "n1", "pod_usage_cpu_core_seconds": 3600.0},
    ])
    out = pod_rows(inputs, PLATFORM).set_index("namespace")
    assert out.loc["openshift-etcd", "cost_category_id"] == 1
    assert pd.isna(out.loc["kube_system", "cost_category_id"])
    overlapping = pod_rows(inputs, [*PLATFORM, ("team-%", 2), ("team-_", 3)]).set_index("namespace")
    assert overlapping.loc["team-x", "cost_category_id"] == 3  # max over matches
    assert overlapping.loc["team-x", "pod_usage_cpu_core_hours"] == 2  # two matching patterns: doubled


def test_unallocated_by_node_role():
    inputs = day_inputs(
        pod_rows=[{"namespace": "a", "node": n, "resource_id": f"i-{n}", "pod_usage_cpu_core_seconds": 3600.0,
                   "pod_request_cpu_core_seconds": 7200.0, "pod_effective_usage_cpu_core_seconds": 7200.0,
                   "pod_usage_memory_byte_seconds": 3600.0 * GIB}
                  for n in ("m", "i", "w", "x")],
        capacity=[(n, 24 * 3600.0, 24 * 3600.0 * GIB) for n in ("m", "i", "w", "x")],
    )
    pods = pod_rows(inputs, PLATFORM)
    roles = node_roles(pd.DataFrame([("m", "i-m", "master"), ("i", "i-i", "infra"), ("w", "i-w", "worker"),
                                     ("x", "i-other", "worker")], columns=["node", "resource_id", "node_role"]))
    un = unallocated_rows(pods, roles, PLATFORM).set_index("node")
    assert un.loc["m", "namespace"] == un.loc["i", "namespace"] == "Platform unallocated"
    assert un.loc["w", "namespace"] == "Worker unallocated"
    assert un.loc["x", "namespace"] is None  # role row has another resource_id: no match
    assert un.loc["m", "cost_category_id"] == 1 and pd.isna(un.loc["w", "cost_category_id"])
    w = un.loc["w"]
    assert (w.pod_usage_cpu_core_hours, w.pod_request_cpu_core_hours, w.pod_effective_usage_cpu_core_hours) == (
        23, 22, 22)
    assert w.pod_usage_memory_gigabyte_hours == 23
    assert w.all_labels == "{}" and w.data_source == "Pod"


def test_unallocated_can_be_negative():
    inputs = day_inputs(pod_rows=[{"namespace": "a", "node": "n", "pod_usage_cpu_core_seconds": 10 * 3600.0}],
                        capacity=[("n", 3600.0, 0.0)])
    un = unallocated_rows(pod_rows(inputs, []), node_roles(pd.DataFrame()), [])
    assert un.iloc[0].pod_usage_cpu_core_hours == -9


STORAGE_ROW = dict(storageclass="gp3", csi_volume_handle="vol-1", persistentvolume_labels="{}",
                   persistentvolumeclaim_labels="{}", persistentvolumeclaim_capacity_bytes=10 * GIB,
                   persistentvolumeclaim_capacity_byte_seconds=10 * GIB * 86400.0,
                   volume_request_storage_byte_seconds=4 * GIB * 86400.0,
                   persistentvolumeclaim_usage_byte_seconds=2 * GIB * 86400.0)


def srow(ns, pod, pvc, pv, **kw):
    r = {**STORAGE_ROW, **kw}
    return (ns, pod, pvc, pv, r["storageclass"], r["csi_volume_handle"], r["persistentvolume_labels"],
            r["persistentvolumeclaim_labels"], r["persistentvolumeclaim_capacity_bytes"],
            r["persistentvolumeclaim_capacity_byte_seconds"], r["volume_request_storage_byte_seconds"],
            r["persistentvolumeclaim_usage_byte_seconds"])


def test_storage_units_and_volume_on_one_node():
    inputs = day_inputs(storage=[srow("db", "p1", "c1", "v1")], pod_nodes=[("db", "p1", "n1", "i-1")])
    r = storage_rows(inputs, []).iloc[0]
    assert (r.node, r.resource_id) == ("n1", "i-1")
    assert r.persistentvolumeclaim_capacity_gigabyte == 10
    assert r.persistentvolumeclaim_capacity_gigabyte_months == pytest.approx(10 / 31, rel=1e-15)
    assert r.volume_request_storage_gigabyte_months == pytest.approx(4 / 31, rel=1e-15)
    assert r.persistentvolumeclaim_usage_gigabyte_months == pytest.approx(2 / 31, rel=1e-15)


def test_shared_volume_divides_request_and_usage_by_node_count_not_capacity():
    # one PVC mounted by two pods on two nodes: two rows, request/usage halved, capacity summed per pod
    inputs = day_inputs(storage=[srow("db", "p1", "c1", "v1"), srow("db", "p2", "c1", "v1")],
                        pod_nodes=[("db", "p1", "n1", "i-1"), ("db", "p2", "n2", "i-2")])
    out = storage_rows(inputs, []).set_index("node")
    assert set(out.index) == {"n1", "n2"}
    for n in ("n1", "n2"):
        assert out.loc[n, "volume_request_storage_gigabyte_months"] == pytest.approx(2 / 31, rel=1e-15)
        assert out.loc[n, "persistentvolumeclaim_capacity_gigabyte_months"] == pytest.approx(10 / 31, rel=1e-15)


def test_volume_whose_pod_has_no_usage_row_gets_null_node_and_divisor_one():
    inputs = day_inputs(storage=[srow("db", "gone", "c1", "v1")])
    r = storage_rows(inputs, []).iloc[0]
    assert r.node is None or pd.isna(r.node)
    assert r.volume_request_storage_gigabyte_months == pytest.approx(4 / 31, rel=1e-15)


def test_pending_pod_volume_keeps_empty_node():
    inputs = day_inputs(storage=[srow("db", "p1", "c1", "v1")], pod_nodes=[("db", "p1", "", "")])
    assert storage_rows(inputs, []).iloc[0].node == ""


def test_volume_label_precedence_pvc_over_pv_over_namespace_over_node():
    inputs = day_inputs(
        storage=[srow("db", "p1", "c1", "v1", persistentvolume_labels=lab(a="pv", b="pv"),
                      persistentvolumeclaim_labels=lab(b="pvc"))],
        pod_nodes=[("db", "p1", "n1", "i-1")],
        node_labels=[("n1", lab(a="node", n="node"))],
        namespace_labels=[("db", lab(a="ns", s="ns"))],
    )
    r = storage_rows(inputs, []).iloc[0]
    assert json.loads(r.volume_labels) == {"a": "pv", "b": "pvc", "n": "node", "s": "ns"}
    assert r.all_labels == r.volume_labels


def test_summarize_day_has_pod_storage_and_unallocated_rows():
    inputs = day_inputs(
        pod_rows=[{"namespace": "db", "node": "n1", "resource_id": "i-1", "pod_usage_cpu_core_seconds": 3600.0}],
        pod_nodes=[("db", "p1", "n1", "i-1")],
        storage=[srow("db", "p1", "c1", "v1")],
        capacity=[("n1", 4 * 3600.0, 0.0)],
    )
    roles = node_roles(pd.DataFrame([("n1", "i-1", "worker")], columns=["node", "resource_id", "node_role"]))
    out = summarize_day(inputs, PLATFORM, roles)
    assert sorted(zip(out.data_source, out.namespace, strict=True)) == [
        ("Pod", "Worker unallocated"), ("Pod", "db"), ("Storage", "db")]
    assert (out.usage_start == DAY).all() and (out.usage_end == DAY).all()
