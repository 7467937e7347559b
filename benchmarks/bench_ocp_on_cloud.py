#!/usr/bin/env python3
"""Benchmark `poc-tasks run ocp-on-azure` / `run ocp-on-gcp` on generated months (the sample cluster and its
matched Azure export or GCP billing export).

For each run: generate Koku-shaped OCP and cloud Parquet (poc_tasks.sample with_azure / with_gcp, no mid-day label
changes), create the tenant (enabled keys as Koku records them: every Azure key enabled, GCP keys disabled but the
user-enabled ones), run `poc-tasks run ocp` (the OCP summary this flow needs), then the OCP-on-cloud run in a child
process, measuring wall time and that child's peak RSS (bench_ocp.child). Prints one line and a JSON summary:
cloud lines read per second (Azure's daily lines; GCP's hourly raw lines and daily lines), rows written per second,
timings.

    python benchmarks/bench_ocp_on_cloud.py --provider azure --scale large   # 50 nodes / 5,000 pods, 30 days
    python benchmarks/bench_ocp_on_cloud.py --provider gcp --nodes 10 --pods 500 --days 7 --workdir /tmp/b
    python benchmarks/bench_ocp_on_cloud.py --provider gcp --scale large --oracle   # also Koku's SQL

--oracle runs /work/shared/oracle/cloud_reference.py on the same data (needs KOKU_GIT_DIR and the oracle venv):
Koku's Trino SQL executed by DuckDB, not Trino, so its time is an indication only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.bench_ocp_on_aws import DB, SCALES, run_ocp_and_cloud, run_oracle  # noqa: E402

PROVIDER_TYPE = {"azure": "Azure", "gcp": "GCP"}


def generate(provider: str, data: Path, schema: str, nodes: int, pods: int, days: int) -> dict:
    from contextlib import closing

    import psycopg2
    from psycopg2 import sql

    from poc_tasks.db.connection import qualified
    from poc_tasks.db.init import init_tenant
    from poc_tasks.sample import SampleConfig, write_sample
    from poc_tasks.sample.scenario import seed_tenant
    from poc_tasks.settings import libpq_url

    config = SampleConfig(schema=schema, nodes=nodes, pods=pods, days=days, label_changes=False,
                          **{f"with_{provider}": True})
    scenario = write_sample(str(data), config)
    (data / "scenario.json").write_text(json.dumps(scenario, default=str))
    with closing(psycopg2.connect(libpq_url(DB))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    init_tenant(DB, schema)
    section = scenario[provider]
    if provider == "azure":
        keys = [(k, True) for k in section["enabled_tag_keys"]]
    else:
        on = set(section["enabled_tag_keys"])
        keys = [(k, k in on) for k in sorted(set(section.get("tag_keys_seen", [])) | on)]
    with closing(psycopg2.connect(libpq_url(DB))) as conn:
        with conn:
            seed_tenant(conn, schema, scenario)
            with conn.cursor() as cur:
                insert = sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, %s, %s)")
                for key, enabled in keys:
                    cur.execute(insert.format(qualified(schema, "reporting_enabledtagkeys")),
                                (str(uuid.uuid4()), key, enabled, PROVIDER_TYPE[provider]))
    return scenario


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", required=True, choices=sorted(PROVIDER_TYPE))
    ap.add_argument("--scale", choices=sorted(SCALES))
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--pods", type=int)
    ap.add_argument("--days", type=int)
    ap.add_argument("--workdir", help="keep data here (default: a temporary directory)")
    ap.add_argument("--oracle", action="store_true", help="also run Koku's SQL (cloud_reference.py) on the data")
    args = ap.parse_args()
    provider = args.provider
    nodes, pods, days = SCALES[args.scale] if args.scale else (10, 500, 7)
    nodes, pods, days = args.nodes or nodes, args.pods or pods, args.days or days
    work = Path(args.workdir or tempfile.mkdtemp(prefix=f"bench_ocp_on_{provider}_"))
    data = work / "data_root"
    schema = f"org_bench_{provider}_{nodes}n"
    result: dict = {"provider": provider, "nodes": nodes, "pods": pods, "days": days, "schema": schema}
    try:
        t0 = time.perf_counter()
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        scenario = generate(provider, data, schema, nodes, pods, days)
        result["generate_s"] = round(time.perf_counter() - t0, 1)
        section = scenario[provider]
        result["cloud_lines"] = sum(f["rows"] for f in section["files"])
        if provider == "gcp":
            result["cloud_daily_lines"] = sum(f["daily_rows"] for f in section["files"])
        fields, seconds, peak = run_ocp_and_cloud(provider, data, scenario, schema)
        result.update(fields)
        written = result["rows_written"]
        result["cloud_lines_per_s"] = round(result["cloud_lines"] / seconds)
        print(f"OCP on {PROVIDER_TYPE[provider]}, {nodes} nodes / {pods} pods / {days} days: "
              f"{result['cloud_lines']} cloud lines -> {written} rows in {seconds:.1f} s "
              f"({result['cloud_lines_per_s']} cloud lines/s, {result['rows_written_per_s']} rows written/s), "
              f"peak RSS {peak:.0f} MiB")
        if args.oracle:
            result["oracle_s"] = run_oracle("cloud_reference.py", data, work / f"{provider}_ref", schema,
                                            "--provider", provider)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
