"""The _rtu variants' row shape, label hash and GPU distribution, by hand-computed values."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pandas as pd
import pytest

from poc_tasks.cost_model import rtu
from poc_tasks.cost_model.gpu import gpu_unallocated_rows
from poc_tasks.cost_model.rates import TagRateParams
from poc_tasks.errors import InvalidArgument

D = dt.date(2026, 1, 2)
SRC = "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90"


def test_jsonb_text_orders_keys_by_length_then_bytes_and_spaces_like_postgresql() -> None:
    assert rtu.jsonb_text({"zz": "1", "b": "x", "aa": None, "a": True}) == \
        '{"a": true, "b": "x", "aa": null, "zz": "1"}'
    assert rtu.jsonb_text({"k": ['q"', "tab\t", "\x01"]}) == '{"k": ["q\\"", "tab\\t", "\\u0001"]}'
    assert rtu.jsonb_text({"é": "ü"}) == '{"é": "ü"}'  # not \\u-escaped, as PostgreSQL prints it
    assert rtu.jsonb_text({"n": Decimal("1.50")}) == '{"n": 1.50}'


def test_label_hash_is_sha256_of_the_three_jsonb_texts() -> None:
    text = '{"b": "1", "aa": "2"}'
    expected = hashlib.sha256(f'{text}||{text}'.encode()).hexdigest()
    assert rtu.label_hash('{"aa":"2","b":"1"}', None, '{"b": "1", "aa": "2"}') == expected
    # GPU rows: no pod or volume labels, only all_labels
    assert rtu.label_hash(None, None, '{"gpu-model": "A100"}') == \
        hashlib.sha256(b'||{"gpu-model": "A100"}').hexdigest()


def test_escape_decoding_of_backslashes() -> None:
    assert rtu.escape_bytes("a\\\\b") == b"a\\b"
    assert rtu.escape_bytes("\\101") == b"A"
    with pytest.raises(InvalidArgument, match="decode"):
        rtu.escape_bytes('{"k": "a\\"b"}')


def test_metric_type_routing() -> None:
    assert rtu.metric_type_for("gpu_cost_per_month") == "gpu"
    assert rtu.metric_type_for("vm_cost_per_hour") == "cpu"
    assert rtu.metric_type_for("vm_core_cost_per_month", "memory", "OCP_VM_CORE") == "memory"
    assert rtu.metric_type_for("vm_core_cost_per_month", "cpu", "OCP_VM_CORE") == "cpu"
    assert rtu.metric_type_for("vm_core_cost_per_month", "memory", "Tag") == "cpu"


def test_to_rtu_rows_moves_the_cost_and_drops_resource_id() -> None:
    rows = pd.DataFrame({"cluster_id": ["c"], "cluster_alias": ["a"], "data_source": ["Pod"], "usage_start": [D],
                         "usage_end": [D], "namespace": ["ns"], "node": ["n1"], "resource_id": ["i-1"],
                         "pod_labels": ['{"vm_kubevirt_io_name": "vm-1"}'],
                         "all_labels": ['{"vm_kubevirt_io_name": "vm-1"}'], "source_uuid": [SRC],
                         "cost_model_rate_type": ["Infrastructure"], "cost_model_cpu_cost": [1.25],
                         "monthly_cost_type": [None], "cost_category_id": [None]})
    out = rtu.to_rtu_rows(rows, "cost_model_cpu_cost", cost_model_id="cm", rate_id="r1", custom_name="vm hour",
                          metric_type="cpu")
    assert "resource_id" not in out.columns and "persistentvolumeclaim" not in out.columns
    row = out.iloc[0]
    assert (row["calculated_cost"], row["custom_name"], row["rate_id"], row["cost_model_id"]) == \
        (1.25, "vm hour", "r1", "cm")
    lab = '{"vm_kubevirt_io_name": "vm-1"}'
    assert row["label_hash"] == hashlib.sha256(f"{lab}||{lab}".encode()).hexdigest()
    with_volume = rtu.to_rtu_rows(rows, "cost_model_cpu_cost", cost_model_id="cm", rate_id=None, custom_name="x",
                                  metric_type="cpu", with_volume_columns=True)
    assert with_volume["persistentvolumeclaim"].isna().all() and with_volume["volume_labels"].isna().all()


def _unallocated(costs: list[Decimal | None], model: str = "A100", custom: str = "gpu") -> pd.DataFrame:
    return pd.DataFrame({"usage_start": [D] * len(costs), "cluster_id": "c", "cluster_alias": "a",
                         "report_period_id": 7, "node": "n1", "gpu_model": model, "custom_name": custom,
                         "metric_type": "gpu", "cost_model_rate_type": "Infrastructure", "calculated_cost": costs})


def _gpu(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["usage_start", "node", "namespace", "gpu_model_name", "gpu_pod_uptime",
                                       "mig_slice_count"])


def test_distribution_rows_share_by_slice_hours_and_take_the_total_back() -> None:
    # 12 = 10 + 2 of one (node, model, rate); a: 3600 s x 1 slice, b: 3600 s x 2 slices -> 1/3 and 2/3
    gpu = _gpu([(D, "n1", "a", "A100", 3600.0, None), (D, "n1", "b", "A100", 3600.0, 2)])
    out = rtu.distribution_rows(_unallocated([Decimal(10), Decimal(2)]), gpu, SRC, "cm")
    by_ns = {r.namespace: r for r in out.itertuples()}
    assert Decimal(by_ns["a"].distributed_cost) == Decimal("4.000000000000000")
    assert Decimal(by_ns["b"].distributed_cost) == Decimal("8.000000000000000")
    back = by_ns["GPU unallocated"]
    assert Decimal(back.distributed_cost) == Decimal("-12.000000000000000")
    assert (back.custom_name, back.metric_type) == ("", "")
    assert set(out["monthly_cost_type"]) == {"gpu_distributed"} == set(out["cost_model_rate_type"])
    assert (by_ns["a"].custom_name, by_ns["a"].metric_type, by_ns["a"].report_period_id) == ("gpu", "gpu", 7)


def test_distribution_rows_sum_a_namespace_over_models_and_drop_zero_and_unused() -> None:
    gpu = _gpu([(D, "n1", "a", "A100", 100.0, None), (D, "n1", "a", "T4", 100.0, None),
                (D, "n1", "z", "H100", 0.0, None)])
    unalloc = pd.concat([_unallocated([Decimal(3)]), _unallocated([Decimal(5)], model="T4"),
                         _unallocated([Decimal(9)], model="H100"), _unallocated([Decimal(1)], model="L4")])
    out = rtu.distribution_rows(unalloc, gpu, SRC, "cm")
    # a gets all of A100 and of T4 (3 + 5); H100's total usage is 0 (NULL share, no row); L4 has no usage
    assert sorted(out["namespace"]) == ["GPU unallocated", "a"]
    assert Decimal(out.set_index("namespace").at["a", "distributed_cost"]) == Decimal(8)
    assert Decimal(out.set_index("namespace").at["GPU unallocated", "distributed_cost"]) == Decimal(-8)


def test_rtu_unallocated_gpu_prices_an_unmatched_model_at_zero() -> None:
    params = TagRateParams("Infrastructure", "NVIDIA", {"A100": 720.0}, None)
    hours = pd.DataFrame({"node": ["n1"], "usage_start": [D],
                          "node_labels": ['{"nvidia_com_gpu_present": "True", "nvidia_com_gpu_count": "1",'
                                          ' "nvidia_com_mig_strategy": "single", "nvidia_com_gpu_product": "L4"}'],
                          "hours": [24]})
    gpu = pd.DataFrame({"gpu_vendor_name": ["NVIDIA"], "node": ["n1"], "gpu_model_name": ["L4"], "usage_start": [D],
                        "gpu_pod_uptime": [3600.0], "mig_slice_count": [None], "gpu_max_slices": [None]})
    summary = gpu_unallocated_rows(gpu, hours, params, 31, "c", "a", SRC)
    as_rtu = gpu_unallocated_rows(gpu, hours, params, 31, "c", "a", SRC, unmatched_zero=True)
    assert summary["cost_model_gpu_cost"].isna().all()  # the summary statement's CASE has no ELSE
    assert list(as_rtu["cost_model_gpu_cost"]) == [0.0]
