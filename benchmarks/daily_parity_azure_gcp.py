#!/usr/bin/env python3
"""Parity and speed of the Azure and GCP daily summaries against Koku's Trino SQL run on DuckDB.

    ORACLE_PYTHON benchmarks/daily_parity_azure_gcp.py DATASET --provider azure|gcp [--markup 10]
        [--start YYYY-MM-DD --end YYYY-MM-DD] [--enabled-keys k1,k2] [--keep]

DATASET is Koku's Parquet layout with a scenario.json holding an "azure" / "gcp" block (``poc-tasks sample
--with-azure --with-gcp``, benchmarks/nise_{azure,gcp}_to_koku_parquet.py, benchmarks/daily_edge_cases_azure_gcp.py).

1. Two fresh PostgreSQL databases (``<prefix>_poc``, ``<prefix>_ref``), each with the tenant schema of
   ``poc-tasks init-db`` and the same seeds: the provider, bill id 1 of the (invoice) month, the enabled tag keys of
   the provider type (the scenario's, or every key seen) and one disabled key.
2. poc_tasks writes ``_poc``: ``poc-tasks run azure|gcp`` (a child process: wall time and peak RSS by os.wait4).
3. Koku's SQL is read from the Koku git directory at run time (KOKU_GIT_DIR), rendered with the parameters Koku's
   updater passes, transpiled to DuckDB by the oracle's trino_duckdb.py and run on the same Parquet; its INSERT
   lands in ``_ref``. Azure: populate_line_item_daily_summary_table_trino per 5-day chunk of [start, end]. GCP: as
   GCPReportParquetSummaryUpdater: invoice month = start's, get_invoice_month_dates.sql for the range (compared with
   poc_tasks.daily.gcp_lookups.fetch_invoice_month_dates), then the summary per 5-day chunk of the invoice range,
   and Koku's get_gcp_topology_sql (compared with get_gcp_topology).
4. Both tables are read back (uuid dropped, instance_ids sorted, jsonb as PostgreSQL's text, numbers as PostgreSQL
   prints numeric(24,9)) and compared as multisets: first exactly; on a difference, rows are paired on their text
   columns and numbers may differ by one unit in the 9th decimal (a half-way tie of a sum of doubles added in another
   order, docs/daily-azure-gcp.md); any other difference fails.

Exit 0 only when everything is equal. A development tool (not run by CI): it needs the oracle harness (ORACLE_DIR,
default /work/shared/oracle) and a Python with duckdb, sqlglot, jinja2, sqlparse, psycopg2, pandas (this script's
interpreter), KOKU_GIT_DIR and PostgreSQL (POC_PARITY_URL, default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg2

ORACLE_DIR = Path(os.environ.get("ORACLE_DIR", "/work/shared/oracle"))
sys.path.insert(0, str(ORACLE_DIR))
import koku_reference as kr  # noqa: E402
import trino_duckdb as td  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daily_parity import PgArrays, date_range_pair, fresh_db  # noqa: E402  (AWS's parity script: shared pieces)

HERE = Path(__file__).resolve().parent.parent
POC = os.environ.get("POC_TASKS", str(HERE / ".venv" / "bin" / "poc-tasks"))
BASE_URL = os.environ.get("POC_PARITY_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
KOKU = os.environ.get("KOKU_GIT_DIR", "/work/.mirror/project-koku+koku/repo")
SQL = {"azure": "koku/masu/database/trino_sql/azure/reporting_azurecostentrylineitem_daily_summary.sql",
       "gcp": "koku/masu/database/trino_sql/gcp/reporting_gcpcostentrylineitem_daily_summary.sql"}
INVOICE_SQL = "koku/masu/database/trino_sql/gcp/get_invoice_month_dates.sql"
TABLE = {"azure": "reporting_azurecostentrylineitem_daily_summary",
         "gcp": "reporting_gcpcostentrylineitem_daily_summary"}
PTYPE = {"azure": "Azure", "gcp": "GCP"}
BILL = {"azure": "reporting_azurecostentrybill", "gcp": "reporting_gcpcostentrybill"}
UNIT = Decimal("1e-9")


def log(msg: str) -> None:
    print(f"[daily_parity {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def t_cast_to_decimal_via_text(node):
    """cast(x AS decimal(p, s)): Trino takes a double's shortest decimal text (BigDecimal.valueOf) and rounds it half
    up; DuckDB rounds the double's binary value, which differs once the value has 16 or more significant digits
    (115580611.56864002 -> Trino .568640020, DuckDB .568640016). Through VARCHAR DuckDB does what Trino does (its
    double text is the shortest one, its text-to-decimal cast rounds half away from zero); decimal and integer
    inputs keep their exact text."""
    if (isinstance(node, td.exp.Cast) and node.to.this == td.exp.DataType.Type.DECIMAL
            and not node.args.get("_viatext")):
        inner = td.exp.Cast(this=node.this.copy(), to=td.exp.DataType.build("VARCHAR"))
        new = td.exp.Cast(this=inner, to=node.to.copy())
        new.set("_viatext", True)
        return new
    return node


td.TRANSFORMS.append(t_cast_to_decimal_via_text)


def drop_db(name: str) -> None:
    admin = psycopg2.connect(f"{BASE_URL}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def seed(url: str, schema: str, prov: str, source: str, bill_month: dt.date, keys: list[str]) -> None:
    subprocess.run([POC, "init-db", "--database-url", url, "--schema", schema], check=True, capture_output=True)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{schema}"')
        cur.execute("INSERT INTO reporting_tenant_api_provider (uuid, name, type) VALUES (%s, %s, %s)",
                    (source, f"{PTYPE[prov]} source", PTYPE[prov]))
        last = (bill_month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        cur.execute(f"INSERT INTO {BILL[prov]} (id, billing_period_start, billing_period_end, provider_id)"  # noqa: S608
                    " VALUES (1, %s, %s, %s)", (bill_month, last, source))
        for k in keys:
            cur.execute("INSERT INTO reporting_enabledtagkeys (uuid, key, enabled, provider_type)"
                        " VALUES (gen_random_uuid(), %s, true, %s)", (k, PTYPE[prov]))
        cur.execute("INSERT INTO reporting_enabledtagkeys (uuid, key, enabled, provider_type)"
                    " VALUES (gen_random_uuid(), 'poc-disabled-key', false, %s) ON CONFLICT DO NOTHING", (PTYPE[prov],))
    conn.close()


def run_poc(prov: str, url: str, root: Path, schema: str, source: str, start: str, end: str,
            markup: float, invoice_month: str | None) -> tuple[float, int]:
    """poc-tasks run in a child process: (wall seconds, peak RSS bytes of that child)."""
    cmd = [POC, "run", prov, "--database-url", url, "--data-root", str(root), "--schema", schema,
           "--source-uuid", source, "--start", start, "--end", end, "--bill-id", "1", "--markup-value", repr(markup)]
    if invoice_month:
        cmd += ["--invoice-month", invoice_month]
    env = {**os.environ, "POC_STAGING_ROOT": f"/tmp/daily_parity_azure_gcp_stage_{os.getpid()}"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _pid, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"poc-tasks failed: {stderr[-2000:]}")
    log(f"poc-tasks: {stdout.strip()[:400]}")
    return seconds, usage.ru_maxrss * 1024


def poc_lookups(root: Path, schema: str, source: str, start: dt.date, end: dt.date) -> dict:
    """poc_tasks' fetch_invoice_month_dates and get_gcp_topology, in this checkout's .venv (poc_tasks' packages)."""
    code = (
        "import json, sys, datetime as dt\n"
        "from poc_tasks.daily.gcp_lookups import fetch_invoice_month_dates, get_gcp_topology\n"
        "from poc_tasks.settings import Settings\n"
        "root, schema, source, start, end = sys.argv[1:6]\n"
        "s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)\n"
        "st = Settings(data_root=root)\n"
        "d = fetch_invoice_month_dates(st, schema, s, e, s.strftime('%Y%m'), source)\n"
        "t = get_gcp_topology(st, schema, source, s, e, s.strftime('%Y%m'))\n"
        "print(json.dumps({'invoice_dates': [[None if v is None else v.isoformat() for v in r] for r in d],"
        " 'topology': t}))\n")
    out = subprocess.run([str(HERE / ".venv/bin/python"), "-c", code, str(root), schema, source, str(start),
                          str(end)], check=True, capture_output=True, text=True, cwd=str(HERE))
    return json.loads(out.stdout)


def run_koku(prov: str, url: str, root: Path, schema: str, account: str, source: str, start: dt.date, end: dt.date,
             markup: float) -> tuple[float, dict]:
    """Koku's updater loop on DuckDB. Returns (seconds of Koku's SQL, lookups for GCP)."""
    koku = kr.KokuSource(KOKU)
    pg = psycopg2.connect(url)
    pg.autocommit = True
    eng = PgArrays(pg, schema)
    eng.register_hive_dataset(root, account)
    script = koku.show(SQL[prov])
    lookups: dict = {}
    markup_value = markup or 0
    t0 = time.perf_counter()
    if prov == "azure":
        for a, b in date_range_pair(start, end):
            eng.execute_script(script, {"uuid": "x", "start_date": a, "end_date": b, "schema": schema,
                                        "table": "azure_line_items", "source_uuid": source, "year": f"{a:%Y}",
                                        "month": f"{a:%m}", "bill_id": 1, "markup": markup_value}, f"azure {a}")
    else:
        invoice_month = start.strftime("%Y%m")
        dates = eng.execute_script(koku.show(INVOICE_SQL), {"schema": schema, "start_date": start, "end_date": end,
                                                            "invoice_month": invoice_month,
                                                            "source_uuid": source}, "invoice dates")
        lookups["invoice_dates"] = [tuple(r) for r in dates]
        first, last = dates[0] if dates and dates[0][0] is not None else (start, end)
        first = first.date() if isinstance(first, dt.datetime) else first
        last = last.date() if isinstance(last, dt.datetime) else last
        lookups["range"] = (first, last, invoice_month)
        for a, b in date_range_pair(first, last):
            eng.execute_script(script, {"uuid": "x", "start_date": a, "end_date": b, "schema": schema,
                                        "table": "gcp_line_items", "source_uuid": source,
                                        "invoice_month": invoice_month, "markup": markup_value, "bill_id": 1},
                               f"gcp {a}")
        topo_sql = kr.koku_fstring(koku.show("koku/koku/reportdb_accessor_trino.py"), "TrinoReportDBAccessor",
                                   "get_gcp_topology_sql")(schema_name=schema, source_uuid=source,
                                                           year=invoice_month[:4], month=invoice_month[4:6],
                                                           start_date=str(start), end_date=str(end))
        lookups["topology"] = sorted((tuple(r) for r in eng.execute_sql(topo_sql, "topology")),
                                     key=lambda r: tuple((v is None, v or "") for v in r))
    seconds = time.perf_counter() - t0
    pg.close()
    return seconds, lookups


def rows_of(url: str, schema: str, table: str) -> tuple[list[str], list[tuple]]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema=%s AND table_name=%s"
                    " ORDER BY ordinal_position", (schema, table))
        cols = [r[0] for r in cur.fetchall() if r[0] != "uuid"]
        sel = [("(SELECT array_agg(x ORDER BY x) FROM unnest(instance_ids) AS x)::text" if c == "instance_ids"
                else f'"{c}"::text') for c in cols]
        cur.execute(f'SELECT {", ".join(sel)} FROM "{schema}"."{table}"')  # noqa: S608 - our own identifiers
        rows = cur.fetchall()
    conn.close()
    return cols, rows


