#!/usr/bin/env python3
"""Parity of the cost-model steps with Koku's own SQL (its PostgreSQL port, self_hosted_sql), and their timings.

1. A dataset with GPUs and VMs: ``poc-tasks sample`` plus poc_tasks.cost_model.sample_data (or --root DATASET).
2. The oracle (/work/shared/oracle/koku_reference.py) loads it into a throwaway schema as Koku's on-prem writer does
   and runs Koku's daily summary there (schema kept).
3. Koku's statements, rendered at run time from the Koku git directory as Koku renders them (JinjaSql), run in that
   schema for the sample cost model: monthly_cost_gpu.sql per GPU tag rate (after Koku's Tag delete),
   delete_monthly_cost.sql + monthly_vm_core.sql for vm_core_cost_per_month. Their rows are exported.
4. poc_tasks runs the same steps in the same schema, reading the Parquet: its deletes must remove exactly Koku's
   rows, its inserts must equal them. Its rows are exported and compared with compare.py (every row, multiset).

Usage (development machine; CI has no Koku checkout):
    .venv/bin/python benchmarks/cost_model_parity.py --dsn "host=127.0.0.1 user=postgres dbname=poc_i10" \
        --koku-git-dir /work/.mirror/project-koku+koku/repo [--nodes 6 --pods 60 --days 3] [--distribution memory]
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
from decimal import Decimal
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.schema import CreateTable

ORACLE_DIR = Path(os.environ.get("POC_ORACLE_DIR", "/work/shared/oracle"))
sys.path.insert(0, str(ORACLE_DIR))
import koku_reference as oracle  # noqa: E402

from poc_tasks.cost_model import sample_data  # noqa: E402
from poc_tasks.cost_model.flow import run_cost_model  # noqa: E402
from poc_tasks.db import tables_cost_model  # noqa: E402
from poc_tasks.runspec import OcpRunSpec  # noqa: E402

_copy_dataframe = oracle.copy_dataframe


def _copy_with_integer_columns(conn, schema, table, df, table_cols):
    """The oracle's COPY, with the GPU report's integer columns as integers: a Parquet that stores them as doubles
    (nise's, through benchmarks/nise_to_koku_parquet.py) would otherwise send "2.0" to an integer column, which
    Koku's own writer (pandas to_sql) converts."""
    for col in ("mig_slice_count", "gpu_max_slices"):
        if col in df.columns and df[col].dtype.kind == "f":
            df = df.assign(**{col: df[col].astype("Int64")})
    return _copy_dataframe(conn, schema, table, df, table_cols)


oracle.copy_dataframe = _copy_with_integer_columns
SQL_DIR = "koku/masu/database/self_hosted_sql/openshift/cost_model"
TAG_DELETE = "koku/masu/database/sql/openshift/cost_model/delete_monthly_cost.sql"


def koku_tag_params(rates: list[dict], metric: str) -> list[dict]:
    """Koku's CostModelDBAccessor.metric_to_tag_params_map[metric], written again from Koku's description."""
    out = []
    for rate in rates:
        tag = rate.get("tag_rates")
        if not tag or rate["metric"]["name"] != metric:
            continue
        p: dict = {"rate_type": rate["cost_type"], "tag_key": tag["tag_key"]}
        values = {}
        for tv in tag["tag_values"]:
            if tv.get("default"):
                p["default_rate"] = float(tv["value"])
            else:
                values[tv["tag_value"]] = float(tv["value"])
        if values:
            p["value_rates"] = values
        out.append(p)
    return out


def tag_statements(days: int, scenario: dict, vm_report: bool, gpu: bool) -> list[tuple[str, str, dict]]:
    """populate_tag_based_costs' Trino entries in its order: (metric, statement, extra parameters); the VM-core
    ones need the VM table; GPU only when asked for (the summary run does it first, after Koku's Tag delete)."""
    monthly = {"amortized_denominator": days, "cost_type": "Tag"}
    cluster = {"cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"]}
    out = [("vm_cost_per_hour", "hourly_cost_vm_tag_based", {"use_fractional_hours": vm_report})]
    if vm_report:
        out += [("vm_core_cost_per_month", "monthly_vm_core_tag_based", monthly),
                ("vm_core_cost_per_hour", "hourly_vm_core_tag_based", {})]
    if gpu:
        out.append(("gpu_cost_per_month", "monthly_cost_gpu", {**monthly, **cluster}))
    out.append(("project_per_month", "monthly_project_tag_based", {**monthly, **cluster}))
    return out


