#!/usr/bin/env python3
"""Parity of the cloud daily summaries with Koku's Trino SQL, run on DuckDB (the oracle's trino_duckdb.py).

    ORACLE_PYTHON benchmarks/daily_parity.py DATASET [--flows aws,aws-ec2] [--markup 10] [--no-org-units]

DATASET is Koku's Parquet layout with a scenario.json holding an "aws" block (``poc-tasks sample --with-aws``,
benchmarks/nise_aws_to_koku_parquet.py, benchmarks/aws_edge_cases.py). For each flow:

1. two fresh PostgreSQL databases (``<prefix>_poc`` and ``<prefix>_ref``), each with the dataset's tenant schema made
   by ``poc-tasks init-db`` and the same seeds: the AWS provider and one bill (id 1), the scenario's enabled AWS tag
   keys, an account alias for every usage account but the last (a NULL alias stays possible), and (unless
   --no-org-units) organizational units that exercise Koku's join: the first account in two units valid on every day
   (two rows per group), the second in one unit deleted mid-month;
2. poc_tasks writes ``<prefix>_poc`` (``poc-tasks run aws|aws-ec2``, a subprocess of this checkout's .venv);
3. Koku's Trino SQL is read from the Koku git directory at run time (KOKU_GIT_DIR), rendered with the parameters
   Koku's accessor passes (the daily summary once per 5-day chunk, as the updater calls it; the EC2 summary once),
   transpiled to DuckDB by trino_duckdb.py and run on the same Parquet; its INSERT lands in ``<prefix>_ref``;
4. both tables are exported (uuid dropped, ``resource_ids`` as its sorted elements) and compared row by row by the
   oracle's compare.py (a multiset comparison on the group key; numbers within 1e-9 relative / 1.01e-9 absolute:
   one unit in the 9th decimal, see docs/daily-summaries.md "Deviations").

Exit 0 only when every table is equal. A development tool (not run by CI): it needs the oracle harness
(ORACLE_DIR, default /work/shared/oracle), a Python with its packages (this script's interpreter: duckdb, sqlglot,
psycopg2, pandas), KOKU_GIT_DIR and PostgreSQL (POC_PARITY_URL, default postgresql://postgres@127.0.0.1:5432/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg2

ORACLE_DIR = Path(os.environ.get("ORACLE_DIR", "/work/shared/oracle"))
sys.path.insert(0, str(ORACLE_DIR))
import koku_reference as kr  # noqa: E402
import trino_duckdb as td  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
POC = os.environ.get("POC_TASKS", str(HERE / ".venv" / "bin" / "poc-tasks"))
BASE_URL = os.environ.get("POC_PARITY_URL", "postgresql://postgres@127.0.0.1:5432/").rstrip("/")
KOKU = os.environ.get("KOKU_GIT_DIR", "/work/.mirror/project-koku+koku/repo")
SQL = {
    "aws": "koku/masu/database/trino_sql/aws/reporting_awscostentrylineitem_daily_summary.sql",
    "aws-ec2": "koku/masu/database/trino_sql/aws/reporting_awscostentrylineitem_summary_by_ec2_compute_p.sql",
}
TABLE = {"aws": "reporting_awscostentrylineitem_daily_summary",
         "aws-ec2": "reporting_awscostentrylineitem_summary_by_ec2_compute_p"}
KEYS = {
    "aws": ["usage_start", "usage_account_id", "product_code", "product_family", "availability_zone", "region",
            "instance_type", "unit", "tags", "cost_category", "resource_ids", "organizational_unit_id"],
    "aws-ec2": ["resource_id", "instance_type", "tags", "cost_category", "memory", "vcpu"],
}
TIE_TOL = 1.01e-9  # one unit in the 9th decimal (+ float slack): a half-way tie rounded on the other side


class PgArrays(td.TrinoDuckDB):
    """trino_duckdb's push casts a LIST to VARCHAR ('[a, b]'); PostgreSQL arrays need '{a,b}'."""

    def push_to_pg(self, schema: str, table: str, columns: list[str], select_sql: str) -> int:
        rel = self.duck.sql(select_sql)
        names = [f"c{i}" for i in range(len(rel.columns))]
        outer = []
        for i, t in enumerate(rel.types):
            ts = str(t).upper()
            if ts.endswith("[]"):
                outer.append(f"to_json(c{i})::VARCHAR AS c{i}")  # a JSON list; turned into an array literal below
            elif ts in ("UUID", "JSON") or ts.startswith(("MAP", "STRUCT", "DECIMAL")):
                outer.append(f"CAST(c{i} AS VARCHAR) AS c{i}")  # decimals as exact text, not through a double
            else:
                outer.append(f"c{i}")
        query = f"SELECT {', '.join(outer)} FROM ({select_sql}) AS __src({', '.join(names)})"  # noqa: S608 (Koku's SQL)
        df = self.duck.execute(query).df()
        for i, t in enumerate(rel.types):
            if str(t).upper().endswith("[]"):
                df[f"c{i}"] = [None if v is None else _pg_array(json.loads(v)) for v in df[f"c{i}"]]
        df.columns = columns
        if df.empty:
            return 0
        return kr.copy_dataframe(self.pg, schema, table, df, kr.table_columns(self.pg, schema, table))


