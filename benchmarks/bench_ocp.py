#!/usr/bin/env python3
"""Benchmark `poc-tasks run ocp` on generated months, beside Koku's own PostgreSQL summary SQL.

For each scale: generate Koku-shaped Parquet (poc-tasks sample), run `poc-tasks run ocp` in a child process and
measure wall time and peak RSS (getrusage of the child), then -- when the oracle is available (KOKU_GIT_DIR and
/work/oracle-venv or ORACLE_PYTHON) -- run Koku's self-hosted summary SQL on the same data already loaded into
PostgreSQL and report the time its summary statements took. Prints one line per scale and a JSON summary.

    python benchmarks/bench_ocp.py --scale small            # 10 nodes / 500 pods, 30 days
    python benchmarks/bench_ocp.py --scale large            # 50 nodes / 5,000 pods, 30 days (~3.5 M raw rows)
    python benchmarks/bench_ocp.py --nodes 20 --pods 1000 --days 10 --no-oracle
    python benchmarks/bench_ocp.py --scale large --celery 2   # also through a real worker, 2 processes
    python benchmarks/bench_ocp.py --scale large --no-oracle --peer "env PYTHONPATH=/tmp/base python -m poc_tasks.cli"
        # the same run by another checkout's code too, alternately (--repeat times each): write and finalize times

With --celery N the same run also goes through `celery -A poc_tasks worker --concurrency N` (prefork, the real
Redis at POC_BENCH_REDIS_URL, default redis://127.0.0.1:6379/14): day chunks spread over the N processes; the
peak RSS reported is the largest of any one worker process (sampled every 50 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"small": (10, 500, 30), "large": (50, 5000, 30)}
DB = os.environ.get("POC_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DSN = os.environ.get("ORACLE_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
ORACLE = Path(os.environ.get("ORACLE_DIR", ROOT.parent / "shared" / "oracle"))
ORACLE_PY = os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python")
POC = str(Path(sys.executable).parent / "poc-tasks")


# A small Python process runs the command and reports its child's peak RSS: Linux carries the forking process's
# high-water RSS into the child across exec (exec_mmap), so measuring a child forked straight from this script,
# which holds the generated month (~1 GiB at xlarge), would report this script's peak instead of the child's.
_PEAK_WRAPPER = (
    "import os, resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {u.ru_utime + u.ru_stime}')\n"
    "sys.exit(rc)\n"
)


def _peak(peak_file) -> tuple[float, float]:
    """What _PEAK_WRAPPER wrote: (ru_maxrss KiB, CPU seconds) of the processes it waited for."""
    peak_kib, cpu_s = (float(x) for x in (peak_file.read() or "0 0").split())
    return peak_kib, cpu_s


class BackendCpu:
    """The CPU seconds (user + system) PostgreSQL spends on poc_tasks' sessions while a command runs: every backend
    of one database whose application_name starts with 'poc_tasks' (what poc_tasks.db.connection.connect sets; a
    peer benchmark on the same database is left out), found in pg_stat_activity and read from /proc (Linux, the
    server on this machine) every 0.2 s. A command's own CPU leaves out the server's, which on this 2-core machine
    competes for the same cores: the sum of both bounds a run's wall time from below (sum / cores)."""

    def __init__(self, database_url: str | None) -> None:
        self.url = database_url
        self.database = urlsplit(database_url).path.lstrip("/") if database_url else None
        self.seen, self.start = {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._conn = None

    def _sample(self) -> dict[str, float]:
        out, tick = {}, os.sysconf("SC_CLK_TCK")
        with self._conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'poc_tasks%%'",
                        (self.database,))
            pids = [str(r[0]) for r in cur.fetchall()]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.seen.update(self._sample())

    def __enter__(self) -> BackendCpu:
        if self.database and Path("/proc/self/stat").exists():
            import psycopg2

            self._conn = psycopg2.connect(self.url.replace("postgresql+psycopg2://", "postgresql://"),
                                          application_name="bench BackendCpu")
            self._conn.autocommit = True
            self.start = self._sample()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self._conn.close()

    @property
    def seconds(self) -> float | None:
        if not self.database:
            return None
        return round(sum(v - self.start.get(k, 0.0) for k, v in self.seen.items()), 1)