def run_koku(conn, koku, render, schema, scenario, rp, rates, timings, vm_report: bool) -> None:
    start, end = scenario["start_date"], scenario["end_date"]
    first = dt.date.fromisoformat(start)
    days = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    base = {"schema": schema, "start_date": start, "end_date": end, "year": scenario["year"],
            "month": scenario["month"], "source_uuid": scenario["source_uuid"], "report_period_id": rp}
    with conn.cursor() as cur:  # _delete_tag_usage_costs
        cur.execute(sql.SQL("DELETE FROM {}.reporting_ocpusagelineitem_daily_summary WHERE source_uuid = %s "
                            "AND usage_start >= %s AND usage_start <= %s AND monthly_cost_type = 'Tag' "
                            "AND report_period_id = %s").format(sql.Identifier(schema)),
                    (scenario["source_uuid"], start, end, rp))
    gpu_sql = koku.show(f"{SQL_DIR}/monthly_cost_gpu.sql")
    for p in koku_tag_params(rates, "gpu_cost_per_month"):
        params = {**base, **p, "amortized_denominator": days.day, "cost_type": "Tag",
                  "cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"],
                  "cost_model_id": sample_data.SAMPLE_COST_MODEL_UUID, "rate_uuid": None, "custom_name": "gpu",
                  "metric_type": "gpu"}
        oracle.execute_koku_script(conn, gpu_sql, params, render, None, timings, f"gpu {p['tag_key']}")
    # populate_tag_based_costs' VM entries, in its order (after Koku's Tag delete above)
    for metric, name, extra in tag_statements(days.day, scenario, vm_report, gpu=False):
        for p in koku_tag_params(rates, metric):
            params = {**base, **p, **extra, "cost_model_id": sample_data.SAMPLE_COST_MODEL_UUID, "rate_uuid": None,
                      "custom_name": metric, "metric_type": "cpu"}
            oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/{name}.sql"), params, render, None, timings,
                                       f"{name} {p['tag_key']}")
    vm_rate = next((r for r in rates if r["metric"]["name"] == "vm_core_cost_per_month" and not r.get("tag_rates")),
                   None)
    delete = {**base, "cost_type": "OCP_VM_CORE"}
    if vm_report:  # populate_monthly_cost_sql returns before its delete without the VM table
        oracle.execute_koku_script(conn, koku.show(TAG_DELETE), delete, render, None, timings, "vm core delete")
    if vm_rate and vm_report:
        amortized = Decimal(vm_rate["tiered_rates"][0]["value"]) / days.day
        params = {**base, "rate": amortized, "cost_type": "OCP_VM_CORE", "rate_type": vm_rate["cost_type"],
                  "distribution": "cpu", "cost_model_id": sample_data.SAMPLE_COST_MODEL_UUID, "rate_uuid": None,
                  "custom_name": "OCP_VM_CORE", "metric_type": "cpu"}
        oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/monthly_vm_core.sql"), params, render, None, timings,
                                   "vm core")
    # _update_usage_costs (usage_costs.sql) first deletes every row with a rate type and no monthly cost type;
    # then populate_vm_usage_costs per rate type (filter_dictionary: the metrics the type has)
    for rate_type in ("Infrastructure", "Supplementary"):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {}.reporting_ocpusagelineitem_daily_summary WHERE usage_start >= %s "
                                "AND usage_start <= %s AND source_uuid = %s AND report_period_id = %s "
                                "AND cost_model_rate_type = %s AND monthly_cost_type IS NULL").format(
                sql.Identifier(schema)), (start, end, scenario["source_uuid"], rp, rate_type))
        for metric, name in (("vm_cost_per_hour", "hourly_cost_virtual_machine"), ("vm_core_cost_per_hour",
                                                                                   "hourly_vm_core")):
            rate = next((r for r in rates if r["metric"]["name"] == metric and r["cost_type"] == rate_type
                         and not r.get("tag_rates")), None)
            if rate is None or (metric == "vm_core_cost_per_hour" and not vm_report):
                continue
            params = {**base, "rate_type": rate_type, "hourly_rate": float(rate["tiered_rates"][0]["value"]),
                      "cost_model_id": sample_data.SAMPLE_COST_MODEL_UUID, "rate_uuid": None,
                      "custom_name": metric, "metric_type": "cpu", "use_fractional_hours": vm_report}
            oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/{name}.sql"), params, render, None, timings,
                                       f"{name} {rate_type}")


RTU_KEY = ("usage_start,data_source,namespace,node,custom_name,metric_type,cost_model_rate_type,monthly_cost_type,"
           "label_hash,cost_category_id")
RTU_MONTHLY_DELETE = "koku/masu/database/sql/openshift/cost_model/delete_monthly_cost_rates_to_usage.sql"


def koku_rate_info(rows: dict) -> dict:
    """CostModelDBAccessor.rate_info_map over the sample's cost_model_rate rows: (metric, cost_type, tag_key) ->
    (rate uuid, custom_name)."""
    return {(r["metric"], r["cost_type"], r["tag_key"] or ""): (r["uuid"], r["custom_name"])
            for r in rows["cost_model_rate"]}


