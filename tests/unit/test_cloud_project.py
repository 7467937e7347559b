"""Step 3 (project rows), the back-populated OCP rows, UI tables, tag-summary parts, chunks and markup."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pytest

from poc_tasks.cloud.attribution import final_columns
from poc_tasks.cloud.aws import PROFILE as AWS_PROFILE
from poc_tasks.cloud.aws import PROVIDER as AWS
from poc_tasks.cloud.outputs import back_populate_rows, combine_ui_rows, ui_rows, ui_tables_rows
from poc_tasks.cloud.project import project_rows, project_tag_keys
from poc_tasks.cloud.spec import CloudRunSpec, date_range_pair, markup_fraction
from poc_tasks.cloud.tag_summary import ChunkTags
from poc_tasks.errors import InvalidArgument

DAY = dt.date(2026, 1, 5)


def final(rows):
    out = []
    for r in rows:
        base = dict.fromkeys(final_columns(AWS_PROFILE))
        base.update({"usage_start": DAY, "cluster_id": "c-1", "cluster_alias": "My Cluster", "data_source": "Pod",
                     "namespace": "a", "product_code": "AmazonEC2", "usage_account_id": "111",
                     "account_alias_id": 7, "currency_code": "USD", "usage_amount": 1.0, "resource_id": "i-1",
                     "tags": '{"app":"a","team":"t"}', "aws_cost_category": '{"cc": "x"}'})
        cost = r.pop("cost", 1.0)
        for c in AWS_PROFILE.costs:
            base[c] = cost
            base[AWS_PROFILE.markups[c]] = cost / 10
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def test_project_tag_keys_always_add_the_vm_name_unless_no_key_is_enabled():
    assert project_tag_keys(["app"]) == {"app", "vm_kubevirt_io_name"}
    assert project_tag_keys([]) == frozenset()  # NULL || ARRAY: not even the VM name survives


def test_project_rows_group_final_rows_and_filter_tags():
    rows = project_rows(final([
        {"cost": 1.0, "tags": '{"app":"a","team":"t"}'},
        {"cost": 2.0, "tags": '{"app":"a","other":"o"}'},  # same enabled tags: same group
        {"cost": 4.0, "tags": '{"app":"b"}'},
        {"cost": 8.0, "data_transfer_direction": "IN", "usage_amount": 5.0, "namespace": "Network unattributed"},
    ]), project_tag_keys(["app"]), AWS_PROFILE)
    got = {(r.namespace, r.enabled_tags): (r.unblended_cost, round(r.markup_cost, 12)) for r in rows.itertuples()}
    assert got == {("a", '{"app":"a"}'): (3.0, 0.3), ("a", '{"app":"b"}'): (4.0, 0.4),
                   ("Network unattributed", '{"app":"a"}'): (8.0, 0.8)}
    net = rows[rows["namespace"] == "Network unattributed"].iloc[0]
    assert (net["infrastructure_data_in_gigabytes"], net["infrastructure_data_out_gigabytes"]) == (5.0, 0.0)
    a = rows[rows["unblended_cost"] == 3.0].iloc[0]
    assert (a["infrastructure_data_in_gigabytes"], a["usage_amount"], a["category_json"]) == (0.0, 2.0, '{"cc":"x"}')


def test_project_rows_null_tags_stay_null():
    rows = project_rows(final([{"tags": None}]), project_tag_keys(["app"]), AWS_PROFILE)
    assert rows["enabled_tags"].tolist() == [None]


def test_back_populate_sums_the_stored_amortized_values_per_ocp_key():
    project = project_rows(final([
        # numeric(33,9) rounds each row half away from zero: 0.1234567894 -> 0.123456789, 0.0000000005 -> 0.000000001
        {"calculated_amortized_cost": 0.1234567894, "markup_cost_amortized": 0.0000000005, "tags": '{"app":"a"}'},
        {"calculated_amortized_cost": 0.1234567894, "markup_cost_amortized": 0.0000000005, "tags": '{"app":"a"}',
         "resource_id": "i-2"},
        {"calculated_amortized_cost": None, "markup_cost_amortized": 1.0, "resource_id": "i-3"},
        {"data_source": "Storage", "persistentvolumeclaim": "pvc", "persistentvolume": "pv",
         "tags": '{"v":"1"}', "resource_id": "vol-1"},
    ]), project_tag_keys(["app", "v"]), AWS_PROFILE)
    back = back_populate_rows(project, 3, "ocp-uuid", AWS.cost_terms, AWS.strict_raw, AWS.currency, AWS.strict_project)
    pods = back[back["resource_id"] == "i-1"].iloc[0]
    assert pods["infrastructure_raw_cost"] == pytest.approx(0.12345679, abs=1e-15)  # 0.123456789 + 0.000000001
    assert (pods["pod_labels"], pods["volume_labels"], pods["all_labels"]) == ('{"app":"a"}', "{}", '{"app":"a"}')
    assert pd.isna(pods["infrastructure_data_in_gigabytes"]) and pods["source_uuid"] == "ocp-uuid"
    assert back.loc[back["resource_id"] == "i-3", "infrastructure_raw_cost"].isna().all()  # NULL + x drops the row
    vol = back[back["resource_id"] == "vol-1"].iloc[0]
    assert (vol["pod_labels"], vol["volume_labels"], vol["persistentvolume"]) == ("{}", '{"v":"1"}', "pv")
    assert (vol["report_period_id"], vol["usage_end"], vol["pod_usage_cpu_core_hours"]) == (3, DAY, 0.0)


def test_ui_tables_filters_and_keys():
    rows = final([
        {"instance_type": "m5.large", "cost": 1.0},
        {"product_code": "AmazonRDS", "cost": 2.0, "resource_id": "db"},
        {"product_code": "AmazonEC2", "data_transfer_direction": "OUT", "cost": 4.0},  # EC2 transfer: not network
        {"product_code": "AmazonVPC", "cost": 8.0, "resource_id": "vpc"},
        {"product_family": "Storage", "unit": "GB-Mo", "cost": 16.0, "resource_id": "vol-1", "cost_category_id": 3},
        {"product_family": "Storage Snapshot", "unit": "GB-Mo", "cost": 32.0, "resource_id": "snap"},
        {"product_family": "Storage", "unit": "IOPS-Mo", "cost": 64.0, "resource_id": "vol-1"},
    ])
    by = {t.name: ui_rows(rows, t, AWS.ui_numeric) for t in AWS.ui_tables}
    assert by["reporting_ocpaws_compute_summary_p"]["unblended_cost"].tolist() == [1.0]
    assert by["reporting_ocpaws_database_summary_p"]["unblended_cost"].tolist() == [2.0]
    assert by["reporting_ocpaws_network_summary_p"]["unblended_cost"].tolist() == [8.0]
    assert by["reporting_ocpaws_storage_summary_p"]["unblended_cost"].sum() == 48.0
    total = by["reporting_ocpaws_cost_summary_p"]
    assert total["unblended_cost"].tolist() == [127.0] and total["cost_category_id"].tolist() == [3.0]
    assert "cost_category_id" not in by["reporting_ocpaws_cost_summary_by_account_p"].columns
    service = by["reporting_ocpaws_cost_summary_by_service_p"]
    assert set(zip(service["product_code"], service["product_family"], strict=True)) == {
        ("AmazonEC2", None), ("AmazonRDS", None), ("AmazonVPC", None), ("AmazonEC2", "Storage"),
        ("AmazonEC2", "Storage Snapshot")}


def test_chunk_tags_reduce_enabled_aws_keys_and_every_tag_of_tagged_rows():
    project = project_rows(final([
        {"tags": '{"app":"a","team":"t"}', "node": "n1"},
        {"tags": '{"app":"b","team":"t"}', "node": "n1"},
        {"tags": '{"app":"a"}', "node": None, "namespace": "c"},
        {"tags": '{"team":"u"}', "namespace": "b", "node": "n1"},  # no enabled AWS key: not tagged
    ]), project_tag_keys(["app", "team"]), AWS_PROFILE)
    project["account_alias"] = project["usage_account_id"].map({"111": "alias-111"})
    tags = ChunkTags(AWS.tags, 4)
    tags.add(project, frozenset({"app"}))
    summary = sorted(tags.summary_table().to_pylist(), key=repr)
    assert summary == [  # one row per distinct tag of a group; PostgreSQL aggregates the groups at write time
        {"key": "app", "value": "a", "usage_account_id": "111", "namespace": "a", "node": "n1", "account_alias_id": 7},
        {"key": "app", "value": "a", "usage_account_id": "111", "namespace": "c", "node": None, "account_alias_id": 7},
        {"key": "app", "value": "b", "usage_account_id": "111", "namespace": "a", "node": "n1", "account_alias_id": 7}]
    values = {(r["key"], r["value"]): r for r in tags.values_table().to_pylist()}
    assert sorted(values) == [("app", "a"), ("app", "b"), ("team", "t")]  # every key of a tagged row
    assert values[("app", "a")] == {"chunk": 4, "key": "app", "value": "a", "usage_account_ids": ["111"],
                                    "account_aliases": ["alias-111"], "namespaces": ["a", "c"],
                                    "nodes": ["n1", None]}  # NULL sorts last, as array_agg(DISTINCT)


def test_date_range_pair_is_kokus():
    d = dt.date
    assert date_range_pair(d(2026, 1, 1), d(2026, 1, 31)) == [
        (d(2026, 1, 1), d(2026, 1, 6)), (d(2026, 1, 7), d(2026, 1, 11)), (d(2026, 1, 12), d(2026, 1, 16)),
        (d(2026, 1, 17), d(2026, 1, 21)), (d(2026, 1, 22), d(2026, 1, 26)), (d(2026, 1, 27), d(2026, 1, 31))]
    assert date_range_pair(d(2026, 1, 1), d(2026, 1, 3)) == [(d(2026, 1, 1), d(2026, 1, 3))]
    assert date_range_pair(d(2026, 1, 1), d(2026, 1, 8)) == [(d(2026, 1, 1), d(2026, 1, 6)),
                                                             (d(2026, 1, 7), d(2026, 1, 8))]
    assert date_range_pair(d(2026, 1, 4), d(2026, 1, 4)) == [(d(2026, 1, 4), d(2026, 1, 4))]


def test_markup_fraction_and_run_spec_validation():
    assert markup_fraction("10") == 0.1
    assert markup_fraction(None) == 0.0
    assert markup_fraction("0.00000000049") == 0.0  # decimal(24,9) of 4.9e-12
    with pytest.raises(InvalidArgument):
        markup_fraction("ten")
    spec = CloudRunSpec.build("org1", "6e2d1a2b-0b6c-4f55-9d55-0e3f6a7b1002", "6e2d1a2b-0b6c-4f55-9d55-0e3f6a7b2002",
                              "c-1", "2026-01-01", "2026-01-03", markup="5")
    assert CloudRunSpec.from_kwargs(spec.to_kwargs()) == spec
    with pytest.raises(InvalidArgument):
        CloudRunSpec.build("org1", "6e2d1a2b-0b6c-4f55-9d55-0e3f6a7b1002", "not-a-uuid", "c", "2026-01-01",
                           "2026-01-02")
    with pytest.raises(InvalidArgument):
        CloudRunSpec.build("org1", "6e2d1a2b-0b6c-4f55-9d55-0e3f6a7b1002", "6e2d1a2b-0b6c-4f55-9d55-0e3f6a7b2002",
                           "c", "2026-01-01", "2026-01-02", distribution="gpu")


def _in_row_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by their text (NULLs and mixed types sort too): ui_rows groups text keys as codes
    (frames.sql_group text_codes), the shared path through Arrow's ordered group by; the rows and every bit of
    them must agree, not their order, which no table keeps."""
    keys = [repr(tuple(r)) for r in frame.itertuples(index=False)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return frame.iloc[order].reset_index(drop=True)


def test_ui_tables_rows_equal_ui_rows_table_by_table_to_the_bit():
    rows = final([
        {"instance_type": "m5.large", "cost": 0.1, "usage_amount": 0.7},
        {"instance_type": "m5.large", "cost": 0.2, "usage_amount": 0.1},
        {"instance_type": "m5.large", "cost": 0.3, "usage_amount": None, "resource_id": "i-2"},
        {"product_code": "AmazonRDS", "cost": 1e-9, "resource_id": "db", "cost_category_id": 2},
        {"product_code": "AmazonVPC", "cost": 1e16, "resource_id": "vpc", "account_alias_id": None},
        {"product_family": "Storage", "unit": "GB-Mo", "cost": 0.7, "resource_id": "vol-1", "cost_category_id": 3},
        {"product_family": "Storage", "unit": "GB-Mo", "cost": -0.3, "resource_id": "vol-1", "region": None},
    ])
    shared = ui_tables_rows(rows, AWS.ui_tables, AWS.ui_numeric)
    for t in AWS.ui_tables:
        pd.testing.assert_frame_equal(_in_row_order(shared[t.name]), _in_row_order(ui_rows(rows, t, AWS.ui_numeric)),
                                      check_exact=True)
    empty = ui_tables_rows(rows.iloc[0:0], AWS.ui_tables, AWS.ui_numeric)
    for t in AWS.ui_tables:
        pd.testing.assert_frame_equal(empty[t.name], ui_rows(rows.iloc[0:0], t, AWS.ui_numeric))
    for t in AWS.ui_tables:  # a day in parts: the parts' rows regrouped as ui_rows regroups them
        parts = [ui_tables_rows(p, [t], AWS.ui_numeric)[t.name] for p in (rows.iloc[:3], rows.iloc[3:])]
        whole = ui_rows(pd.concat([p.astype(object) for p in parts], ignore_index=True), replace(t, where=None),
                        AWS.ui_numeric)
        pd.testing.assert_frame_equal(_in_row_order(combine_ui_rows(parts, t, AWS.ui_numeric)), _in_row_order(whole),
                                      check_exact=True)
