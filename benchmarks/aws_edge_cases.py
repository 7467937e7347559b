#!/usr/bin/env python3
"""A hand-made AWS dataset of the cases Koku's daily and EC2 summary SQL must get right (Koku's Parquet layout).

    .venv/bin/python benchmarks/aws_edge_cases.py DIR [--days 20]

Writes DIR/data/parquet/daily/{schema}/AWS/raw/source=/year=2026/month=03/<day>_..._daily_0.parquet (the columns
and types of Koku's daily AWS frame) and DIR/scenario.json with an "aws" block, for benchmarks/daily_parity.py.
Every day has:

- savings plans: a covered line (SavingsPlanCoveredUsage), its negation (SavingsPlanNegation: usage dropped, cost
  negated), the recurring fee; the upfront fee on day 1;
- reserved instances: the RIFee line on day 1, DiscountedUsage lines of the reserved instance;
- refunds, credits and taxes: Refund and Credit lines with negative costs (day 3, 4), a Tax line without resource id
  (NULL in the resource ids, not counted), a cost that rounds to zero (-4e-10), values with more than 9 decimals
  and half-way values at the 9th decimal;
- tags with odd characters (quotes, backslash, non-ASCII, emoji, ':' and spaces in keys, a number value), the same
  tags in another key order (another group in Koku's SQL, identical output), NULL and '{}' tags;
- cost categories (an object, '{}', NULL); three usage accounts (the parity seeds give the last no alias and put
  the others in organizational units); Marketplace lines with and without a product name; '' and NULL zones;
- EC2: a compute instance with two tag sets on its last day (two rows), one whose last line in the month is not a
  compute line (no row), a bare-metal family, vcpu/memory '' (NULL).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from pathlib import Path

import pandas as pd

SCHEMA = "org7654321"
SOURCE = "3f1c2a9e-5b7d-4e21-8c3a-6d9e0f1a2b3c"
ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
ODD_TAGS = {"Name": 'web "one"', "app": "ü-naïve €", "team:sub": "x y", "env": "a\\b", "💡": "bulb", "num": 5}
ENABLED = ["Name", "app", "team:sub", "env", "💡", "num", "version"]
COLUMNS = ["lineitem_resourceid", "lineitem_usagestartdate", "bill_payeraccountid", "lineitem_usageaccountid",
           "lineitem_legalentity", "lineitem_lineitemdescription", "bill_billingentity", "lineitem_productcode",
           "lineitem_availabilityzone", "lineitem_lineitemtype", "lineitem_usagetype", "lineitem_operation",
           "product_productfamily", "product_operatingsystem", "product_instancetype", "product_region",
           "pricing_unit", "resourcetags", "costcategory", "lineitem_usageamount", "lineitem_normalizationfactor",
           "lineitem_normalizedusageamount", "lineitem_currencycode", "lineitem_unblendedrate",
           "lineitem_unblendedcost", "lineitem_blendedrate", "lineitem_blendedcost", "pricing_publicondemandcost",
           "pricing_publicondemandrate", "savingsplan_savingsplaneffectivecost", "bill_invoiceid",
           "product_productname", "product_vcpu", "product_memory", "row_uuid"]


def line(day: dt.date, **kw) -> dict:
    base = {
        "lineitem_resourceid": "", "lineitem_usagestartdate": pd.Timestamp(day, tz="UTC"),
        "bill_payeraccountid": ACCOUNTS[0], "lineitem_usageaccountid": ACCOUNTS[0],
        "lineitem_legalentity": "Amazon Web Services, Inc.", "lineitem_lineitemdescription": "",
        "bill_billingentity": "AWS", "lineitem_productcode": "AmazonEC2", "lineitem_availabilityzone": "us-east-1a",
        "lineitem_lineitemtype": "Usage", "lineitem_usagetype": "BoxUsage:m5.large",
        "lineitem_operation": "RunInstances",
        "product_productfamily": "Compute Instance", "product_operatingsystem": "Linux",
        "product_instancetype": "m5.large", "product_region": "us-east-1", "pricing_unit": "Hrs",
        "resourcetags": "{}", "costcategory": "{}", "lineitem_usageamount": 24.0,
        "lineitem_normalizationfactor": 4.0, "lineitem_normalizedusageamount": 96.0, "lineitem_currencycode": "USD",
        "lineitem_unblendedrate": 0.096, "lineitem_unblendedcost": 2.304, "lineitem_blendedrate": 0.096,
        "lineitem_blendedcost": 2.304, "pricing_publicondemandcost": 2.304, "pricing_publicondemandrate": 0.096,
        "savingsplan_savingsplaneffectivecost": 0.0, "bill_invoiceid": "", "product_productname": "Amazon EC2",
        "product_vcpu": "2", "product_memory": "8 GiB",
    }
    base.update(kw)
    base["row_uuid"] = str(uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(base, default=str, sort_keys=True)))
    return base


def day_lines(day: dt.date, first: dt.date, last: dt.date) -> list[dict]:
    n = (day - first).days
    tags = json.dumps(ODD_TAGS, ensure_ascii=False)
    tags_reordered = json.dumps(dict(reversed(list(ODD_TAGS.items()))), ensure_ascii=False)
    rows = [
        # savings plans: covered usage + negation (same group), the recurring fee, the upfront fee on day 1
        line(day, lineitem_resourceid="i-sp1", lineitem_lineitemtype="SavingsPlanCoveredUsage",
             savingsplan_savingsplaneffectivecost=1.5123456789, resourcetags=tags),
        line(day, lineitem_resourceid="i-sp1", lineitem_lineitemtype="SavingsPlanNegation",
             lineitem_unblendedcost=-2.304, lineitem_blendedcost=-2.304, resourcetags=tags),
        line(day, lineitem_resourceid="arn:aws:savingsplans::111111111111:savingsplan/sp-1",
             lineitem_lineitemtype="SavingsPlanRecurringFee", lineitem_productcode="ComputeSavingsPlans",
             product_productfamily="", product_instancetype="", lineitem_availabilityzone="",
             lineitem_unblendedcost=1.2, lineitem_blendedcost=1.2, savingsplan_savingsplaneffectivecost=0.3000000005,
             product_vcpu="", product_memory=""),
        # reserved instance usage
        line(day, lineitem_resourceid="i-ri1", lineitem_lineitemtype="DiscountedUsage", lineitem_unblendedcost=0.0,
             lineitem_blendedcost=0.0, lineitem_usageaccountid=ACCOUNTS[1], resourcetags=tags_reordered,
             costcategory='{"env":"prod","team":"a b"}'),
        # the same odd tags in another key order: another group in Koku's SQL, the same output row
        line(day, lineitem_resourceid="i-odd", resourcetags=tags, lineitem_unblendedcost=0.0000000015,
             lineitem_blendedcost=0.0000000025, product_vcpu="", product_memory=""),
        line(day, lineitem_resourceid="i-odd2", resourcetags=tags_reordered, lineitem_unblendedcost=0.0000000015,
             lineitem_blendedcost=0.0000000025, product_vcpu="", product_memory=""),
        # EBS with '' and NULL zones (two groups), NULL tags and cost category
        line(day, lineitem_resourceid="vol-1", lineitem_productcode="AmazonEC2", product_productfamily="Storage",
             lineitem_availabilityzone="", pricing_unit="GB-Mo", lineitem_usageamount=0.0333333333,
             lineitem_unblendedcost=0.0026666666666, product_instancetype="", resourcetags=None, costcategory=None),
        line(day, lineitem_resourceid="vol-2", lineitem_productcode="AmazonEC2", product_productfamily="Storage",
             lineitem_availabilityzone=None, pricing_unit="GB-Mo", lineitem_usageamount=0.0333333333,
             lineitem_unblendedcost=0.0026666666666, product_instancetype="", resourcetags=None, costcategory=None),
        # Marketplace: named by the product name, or by the code when the name is ''
        line(day, lineitem_resourceid="i-mkt", bill_billingentity="AWS Marketplace", lineitem_productcode="8d24815a",
             product_productname="Red Hat OpenShift", lineitem_usageaccountid=ACCOUNTS[2]),
        line(day, lineitem_resourceid="i-mkt2", bill_billingentity="AWS Marketplace", lineitem_productcode="9e35926b",
             product_productname="", lineitem_usageaccountid=ACCOUNTS[2]),
        # bare metal (LIKE '%Compute Instance%'), a line with a tiny negative cost
        line(day, lineitem_resourceid="i-metal", product_productfamily="Compute Instance (bare metal)",
             product_instancetype="m5.metal", lineitem_unblendedcost=-0.0000000004, product_vcpu="96",
             lineitem_usageaccountid=ACCOUNTS[1]),
        # EC2 with two tag sets on its last day (the tags change on the last day only)
        line(day, lineitem_resourceid="i-two", resourcetags='{"Name":"two-a","version":"1"}'),
    ]
    if day == last:
        rows.append(line(day, lineitem_resourceid="i-two", resourcetags='{"Name":"two-b","version":"2"}',
                         lineitem_usageamount=1.0, lineitem_unblendedcost=0.096))
    # i-late: a compute instance whose last line in the month is CloudWatch, not compute: no EC2 row
    rows.append(line(day, lineitem_resourceid="i-late", lineitem_usageaccountid=ACCOUNTS[2]) if day < last else
                line(day, lineitem_resourceid="i-late", lineitem_productcode="AmazonCloudWatch",
                     product_productfamily="Metric", lineitem_usageaccountid=ACCOUNTS[2]))
    if n == 0:
        rows += [
            line(day, lineitem_resourceid="arn:aws:savingsplans::111111111111:savingsplan/sp-1",
                 lineitem_lineitemtype="SavingsPlanUpfrontFee", lineitem_productcode="ComputeSavingsPlans",
                 product_productfamily="", product_instancetype="", lineitem_unblendedcost=100.0,
                 lineitem_blendedcost=100.0, savingsplan_savingsplaneffectivecost=0.0),
            line(day, lineitem_resourceid="", lineitem_lineitemtype="RIFee", product_productfamily="",
                 lineitem_unblendedcost=50.123456789555, lineitem_blendedcost=50.1234567895,
                 lineitem_usageamount=720.0, lineitem_usageaccountid=ACCOUNTS[1]),
            line(day, lineitem_resourceid=None, lineitem_lineitemtype="Tax", lineitem_productcode="AmazonEC2",
                 product_productfamily="", product_instancetype="", lineitem_availabilityzone="",
                 lineitem_unblendedcost=3.3333333333, lineitem_blendedcost=3.3333333333, pricing_unit=""),
            line(day, lineitem_resourceid="i-tax", lineitem_lineitemtype="Tax", lineitem_productcode="AmazonEC2",
                 product_productfamily="", product_instancetype="", lineitem_availabilityzone="",
                 lineitem_unblendedcost=0.1, lineitem_blendedcost=0.1, pricing_unit=""),
        ]
    if n == 2:
        rows.append(line(day, lineitem_resourceid="i-sp1", lineitem_lineitemtype="Refund",
                         lineitem_unblendedcost=-5.5, lineitem_blendedcost=-5.5, lineitem_usageamount=0.0,
                         resourcetags=tags))
    if n == 3:
        rows.append(line(day, lineitem_resourceid="", lineitem_lineitemtype="Credit", product_productfamily="",
                         lineitem_unblendedcost=-1.23456789012, lineitem_blendedcost=-1.23456789012,
                         lineitem_usageamount=0.0, lineitem_usageaccountid=ACCOUNTS[2]))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--days", type=int, default=20)
    args = ap.parse_args()
    first = dt.date(2026, 3, 1)
    last = first + dt.timedelta(days=args.days - 1)
    folder = (args.dir / "data" / "parquet" / "daily" / SCHEMA / "AWS" / "raw" / f"source={SOURCE}" / "year=2026"
              / "month=03")
    folder.mkdir(parents=True, exist_ok=True)
    day = first
    while day <= last:
        frame = pd.DataFrame(day_lines(day, first, last), columns=COLUMNS)
        frame["lineitem_usagestartdate"] = frame["lineitem_usagestartdate"].astype("datetime64[ms, UTC]")
        frame.to_parquet(folder / f"{day}_manifestid-1_basefile-edge_batch-0_daily_0.parquet", index=False)
        day += dt.timedelta(days=1)
    scenario = {"schema": SCHEMA, "account": SCHEMA, "year": "2026", "month": "03", "start_date": first.isoformat(),
                "end_date": last.isoformat(),
                "aws": {"source_uuid": SOURCE, "source_name": "AWS edge cases", "payer_account": ACCOUNTS[0],
                        "usage_accounts": ACCOUNTS, "enabled_tag_keys": ENABLED, "category_keys": ["env", "team"],
                        "year": "2026", "month": "03", "start_date": first.isoformat(), "end_date": last.isoformat()}}
    (args.dir / "scenario.json").write_text(json.dumps(scenario, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({"dir": str(args.dir), "days": args.days}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
