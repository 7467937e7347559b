"""AWS specifics of OCP on AWS: derived line columns, the matched-line frame, EBS capacity (hand-computed)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poc_tasks.cloud import aws
from poc_tasks.cloud.matching import SuffixMatcher
from poc_tasks.errors import InputFileError
from poc_tasks.io.fs import filesystem
from poc_tasks.io.parquet import ParquetSource


def test_transfer_direction_follows_kokus_order_of_tests():
    code = pd.Series(["AmazonEC2"] * 6 + ["AmazonS3", "AmazonEC2"])
    family = pd.Series(["Data Transfer"] * 6 + ["Data Transfer", "Compute Instance"])
    usage = pd.Series(["USE1-In-Bytes", "USE1-Out-Bytes", "USE1-DataTransfer-Regional-Bytes",
                       "USE1-DataTransfer-Regional-Bytes", "USE1-DataTransfer-Regional-Bytes", None,
                       "In-Bytes", "In-Bytes"])
    operation = pd.Series(["", "", "InterZone-In", "InterZone-Out", "PublicIP", "", "", ""])
    got = aws.transfer_direction(code, family, usage, operation).tolist()
    assert got == ["IN", "OUT", "IN", "OUT", None, None, None, None]


def test_transfer_direction_in_bytes_wins_over_out_bytes():
    got = aws.transfer_direction(pd.Series(["AmazonEC2"]), pd.Series(["Data Transfer"]),
                                 pd.Series(["x-in-bytes-out-bytes"]), pd.Series([""])).tolist()
    assert got == ["IN"]


def test_product_code_marketplace_lines_use_the_product_name():
    got = aws.product_code(pd.Series(["AWS Marketplace", "AWS Marketplace", "AWS", "AWS"]),
                           pd.Series(["Red Hat OpenShift", "", "Amazon EC2", "x"]),
                           pd.Series(["prodcode1", "prodcode2", "AmazonEC2", ""])).tolist()
    assert got == ["Red Hat OpenShift", "prodcode2", "AmazonEC2", None]


def test_costs_savings_plan_covered_usage_and_amortized_cost():
    types = pd.Series(["Usage", "SavingsPlanCoveredUsage", "SavingsPlanNegation", "Tax", "DiscountedUsage"])
    got = aws.costs(types, pd.Series([1.0, 2.0, -2.0, 0.5, 3.0]), pd.Series([1.1, 2.2, -2.2, 0.55, 3.3]),
                    pd.Series([0.0, 1.5, 0.0, 0.0, 2.5]))
    assert got["unblended_cost"].tolist() == [1.0, 0.0, -2.0, 0.5, 3.0]
    assert got["blended_cost"].tolist() == [1.1, 0.0, -2.2, 0.55, 3.3]
    assert got["savingsplan_effective_cost"].tolist() == [0.0, 1.5, 0.0, 0.0, 2.5]
    # Tax and Usage: unblended; every other type: the savings-plan effective cost
    assert got["calculated_amortized_cost"].tolist() == [1.0, 1.5, 0.0, 0.5, 2.5]


def test_round_half_away_from_zero_and_hours_in_month():
    assert [aws.round_half_away(x) for x in (2.5, 3.5, -2.5, 0.49)] == [3.0, 4.0, -3.0, 0.0]
    assert aws.hours_in_month(dt.date(2024, 2, 10)) == 29 * 24


def _daily(rows):
    base = {c.name: "" for c in aws.DAILY_COLUMNS}
    base.update({"lineitem_usagestartdate": dt.datetime(2026, 1, 5), "resourcetags": "{}", "costcategory": "{}",
                 "lineitem_usageamount": 1.0, "lineitem_unblendedcost": 1.0, "lineitem_blendedcost": 1.0,
                 "savingsplan_savingsplaneffectivecost": 0.0, "lineitem_lineitemtype": "Usage",
                 "lineitem_productcode": "AmazonEC2", "lineitem_currencycode": "USD",
                 "lineitem_usageaccountid": "111"})
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["lineitem_usagestartdate"] = frame["lineitem_usagestartdate"].astype("datetime64[ms]")
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_daily_temp_resource_match_wins_and_unmatched_lines_go():
    day = _daily([
        {"row_uuid": "r1", "lineitem_resourceid": "i-1", "resourcetags": '{"openshift_project": "a", "team": "t"}'},
        {"row_uuid": "r2", "lineitem_resourceid": "bucket", "resourcetags": '{"openshift_project": "a"}'},
        {"row_uuid": "r3", "lineitem_resourceid": "other", "resourcetags": '{"openshift_project": "b"}'},
        {"row_uuid": "r4", "lineitem_resourceid": "", "resourcetags": '{"app": "x", "Team": "t"}'},
    ])
    temp = aws.daily_temp(day, SuffixMatcher(["i-1"]), ['"openshift_project": "a"', '"app": "x"'], ["Team"])
    assert temp["row_uuid"].tolist() == ["r1", "r2", "r4"]
    assert temp["resource_id_matched"].tolist() == [True, False, False]
    assert temp["matched_tag"].tolist() == [None, '"openshift_project": "a"', '"app": "x"']
    # tags: enabled AWS keys (case-sensitive) and the openshift_* keys, compact and sorted
    assert temp["tags"].tolist() == ['{"openshift_project":"a"}', '{"openshift_project":"a"}', '{"Team":"t"}']
    assert temp["resource_id"].tolist() == ["i-1", "bucket", None]
    assert temp["usage_start"].tolist() == [dt.date(2026, 1, 5)] * 3


def test_daily_temp_names_the_column_of_unusable_tag_json():
    day = _daily([{"row_uuid": "r1", "lineitem_resourceid": "i-1", "resourcetags": "{broken"}])
    with pytest.raises(InputFileError, match="resourcetags"):
        aws.daily_temp(day, SuffixMatcher(["i-1"]), [], [])


def test_ebs_capacity_from_hourly_lines(tmp_path):
    # 31-day month: 744 hours. vol-a: max cost 0.0134 at max rate 0.1 GiB-month -> 0.0134 / (0.1/744) = 99.7 -> 100
    hours = [dt.datetime(2026, 1, 5, h) for h in range(3)]
    rows = {
        "lineitem_usagestartdate": hours * 3 + [dt.datetime(2026, 1, 6)],
        "lineitem_resourceid": ["vol-a"] * 3 + ["vol-b"] * 3 + ["vol-z"] * 3 + ["vol-a"],
        "lineitem_unblendedcost": [0.0134, 0.0134, 0.0100] + [0.0, 0.0, 0.0] + [0.01] * 3 + [9.9],
        "lineitem_unblendedrate": [0.1, 0.08, 0.1] + [0.08] * 3 + [0.08] * 3 + [0.1],
    }
    table = pa.table(rows).cast(pa.schema([("lineitem_usagestartdate", pa.timestamp("ms")),
                                           ("lineitem_resourceid", pa.string()),
                                           ("lineitem_unblendedcost", pa.float64()),
                                           ("lineitem_unblendedrate", pa.float64())]))
    path = tmp_path / "raw.parquet"
    pq.write_table(table, path)
    source = ParquetSource(filesystem(str(tmp_path)), [str(path)], aws.RAW_COLUMNS, "aws_line_items",
                           time_column=aws.TIME)
    # vol-b: zero cost -> capacity 0 -> left out; vol-z not asked for; the next day's vol-a line is not read
    assert aws.ebs_capacities(source, dt.date(2026, 1, 5), {"vol-a", "vol-b"}) == {"vol-a": 100}
