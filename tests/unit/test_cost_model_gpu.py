"""GPU monthly tag cost (monthly_cost_gpu.sql) on hand-computed fixtures."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from poc_tasks.cost_model.gpu import float8_text, gpu_pod_rows, gpu_unallocated_rows, rate_per_day
from poc_tasks.cost_model.rates import TagRateParams
from poc_tasks.errors import InvalidArgument

DAY = dt.date(2026, 4, 2)
SRC = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"
CATS = [("openshift-%", 1), ("ml-%", 2), ("ml-train", 3)]  # ml-train matches two patterns


def _gpu(rows: list[dict]) -> pd.DataFrame:
    base = {"usage_start": DAY, "interval_start": pd.Timestamp(DAY), "pod": "p", "gpu_memory_capacity_mib": 40960.0,
            "mig_instance_id": None, "mig_profile": None, "mig_strategy": None, "mig_slice_count": None,
            "mig_memory_capacity_mib": None, "gpu_max_slices": None}
    return pd.DataFrame([{**base, **r} for r in rows])


GPU = _gpu([
    # A100 dedicated, half a day: 300 / 30 * 0.5 = 5
    {"node": "n1", "namespace": "ml-infer", "gpu_uuid": "GPU-1", "gpu_model_name": "A100", "gpu_vendor_name": "nvidia",
     "gpu_pod_uptime": 43200.0},
    # A100 MIG 3g of 7 slices, a whole day: 10 * 3/7
    {"node": "n1", "namespace": "ml-train", "gpu_uuid": "GPU-2", "gpu_model_name": "A100", "gpu_vendor_name": "nvidia",
     "gpu_pod_uptime": 86400.0, "mig_profile": "3g.20gb", "mig_slice_count": 3, "gpu_max_slices": 7,
     "mig_instance_id": "mig-1", "mig_strategy": "mixed", "mig_memory_capacity_mib": 20480.0},
    # T4, no model rate: the default 60 / 30 = 2
    {"node": "n2", "namespace": "team-a", "gpu_uuid": "GPU-3", "gpu_model_name": "T4", "gpu_vendor_name": "nvidia",
     "gpu_pod_uptime": 86400.0},
    # another vendor: not this tag key
    {"node": "n2", "namespace": "team-a", "gpu_uuid": "GPU-4", "gpu_model_name": "MI300", "gpu_vendor_name": "amd",
     "gpu_pod_uptime": 86400.0},
])
PARAMS = TagRateParams("Supplementary", "nvidia", {"A100": 300.0}, 60.0)


def _labels(**kv: str) -> str:
    return json.dumps({"nvidia_com_gpu_present": "True", **kv})


def test_rate_per_day_is_decimal_division():
    assert rate_per_day(300.0, 30) == 10.0
    assert rate_per_day(100.0, 31) == pytest.approx(3.225806451612903, rel=1e-15)
    assert rate_per_day(0.0000000004, 1) == 0.0  # decimal(24,9) rounds below 1e-9 away


def test_float8_text_matches_postgres():
    assert float8_text(40960.0) == "40960"
    assert float8_text(0.5) == "0.5"
    assert float8_text(None) is None


def test_pod_rows_hand_computed():
    out = gpu_pod_rows(GPU, PARAMS, 30, "c1", "alias", SRC, CATS)
    by_gpu = out.groupby("resource_id")["cost_model_gpu_cost"].apply(list).to_dict()
    assert by_gpu["GPU-1"] == [pytest.approx(5.0, rel=1e-15)]
    assert by_gpu["GPU-2"] == [pytest.approx(10 * 3 / 7, rel=1e-15)] * 2  # two category patterns match ml-train
    assert by_gpu["GPU-3"] == [pytest.approx(2.0, rel=1e-15)]
    assert "GPU-4" not in by_gpu
    assert sorted(out.loc[out["resource_id"] == "GPU-2", "cost_category_id"].tolist()) == [2, 3]
    assert out.loc[out["resource_id"] == "GPU-3", "cost_category_id"].isna().all()
    assert set(out["data_source"]) == {"GPU"} and set(out["monthly_cost_type"]) == {"Tag"}
    assert set(out["cost_model_rate_type"]) == {"Supplementary"}
    mig = json.loads(out.loc[out["resource_id"] == "GPU-2", "all_labels"].iloc[0])
    assert mig == {"gpu-model": "A100", "gpu-vendor": "nvidia", "gpu-memory-mib": "40960", "mig-profile": "3g.20gb",
                   "mig-slice-count": "3", "gpu-max-slices": "7", "mig-strategy": "mixed", "mig-memory-mib": "20480",
                   "gpu-mode": "MIG", "gpu-uuid": "GPU-2", "mig-instance-id": "mig-1"}
    dedicated = json.loads(out.loc[out["resource_id"] == "GPU-1", "all_labels"].iloc[0])
    assert dedicated["gpu-mode"] == "dedicated" and dedicated["mig-slice-count"] is None


def test_pod_rows_model_rates_without_default_cost_zero():
    out = gpu_pod_rows(GPU, TagRateParams("Infrastructure", "nvidia", {"A100": 300.0}, None), 30, "c", "a", SRC, [])
    assert out.loc[out["resource_id"] == "GPU-3", "cost_model_gpu_cost"].tolist() == [0.0]


def test_pod_rows_default_only():
    out = gpu_pod_rows(GPU, TagRateParams("Infrastructure", "amd", None, 31.0), 31, "c", "a", SRC, [])
    assert out["cost_model_gpu_cost"].tolist() == [pytest.approx(1.0, rel=1e-15)]


def test_unallocated_hand_computed():
    hours = pd.DataFrame([
        # n1: 2 A100 of 7 slices, 24 h, strategy absent: 24*2*7 - (12 + 72) = 252 slice-hours at 300/(30*24*7)
        ("n1", DAY, _labels(nvidia_com_gpu_count="2", nvidia_com_gpu_product="NVIDIA-A100"), 24),
        # n2: 2 T4, strategy single: 24*2 - 24 = 24 hours at the default 60/(30*24*1)
        ("n2", DAY, _labels(nvidia_com_gpu_count="2", nvidia_com_mig_strategy=" Single "), 24),
        # n3: no usage, strategy absent: max_slices NULL -> no row
        ("n3", DAY, _labels(nvidia_com_gpu_count="1"), 24),
        # n4: no usage, strategy single: a row with the label's model, cleaned, and a NULL cost
        ("n4", DAY, _labels(nvidia_com_gpu_count="1", nvidia_com_mig_strategy="single",
                            nvidia_com_gpu_product="Tesla-V100/PCIE"), 10),
        # n5: strategy none of mixed/single: unused 0 -> no row
        ("n5", DAY, _labels(nvidia_com_gpu_count="4", nvidia_com_mig_strategy="other"), 24),
    ], columns=["node", "usage_start", "node_labels", "hours"])
    out = gpu_unallocated_rows(GPU, hours, PARAMS, 30, "c1", "alias", SRC).set_index("node")
    assert sorted(out.index) == ["n1", "n2", "n4"]
    assert out.loc["n1", "cost_model_gpu_cost"] == pytest.approx(15.0, rel=1e-15)
    assert json.loads(out.loc["n1", "all_labels"]) == {"gpu-model": "A100", "max-slices-per-gpu": "7"}
    assert out.loc["n2", "cost_model_gpu_cost"] == pytest.approx(2.0, rel=1e-15)
    assert np.isnan(out.loc["n4", "cost_model_gpu_cost"])
    assert json.loads(out.loc["n4", "all_labels"]) == {"gpu-model": "Tesla V100 PCIE", "max-slices-per-gpu": None}
    assert set(out["namespace"]) == {"GPU unallocated"}


def test_unallocated_label_variants_give_one_row_each():
    hours = pd.DataFrame([
        ("n1", DAY, _labels(nvidia_com_gpu_count="2"), 20),
        ("n1", DAY, _labels(nvidia_com_gpu_count="2", extra="x"), 4),
    ], columns=["node", "usage_start", "node_labels", "hours"])
    out = gpu_unallocated_rows(GPU, hours, PARAMS, 30, "c1", "alias", SRC)
    # 20*2*7 - 84 = 196 and 4*2*7 - 84 < 0 (dropped)
    assert out["cost_model_gpu_cost"].tolist() == [pytest.approx(196 * 300 / 5040, rel=1e-15)]


def test_unallocated_bad_gpu_count_names_the_node():
    hours = pd.DataFrame([("n1", DAY, _labels(nvidia_com_gpu_count="two"), 24)],
                         columns=["node", "usage_start", "node_labels", "hours"])
    with pytest.raises(InvalidArgument, match="n1.*nvidia_com_gpu_count"):
        gpu_unallocated_rows(GPU, hours, PARAMS, 30, "c1", "alias", SRC)


def test_gpu_ui_usage_only_rows_group_hours_per_gpu_and_day():
    from poc_tasks.cost_model.gpu import gpu_ui_usage_only_rows

    raw = pd.concat([GPU.iloc[[0, 1]]] * 3, ignore_index=True)  # 3 hours of the two A100 rows
    out = gpu_ui_usage_only_rows(raw, "c1", "alias", SRC, CATS).set_index("gpu_uuid")
    assert sorted(out.index) == ["GPU-1", "GPU-2"]
    assert out.loc["GPU-1", "memory_capacity_gb"] == pytest.approx(40960 * 0.001048576)
    assert out.loc["GPU-1", "gpu_mode"] == "dedicated" and out.loc["GPU-2", "gpu_mode"] == "MIG"
    assert out.loc["GPU-2", "mig_memory_capacity_gb"] == pytest.approx(20480 * 0.001048576)
    assert out.loc["GPU-2", "cost_category_id"] == 3  # the greatest of the matching patterns' categories (2, 3)
    assert list(out["gpu_count"]) == [1, 1] and len(set(out["id"])) == 2


def test_helpers_read_gpu_presence_and_pod_time_range(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from poc_tasks.cost_model.helpers import max_min_timestamp, reporting_period_has_gpu_data
    from poc_tasks.io.layout import ocp_prefix

    root = str(tmp_path)
    pods = ocp_prefix(root, "org1", "pod_usage", SRC, "2026", "04", True)
    (tmp_path / pods.removeprefix(root + "/")).mkdir(parents=True)
    times = [dt.datetime(2026, 4, 2), dt.datetime(2026, 4, 5), dt.datetime(2026, 4, 9)]
    pq.write_table(pa.table({"interval_start": pa.array(times, pa.timestamp("ms"))}), f"{pods}/p_daily_0.parquet")
    assert max_min_timestamp(root, "org1", SRC, dt.date(2026, 4, 3), dt.date(2026, 4, 8)) == (
        dt.datetime(2026, 4, 5), dt.datetime(2026, 4, 5))
    # nothing in range: midnight of start and of end
    assert max_min_timestamp(root, "org1", SRC, dt.date(2026, 4, 10), dt.date(2026, 4, 12)) == (
        dt.datetime(2026, 4, 10), dt.datetime(2026, 4, 12))
    assert not reporting_period_has_gpu_data(root, "org1", SRC, dt.date(2026, 4, 1))
    gpus = ocp_prefix(root, "org1", "gpu_usage", SRC, "2026", "04", True)
    (tmp_path / gpus.removeprefix(root + "/")).mkdir(parents=True)
    pq.write_table(pa.table({"interval_start": pa.array(times[:1], pa.timestamp("ms"))}), f"{gpus}/g_daily_0.parquet")
    assert reporting_period_has_gpu_data(root, "org1", SRC, dt.date(2026, 4, 1))
    assert not reporting_period_has_gpu_data(root, "org1", SRC, dt.date(2026, 5, 1))


def test_gpu_distribution_shares_by_slice_hours_and_takes_the_cost_back():
    from poc_tasks.cost_model.gpu import gpu_distribution_rows

    unalloc = pd.DataFrame([
        (1, "c1", "alias", DAY, "n1", "GPU", "A100", 15.0),
        (1, "c1", "alias", DAY, "n2", "GPU", "Tesla T4", 2.0),  # cleaned model name: usage says "T4": no match
    ], columns=["report_period_id", "cluster_id", "cluster_alias", "usage_start", "node", "data_source", "gpu_model",
                "cost"])
    out = gpu_distribution_rows(unalloc, GPU, SRC).set_index("namespace")
    # n1 A100: ml-infer 43200 x 1 slice, ml-train 86400 x 3 slices -> shares 1/7 and 6/7 of 15
    assert out.loc["ml-infer", "distributed_cost"] == pytest.approx(15 / 7, rel=1e-15)
    assert out.loc["ml-train", "distributed_cost"] == pytest.approx(15 * 6 / 7, rel=1e-15)
    # the unallocated row whose node/model/day has usage is taken back; the T4 one is not (no usage of "Tesla T4")
    assert out.loc["GPU unallocated", "distributed_cost"] == -15.0
    assert out.loc["GPU unallocated", "node"] == "n1"
    assert "team-a" not in out.index
    assert set(out["cost_model_rate_type"]) == {"gpu_distributed"} and set(out["data_source"]) == {"GPU"}
    assert out["distributed_cost"].sum() == pytest.approx(0.0, abs=1e-12)  # cost moves, none is created
