"""The shared OCP-on-cloud outputs (Trino functions, back-populate, rounding, tag parts, the fallback matched tags),
hand-computed."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa
import pytest

from poc_tasks.cloud.matching import fallback_matched_tags
from poc_tasks.cloud.outputs import CostTerm, back_populate_rows, round_to_column_scales
from poc_tasks.cloud.sqlfn import decimal_9, like, split_part, strpos_found
from poc_tasks.cloud.tag_summary import ChunkTags, TagTables
from poc_tasks.db.tables import get_table
from poc_tasks.db.tables_azure import OCPAZURE_PROJECT_TABLE

NAN = float("nan")
DAY = dt.date(2026, 1, 5)


def test_split_part_past_the_last_field_is_null():
    assert split_part("a/b/c", "/", 2) == "b"
    assert split_part("a/b/c", "/", 4) is None
    assert split_part("1 Hour", " ", 3) is None and split_part("1 Hour ", " ", 3) == ""
    assert split_part(None, " ", 1) is None


def test_like_and_strpos():
    assert like("P10 LRS Disk", "%P10 %") and not like("P10 LRS Disk", "%P1 %")
    assert like("node_osdisk", "%_osdisk") and not like("osdisk", "%_osdisk")  # '_' is one character
    assert not like(None, "%")
    assert strpos_found("abc", "") and not strpos_found(None, "") and not strpos_found("abc", None)


def test_decimal_9_rounds_the_shortest_text_half_up():
    assert decimal_9(2.4000000000004) == 2.4
    assert decimal_9(0.0000000015) == 0.000000002  # '1.5e-09' is a tie: half up
    assert decimal_9(-0.0000000015) == -0.000000002  # half away from zero
    assert math.isnan(decimal_9(None))


def _project(rows):
    base = {"usage_start": DAY, "cluster_id": "c", "cluster_alias": "C", "namespace": "a", "data_source": "Pod",
            "node": "n", "persistentvolumeclaim": None, "persistentvolume": None, "storageclass": None,
            "resource_id": "r", "enabled_tags": '{"app":"x"}', "data_transfer_direction": None, "currency": "USD",
            "infrastructure_data_in_gigabytes": 0.0, "infrastructure_data_out_gigabytes": 0.0,
            "cost_category_id": NAN}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_back_populate_sums_stored_values_and_drops_null_terms_only_from_the_raw_cost():
    project = _project([{"pretax_cost": 0.1000000004, "markup_cost": 0.01},
                        {"pretax_cost": 0.2, "markup_cost": NAN},
                        {"namespace": "b", "data_source": "Storage", "pretax_cost": 1.0, "markup_cost": 0.1,
                         "data_transfer_direction": "IN", "infrastructure_data_in_gigabytes": 3.0}])
    terms = (CostTerm("pretax_cost", 9), CostTerm("markup_cost", 9))
    out = back_populate_rows(project, 7, "ocp-uuid", terms, strict_raw=True, currency="currency").set_index(
        "namespace")
    a, b = out.loc["a"], out.loc["b"]
    # numeric(17,9): 0.1000000004 is stored 0.100000000; the row with a NULL markup drops out of sum(a + b) only
    assert a["infrastructure_raw_cost"] == pytest.approx(0.11, abs=0)
    assert a["infrastructure_project_raw_cost"] == pytest.approx(0.31, abs=1e-15)
    assert a["pod_labels"] == '{"app":"x"}' and a["volume_labels"] == "{}" and a["all_labels"] == '{"app":"x"}'
    assert b["pod_labels"] == "{}" and b["volume_labels"] == '{"app":"x"}'
    assert b["infrastructure_data_in_gigabytes"] == 3.0 and pd.isna(b["infrastructure_data_out_gigabytes"])
    assert a["report_period_id"] == 7 and a["source_uuid"] == "ocp-uuid" and a["raw_currency"] == "USD"
    assert a["pod_usage_cpu_core_hours"] == 0.0
    coalesced = back_populate_rows(project, 7, "ocp-uuid", terms, strict_raw=False, currency="currency")
    assert coalesced.set_index("namespace").loc["a", "infrastructure_raw_cost"] == pytest.approx(0.31, abs=1e-15)


def test_round_to_column_scales_decides_half_way_cases_from_the_shortest_text():
    frame = pd.DataFrame({"pretax_cost": [-0.0009483374999999998, 0.0000000015], "usage_quantity": [1.0, NAN],
                          "infrastructure_data_in_gigabytes": [1.23456789012345678, 0.0]})
    out = round_to_column_scales(frame, get_table(OCPAZURE_PROJECT_TABLE))
    assert out["pretax_cost"].tolist() == [-0.000948337, 0.000000002]  # numeric(17,9)
    assert math.isnan(out["usage_quantity"][1])
    assert out["infrastructure_data_in_gigabytes"][0] == 1.23456789012345678  # scale 15: left to PostgreSQL


SPEC = TagTables("reporting_ocpazuretags_summary", "reporting_ocpazuretags_values", "Azure", ("subscription_guid",),
                 (("subscription_guids", "subscription_guid"),))


def test_tag_parts_summarise_enabled_keys_and_list_values_of_every_key():
    project = pd.DataFrame({
        "enabled_tags": ['{"app":"a","team":"x"}', '{"app":"b","env":null}', '{"team":"y"}', None],
        "subscription_guid": ["s1", "s1", "s2", "s1"], "namespace": ["ns", "ns", "ns", "ns"],
        "node": ["n1", "n1", None, "n1"]})
    parts = ChunkTags(SPEC, 0)
    parts.add(project, frozenset({"app"}))
    summary = sorted((r["key"], r["value"], r["subscription_guid"], r["node"])
                     for r in parts.summary_table().to_pylist())
    # only rows holding an Azure-enabled key, one row per distinct value (PostgreSQL groups them at write
    # time); their every key in the values table; null values left out
    assert summary == [("app", "a", "s1", "n1"), ("app", "b", "s1", "n1")]
    values = {(r["key"], r["value"]): r["subscription_guids"] for r in parts.values_table().to_pylist()}
    assert values == {("app", "a"): ["s1"], ("team", "x"): ["s1"], ("app", "b"): ["s1"]}


def test_tag_parts_hold_a_chunks_summary_rows_once_whatever_the_days_and_parts():
    # the same pods every day give the same summary rows: the chunk keeps (and stages) each once
    day = pd.DataFrame({
        "enabled_tags": ['{"app":"a"}', '{"app":"b"}', '{"app":"a"}', '{"app":"c","team":"x"}'],
        "subscription_guid": ["s1", "s1", "s1", "s2"], "namespace": ["ns", "ns", "ns", "other"],
        "node": ["n1", "n1", "n1", None]})
    once, many = ChunkTags(SPEC, 0), ChunkTags(SPEC, 0)
    once.add(day, frozenset({"app"}))
    for _day in range(5):
        many.add(day.iloc[:2], frozenset({"app"}))
        many.add(day.iloc[2:], frozenset({"app"}))
    rows = sorted(many.summary_table().to_pylist(), key=repr)
    assert rows == sorted(once.summary_table().to_pylist(), key=repr)
    assert [(r["key"], r["value"]) for r in rows] == [("app", "a"), ("app", "b"), ("app", "c")]
    assert many.values_table().to_pylist() == once.values_table().to_pylist()


@pytest.mark.parametrize("weak_hash", [False, True], ids=["row-hashes", "colliding-hashes"])
def test_a_chunks_summary_rows_are_its_parts_distinct_rows_even_when_row_hashes_collide(monkeypatch, weak_hash):
    # parts are looked up among the held rows by row hash, then compared value by value: a collision may keep a
    # duplicate (PostgreSQL groups them) but must never drop a new row
    import numpy as np

    from poc_tasks.cloud import tag_summary

    rng = np.random.default_rng(7)
    n = 600
    frame = pd.DataFrame({
        "enabled_tags": rng.choice(np.array(['{"app":"a"}', '{"app":"b","team":"x"}', '{"app":null,"team":"z"}',
                                             '{"team":"y"}', None], dtype=object), n),
        "subscription_guid": rng.choice(np.array(["s1", "s2", None], dtype=object), n),
        "namespace": rng.choice(np.array(["ns1", "ns2", None], dtype=object), n),
        "node": rng.choice(np.array(["n1", "n2", "n3", None], dtype=object), n)})
    keys = frozenset({"app", "team"})
    whole = ChunkTags(SPEC, 0)
    whole.add(frame, keys)  # one part: its distinct rows
    want = sorted(map(repr, whole.summary_table().to_pylist()))
    if weak_hash:
        real = tag_summary._row_hashes
        monkeypatch.setattr(tag_summary, "_row_hashes", lambda t: real(t) % np.uint64(3))
    parts = ChunkTags(SPEC, 0)
    for start in range(0, n, 37):
        parts.add(frame.iloc[start:start + 37], keys)
    got = sorted(map(repr, parts.summary_table().to_pylist()))
    assert sorted(set(got)) == want and len(want) > 20
    if weak_hash:
        assert len(got) > len(want)  # the collisions did keep duplicates: the lookup was exercised
    else:
        assert got == want


def test_fallback_matched_tags_follow_koku_key_rules():
    cloud = [("app", "API"), ("App", "api"), ("team", "x"), ("env", "prod"), ("nope", "api")]
    pods = [("app", "api"), ("team", "x")]
    volumes = [("env", "PROD")]
    out = fallback_matched_tags(cloud, pods, volumes, cloud_enabled=["app", "App", "team", "env"],
                                any_keys=["app", "team"], ocp_keys=["env"])
    # values compare case-blind, keys too; a pod key needs to be listed (any provider), a volume key for OCP
    assert out == ['"App": "api"', '"app": "API"', '"env": "prod"', '"team": "x"']
    assert fallback_matched_tags(cloud, pods, volumes, ["app"], any_keys=[], ocp_keys=[]) == []


def test_aws_outputs_round_numeric_9_columns_as_trinos_insert():
    """0.35374218749999997 = (64.5 / 384) * 2.106: Trino's cast to numeric(33,9) reads the shortest text and rounds
    half up -> 0.353742187; the COPY writer's 15-significant-digit rounding alone would store 0.353742188."""
    from poc_tasks.cloud import flow
    from poc_tasks.cloud.spec import CloudRunSpec
    from poc_tasks.db.encode import float8_numeric

    share = (64.5 / 384) * 2.106
    assert repr(share) == "0.35374218749999997"
    assert float8_numeric(pa.array([share])).to_pylist() == [0.3537421875]  # the half-way value the cast would see
    spec = CloudRunSpec.build("org1234567", "6d7e4d2c-1f6a-4a8e-9f1e-0a0000000001",
                              "6d7e4d2c-1f6a-4a8e-9f1e-0a0000000002", "c1", "2026-12-06", "2026-12-06")
    frame = pd.DataFrame({"usage_start": [dt.date(2026, 12, 6)], "cluster_id": ["c1"],
                          "calculated_amortized_cost": [share], "markup_cost_amortized": [share],
                          "unblended_cost": [share]})
    name = "reporting_ocpaws_cost_summary_p"
    out = flow._ui_arrow(frame, name, flow._table_schema(name), spec)
    assert out.column("calculated_amortized_cost").to_pylist() == [0.353742187]
    assert out.column("markup_cost_amortized").to_pylist() == [0.353742187]
    assert out.column("unblended_cost").to_pylist() == [share]  # numeric(33,15): left to the COPY writer