def run_koku_rtu(conn, koku, render, schema, scenario, rp, rows, timings, vm_report: bool,
                 distribution: str) -> None:
    """update_summary_cost_model_costs with use_rtu=True, the statements poc_tasks replaces, in Koku's order:
    insert_usage_rates_to_usage's delete (every Infrastructure/Supplementary row without a monthly cost type or
    with 'Tag'), populate_monthly_cost_sql(OCP_VM_CORE) with delete_monthly_cost_rates_to_usage.sql, the rtu
    entries of populate_tag_based_costs, populate_vm_usage_costs' rtu statements."""
    rates = rows["cost_model"][0]["rates"]
    info = koku_rate_info(rows)
    cm_id = rows["cost_model"][0]["uuid"]
    start, end = scenario["start_date"], scenario["end_date"]
    first = dt.date.fromisoformat(start)
    days = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    base = {"schema": schema, "start_date": start, "end_date": end, "year": scenario["year"],
            "month": scenario["month"], "source_uuid": scenario["source_uuid"], "report_period_id": rp,
            "cost_model_id": cm_id}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {}.rates_to_usage WHERE usage_start >= %s AND usage_start <= %s "
                            "AND source_uuid = %s AND report_period_id = %s AND cost_model_rate_type IN "
                            "('Infrastructure', 'Supplementary') AND (monthly_cost_type IS NULL OR "
                            "monthly_cost_type = 'Tag')").format(sql.Identifier(schema)),
                    (start, end, scenario["source_uuid"], rp))
    vm_rate = next((r for r in rates if r["metric"]["name"] == "vm_core_cost_per_month" and not r.get("tag_rates")),
                   None)
    if vm_report:
        oracle.execute_koku_script(conn, koku.show(RTU_MONTHLY_DELETE), {**base, "cost_type": "OCP_VM_CORE"},
                                   render, None, timings, "rtu vm core delete")
    if vm_rate and vm_report:
        amortized = Decimal(vm_rate["tiered_rates"][0]["value"]) / days.day
        rate_uuid, custom = info.get(("vm_core_cost_per_month", vm_rate["cost_type"], ""), (None, None))
        params = {**base, "rate": amortized, "cost_type": "OCP_VM_CORE", "rate_type": vm_rate["cost_type"],
                  "distribution": distribution, "rate_uuid": rate_uuid, "custom_name": custom or "OCP_VM_CORE",
                  "metric_type": "cpu" if distribution == "cpu" else "memory"}
        oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/monthly_vm_core_rtu.sql"), params, render, None,
                                   timings, "rtu vm core")
    for metric, name, extra in tag_statements(days.day, scenario, vm_report, gpu=True):
        for p in koku_tag_params(rates, metric):
            rate_uuid, custom = info.get((metric, p["rate_type"], p["tag_key"]), (None, metric))
            params = {**base, **p, **extra, "rate_uuid": rate_uuid, "custom_name": custom,
                      "metric_type": "gpu" if "gpu" in metric else "cpu"}
            oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/{name}_rtu.sql"), params, render, None, timings,
                                       f"{name}_rtu {p['tag_key']}")
    for rate_type in ("Infrastructure", "Supplementary"):
        for metric, name in (("vm_cost_per_hour", "hourly_cost_virtual_machine"),
                             ("vm_core_cost_per_hour", "hourly_vm_core")):
            rate = next((r for r in rates if r["metric"]["name"] == metric and r["cost_type"] == rate_type
                         and not r.get("tag_rates")), None)
            if rate is None or (metric == "vm_core_cost_per_hour" and not vm_report):
                continue
            rate_uuid, custom = info.get((metric, rate_type, ""), (None, metric))
            params = {**base, "rate_type": rate_type, "hourly_rate": float(rate["tiered_rates"][0]["value"]),
                      "rate_uuid": rate_uuid, "custom_name": custom, "metric_type": "cpu",
                      "use_fractional_hours": vm_report}
            oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/{name}_rtu.sql"), params, render, None, timings,
                                       f"{name}_rtu {rate_type}")


