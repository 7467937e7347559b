#!/usr/bin/env python3
"""Every flow at 1x, 3x and 10x of the 50-node / 5,000-pod / 30-day month, each beside Koku's own SQL in the same run.

    python benchmarks/bench_all.py --sizes 1,3,10                      # every flow, every size (10x: hours)
    python benchmarks/bench_all.py --sizes 1 --flows ocp,aws --no-worker
    python benchmarks/bench_all.py --sizes 1 --profile                 # also a cProfile of each flow's CLI run
    python benchmarks/bench_all.py --plot-only benchmarks/results/bench_all.jsonl

Flows and their peers (the peer runs on the same data, in the same run, on the same machine: compare ratios):
  ocp     `poc-tasks run ocp` (OCP daily summary incl. cluster info) vs Koku's self-hosted PostgreSQL SQL on the data
          already loaded (oracle koku_reference.py: its cluster-info queries + its summary statements, not the load)
  aws, azure, gcp
          `poc-tasks run ocp-on-<cloud>` vs Koku's Trino SQL for that flow run by DuckDB (oracle aws_reference.py /
          cloud_reference.py: its OCP-on-cloud steps, timings_s["ocp_on_<cloud>"], after its own OCP summary)

For each flow and size it measures: wall time of the CLI run and its compute / write split (the run's own timings),
rows read and written per second, the peak RSS of the CLI process (bench_ocp.child), the CPU seconds of the CLI run
(its chunk processes included) and of its PostgreSQL sessions, and the floor they put under the wall time on this
machine's cores ((CPU + PG CPU) / cores: a run at its floor is bound by CPU, not by waiting), the same task through
a real Celery worker started for it alone (prefork, one pool process: time and the worker's ru_maxrss), the peer's
time and peak RSS, the ratio (peer / ours), and the parity of the rows with the peer's (compare.py / cloud_parity.py).
Datasets are generated once per size (poc_tasks.sample: the cluster with its matched AWS, Azure and GCP bills, no
mid-day label changes) into DATA_DIR/x<size> and reused. Each flow gets a fresh tenant schema in --database-url.

Results: one JSON line per (size, flow) appended to OUT/bench_all.jsonl, a table on stdout, OUT/bench_all.png
(time and peak RSS against input rows). The machine's load (1-minute load average) is recorded before each flow.
Needs the oracle (KOKU_GIT_DIR, ORACLE_PYTHON or /work/oracle-venv) unless --no-peer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = (50, 5000, 30)  # nodes, pods, days of the 1x month
FLOWS = ("ocp", "aws", "azure", "gcp", "aws-daily", "azure-daily", "gcp-daily")
# the cloud daily summaries: the parity scripts time both sides (`poc-tasks run` in a child; Koku's Trino SQL on
# DuckDB in the script's process) on the dataset's bill, each into two fresh databases <db-prefix>_...
DAILY = {"aws-daily": ("daily_parity.py", "--flows", "aws", "--no-org-units"),
         "azure-daily": ("daily_parity_azure_gcp.py", "--provider", "azure"),
         "gcp-daily": ("daily_parity_azure_gcp.py", "--provider", "gcp")}
ORACLE_SCRIPT = {"aws": ("aws_reference.py",), "azure": ("cloud_reference.py", "--provider", "azure"),
                 "gcp": ("cloud_reference.py", "--provider", "gcp")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,3,10", help="multiples of the 50-node month (comma list)")
    ap.add_argument("--base", default=",".join(map(str, BASE)),
                    help="NODES,PODS,DAYS of the 1x month (default %(default)s; smaller for a quick try)")
    ap.add_argument("--flows", default=",".join(FLOWS), help=f"comma list of {', '.join(FLOWS)}")
    ap.add_argument("--data-dir", default="/work/bench_data", help="datasets, generated once per size")
    ap.add_argument("--work", default=None, help="reference output, staging, data views (default DATA_DIR/work)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder (JSON lines, PNG)")
    ap.add_argument("--database-url", default=os.environ.get("POC_BENCH_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--redis-url", default=os.environ.get("POC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                    help="broker and result backend of the worker runs")
    ap.add_argument("--db-prefix", default="bench_all", help="databases the daily flows create (and drop)")
    ap.add_argument("--queue", default="poc_aggregation", choices=["poc_aggregation", "poc_aggregation_xl"],
                    help="the worker runs' queue (two benchmarks on one broker: one each)")
    ap.add_argument("--schema-tag", default="", help="appended to every schema and database name (two benchmarks "
                    "of one size in one database at once)")
    ap.add_argument("--no-peer", action="store_true", help="skip Koku's SQL (and parity)")
    ap.add_argument("--no-worker", action="store_true", help="skip the runs through a Celery worker")
    ap.add_argument("--no-parity", action="store_true", help="skip the row comparison with the peer")
    ap.add_argument("--profile", action="store_true", help="also run each CLI run once under cProfile")
    ap.add_argument("--generate-only", action="store_true", help="only make the datasets")
    ap.add_argument("--plot-only", metavar="JSONL", nargs="+",
                    help="only print the table and plot these results (the PNG beside the first, named after it)")
    ap.add_argument("--markdown", action="store_true", help="with --plot-only: the table as Markdown")
    ap.add_argument("--generate-into", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    base = tuple(int(x) for x in args.base.split(","))
    if args.generate_into:
        return _generate_into(Path(args.generate_into), base, sizes[0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        records = [json.loads(line) for path in args.plot_only for line in Path(path).read_text().splitlines()
                   if line.strip()]
        print_table(records, markdown=args.markdown)
        # beside the (first) records file, named after it: re-plotting one session's records must not overwrite
        # another session's bench_all.png in the same folder
        png = Path(args.plot_only[0]).with_suffix(".png")
        plot(records, png)
        return 0
    flows = [f for f in args.flows.split(",") if f]
    unknown = set(flows) - set(FLOWS)
    if unknown:
        ap.error(f"unknown flows {sorted(unknown)}")
    data_dir = Path(args.data_dir)
    work = Path(args.work or data_dir / "work")
    # the composed scripts read their database and broker from the environment at import
    os.environ.update({"POC_BENCH_DATABASE_URL": args.database_url, "POC_DATABASE_URL": args.database_url,
                       "ORACLE_DSN": args.database_url, "POC_PARITY_DSN": args.database_url,
                       "POC_BENCH_REDIS_URL": args.redis_url, "POC_PARITY_WORK": str(work / "parity")})
    datasets = {size: dataset(data_dir, base, size) for size in sizes}
    if args.generate_only:
        return 0
    records = []
    jsonl = out / "bench_all.jsonl"
    for size in sizes:
        for flow in flows:
            record = run_flow(flow, base, size, datasets[size], work, args)
            records.append(record)
            with jsonl.open("a") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
            print_table([record], header=False)
    print_table(records)
    plot(records, out / "bench_all.png")
    return 0


# ------------------------------------------------------------------------------------------------- datasets
def dataset_name(base: tuple[int, ...], size: int) -> str:
    return f"x{size}" if base == BASE else "x{}_{}n{}p{}d".format(size, *base)


def dataset(data_dir: Path, base: tuple[int, ...], size: int) -> Path:
    """DATA_DIR/x<size>, generated once (in a child process, renamed into place when complete)."""
    path = data_dir / dataset_name(base, size)
    if (path / "scenario.json").exists():
        return path
    partial = path.with_name(path.name + ".partial")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--generate-into", str(partial), "--sizes", str(size),
                    "--base", ",".join(map(str, base))], check=True)
    partial.rename(path)
    print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def _generate_into(path: Path, base: tuple[int, ...], size: int) -> int:
    import shutil

    sys.path.insert(0, str(HERE.parent))
    from poc_tasks.sample import SampleConfig, write_sample

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    nodes, pods, days = base
    config = SampleConfig(schema=f"org_bench_{dataset_name(base, size)}", nodes=nodes * size, pods=pods * size,
                          days=days, label_changes=False, with_aws=True, with_azure=True, with_gcp=True)
    write_sample(str(path), config)
    return 0


def rows_read(scenario: dict, flow: str) -> int:
    """Input rows: the OCP flow's raw report rows (pod, storage, labels); a cloud flow's raw bill lines."""
    if flow == "ocp":
        return sum(scenario["features"]["raw_rows"].values())
    cloud = flow.removesuffix("-daily")
    column = "daily_rows" if flow != cloud and cloud != "azure" else "rows"  # the daily summaries read daily lines
    return sum(f[column] for f in scenario[cloud]["files"])


# ------------------------------------------------------------------------------------------------- flows
def run_flow(flow: str, base: tuple[int, ...], size: int, data: Path, work: Path, args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(HERE))
    import bench_ocp

    scenario = json.loads((data / "scenario.json").read_text())
    staging = work / "staging"
    name = dataset_name(base, size)
    record: dict = {"flow": flow, "size": size, "dataset": name, "nodes": base[0] * size, "pods": base[1] * size,
                    "days": base[2],
                    "rows_read": rows_read(scenario, flow), "load_1min": os.getloadavg()[0],
                    "commit": _commit(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    env = {"POC_STAGING_ROOT": str(staging)}
    cpu: dict = {}  # the CLI run's CPU seconds and its PostgreSQL backends' (bench_ocp.BackendCpu)
    print(f"== {flow} x{size} ({record['rows_read']} input rows), load {record['load_1min']:.1f}", flush=True)
    if flow in DAILY:
        record.update(run_daily(flow, name, data, args))
        if record.get("seconds"):
            record["rows_read_per_s"] = round(record["rows_read"] / record["seconds"])
            record["rows_written_per_s"] = round(record["rows_written"] / record["seconds"])
        return record
    if flow == "ocp":
        schema = _validated(scenario["schema"] + args.schema_tag)
        root = _view(data, scenario, schema, work / "views" / f"{name}_ocp")
        bench_ocp.prepare_tenant(root, schema)
        seconds, rss, result = bench_ocp.run_cli(root, scenario, schema, env, cpu, args.database_url)
        cmd = None
        task, kwargs = "poc_tasks.summarize_ocp", {
            "schema_name": schema, "source_uuid": scenario["source_uuid"], "start_date": scenario["start_date"],
            "end_date": scenario["end_date"], "cluster_id": scenario["cluster_id"],
            "cluster_alias": scenario["cluster_alias"]}
    else:
        import cloud_parity

        schema = _validated(f"org{flow}bench{name}{args.schema_tag}")
        root = work / "views" / f"{name}_{flow}"
        env = {**cloud_parity.prepare(data, scenario, flow, schema, root), **env}
        ocp_cmd, cmd = cloud_parity.run_commands(scenario, flow, schema)
        record["ocp_prerequisite_s"] = round(bench_ocp.child(ocp_cmd, env)[0], 2)
        seconds, rss, stdout = bench_ocp.child(cmd, env, cpu=cpu, database_url=args.database_url)
        result = json.loads(stdout)
        task, kwargs = f"poc_tasks.summarize_ocp_on_{flow}", {
            "schema_name": schema, "openshift_provider_uuid": scenario["source_uuid"],
            f"{flow}_provider_uuid": scenario[flow]["source_uuid"], "start_date": scenario["start_date"],
            "end_date": scenario["end_date"], "cluster_id": scenario["cluster_id"],
            "cluster_alias": scenario["cluster_alias"], "markup": "0", "distribution": "cpu"}
    written = sum(result["rows"].values())
    timings = result["timings"]
    # run_s: the run itself (prepare, compute, write, finalize) without the interpreter's start and imports, which
    # a worker pays once: the time a warm worker spends on the task
    record.update({"seconds": round(seconds, 2), "run_s": timings.get("total_s"),
                   "compute_s": timings.get("compute_s"), "write_s": timings.get("write_s"),
                   "finalize_s": timings.get("finalize_s"), "timings": timings, "rows_written": written,
                   "rows_read_per_s": round(record["rows_read"] / seconds),
                   "rows_written_per_s": round(written / seconds), "cli_peak_rss_mib": round(rss), **cpu})
    if cpu.get("pg_cpu_s") is not None:
        # a floor under the wall time when every core is busy: (the run's CPU + its server's CPU) / cores
        record["cpu_floor_s"] = round((cpu["cpu_s"] + cpu["pg_cpu_s"]) / (os.cpu_count() or 1), 1)
    if result.get("peak_rss_bytes_by_process"):  # per process: the run's own and each chunk process's
        record["cli_peak_rss_by_process_mib"] = {k: round(v / 2**20)
                                                 for k, v in result["peak_rss_bytes_by_process"].items()}
    if args.profile:
        record["profile"] = profile(cmd or bench_ocp.ocp_command(root, scenario, schema), env, work, flow, name)
    if not args.no_worker:
        run = bench_ocp.through_worker(task, kwargs, root, staging, processes=1, queue=args.queue)
        record.update({"worker_s": run["seconds"], "worker_max_rss_mib": run["max_rss_mib"],
                       "worker_sampled_peak_rss_mib": run["sampled_peak_rss_mib"]})
    if not args.no_peer:
        record.update(peer(flow, name, data, work, schema, args))
    return record


def run_daily(flow: str, name: str, data: Path, args: argparse.Namespace) -> dict:
    """A cloud daily summary through its parity script: both sides' seconds, our peak RSS (AWS: not measured by
    the script), the parity verdict."""
    import re

    import bench_ocp

    script, *extra = DAILY[flow]
    server = args.database_url.rsplit("/", 1)[0]
    proc = subprocess.run([bench_ocp.ORACLE_PY, str(HERE / script), str(data), *extra, "--prefix",
                           f"{args.db_prefix}{args.schema_tag}_{name}_{flow.replace('-', '_')}"],
                          capture_output=True, text=True, env={**os.environ, "POC_PARITY_URL": server,
                                                               "POC_TASKS": bench_ocp.POC})
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return {"error": proc.stderr.strip()[-500:]}
    if flow == "aws-daily":
        found = re.search(r"aws: (\w+) \((\d+) poc rows.*poc ([\d.]+)s, Koku SQL on DuckDB ([\d.]+)s", proc.stdout)
        if not found:
            return {"error": proc.stdout[-500:] + proc.stderr[-500:]}
        verdict, written, ours, koku = found.groups()
        fields = {"seconds": float(ours), "rows_written": int(written), "parity": verdict}
    else:
        out = json.loads(lines[-1])
        fields = {"seconds": out["poc_seconds"], "rows_written": out["poc_rows"],
                  "cli_peak_rss_mib": round(out["poc_peak_rss_mib"]),
                  "parity": "EQUAL" if out["equal"] else "DIFFERENT"}
        koku = out["koku_sql_duckdb_seconds"]
    fields.update({"peer_s": float(koku), "peer": "Koku Trino SQL on DuckDB (daily summary, per 5-day chunk)"})
    return fields


def _validated(schema: str) -> str:
    sys.path.insert(0, str(HERE.parent))
    from poc_tasks.validate import validate_schema

    return validate_schema(schema)


def _view(data: Path, scenario: dict, schema: str, root: Path) -> Path:
    """A data root whose account folder is `schema` (symlinks into the dataset), as cloud_parity.prepare makes."""
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    for daily in ("", "daily"):
        dst = root / "data" / "parquet" / daily / schema
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(data / "data" / "parquet" / daily / scenario["account"])
    (root / "scenario.json").symlink_to(data / "scenario.json")
    return root


def peer(flow: str, name: str, data: Path, work: Path, schema: str, args: argparse.Namespace) -> dict:
    """The peer's time on the same data, its peak RSS, and (unless --no-parity) whether our rows equal its rows."""
    import bench_ocp

    if flow == "ocp":
        ref = work / "ref" / f"{name}_ocp.parquet"
        ref.parent.mkdir(parents=True, exist_ok=True)
        fields = bench_ocp.koku_summary_sql(data, ref, f"ref_ocp_{name}{args.schema_tag}")
        fields["peer_s"] = round(fields["koku_summary_sql_seconds"] + fields["koku_cluster_info_seconds"], 2)
        fields["peer_peak_rss_mib"] = fields.pop("koku_peak_rss_mib")
        fields["peer"] = "Koku PostgreSQL SQL: cluster info + summary (data loaded)"
        if not args.no_parity:
            fields["parity"] = bench_ocp.parity(ref, schema)
        return fields
    from bench_ocp_on_aws import run_oracle_measured

    out_dir = work / "ref" / f"{name}_{flow}"
    wall, peak = run_oracle_measured(ORACLE_SCRIPT[flow][0], data, out_dir, name + args.schema_tag,
                                     *ORACLE_SCRIPT[flow][1:])
    meta = json.loads((out_dir / "run.meta.json").read_text())
    fields = {"peer_s": meta["timings_s"][f"ocp_on_{flow}"], "peer_peak_rss_mib": round(peak),
              "peer_wall_s": wall, "peer_timings": meta["timings_s"],
              "peer": f"Koku Trino SQL on DuckDB: OCP on {flow} steps (after its OCP summary)"}
    if not args.no_parity:
        proc = subprocess.run([sys.executable, str(HERE / "cloud_parity.py"), str(data), "--provider", flow,
                               "--no-run", "--schema", schema, "--ref", str(out_dir)],
                              capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        fields["parity"] = lines[-1] if lines else proc.stderr.strip()[-300:]
        fields["parity_detail"] = [ln for ln in lines if "oracle:" in ln or "differ" in ln][:20]
    return fields


# ------------------------------------------------------------------------------------------------- profile
PROFILE_GROUPS = (  # (group, substrings of a function's file:name); the first that matches wins
    ("imports", ("<frozen importlib", ":<module>", "importlib")),
    ("write (PostgreSQL)", ("poc_tasks/db/", "psycopg2", "sqlalchemy")),
    ("Parquet I/O (read, staging)", ("poc_tasks/io/", "pyarrow/parquet", "_parquet", "fsspec", "s3fs",
                                     "read_table", "iter_batches", "read_row_group")),
    ("transform", ("poc_tasks/ocp/", "poc_tasks/cloud/", "poc_tasks/daily/", "pandas/", "numpy/",
                   "pyarrow/compute", "_compute", "pyarrow/pandas_compat", "pyarrow/acero")),
)
# the run's steps (poc_tasks/ocp/pipeline.py, poc_tasks/cloud/flow.py): cumulative time of each
PROFILE_PHASES = {"imports": ("<frozen importlib._bootstrap>", "_find_and_load"), "prepare": ("", "prepare_ocp"),
                  "prepare ": ("poc_tasks/cloud/flow.py", "prepare"), "compute": ("", "compute_chunk"),
                  "write": ("", "write_table"), "finalize": ("", "finalize")}


def profile(cmd: list[str], env: dict, work: Path, flow: str, name: str) -> dict:
    """The CLI run once more under cProfile (writes in the main thread: POC_WRITE_WORKERS=1, which a thread
    pool would hide from the profiler). Returns its seconds, the cumulative seconds of the run's steps (imports,
    prepare, compute per chunk, write per table, finalize) and the self time per kind of work (C functions
    charged to their caller's kind); the .prof file stays for `python -m pstats`."""
    import pstats

    prof = work / "profiles" / f"{name}_{flow}.prof"
    prof.parent.mkdir(parents=True, exist_ok=True)
    python = str(Path(cmd[0]).parent / "python")
    t0 = time.perf_counter()
    subprocess.run([python, "-m", "cProfile", "-o", str(prof), *cmd], env={**os.environ, **env,
                   "POC_WRITE_WORKERS": "1"}, check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    phases: dict[str, float] = {}
    for key, (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        file, _line, fname = key
        group = _group(f"{file}:{fname}")
        if group == "other" and file == "~":  # a C function: charge it to its callers' kind
            group = _caller_group(stats, key)
        groups[group] = groups.get(group, 0.0) + tottime
        for phase, (where, wanted) in PROFILE_PHASES.items():
            if fname == wanted and ("poc_tasks/" in file or where.startswith("<")) and where in file:
                phases[phase.strip()] = phases.get(phase.strip(), 0.0) + cumtime
    top = sorted(stats.items(), key=lambda kv: -kv[1][3])
    return {"seconds": round(seconds, 2), "file": str(prof),
            "phases_s": {p: round(t, 2) for p, t in phases.items()},
            "self_time_s": {g: round(t, 2) for g, t in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top_cumulative": [f"{k[0].split('/poc_tasks/')[-1]}:{k[2]} {v[3]:.2f}s" for k, v in top
                               if "poc_tasks" in k[0] and k[2] != "<module>"][:20]}


def _group(where: str) -> str:
    return next((g for g, keys in PROFILE_GROUPS if any(k in where for k in keys)), "other")


def _caller_group(stats: dict, key: tuple) -> str:
    """The kind of the caller that spent the most time in this C function."""
    callers = stats[key][4]
    best, best_t = "other", -1.0
    for (file, _line, name), call in callers.items():
        t = call[3] if isinstance(call, tuple) and len(call) > 3 else 0.0
        if t > best_t:
            best, best_t = _group(f"{file}:{name}"), t
    return best


# ------------------------------------------------------------------------------------------------- output
COLUMNS = (("flow", "flow", "{}"), ("size", "size", "{}x"), ("rows in", "rows_read", "{:,}"),
           ("ours s", "seconds", "{:.1f}"), ("run s", "run_s", "{:.1f}"), ("compute", "compute_s", "{:.1f}"),
           ("write", "write_s", "{:.1f}"), ("finalize", "finalize_s", "{:.1f}"),
           ("in/s", "rows_read_per_s", "{:,}"), ("out/s", "rows_written_per_s", "{:,}"),
           ("CLI MiB", "cli_peak_rss_mib", "{}"), ("CPU s", "cpu_s", "{:.1f}"), ("PG CPU s", "pg_cpu_s", "{:.1f}"),
           ("CPU floor s", "cpu_floor_s", "{:.1f}"), ("worker s", "worker_s", "{:.1f}"),
           ("worker MiB", "worker_max_rss_mib", "{}"), ("peer s", "peer_s", "{:.1f}"),
           ("peer MiB", "peer_peak_rss_mib", "{}"), ("ratio", "ratio", "{:.2f}x"),
           ("ratio run", "ratio_run", "{:.2f}x"), ("load", "load_1min", "{:.1f}"), ("parity", "parity", "{}"),
           ("commit", "commit", "{}"))


def print_table(records: list[dict], header: bool = True, markdown: bool = False) -> None:
    rows = []
    for r in records:
        if r.get("run_s") is None:  # records of an earlier version
            r["run_s"] = (r.get("timings") or {}).get("total_s")
        if r.get("peer_s") and r.get("seconds"):
            r["ratio"] = round(r["peer_s"] / r["seconds"], 2)  # > 1: faster than the peer
        if r.get("peer_s") and r.get("run_s"):
            r["ratio_run"] = round(r["peer_s"] / r["run_s"], 2)
        rows.append([fmt.format(r[key]) if r.get(key) is not None else "-" for _, key, fmt in COLUMNS])
    edge = "| " if markdown else ""
    if header:
        print("\n" + edge + " | ".join(title for title, _, _ in COLUMNS) + edge[::-1])
        if markdown:
            print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print(edge + " | ".join(row) + edge[::-1], flush=True)


def plot(records: list[dict], path: Path) -> None:
    """Time (ours, through a worker, the peer) and peak RSS against input rows, one line per flow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    series = sorted({(r["flow"], r.get("commit", "")) for r in records}, key=lambda fc: (FLOWS.index(fc[0]), fc[1]))
    several = len({c for _, c in series}) > 1
    for i, (flow_, commit) in enumerate(series):
        rs = sorted((r for r in records if (r["flow"], r.get("commit", "")) == (flow_, commit)),
                    key=lambda r: r["rows_read"])
        flow = f"{flow_} {commit}" if several else flow_  # one line per commit when results of several are plotted
        x = [r["rows_read"] / 1e6 for r in rs]
        color = f"C{i}"
        ax_t.plot(x, [r["seconds"] for r in rs], "o-", color=color, label=f"{flow} poc_tasks")
        peers = [(xi, r["peer_s"]) for xi, r in zip(x, rs, strict=True) if r.get("peer_s")]
        if peers:
            ax_t.plot(*zip(*peers, strict=True), "s--", color=color, alpha=0.6, label=f"{flow} Koku SQL")
        cli = [(xi, r["cli_peak_rss_mib"]) for xi, r in zip(x, rs, strict=True) if r.get("cli_peak_rss_mib")]
        if cli:
            ax_m.plot(*zip(*cli, strict=True), "o-", color=color, label=f"{flow} CLI")
        workers = [(xi, r["worker_max_rss_mib"]) for xi, r in zip(x, rs, strict=True) if r.get("worker_max_rss_mib")]
        if workers:
            ax_m.plot(*zip(*workers, strict=True), "^:", color=color, alpha=0.6, label=f"{flow} worker")
    ax_m.axhline(512, color="red", linewidth=0.8)
    for ax, title in ((ax_t, "wall time (s)"), (ax_m, "peak RSS (MiB), 512 MiB line")):
        ax.set_xscale("log")
        ax.set_yscale("log" if ax is ax_t else "linear")
        ax.set_xlabel("input rows (millions)")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"plot: {path}")


def _commit() -> str:
    proc = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return proc.stdout.strip() + ("+dirty" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
