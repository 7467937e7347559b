#!/usr/bin/env python3
"""The AWS daily summary at scale: poc_tasks beside Koku's Trino SQL on DuckDB, on the same month of lines.

    .venv/bin/python benchmarks/bench_daily_aws.py --lines 5000000 [--work /tmp/bench_daily_aws] [--keep-data]

1. generates a 30-day month of ``aws_line_items_daily`` in Koku's layout (one file per day, 64 k-row groups):
   --lines lines, resources with 3 line types each (usage, savings-plan covered + negation on a quarter of them),
   5 accounts, 12 products, 6 regions, resource tags from 4000 distinct texts (a Koku group key), 8 cost categories;
2. poc_tasks: ``run aws`` in a child process (prepare, 5-day chunks, one transaction COPY into PostgreSQL);
3. Koku: the same month through reporting_awscostentrylineitem_daily_summary.sql rendered per 5-day chunk, transpiled
   to DuckDB (the oracle's trino_duckdb.py) and run in a child process of ORACLE_PYTHON, twice: the SELECT alone
   (counted, nothing written) and with its INSERT into PostgreSQL (rows pulled through pandas and COPYed, as the
   harness does);
4. prints wall time and peak RSS (the child's ru_maxrss) of each, side by side, and the row counts (equal).

A development tool (needs ORACLE_PYTHON with duckdb/sqlglot, KOKU_GIT_DIR, PostgreSQL at POC_BENCH_URL, default
postgresql://postgres@127.0.0.1:5432/). It creates and drops its own databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_URL = os.environ.get("POC_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/").rstrip("/")
ORACLE_PYTHON = os.environ.get("ORACLE_PYTHON", "/tmp/i9a-oracle-venv/bin/python")
SCHEMA = "org5550001"
SOURCE = "6a5b4c3d-2e1f-4a9b-8c7d-6e5f4a3b2c1d"
MONTH = dt.date(2026, 4, 1)
DAYS = 30


def generate(root: Path, lines: int, seed: int = 7) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    folder = (root / "data" / "parquet" / "daily" / SCHEMA / "AWS" / "raw" / f"source={SOURCE}"
              / f"year={MONTH:%Y}" / f"month={MONTH:%m}")
    folder.mkdir(parents=True, exist_ok=True)
    per_day = lines // DAYS
    resources = max(per_day // 3, 1)
    accounts = np.array([f"{100000000000 + i}" for i in range(5)], dtype=object)
    products = np.array(["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSELB", "AmazonVPC", "AmazonCloudWatch",
                         "AmazonEKS", "AmazonRoute53", "AWSLambda", "AmazonDynamoDB", "AmazonSNS", "AmazonSQS"],
                        dtype=object)
    families = np.array(["Compute Instance", "Storage", "Database Instance", "Load Balancer", "", "Metric"],
                        dtype=object)
    regions = np.array(["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1"],
                       dtype=object)
    tags = np.array([json.dumps({"app": f"app-{i % 97}", "team": f"team-{i % 13}", "env": ["dev", "prod"][i % 2],
                                 "Name": f"instance-{i}"}) for i in range(4000)], dtype=object)
    cats = np.array([json.dumps({"cc": f"cc-{i}"}) for i in range(8)], dtype=object)
    r_account = rng.integers(0, 5, resources)
    r_product = rng.integers(0, len(products), resources)
    r_region = rng.integers(0, len(regions), resources)
    r_tags = rng.integers(0, len(tags), resources)
    r_cat = rng.integers(0, len(cats), resources)
    r_type = rng.integers(0, 8, resources)
    rid = np.array([f"i-{i:012x}" for i in range(resources)], dtype=object)
    for d in range(DAYS):
        day = MONTH + dt.timedelta(days=d)
        idx = rng.integers(0, resources, per_day)
        kind = rng.random(per_day)
        line_type = np.where(kind < 0.1, "SavingsPlanCoveredUsage", np.where(kind < 0.2, "SavingsPlanNegation",
                             np.where(kind < 0.22, "Tax", "Usage"))).astype(object)
        cost = np.round(rng.gamma(2.0, 0.8, per_day), 10)
        table = pa.table({
            "lineitem_resourceid": rid[idx],
            "lineitem_usagestartdate": pa.array([dt.datetime(day.year, day.month, day.day)] * per_day,
                                                pa.timestamp("ms", tz="UTC")),
            "bill_payeraccountid": np.full(per_day, accounts[0], dtype=object),
            "lineitem_usageaccountid": accounts[r_account[idx]],
            "bill_billingentity": np.full(per_day, "AWS", dtype=object),
            "lineitem_productcode": products[r_product[idx]],
            "lineitem_availabilityzone": np.char.add(regions[r_region[idx]].astype(str), "a").astype(object),
            "lineitem_lineitemtype": line_type,
            "product_productfamily": families[r_product[idx] % len(families)],
            "product_instancetype": np.array([f"m5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge",
                                                                     "", "", "", "")], dtype=object)[r_type[idx]],
            "product_region": regions[r_region[idx]],
            "pricing_unit": np.full(per_day, "Hrs", dtype=object),
            "resourcetags": tags[r_tags[idx]],
            "costcategory": cats[r_cat[idx]],
            "lineitem_usageamount": rng.random(per_day) * 24,
            "lineitem_normalizationfactor": np.full(per_day, 4.0),
            "lineitem_normalizedusageamount": rng.random(per_day) * 96,
            "lineitem_currencycode": np.full(per_day, "USD", dtype=object),
            "lineitem_unblendedrate": np.round(cost / 24, 10),
            "lineitem_unblendedcost": np.where(line_type == "SavingsPlanNegation", -cost, cost),
            "lineitem_blendedrate": np.round(cost / 24, 10),
            "lineitem_blendedcost": cost,
            "pricing_publicondemandcost": cost,
            "pricing_publicondemandrate": np.round(cost / 24, 10),
            "savingsplan_savingsplaneffectivecost": np.where(line_type == "SavingsPlanCoveredUsage", cost * 0.7,
                                                             0.0),
            "product_productname": products[r_product[idx]],
            "product_operatingsystem": np.full(per_day, "Linux", dtype=object),
            "product_vcpu": np.full(per_day, "2", dtype=object),
            "product_memory": np.full(per_day, "8 GiB", dtype=object),
        })
        pq.write_table(table, folder / f"{day}_manifestid-1_basefile-bench_batch-0_daily_0.parquet",
                       row_group_size=65536)
    (root / "scenario.json").write_text(json.dumps({
        "schema": SCHEMA, "account": SCHEMA, "year": f"{MONTH:%Y}", "month": f"{MONTH:%m}",
        "start_date": MONTH.isoformat(), "end_date": (MONTH + dt.timedelta(days=DAYS - 1)).isoformat(),
        "aws": {"source_uuid": SOURCE, "usage_accounts": list(accounts), "enabled_tag_keys": ["app", "team"]}}))


def fresh_db(name: str) -> str:
    import psycopg2

    admin = psycopg2.connect(f"{BASE_URL}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{BASE_URL}/{name}"


def drop_db(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(f"{BASE_URL}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def seed(url: str) -> None:
    import psycopg2

    subprocess.run([sys.executable, "-m", "poc_tasks.cli", "init-db", "--database-url", url, "--schema", SCHEMA],
                   check=True, capture_output=True)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{SCHEMA}"')
        cur.execute("INSERT INTO reporting_tenant_api_provider (uuid, name, type) VALUES (%s, 'bench', 'AWS')",
                    (SOURCE,))
        cur.execute("INSERT INTO reporting_awscostentrybill (id, billing_resource, billing_period_start,"
                    " billing_period_end, provider_id) VALUES (1, 'aws', %s, %s, %s)", (MONTH, MONTH, SOURCE))
        for k in ("app", "team"):
            cur.execute("INSERT INTO reporting_enabledtagkeys (uuid, key, enabled, provider_type)"
                        " VALUES (gen_random_uuid(), %s, true, 'AWS')", (k,))
        for i in range(4):
            cur.execute("INSERT INTO reporting_awsaccountalias (account_id, account_alias) VALUES (%s, %s)",
                        (f"{100000000000 + i}", f"alias-{i}"))
    conn.close()


def child_poc(url: str, root: str) -> dict:
    from poc_tasks.daily.run import DailyRunSpec, run
    from poc_tasks.settings import Settings

    spec = DailyRunSpec.build("AWS", SCHEMA, SOURCE, MONTH, MONTH + dt.timedelta(days=DAYS - 1), 1, 0.1)
    t0 = time.perf_counter()
    result = run(spec, Settings(database_url=url, data_root=root, staging_root=f"{root}/staging"))
    return {"seconds": time.perf_counter() - t0, "rows": result["rows"]["reporting_awscostentrylineitem_daily_summary"],
            "timings": result["timings"]}


def child_koku(url: str, root: str, write: bool) -> dict:
    sys.path.insert(0, str(HERE))
    import daily_parity as dp  # noqa: PLC0415 (needs the oracle's packages: only in this child)
    import psycopg2

    koku = dp.kr.KokuSource(dp.KOKU)
    script = koku.show(dp.SQL["aws"])
    pg = psycopg2.connect(url)
    pg.autocommit = True
    eng = dp.PgArrays(pg, SCHEMA)
    eng.register_hive_dataset(Path(root), SCHEMA)
    start, end = MONTH, MONTH + dt.timedelta(days=DAYS - 1)
    base = {"schema": SCHEMA, "source_uuid": SOURCE, "year": f"{MONTH:%Y}", "month": f"{MONTH:%m}", "markup": 0.1,
            "bill_id": 1, "uuid": "x"}
    t0 = time.perf_counter()
    rows = 0
    for a, b in dp.date_range_pair(start, end):
        rendered = eng.renderer.render(script, {**base, "start_date": a, "end_date": b})
        if write:
            eng.execute_sql(rendered, f"aws {a}")
        else:  # the SELECT alone, counted in DuckDB
            import sqlglot

            tree = dp.td.apply_transforms(sqlglot.parse_one(rendered, read="trino"), eng.hive_column_types)
            for t in dp.td._tables_in(tree, "postgres"):
                eng.pull_pg_table(t.db, t.name)
            select_sql = tree.expression.sql(dialect="duckdb")
            rows += eng.duck.execute(f"SELECT count(*) FROM ({select_sql})").fetchone()[0]  # noqa: S608
    seconds = time.perf_counter() - t0
    if write:
        with pg.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{SCHEMA}".reporting_awscostentrylineitem_daily_summary')  # noqa: S608
            rows = cur.fetchone()[0]
    return {"seconds": seconds, "rows": rows}


def run_child(cmd: list[str]) -> dict:
    """The child under /usr/bin/time: its peak RSS is its own (a child forked straight from this script would be
    charged this script's RSS at the fork, see benchmarks/README.md), measured by wait4 in `time`."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{cmd[:4]} failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["wall_s"] = time.perf_counter() - t0
    data["peak_rss_mib"] = int(out.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0]) / 1024
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_daily_aws"))
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--child", choices=["poc", "koku-select", "koku-insert"])
    ap.add_argument("--url")
    ap.add_argument("--sides", default="poc,koku-select,koku-insert", help="which of the three runs (default all)")
    args = ap.parse_args()
    if args.child:
        if args.child == "poc":
            out = child_poc(args.url, str(args.work))
        else:
            out = child_koku(args.url, str(args.work), args.child == "koku-insert")
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return 0
    scenario = args.work / "scenario.json"
    if not (args.keep_data and scenario.exists() and json.loads(scenario.read_text()).get("lines") == args.lines):
        t0 = time.perf_counter()
        generate(args.work, args.lines)
        sc = json.loads(scenario.read_text())
        sc["lines"] = args.lines
        scenario.write_text(json.dumps(sc))
        print(f"generated {args.lines} lines in {time.perf_counter() - t0:.0f}s under {args.work}")
    me = str(Path(__file__).resolve())
    results = {}
    sides = args.sides.split(",")
    for side, python in (("poc", sys.executable), ("koku-select", ORACLE_PYTHON), ("koku-insert", ORACLE_PYTHON)):
        if side not in sides:
            continue
        name = f"bench_daily_aws_{side.replace('-', '_')}"
        url = fresh_db(name)
        seed(url)
        results[side] = run_child([python, me, "--child", side, "--url", url, "--work", str(args.work)])
        drop_db(name)
    print(f"\nAWS daily summary, {args.lines:,} lines ({DAYS} days), 2-core machine shared with other jobs")
    print(f"{'engine':44s} {'wall s':>8s} {'peak RSS MiB':>13s} {'rows':>10s}")
    labels = {"poc": "poc_tasks run aws (read, compute, COPY)",
              "koku-select": "Koku's SQL on DuckDB, SELECT only",
              "koku-insert": "Koku's SQL on DuckDB + INSERT into PostgreSQL"}
    for side, r in results.items():
        print(f"{labels[side]:44s} {r['wall_s']:8.1f} {r['peak_rss_mib']:13.0f} {r['rows']:10d}")
    if "poc" in results:
        print(f"poc_tasks steps (s): {results['poc']['timings']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
