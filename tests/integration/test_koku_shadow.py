"""Phase 1: shadow comparisons. The live table stands in for Trino's rows (written here by an in-process run
of the same data); identical data compares equal, a perturbed row is named by day and namespace, and a
comparison never writes to the live tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.io.staging import Stage
from poc_tasks.ocp.pipeline import new_stage, prepare_ocp, run_ocp, write_table
from poc_tasks.runspec import OcpRunSpec
from tests.integration.koku_support import (  # noqa: F401 - forget_kombu_pools is a fixture
    forget_kombu_pools,
    koku_app,
    make_dataset,
    run_cli,
    start_worker,
    tenant_fingerprint,
    verdicts,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]


@pytest.fixture
def summarised(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    """A tenant whose live daily summary holds the sample's rows (as Koku's Trino run would have left it)."""
    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, pg_url, root)
    ds = make_dataset(pg_url, tenant_schema, root)
    spec = OcpRunSpec.build(ds.schema, ds.source, ds.config.cluster_id, ds.config.start_date, ds.config.end_date,
                            ds.config.cluster_alias)
    run_ocp(spec, ds.settings(pg_url))
    return ds


def _perturb(pg_url: str, schema: str, day: str, namespace: str) -> None:
    """Change one Pod row's CPU usage in the live table (what a Trino/poc_tasks disagreement looks like)."""
    with connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(
            "UPDATE {t} SET pod_usage_cpu_core_hours = pod_usage_cpu_core_hours + 1 WHERE uuid = ("
            " SELECT uuid FROM {t} WHERE usage_start = %s AND namespace = %s AND data_source = 'Pod'"
            " ORDER BY uuid LIMIT 1)").format(t=qualified(schema, SUMMARY_TABLE)), (day, namespace))
        assert cur.rowcount == 1
    conn.close()


def _compare_argv(ds, report: Path, *extra: str) -> list[str]:
    return ["compare", "ocp", "--schema", ds.schema, "--source-uuid", ds.source,
            "--cluster-id", ds.config.cluster_id, "--cluster-alias", ds.config.cluster_alias,
            "--start", ds.config.start_date.isoformat(), "--end", ds.config.end_date.isoformat(),
            "--report", str(report), *extra]


