#!/usr/bin/env python3
"""Parity of OCP on AWS / Azure / GCP with Koku's SQL: run poc_tasks' OCP summary and OCP-on-cloud flow on a dataset
into an isolated schema (a symlinked data tree whose account folder is that schema), then compare every table with
the oracle's output: /work/shared/oracle/aws_reference.py for AWS (DATASET/aws_ref), cloud_reference.py for Azure and
GCP (DATASET/<provider>_ref), or --ref DIR.

    benchmarks/cloud_parity.py /work/datasets/ocp_on_aws
    benchmarks/cloud_parity.py /work/datasets/ocp_on_gcp
    benchmarks/cloud_parity.py /work/datasets/ocp_on_azure --markup 10 --ref /tmp/ref_markup10
    SHOW=1 benchmarks/cloud_parity.py DATASET --no-run --tables reporting_ocpgcpcostlineitem_project_daily_summary_p
    PYTHONPATH=/work/wt_parity benchmarks/cloud_parity.py DATASET     # poc_tasks of another checkout (a worktree)

The provider is the one cloud section of scenario.json ("aws", "azure" or "gcp"; --provider when several). Compared:
the project table (preset ocp<provider>-project) and each UI table of the reference (ocp<provider>-ui), ids ignored
(report period, bill, and for AWS the account alias id); the back-populated OCP rows (supplementary_usage_cost not
NULL) with the OCP summary key; the tag summary on (key, dimensions, namespace, node), the tag values on (key, value)
and, for AWS, the category summary on (key, usage_account_id).

Tenant keys are seeded as the oracle seeds them (OCP: every label key seen, the scenario's enabled; AWS: the first
200 keys, enabled, every cost-category key enabled, an alias "alias-<account>" per account; Azure: every key, the
first 200 enabled; GCP: every key seen disabled but the scenario's).

Accepted difference (docs/ocp-on-aws.md, docs/ocp-on-azure-gcp.md): Koku's tag-summary unique key treats a NULL node
(or dimension) as distinct, so Koku writes one such row per 5-day chunk where poc_tasks writes one with the union of
the values. When the strict comparison of the tag summary fails, the reference's rows with the same (key, dimensions,
namespace, node) are collapsed into one whose values are their union (sorted by PostgreSQL, as poc_tasks' array_agg)
and compared again; the table counts as equal only if that matches, and the line says how many rows were collapsed.

Half-way ties (docs/ocp-on-aws.md, "Half-way ties"): nise costs have 10 decimals, so a share or a sum often falls
exactly on a half at the 10th decimal, and poc_tasks and Koku's SQL can round such a value of a numeric(33,9)
column to different sides: one unit (1e-9) in the 9th decimal. Koku's own value there depends on the order Trino
(or DuckDB) adds its doubles in, and on Trino reading OCP usage from Hive doubles where poc_tasks reads PostgreSQL's
15 significant digits. When the strict comparison of the project table or a UI table fails, it is repeated with
--abs-tol TIE_TOL (one unit in the 9th decimal, 1.01e-9 for the float slack); a back-populated OCP row sums k
project rows, each of which may be one unit off (the bound is k units; a Worker-unallocated row summing 24 tied
project rows was seen 24 units off), so its repeat uses a simple BACKPOP_TIE_TOL of 50 units (5e-8). The table counts
as equal only if the repeat matches (a missing or extra row, a text value or a larger difference still fails), and
the line says how many rows matched strictly and how many only within the tie tolerance.
--strict turns both off.

A development tool: it needs the oracle's output and compare.py (ORACLE_COMPARE) with its venv (ORACLE_PYTHON), and
PostgreSQL (POC_PARITY_DSN / POC_DATABASE_URL). poc_tasks is imported (and `poc-tasks` run) from PYTHONPATH when
set, else from the installed package or this checkout. Work files go to POC_PARITY_WORK (default
/tmp/poc_cloud_parity). Exit 0 only when every table is equal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import psycopg2
import pyarrow.parquet as pq

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: a worktree given there wins
import poc_tasks  # noqa: E402
from poc_tasks.db.init import init_tenant  # noqa: E402
from poc_tasks.validate import validate_schema  # noqa: E402

DSN = os.environ.get("POC_PARITY_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
URL = os.environ.get("POC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORK = Path(os.environ.get("POC_PARITY_WORK", "/tmp/poc_cloud_parity"))
COMPARE = [os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python"),
           os.environ.get("ORACLE_COMPARE", "/work/shared/oracle/compare.py")]
POC = str(Path(sys.executable).parent / "poc-tasks")
LABEL_COLUMNS = ("pod_labels", "persistentvolume_labels", "persistentvolumeclaim_labels", "node_labels",
                 "namespace_labels")
# provider: api_provider type, tag-summary dimension columns, tag-values array columns, ids not compared
PROVIDERS = {
    "aws": ("AWS", ["usage_account_id"], ["usage_account_ids", "account_aliases"],
            "report_period_id,cost_entry_bill_id,account_alias_id"),
    "azure": ("Azure", ["subscription_guid"], ["subscription_guids"], "report_period_id,cost_entry_bill_id"),
    "gcp": ("GCP", ["account_id", "project_id", "project_name"], ["account_ids", "project_ids", "project_names"],
            "report_period_id,cost_entry_bill_id"),
}


def label_keys(ds: Path, sc: dict) -> set[str]:
    """Label keys seen in the raw OCP Parquet (Koku records them disabled)."""
    keys: set[str] = set()
    for f in (ds / "data" / "parquet" / sc["account"] / "OCP").rglob("*.parquet"):
        if f"source={sc['source_uuid']}" not in str(f):
            continue
        cols = [c for c in pq.read_schema(f).names if c in LABEL_COLUMNS]
        if cols:
            df = pd.read_parquet(f, columns=cols)
            for c in cols:
                for s in df[c].dropna().unique():
                    keys.update(json.loads(s).keys())
    return keys


def cloud_keys(prov: str, cloud: dict) -> list[tuple[str, bool]]:
    """(key, enabled) rows of the cloud's tag keys, as the oracle seeds them."""
    if prov == "aws":
        return [(k, True) for k in cloud.get("enabled_tag_keys", [])[:200]]
    if prov == "azure":
        return [(k, i < 200) for i, k in enumerate(cloud.get("enabled_tag_keys", []))]
    on = set(cloud.get("enabled_tag_keys", []))
    return [(k, k in on) for k in sorted(set(cloud.get("tag_keys_seen", [])) | on)]


