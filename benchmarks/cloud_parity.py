#!/usr/bin/env python3
"""Parity of OCP on Azure / GCP with Koku's SQL: run poc_tasks' OCP summary and OCP-on-cloud flow on a dataset into an
isolated schema (a symlinked data tree whose account folder is that schema), then compare every table with the
output of /work/shared/oracle/cloud_reference.py (DATASET/<provider>_ref, or --ref DIR).

    benchmarks/cloud_parity.py /work/datasets/ocp_on_gcp
    benchmarks/cloud_parity.py /work/datasets/ocp_on_azure --markup 10 --ref /tmp/ref_markup10
    SHOW=1 benchmarks/cloud_parity.py DATASET --no-run --tables reporting_ocpgcpcostlineitem_project_daily_summary_p

Tenant keys are seeded as the oracle seeds them (OCP: every label key seen, the scenario's enabled; Azure: every key
enabled; GCP: every key seen disabled but the scenario's). A development tool: it needs the oracle's output and
compare.py (ORACLE_COMPARE) with its venv (ORACLE_PYTHON), and PostgreSQL (POC_PARITY_DSN / POC_DATABASE_URL).
Work files go to POC_PARITY_WORK (default /tmp/poc_cloud_parity). Exit 0 only when every table is equal.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poc_tasks.db.init import init_tenant  # noqa: E402
from poc_tasks.run import validate_schema  # noqa: E402

DSN = os.environ.get("POC_PARITY_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
URL = os.environ.get("POC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORK = Path(os.environ.get("POC_PARITY_WORK", "/tmp/poc_cloud_parity"))
COMPARE = [os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python"),
           os.environ.get("ORACLE_COMPARE", "/work/shared/oracle/compare.py")]
POC = str(Path(sys.executable).parent / "poc-tasks")
LABEL_COLUMNS = ("pod_labels", "persistentvolume_labels", "persistentvolumeclaim_labels", "node_labels",
                 "namespace_labels")
DIMS = {"azure": (["subscription_guid"], ["subscription_guids"]),
        "gcp": (["account_id", "project_id", "project_name"], ["account_ids", "project_ids", "project_names"])}


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


def prepare_and_run(ds: Path, sc: dict, prov: str, schema: str, root: Path, markup: str, distribution: str) -> None:
    cloud, ptype = sc[prov], {"azure": "Azure", "gcp": "GCP"}[prov]
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
    if prov == "azure":
        keys = [(k, i < 200) for i, k in enumerate(cloud.get("enabled_tag_keys", []))]
    else:
        on = set(cloud.get("enabled_tag_keys", []))
        keys = [(k, k in on) for k in sorted(set(cloud.get("tag_keys_seen", [])) | on)]
    for k, on_ in keys:
        cur.execute(insert, (str(uuid.uuid4()), k, on_, ptype))
    cur.execute(f'INSERT INTO "{schema}".reporting_tenant_api_provider'  # noqa: S608 - schema validated
                " (uuid, name, type) VALUES (%s,%s,%s)",
                (cloud["source_uuid"], cloud.get("source_name", prov), ptype))
    conn.close()
    env = dict(os.environ, POC_DATABASE_URL=URL, POC_DATA_ROOT=str(root))
    common = ["--schema", schema, "--cluster-id", sc["cluster_id"], "--cluster-alias", sc["cluster_alias"],
              "--start", sc["start_date"], "--end", sc["end_date"]]
    for cmd in ([POC, "run", "ocp", "--source-uuid", sc["source_uuid"], *common],
                [POC, "run", f"ocp-on-{prov}", "--ocp-source-uuid", sc["source_uuid"], f"--{prov}-source-uuid",
                 cloud["source_uuid"], "--markup", markup, "--distribution", distribution, *common]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{' '.join(cmd[:3])} failed:\n{r.stdout}\n{r.stderr[-5000:]}")
    res = json.loads(r.stdout)
    print("rows", res["rows"], "timings", res["timings"])


def compare(args: list[str], label: str) -> bool:
    r = subprocess.run(COMPARE + args, capture_output=True, text=True)
    print(f"{label:55s}", (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1])
    if r.returncode and os.environ.get("SHOW"):
        print(r.stdout[-int(os.environ.get("SHOW_N", 6000)):])
    return r.returncode == 0


def export(query: str, path: Path) -> pd.DataFrame:
    with psycopg2.connect(DSN) as c, c.cursor() as cur:
        cur.execute(query)
        df = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    df.to_parquet(path)
    return df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--provider", choices=["azure", "gcp"])
    ap.add_argument("--ref", help="reference directory (default DATASET/<provider>_ref)")
    ap.add_argument("--markup", default="0")
    ap.add_argument("--distribution", default="cpu")
    ap.add_argument("--schema")
    ap.add_argument("--no-run", action="store_true", help="compare the schema as it is")
    ap.add_argument("--tables", default="", help="comma list: only these tables")
    a = ap.parse_args()
    ds = Path(a.dataset).resolve()
    sc = json.loads((ds / "scenario.json").read_text())
    prov = a.provider or ("azure" if "azure" in sc else "gcp")
    schema = validate_schema(a.schema or ("org" + prov[0] + "".join(ch for ch in ds.name if ch.isalnum())[:30]).lower())
    ref = Path(a.ref) if a.ref else ds / f"{prov}_ref"
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
        ok &= compare(["--preset", preset, "--ignore-columns", "report_period_id,cost_entry_bill_id",
                       str(ref / f"{t}.parquet"), f"{DSN}|{schema}.{t}"], t)
    out = WORK / f"{ds.name}_{prov}_out"
    out.mkdir(parents=True, exist_ok=True)
    with psycopg2.connect(DSN) as c, c.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema=%s"
                    " AND table_name='reporting_ocpusagelineitem_daily_summary' ORDER BY ordinal_position", (schema,))
        cols = cur.fetchall()
    sel = ", ".join(f'"{n}"::text AS "{n}"' if t in ("jsonb", "uuid") else f'"{n}"' for n, t in cols)
    export(f'SELECT {sel} FROM "{schema}".reporting_ocpusagelineitem_daily_summary'  # noqa: S608 - validated
           " WHERE supplementary_usage_cost IS NOT NULL", out / "backpop.parquet")
    refb = pd.read_parquet(ref / "reporting_ocpusagelineitem_daily_summary.parquet")
    refb[refb["supplementary_usage_cost"].notna()].to_parquet(out / "backpop_ref.parquet")
    ok &= compare(["--ignore-columns", "report_period_id", str(out / "backpop_ref.parquet"),
                   str(out / "backpop.parquet")], "back-populated reporting_ocpusagelineitem_daily_summary")
    dims, arrays = DIMS[prov]
    for t, key in ((f"reporting_ocp{prov}tags_summary", ",".join(["key", *dims, "namespace", "node"])),
                   (f"reporting_ocp{prov}tags_values", "key,value")):
        if "summary" in t:
            query = (f'SELECT key, values::text AS values, {", ".join(dims)}, namespace, node'  # noqa: S608
                     f' FROM "{schema}".{t}')
        else:
            texts = ", ".join(f"{x}::text AS {x}" for x in [*arrays, "cluster_ids", "cluster_aliases", "namespaces",
                                                              "nodes"])
            query = f'SELECT key, value, {texts} FROM "{schema}".{t}'  # noqa: S608 - constants, validated schema
        mine = export(query, out / f"{t}.parquet")
        refdf = pd.read_parquet(ref / f"{t}.parquet")[list(mine.columns)]
        refdf.to_parquet(out / f"{t}_ref.parquet")
        ok &= compare(["--key", key, str(out / f"{t}_ref.parquet"), str(out / f"{t}.parquet")], t)
    print("ALL EQUAL" if ok else "DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
