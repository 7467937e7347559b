"""The cost-model steps end to end: Koku's cost-model tables, the Parquet on S3 (moto over HTTP), real PostgreSQL,
the task through a real worker; hand-computed values, re-runs and bad input."""

from __future__ import annotations

import copy
import datetime as dt
import json
from contextlib import closing
from decimal import Decimal

import pytest
from psycopg2 import sql

from poc_tasks.cost_model.flow import run_cost_model
from poc_tasks.cost_model.rates import load_cost_model
from poc_tasks.cost_model.sample_data import add_gpus_and_vms, cost_model_rows, store_cost_model
from poc_tasks.db.connection import connect, qualified
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.scenario import seed_tenant
from poc_tasks.settings import Settings
from tests.integration.ocp_support import SUMMARY_TABLE

pytestmark = pytest.mark.integration
DAYS = 31  # January


@pytest.fixture
def dataset(pg_url, tenant_schema, s3_server, monkeypatch):
    for name in ("POC_DATE_STEP", "POC_STAGING_ROOT"):
        monkeypatch.delenv(name, raising=False)
    root = f"s3://{s3_server.bucket}/{tenant_schema}"
    cfg = SampleConfig(schema=tenant_schema, nodes=5, pods=40, days=2)
    scenario = add_gpus_and_vms(root, write_sample(root, cfg, s3_server.storage_options), s3_server.storage_options)
    with closing(connect(pg_url)) as conn:
        seed_tenant(conn, tenant_schema, scenario)
        conn.commit()
    monkeypatch.setenv("POC_DATABASE_URL", pg_url)
    monkeypatch.setenv("POC_DATA_ROOT", root)
    monkeypatch.setenv("POC_S3_ENDPOINT_URL", s3_server.endpoint_url)
    spec = OcpRunSpec.build(tenant_schema, cfg.source_uuid, cfg.cluster_id, cfg.start_date, cfg.end_date,
                            cfg.cluster_alias)
    run_ocp(spec, Settings.from_env())
    return spec, scenario, s3_server.storage_options


def _store(pg_url, schema, rows) -> None:
    with closing(connect(pg_url)) as conn:
        store_cost_model(conn, schema, rows)
        conn.commit()


def _cost_rows(pg_url, schema) -> list[tuple]:
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT monthly_cost_type, data_source, usage_start, namespace, node, resource_id, cost_model_rate_type,"
            " cost_model_cpu_cost, cost_model_gpu_cost, all_labels::text, pod_labels->>'vm_kubevirt_io_name',"
            " cost_category_id FROM {} WHERE monthly_cost_type IS NOT NULL ORDER BY 1, 2, 3, 4, 5, 6, 10, 7, 8, 9"
        ).format(qualified(schema, SUMMARY_TABLE)))
        return cur.fetchall()


def _run(pg_url, spec, options) -> dict:
    with closing(connect(pg_url)) as conn:
        return run_cost_model(conn, Settings.from_env().require_data_root(), spec, storage_options=options)


