"""The cloud line rows Koku's SQL fails on (poc_tasks/io/line_checks.py), by hand-built tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from poc_tasks.errors import InputFileError
from poc_tasks.io.line_checks import check_lines, tag_text_ok


def _aws(codes: list, entities: list, names: list) -> pa.Table:
    n = len(codes)
    return pa.table({"lineitem_productcode": pa.array(codes, pa.string()),
                     "bill_billingentity": pa.array(entities, pa.string()),
                     "product_productname": pa.array(names, pa.string()),
                     "lineitem_usageaccountid": pa.array(["111"] * n, pa.string())})


def test_an_aws_line_has_a_product_code_unless_koku_would_find_none():
    # Koku: Marketplace lines take the product name first, others the code; '' counts as NULL (nullif)
    check_lines("aws_line_items_daily", _aws(["AmazonEC2", "", None], ["AWS", "AWS Marketplace", "AWS Marketplace"],
                                             [None, "Some SaaS", "Other SaaS"]), "f.parquet")
    for codes, entities, names in ((["", "AmazonEC2"], ["AWS", "AWS"], ["EC2", "x"]),  # not Marketplace: no code
                                   ([None], ["AWS Marketplace"], [""]),  # Marketplace without a name either
                                   ([None], [None], ["x"])):  # no billing entity: the ELSE branch
        with pytest.raises(InputFileError, match=r"f\.parquet, column 'lineitem_productcode': 1 row\(s\) refused"):
            check_lines("aws_line_items_daily", _aws(codes, entities, names), "f.parquet")


def test_a_null_aws_account_is_refused_and_a_read_without_the_rule_columns_is_not_checked():
    t = _aws(["AmazonEC2"], ["AWS"], ["x"]).set_column(3, "lineitem_usageaccountid", pa.array([None], pa.string()))
    with pytest.raises(InputFileError, match="usage_account_id is NOT NULL"):
        check_lines("aws_line_items", t, "f.parquet")
    check_lines("aws_line_items", t.select(["lineitem_productcode"]), "f.parquet")  # a narrow read
    check_lines("openshift_pod_usage_line_items_daily", t, "f.parquet")  # no rules for other tables


def test_an_azure_line_needs_a_subscription_id_or_guid_as_kokus_coalesce():
    ok = pa.table({"subscriptionid": ["", None, "s1"], "subscriptionguid": ["g1", "g2", None]})
    check_lines("azure_line_items", ok, "a.parquet")
    check_lines("azure_line_items", pa.table({"subscriptionid": [""], "subscriptionguid": [""]}), "a.parquet")
    with pytest.raises(InputFileError, match="column 'subscriptionguid'"):
        check_lines("azure_line_items", pa.table({"subscriptionid": ["", None], "subscriptionguid": [None, "g"]}),
                    "a.parquet")


def test_tag_texts_must_be_json_objects_of_scalars():
    assert all(map(tag_text_ok, ["", "{}", '{"a": "1", "b": 2, "c": null, "d": true}', '{"a": "' + "x" * 5000 + '"}']))
    assert not any(map(tag_text_ok, ["{broken", "[1]", '"text"', '{"a": {"b": 1}}', '{"a": [1]}']))
    t = pa.table({"labels": ['{"k": "v"}', None, '{"k": ', '{"k": ']})
    with pytest.raises(InputFileError, match=r"g\.parquet, column 'labels': unusable tag JSON: 1 distinct text"):
        check_lines("gcp_line_items", t, "g.parquet")