def export_rtu(conn, schema: str, source_uuid: str, out: Path, monthly_cost_type: str | None = None) -> int:
    """rates_to_usage rows of the source (uuid left out), as Parquet for compare.py."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = ["usage_start", "usage_end", "report_period_id", "cost_model_id", "rate_id", "node", "namespace",
            "cluster_id", "cluster_alias", "data_source", "persistentvolumeclaim", "pod_labels", "volume_labels",
            "all_labels", "label_hash", "custom_name", "metric_type", "cost_model_rate_type", "monthly_cost_type",
            "calculated_cost", "distributed_cost", "cost_category_id", "resource_id"]
    select = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in ("pod_labels", "volume_labels", "all_labels",
                                                               "cost_model_id", "rate_id") else sql.Identifier(c)
        for c in cols)
    where = sql.SQL("source_uuid = %s") + (sql.SQL(" AND monthly_cost_type = %s") if monthly_cost_type else
                                           sql.SQL(" AND (monthly_cost_type IS NULL OR monthly_cost_type <> "
                                                   "'gpu_distributed')"))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.rates_to_usage WHERE ").format(select, sql.Identifier(schema)) + where,
                    (source_uuid, monthly_cost_type) if monthly_cost_type else (source_uuid,))
        df = pd.DataFrame(cur.fetchall(), columns=cols)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out)
    return len(df)


def _compare(work: Path, name: str, key: str) -> tuple[str, int]:
    cmp = subprocess.run([sys.executable, str(ORACLE_DIR / "compare.py"), "--key", key,
                          str(work / f"{name}_koku.parquet"), str(work / f"{name}_poc.parquet")],
                         capture_output=True, text=True)
    last = (cmp.stdout.strip().splitlines() or ["(no output)"])[-1]
    if cmp.returncode:
        print(cmp.stdout[-3000:])
    return f"{last} (exit {cmp.returncode})", cmp.returncode


def rtu_parity(conn, koku, render, schema, scenario, root, rp, rows, vm_report, distribution, work: Path) -> dict:
    """The _rtu variants: Koku's into rates_to_usage, exported; poc_tasks' (use_rtu) in the same table after them
    (its deletes must remove exactly Koku's rows); then the GPU distribution's rtu variant over the month."""
    import calendar

    from poc_tasks.db.tables_cost_model import ensure_cost_model_output_tables

    conn.autocommit = False
    ensure_cost_model_output_tables(conn, schema)
    conn.commit()
    conn.autocommit = True
    timings: list = []
    t0 = time.monotonic()
    run_koku_rtu(conn, koku, render, schema, scenario, rp, rows, timings, vm_report, distribution)
    t_koku = time.monotonic() - t0
    n_koku = export_rtu(conn, schema, scenario["source_uuid"], work / "rtu_koku.parquet")
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], scenario["start_date"],
                            scenario["end_date"], scenario["cluster_alias"], rp)
    t0 = time.monotonic()
    res = run_cost_model(conn, root, spec, use_rtu=True)
    t_poc = time.monotonic() - t0
    conn.autocommit = True
    n_poc = export_rtu(conn, schema, scenario["source_uuid"], work / "rtu_poc.parquet")
    verdict, code = _compare(work, "rtu", RTU_KEY)
    # distribute_unallocated_gpu_cost_rtu.sql over the whole month (Koku's two deletes first)
    first = dt.date(int(scenario["year"]), int(scenario["month"]), 1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    params = {"schema": schema, "start_date": str(first), "end_date": str(last), "source_uuid": scenario["source_uuid"],
              "cost_model_rate_type": "gpu_distributed", "report_period_id": rp, "year": scenario["year"],
              "month": scenario["month"], "cost_model_id": rows["cost_model"][0]["uuid"], "distribution": distribution}
    oracle.execute_koku_script(conn, koku.show(DIST_DELETE), params, render, None, [], "dist delete")
    oracle.execute_koku_script(conn, koku.show(
        "koku/masu/database/sql/openshift/cost_model/distribute_cost/delete_distributed_rates_to_usage.sql"),
        params, render, None, [], "rtu dist delete")
    oracle.execute_koku_script(conn, koku.show(f"{SQL_DIR}/distribute_cost/distribute_unallocated_gpu_cost_rtu.sql"),
                               params, render, None, [], "rtu gpu distribution")
    d_koku = export_rtu(conn, schema, scenario["source_uuid"], work / "rtudist_koku.parquet", "gpu_distributed")
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], first, last,
                            scenario["cluster_alias"], rp)
    run_cost_model(conn, root, spec, steps=("gpu_distribution",), use_rtu=True)
    conn.autocommit = True
    d_poc = export_rtu(conn, schema, scenario["source_uuid"], work / "rtudist_poc.parquet", "gpu_distributed")
    d_verdict, d_code = _compare(work, "rtudist", "usage_start,namespace,node,custom_name,metric_type")
    print(f"rates_to_usage (rtu statements): Koku {n_koku} rows, poc_tasks {n_poc} rows; {verdict}")
    print(f"rates_to_usage gpu_distributed: Koku {d_koku} rows, poc_tasks {d_poc} rows; {d_verdict}")
    return {"code": code or d_code, "koku_rows": n_koku, "poc_rows": n_poc, "dist_rows": [d_koku, d_poc],
            "seconds": {"koku_sql": round(t_koku, 3), "poc_tasks": round(t_poc, 3)},
            "poc_steps": res["steps"]}


TMP_CREATE = "koku/masu/database/sql/openshift/create_virtualization_tmp_table.sql"


def tmp_table_parity(conn, koku, render, schema, scenario, root, vm_report, work: Path) -> tuple[int, int, str]:
    """Koku's tmp_virt_<uuid> filled by its populate_vm_tmp_table[_with_vm_report].sql and by poc_tasks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    koku_uuid, poc_uuid = "a" * 32, "b" * 32
    base = {"schema": schema, "start_date": scenario["start_date"], "end_date": scenario["end_date"],
            "source_uuid": scenario["source_uuid"], "year": scenario["year"], "month": scenario["month"]}
    for u in (koku_uuid, poc_uuid):
        oracle.execute_koku_script(conn, koku.show(TMP_CREATE), {**base, "uuid": u}, render, None, [], "tmp create")
    name = "populate_vm_tmp_table_with_vm_report.sql" if vm_report else "populate_vm_tmp_table.sql"
    oracle.execute_koku_script(conn, koku.show(f"koku/masu/database/self_hosted_sql/openshift/{name}"),
                               {**base, "uuid": koku_uuid}, render, None, [], "tmp populate")
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], scenario["start_date"],
                            scenario["end_date"], scenario["cluster_alias"])
    run_cost_model(conn, root, spec, steps=("vm_tmp_table",), vm_tmp_uuid=poc_uuid)
    conn.autocommit = True
    counts = []
    for u, label in ((koku_uuid, "koku"), (poc_uuid, "poc")):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT vm_name, node, pvc_name, cpu_request, mem_request FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(f"tmp_virt_{u}")))
            rows = cur.fetchall()
            cur.execute(sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema), sql.Identifier(f"tmp_virt_{u}")))
        cols = list(zip(*rows, strict=True)) if rows else [[]] * 5
        pq.write_table(pa.table({"vm_name": pa.array(cols[0], pa.string()), "node": pa.array(cols[1], pa.string()),
                                 "pvc_name": pa.array(cols[2], pa.string()),
                                 "cpu_request": pa.array(cols[3], pa.float64()),
                                 "mem_request": pa.array(cols[4], pa.float64())}), work / f"tmp_{label}.parquet")
        counts.append(len(rows))
    cmp = subprocess.run([sys.executable, str(ORACLE_DIR / "compare.py"), "--key", "vm_name,node,pvc_name",
                          str(work / "tmp_koku.parquet"), str(work / "tmp_poc.parquet")],
                         capture_output=True, text=True)
    last = (cmp.stdout.strip().splitlines() or ["(no output)"])[-1]
    return counts[0], counts[1], f"{last} (exit {cmp.returncode})"


VM_UI_SQL = "koku/masu/database/sql/openshift/ui_summary/reporting_ocp_vm_summary_p.sql"
VM_UI_KEY = "usage_start,namespace,node,vm_name,cost_model_rate_type,persistentvolumeclaim,pod_labels"