def child(cmd: list[str], env: dict | None = None, ok: tuple[int, ...] = (0,),
          cpu: dict | None = None, database_url: str | None = None) -> tuple[float, float, str]:
    """Run a command; return (seconds, peak RSS MiB of that command alone, stdout). An exit status outside `ok`
    stops the benchmark with the command's stderr. With `cpu` (a dict), also fill in ``cpu_s`` (user + system
    seconds of the command and every process it waited for: a run's chunk processes) and, with `database_url`,
    ``pg_cpu_s`` (BackendCpu of that database's poc_tasks sessions)."""
    with tempfile.NamedTemporaryFile("r", suffix=".maxrss") as peak_file, BackendCpu(database_url) as server:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, peak_file.name, *cmd], capture_output=True,
                              text=True, env={**os.environ, **(env or {})})
        seconds = time.perf_counter() - t0
        if proc.returncode not in ok:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
        peak_kib, cpu_s = _peak(peak_file)
    if cpu is not None:
        cpu["cpu_s"] = round(cpu_s, 1)
        cpu["pg_cpu_s"] = server.seconds
    return seconds, peak_kib / 1024.0, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES))
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--pods", type=int)
    ap.add_argument("--days", type=int)
    ap.add_argument("--workdir", help="keep data here (default: a temporary directory)")
    ap.add_argument("--no-oracle", action="store_true", help="skip Koku's SQL")
    ap.add_argument("--celery", type=int, default=0, help="also run through a Celery worker with N processes")
    ap.add_argument("--peer", help="a command that runs another checkout's `poc-tasks` (before/after, same data)")
    ap.add_argument("--repeat", type=int, default=2, help="with --peer: runs of each, alternately")
    args = ap.parse_args()
    nodes, pods, days = SCALES[args.scale] if args.scale else (10, 500, 30)
    nodes, pods, days = args.nodes or nodes, args.pods or pods, args.days or days
    work = Path(args.workdir or tempfile.mkdtemp(prefix="poc-bench-"))
    data = work / "data"
    schema = "org9990001"

    t_gen, _, out = child([POC, "sample", "--data-root", str(data), "--schema", schema, "--nodes", str(nodes),
                           "--pods", str(pods), "--days", str(days)])
    scenario = json.loads((data / "scenario.json").read_text())
    prepare_tenant(data, schema)
    t_run, rss, result = run_cli(data, scenario, schema)
    raw_rows = _raw_pod_rows(data, scenario)
    line = {"nodes": nodes, "pods": pods, "days": days, "raw_pod_rows": raw_rows,
            "summary_rows": sum(result["rows"].values()), "poc_seconds": round(t_run, 2),
            "poc_raw_rows_per_s": round(raw_rows / t_run), "poc_peak_rss_mib": round(rss),
            "poc_timings": result["timings"], "generate_seconds": round(t_gen, 1)}
    if args.peer:
        line["peer"] = _against_peer(args.peer.split(), ocp_command(data, scenario, schema), args.repeat)
    if args.celery:
        line.update(_through_celery(args.celery, data, scenario, schema, work))
    if not args.no_oracle and os.environ.get("KOKU_GIT_DIR") and Path(ORACLE_PY).exists():
        ref = work / "koku_ref.parquet"
        line.update(koku_summary_sql(data, ref, "ref_bench"))
        line["speedup_vs_koku_sql"] = round(line["koku_summary_sql_seconds"] / t_run, 2)
        if "celery_seconds" in line:
            line["celery_speedup_vs_koku_sql"] = round(line["koku_summary_sql_seconds"] / line["celery_seconds"], 2)
        line["parity"] = parity(ref, schema)
    print(json.dumps(line))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def prepare_tenant(data: Path, schema: str) -> None:
    """A fresh tenant schema (init-db) seeded from the dataset's scenario.json (enabled keys, cost categories)."""
    child(["psql", DB, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"])
    child([POC, "init-db", "--database-url", DB, "--schema", schema])
    seed = ("from contextlib import closing\nfrom poc_tasks.db.connection import connect\n"
            "from poc_tasks.sample.scenario import read_scenario, seed_tenant\n"
            f"with closing(connect({DB!r})) as c:\n"
            f"    with c: seed_tenant(c, {schema!r}, read_scenario({str(data)!r}))")
    child([sys.executable, "-c", seed])


def ocp_command(data: Path, scenario: dict, schema: str) -> list[str]:
    """`poc-tasks run ocp` for the dataset's whole range into `schema`."""
    return [POC, "run", "ocp", "--database-url", DB, "--data-root", str(data), "--schema", schema,
            "--source-uuid", scenario["source_uuid"], "--cluster-id", scenario["cluster_id"],
            "--cluster-alias", scenario["cluster_alias"], "--start", scenario["start_date"],
            "--end", scenario["end_date"]]


def run_cli(data: Path, scenario: dict, schema: str, env: dict | None = None, cpu: dict | None = None,
            database_url: str | None = None) -> tuple[float, float, dict]:
    """`poc-tasks run ocp` on the dataset in a child process: (seconds, peak RSS MiB, its JSON result); `cpu` and
    `database_url` as child's."""
    seconds, rss, out = child(ocp_command(data, scenario, schema), env, cpu=cpu, database_url=database_url)
    return seconds, rss, json.loads(out)


def koku_summary_sql(data: Path, ref: Path, ref_schema: str) -> dict:
    """Koku's self-hosted summary SQL on the dataset (koku_reference.py: load, cluster info, summary per chunk,
    export to `ref`): the seconds of its summary statements and of its cluster-info queries (data already loaded),
    its wall time including the load, and the peak RSS of its process."""
    t_ref, peak, _ = child([ORACLE_PY, str(ORACLE / "koku_reference.py"), "--root", str(data), "--out", str(ref),
                            "--schema", ref_schema, "--dsn", DSN])
    meta = json.loads(Path(str(ref) + ".meta.json").read_text())
    summary = sum(t for name, t, _ in meta["timings_s"] if name.startswith("summary"))
    # Koku also runs its cluster-info queries (nodes, PVCs, projects) on Trino before the summary
    cluster_info = sum(t for name, t, _ in meta["timings_s"] if name == "cluster info tables")
    return {"koku_summary_sql_seconds": round(summary, 2), "koku_cluster_info_seconds": round(cluster_info, 2),
            "koku_total_seconds_incl_load": round(t_ref, 1), "koku_peak_rss_mib": round(peak),
            "koku_timings": meta["timings_s"]}


PARITY_ROWS = 400_000  # rows per compare.py run: it holds both sides as Python objects (~6 KB a row at 10x)


def parity(ref: Path, schema: str, max_rows: int = PARITY_ROWS) -> str:
    """compare.py's verdict: Koku's rows (`ref`) against the schema's OCP daily summary.

    compare.py holds both sides as Python dicts: the 10x month (1.66 M rows) passed 20 GB on this 24 GB machine.
    Above `max_rows` the month is compared a range of whole days at a time (every row has one usage_start, so the
    day ranges partition both sides and the verdicts add up): Koku's slice as a Parquet file, ours as a view."""
    import psycopg2
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from psycopg2 import sql

    table = "reporting_ocpusagelineitem_daily_summary"
    days = pq.read_table(ref, columns=["usage_start"]).column(0)
    counts = sorted((d.as_py(), n.as_py()) for d, n in zip(*pc.value_counts(days).flatten(), strict=True))
    ranges: list[list] = []
    for day, n in counts:
        if not ranges or ranges[-1][2] + n > max_rows:
            ranges.append([day, day, 0])
        ranges[-1][1:] = [day, ranges[-1][2] + n]
    if len(ranges) <= 1:
        return _compare(str(ref), f"{DSN}|{schema}.{table}")
    matched = total = 0
    # closing(), not `with conn`: psycopg2 2.9's connection block is one transaction even in autocommit, and
    # compare.py's own session must see each view
    with tempfile.TemporaryDirectory() as tmp, contextlib.closing(psycopg2.connect(DSN)) as conn:
        conn.autocommit = True
        view = f"parity_{os.getpid()}"
        expected = pq.read_table(ref)  # once: a filtered read decodes the whole file again for every range
        for first, last, _ in ranges:
            part = Path(tmp) / "ref.parquet"
            day = expected.column("usage_start")
            pq.write_table(expected.filter(pc.and_(pc.greater_equal(day, first), pc.less_equal(day, last))), part)
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE OR REPLACE VIEW {v} AS SELECT * FROM {t} WHERE usage_start BETWEEN %s "
                                    "AND %s").format(v=sql.Identifier(schema, view),
                                                     t=sql.Identifier(schema, table)), (first, last))
            try:
                verdict = _compare(str(part), f"{DSN}|{schema}.{view}")
            finally:
                with conn.cursor() as cur:
                    cur.execute(sql.SQL("DROP VIEW IF EXISTS {v}").format(v=sql.Identifier(schema, view)))
            words = verdict.split()
            if not (verdict.startswith("oracle:") and words[-1] == "match" and "/" in words[1]):
                return f"{verdict} (days {first}..{last})"
            m, t = words[1].split("/")
            matched, total = matched + int(m), total + int(t)
    return f"oracle: {matched}/{total} rows match ({len(ranges)} day ranges compared one at a time)"


