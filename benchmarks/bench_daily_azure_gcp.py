#!/usr/bin/env python3
"""Write a month of synthetic Azure and GCP line items at a chosen size, in Koku's layout, for the daily-summary
benchmark (then run benchmarks/daily_parity_azure_gcp.py on it: parity, poc_tasks' wall time and peak RSS, and
Koku's SQL on DuckDB on the same data, side by side).

    .venv/bin/python benchmarks/bench_daily_azure_gcp.py OUT_DIR --azure-lines 1000000 --gcp-lines 1000000
    .venv/bin/python benchmarks/bench_daily_azure_gcp.py OUT_DIR --azure-lines 5000000 --gcp-lines 5000000 \
        --gcp-daily-sample 5000      # the 5 M month of docs/daily-azure-gcp.md
    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py OUT_DIR --provider azure
    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py OUT_DIR --provider gcp

Cardinalities follow a mid-size tenant: 4 subscriptions / 3 billing accounts x 12 projects, 8 locations/regions,
30 services, a resource id per ~6 Azure lines of a day, ~300 distinct tag texts (5 keys enabled of 8), ~60
AdditionalInfo texts, Azure's units with multipliers, GCP hourly lines with credits on a third of them and 2 % of
the lines invoiced in the month before (crossover days). Costs have 10 decimals (half-way ties at the 9th decimal
happen, as in nise data). Deterministic for --seed. One Parquet file per day (row groups of 100,000 lines), as
Koku's ingestion writes them; GCP's daily table (read by the invoice-month lookup only) is Koku's group-by of the
raw lines (poc_tasks.sample.gcp.koku_gcp_daily).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SCHEMA = "org9bbench"
AZURE = "b3e0c0de-0000-4000-8000-00000000a2e0"
GCP = "b9c0e0cd-0000-4000-8000-0000000009c0"
KEYS = ["app", "env", "team", "owner", "cost-center", "version", "tier", "release"]
ENABLED = KEYS[:5]
AZ_UNITS = ["1 Hour", "100 Hours", "10 GB", "1 GB/Month", "1 GB", "10000 Transactions", "1/Month", "10 Hours"]
AZ_SERVICES = [f"Service {i}" for i in range(30)]
ROW_GROUP = 100_000


def _tags(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for i in range(n):
        k = rng.choice(KEYS, size=int(rng.integers(0, 6)), replace=False)
        out.append(json.dumps({str(key): f"v{(i * 7 + j) % 11}" for j, key in enumerate(k)}))
    return out


def azure_day(rng: np.random.Generator, day: dt.date, n: int) -> pa.Table:
    tags = np.array(_tags(rng, 300), dtype=object)
    infos = np.array([json.dumps({"ServiceType": f"Standard_D{i % 16}s_v3", "VCPUs": i % 8}) for i in range(60)]
                     + ["{}"], dtype=object)
    subs = np.array([f"sub-{i}" for i in range(4)], dtype=object)
    svc_idx = rng.integers(0, len(AZ_SERVICES), n)
    resources = rng.integers(0, max(1, n // 6), n)
    unit_idx = rng.integers(0, len(AZ_UNITS), n)
    category = np.where(unit_idx == 1, np.where(rng.random(n) < 0.5, "Virtual Machines", "Storage"), "Other")
    sub = subs[rng.integers(0, len(subs), n)]
    return pa.table({
        "date": pa.array(np.full(n, np.datetime64(day, "ms"))),
        "subscriptionid": pa.array(np.where(rng.random(n) < 0.05, "", sub).astype(object)),
        "subscriptionguid": pa.array(np.char.add("guid-", sub.astype(str)).astype(object)),
        "subscriptionname": pa.array(np.char.add("Subscription ", sub.astype(str)).astype(object)),
        "resourcelocation": pa.array(np.array([f"region-{i}" for i in range(8)], dtype=object)[rng.integers(0, 8, n)]),
        "servicename": pa.array(np.array(AZ_SERVICES, dtype=object)[svc_idx]),
        "metercategory": pa.array(category.astype(object)),
        "additionalinfo": pa.array(infos[rng.integers(0, len(infos), n)]),
        "quantity": pa.array(np.round(rng.gamma(2.0, 3.0, n), 10)),
        "costinbillingcurrency": pa.array(np.round(rng.gamma(1.5, 0.8, n) * np.where(rng.random(n) < 0.01, -1, 1),
                                                   10)),
        "billingcurrencycode": pa.array(np.full(n, "USD", dtype=object)),
        "billingcurrency": pa.array(np.full(n, "USD", dtype=object)),
        "tags": pa.array(tags[rng.integers(0, len(tags), n)]),
        "resourceid": pa.array(np.char.add("/subscriptions/x/resourceGroups/rg/providers/p/r-",
                                           resources.astype(str)).astype(object)),
        "unitofmeasure": pa.array(np.array(AZ_UNITS, dtype=object)[unit_idx]),
    })


def gcp_day(rng: np.random.Generator, day: dt.date, n: int, month: str, before: str) -> pa.Table:
    labels = np.array(_tags(rng, 300), dtype=object)
    specs = np.array([json.dumps({"compute.googleapis.com/machine_spec": f"n1-standard-{2 ** (i % 5)}"})
                      for i in range(10)] + ["{}"], dtype=object)
    hours = rng.integers(0, 24, n)
    start = np.datetime64(day, "ms") + hours.astype("timedelta64[h]").astype("timedelta64[ms]")
    project = rng.integers(0, 12, n)
    sku = rng.integers(0, 200, n)
    cost = np.round(rng.gamma(1.2, 0.05, n), 10)
    credit_amount = np.round(-cost * rng.random(n) * 0.3, 10)
    credits = np.where(rng.random(n) < 0.33, [json.dumps({"name": "SUD", "amount": float(a), "type": "SUD"})
                                              for a in credit_amount], "{}")
    invoice = np.where((day.day == 1) & (rng.random(n) < 0.6), before, month)
    return pa.table({
        "billing_account_id": pa.array(np.array(["AAAA-01", "BBBB-02", "CCCC-03"], dtype=object)[project % 3]),
        "service_id": pa.array(np.char.add("SVC-", (sku % 30).astype(str)).astype(object)),
        "service_description": pa.array(np.char.add("Service ", (sku % 30).astype(str)).astype(object)),
        "sku_id": pa.array(np.char.add("SKU-", sku.astype(str)).astype(object)),
        "sku_description": pa.array(np.char.add("Sku ", sku.astype(str)).astype(object)),
        "usage_start_time": pa.array(start, pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC")),
        "usage_end_time": pa.array(start + np.timedelta64(1, "h").astype("timedelta64[ms]"),
                                   pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC")),
        "project_id": pa.array(np.char.add("proj-", project.astype(str)).astype(object)),
        "project_name": pa.array(np.char.add("Project ", project.astype(str)).astype(object)),
        "labels": pa.array(labels[rng.integers(0, len(labels), n)]),
        "system_labels": pa.array(specs[rng.integers(0, len(specs), n)]),
        "location_region": pa.array(np.array([f"region-{i}" for i in range(7)] + [""], dtype=object)[sku % 8]),
        "cost": pa.array(cost),
        "currency": pa.array(np.full(n, "USD", dtype=object)),
        "usage_amount_in_pricing_units": pa.array(np.round(rng.gamma(2.0, 1.5, n), 10)),
        "usage_pricing_unit": pa.array(np.full(n, "hour", dtype=object)),
        "credits": pa.array(credits.astype(object)),
        "invoice_month": pa.array(invoice.astype(object)),
        "cost_type": pa.array(np.where(rng.random(n) < 0.01, "adjustment", "regular").astype(object)),
        "resource_name": pa.array(np.full(n, "", dtype=object)),
        "resource_global_name": pa.array(np.full(n, "", dtype=object)),
    })


def gcp_daily(raw: pa.Table, day: dt.date) -> pa.Table:
    """Koku's gcp_line_items_daily of a day's raw lines (poc_tasks.sample.gcp.koku_gcp_daily)."""
    import uuid

    from poc_tasks.sample.gcp import koku_gcp_daily

    seq = iter(range(1, 10**9))
    daily = koku_gcp_daily(raw.to_pandas(), lambda: str(uuid.UUID(int=next(seq) + day.toordinal() * 10**7)))
    return pa.Table.from_pandas(daily, preserve_index=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--azure-lines", type=int, default=1_000_000, help="lines in the month (default 1,000,000)")
    ap.add_argument("--gcp-lines", type=int, default=1_000_000, help="raw lines in the month (default 1,000,000)")
    ap.add_argument("--year", type=int, default=2026)
    ap.add_argument("--month", type=int, default=3)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--gcp-daily-sample", type=int, default=0,
                    help="build GCP's daily table from the first N lines of each day's part (default 0: all). It is "
                         "read only by the invoice-month lookup (min and max day), which any sample of a day gives "
                         "alike; Koku's pandas group-by of every line takes minutes a day on a loaded machine")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    first = dt.date(args.year, args.month, 1)
    days = [first + dt.timedelta(days=i) for i in range(31) if (first + dt.timedelta(days=i)).month == first.month]
    ym = f"{first:%Y}", f"{first:%m}"
    before = (first - dt.timedelta(days=1)).strftime("%Y%m")
    base = args.out / "data" / "parquet" / SCHEMA
    for day in days:
        if args.azure_lines:
            folder = base / "Azure" / f"source={AZURE}" / f"year={ym[0]}" / f"month={ym[1]}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(azure_day(rng, day, args.azure_lines // len(days)), folder / f"{day}_bench_0.parquet",
                           row_group_size=ROW_GROUP)
        if args.gcp_lines:
            t = gcp_day(rng, day, args.gcp_lines // len(days), f"{ym[0]}{ym[1]}", before)
            for invoice in set(t.column("invoice_month").to_pylist()):
                part = t.filter(pa.compute.equal(t.column("invoice_month"), invoice))
                folder = base / "GCP" / f"source={GCP}" / f"year={invoice[:4]}" / f"month={invoice[4:]}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(part, folder / f"{invoice}_{day}_bench_0.parquet", row_group_size=ROW_GROUP)
                daily = args.out / "data" / "parquet" / "daily" / SCHEMA / "GCP" / "raw" / folder.relative_to(
                    base / "GCP")
                daily.mkdir(parents=True, exist_ok=True)
                sample = part.slice(0, args.gcp_daily_sample) if args.gcp_daily_sample else part
                pq.write_table(gcp_daily(sample, day), daily / f"{invoice}_{day}_bench_daily_0.parquet")
    scenario = {"schema": SCHEMA, "account": SCHEMA, "year": ym[0], "month": ym[1],
                "start_date": str(days[0]), "end_date": str(days[-1]),
                "azure": {"source_uuid": AZURE, "enabled_tag_keys": ENABLED},
                "gcp": {"source_uuid": GCP, "enabled_tag_keys": ENABLED}}
    (args.out / "scenario.json").write_text(json.dumps(scenario, indent=1) + "\n")
    print(json.dumps({"out": str(args.out), "azure_lines": args.azure_lines, "gcp_lines": args.gcp_lines,
                      "days": len(days)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