def add_vm_ui_edge_rows(conn, schema: str, root: str, vm_report: bool) -> int:
    """Hand-made summary rows so that all three inserts of the VM UI statement have input (the sample's VMs run on
    nodes without distributed costs, and their VM-report disks have no Storage rows): a platform_distributed row
    per (day, namespace, node) of a VM pod, a Supplementary 'Tag' row with only a GPU cost per VM pod row group
    (day, namespace, node, labels), and, with a VM report, a Storage row per day for each of the VM's PVC names
    (on the VM pod's node and namespace, with volume labels and costs)."""
    import pyarrow.parquet as pq

    table = sql.SQL("{}.reporting_ocpusagelineitem_daily_summary").format(sql.Identifier(schema))
    vm_pod = sql.SQL("data_source = 'Pod' AND pod_labels ? 'vm_kubevirt_io_name' AND cost_model_rate_type IS NULL"
                     " AND monthly_cost_type IS NULL")
    with conn.cursor() as cur:
        cur.execute(sql.SQL(
            "INSERT INTO {t} (uuid, report_period_id, cluster_id, cluster_alias, data_source, usage_start, usage_end,"
            " namespace, node, source_uuid, cost_model_rate_type, distributed_cost, raw_currency)"
            " SELECT gen_random_uuid(), max(report_period_id), cluster_id, max(cluster_alias), 'Pod', usage_start,"
            " usage_start, namespace, node, source_uuid, 'platform_distributed',"
            " 0.25 + extract(day FROM usage_start)::numeric / 7, 'USD'"
            " FROM {t} WHERE {vm} GROUP BY cluster_id, usage_start, namespace, node, source_uuid").format(
            t=table, vm=vm_pod))
        added = cur.rowcount
        # a VM pod row whose only cost is a GPU cost (a VM with a passed-through GPU priced by a GPU rate), one per
        # VM and day under a rate type of its own: Koku's VM insert leaves cost_model_gpu_cost out of its "has a
        # cost" filter, so these rows must not reach the VM UI table
        cur.execute(sql.SQL(
            "INSERT INTO {t} (uuid, report_period_id, cluster_id, cluster_alias, data_source, usage_start, usage_end,"
            " namespace, node, resource_id, pod_labels, all_labels, source_uuid, cost_model_rate_type,"
            " cost_model_gpu_cost, monthly_cost_type, raw_currency)"
            " SELECT gen_random_uuid(), max(report_period_id), cluster_id, max(cluster_alias), 'Pod', usage_start,"
            " usage_start, namespace, node, max(resource_id), pod_labels, pod_labels, source_uuid, 'Supplementary',"
            " 1.5 + extract(day FROM usage_start)::numeric / 11, 'Tag', 'USD'"
            " FROM {t} WHERE {vm} GROUP BY cluster_id, usage_start, namespace, node, source_uuid, pod_labels").format(
            t=table, vm=vm_pod))
        added += cur.rowcount
        if vm_report:
            pairs = set()
            for path in Path(root).glob("data/parquet/**/vm_usage/**/*.parquet"):
                if "/daily/" in str(path):
                    continue
                t = pq.read_table(path, columns=["vm_name", "vm_persistentvolumeclaim_name"])
                pairs |= set(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True))
            cur.execute(sql.SQL("SELECT DISTINCT persistentvolumeclaim FROM {t} WHERE data_source = 'Storage'").format(
                t=table))
            known = {r[0] for r in cur.fetchall()}
            # only PVCs without Storage rows: a second row of a PVC on one day would leave Koku's DISTINCT ON pick
            # to the database (documented; not a parity input)
            for vm, pvc in sorted(p for p in pairs if p[0] and p[1] and p[1] not in known):
                cur.execute(sql.SQL(
                    "INSERT INTO {t} (uuid, report_period_id, cluster_id, cluster_alias, data_source, usage_start,"
                    " usage_end, namespace, node, resource_id, persistentvolumeclaim, persistentvolume, storageclass,"
                    " volume_labels, all_labels, persistentvolumeclaim_capacity_gigabyte_months,"
                    " persistentvolumeclaim_usage_gigabyte_months, source_uuid, cost_model_rate_type,"
                    " cost_model_volume_cost, raw_currency)"
                    " SELECT gen_random_uuid(), max(report_period_id), cluster_id, max(cluster_alias), 'Storage',"
                    " usage_start, usage_start, namespace, node, 'pv-' || %(pvc)s || '-' || %(vm)s, %(pvc)s,"
                    " 'pv-' || %(pvc)s, 'gp3', jsonb_build_object('disk', %(pvc)s, 'vm_kubevirt_io_name', %(vm)s),"
                    " jsonb_build_object('disk', %(pvc)s), 0.5, 0.125, source_uuid, 'Infrastructure',"
                    " 0.75 + extract(day FROM usage_start)::numeric / 3, 'USD'"
                    " FROM {t} WHERE {vm_pod} AND pod_labels->>'vm_kubevirt_io_name' = %(vm)s"
                    " GROUP BY cluster_id, usage_start, namespace, node, source_uuid").format(t=table, vm_pod=vm_pod),
                    {"pvc": pvc, "vm": vm})
                added += cur.rowcount
    return added


def vm_ui_parity(conn, koku, render, schema, scenario, root, vm_report, work: Path) -> tuple[int, int, str]:
    """_populate_virtualization_ui_summary_table: Koku's tmp table (self_hosted populate SQL) and its PostgreSQL
    UI statement, then poc_tasks' step vm_ui_summary; reporting_ocp_vm_summary_p compared row by row."""
    from poc_tasks.db.tables_cost_model import ensure_cost_model_output_tables

    conn.autocommit = False
    ensure_cost_model_output_tables(conn, schema)
    conn.commit()
    conn.autocommit = True
    u = "c" * 32
    base = {"schema": schema, "start_date": scenario["start_date"], "end_date": scenario["end_date"],
            "source_uuid": scenario["source_uuid"], "year": scenario["year"], "month": scenario["month"], "uuid": u}
    with conn.cursor() as cur:
        # a run cancelled inside Koku's statement leaves its scratch table filled; Koku's uuid is fresh per run
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                 sql.Identifier(f"tmp_virt_{u}")))
        # statistics as Koku's database has them (autovacuum): the oracle analyzed the summary before it was
        # written, and on a month of 50 nodes the planner's 1-row estimate turns Koku's "Platform Distribution"
        # insert into nested loops that did not finish in 9 minutes
        cur.execute(sql.SQL("ANALYZE {}.reporting_ocpusagelineitem_daily_summary").format(sql.Identifier(schema)))
    oracle.execute_koku_script(conn, koku.show(TMP_CREATE), base, render, None, [], "tmp create")
    name = "populate_vm_tmp_table_with_vm_report.sql" if vm_report else "populate_vm_tmp_table.sql"
    oracle.execute_koku_script(conn, koku.show(f"koku/masu/database/self_hosted_sql/openshift/{name}"), base, render,
                               None, [], "tmp populate")
    oracle.execute_koku_script(conn, koku.show(VM_UI_SQL), base, render, None, [], "vm ui")
    n_koku = export_table(conn, schema, "reporting_ocp_vm_summary_p", work / "vmui_koku.parquet", skip=("id",))
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], scenario["start_date"],
                            scenario["end_date"], scenario["cluster_alias"])
    run_cost_model(conn, root, spec, steps=("vm_ui_summary",))
    conn.autocommit = True
    n_poc = export_table(conn, schema, "reporting_ocp_vm_summary_p", work / "vmui_poc.parquet", skip=("id",))
    verdict, _code = _compare(work, "vmui", VM_UI_KEY)
    return n_koku, n_poc, verdict


