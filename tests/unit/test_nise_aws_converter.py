"""benchmarks/nise_aws_to_koku_parquet.py on a hand-made CUR: Koku's column choice, day split, types, JSON folding."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nise_aws_to_koku_parquet as conv  # noqa: E402

from poc_tasks.sample.aws import AWS_DAILY_COLUMNS  # noqa: E402

UUID = "11111111-2222-4333-8444-555555555555"
HEADER = ["identity/TimeInterval", "bill/BillingEntity", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
          "lineItem/UsageStartDate", "lineItem/UsageAccountId", "lineItem/ResourceId", "lineItem/UnblendedCost",
          "lineItem/UnblendedRate", "lineItem/UsageAmount", "lineItem/ProductCode", "lineItem/LineItemType",
          "pricing/currency", "product/ProductName", "product/fooBar", "resourceTags/user:b", "resourceTags/user:a",
          "resourceTags/user:never", "resourceTags/aws:createdBy", "costCategory/env", "lineItem/UsageType",
          "lineItem/Operation", "bill/InvoiceId"]


def cur_row(day: int, hour: int, resource: str, cost: str, b: str = "", a: str = "", env: str = "") -> list[str]:
    start = f"2025-10-{day:02d}T{hour:02d}:00:00Z"
    end = f"2025-10-{day:02d}T{hour + 1:02d}:00:00Z"
    return [f"{start}/{end}", "AWS", "123", "2025-10-01T00:00:00Z", f"2025-10-{day:02d} {hour:02d}:00:00+00:00",
            "456", resource, cost, "0.5", "1", "AmazonEC2", "Usage", "USD", "Amazon EC2", "x", b, a, "", "role", env,
            "BoxUsage", "RunInstances", ""]


ROWS = [
    cur_row(1, 0, "i-1", "1.5", b="x", a="1", env="prod"),
    cur_row(1, 1, "i-1", "abc", b="x", a="1", env="prod"),  # safe_float: unparseable -> 0.0
    cur_row(1, 1, "vol-1", "2", a="NA"),  # pandas' NA string: missing, written back as '' -> not in the JSON
    cur_row(2, 0, "i-1", "4", b="y"),
    cur_row(2, 1, "i-1", "8", b="y"),
]


@pytest.fixture()
def converted(tmp_path) -> tuple[Path, dict]:
    csv_dir = tmp_path / "nise" / "report" / "20251001-20251101" / "assembly"
    csv_dir.mkdir(parents=True)
    text = ",".join(HEADER) + "\n" + "\n".join(",".join(r) for r in ROWS) + "\n"
    with gzip.open(csv_dir / "October-2025-report.csv.gz", "wt") as fh:
        fh.write(text)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "scenario.json").write_text(json.dumps({"schema": "acct10001", "account": "10001", "year": "2025",
                                                       "month": "10", "source_uuid": "ocp"}))
    # batch size 2: the downloader's batches are rows 0-1, 2-3, 4 of the file
    aws = conv.convert(tmp_path / "nise", dataset, UUID, "acct", 2, 7, 0, overwrite=False)
    return dataset, aws


def folder(dataset: Path, daily: bool) -> Path:
    base = dataset / "data" / "parquet" / ("daily/10001/AWS/raw" if daily else "10001/AWS")
    return base / f"source={UUID}" / "year=2025" / "month=10"


def test_files_follow_the_downloader_batches_and_days(converted):
    dataset, aws = converted
    stem = "{}_manifestid-7_basefile-October-2025-report_batch-{}"
    expected = [stem.format("2025-10-01", 0), stem.format("2025-10-01", 1), stem.format("2025-10-02", 1),
                stem.format("2025-10-02", 2)]
    assert [f["base"] for f in aws["files"]] == expected
    assert [f["rows"] for f in aws["files"]] == [2, 1, 1, 1]
    assert sorted(p.name for p in folder(dataset, False).iterdir()) == sorted(f"{s}_0.parquet" for s in expected)
    assert sorted(p.name for p in folder(dataset, True).iterdir()) == sorted(f"{s}_daily_0.parquet" for s in expected)


def test_columns_types_and_values(converted):
    dataset, aws = converted
    raw = pq.read_table(folder(dataset, False) / f"{aws['files'][0]['base']}_0.parquet")
    kept = {"identity_timeinterval", "bill_billingentity", "bill_payeraccountid", "bill_billingperiodstartdate",
            "lineitem_usagestartdate", "lineitem_usageaccountid", "lineitem_resourceid", "lineitem_unblendedcost",
            "lineitem_unblendedrate", "lineitem_usageamount", "lineitem_productcode", "lineitem_lineitemtype",
            "product_productname", "resourcetags", "costcategory", "lineitem_usagetype", "lineitem_operation",
            "bill_invoiceid"}
    added = {"lineitem_legalentity", "lineitem_lineitemdescription", "lineitem_availabilityzone", "product_region",
             "product_productfamily", "product_instancetype", "product_physicalcores", "product_vcpu",
             "product_memory", "product_operatingsystem", "pricing_unit", "lineitem_normalizationfactor",
             "lineitem_normalizedusageamount", "lineitem_currencycode", "lineitem_blendedrate", "lineitem_blendedcost",
             "savingsplan_savingsplaneffectivecost", "pricing_publicondemandcost", "pricing_publicondemandrate"}
    assert set(raw.column_names) == kept | added  # pricing/currency, product/fooBar and every tag column gone
    assert aws["raw_columns"] == raw.column_names
    utc_ms = pa.timestamp("ms", tz="UTC")
    assert raw.schema.field("lineitem_usagestartdate").type == utc_ms
    assert raw.schema.field("bill_billingperiodstartdate").type == utc_ms
    assert raw.schema.field("lineitem_unblendedcost").type == pa.float64()
    assert raw.schema.field("lineitem_blendedcost").type == pa.float64()  # added with 0.0
    assert raw.schema.field("product_vcpu").type == pa.string()  # added with ''
    rows = raw.to_pandas()
    assert list(rows["lineitem_unblendedcost"]) == [1.5, 0.0]
    assert list(rows["resourcetags"]) == ['{"a": "1", "b": "x"}'] * 2  # sorted column names, prefix removed
    assert list(rows["costcategory"]) == ['{"env": "prod"}'] * 2
    assert list(rows["lineitem_usagestartdate"]) == [pd.Timestamp("2025-10-01 00:00", tz="UTC"),
                                                     pd.Timestamp("2025-10-01 01:00", tz="UTC")]
    assert list(rows["lineitem_legalentity"]) == ["", ""] and list(rows["product_vcpu"]) == ["", ""]
    vol = pq.read_table(folder(dataset, False) / f"{aws['files'][1]['base']}_0.parquet").to_pandas()
    assert list(vol["resourcetags"]) == ["{}"] and list(vol["costcategory"]) == ["{}"]


def test_daily_rows_are_per_file(converted):
    dataset, aws = converted
    daily = pd.concat([pd.read_parquet(folder(dataset, True) / f"{f['base']}_daily_0.parquet") for f in aws["files"]])
    assert list(daily.columns) == list(AWS_DAILY_COLUMNS)
    got = sorted((r.lineitem_resourceid, r.lineitem_usagestartdate.day, r.lineitem_unblendedcost,
                  r.lineitem_usageamount) for r in daily.itertuples())
    # day 2's two i-1 hours landed in batches 1 and 2, so Koku's daily table has two partial rows for them
    assert got == [("i-1", 1, 1.5, 2.0), ("i-1", 2, 4.0, 1.0), ("i-1", 2, 8.0, 1.0), ("vol-1", 1, 2.0, 1.0)]
    assert daily["row_uuid"].is_unique


def test_scenario_aws_block(converted):
    dataset, aws = converted
    scenario = json.loads((dataset / "scenario.json").read_text())
    assert scenario["source_uuid"] == "ocp" and scenario["aws"] == aws
    assert (aws["source_uuid"], aws["payer_account"], aws["usage_accounts"]) == (UUID, "123", ["456"])
    assert aws["enabled_tag_keys"] == ["a", "b"]  # 'never' has no value in the file: the downloader drops it
    assert aws["category_keys"] == ["env"]
    assert (aws["start_date"], aws["end_date"]) == ("2025-10-01", "2025-10-02")


def test_refuses_to_overwrite_and_rejects_other_months(converted, tmp_path):
    dataset, _ = converted
    with pytest.raises(SystemExit, match="--overwrite"):
        conv.convert(tmp_path / "nise", dataset, UUID, "acct", 2, 7, 0, overwrite=False)
    scenario = json.loads((dataset / "scenario.json").read_text())
    (dataset / "scenario.json").write_text(json.dumps({**scenario, "month": "11"}))
    with pytest.raises(SystemExit, match="outside the dataset's month"):
        conv.convert(tmp_path / "nise", dataset, UUID, "acct", 2, 7, 0, overwrite=True)


def test_a_cur_without_a_daily_key_is_refused_by_name(tmp_path):
    rows = pd.DataFrame([cur_row(1, 0, "i-1", "1")], columns=HEADER).drop(columns=["lineItem/Operation"])
    with pytest.raises(SystemExit, match="lineitem_operation"):
        conv.post_process(rows.astype(object))