def _pg_array(items: list) -> str:
    def one(v):
        if v is None:
            return "NULL"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(one(v) for v in items) + "}"


def date_range_pair(start: dt.date, end: dt.date, step: int = 5) -> list[tuple[dt.date, dt.date]]:
    out, first, mark = [], start, start + dt.timedelta(days=step)
    while mark < end:
        out.append((first, mark))
        first, mark = mark + dt.timedelta(days=1), mark + dt.timedelta(days=step)
    return [*out, (first, end)]


def fresh_db(name: str) -> str:
    admin = psycopg2.connect(f"{BASE_URL}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{BASE_URL}/{name}"


def seed(url: str, sc: dict, aws: dict, org_units: bool) -> None:
    subprocess.run([POC, "init-db", "--database-url", url, "--schema", sc["schema"]], check=True,
                   capture_output=True)
    s = sc["schema"]
    month = dt.date(int(aws.get("year", sc["year"])), int(aws.get("month", sc["month"])), 1)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{s}"')
        cur.execute("INSERT INTO reporting_tenant_api_provider (uuid, name, type) VALUES (%s, 'AWS source', 'AWS')",
                    (aws["source_uuid"],))
        cur.execute("INSERT INTO reporting_awscostentrybill (id, billing_resource, billing_period_start,"
                    " billing_period_end, provider_id, payer_account_id) VALUES (1, 'aws', %s, %s, %s, %s)",
                    (month, month, aws["source_uuid"], aws.get("payer_account")))
        for k in aws.get("enabled_tag_keys", []):
            cur.execute("INSERT INTO reporting_enabledtagkeys (uuid, key, enabled, provider_type)"
                        " VALUES (gen_random_uuid(), %s, true, 'AWS')", (k,))
        cur.execute("INSERT INTO reporting_enabledtagkeys (uuid, key, enabled, provider_type)"
                    " VALUES (gen_random_uuid(), 'disabled-key', false, 'AWS') ON CONFLICT DO NOTHING")
        accounts = list(aws.get("usage_accounts", []))
        for i, a in enumerate(accounts[:-1] if len(accounts) > 1 else accounts, start=1):
            cur.execute("INSERT INTO reporting_awsaccountalias (id, account_id, account_alias) VALUES (%s, %s, %s)",
                        (i, a, f"alias-{a}"))
        if org_units and accounts:
            mid = month + dt.timedelta(days=14)
            rows = [(1, "Root", "r-1", "r-1", 0, 1, month - dt.timedelta(days=40), None),
                    (2, "Eng", "ou-2", "r-1&ou-2", 1, 1, month - dt.timedelta(days=40), None)]
            if len(accounts) > 2:
                rows.append((3, "Old", "ou-3", "r-1&ou-3", 1, 2, month - dt.timedelta(days=40), mid))
            for r in rows:
                cur.execute("INSERT INTO reporting_awsorganizationalunit (id, org_unit_name, org_unit_id,"
                            " org_unit_path, level, account_alias_id, created_timestamp, deleted_timestamp,"
                            " provider_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", (*r, aws["source_uuid"]))
    conn.close()


def run_poc(flow: str, url: str, root: Path, sc: dict, aws: dict, start: str, end: str, markup: float) -> float:
    t0 = time.perf_counter()
    subprocess.run([POC, "run", flow, "--database-url", url, "--data-root", str(root), "--schema", sc["schema"],
                    "--source-uuid", aws["source_uuid"], "--start", start, "--end", end, "--bill-id", "1",
                    "--markup-value", repr(markup)], check=True, capture_output=True,
                   env={**os.environ, "POC_STAGING_ROOT": f"/tmp/daily_parity_stage_{os.getpid()}"})
    return time.perf_counter() - t0


def run_koku(flow: str, url: str, root: Path, sc: dict, aws: dict, start: dt.date, end: dt.date,
             markup: float) -> float:
    t0 = time.perf_counter()
    koku = kr.KokuSource(KOKU)
    pg = psycopg2.connect(url)
    pg.autocommit = True
    eng = PgArrays(pg, sc["schema"])
    eng.register_hive_dataset(root, sc["account"])
    script = koku.show(SQL[flow])
    # trino_duckdb rewrites every CAST(x AS JSON) as a map-to-JSON cast; the EC2 SQL also casts a JSON value to JSON,
    # which is the identity in Trino: drop that cast before transpiling (the only rewrite of Koku's SQL here)
    script, n = re.subn(r"cast\((json_parse\([a-z_.]+\)) as json\)", r"\1", script, flags=re.IGNORECASE)
    if flow == "aws-ec2" and n != 1:
        raise RuntimeError(f"expected one cast(json_parse(...) as json) in {SQL[flow]}, found {n}")
    base = {"schema": sc["schema"], "source_uuid": aws["source_uuid"], "year": f"{start:%Y}", "month": f"{start:%m}",
            "markup": markup, "bill_id": 1}
    if flow == "aws":  # the updater: one call per TRINO_DATE_STEP chunk
        for a, b in date_range_pair(start, end):
            eng.execute_script(script, {**base, "uuid": "x", "start_date": a, "end_date": b}, f"aws {a}")
    else:
        eng.execute_script(script, base, "ec2")
    pg.close()
    return time.perf_counter() - t0


MAP_SQL = "koku/masu/database/trino_sql/{}/reporting_ocpinfrastructure_provider_map.sql"
MAP_TABLES = {"AWS": "aws_line_items_daily", "Azure": "azure_line_items", "GCP": "gcp_line_items_daily"}


def koku_infra_map(url: str, root: Path, sc: dict, start: dt.date, end: dt.date, kwargs: dict) -> dict:
    """OCPReportDBAccessor.get_ocp_infrastructure_map_trino's steps, each SQL on DuckDB (public.api_provider and
    api_providerinfrastructuremap as empty tables: no provider has an infrastructure)."""
    koku = kr.KokuSource(KOKU)
    pg = psycopg2.connect(url)
    pg.autocommit = True
    eng = PgArrays(pg, sc["schema"])
    eng.register_hive_dataset(root, sc["account"])
    eng.pin_table("public", "api_provider", "uuid UUID, type VARCHAR, infrastructure_id INTEGER",
                  [(s, "OCP", None) for s in _ocp_sources(root, sc)])
    eng.pin_table("public", "api_providerinfrastructuremap",
                  "id INTEGER, infrastructure_type VARCHAR, infrastructure_provider_id UUID", [])
    if not eng.hive_table_exists("openshift_pod_usage_line_items_daily"):
        return {}
    ocp = kwargs.get("ocp_provider_uuid")
    checks = {}
    for cloud, table in MAP_TABLES.items():
        named = kwargs.get(f"{cloud.lower()}_provider_uuid")
        if named or ocp:
            checks[cloud] = eng.hive_table_exists(table)
            if named and not checks[cloud]:
                return {}
    if not any(checks.values()):
        return {}
    results: dict = {}
    for cloud, check in checks.items():
        results = {}
        if not check:
            continue
        params = {"start_date": start, "end_date": end, "year": f"{start:%Y}", "month": f"{start:%m}",
                  "schema": sc["schema"], "aws_provider_uuid": kwargs.get("aws_provider_uuid"),
                  "ocp_provider_uuid": ocp, "azure_provider_uuid": kwargs.get("azure_provider_uuid"),
                  "gcp_provider_uuid": kwargs.get("gcp_provider_uuid")}
        for row in eng.execute_script(koku.show(MAP_SQL.format(cloud.lower())), params, f"map {cloud}"):
            results[str(row[0])] = (str(row[1]), row[2])
        if results:
            return results
    return results


def _ocp_sources(root: Path, sc: dict) -> list[str]:
    folder = root / "data" / "parquet" / "daily" / sc["account"] / "OCP" / "pod_usage"
    return sorted(p.name.removeprefix("source=") for p in folder.glob("source=*")) if folder.exists() else []


def infra_map_parity(url: str, root: Path, sc: dict) -> bool:
    """Koku's map and poc_tasks' for the OCP source and for each cloud source of the scenario."""
    start, end = dt.date.fromisoformat(sc["start_date"]), dt.date.fromisoformat(sc["end_date"])
    calls = [{"ocp_provider_uuid": sc["source_uuid"]}] if sc.get("source_uuid") else []
    calls += [{f"{c}_provider_uuid": sc[c]["source_uuid"]} for c in ("aws", "azure", "gcp") if c in sc]
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:  # the cloud sources' provider rows (their type is the map's type)
        for c, kind in (("aws", "AWS"), ("azure", "Azure"), ("gcp", "GCP")):
            if c in sc:
                cur.execute(f'INSERT INTO "{sc["schema"]}".reporting_tenant_api_provider (uuid, name, type)'  # noqa: S608
                            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (sc[c]["source_uuid"], c, kind))
    conn.close()
    ok = True
    for kw in calls:
        ref = koku_infra_map(url, root, sc, start, end, kw)
        out = subprocess.run([POC, "infra-map", "--database-url", url, "--data-root", str(root), "--schema",
                              sc["schema"], "--start", str(start), "--end", str(end),
                              *[x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", v)]],
                             check=True, capture_output=True, text=True)
        poc = {k: tuple(v) for k, v in json.loads(out.stdout).items()}
        equal = poc == ref
        ok &= equal
        print(f"infra-map {kw}: {'EQUAL' if equal else 'DIFFERENT'} Koku {ref} poc {poc}")
    return ok


def export(url: str, schema: str, table: str, out: Path) -> int:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema=%s AND table_name=%s"
                    " ORDER BY ordinal_position", (schema, table))
        cols = [r[0] for r in cur.fetchall() if r[0] != "uuid"]
        sel = ["(SELECT string_agg(coalesce(x, '<NULL>'), '|' ORDER BY x) FROM unnest(resource_ids) AS x)"
               " AS resource_ids" if c == "resource_ids" else
               f'"{c}"::text AS "{c}"' if c in ("tags", "cost_category") else f'"{c}"' for c in cols]
        cur.execute(f'SELECT {", ".join(sel)} FROM "{schema}"."{table}"')  # noqa: S608 (catalog names)
        df = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    conn.close()
    for c in df.columns:  # numerics as float, so compare.py treats them as numbers
        if df[c].map(lambda v: type(v).__name__ == "Decimal").any():
            df[c] = df[c].astype(float)
    df.to_parquet(out, index=False)
    return len(df)


def compare(flow: str, ref: Path, poc: Path) -> tuple[bool, str]:
    cmd = [sys.executable, str(ORACLE_DIR / "compare.py"), str(ref), str(poc), "--key", ",".join(KEYS[flow])]
    strict = subprocess.run(cmd, capture_output=True, text=True)
    last = strict.stdout.strip().splitlines()[-1] if strict.stdout.strip() else strict.stderr
    if strict.returncode == 0:
        return True, last
    tied = subprocess.run([*cmd, "--abs-tol", str(TIE_TOL)], capture_output=True, text=True)
    tlast = tied.stdout.strip().splitlines()[-1] if tied.stdout.strip() else tied.stderr
    if tied.returncode == 0:
        return True, f"{last}; within one unit of the 9th decimal: {tlast}"
    print(strict.stdout[-4000:])
    return False, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--flows", default="aws,aws-ec2")
    ap.add_argument("--markup", type=float, default=10.0, help="cost-model markup in percent (default 10)")
    ap.add_argument("--no-org-units", action="store_true")
    ap.add_argument("--prefix", default=f"daily_parity_{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="keep the two databases")
    args = ap.parse_args()
    root = args.dataset.resolve()
    sc = json.loads((root / "scenario.json").read_text())
    aws = sc.get("aws", {})
    start = dt.date.fromisoformat(aws.get("start_date", sc["start_date"]))
    end = dt.date.fromisoformat(aws.get("end_date", sc["end_date"]))
    markup = float(args.markup) / 100  # Koku: float(markup["value"]) / 100
    ok = True
    work = Path(f"/tmp/{args.prefix}")
    work.mkdir(parents=True, exist_ok=True)
    for flow in [f for f in args.flows.split(",") if f]:
        if flow == "infra-map":
            url = fresh_db(f"{args.prefix}_map")
            subprocess.run([POC, "init-db", "--database-url", url, "--schema", sc["schema"]], check=True,
                           capture_output=True)
            ok &= infra_map_parity(url, root, sc)
            continue
        urls = {side: fresh_db(f"{args.prefix}_{flow.replace('-', '_')}_{side}") for side in ("poc", "ref")}
        for url in urls.values():
            seed(url, sc, aws, not args.no_org_units)
        t_poc = run_poc(flow, urls["poc"], root, sc, aws, start.isoformat(), end.isoformat(), markup)
        t_ref = run_koku(flow, urls["ref"], root, sc, aws, start, end, markup)
        n_ref = export(urls["ref"], sc["schema"], TABLE[flow], work / f"{flow}_ref.parquet")
        n_poc = export(urls["poc"], sc["schema"], TABLE[flow], work / f"{flow}_poc.parquet")
        equal, line = compare(flow, work / f"{flow}_ref.parquet", work / f"{flow}_poc.parquet")
        ok &= equal
        print(f"{flow}: {'EQUAL' if equal else 'DIFFERENT'} ({n_poc} poc rows, {n_ref} Koku rows; poc {t_poc:.1f}s,"
              f" Koku SQL on DuckDB {t_ref:.1f}s) {line}")
        if not args.keep:
            for name in urls:
                admin = psycopg2.connect(f"{BASE_URL}/postgres")
                admin.autocommit = True
                with admin.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{args.prefix}_{flow.replace("-", "_")}_{name}"')
                admin.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