GPU_UI_KEY = "usage_start,namespace,node,vendor_name,model_name,mig_profile,mig_instance_id,gpu_uuid"


def export_table(conn, schema: str, table: str, out: Path, skip: tuple[str, ...] = ()) -> int:
    """Every row of schema.table as Parquet (json/uuid as text, numerics as decimals), for compare.py."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    with conn.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position", (schema, table))
        cols = cur.fetchall()
        select = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(c)) if t in ("uuid", "jsonb", "ARRAY") else sql.Identifier(c)
            for c, t in cols if c not in skip)
        cur.execute(sql.SQL("SELECT {} FROM {}.{}").format(select, sql.Identifier(schema), sql.Identifier(table)))
        df = pd.DataFrame(cur.fetchall(), columns=[c for c, _t in cols if c not in skip])
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out)
    return len(df)


DIST_SQL = f"{SQL_DIR}/distribute_cost/distribute_unallocated_gpu_cost.sql"
DIST_DELETE = "koku/masu/database/sql/openshift/cost_model/delete_monthly_cost_model_rate_type.sql"


def gpu_distribution_parity(conn, koku, render, schema, scenario, root, rp, work: Path) -> tuple[int, int, str]:
    """populate_distributed_cost_sql's GPU_UNALLOCATED entry over the whole month: Koku's delete and SQL, then ours."""
    import calendar

    first = dt.date(int(scenario["year"]), int(scenario["month"]), 1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    params = {"schema": schema, "start_date": str(first), "end_date": str(last), "source_uuid": scenario["source_uuid"],
              "cost_model_rate_type": "gpu_distributed", "report_period_id": rp, "year": scenario["year"],
              "month": scenario["month"], "cost_model_id": sample_data.SAMPLE_COST_MODEL_UUID,
              "distribution": "cpu"}
    oracle.execute_koku_script(conn, koku.show(DIST_DELETE), params, render, None, [], "dist delete")
    oracle.execute_koku_script(conn, koku.show(DIST_SQL), params, render, None, [], "gpu distribution")
    n_koku = export(conn, schema, scenario["source_uuid"], work / "dist_koku.parquet", "gpu_distributed")
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], first, last,
                            scenario["cluster_alias"], rp)
    run_cost_model(conn, root, spec, steps=("gpu_distribution",))
    conn.autocommit = True
    n_poc = export(conn, schema, scenario["source_uuid"], work / "dist_poc.parquet", "gpu_distributed")
    cmp = subprocess.run([sys.executable, str(ORACLE_DIR / "compare.py"), str(work / "dist_koku.parquet"),
                          str(work / "dist_poc.parquet")], capture_output=True, text=True)
    last_line = (cmp.stdout.strip().splitlines() or ["(no output)"])[-1]
    return n_koku, n_poc, f"{last_line} (exit {cmp.returncode})"


def gpu_ui_parity(conn, koku, render, schema, scenario, root, rows, work: Path) -> tuple[int, int, str]:
    """_populate_gpu_ui_summary_table_with_usage_only: a cost model without GPU rates; Koku's SQL, then ours."""
    import copy

    from poc_tasks.db.partitions import ensure_default_partition
    from poc_tasks.db.tables_cost_model import ocp_gpu_summary_p

    with conn.cursor() as cur:
        cur.execute(str(CreateTable(ocp_gpu_summary_p, if_not_exists=True).compile(
            dialect=pg_dialect.dialect(), schema_translate_map={None: schema}, render_schema_translate=True)))
        ensure_default_partition(cur, schema, ocp_gpu_summary_p.name)
    no_gpu = copy.deepcopy(rows)
    for table in ("cost_model", "price_list"):
        no_gpu[table][0]["rates"] = [r for r in no_gpu[table][0]["rates"]
                                     if r["metric"]["name"] != "gpu_cost_per_month"]
    conn.autocommit = False
    sample_data.store_cost_model(conn, schema, no_gpu)
    conn.commit()
    conn.autocommit = True
    params = {"schema": schema, "start_date": scenario["start_date"], "end_date": scenario["end_date"],
              "source_uuid": scenario["source_uuid"], "year": scenario["year"], "month": scenario["month"],
              "cluster_id": scenario["cluster_id"], "cluster_alias": scenario["cluster_alias"]}
    oracle.execute_koku_script(conn, koku.show(
        "koku/masu/database/self_hosted_sql/openshift/ui_summary/reporting_ocp_gpu_summary_p_usage_only.sql"),
        params, render, None, [], "gpu ui")
    n_koku = export_table(conn, schema, "reporting_ocp_gpu_summary_p", work / "gpu_ui_koku.parquet")
    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], scenario["start_date"],
                            scenario["end_date"], scenario["cluster_alias"])
    run_cost_model(conn, root, spec, steps=("gpu_ui_usage_only",))
    conn.autocommit = True
    n_poc = export_table(conn, schema, "reporting_ocp_gpu_summary_p", work / "gpu_ui_poc.parquet")
    cmp = subprocess.run([sys.executable, str(ORACLE_DIR / "compare.py"), "--key", GPU_UI_KEY,
                          str(work / "gpu_ui_koku.parquet"), str(work / "gpu_ui_poc.parquet")],
                         capture_output=True, text=True)
    last = (cmp.stdout.strip().splitlines() or ["(no output)"])[-1]
    return n_koku, n_poc, f"{last} (exit {cmp.returncode})"