def _compare(expected: str, actual: str) -> str:
    cmp = subprocess.run([ORACLE_PY, str(ORACLE / "compare.py"), expected, actual], capture_output=True, text=True)
    return (cmp.stdout.strip().splitlines() or ["?"])[-1]


def _against_peer(peer: list[str], run: list[str], repeat: int) -> dict:
    """The same `run ocp` by this checkout and by `peer` alternately (the load of a shared machine hits both
    alike): each one's write_s (tables written, or staged), finalize_s (the swap, when the code has one) and run
    seconds, and the medians."""
    import statistics

    runs: dict[str, list[dict]] = {"this": [], "peer": []}
    for _ in range(repeat):
        for name, cmd in (("peer", [*peer, *run[1:]]), ("this", run)):
            seconds, _, out = child(cmd)
            t = json.loads(out)["timings"]
            runs[name].append({"write_s": t.get("write_s"), "finalize_s": t.get("finalize_s"),
                               "seconds": round(seconds, 2)})
            print(name, runs[name][-1], file=sys.stderr)

    def median(name: str, key: str) -> float | None:
        values = [r[key] for r in runs[name] if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    return {"runs": runs, **{f"{name}_median_{key}": median(name, key) for name in runs
                             for key in ("write_s", "finalize_s", "seconds")}}


def _through_celery(processes: int, data: Path, scenario: dict, schema: str, work: Path) -> dict:
    """The same run through a real worker (prefork, `processes` children) and the chords."""
    kwargs = {"schema_name": schema, "source_uuid": scenario["source_uuid"],
              "start_date": scenario["start_date"], "end_date": scenario["end_date"],
              "cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"]}
    run = through_worker("poc_tasks.summarize_ocp", kwargs, data, work / "stg", processes)
    return {"celery_processes": processes, "celery_seconds": run["seconds"],
            "celery_peak_rss_mib_per_process": run["sampled_peak_rss_mib"],
            "celery_max_rss_mib": run["max_rss_mib"], "celery_rows": run["result"]["rows"]}


