"""Koku's side sends runs by name: a separate Celery app named "koku", sharing only the broker (Redis) with the
poc_tasks worker, enqueues poc_tasks.summarize_ocp and the tables get written."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.koku import RoutingConfig, ocp_summary_kwargs, queue_for, send_ocp_summary, send_summary
from tests.integration.koku_support import (  # noqa: F401 - forget_kombu_pools is a fixture
    count_summary,
    fetch,
    forget_kombu_pools,
    koku_app,
    make_dataset,
    start_worker,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]


@pytest.fixture
def dataset(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    worker_env(monkeypatch, pg_url, str(tmp_path / "bucket"))
    return make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))


def test_koku_app_sends_summarize_ocp_by_name_and_the_tables_get_written(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix
):
    from poc_tasks.app import app as poc_app

    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    # Koku's app knows no poc_tasks task (in this process @app.task's shared tasks would register on any new
    # app; send_task by name never looks at the registry): the message is all the two sides share.
    koku = koku_app(redis_url, redis_key_prefix)

    result = send_ocp_summary(koku, schema_name=dataset.schema, source_uuid=dataset.source,
                              start_date=dataset.config.start_date, end_date=dataset.config.end_date,
                              cluster_id=dataset.config.cluster_id, cluster_alias=dataset.config.cluster_alias,
                              tracing_id="koku-trace-1")
    out = result.get(timeout=90)

    written = count_summary(pg_url, dataset.schema)
    assert written > 0
    assert out["rows"] == {SUMMARY_TABLE: written}
    assert (out["start_date"], out["end_date"]) == ("2026-01-01", "2026-01-03")
    # the days, the cluster and the source are the ones Koku named
    days = fetch(pg_url, sql.SQL("SELECT DISTINCT usage_start::text, cluster_id, source_uuid::text FROM {}"
                                 " ORDER BY 1").format(qualified(dataset.schema, SUMMARY_TABLE)))
    assert days == [(f"2026-01-0{d}", dataset.config.cluster_id, dataset.source) for d in (1, 2, 3)]


def test_xl_tenants_go_to_the_xl_queue_and_their_follow_up_tasks_stay_there(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix, monkeypatch
):
    from poc_tasks.app import app as poc_app

    monkeypatch.setenv("POC_DATE_STEP", "1")  # three chunks: the chord's tasks must all run on the XL worker
    start_worker(celery_worker_app, poc_app, ["poc_aggregation_xl"])  # nobody consumes poc_aggregation
    koku = koku_app(redis_url, redis_key_prefix)
    config = RoutingConfig(xl=frozenset({dataset.schema}))
    queue = queue_for(dataset.schema, config=config)
    assert queue == "poc_aggregation_xl"
    result = send_summary(koku, "OCP", ocp_summary_kwargs(**dataset.ocp_kwargs()), queue=queue)
    out = result.get(timeout=90)
    assert out["chunks"] == 3
    assert out["rows"][SUMMARY_TABLE] == count_summary(pg_url, dataset.schema) > 0


def test_the_compose_koku_service_script_enqueues_month_runs_and_a_shadow_comparison(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix, tmp_path, monkeypatch
):
    from poc_tasks.app import app as poc_app
    from poc_tasks.koku.simulator import enqueue_ocp

    monkeypatch.setenv("POC_SHADOW_REPORT_ROOT", str(tmp_path / "reports"))
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    records = enqueue_ocp(koku_app(redis_url, redis_key_prefix), schema_name=dataset.schema,
                          source_uuid=dataset.source, cluster_id=dataset.config.cluster_id,
                          cluster_alias=dataset.config.cluster_alias, start=dataset.config.start_date,
                          end=dataset.config.end_date, tracing_id="sim-1", wait=90, shadow=True,
                          config=RoutingConfig(enabled=True, percent=100))
    [month] = records
    assert (month["path"], month["start_date"], month["end_date"]) == ("poc", "2026-01-01", "2026-01-03")
    assert month["result"]["rows"][SUMMARY_TABLE] == count_summary(pg_url, dataset.schema) > 0
    assert month["shadow"]["verdict"] == "equal"

    trino_month = enqueue_ocp(koku_app(redis_url, redis_key_prefix), schema_name=dataset.schema,
                              source_uuid=dataset.source, cluster_id=dataset.config.cluster_id,
                              cluster_alias=None, start=dataset.config.start_date, end=dataset.config.end_date,
                              tracing_id="sim-2", config=RoutingConfig(enabled=False))
    assert [(m["path"], "task_id" in m) for m in trino_month] == [("trino", False)]