def test_rates_are_read_as_koku_resolves_them(pg_url, tenant_schema):
    rows = cost_model_rows("6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90", dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    # a second rate row for the same metric and cost type adds up (Koku's price_list property)
    extra = dict(rows["cost_model_rate"][0], uuid="00000000-0000-4000-8000-000000000001", custom_name="more",
                 default_rate=2.5)
    rows["cost_model_rate"].append(extra)
    _store(pg_url, tenant_schema, rows)
    with closing(connect(pg_url)) as conn:
        model = load_cost_model(conn, tenant_schema, "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90", dt.date(2026, 1, 1))
        outside = load_cost_model(conn, tenant_schema, "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90", dt.date(2026, 3, 1))
        unmapped = load_cost_model(conn, tenant_schema, "11111111-1111-4111-8111-111111111111", dt.date(2026, 1, 1))
    assert model.infrastructure_rates == {"vm_core_cost_per_month": 15.0, "vm_core_cost_per_hour": 0.0125}
    assert model.supplementary_rates == {"vm_cost_per_hour": 0.25}
    assert model.monthly_rate("vm_core_cost_per_month") == ("Infrastructure", 15.0)
    gpu = model.tag_params["gpu_cost_per_month"]
    assert [(p.rate_type, p.tag_key, p.value_rates, p.default_rate) for p in gpu] == [
        ("Infrastructure", "NVIDIA", {"A100": 1500.0, "Tesla T4": 310.0}, 200.0),
        ("Supplementary", "AMD", {"Instinct MI210": 900.0}, None)]
    assert model.distribution == "cpu" and model.markup == {"value": 10.0, "unit": "percent"}
    # no price list covers March: Koku's "zero costs"; the model itself is still found
    assert outside.uuid == model.uuid and not outside.infrastructure_rates and not outside.tag_params
    assert unmapped.uuid is None


def test_task_through_a_worker_writes_hand_computed_costs_and_reruns_replace(pg_url, dataset, celery_worker_app):
    from poc_tasks.app import app

    spec, scenario, options = dataset
    _store(pg_url, spec.schema_name, cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date))
    celery_worker_app(app, queues=["poc_aggregation"])
    out = app.send_task("poc_tasks.apply_ocp_cost_model", queue="poc_aggregation", kwargs={
        "schema_name": spec.schema_name, "provider_uuid": spec.source_uuid, "start_date": "2026-01-01",
        "end_date": "2026-01-02", "cluster_id": spec.cluster_id, "cluster_alias": spec.cluster_alias}).get(timeout=90)
    assert out["steps"]["gpu_monthly"]["inserted"] > 0 and out["steps"]["vm_core_monthly"]["inserted"] > 0
    rows = _cost_rows(pg_url, spec.schema_name)
    first = list(rows)

    vm = {(r[10], r[2]): r for r in rows if r[0] == "OCP_VM_CORE"}
    per_core = float(round(Decimal(12.5) / DAYS, 15))
    # vm-1 has 2 cores on the 1st and 4 on the 2nd; vm-2 reports another node on the last day of the month's data
    assert float(vm[("vm-1", dt.date(2026, 1, 1))][7]) == pytest.approx(2 * per_core, rel=1e-14)
    assert float(vm[("vm-1", dt.date(2026, 1, 2))][7]) == pytest.approx(4 * per_core, rel=1e-14)
    moved_to = scenario["features"]["cost_model"]["vm_moved_to"]
    assert {r[4] for k, r in vm.items() if k[0] == "vm-2"} == {moved_to}
    assert {r[6] for r in vm.values()} == {"Infrastructure"}

    gpu = [r for r in rows if r[1] == "GPU"]
    t4 = [r for r in gpu if r[5] == "GPU-t4-0"]
    # the pod rows match the raw model name "Tesla-T4": no model rate, the NVIDIA default 200 a month
    assert {json.loads(r[9])["gpu-model"] for r in t4} == {"Tesla-T4"}
    day2 = [r for r in t4 if r[2] == dt.date(2026, 1, 2)]
    assert [float(r[8]) for r in day2] == [pytest.approx(200 / DAYS, rel=1e-14)] * len(day2)  # 24 h that day
    amd = [r for r in gpu if r[5] == "GPU-mi210-0" and r[2] == dt.date(2026, 1, 2)]
    assert [float(r[8]) for r in amd] == [pytest.approx(900 / DAYS * 0.5, rel=1e-14)] * len(amd)  # half of each hour
    assert {r[6] for r in amd} == {"Supplementary"}
    unalloc = {(r[4], r[2], json.loads(r[9])["gpu-model"]): r for r in gpu if r[3] == "GPU unallocated"}
    t4_node = scenario["features"]["cost_model"]["gpu_nodes"][1]
    # the T4 node (strategy single, 1 GPU) is fully used by the T4 pod on day 2: no NVIDIA unallocated row; the AMD
    # rate sees its pod's 12 GPU-hours on the same node: 24 x 1 - 12 = 12 unused hours at 900 / (31 x 24 x 1)
    assert (t4_node, dt.date(2026, 1, 2), "Tesla T4") not in unalloc
    amd_unused = unalloc[(t4_node, dt.date(2026, 1, 2), "Instinct MI210")]
    assert float(amd_unused[8]) == pytest.approx(12 * 900 / (DAYS * 24), rel=1e-14)
    # the idle T4 node is "single" without usage: a row with a NULL cost (Koku's CASE over a NULL max_slices)
    idle = scenario["features"]["cost_model"]["idle_gpu_node"]
    if idle:
        assert unalloc[(idle, dt.date(2026, 1, 2), "Tesla T4")][8] is None
    # A100 node, day 2: 24 h x 2 GPUs x 7 slices - (3 + 1 slices x 24 h + 0.75 x 24 h) = 336 - 96 - 18 = 222
    a100_node = scenario["features"]["cost_model"]["gpu_nodes"][0]
    a100 = unalloc[(a100_node, dt.date(2026, 1, 2), "A100")]
    assert json.loads(a100[9]) == {"gpu-model": "A100", "max-slices-per-gpu": "7"}
    assert float(a100[8]) == pytest.approx(222 * 1500 / (DAYS * 24 * 7), rel=1e-14)

    # VM hourly rows (no monthly cost type): vm-1 on the 2nd ran 24 h with 4 cores, one disk
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT cost_model_rate_type, cost_model_cpu_cost, cost_model_memory_cost FROM {} WHERE usage_start = %s"
            " AND monthly_cost_type IS NULL AND cost_model_rate_type IS NOT NULL"
            " AND pod_labels->>'vm_kubevirt_io_name' = 'vm-1'").format(qualified(spec.schema_name, SUMMARY_TABLE)),
            (dt.date(2026, 1, 2),))
        hourly = sorted((r[0], float(r[1]), r[2]) for r in cur.fetchall())
    assert hourly[0][0] == "Infrastructure" and hourly[0][1] == pytest.approx(24 * 4 * 0.0125, rel=1e-14)
    assert {(r[0], r[2]) for r in hourly[1:]} == {("Supplementary", None)}
    assert [r[1] for r in hourly[1:]] == [pytest.approx(24 * 0.25, rel=1e-14)] * (len(hourly) - 1)
    assert out["steps"]["vm_hourly"]["inserted"] > 0

    # a re-run replaces its own rows with the same rows
    again = _run(pg_url, spec, options)
    for step in ("gpu_monthly", "vm_core_monthly", "vm_hourly", "vm_tag_based"):
        assert again["steps"][step]["deleted"] == out["steps"][step]["inserted"] == again["steps"][step]["inserted"]
    assert _cost_rows(pg_url, spec.schema_name) == first


