"""Phase 1 for the cloud daily summaries, through a real worker: Koku's summary updater hook (integration/koku/0010,
poc_tasks.koku.shadow_daily_summary_if_selected) sends poc_tasks.shadow_compare through Koku's own Celery app; the
worker computes the summary privately and compares it with the live rows.

The live table stands in for Trino's rows: an in-process run of the same data with the same bill and markup wrote
them. Identical rows compare equal; a changed cost is named by its column and day; a comparison writes nothing of
Koku's (only its verdict row).
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest
from psycopg2 import sql

from poc_tasks.daily.run import DailyRunSpec, run
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables_daily import AWS_DAILY_TABLE, AZURE_DAILY_TABLE, GCP_DAILY_TABLE
from poc_tasks.koku import RoutingConfig, shadow_daily_summary_if_selected, tracing
from poc_tasks.sample.scenario import seed_cloud_tenant
from tests.integration.koku_support import (  # noqa: F401 - forget_kombu_pools is a fixture
    forget_kombu_pools,
    koku_app,
    start_worker,
    tenant_fingerprint,
    verdicts,
    worker_env,
)
from tests.integration.ocp_support import make_dataset

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]

SHADOWED = RoutingConfig(shadow=True, providers=frozenset({"AWS-daily", "Azure-daily", "GCP-daily"}))
# what Koku's updater passes to Trino and so to the hook: flow, provider type, table, bill, invoice month
CASES = [("AWS", "AWS-daily", AWS_DAILY_TABLE, None), ("Azure", "Azure-daily", AZURE_DAILY_TABLE, None),
         ("GCP", "GCP-daily", GCP_DAILY_TABLE, "202601")]


@pytest.fixture
def summarised(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    """A cloud-only tenant (AWS, Azure and GCP sources, 3 days) whose daily summaries hold the rows Koku's Trino
    run would have left (written by an in-process run with markup 10 %); returns (dataset, bill ids)."""
    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, pg_url, root)
    ds = make_dataset(pg_url, tenant_schema, root, label_changes=False, days=3, with_aws=True, with_azure=True,
                      with_gcp=True)
    with closing(connect(pg_url)) as conn:
        for key in ("aws", "azure", "gcp"):
            seed_cloud_tenant(conn, tenant_schema, ds.scenario, key)
        conn.commit()
    bills = {}
    for flow, _kind, _table, invoice in CASES:
        spec = DailyRunSpec.build(flow, ds.schema, ds.scenario[flow.lower()]["source_uuid"], "2026-01-01",
                                  "2026-01-03", None, 0.1, invoice)
        bills[flow] = run(spec, ds.settings(pg_url))["bill_id"]
    return ds, bills


def _hook_arguments(ds, bills, flow: str, invoice: str | None) -> dict:
    """The arguments 0010's updater hook passes: the updater's range, Trino's bill, markup and invoice month."""
    args = {"schema_name": ds.schema, "source_uuid": ds.scenario[flow.lower()]["source_uuid"],
            "start_date": "2026-01-01", "end_date": "2026-01-03", "bill_id": bills[flow], "markup_value": 0.1}
    return {**args, "invoice_month": invoice} if invoice else args


def test_the_updater_hook_compares_each_daily_summary_through_the_worker(
    pg_url, summarised, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    ds, bills = summarised
    monkeypatch.setenv("POC_SHADOW_REPORT_ROOT", str(tmp_path / "reports"))
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    before = tenant_fingerprint(pg_url, ds.schema)

    results = {}
    with tracing("koku-trace-daily"):  # what Koku's update_summary_tables task sets (patch 0006)
        for flow, kind, _table, invoice in CASES:
            sent = shadow_daily_summary_if_selected(kind, app=koku, config=SHADOWED,
                                                    **_hook_arguments(ds, bills, flow, invoice))
            results[flow] = sent.get(timeout=120)

    for flow, _kind, table, _invoice in CASES:
        out = results[flow]
        live = _count(pg_url, ds.schema, table)
        assert out["verdict"] == "equal" and out["table"] == table, (flow, out)
        assert out["rows"]["live"] == out["rows"]["poc"] == out["rows"]["equal"] == live > 0, (flow, out)
        report = json.loads(Path(out["report"]["json"]).read_text())
        assert report["provider_type"] == _kind and report["bill_id"] == bills[flow]
        assert report["tracing_id"] == "koku-trace-daily"
        assert out["report"]["json"].startswith(str(tmp_path / "reports" / ds.schema))
    assert tenant_fingerprint(pg_url, ds.schema) == before  # nothing of Koku's changed
    stored = verdicts(pg_url, ds.schema)
    assert [v[0] for v in stored] == [True, True, True] and {v[-1] for v in stored} == {"koku-trace-daily"}


def test_a_changed_cost_is_named_by_column_and_day(
    pg_url, summarised, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    ds, bills = summarised
    monkeypatch.setenv("POC_SHADOW_REPORT_ROOT", str(tmp_path / "reports"))
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:  # Trino "disagrees" on one Azure row of Jan 2
        cur.execute(sql.SQL("UPDATE {t} SET pretax_cost = pretax_cost + 1 WHERE uuid = (SELECT uuid FROM {t}"
                            " WHERE usage_start = '2026-01-02' ORDER BY uuid LIMIT 1)").format(
            t=qualified(ds.schema, AZURE_DAILY_TABLE)))
        assert cur.rowcount == 1
        conn.commit()
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    sent = shadow_daily_summary_if_selected("Azure-daily", app=koku_app(redis_url, redis_key_prefix),
                                            config=SHADOWED, **_hook_arguments(ds, bills, "Azure", None))
    out = sent.get(timeout=120)

    assert out["verdict"] == "different"
    assert out["rows"]["changed"] == 1 and out["rows"]["missing_in_poc"] == out["rows"]["extra_in_poc"] == 0
    assert out["changed_columns"] == {"pretax_cost": 1} and out["differing_days"] == ["2026-01-02"]
    [verdict] = verdicts(pg_url, ds.schema)
    assert verdict[:6] == (False, out["rows"]["live"], out["rows"]["poc"], 1, 0, 0)
    example = json.loads(Path(out["report"]["json"]).read_text())["examples"][0]
    change = example["columns"]["pretax_cost"]
    assert change["live"] == pytest.approx(change["poc"] + 1)  # the +1 written above


def _count(pg_url: str, schema: str, table: str) -> int:
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table)))
        return cur.fetchone()[0]