def prepare_and_run(ds: Path, sc: dict, prov: str, schema: str, root: Path, markup: str, distribution: str) -> None:
    env = prepare(ds, sc, prov, schema, root)
    for cmd in run_commands(sc, prov, schema, markup, distribution):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{' '.join(cmd[:3])} failed:\n{r.stdout}\n{r.stderr[-5000:]}")
    res = json.loads(r.stdout)
    print("rows", res["rows"], "timings", res["timings"])


def prepare(ds: Path, sc: dict, prov: str, schema: str, root: Path) -> dict:
    """A fresh tenant `schema` seeded as the oracle seeds it, and a data tree at `root` whose account folder is
    that schema (symlinks into the dataset); returns the environment the runs need."""
    cloud, ptype = sc[prov], PROVIDERS[prov][0]
    shutil.rmtree(root, ignore_errors=True)
    for daily in (False, True):
        dst = root / "data/parquet" / ("daily" if daily else "") / schema
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(ds / "data/parquet" / ("daily" if daily else "") / sc["account"], dst)
    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    init_tenant(URL, schema)
    enabled = set(sc.get("enabled_tag_keys") or [])
    insert = (f'INSERT INTO "{schema}".reporting_enabledtagkeys'  # noqa: S608 - schema validated
              " (uuid, key, enabled, provider_type) VALUES (%s,%s,%s,%s)")
    for k in sorted(label_keys(ds, sc) | enabled):
        cur.execute(insert, (str(uuid.uuid4()), k, k in enabled, "OCP"))
    for k, on_ in cloud_keys(prov, cloud):
        cur.execute(insert, (str(uuid.uuid4()), k, on_, ptype))
    if prov == "aws":
        for k in cloud.get("category_keys", []):
            cur.execute(f'INSERT INTO "{schema}".reporting_awsenabledcategorykeys'  # noqa: S608 - validated
                        " (uuid, key, enabled) VALUES (%s,%s,true)", (str(uuid.uuid4()), k))
        for acct in sorted(set(cloud.get("usage_accounts", [])) | {cloud["payer_account"]}):
            cur.execute(f'INSERT INTO "{schema}".reporting_awsaccountalias'  # noqa: S608 - validated
                        " (account_id, account_alias) VALUES (%s,%s)", (acct, f"alias-{acct}"))
    cur.execute(f'INSERT INTO "{schema}".reporting_tenant_api_provider'  # noqa: S608 - schema validated
                " (uuid, name, type) VALUES (%s,%s,%s)",
                (cloud["source_uuid"], cloud.get("source_name", prov), ptype))
    conn.close()
    return dict(os.environ, POC_DATABASE_URL=URL, POC_DATA_ROOT=str(root))


