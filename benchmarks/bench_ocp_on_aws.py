#!/usr/bin/env python3
"""Benchmark `poc-tasks run ocp-on-aws` on generated months (the sample cluster and its matched AWS bill).

For each scale: generate Koku-shaped OCP and AWS Parquet (poc_tasks.sample with_aws, no mid-day label changes),
create the tenant, run `poc-tasks run ocp` (the OCP summary this flow needs), then `poc-tasks run ocp-on-aws` in a
child process, measuring wall time and that child's peak RSS (bench_ocp.child). Prints one line per scale and a JSON
summary: CUR lines (hourly `aws_line_items` and daily `aws_line_items_daily`) per second, rows written per
second, compute / write seconds.

    python benchmarks/bench_ocp_on_aws.py --scale large     # 50 nodes / 5,000 pods, 30 days (~520 k CUR lines)
    python benchmarks/bench_ocp_on_aws.py --scale xlarge    # 10x the pods and nodes (slow to generate)
    python benchmarks/bench_ocp_on_aws.py --nodes 10 --pods 500 --days 7 --workdir /tmp/bench_aws
    python benchmarks/bench_ocp_on_aws.py --scale large --oracle   # also Koku's SQL (Trino SQL on DuckDB)

--oracle runs /work/shared/oracle/aws_reference.py on the same data (needs KOKU_GIT_DIR and the oracle venv):
Koku's Trino SQL executed by DuckDB, not Trino, so its time is an indication only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_ocp import _raw_pod_rows, child  # noqa: E402 - benchmarks/ is this script's folder

SCALES = {"small": (10, 500, 30), "large": (50, 5000, 30), "xlarge": (500, 50000, 30)}
DB = os.environ.get("POC_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DSN = os.environ.get("ORACLE_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
ORACLE = Path(os.environ.get("ORACLE_DIR", ROOT.parent / "shared" / "oracle"))
ORACLE_PY = os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python")
POC = str(Path(sys.executable).parent / "poc-tasks")


def generate(data: Path, schema: str, nodes: int, pods: int, days: int) -> dict:
    from contextlib import closing

    import psycopg2
    from psycopg2 import sql

    from poc_tasks.db.connection import qualified
    from poc_tasks.db.init import init_tenant
    from poc_tasks.sample import SampleConfig, write_sample
    from poc_tasks.sample.scenario import seed_tenant
    from poc_tasks.settings import libpq_url

    config = SampleConfig(schema=schema, nodes=nodes, pods=pods, days=days, with_aws=True, label_changes=False)
    scenario = write_sample(str(data), config)
    (data / "scenario.json").write_text(json.dumps(scenario, default=str))
    with closing(psycopg2.connect(libpq_url(DB))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    init_tenant(DB, schema)
    with closing(psycopg2.connect(libpq_url(DB))) as conn:
        with conn:
            seed_tenant(conn, schema, scenario)
            with conn.cursor() as cur:
                insert = sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, true, 'AWS')")
                for key in scenario["aws"]["enabled_tag_keys"]:  # Koku enables every AWS key it sees
                    cur.execute(insert.format(qualified(schema, "reporting_enabledtagkeys")), (str(uuid.uuid4()), key))
    return scenario


def run_ocp_and_cloud(provider: str, data: Path, scenario: dict, schema: str) -> tuple[dict, float, float]:
    """`poc-tasks run ocp` (the OCP summary the cloud flow needs), then `run ocp-on-<provider>`, each in a child
    process: (result fields, the cloud run's seconds, its peak RSS MiB)."""
    env = {"POC_DATABASE_URL": DB, "POC_DATA_ROOT": str(data)}
    common = ["--schema", schema, "--cluster-id", scenario["cluster_id"], "--cluster-alias",
              scenario["cluster_alias"], "--start", scenario["start_date"], "--end", scenario["end_date"]]
    out: dict = {"raw_pod_rows": _raw_pod_rows(data, scenario)}
    seconds, ocp_peak, _ = child([POC, "run", "ocp", "--source-uuid", scenario["source_uuid"], *common], env)
    out.update({"ocp_summary_s": round(seconds, 2), "ocp_summary_peak_rss_mib": round(ocp_peak, 1)})
    seconds, peak, stdout = child([POC, "run", f"ocp-on-{provider}", "--ocp-source-uuid", scenario["source_uuid"],
                                   f"--{provider}-source-uuid", scenario[provider]["source_uuid"], *common], env)
    run = json.loads(stdout)
    written = sum(run["rows"].values())
    out.update({f"ocp_on_{provider}_s": round(seconds, 2), "peak_rss_mib": round(peak, 1), "rows_written": written,
                "rows": run["rows"], "timings": run["timings"], "rows_written_per_s": round(written / seconds)})
    return out, seconds, peak


def run_oracle(script: str, data: Path, out_dir: Path, schema: str, *extra: str) -> float:
    """Koku's SQL on the same data (an oracle script of ORACLE_DIR); its wall time in seconds."""
    return run_oracle_measured(script, data, out_dir, schema, *extra)[0]


def run_oracle_measured(script: str, data: Path, out_dir: Path, schema: str, *extra: str) -> tuple[float, float]:
    """run_oracle, also returning the peak RSS (MiB) of the oracle's process."""
    # exit 3: the oracle's own conservation check failed (Koku attributes more than a day's matched cost, as on
    # GCP's sample month); Koku's rows and timings are written all the same, and they are what is compared
    seconds, peak, _ = child([ORACLE_PY, str(ORACLE / script), *extra, "--root", str(data), "--out", str(out_dir),
                               "--schema", f"ref_{schema}", "--dsn", DSN, "--no-ui-crosscheck"], ok=(0, 3))
    print(f"Koku's SQL (Trino SQL on DuckDB + PostgreSQL): {seconds:.1f} s")
    return round(seconds, 1), peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES))
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--pods", type=int)
    ap.add_argument("--days", type=int)
    ap.add_argument("--workdir", help="keep data here (default: a temporary directory)")
    ap.add_argument("--oracle", action="store_true", help="also run Koku's SQL (aws_reference.py) on the data")
    args = ap.parse_args()
    nodes, pods, days = SCALES[args.scale] if args.scale else (10, 500, 7)
    nodes, pods, days = args.nodes or nodes, args.pods or pods, args.days or days
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_ocp_on_aws_"))
    data = work / "data_root"
    schema = f"org_bench_aws_{nodes}n"
    result: dict = {"nodes": nodes, "pods": pods, "days": days, "schema": schema}
    try:
        t0 = time.perf_counter()
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        scenario = generate(data, schema, nodes, pods, days)
        result["generate_s"] = round(time.perf_counter() - t0, 1)
        aws = scenario["aws"]
        result["cur_lines"] = sum(f["rows"] for f in aws["files"])
        result["cur_daily_lines"] = sum(f["daily_rows"] for f in aws["files"])
        fields, seconds, peak = run_ocp_and_cloud("aws", data, scenario, schema)
        result.update(fields)
        written = result["rows_written"]
        result.update({
            "cur_lines_per_s": round(result["cur_lines"] / seconds),
            "cur_daily_lines_per_s": round(result["cur_daily_lines"] / seconds),
            # the prior public attempt's measure: input rows (OCP pod rows and CUR lines) per second of the whole
            # OCP + OCP-on-AWS processing
            "input_rows_per_s": round((result["raw_pod_rows"] + result["cur_lines"])
                                      / (seconds + result["ocp_summary_s"])),
        })
        print(f"{nodes} nodes / {pods} pods / {days} days: {result['cur_lines']} CUR lines "
              f"({result['cur_daily_lines']} daily) -> {written} rows in {seconds:.1f} s "
              f"({result['cur_lines_per_s']} CUR lines/s, {result['rows_written_per_s']} rows written/s), "
              f"peak RSS {peak:.0f} MiB; with the OCP summary ({result['raw_pod_rows']} pod rows, "
              f"{result['ocp_summary_s']} s, {result['ocp_summary_peak_rss_mib']:.0f} MiB): "
              f"{result['input_rows_per_s']} input rows/s")
        if args.oracle:
            result["oracle_s"] = run_oracle("aws_reference.py", data, work / "aws_ref", schema)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
