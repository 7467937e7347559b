"""`poc-tasks demo`: the whole job on embedded defaults, on a machine with no servers.

Sample data into a local directory (Koku's layout), an embedded PostgreSQL (pgserver), Celery with an in-process
worker (in-memory broker by default), the run through the real task and its chords, then a readable report.
"""

from __future__ import annotations

import os
import resource
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from poc_tasks.settings import redact_url

REPORT_SQL = """
SELECT namespace,
       sum(pod_usage_cpu_core_hours) AS cpu_usage,
       sum(pod_request_cpu_core_hours) AS cpu_request,
       sum(pod_usage_memory_gigabyte_hours) AS mem_usage,
       sum(persistentvolumeclaim_usage_gigabyte_months) AS storage_usage
FROM {schema}.reporting_ocpusagelineitem_daily_summary
WHERE source_uuid = %s
GROUP BY namespace ORDER BY namespace NULLS LAST
"""


EMPTY_NAMESPACE = "'' (volume without a claim)"
CLOUD_NAMES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
CLOUD_REPORT_SQL = """
SELECT coalesce(namespace, '(none)'), sum(infrastructure_raw_cost), sum(infrastructure_markup_cost)
FROM {schema}.reporting_ocpusagelineitem_daily_summary
WHERE source_uuid = %s AND infrastructure_raw_cost IS NOT NULL AND infrastructure_raw_cost <> 0
GROUP BY 1 ORDER BY 2 DESC
"""


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):12.2f}"