def run_commands(sc: dict, prov: str, schema: str, markup: str = "0", distribution: str = "cpu") -> list[list[str]]:
    """`poc-tasks run ocp` (the OCP summary the cloud flow needs), then `run ocp-on-<prov>`."""
    common = ["--schema", schema, "--cluster-id", sc["cluster_id"], "--cluster-alias", sc["cluster_alias"],
              "--start", sc["start_date"], "--end", sc["end_date"]]
    return [[POC, "run", "ocp", "--source-uuid", sc["source_uuid"], *common],
            [POC, "run", f"ocp-on-{prov}", "--ocp-source-uuid", sc["source_uuid"], f"--{prov}-source-uuid",
             sc[prov]["source_uuid"], "--markup", markup, "--distribution", distribution, *common]]


TIE_TOL = 1.01e-9  # one unit in the 9th decimal of a numeric(33,9) column (+1% for the doubles' slack)
BACKPOP_TIE_TOL = 5e-8  # a back-populated row sums several project rows, each possibly one unit off: 50 units


def run_compare(args: list[str]) -> tuple[bool, str, str]:
    r = subprocess.run(COMPARE + args, capture_output=True, text=True)
    return r.returncode == 0, r.stdout, (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]


def stat(out: str, title: str) -> int:
    """A count line of compare.py's report ("matched rows:   N")."""
    return next((int(x.split(":")[1]) for x in out.splitlines() if x.startswith(title)), 0)


def compare(args: list[str], label: str, note: str = "", tie_tol: float | None = None) -> bool:
    """compare.py on `args`; if that fails and `tie_tol` is given, again with --abs-tol tie_tol (half-way ties)."""
    ok, out, last = run_compare(args)
    if not ok and tie_tol is not None:
        tie_ok, _, tie_last = run_compare(["--abs-tol", repr(tie_tol), *args])
        if tie_ok:
            matched, differ = stat(out, "matched rows:"), stat(out, "rows with different values:")
            cols = next((x.split(":", 1)[1].strip() for x in out.splitlines() if x.startswith("mismatching columns:")),
                        "")
            worst = max((float(x.split("abs=")[1].split()[0]) for x in out.splitlines() if " abs=" in x), default=0)
            units = round(worst / 1e-9)
            bound = "" if tie_tol < 2e-9 else f", tolerance {round(tie_tol / 1e-9)}"
            print(f"{label:55s}", f"oracle: {matched}/{matched + differ} rows match strictly; {differ} differ by at "
                  f"most {'one unit' if units <= 1 else f'{units} units'} in the 9th decimal (half-way ties{bound}, "
                  f"docs/ocp-on-aws.md) [{cols}]", note)
            if os.environ.get("SHOW"):
                print(out[-int(os.environ.get("SHOW_N", 6000)):])
            return True
        note = f"{note} (also with --abs-tol {tie_tol:g}: {tie_last})".strip()
    print(f"{label:55s}", last, note)
    if not ok and os.environ.get("SHOW"):
        print(out[-int(os.environ.get("SHOW_N", 6000)):])
    return ok


def export(query: str, path: Path) -> pd.DataFrame:
    with psycopg2.connect(DSN) as c, c.cursor() as cur:
        cur.execute(query)
        df = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    df.to_parquet(path)
    return df


