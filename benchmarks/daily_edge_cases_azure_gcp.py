#!/usr/bin/env python3
"""A hand-made Azure + GCP dataset of the edge cases of Koku's daily summaries, in Koku's Parquet layout.

    .venv/bin/python benchmarks/daily_edge_cases_azure_gcp.py OUT_DIR
    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py OUT_DIR --provider azure
    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py OUT_DIR --provider gcp
    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py OUT_DIR --provider gcp --start 2026-02-01 --end 2026-02-28

Azure (March 2026, partition 2026/03): two subscriptions (one line with subscriptionid '' and subscriptionname '',
so the guid stands for both), servicename '' (the meter category stands in), billingcurrencycode '', units '100
Hours' of Virtual Machines and of Storage, '10 GB', '1 GB/Month', '1 Hour', '10 GB ' (trailing space), '' and
'Hours'; refunds (negative costs), zero costs, costs on a half-way point of the 9th decimal, an AdditionalInfo
ServiceType that is a number, missing or not an object; tags with odd characters (quotes, unicode, commas, colons,
backslashes, an empty value, a number, a null, keys differing in case) of which only some keys are enabled; lines on
the month's first and last day, and lines dated in February and April inside the March partition (outside the
range: dropped); resource ids repeated, '' and distinct.

GCP (invoice months 202602, 202603, 202604): hourly lines of invoice 202603 from Feb 27 to Apr 2 in partition
2026/03 (the crossover days), an invoice-202602 line on Mar 1 in partition 2026/02, an invoice-202604 line on Mar 31
in partition 2026/04; lines at 23:00 (ending the next day: a group of their own); credits with several amounts
(negative, on a half-way point, '{}', null); refunds; region '', NULL and set; machine spec present, absent, a number;
odd label texts; two billing accounts and three projects. The daily table (gcp_line_items_daily) is Koku's group-by
of the raw lines (poc_tasks.sample.gcp.koku_gcp_daily). scenario.json names both sources and the enabled keys.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poc_tasks.sample.gcp import koku_gcp_daily  # noqa: E402

SCHEMA = "org9bedge"
AZURE = "a1e0c0de-0000-4000-8000-00000000a2e0"
GCP = "9c0e0c0d-0000-4000-8000-0000000009c0"
AZ_KEYS = ["app", "env", "Owner", "cost-center"]
GCP_KEYS = ["app", "team", "Ünïcode"]
ODD_TAGS = [
    {"app": "web \"quoted\"", "env": "prod", "owner": "x"},
    {"app": "db, with: colons", "Owner": "Ünï", "cost-center": ""},
    {"app": "back\\slash", "env": 7, "extra": None},
    {"App": "upper", "env": None},
    {},
]


def _azure_line(day: dt.date, i: int, **kw) -> dict:
    line = {
        "date": dt.datetime(day.year, day.month, day.day), "subscriptionid": "sub-a", "subscriptionguid": "guid-a",
        "subscriptionname": "Subscription A", "resourcelocation": "eastus", "servicename": "Virtual Machines",
        "metercategory": "Virtual Machines", "metername": "D2 v3", "additionalinfo": json.dumps(
            {"ServiceType": "Standard_D2s_v3", "VCPUs": 2}), "quantity": 24.0,
        "costinbillingcurrency": 1.1234567895 + i * 0.01, "billingcurrencycode": "USD", "billingcurrency": "USD",
        "tags": json.dumps(ODD_TAGS[i % len(ODD_TAGS)]), "resourceid": f"/subscriptions/sub-a/vm-{i % 3}",
        "unitofmeasure": "1 Hour", "resourcegroup": "rg", "row_uuid": str(uuid.UUID(int=i + 1)),
    }
    line.update(kw)
    return line


def azure_lines() -> list[dict]:
    out = []
    i = 0
    for day in [dt.date(2026, 3, d) for d in (1, 2, 6, 7, 15, 31)]:
        variants = [
            {},
            {"unitofmeasure": "100 Hours", "quantity": 0.24},
            {"unitofmeasure": "100 Hours", "metercategory": "Storage", "servicename": "", "quantity": 0.5},
            {"unitofmeasure": "10 GB", "metercategory": "Storage", "servicename": "Storage", "quantity": 1.25,
             "additionalinfo": json.dumps({"ServiceType": 42})},
            {"unitofmeasure": "1 GB/Month", "servicename": "Storage", "additionalinfo": "{}"},
            {"unitofmeasure": "10 GB ", "servicename": "Bandwidth", "additionalinfo": "[]"},
            {"unitofmeasure": "", "servicename": "Support", "resourceid": ""},
            {"unitofmeasure": "Hours", "costinbillingcurrency": -3.3333333335, "servicename": "Refund"},
            {"costinbillingcurrency": 0.0, "quantity": 0.0},
            {"subscriptionid": "", "subscriptionname": "", "subscriptionguid": "guid-b", "billingcurrencycode": "",
             "billingcurrency": "EUR", "resourceid": "/subscriptions/guid-b/vm-x"},
            {"subscriptionid": "sub-b", "subscriptionname": "", "subscriptionguid": "guid-b2"},
        ]
        for v in variants:
            out.append(_azure_line(day, i, **v))
            i += 1
    # dated outside March inside the March partition: outside [start, end], dropped by Koku's filter
    out.append(_azure_line(dt.date(2026, 2, 28), 999))
    out.append(_azure_line(dt.date(2026, 4, 1), 998))
    return out


def _gcp_line(start: dt.datetime, invoice: str, i: int, **kw) -> dict:
    line = {
        "billing_account_id": "AAAA-01", "service_id": "6F81", "service_description": "Compute Engine",
        "sku_id": "CP-1", "sku_description": "N1 Predefined Instance Core", "usage_start_time": start,
        "usage_end_time": start + dt.timedelta(hours=1), "project_id": "proj-1", "project_name": "Project One",
        "project_labels": "{}", "labels": json.dumps({"app": "web", "team": "a \"b\", c", "drop": "x"}),
        "system_labels": json.dumps({"compute.googleapis.com/machine_spec": "n1-standard-2"}),
        "location_location": "us-east1", "location_country": "US", "location_region": "us-east1",
        "location_zone": "us-east1-b", "export_time": start, "cost": 0.0123456785 + i * 0.001,
        "currency": "USD", "currency_conversion_rate": 1.0, "usage_amount": 3600.0, "usage_unit": "seconds",
        "usage_amount_in_pricing_units": 1.0, "usage_pricing_unit": "hour", "credits": "{}", "invoice_month": invoice,
        "cost_type": "regular", "resource_name": "", "resource_global_name": "", "partition_date": str(start.date()),
    }
    line.update(kw)
    return line


def gcp_lines() -> list[dict]:
    out, i = [], 0
    days = [dt.date(2026, 2, 27), dt.date(2026, 2, 28), dt.date(2026, 3, 1), dt.date(2026, 3, 4), dt.date(2026, 3, 5),
            dt.date(2026, 3, 6), dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2026, 4, 2)]
    for day in days:
        for hour in (0, 7, 23):
            start = dt.datetime(day.year, day.month, day.day, hour)
            variants = [
                {},
                {"credits": json.dumps({"name": "SUD", "amount": -0.0012345675, "type": "SUSTAINED_USAGE_DISCOUNT"})},
                {"credits": json.dumps({"name": "FT", "amount": None})},
                {"project_id": "proj-2", "project_name": "Project Two", "location_region": "",
                 "labels": json.dumps({"Ünïcode": "välue", "app": "db"})},
                {"project_id": "proj-3", "project_name": "Project Three", "billing_account_id": "BBBB-02",
                 "location_region": None, "system_labels": "{}", "labels": "{}"},
                {"cost": -0.5000000005, "cost_type": "adjustment", "sku_id": "ADJ", "sku_description": "Refund",
                 "system_labels": json.dumps({"compute.googleapis.com/machine_spec": 12})},
                {"sku_id": "PD-1", "sku_description": "Storage PD Capacity", "usage_pricing_unit": "gibibyte month",
                 "usage_amount_in_pricing_units": 123456789.12345678, "cost": 2.5e-10},
            ]
            for v in variants:
                out.append(_gcp_line(start, "202603", i, **v))
                i += 1
    out.append(_gcp_line(dt.datetime(2026, 3, 1, 5), "202602", i, cost=7.0))  # invoice Feb, used Mar 1
    out.append(_gcp_line(dt.datetime(2026, 3, 31, 5), "202604", i + 1, cost=9.0))  # invoice Apr, used Mar 31
    return out


def _nulls(values: list) -> list:
    """pandas' NaN of a missing text (a NULL region after the group-by) as None."""
    return [None if isinstance(v, float) and v != v else v for v in values]