def test_cost_model_without_rates_removes_rows_and_unknown_vendor_gives_none(pg_url, dataset):
    spec, _scenario, options = dataset
    rows = cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date)
    _store(pg_url, spec.schema_name, rows)
    _run(pg_url, spec, options)
    assert _cost_rows(pg_url, spec.schema_name)
    # a GPU rate on a vendor that never occurs and no VM core rate: no pod rows, no VM rows, no error; Koku's
    # unallocated statement still gives each GPU node of MIG strategy "single" a row, with a NULL cost
    bare = copy.deepcopy(rows)
    bare_rates = [{"metric": {"name": "gpu_cost_per_month"}, "cost_type": "Infrastructure", "tag_rates": {
        "tag_key": "Intel", "tag_values": [{"tag_value": "Max 1550", "value": 10, "default": True}]}}]
    for table in ("cost_model", "price_list"):
        bare[table][0]["rates"] = bare_rates
    bare["cost_model_rate"] = []
    _store(pg_url, spec.schema_name, bare)
    out = _run(pg_url, spec, options)
    assert out["steps"]["gpu_monthly"]["deleted"] > 0
    assert out["steps"]["vm_core_monthly"]["inserted"] == 0 and out["steps"]["vm_core_monthly"]["deleted"] > 0
    left = _cost_rows(pg_url, spec.schema_name)
    assert len(left) == out["steps"]["gpu_monthly"]["inserted"] > 0
    assert {(r[3], r[8]) for r in left} == {("GPU unallocated", None)}