def collapse_duplicates(ref: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per key (Koku's per-chunk NULL-node duplicates), values = the union sorted by PostgreSQL."""
    dup = ref.duplicated(key, keep=False)
    rows = []
    with psycopg2.connect(DSN) as c, c.cursor() as cur:
        for _, g in ref[dup].groupby(key, dropna=False, sort=False):
            cur.execute("SELECT array_agg(DISTINCT e)::text FROM unnest(%s::text[]) a, unnest(a::text[]) e",
                        (list(g["values"]),))
            rows.append(g.iloc[[0]].assign(values=cur.fetchone()[0]))
    return pd.concat([ref[~dup], *rows], ignore_index=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--provider", choices=sorted(PROVIDERS), help="default: the scenario's one cloud section")
    ap.add_argument("--ref", help="reference directory (default DATASET/<provider>_ref)")
    ap.add_argument("--markup", default="0")
    ap.add_argument("--distribution", default="cpu")
    ap.add_argument("--schema", help="default org<provider><dataset name>")
    ap.add_argument("--no-run", action="store_true", help="compare the schema as it is")
    ap.add_argument("--tables", default="", help="comma list: only these tables")
    ap.add_argument("--strict", action="store_true",
                    help="do not collapse Koku's duplicate NULL-node tag-summary rows nor accept half-way ties "
                         "(accepted differences)")
    a = ap.parse_args()
    ds = Path(a.dataset).resolve()
    sc = json.loads((ds / "scenario.json").read_text())
    clouds = [p for p in PROVIDERS if p in sc]
    if not a.provider and len(clouds) != 1:
        ap.error(f"scenario.json has cloud sections {clouds}: give --provider")
    prov = a.provider or clouds[0]
    if sc.get("ocp_other_sources"):
        sys.exit("scenario.json has ocp_other_sources: further clusters are not run by this script")
    _ptype, dims, arrays, ignore = PROVIDERS[prov]
    schema = validate_schema(a.schema or ("org" + prov + "".join(ch for ch in ds.name if ch.isalnum())[:30]).lower())
    ref = Path(a.ref) if a.ref else ds / f"{prov}_ref"
    print(f"{prov}: poc_tasks from {Path(poc_tasks.__file__).parent}, schema {schema}, reference {ref}")
    if not a.no_run:
        prepare_and_run(ds, sc, prov, schema, WORK / "runs" / ds.name, a.markup, a.distribution)
    project = f"reporting_ocp{prov}costlineitem_project_daily_summary_p"
    tables = [project] + sorted(p.stem for p in ref.glob(f"reporting_ocp{prov}_*_p.parquet"))
    wanted = [t for t in a.tables.split(",") if t]
    ok = True
    for t in tables:
        if wanted and t not in wanted:
            continue
        preset = f"ocp{prov}-project" if t == project else f"ocp{prov}-ui"
        ok &= compare(["--preset", preset, "--ignore-columns", ignore, str(ref / f"{t}.parquet"),
                       f"{DSN}|{schema}.{t}"], t, tie_tol=None if a.strict else TIE_TOL)
    out = WORK / f"{ds.name}_{prov}_out"
    out.mkdir(parents=True, exist_ok=True)
    backpop = "reporting_ocpusagelineitem_daily_summary"
    if not wanted or backpop in wanted:
        with psycopg2.connect(DSN) as c, c.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema=%s"
                        " AND table_name=%s ORDER BY ordinal_position", (schema, backpop))
            cols = cur.fetchall()
        sel = ", ".join(f'"{n}"::text AS "{n}"' if t in ("jsonb", "uuid") else f'"{n}"' for n, t in cols)
        export(f'SELECT {sel} FROM "{schema}".{backpop}'  # noqa: S608 - validated
               " WHERE supplementary_usage_cost IS NOT NULL", out / "backpop.parquet")
        refb = pd.read_parquet(ref / f"{backpop}.parquet")
        refb[refb["supplementary_usage_cost"].notna()].to_parquet(out / "backpop_ref.parquet")
        ok &= compare(["--ignore-columns", "report_period_id", str(out / "backpop_ref.parquet"),
                       str(out / "backpop.parquet")], f"back-populated {backpop}",
                      tie_tol=None if a.strict else BACKPOP_TIE_TOL)
    summary_key = ["key", *dims, "namespace", "node"]
    texts = ", ".join(f"{x}::text AS {x}" for x in [*arrays, "cluster_ids", "cluster_aliases", "namespaces", "nodes"])
    checks = [(f"reporting_ocp{prov}tags_summary", summary_key,
               f'key, values::text AS values, {", ".join(dims)}, namespace, node'),
              (f"reporting_ocp{prov}tags_values", ["key", "value"], f"key, value, {texts}")]
    if prov == "aws":
        checks.append(("reporting_ocpawscategory_summary", ["key", "usage_account_id"],
                       "key, values::text AS values, usage_account_id"))
    for t, key, select in checks:
        if wanted and t not in wanted:
            continue
        mine = export(f'SELECT {select} FROM "{schema}".{t}', out / f"{t}.parquet")  # noqa: S608 - constants
        refdf = pd.read_parquet(ref / f"{t}.parquet")[list(mine.columns)]
        refdf.to_parquet(out / f"{t}_ref.parquet")
        cmp_args = ["--key", ",".join(key), str(out / f"{t}_ref.parquet"), str(out / f"{t}.parquet")]
        collapsed = collapse_duplicates(refdf, key) if t.endswith("tags_summary") and not a.strict else refdf
        if len(collapsed) == len(refdf):
            ok &= compare(cmp_args, t)
            continue
        # accepted difference (module docstring): strict result shown, equality judged on the collapsed reference
        compare(cmp_args, t, "(strict)")
        collapsed.to_parquet(out / f"{t}_ref_collapsed.parquet")
        ok &= compare([*cmp_args[:2], str(out / f"{t}_ref_collapsed.parquet"), cmp_args[3]], t,
                      f"(reference: {len(refdf) - len(collapsed)} of Koku's per-chunk duplicates of a NULL-key row "
                      "collapsed, values unioned)")
    print("ALL EQUAL" if ok else "DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