def through_worker(task: str, kwargs: dict, data: Path, staging: Path, processes: int = 1,
                   queue: str = "poc_aggregation") -> dict:
    """Send `task` to a real `celery -A poc_tasks worker --concurrency N` (prefork) started for it alone, wait for
    its result and stop the worker. Returns seconds (send to result), the result, the largest RSS of any one worker
    process sampled every 50 ms, and the worker's exact high-water RSS: ru_maxrss of the worker and its pool
    processes (the peak wrapper reads getrusage(RUSAGE_CHILDREN) once the worker has exited). `queue`:
    poc_aggregation or poc_aggregation_xl (a run's follow-up tasks stay on its queue), so that two benchmarks sharing
    a broker do not take each other's tasks."""
    import signal

    import psutil

    broker = os.environ.get("POC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    env = {**os.environ, "POC_DATABASE_URL": DB, "POC_DATA_ROOT": str(data), "POC_STAGING_ROOT": str(staging),
           "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker}
    celery = str(Path(sys.executable).parent / "celery")
    with tempfile.NamedTemporaryFile("r", suffix=".maxrss") as peak_file:
        wrapper = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, peak_file.name, celery, "-A", "poc_tasks",
                                    "worker", "-Q", queue, "--concurrency", str(processes),
                                    "--prefetch-multiplier", "1", "--loglevel", "WARNING"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.environ.update({"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker})
            from poc_tasks.app import app

            app.conf.update(broker_url=broker, result_backend=broker)
            time.sleep(3)  # worker start-up (not timed)
            peak = 0
            t0 = time.perf_counter()
            res = app.send_task(task, kwargs=kwargs, queue=queue)
            while not res.ready():
                for proc in psutil.Process(wrapper.pid).children(recursive=True):
                    try:
                        peak = max(peak, proc.memory_info().rss)
                    except psutil.NoSuchProcess:
                        pass
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
            result = res.get()
        finally:
            for proc in psutil.Process(wrapper.pid).children():  # the celery main process: a warm shutdown
                proc.send_signal(signal.SIGTERM)
            wrapper.wait(timeout=120)
        max_rss_kib, _ = _peak(peak_file)
    return {"seconds": round(seconds, 2), "result": result, "sampled_peak_rss_mib": round(peak / 2**20),
            "max_rss_mib": round(max_rss_kib / 1024)}


def _raw_pod_rows(data: Path, scenario: dict) -> int:
    import pyarrow.parquet as pq

    folder = (data / "data" / "parquet" / scenario["account"] / "OCP" / "pod_usage" /
              f"source={scenario['source_uuid']}" / f"year={scenario['year']}" / f"month={scenario['month']}")
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))


if __name__ == "__main__":
    sys.exit(main())