def report(database_url: str, schema: str, source_uuid: str, result: dict[str, Any], seconds: float) -> str:
    from poc_tasks.db.connection import connect
    from poc_tasks.run import validate_schema

    validate_schema(schema)
    with closing(connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute(REPORT_SQL.format(schema=schema), (source_uuid,))  # noqa: S608 - schema validated
        rows = cur.fetchall()
    lines = [f"{'namespace':32s} {'CPU core-h':>12s} {'CPU req-h':>12s} {'mem GiB-h':>12s} {'PVC GiB-mo':>12s}"]
    total_cpu = sum(float(r[1] or 0) for r in rows)
    unalloc = sum(float(r[1] or 0) for r in rows if r[0] in ("Platform unallocated", "Worker unallocated"))
    for ns, cpu, req, mem, sto in rows:
        lines.append(f"{(ns or '(no role)')[:32]:32s} {_fmt(cpu)} {_fmt(req)} {_fmt(mem)} {_fmt(sto)}")
    share = 100.0 * unalloc / total_cpu if total_cpu else 0.0
    lines += [
        "",
        f"unallocated share of node CPU capacity (usage): {share:.1f} %",
        "rows per table: " + ", ".join(f"{t}={n}" for t, n in result["rows"].items()),
        f"rows read: {result['rows_read']}, bytes read: {result['bytes_read']}, day chunks: {result['chunks']}",
        f"time: {seconds:.2f} s (worker steps: {result['timings']}), peak RSS: {_peak_rss_mib():.0f} MiB",
    ]
    return "\n".join(lines)


def cloud_report(database_url: str, schema: str, source_uuid: str, cloud: str, result: dict[str, Any],
                 seconds: float) -> str:
    """The infrastructure cost the cloud run back-populated into the OCP summary, per namespace."""
    from poc_tasks.db.connection import connect
    from poc_tasks.run import validate_schema

    validate_schema(schema)
    with closing(connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute(CLOUD_REPORT_SQL.format(schema=schema), (source_uuid,))  # noqa: S608 - schema validated
        rows = cur.fetchall()
    lines = [f"{'namespace':32s} {'raw cost':>12s} {'markup':>12s}"]
    lines += [f"{(ns or EMPTY_NAMESPACE)[:32]:32s} {_fmt(raw)} {_fmt(markup)}" for ns, raw, markup in rows]
    lines += ["", f"total attributed {cloud} cost: {sum(float(r[1] or 0) for r in rows):.2f}",
              "rows per table: " + ", ".join(f"{t}={n}" for t, n in result["rows"].items()),
              f"time: {seconds:.2f} s, peak RSS: {_peak_rss_mib():.0f} MiB"]
    return "\n".join(lines)


def run_demo(workdir: str, nodes: int, pods: int, days: int, broker: str = "memory://",
             cloud: str | None = "aws") -> dict[str, Any]:
    import logging

    from celery.contrib.testing.worker import start_worker

    from poc_tasks.app import QUEUE, app
    from poc_tasks.db.init import init_tenant
    from poc_tasks.embedded import embedded_postgres
    from poc_tasks.sample import SampleConfig, write_sample
    from poc_tasks.scenario import seed_cloud_tenant, seed_tenant

    logging.getLogger("kombu.connection").setLevel(logging.ERROR)  # memory:// has no host: not worth a warning
    root = Path(workdir).absolute()
    data_root = str(root / "data")
    clouds = {"with_aws": cloud == "aws", "with_azure": cloud == "azure", "with_gcp": cloud == "gcp"}
    config = SampleConfig(nodes=nodes, pods=pods, days=days, label_changes=False, **clouds)
    print(f"1/4 sample data: {nodes} nodes, {pods} pods, {days} days -> {data_root}")
    scenario = write_sample(data_root, config)
    with embedded_postgres(root / "pg") as url:
        print(f"2/4 PostgreSQL: {redact_url(url)}; tenant schema {scenario['schema']}")
        init_tenant(url, scenario["schema"])
        from poc_tasks.db.connection import connect

        with closing(connect(url)) as conn:
            with conn:
                seed_tenant(conn, scenario["schema"], scenario)
                if cloud:
                    seed_cloud_tenant(conn, scenario["schema"], scenario, cloud)
        os.environ.update({"POC_DATABASE_URL": url, "POC_DATA_ROOT": data_root,
                           "POC_STAGING_ROOT": str(root / "staging")})
        backend = "cache+memory://" if broker.startswith("memory") else broker
        # the in-memory backend has no native chords: Celery polls them, every 0.1 s here instead of 1 s
        app.conf.update(broker_url=broker, result_backend=backend, result_chord_retry_interval=0.1)
        print(f"3/4 Celery: in-process worker on queue {QUEUE} (broker {redact_url(broker)})")
        kwargs = {"schema_name": scenario["schema"], "source_uuid": scenario["source_uuid"],
                  "start_date": scenario["start_date"], "end_date": scenario["end_date"],
                  "cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"]}
        t0 = time.perf_counter()
        with start_worker(app, queues=[QUEUE], pool="solo", perform_ping_check=False, loglevel="WARNING"):
            result = app.send_task("poc_tasks.summarize_ocp", kwargs=kwargs, queue=QUEUE).get(timeout=600)
            seconds = time.perf_counter() - t0
            print("4/4 report (reporting_ocpusagelineitem_daily_summary, whole period)\n")
            print(report(url, scenario["schema"], scenario["source_uuid"], result, seconds))
            if cloud:
                cloud_kwargs = {"schema_name": kwargs["schema_name"], "openshift_provider_uuid": kwargs["source_uuid"],
                                f"{cloud}_provider_uuid": scenario[cloud]["source_uuid"],
                                "start_date": kwargs["start_date"], "end_date": kwargs["end_date"],
                                "cluster_id": kwargs["cluster_id"], "cluster_alias": kwargs["cluster_alias"]}
                t1 = time.perf_counter()
                cloud_result = app.send_task(f"poc_tasks.summarize_ocp_on_{cloud}", kwargs=cloud_kwargs,
                                             queue=QUEUE).get(timeout=600)
                print(f"\nOCP on {CLOUD_NAMES[cloud]}: infrastructure cost back-populated into the OCP summary\n")
                print(cloud_report(url, scenario["schema"], scenario["source_uuid"], CLOUD_NAMES[cloud],
                                   cloud_result, time.perf_counter() - t1))
    return result