def _write(folder: Path, name: str, table: pa.Table) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name, row_group_size=50)


def main() -> int:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path("/tmp/daily_edge_cases")
    base = root / "data" / "parquet"
    az = pd.DataFrame(azure_lines())
    az_types = {"date": pa.timestamp("ms"), "quantity": pa.float64(), "costinbillingcurrency": pa.float64()}
    az_table = pa.table({c: pa.array(az[c].tolist(), az_types.get(c, pa.string())) for c in az.columns})
    _write(base / SCHEMA / "Azure" / f"source={AZURE}/year=2026/month=03", "2026-03_edge_0.parquet", az_table)
    gcp = pd.DataFrame(gcp_lines())
    ts = pa.timestamp("ms", tz="UTC")
    g_types = {"usage_start_time": ts, "usage_end_time": ts, "export_time": ts, "cost": pa.float64(),
               "currency_conversion_rate": pa.float64(), "usage_amount": pa.float64(),
               "usage_amount_in_pricing_units": pa.float64()}
    counter = iter(range(1, 10**6))
    for invoice, part in gcp.groupby("invoice_month"):
        year, month = invoice[:4], invoice[4:]
        raw = pa.table({c: pa.array(part[c].tolist(), g_types.get(c, pa.string())) for c in part.columns})
        _write(base / SCHEMA / "GCP" / f"source={GCP}/year={year}/month={month}", f"{invoice}_edge_0.parquet", raw)
        frame = part.copy()
        for c in ("usage_start_time", "usage_end_time", "export_time"):
            frame[c] = pd.to_datetime(frame[c]).dt.tz_localize("UTC")
        daily = koku_gcp_daily(frame, lambda: str(uuid.UUID(int=next(counter))))
        daily_types = {**g_types, "daily_credits": pa.float64()}
        dtable = pa.table({c: pa.array(_nulls(daily[c].tolist()), daily_types.get(c, pa.string()))
                           for c in daily.columns})
        _write(base / "daily" / SCHEMA / "GCP" / "raw" / f"source={GCP}/year={year}/month={month}",
               f"{invoice}_edge_daily_0.parquet", dtable)
    scenario = {
        "schema": SCHEMA, "account": SCHEMA, "year": "2026", "month": "03", "start_date": "2026-03-01",
        "end_date": "2026-03-31",
        "azure": {"source_uuid": AZURE, "enabled_tag_keys": AZ_KEYS},
        "gcp": {"source_uuid": GCP, "enabled_tag_keys": GCP_KEYS},
    }
    (root / "scenario.json").write_text(json.dumps(scenario, indent=1) + "\n")
    print(json.dumps({"root": str(root), "azure_lines": len(az), "gcp_lines": len(gcp)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
