"""The _rtu variants (rates_to_usage), the virtualization UI table and the bad input of the cost-model run, on real
PostgreSQL and the Parquet on S3 (moto over HTTP); values computed by hand from the sample's cost model."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from contextlib import closing
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from psycopg2 import sql

from poc_tasks.cost_model.flow import run_cost_model
from poc_tasks.cost_model.sample_data import cost_model_rows
from poc_tasks.db.connection import connect, qualified
from poc_tasks.errors import InvalidArgument
from poc_tasks.io.fs import filesystem, list_parquet, strip_scheme
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.settings import Settings
from tests.integration.ocp_support import SUMMARY_TABLE
from tests.integration.test_cost_model import _store, dataset  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
DAYS = 31
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def _run(pg_url, spec, options, **kw) -> dict:
    with closing(connect(pg_url)) as conn:
        return run_cost_model(conn, Settings.from_env().require_data_root(), spec, storage_options=options, **kw)


def _query(pg_url, query: sql.Composable, params: tuple = ()) -> list[tuple]:
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _rtu_rows(pg_url, schema) -> list[tuple]:
    return _query(pg_url, sql.SQL(
        "SELECT custom_name, metric_type, cost_model_rate_type, monthly_cost_type, data_source, usage_start,"
        " namespace, node, calculated_cost, distributed_cost, rate_id::text, cost_model_id::text, label_hash,"
        " all_labels::text, pod_labels->>'vm_kubevirt_io_name' FROM {} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13"
    ).format(qualified(schema, "rates_to_usage")))


def _summary_cost_rows(pg_url, schema) -> list[tuple]:
    return _query(pg_url, sql.SQL("SELECT count(*) FROM {} WHERE cost_model_rate_type IS NOT NULL").format(
        qualified(schema, SUMMARY_TABLE)))


def test_rtu_variants_write_rates_to_usage_with_kokus_rate_references(pg_url, dataset):  # noqa: F811
    spec, _scenario, options = dataset
    rows = cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date, distribution="memory")
    _store(pg_url, spec.schema_name, rows)
    rate_ids = {r["custom_name"]: r["uuid"] for r in rows["cost_model_rate"]}
    out = _run(pg_url, spec, options, use_rtu=True, steps=("gpu_monthly", "vm_core_monthly", "vm_hourly",
                                                           "vm_tag_based", "project_tag_based", "gpu_distribution"))
    assert out["use_rtu"] and all(s.get("table") == "rates_to_usage" for s in out["steps"].values())
    assert _summary_cost_rows(pg_url, spec.schema_name) == [(0,)]  # the rtu path leaves the summary alone
    got = _rtu_rows(pg_url, spec.schema_name)
    by_name: dict[str, list[tuple]] = {}
    for r in got:
        by_name.setdefault(r[0], []).append(r)
    assert {r[11] for r in got} == {rows["cost_model"][0]["uuid"]}
    # OCP_VM_CORE: metric type after the cost model's distribution (memory); vm-1 has 4 cores on the 2nd
    core = {(r[14], r[5]): r for r in by_name["vm core month"]}
    assert {(r[1], r[3], r[10]) for r in core.values()} == {("memory", "OCP_VM_CORE", rate_ids["vm core month"])}
    assert float(core[("vm-1", D2)][8]) == pytest.approx(4 * 12.5 / DAYS, rel=1e-14)
    # the label hash: sha256 of "labels||labels" over the jsonb text of the VM's combined labels
    labels = _query(pg_url, sql.SQL("SELECT pod_labels::text FROM {} WHERE label_hash = %s").format(
        qualified(spec.schema_name, "rates_to_usage")), (core[("vm-1", D2)][12],))[0][0]
    assert hashlib.sha256(f"{labels}||{labels}".encode()).hexdigest() == core[("vm-1", D2)][12]
    # VM hourly: vm-1 on the 2nd, 24 h x 4 cores x 0.0125 (Infrastructure), 24 h x 0.25 (Supplementary)
    vm1 = [r for r in by_name["vm core hour"] if r[14] == "vm-1" and r[5] == D2]
    assert [(r[1], r[2], r[3], float(r[8])) for r in vm1] == [("cpu", "Infrastructure", None,
                                                              pytest.approx(24 * 4 * 0.0125, rel=1e-14))]
    hour = [float(r[8]) for r in by_name["vm hour"] if r[14] == "vm-1" and r[5] == D2]
    assert hour and hour == [pytest.approx(24 * 0.25, rel=1e-14)] * len(hour)
    # GPU: metric type gpu, the rate's name and uuid; the Tesla-T4 pod (raw name) is priced by the default
    gpu = [r for r in by_name["gpu"] if r[3] == "Tag"]
    assert {(r[1], r[3], r[4], r[10]) for r in gpu} == {("gpu", "Tag", "GPU", rate_ids["gpu"])}
    t4 = [r for r in gpu if r[13] and json.loads(r[13]).get("gpu-model") == "Tesla-T4" and r[5] == D2]
    assert t4 and [float(r[8]) for r in t4] == [pytest.approx(200 / DAYS, rel=1e-14)] * len(t4)
    # GPU distribution: per rate, the namespaces' shares and the take-back sum to zero per (day, node)
    dist = [r for r in got if r[3] == "gpu_distributed"]
    assert dist and {r[2] for r in dist} == {"gpu_distributed"}
    per_node: dict[tuple, Decimal] = {}
    for r in dist:
        per_node[(r[5], r[7])] = per_node.get((r[5], r[7]), Decimal(0)) + r[9]
    assert set(per_node.values()) == {Decimal(0)}
    # a re-run replaces exactly its rows
    again = _run(pg_url, spec, options, use_rtu=True, steps=tuple(out["steps"]))
    for step, res in again["steps"].items():
        assert res["deleted"] == out["steps"][step]["inserted"] == res["inserted"], step
    assert [r[:12] + r[13:] for r in _rtu_rows(pg_url, spec.schema_name)] == [r[:12] + r[13:] for r in got]
    # distribution setting gpu_unallocated off: Koku's deletes run, nothing is distributed
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET distribution_info = distribution_info || '{{\"gpu_unallocated\": false}}'")
                    .format(qualified(spec.schema_name, "cost_model")))
        conn.commit()
    off = _run(pg_url, spec, options, use_rtu=True, steps=("gpu_distribution",))["steps"]["gpu_distribution"]
    assert (off["enabled"], off["inserted"], off["deleted"]) == (False, 0, len(dist))
    _kokus_own_rows_stay(pg_url, spec, options)
    _a_failing_rtu_write_keeps_the_previous_rows(pg_url, spec, options)


def _kokus_own_rows_stay(pg_url, spec, options) -> None:
    """Koku's PostgreSQL usage statement writes rates_to_usage rows too (other metrics, here without a rate id): a
    poc_tasks re-run of the VM statements keeps them."""
    table = qualified(spec.schema_name, "rates_to_usage")
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # a row as insert_usage_rates_to_usage writes one
        cur.execute(sql.SQL(
            "INSERT INTO {} (uuid, source_uuid, report_period_id, usage_start, usage_end, cluster_id, data_source,"
            " pod_labels, custom_name, metric_type, cost_model_rate_type, calculated_cost, rate_id)"
            " SELECT gen_random_uuid(), source_uuid, report_period_id, usage_start, usage_end, cluster_id, 'Pod',"
            " pod_labels, 'cpu usage', 'cpu', 'Infrastructure', 1, NULL FROM {} LIMIT 1").format(table, table))
        conn.commit()
    before = _query(pg_url, sql.SQL("SELECT count(*) FROM {} WHERE custom_name = 'cpu usage'").format(table))
    _run(pg_url, spec, options, use_rtu=True, steps=("vm_hourly",))
    assert _query(pg_url, sql.SQL("SELECT count(*) FROM {} WHERE custom_name = 'cpu usage'").format(table)) == \
        before == [(1,)]


def _virtualization_ui_table_sums_the_vm_pod_costs(pg_url, spec, scenario, options) -> None:
    """reporting_ocp_vm_summary_p after the default steps: per VM and rate type the summary's VM pod costs."""
    out = _run(pg_url, spec, options, steps=("vm_ui_summary",))["steps"]["vm_ui_summary"]
    assert out["inserted"] > 0 and out["vm_report"]
    ui = _query(pg_url, sql.SQL(
        "SELECT vm_name, node, cost_model_rate_type, cost_model_cpu_cost, pod_request_cpu_core_hours, usage_start,"
        " usage_end, persistentvolumeclaim FROM {} WHERE persistentvolumeclaim IS NULL AND distributed_cost IS NULL"
    ).format(qualified(spec.schema_name, "reporting_ocp_vm_summary_p")))
    # the VM's cost-model CPU cost over the range per rate type equals the summary's, node from the last interval
    summary = dict(_query(pg_url, sql.SQL(
        "SELECT pod_labels->>'vm_kubevirt_io_name' || '/' || coalesce(cost_model_rate_type, ''),"
        " sum(cost_model_cpu_cost) FROM {} WHERE data_source = 'Pod' AND pod_labels ? 'vm_kubevirt_io_name'"
        " GROUP BY 1").format(qualified(spec.schema_name, SUMMARY_TABLE))))
    for vm, node, rate_type, cost, cpu, start, end, _pvc in ui:
        assert cost == summary[f"{vm}/{rate_type or ''}"]
        assert (start, end) == (D1, D2)
        if vm == "vm-2":
            assert node == scenario["features"]["cost_model"]["vm_moved_to"]
        assert cpu == Decimal(24 * (4 if vm == "vm-1" else 2))  # cores x 24 at the month's last interval
    assert {r[0] for r in ui} == set(scenario["features"]["cost_model"]["vms"])
    again = _run(pg_url, spec, options, steps=("vm_ui_summary",))["steps"]["vm_ui_summary"]
    assert again["deleted"] == out["inserted"] == again["inserted"]