def _num(v: str | None) -> Decimal | None:
    try:
        return None if v is None else Decimal(v)
    except ArithmeticError:
        return None


def compare(cols: list[str], ref: list[tuple], poc: list[tuple], numeric: set[str]) -> tuple[bool, str]:
    """Exact multiset comparison; on a difference, pair rows by their text columns and allow one unit in the 9th
    decimal (half-way ties of double sums)."""
    a, b = Counter(ref), Counter(poc)
    if a == b:
        return True, f"{len(poc)}/{len(ref)} rows equal exactly"
    num_idx = [i for i, c in enumerate(cols) if c in numeric]
    text_idx = [i for i in range(len(cols)) if i not in num_idx]
    only_ref, only_poc = list((a - b).elements()), list((b - a).elements())

    def key(r):
        return tuple(r[i] for i in text_idx)

    pool: dict[tuple, list[tuple]] = {}
    for r in only_poc:
        pool.setdefault(key(r), []).append(r)
    ties, bad = 0, []
    for r in only_ref:
        cands = pool.get(key(r), [])
        match = next((c for c in cands if all(
            (_num(r[i]) is None) == (_num(c[i]) is None)
            and (_num(r[i]) is None or abs(_num(r[i]) - _num(c[i])) <= UNIT) for i in num_idx)), None)
        if match is None:
            bad.append(r)
        else:
            cands.remove(match)
            ties += 1
    left = [r for v in pool.values() for r in v]
    if not bad and not left:
        return True, (f"{len(poc) - ties}/{len(ref)} rows equal exactly, {ties} differ by one unit in the 9th "
                      "decimal (half-way ties)")
    for r in bad[:5]:
        print("  only in Koku's:", dict(zip(cols, r, strict=True)))
    for r in left[:5]:
        print("  only in poc_tasks':", dict(zip(cols, r, strict=True)))
    return False, f"{len(bad)} Koku rows and {len(left)} poc_tasks rows unmatched of {len(ref)} / {len(poc)}"