def test_identical_data_compares_equal_through_the_task_sent_by_koku(
    pg_url, summarised, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app
    from poc_tasks.koku import RoutingConfig, send_shadow_compare_if_selected

    ds = summarised
    monkeypatch.setenv("POC_SHADOW_REPORT_ROOT", str(tmp_path / "reports"))
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    before = tenant_fingerprint(pg_url, ds.schema)

    # Koku's processor/tasks.py hook, with phase 1 configured (shadow on, switch off)
    result = send_shadow_compare_if_selected(
        koku_app(redis_url, redis_key_prefix), schema_name=ds.schema, provider_type="OCP", source_uuid=ds.source,
        start_date=ds.config.start_date, end_date=ds.config.end_date, tracing_id="shadow-trace-1",
        config=RoutingConfig(shadow=True))
    out = result.get(timeout=90)

    assert out["equal"] is True and out["verdict"] == "equal"
    rows = out["rows"]
    assert rows["live"] == rows["poc"] == rows["equal"] > 0
    assert (rows["changed"], rows["missing_in_poc"], rows["extra_in_poc"]) == (0, 0, 0)
    assert tenant_fingerprint(pg_url, ds.schema) == before  # nothing of Koku's changed
    assert verdicts(pg_url, ds.schema) == [(True, rows["live"], rows["poc"], 0, 0, 0, [], [], "shadow-trace-1")]
    report = json.loads(Path(out["report"]["json"]).read_text())
    assert report["equal"] is True and report["differing_totals"] == {"usage_start": [], "namespace": [],
                                                                      "node": []}
    assert Path(out["report"]["html"]).read_text().count("no day differs") == 1
    assert out["report"]["json"].startswith(str(tmp_path / "reports" / ds.schema / ds.source))


def test_not_selected_tenants_are_not_shadowed(summarised, redis_url, redis_key_prefix) -> None:
    from poc_tasks.koku import RoutingConfig, send_shadow_compare_if_selected

    ds = summarised
    koku = koku_app(redis_url, redis_key_prefix)
    args = {"schema_name": ds.schema, "provider_type": "OCP", "source_uuid": ds.source,
            "start_date": ds.config.start_date, "end_date": ds.config.end_date}
    assert send_shadow_compare_if_selected(koku, **args, config=RoutingConfig(shadow=False)) is None
    assert send_shadow_compare_if_selected(koku, **args, config=RoutingConfig(shadow=True, shadow_percent=0)) is None
    assert send_shadow_compare_if_selected(koku, **args, config=RoutingConfig(
        shadow=True, deny=frozenset({ds.schema}))) is None


def test_cli_perturbed_row_is_named_by_day_and_namespace_and_exits_1(pg_url, summarised, tmp_path) -> None:
    ds = summarised
    _perturb(pg_url, ds.schema, "2026-01-02", "analytics")
    before = tenant_fingerprint(pg_url, ds.schema)

    res = run_cli(*_compare_argv(ds, tmp_path / "out" / "cmp.json"))

    assert res.code == 1, res.stderr
    out = res.json
    assert out["equal"] is False
    assert out["rows"]["changed"] == 1 and out["rows"]["missing_in_poc"] == out["rows"]["extra_in_poc"] == 0
    assert out["changed_columns"] == {"pod_usage_cpu_core_hours": 1}
    assert out["differing_days"] == ["2026-01-02"]
    assert out["differing_namespaces"] == ["analytics"]
    assert tenant_fingerprint(pg_url, ds.schema) == before

    report = json.loads((tmp_path / "out" / "cmp.json").read_text())
    [example] = report["examples"]
    assert example["kind"] == "changed" and example["key"]["usage_start"] == "2026-01-02"
    change = example["columns"]["pod_usage_cpu_core_hours"]
    assert change["live"] == pytest.approx(change["poc"] + 1)  # the +1 the perturbation added
    day_totals = [t for t in report["differing_totals"]["usage_start"] if t["metric"] == "pod_usage_cpu_core_hours"]
    assert [t["group"] for t in day_totals] == ["2026-01-02"]
    assert day_totals[0]["live"] == pytest.approx(day_totals[0]["poc"] + 1)
    ns_totals = {t["group"] for t in report["differing_totals"]["namespace"]}
    assert ns_totals == {"analytics"}
    html = (tmp_path / "out" / "cmp.html").read_text()
    assert "DIFFERENT" in html and "2026-01-02" in html and "analytics" in html
    [verdict] = verdicts(pg_url, ds.schema)
    assert verdict[:6] == (False, out["rows"]["live"], out["rows"]["poc"], 1, 0, 0)
    assert verdict[6] == [{"day": "2026-01-02", "rows": 1}]


def test_cli_equal_exits_0_and_a_missing_row_is_reported_as_such(pg_url, summarised, tmp_path) -> None:
    ds = summarised
    res = run_cli(*_compare_argv(ds, tmp_path / "equal.json", "--no-store"))
    assert res.code == 0, res.stderr
    assert res.json["equal"] is True and res.json["comparison_id"] is None
    assert verdicts(pg_url, ds.schema) == []  # --no-store

    with connect(pg_url) as conn, conn.cursor() as cur:  # Trino "lost" one storage row
        cur.execute(sql.SQL("DELETE FROM {t} WHERE uuid = (SELECT uuid FROM {t} WHERE data_source = 'Storage'"
                            " AND usage_start = '2026-01-03' ORDER BY uuid LIMIT 1)").format(
            t=qualified(ds.schema, SUMMARY_TABLE)))
    conn.close()
    res = run_cli(*_compare_argv(ds, tmp_path / "missing.json"))
    assert res.code == 1
    assert res.json["rows"]["extra_in_poc"] == 1 and res.json["rows"]["changed"] == 0
    assert res.json["differing_days"] == ["2026-01-03"]


def test_cli_usage_errors_exit_2(pg_url, summarised, tmp_path) -> None:
    ds = summarised
    bad_schema = run_cli(*[a if a != ds.schema else "public" for a in _compare_argv(ds, tmp_path / "r.json")])
    assert bad_schema.code == 2 and "not a Koku tenant schema" in bad_schema.stderr
    bad_dates = run_cli(*_compare_argv(ds, tmp_path / "r.json"), "--end", "2026-02-01")
    assert bad_dates.code == 2 and "not in the same month" in bad_dates.stderr
    other_month = run_cli("compare", "ocp", "--schema", ds.schema, "--source-uuid", ds.source,
                          "--start", "2026-03-01", "--end", "2026-03-02")
    assert other_month.code == 2 and "no report period" in other_month.stderr


def test_a_shadow_stage_is_never_written_to_the_live_tables(pg_url, summarised) -> None:
    ds = summarised
    settings = ds.settings(pg_url)
    spec = OcpRunSpec.build(ds.schema, ds.source, ds.config.cluster_id, ds.config.start_date, ds.config.end_date,
                            ds.config.cluster_alias)
    before = tenant_fingerprint(pg_url, ds.schema)
    stage: Stage = new_stage(settings)
    try:
        manifest = prepare_ocp(spec, settings, stage, shadow=True)
        assert manifest["shadow"] is True
        with pytest.raises(ValueError, match="is a shadow run"):
            write_table(settings, stage, SUMMARY_TABLE)
    finally:
        stage.cleanup()
    assert tenant_fingerprint(pg_url, ds.schema) == before