def test_koku_hook_routes_runs_on_a_worker_and_falls_back(pg_url, dataset, celery_worker_app, redis_url,
                                                          redis_key_prefix, monkeypatch, tmp_path):
    from poc_tasks.app import app as poc_app
    from poc_tasks.koku import RoutingConfig
    from poc_tasks.koku.cost_model import cost_model_step_or_trino
    from tests.integration.koku_support import koku_app

    spec, _scenario, _options = dataset
    _store(pg_url, spec.schema_name, cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date))
    calls: list[str] = []
    args = {"schema_name": spec.schema_name, "provider_uuid": spec.source_uuid, "start_date": "2026-01-01",
            "end_date": "2026-01-02", "cluster_id": spec.cluster_id, "cluster_alias": spec.cluster_alias,
            "trino": lambda: calls.append("trino") or "koku rows"}
    # routed to Trino (switch off): only Koku's call runs
    off = cost_model_step_or_trino("vm_core_monthly", **args, config=RoutingConfig(enabled=False))
    assert (off.path, off.result, calls) == ("trino", "koku rows", ["trino"])
    # routed to poc_tasks: the step runs on a worker, Koku's call does not
    celery_worker_app(poc_app, queues=["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    on = RoutingConfig(enabled=True, percent=100)
    ran = cost_model_step_or_trino("vm_core_monthly", **args, config=on, app=koku, timeout=90)
    assert ran.path == "poc" and calls == ["trino"]
    assert list(ran.result["steps"]) == ["vm_core_monthly"] and ran.result["steps"]["vm_core_monthly"]["inserted"] > 0
    assert {r[0] for r in _cost_rows(pg_url, spec.schema_name)} == {"OCP_VM_CORE"}
    # a step that fails (here: a malformed distribution_type in the cost model) writes nothing; Koku's call runs
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET distribution_info = %s").format(qualified(spec.schema_name, "cost_model")),
                    ('{"distribution_type": "gpu"}',))
        conn.commit()
    fell = cost_model_step_or_trino("gpu_monthly", **args, config=on, app=koku, timeout=90)
    assert fell.path == "fallback" and calls == ["trino", "trino"]
    assert "distribution_type" in fell.error


def test_cli_runs_the_steps_and_refuses_bad_input_with_exit_2(pg_url, dataset, tmp_path):
    import json as _json

    from tests.integration.ocp_support import run_cli

    spec, _scenario, _options = dataset
    rows = cost_model_rows(spec.source_uuid, spec.start_date, spec.end_date)
    path = tmp_path / "cost_model.json"
    path.write_text(_json.dumps(rows, default=str))
    common = ["run", "ocp-cost-model", "--schema", spec.schema_name, "--source-uuid", spec.source_uuid,
              "--cluster-id", spec.cluster_id, "--start", "2026-01-01", "--end", "2026-01-02"]
    ok = run_cli(*common, "--load-cost-model", str(path), "--steps", "vm_core_monthly")
    assert ok.code == 0, ok.stderr
    assert list(ok.json["steps"]) == ["vm_core_monthly"] and ok.json["steps"]["vm_core_monthly"]["inserted"] > 0
    for extra, message in ((["--steps", "bogus"], "unknown cost-model step"),
                           (["--steps", "vm_tmp_table"], "vm_tmp_uuid"),
                           (["--steps", "vm_tmp_table", "--vm-tmp-uuid", "0" * 32], "does not exist"),
                           (["--load-cost-model", str(tmp_path / "missing.json")], "missing.json")):
        bad = run_cli(*common, *extra)
        assert bad.code == 2 and message in bad.stderr, (extra, bad.stderr)
    # nothing was written by the refused runs: the VM core rows are those of the first run
    assert {r[0] for r in _cost_rows(pg_url, spec.schema_name)} == {"OCP_VM_CORE"}