def _vm_report_files(spec, options) -> list[str]:
    root = Settings.from_env().require_data_root()
    fs = filesystem(root, options)
    return fs, list_parquet(fs, ocp_prefix(root, spec.account, "vm_usage", spec.source_uuid, spec.year, spec.month,
                                           False))


def test_vm_ui_table_and_bad_input_label_key_never_seen_no_rates_a_vm_without_a_node(pg_url, dataset):  # noqa: F811
    spec, scenario, options = dataset
    rows = cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date)
    # 1. tag rates on a label key no pod or namespace carries (VM hour, VM core month/hour, project): no rows, no
    # error (Koku's WHERE selects nothing), in both variants
    unseen = copy.deepcopy(rows)
    for table in ("cost_model", "price_list"):
        for r in unseen[table][0]["rates"]:
            if r.get("tag_rates") and r["metric"]["name"] != "gpu_cost_per_month":
                r["tag_rates"]["tag_key"] = "never_seen_key"
    for r in unseen["cost_model_rate"]:
        if r["tag_key"] and r["metric"] != "gpu_cost_per_month":
            r["tag_key"] = "never_seen_key"
    _store(pg_url, spec.schema_name, unseen)
    for rtu in (False, True):
        res = _run(pg_url, spec, options, use_rtu=rtu, steps=("vm_tag_based", "project_tag_based"))["steps"]
        assert res["vm_tag_based"]["tag_rates"] == 3 and res["vm_tag_based"]["inserted"] == 0
        assert res["project_tag_based"]["tag_rates"] == 1 and res["project_tag_based"]["inserted"] == 0
    # 2. a cost model without any rate: every step only deletes (Koku removes the cost-model rows)
    _store(pg_url, spec.schema_name, rows)
    full = _run(pg_url, spec, options)["steps"]
    _virtualization_ui_table_sums_the_vm_pod_costs(pg_url, spec, scenario, options)
    assert all(full[s]["inserted"] > 0 for s in ("gpu_monthly", "vm_core_monthly", "vm_hourly", "vm_tag_based",
                                                 "project_tag_based"))
    empty = copy.deepcopy(rows)
    for table in ("cost_model", "price_list"):
        empty[table][0]["rates"] = []
    empty["cost_model_rate"] = []
    _store(pg_url, spec.schema_name, empty)
    none = _run(pg_url, spec, options)["steps"]
    for s, res in none.items():
        assert res["inserted"] == 0 and res["deleted"] == full[s]["inserted"], s
    assert _summary_cost_rows(pg_url, spec.schema_name) == [(0,)]
    # 3. a VM the VM report shows without a node: Koku's max(node) is NULL, so its VM-core rows have no node
    fs, files = _vm_report_files(spec, options)
    for path in files:
        table = pq.read_table(fs.open(strip_scheme(path), "rb"))
        nodes = table.column("node").to_pylist()
        vms = table.column("vm_name").to_pylist()
        table = table.set_column(table.column_names.index("node"), "node",
                                 pa_array([None if v == "vm-0" else n for n, v in zip(nodes, vms, strict=True)]))
        with fs.open(strip_scheme(path), "wb") as fh:
            pq.write_table(table, fh)
    _store(pg_url, spec.schema_name, rows)
    res = _run(pg_url, spec, options, steps=("vm_core_monthly", "vm_ui_summary"))["steps"]
    assert res["vm_core_monthly"]["inserted"] > 0
    nodes = _query(pg_url, sql.SQL(
        "SELECT DISTINCT pod_labels->>'vm_kubevirt_io_name', node IS NULL FROM {} WHERE monthly_cost_type ="
        " 'OCP_VM_CORE'").format(qualified(spec.schema_name, SUMMARY_TABLE)))
    assert dict(nodes) == {"vm-0": True, "vm-1": False, "vm-2": False}
    ui_nodes = dict(_query(pg_url, sql.SQL(
        "SELECT DISTINCT vm_name, node IS NULL FROM {} WHERE persistentvolumeclaim IS NULL").format(
        qualified(spec.schema_name, "reporting_ocp_vm_summary_p"))))
    assert ui_nodes["vm-0"] is True and ui_nodes["vm-1"] is False


def pa_array(values):
    import pyarrow as pa

    return pa.array(values, pa.string())


def _a_failing_rtu_write_keeps_the_previous_rows(pg_url, spec, options) -> None:
    """A label text PostgreSQL's decode(..., 'escape') refuses fails the step before its transaction: the rows of
    the previous run stay, nothing half-written."""
    before = _rtu_rows(pg_url, spec.schema_name)
    assert before
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET pod_labels = pod_labels || jsonb_build_object('bad', 'a\"b')"
                            " WHERE pod_labels ? 'vm_kubevirt_io_name'").format(
            qualified(spec.schema_name, SUMMARY_TABLE)))
        conn.commit()
    with pytest.raises(InvalidArgument, match="escape"):
        _run(pg_url, spec, options, use_rtu=True, steps=("vm_hourly",))
    after = _rtu_rows(pg_url, spec.schema_name)
    assert [r[:12] + r[13:] for r in after] == [r[:12] + r[13:] for r in before]