def export(conn, schema, source_uuid, out: Path, rate_type: str | None = None) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = oracle.export_summary(conn, schema, out, source_uuid)
    df = df[df["cost_model_rate_type"].notna()].reset_index(drop=True)  # every cost-model row
    if rate_type is not None:
        df = df[df["cost_model_rate_type"] == rate_type].reset_index(drop=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out)
    return len(df)


def timing_only(args) -> int:
    """Koku's cost-model statements and poc_tasks' steps on a kept schema, each variant timed (the 50-node month's
    performance table in docs/cost-model.md). Koku's rows are replaced by poc_tasks' and back: deletes included."""
    scenario = json.loads((Path(args.root) / "scenario.json").read_text())
    schema, rp = args.schema or scenario["schema"], args.timing_only
    start = dt.date.fromisoformat(scenario["start_date"])
    end = dt.date.fromisoformat(scenario["end_date"])
    rows = sample_data.cost_model_rows(scenario["source_uuid"], start, end, rate_type=args.rate_type,
                                       distribution=args.distribution)
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    koku = oracle.KokuSource(args.koku_git_dir)
    render, _ = oracle.make_renderers("builtin")
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], start, end,
                            scenario["cluster_alias"], rp)
    out: dict = {}
    for label, fn in (
        ("koku_sql", lambda: run_koku(conn, koku, render, schema, scenario, rp, rows["cost_model"][0]["rates"], [],
                                      True)),
        ("koku_sql_rtu", lambda: run_koku_rtu(conn, koku, render, schema, scenario, rp, rows, [], True,
                                              args.distribution)),
        ("poc_tasks", lambda: run_cost_model(conn, args.root, spec)),
        ("poc_tasks_rtu", lambda: run_cost_model(conn, args.root, spec, use_rtu=True)),
    ):
        conn.autocommit = label.startswith("koku")
        t0 = time.monotonic()
        fn()
        out[label] = round(time.monotonic() - t0, 2)
        conn.autocommit = True
        print(label, out[label], flush=True)
    print(json.dumps(out))
    conn.close()
    return 0


