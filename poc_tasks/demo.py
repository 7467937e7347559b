"""`poc-tasks demo`: the whole job on embedded defaults, on a machine with no servers.

Sample data into a local directory (Koku's layout), an embedded PostgreSQL (pgserver), Celery with an in-process
worker (in-memory broker by default), the run through the real task and its chords, then a report: an aligned
summary on the terminal and an HTML page with plots (demo_report.py).

The workdir is kept: a second demo reuses its database, and the runs replace their rows as Koku's do, so the
report is the same on every run (the idempotence a re-run in Koku relies on). `poc-tasks demo --shell` opens
psql on that database afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import resource
import shutil
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from poc_tasks.settings import redact_url

__all__ = ["run_demo", "open_shell", "shell_hint"]

LOG = logging.getLogger(__name__)
EXAMPLE_QUERY = ("SELECT namespace, sum(pod_usage_cpu_core_hours) FROM "  # noqa: S608 - text shown to the user
                 "org1234567.reporting_ocpusagelineitem_daily_summary GROUP BY 1 ORDER BY 2 DESC;")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def shell_hint(workdir: str | Path) -> str:
    return f"poc-tasks demo --workdir {workdir} --shell   # psql on the demo's database (tenant schema org1234567)"


def run_demo(workdir: str, nodes: int, pods: int, days: int, broker: str = "memory://",
             cloud: str | None = "aws", report: str | None = None, verbose: bool = False,
             cloud_only: bool = False) -> dict[str, Any]:
    """Run the demo; print the summary and the report's path; return {"ocp": result, cloud: result, "report": path}."""
    from celery.contrib.testing.worker import start_worker

    from poc_tasks.app import QUEUE, app
    from poc_tasks.db.connection import connect
    from poc_tasks.db.init import init_tenant
    from poc_tasks.demo_report import CLOUD_NAMES, read_demo_data, render_html, terminal_summary
    from poc_tasks.embedded import embedded_postgres
    from poc_tasks.sample import SampleConfig, write_sample
    from poc_tasks.sample.scenario import seed_cloud_tenant, seed_tenant

    logging.getLogger("kombu.connection").setLevel(logging.ERROR)  # memory:// has no host: not worth a warning
    if not verbose:  # the in-process worker's step lines (worker_log) would bury the demo's own five steps
        os.environ.setdefault("POC_LOG_LEVEL", "WARNING")
    root = Path(workdir).absolute()
    data_root = str(root / "data")
    report_path = Path(report).absolute() if report else root / "report.html"
    clouds = {"with_aws": cloud == "aws", "with_azure": cloud == "azure", "with_gcp": cloud == "gcp"}
    config = SampleConfig(nodes=nodes, pods=pods, days=days, label_changes=False, **clouds)
    print(f"1/5 sample data: {nodes} nodes, {pods} pods, {days} days -> {data_root}", flush=True)
    scenario = write_sample(data_root, config)
    # cost model: GPUs, VMs and the sample cost model (poc_tasks.cost_model)
    from poc_tasks.cost_model.sample_data import add_gpus_and_vms, cost_model_rows, store_cost_model

    scenario = add_gpus_and_vms(data_root, scenario)
    out: dict[str, Any] = {}
    with embedded_postgres(root / "pg") as url:
        print(f"2/5 PostgreSQL: {redact_url(url)}; tenant schema {scenario['schema']}", flush=True)
        init_tenant(url, scenario["schema"])
        with closing(connect(url)) as conn:
            with conn:
                seed_tenant(conn, scenario["schema"], scenario)  # enables the scenario's OCP label keys
                store_cost_model(conn, scenario["schema"], cost_model_rows(
                    scenario["source_uuid"], config.start_date, config.end_date))
                if cloud:
                    seed_cloud_tenant(conn, scenario["schema"], scenario, cloud)
        os.environ.update({"POC_DATABASE_URL": url, "POC_DATA_ROOT": data_root,
                           "POC_STAGING_ROOT": str(root / "staging")})
        backend = "cache+memory://" if broker.startswith("memory") else broker
        # the in-memory backend has no native chords: Celery polls them, every 0.1 s here instead of 1 s
        app.conf.update(broker_url=broker, result_backend=backend, result_chord_retry_interval=0.1)
        print(f"3/5 Celery: in-process worker on queue {QUEUE} (broker {redact_url(broker)})", flush=True)
        kwargs = {"schema_name": scenario["schema"], "source_uuid": scenario["source_uuid"],
                  "start_date": scenario["start_date"], "end_date": scenario["end_date"],
                  "cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"]}
        timings = []
        daily_text = ""
        with start_worker(app, queues=[QUEUE], pool="solo", perform_ping_check=False, loglevel="WARNING"):
            if cloud and cloud_only:  # a user with only a cloud account: its daily summary, no OpenShift
                from poc_tasks.daily.report import run_cloud_daily

                print(f"4/5 runs: the {cloud} daily summary\n5/5 report\n", flush=True)
                out[f"{cloud}_daily"], daily_text = run_cloud_daily(app, QUEUE, url, scenario, cloud)
                print(daily_text)
                return out
            t0 = time.perf_counter()
            print("4/5 runs: poc_tasks.summarize_ocp", flush=True)
            out["ocp"] = app.send_task("poc_tasks.summarize_ocp", kwargs=kwargs, queue=QUEUE).get(timeout=600)
            timings.append(f"OCP {time.perf_counter() - t0:.2f} s")
            if cloud:
                cloud_kwargs = {"schema_name": kwargs["schema_name"], "openshift_provider_uuid": kwargs["source_uuid"],
                                f"{cloud}_provider_uuid": scenario[cloud]["source_uuid"],
                                "start_date": kwargs["start_date"], "end_date": kwargs["end_date"],
                                "cluster_id": kwargs["cluster_id"], "cluster_alias": kwargs["cluster_alias"]}
                t1 = time.perf_counter()
                print(f"    poc_tasks.summarize_ocp_on_{cloud}", flush=True)
                out[cloud] = app.send_task(f"poc_tasks.summarize_ocp_on_{cloud}", kwargs=cloud_kwargs,
                                           queue=QUEUE).get(timeout=600)
                timings.append(f"OCP on {CLOUD_NAMES[cloud]} {time.perf_counter() - t1:.2f} s")
                from poc_tasks.daily.report import run_cloud_daily  # the cloud source's own daily summary

                print(f"    poc_tasks.summarize_{cloud}", flush=True)
                out[f"{cloud}_daily"], daily_text = run_cloud_daily(app, QUEUE, url, scenario, cloud)
            # cost model: the steps Koku runs on Trino (GPU, VM), beside the usage they price
            t2 = time.perf_counter()
            print("    poc_tasks.apply_ocp_cost_model", flush=True)
            cm_result = app.send_task("poc_tasks.apply_ocp_cost_model", queue=QUEUE, kwargs={
                "schema_name": kwargs["schema_name"], "provider_uuid": kwargs["source_uuid"],
                "start_date": kwargs["start_date"], "end_date": kwargs["end_date"],
                "cluster_id": kwargs["cluster_id"], "cluster_alias": kwargs["cluster_alias"]}).get(timeout=600)
            timings.append(f"cost model {time.perf_counter() - t2:.2f} s")
        from poc_tasks.cost_model.report import cost_model_report
        from poc_tasks.runspec import OcpRunSpec

        cm_text = cost_model_report(url, data_root, OcpRunSpec.build(
            kwargs["schema_name"], kwargs["source_uuid"], kwargs["cluster_id"], kwargs["start_date"],
            kwargs["end_date"], kwargs["cluster_alias"]), cm_result)
        rows: dict[str, int] = {}
        for result in out.values():
            for table, n in result["rows"].items():
                rows[table] = rows.get(table, 0) + int(n)
        # the cost-model steps' rows are in the OCP summary too
        summary = "reporting_ocpusagelineitem_daily_summary"
        rows[summary] = rows.get(summary, 0) + sum(int(s.get("inserted", 0)) for s in cm_result["steps"].values())
        data = read_demo_data(url, scenario["schema"], scenario["source_uuid"], scenario["cluster_id"],
                              dt.date.fromisoformat(scenario["start_date"]),
                              dt.date.fromisoformat(scenario["end_date"]), cloud, rows)
    hint = shell_hint(workdir)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render_html(data, hint), encoding="utf-8")
    print(f"5/5 report (reporting_ocpusagelineitem_daily_summary, {scenario['start_date']} to "
          f"{scenario['end_date']})\n")
    print(terminal_summary(data))
    print(f"\ncost model: VM and GPU costs (reporting_ocpusagelineitem_daily_summary)\n\n{cm_text}\n")
    out["cost_model"] = cm_result
    print(f"time: {', '.join(timings)}; peak RSS {_peak_rss_mib():.0f} MiB")
    if daily_text:
        print(f"\n{daily_text}")
    print(f"\nHTML report with plots: {report_path}")
    print(f"open the demo's database: {hint}")
    out["report"] = str(report_path)
    return out


def open_shell(workdir: str) -> int:
    """Start the demo's embedded PostgreSQL, run psql on it until psql exits, stop it; psql's exit status."""
    from poc_tasks.embedded import embedded_postgres
    from poc_tasks.errors import ConfigurationError

    pg_dir = Path(workdir).absolute() / "pg"
    if not pg_dir.exists():
        raise ConfigurationError(f"no demo database in {pg_dir}: run `poc-tasks demo --workdir {workdir}` first")
    with embedded_postgres(pg_dir) as url:
        psql = _psql()
        print(f"database: {url}\n(tenant schema org1234567; try: {EXAMPLE_QUERY})", flush=True)
        if psql is None:
            input("no psql found; connect with the URL above, then press Enter to stop the database ")
            return 0
        return subprocess.call([psql, url])


def _psql() -> str | None:
    try:
        from pgserver.postgres_server import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("psql")