def keys_seen(root: Path, account: str, prov: str, source: str) -> list[str]:
    import pyarrow.parquet as pq

    col = "tags" if prov == "azure" else "labels"
    keys: set[str] = set()
    for f in (root / "data/parquet" / account / PTYPE[prov]).glob(f"source={source}/*/*/*.parquet"):
        for text in set(pq.read_table(f, columns=[col]).column(col).to_pylist()):
            if text:
                keys.update(json.loads(text))
    return sorted(keys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--provider", required=True, choices=["azure", "gcp"])
    ap.add_argument("--markup", type=float, default=10.0, help="cost-model markup in percent (default 10)")
    ap.add_argument("--start", help="default: the scenario's (GCP: the first day of the scenario's month)")
    ap.add_argument("--end", help="default: the scenario's (GCP: the last day of the scenario's month)")
    ap.add_argument("--enabled-keys", help="comma-separated (default: the scenario's, else every key seen)")
    ap.add_argument("--prefix", default=f"dparity_{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="keep the two databases")
    args = ap.parse_args()
    root = args.dataset.resolve()
    sc = json.loads((root / "scenario.json").read_text())
    cloud = sc[args.provider]
    schema, account, source = sc["schema"], sc["account"], cloud["source_uuid"]
    start = dt.date.fromisoformat(args.start or cloud.get("start_date", sc["start_date"]))
    end = dt.date.fromisoformat(args.end or cloud.get("end_date", sc["end_date"]))
    keys = (args.enabled_keys.split(",") if args.enabled_keys is not None
            else cloud.get("enabled_tag_keys") or keys_seen(root, account, args.provider, source))
    markup = float(args.markup) / 100  # Koku: float(markup["value"]) / 100
    if account != schema:
        raise SystemExit("scenario account must equal schema (poc_tasks reads data/parquet/<schema without acct>)")
    urls = {side: fresh_db(f"{args.prefix}_{args.provider}_{side}") for side in ("poc", "ref")}
    for url in urls.values():
        seed(url, schema, args.provider, source, start.replace(day=1), keys)
    t_poc, rss = run_poc(args.provider, urls["poc"], root, schema, source, start.isoformat(), end.isoformat(),
                         markup, None)
    t_ref, lookups = run_koku(args.provider, urls["ref"], root, schema, account, source, start, end, markup)
    ok = True
    if args.provider == "gcp":
        ours = poc_lookups(root, schema, source, start, end)
        koku_dates = [[None if v is None else v.isoformat() for v in r] for r in lookups["invoice_dates"]]
        same = ours["invoice_dates"] == koku_dates
        ok &= same
        log(f"fetch_invoice_month_dates: {'EQUAL' if same else 'DIFFERENT'} {ours['invoice_dates']} vs Koku "
            f"{koku_dates}")
        koku_topo = [list(r) for r in lookups["topology"]]
        same = ours["topology"] == koku_topo
        ok &= same
        log(f"get_gcp_topology_trino: {'EQUAL' if same else 'DIFFERENT'} ({len(ours['topology'])} rows, Koku "
            f"{len(koku_topo)})")
        if not same:
            print("  poc:", ours["topology"][:5], "\n  Koku:", koku_topo[:5])
    cols, ref = rows_of(urls["ref"], schema, TABLE[args.provider])
    _cols, poc = rows_of(urls["poc"], schema, TABLE[args.provider])
    numeric = {"pretax_cost", "usage_quantity", "markup_cost", "usage_amount", "unblended_cost", "credit_amount"}
    equal, line = compare(cols, ref, poc, numeric)
    ok &= equal
    print(json.dumps({"provider": args.provider, "dataset": str(root), "range": [str(start), str(end)],
                      "markup_percent": args.markup, "equal": equal, "detail": line, "koku_rows": len(ref),
                      "poc_rows": len(poc), "poc_seconds": round(t_poc, 2), "poc_peak_rss_mib": round(rss / 2**20, 1),
                      "koku_sql_duckdb_seconds": round(t_ref, 2)}))
    if not args.keep:
        for side in urls:
            drop_db(f"{args.prefix}_{args.provider}_{side}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