def vm_ui_only(args) -> int:
    """The VM UI comparison alone, on a schema kept by an earlier --keep run of the same --root (its hand-made
    rows already added): for a 50-node month, whose full run takes most of an hour."""
    scenario = json.loads((Path(args.root) / "scenario.json").read_text())
    schema = args.schema or scenario["schema"]
    conn = psycopg2.connect(args.dsn)
    koku = oracle.KokuSource(args.koku_git_dir)
    render, _ = oracle.make_renderers("builtin")
    work = Path(tempfile.mkdtemp(prefix="cmparity-vmui-"))
    t0 = time.monotonic()
    n_koku, n_poc, verdict = vm_ui_parity(conn, koku, render, schema, scenario, args.root,
                                          not args.without_vm_report, work)
    print(f"reporting_ocp_vm_summary_p: Koku {n_koku} rows, poc_tasks {n_poc} rows; {verdict} "
          f"({time.monotonic() - t0:.1f} s; files in {work})")
    conn.close()
    return int("exit 0" not in verdict)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("ORACLE_DSN", "host=127.0.0.1 user=postgres dbname=postgres"))
    ap.add_argument("--koku-git-dir", default=os.environ.get("KOKU_GIT_DIR", "/work/.mirror/project-koku+koku/repo"))
    ap.add_argument("--root", help="a dataset already holding GPUs and VMs (default: make one)")
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--pods", type=int, default=60)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--schema", help="tenant schema to drop and recreate (default: the dataset's; poc_tasks reads the "
                    "Parquet of its account folder)")
    ap.add_argument("--rate-type", default="Infrastructure", choices=["Infrastructure", "Supplementary"])
    ap.add_argument("--keep", action="store_true", help="keep the schema and the work directory")
    ap.add_argument("--clean", action="store_true", help="sample without mid-day label changes")
    ap.add_argument("--gpu-vendor", default="NVIDIA",
                    help="the vendor the sample cost model's NVIDIA GPU rate is keyed on (nise data: nvidia)")
    ap.add_argument("--distribution", default="cpu", choices=["cpu", "memory"],
                    help="the cost model's distribution (routes the OCP_VM_CORE rtu rows; the VM UI's shares)")
    ap.add_argument("--no-rtu", action="store_true", help="skip the _rtu variants")
    ap.add_argument("--no-vm-ui-edge-rows", action="store_true",
                    help="run the VM UI statement on the summary as it is (no hand-made distributed/Storage rows)")
    ap.add_argument("--without-vm-report", action="store_true",
                    help="drop the VM report after adding VMs (Koku then counts VM hours from the pods' raw rows)")
    ap.add_argument("--timing-only", metavar="REPORT_PERIOD_ID", type=int,
                    help="on a schema kept by an earlier --keep run of the same --root (and cost model): only time "
                         "Koku's statements (both variants) and poc_tasks' steps (both variants), no comparison")
    ap.add_argument("--vm-ui-only", action="store_true",
                    help="on a schema kept by an earlier --keep run of the same --root: only the VM UI comparison")
    args = ap.parse_args(argv)
    if args.timing_only:
        return timing_only(args)
    if args.vm_ui_only:
        return vm_ui_only(args)

    work = Path(tempfile.mkdtemp(prefix="cmparity-"))
    root = args.root
    if root is None:
        root = str(work / "data")
        subprocess.run([sys.executable, "-m", "poc_tasks.cli", "sample", "--data-root", root, "--nodes",
                        str(args.nodes), "--pods", str(args.pods), "--days", str(args.days)]
                       + (["--clean"] if args.clean else []), check=True,
                       capture_output=True)
        scenario = json.loads((Path(root) / "scenario.json").read_text())
        sample_data.add_gpus_and_vms(root, scenario)
    if args.without_vm_report:
        import shutil

        for folder in Path(root).glob("data/parquet/**/vm_usage"):
            shutil.rmtree(folder)
    scenario = json.loads((Path(root) / "scenario.json").read_text())
    t0 = time.monotonic()
    oracle.main(["--root", root, "--dsn", args.dsn, "--koku-git-dir", args.koku_git_dir,
                 "--schema", args.schema or scenario["schema"], "--out", str(work / "summary.parquet"),
                 "--keep-schema", "--renderer", "builtin"])
    t_load = time.monotonic() - t0
    meta = json.loads((work / "summary.parquet.meta.json").read_text())
    rp, schema = meta["report_period_id"], args.schema or scenario["schema"]
    start = dt.date.fromisoformat(scenario["start_date"])
    end = dt.date.fromisoformat(scenario["end_date"])
    rows = sample_data.cost_model_rows(scenario["source_uuid"], start, end, rate_type=args.rate_type,
                                       distribution=args.distribution)
    for table in ("cost_model", "price_list"):
        for rate in rows[table][0]["rates"]:
            if (rate.get("tag_rates") or {}).get("tag_key") == "NVIDIA":
                rate["tag_rates"]["tag_key"] = args.gpu_vendor
    conn = psycopg2.connect(args.dsn)
    with conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{schema}", public')
        for t in (tables_cost_model.cost_model, tables_cost_model.cost_model_map, tables_cost_model.price_list,
                  tables_cost_model.price_list_cost_model_map, tables_cost_model.cost_model_rate):
            cur.execute(str(CreateTable(t, if_not_exists=True).compile(
                dialect=pg_dialect.dialect(), schema_translate_map={None: schema}, render_schema_translate=True)))
    sample_data.store_cost_model(conn, schema, rows)
    conn.commit()
    conn.autocommit = True

    koku = oracle.KokuSource(args.koku_git_dir)
    render, _ = oracle.make_renderers("builtin")
    timings: list = []
    t0 = time.monotonic()
    vm_report = not args.without_vm_report
    run_koku(conn, koku, render, schema, scenario, rp, rows["cost_model"][0]["rates"], timings, vm_report)
    t_koku = time.monotonic() - t0
    n_koku = export(conn, schema, scenario["source_uuid"], work / "koku.parquet")

    conn.autocommit = False
    spec = OcpRunSpec.build(schema, scenario["source_uuid"], scenario["cluster_id"], start, end,
                            scenario["cluster_alias"], rp)
    t0 = time.monotonic()
    result = run_cost_model(conn, root, spec)
    t_poc = time.monotonic() - t0
    conn.autocommit = True
    n_poc = export(conn, schema, scenario["source_uuid"], work / "poc.parquet")
    cmp = subprocess.run([sys.executable, str(ORACLE_DIR / "compare.py"), str(work / "koku.parquet"),
                          str(work / "poc.parquet")], capture_output=True, text=True)
    print(cmp.stdout[-3000:])
    tmp_koku, tmp_poc, tmp_verdict = tmp_table_parity(conn, koku, render, schema, scenario, root, vm_report, work)
    print(f"tmp_virt table ({'with' if vm_report else 'without'} the VM report): Koku {tmp_koku} rows, "
          f"poc_tasks {tmp_poc} rows; {tmp_verdict}")
    d_koku, d_poc, d_verdict = gpu_distribution_parity(conn, koku, render, schema, scenario, root, rp, work)
    print(f"gpu_distributed rows: Koku {d_koku}, poc_tasks {d_poc}; {d_verdict}")
    edge = add_vm_ui_edge_rows(conn, schema, root, vm_report) if not args.no_vm_ui_edge_rows else 0
    vmui_koku, vmui_poc, vmui_verdict = vm_ui_parity(conn, koku, render, schema, scenario, root, vm_report, work)
    print(f"(VM UI input: {edge} hand-made distributed and VM-disk Storage rows added to the summary)")
    print(f"reporting_ocp_vm_summary_p: Koku {vmui_koku} rows, poc_tasks {vmui_poc} rows; {vmui_verdict}")
    rtu = {"code": 0}
    if not args.no_rtu:
        rtu = rtu_parity(conn, koku, render, schema, scenario, root, rp, rows, vm_report, args.distribution, work)
    gpu_koku, gpu_poc, gpu_verdict = gpu_ui_parity(conn, koku, render, schema, scenario, root, rows, work)
    print(f"reporting_ocp_gpu_summary_p (usage only): Koku {gpu_koku} rows, poc_tasks {gpu_poc} rows; {gpu_verdict}")

    dataset = ({"root": args.root} if args.root else
               {"nodes": args.nodes, "pods": args.pods, "days": args.days,
                "features": scenario.get("features", {}).get("cost_model")})
    print(json.dumps({"dataset": dataset,
                      "koku_rows": n_koku, "poc_rows": n_poc, "poc_steps": result["steps"],
                      "rtu": {k: v for k, v in rtu.items() if k != "code"},
                      "seconds": {"oracle_load_and_summary": round(t_load, 2), "koku_sql": round(t_koku, 3),
                                  "poc_tasks": round(t_poc, 3)}}, indent=1, default=str))
    if not args.keep:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()
    return (cmp.returncode or int("exit 0" not in tmp_verdict) or int("exit 0" not in gpu_verdict)
            or int("exit 0" not in d_verdict) or int("exit 0" not in vmui_verdict) or rtu["code"])


if __name__ == "__main__":
    sys.exit(main())
