"""The AWS daily summary and EC2 compute rules on hand-made lines, with hand-computed expectations.

Koku's SQL (trino_sql/aws/reporting_awscostentrylineitem_daily_summary.sql and ..._summary_by_ec2_compute_p.sql)
is the specification; benchmarks/daily_parity.py compares whole datasets with it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pyarrow as pa
import pytest

from poc_tasks.daily import aws, aws_ec2
from poc_tasks.daily.numbers import decimal_array, decimal_text
from poc_tasks.daily.run import DailyRunSpec, date_range_pair, koku_markup, staged_schema
from poc_tasks.db.tables_daily import AWS_DAILY_TABLE, AWS_EC2_COMPUTE_TABLE
from poc_tasks.errors import InputFileError, InvalidArgument

SOURCE = "3f1c2a9e-5b7d-4e21-8c3a-6d9e0f1a2b3c"
DAY1, DAY2 = dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 2)


def lines(*rows: dict) -> pa.Table:
    """Lines as ParquetSource hands them (every LINE_COLUMNS column, Koku's types); defaults fill the rest."""
    base = {"lineitem_usagestartdate": DAY1, "lineitem_resourceid": "i-1", "bill_billingentity": "AWS",
            "product_productname": "Amazon EC2", "lineitem_productcode": "AmazonEC2",
            "lineitem_usageaccountid": "111", "lineitem_availabilityzone": "us-east-1a",
            "product_productfamily": "Compute Instance", "product_region": "us-east-1", "resourcetags": "{}",
            "costcategory": "{}", "product_instancetype": "m5.large", "pricing_unit": "Hrs",
            "lineitem_lineitemtype": "Usage", "lineitem_usageamount": 24.0, "lineitem_normalizationfactor": 4.0,
            "lineitem_normalizedusageamount": 96.0, "lineitem_currencycode": "USD", "lineitem_unblendedrate": 0.1,
            "lineitem_unblendedcost": 2.4, "lineitem_blendedrate": 0.1, "lineitem_blendedcost": 2.4,
            "savingsplan_savingsplaneffectivecost": 0.0, "pricing_publicondemandcost": 2.4,
            "pricing_publicondemandrate": 0.1, "product_operatingsystem": "Linux", "product_memory": "8 GiB",
            "product_vcpu": "2"}
    data = [{**base, **r} for r in rows]
    fields = []
    for spec in aws.LINE_COLUMNS:
        typ = {"string": pa.string(), "number": pa.float64(), "timestamp": pa.timestamp("ms")}[spec.kind]
        fields.append(pa.field(spec.name, typ))
    return pa.Table.from_pylist(data, schema=pa.schema(fields))


def manifest(**kw) -> dict:
    return {"enabled_keys": ["app", "team:sub"], "markup_value": 0.1, "account_aliases": {"111": 7},
            "org_units": [], "bill_id": 3, "run": {"source_uuid": SOURCE}, **kw}


def _text(rows: list[dict]) -> list[dict]:
    """Staged decimals as their fixed-point text (what PostgreSQL stores)."""
    return [{k: format(v, "f") if isinstance(v, decimal.Decimal) else v for k, v in r.items()} for r in rows]


def daily(*rows: dict, **kw) -> list[dict]:
    agg = aws.aggregate_lines([aws._partial(lines(*rows))])
    out = _text(aws.daily_rows(agg, manifest(**kw)).to_pylist())
    return sorted(out, key=lambda r: (r["usage_start"], r["product_code"] or "", r["tags"] or "",
                                      r["availability_zone"] or "", r["organizational_unit_id"] or 0))


# --- numbers --------------------------------------------------------------------------------------------------

def test_decimal_text_rounds_the_shortest_text_half_up_like_trinos_cast():
    values = np.array([2.5e-9, -2.5e-9, 1.5e-9, 0.35374218749999997, -0.0009483374999999998, 12.3, -4e-10,
                       float("nan"), 1e20])
    assert decimal_text(values, 9).to_pylist() == [
        "0.000000003", "-0.000000003", "0.000000002", "0.353742187", "-0.000948337", "12.300000000", "0.000000000",
        None, "100000000000000000000.000000000"]
    # numeric(33,15) keeps 15 decimals (a float through the COPY writer would keep 15 significant digits)
    assert decimal_text(np.array([1000 / 3]), 15).to_pylist() == ["333.333333333333300"]
    # the same values as Arrow decimals (what the daily flows stage)
    assert [None if v is None else format(v, "f") for v in decimal_array(values, 9).to_pylist()] == \
        decimal_text(values, 9).to_pylist()


def test_date_range_pair_is_kokus_five_day_chunks():
    d = dt.date
    assert date_range_pair(d(2026, 1, 1), d(2026, 1, 31)) == [
        (d(2026, 1, 1), d(2026, 1, 6)), (d(2026, 1, 7), d(2026, 1, 11)), (d(2026, 1, 12), d(2026, 1, 16)),
        (d(2026, 1, 17), d(2026, 1, 21)), (d(2026, 1, 22), d(2026, 1, 26)), (d(2026, 1, 27), d(2026, 1, 31))]
    assert date_range_pair(d(2026, 1, 1), d(2026, 1, 6)) == [(d(2026, 1, 1), d(2026, 1, 6))]
    assert date_range_pair(d(2026, 1, 3), d(2026, 1, 3)) == [(d(2026, 1, 3), d(2026, 1, 3))]


def test_spec_validates_koku_arguments():
    spec = DailyRunSpec.build("AWS", "org1234567", SOURCE, "2026-03-01", "2026-03-05", "4", "0.1")
    assert (spec.bill_id, spec.markup_value, spec.account, spec.month) == (4, 0.1, "org1234567", "03")
    assert DailyRunSpec.from_kwargs(spec.to_kwargs()) == spec
    for bad in [dict(schema_name="public"), dict(source_uuid="x"), dict(end_date="2026-04-01"),
                dict(bill_id="b"), dict(markup_value="ten"), dict(start_date="2026-03-09")]:
        args = {"schema_name": "org1234567", "source_uuid": SOURCE, "start_date": "2026-03-01",
                "end_date": "2026-03-05", **bad}
        with pytest.raises(InvalidArgument):
            DailyRunSpec.build("AWS", **args)
    assert koku_markup(None) == 0.0 and koku_markup("10") == 10.0


# --- tags ------------------------------------------------------------------------------------------------------

def test_filter_tags_keeps_enabled_keys_as_text_values():
    enabled = frozenset({"app", "team:sub", "num", "flag"})
    text = json.dumps({"app": "ü €", "team:sub": 'a "b"', "other": "x", "num": 5, "flag": True})
    assert json.loads(aws.filter_tags(text, enabled)) == {"app": "ü €", "team:sub": 'a "b"', "num": "5",
                                                           "flag": "true"}
    assert aws.filter_tags("{}", enabled) == "{}"
    assert aws.filter_tags(None, enabled) is None
    with pytest.raises(InputFileError, match="resourcetags"):
        aws.filter_tags("{not json", enabled, "f.parquet")
    with pytest.raises(InputFileError, match="map"):
        aws.filter_tags('{"app": {"nested": 1}}', enabled, "f.parquet")


# --- the daily summary -----------------------------------------------------------------------------------------

def test_savings_plan_lines_amortized_and_negated_usage():
    rows = daily(
        {"lineitem_lineitemtype": "SavingsPlanCoveredUsage", "savingsplan_savingsplaneffectivecost": 1.5},
        {"lineitem_lineitemtype": "SavingsPlanNegation", "lineitem_unblendedcost": -2.4, "lineitem_blendedcost": -2.4},
        {"lineitem_lineitemtype": "Usage", "lineitem_resourceid": "i-2", "lineitem_unblendedcost": 1.0,
         "lineitem_blendedcost": 1.0},
    )
    assert len(rows) == 1
    r = rows[0]
    # usage: 24 (covered) + 0 (negation dropped) + 24; unblended: 2.4 - 2.4 + 1.0; amortized: 1.5 + 0 + 1.0
    assert r["usage_amount"] == "48.000000000"
    assert r["unblended_cost"] == "1.000000000"
    assert r["calculated_amortized_cost"] == "2.500000000"
    assert r["savingsplan_effective_cost"] == "1.500000000"
    assert r["markup_cost"] == "0.100000000" and r["markup_cost_amortized"] == "0.250000000"
    assert r["markup_cost_blended"] == "0.100000000000000"
    assert r["normalized_usage_amount"] == 288.0 and r["normalization_factor"] == 4.0
    assert sorted(r["resource_ids"]) == ["i-1", "i-2"] and r["resource_count"] == 2
    assert (r["cost_entry_bill_id"], r["account_alias_id"], r["source_uuid"]) == (3, 7, SOURCE)
    assert r["usage_start"] == r["usage_end"] == dt.date(2026, 3, 1)
    assert r["tags"] == "{}" and r["cost_category"] == "{}" and r["currency_code"] == "USD"


def test_groups_are_raw_texts_nullif_only_in_the_output():
    rows = daily(
        {"lineitem_availabilityzone": ""}, {"lineitem_availabilityzone": None},  # two groups, both NULL zone
        {"resourcetags": '{"app":"a","x":"1"}'}, {"resourcetags": '{"x":"1","app":"a"}'},  # two groups, same tags
        {"lineitem_usagestartdate": DAY2},
    )
    assert len(rows) == 5
    zones = [r for r in rows if r["availability_zone"] is None]
    assert len(zones) == 2 and all(r["usage_amount"] == "24.000000000" for r in zones)
    tagged = [r for r in rows if r["tags"] == '{"app":"a"}']
    assert len(tagged) == 2
    assert [r["usage_start"] for r in rows].count(dt.date(2026, 3, 2)) == 1


def test_marketplace_product_name_and_null_resource_ids():
    rows = daily(
        {"bill_billingentity": "AWS Marketplace", "lineitem_productcode": "8d24", "product_productname": "RHEL"},
        {"bill_billingentity": "AWS Marketplace", "lineitem_productcode": "9e35", "product_productname": "",
         "lineitem_resourceid": None, "lineitem_lineitemtype": "Tax"},
        {"bill_billingentity": "AWS Marketplace", "lineitem_productcode": "9e35", "product_productname": "",
         "lineitem_resourceid": "r-1", "lineitem_lineitemtype": "Tax"},
    )
    by_code = {r["product_code"]: r for r in rows}
    assert set(by_code) == {"RHEL", "9e35"}
    # array_agg(DISTINCT) keeps the NULL, count(DISTINCT) does not count it
    assert sorted(by_code["9e35"]["resource_ids"], key=str) == [None, "r-1"]
    assert by_code["9e35"]["resource_count"] == 1


def test_refunds_credits_and_negative_costs_sum_with_sign():
    rows = daily({"lineitem_unblendedcost": 10.0}, {"lineitem_lineitemtype": "Refund", "lineitem_unblendedcost": -5.5},
                 {"lineitem_lineitemtype": "Credit", "lineitem_unblendedcost": -1.23456789012})
    assert rows[0]["unblended_cost"] == "3.265432110"  # 10 - 5.5 - 1.23456789012 = 3.26543210988
    assert rows[0]["markup_cost"] == "0.326543211"


def test_organizational_units_valid_on_the_day_multiply_rows():
    units = [{"id": 1, "account_alias_id": 7, "created": "2026-01-01", "deleted": None},
             {"id": 2, "account_alias_id": 7, "created": "2026-01-01", "deleted": "2026-03-02"},
             {"id": 3, "account_alias_id": 7, "created": "2026-03-02", "deleted": None},
             {"id": 4, "account_alias_id": 8, "created": "2026-01-01", "deleted": None}]
    rows = daily({}, {"lineitem_usagestartdate": DAY2}, {"lineitem_usageaccountid": "999"}, org_units=units)
    got = sorted((r["usage_start"].day, r["usage_account_id"], r["organizational_unit_id"]) for r in rows)
    # day 1: units 1, 2 (3 not yet created); day 2: units 1, 3 (2 deleted on the day); account 999: no alias
    assert got == [(1, "111", 1), (1, "111", 2), (1, "999", None), (2, "111", 1), (2, "111", 3)]


def test_bad_json_in_cost_category_names_the_column():
    with pytest.raises(InputFileError, match="costcategory"):
        daily({"costcategory": "{oops"})


def test_staged_schema_has_every_column_but_uuid():
    names = staged_schema(AWS_DAILY_TABLE).names
    assert "uuid" not in names and {"tags", "cost_category", "resource_ids", "organizational_unit_id"} <= set(names)
    assert staged_schema(AWS_DAILY_TABLE).field("usage_amount").type == pa.decimal128(38, 9)
    assert staged_schema(AWS_DAILY_TABLE).field("markup_cost_blended").type == pa.decimal128(38, 15)


# --- EC2 compute ---------------------------------------------------------------------------------------------

def ec2(*rows: dict, **kw) -> list[dict]:
    t = lines(*rows)
    ids = t.column("lineitem_resourceid").to_pylist()
    days = [d.date() for d in t.column("lineitem_usagestartdate").to_pylist()]
    last = {}
    for r, d in zip(ids, days, strict=True):
        last[r] = max(last.get(r, d), d)
    compute = t.filter(aws_ec2.is_compute_line(t))
    ds = aws_ec2._aggregate(aws_ec2._ec2_terms(compute), aws_ec2._FIRST)
    keep = [d == last[r] for r, d in zip(compute.column("lineitem_resourceid").to_pylist(),
                                         [x.date() for x in compute.column("lineitem_usagestartdate").to_pylist()],
                                         strict=True)]
    latest = compute.filter(pa.array(keep)).select(aws_ec2.LATEST_KEYS)
    latest = latest.group_by(aws_ec2.LATEST_KEYS).aggregate([])
    out = _text(aws_ec2.ec2_rows(ds, latest, manifest(**kw)).to_pylist())
    return sorted(out, key=lambda r: (r["resource_id"], r["instance_name"] or ""))


def test_ec2_one_row_per_resource_with_its_latest_values():
    rows = ec2(
        {"resourcetags": '{"Name":"old","app":"x"}', "product_instancetype": "m5.large"},
        {"lineitem_usagestartdate": DAY2, "resourcetags": '{"Name":"new","app":"y"}',
         "product_instancetype": "m5.xlarge", "lineitem_lineitemtype": "SavingsPlanCoveredUsage",
         "savingsplan_savingsplaneffectivecost": 1.0},
        {"lineitem_usagestartdate": DAY2, "lineitem_lineitemtype": "SavingsPlanNegation",
         "resourcetags": '{"Name":"new","app":"y"}', "product_instancetype": "m5.xlarge",
         "lineitem_unblendedcost": -2.4, "lineitem_blendedcost": -2.4},
    )
    assert len(rows) == 1
    r = rows[0]
    assert (r["usage_start"], r["usage_end"]) == (dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    assert (r["instance_name"], r["instance_type"], r["tags"], r["vcpu"]) == ("new", "m5.xlarge", '{"app":"y"}', 2)
    # usage: 24 + 24 (covered) + 0 (negation); unblended: 2.4 + 0 (covered) - 2.4; amortized: 2.4 + 1.0 + 0
    assert (r["usage_amount"], r["unblended_cost"], r["calculated_amortized_cost"]) == (
        "48.000000000", "0.000000000", "3.400000000")
    assert r["account_alias_id"] == 7 and r["cost_entry_bill_id"] == 3


def test_ec2_two_tag_sets_on_the_last_day_give_two_rows_and_non_compute_lines_are_not_summed():
    rows = ec2({"resourcetags": '{"Name":"a"}'}, {"resourcetags": '{"Name":"b"}', "lineitem_usageamount": 1.0},
               {"lineitem_resourceid": "vol-1", "product_productfamily": "Storage"},
               {"lineitem_resourceid": "", "product_productfamily": "Compute Instance"})
    assert [(r["resource_id"], r["instance_name"], r["usage_amount"]) for r in rows] == [
        ("i-1", "a", "25.000000000"), ("i-1", "b", "25.000000000")]


def test_vcpu_that_is_not_an_integer_fails_naming_the_column():
    with pytest.raises(InputFileError, match="product_vcpu"):
        ec2({"product_vcpu": "2.5"})
    assert aws_ec2.vcpu_value("") is None and aws_ec2.instance_name('{"Name": 3}') == "3"
    assert aws_ec2.instance_name('{"Name": {"a": 1}}') is None
    assert staged_schema(AWS_EC2_COMPUTE_TABLE).field("vcpu").type == pa.int64()
