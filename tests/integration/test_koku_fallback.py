"""The run-or-fall-back hook Koku's accessor calls: a failing poc_tasks run falls back to the Trino callable,
logged with the tracing id and counted; a routed-to-Trino call never touches poc_tasks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.koku import RoutingConfig, summarize_ocp_or_trino, tracing
from poc_tasks.locks import lock_key, redis_for
from tests.integration.koku_support import (
    count_summary,
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    make_dataset,
    start_worker,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]

ON = RoutingConfig(enabled=True, percent=100)


def _fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("poc_tasks_fallbacks_total", {"provider_type": "OCP", "reason": reason}) or 0.0


class Trino:
    """Stands in for Koku's original method body: records that it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return "trino wrote the rows"


def _hook_args(ds, **overrides):
    return {"schema_name": ds.schema, "source_uuid": ds.source, "start_date": ds.config.start_date,
            "end_date": ds.config.end_date, "cluster_id": ds.config.cluster_id,
            "cluster_alias": ds.config.cluster_alias, "report_period_id": None, **overrides}


@pytest.fixture
def dataset(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    worker_env(monkeypatch, pg_url, str(tmp_path / "bucket"))
    return make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"))


def test_routed_to_trino_runs_only_the_trino_callable(pg_url, dataset) -> None:
    trino = Trino()
    deleted = []
    out = summarize_ocp_or_trino(**_hook_args(dataset), trino=trino, config=RoutingConfig(enabled=False),
                                 before_fallback=lambda: deleted.append(1))
    assert (out.path, out.result, trino.calls, deleted) == ("trino", "trino wrote the rows", 1, [])
    assert count_summary(pg_url, dataset.schema) == 0


def test_inline_run_writes_the_rows_and_does_not_call_trino(pg_url, dataset) -> None:
    trino = Trino()
    out = summarize_ocp_or_trino(**_hook_args(dataset), trino=trino, config=ON, mode="inline")
    assert (out.path, trino.calls) == ("poc", 0)
    assert out.result["rows"][SUMMARY_TABLE] == count_summary(pg_url, dataset.schema) > 0


def test_failing_inline_run_falls_back_to_trino_logged_with_the_tracing_id_and_counted(
    pg_url, dataset, tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("POC_DATA_ROOT", str(tmp_path / "empty-bucket"))  # no Parquet: MissingInputData
    trino = Trino()
    before = _fallbacks("MissingInputData")
    order: list[str] = []
    with caplog.at_level(logging.WARNING, logger="poc_tasks.koku.fallback"), tracing("trace-inline-42"):
        out = summarize_ocp_or_trino(**_hook_args(dataset), trino=lambda: (order.append("trino"), trino())[1],
                                     config=ON, mode="inline", before_fallback=lambda: order.append("delete"))
    assert (out.path, out.result, trino.calls) == ("fallback", "trino wrote the rows", 1)
    assert order == ["delete", "trino"]
    assert out.error.startswith("MissingInputData: no openshift_pod_usage_line_items_daily Parquet")
    assert _fallbacks("MissingInputData") == before + 1
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "tracing_id=trace-inline-42" in warning[0].getMessage()
    assert "falling back to Trino" in warning[0].getMessage()
    assert count_summary(pg_url, dataset.schema) == 0


def test_failing_celery_run_falls_back_to_trino(
    pg_url, dataset, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix, caplog
) -> None:
    from poc_tasks.app import app as poc_app

    monkeypatch.setenv("POC_DATA_ROOT", str(tmp_path / "empty-bucket"))  # the worker finds no Parquet
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    trino = Trino()
    before = _fallbacks("MissingInputData")
    with caplog.at_level(logging.WARNING, logger="poc_tasks.koku.fallback"):
        out = summarize_ocp_or_trino(**_hook_args(dataset), trino=trino, config=ON, app=koku, timeout=60,
                                     tracing_id="trace-celery-7")
    assert (out.path, trino.calls) == ("fallback", 1)
    assert "MissingInputData" in out.error  # the worker's exception, rebuilt from the result backend
    assert _fallbacks("MissingInputData") == before + 1
    assert any("tracing_id=trace-celery-7" in r.getMessage() for r in caplog.records)
    # the failed run gave its lock back at once
    client, prefix = redis_for(poc_app)
    assert client.get(lock_key("OCP", dataset.schema, dataset.source, dataset.config.start_date, prefix)) is None


def test_celery_run_writes_the_rows_when_it_succeeds(pg_url, dataset, celery_worker_app, redis_url,
                                                     redis_key_prefix) -> None:
    from poc_tasks.app import app as poc_app

    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    trino = Trino()
    out = summarize_ocp_or_trino(**_hook_args(dataset), trino=trino, config=ON,
                                 app=koku_app(redis_url, redis_key_prefix), timeout=90)
    assert (out.path, trino.calls) == ("poc", 0)
    assert out.result["rows"][SUMMARY_TABLE] == count_summary(pg_url, dataset.schema) > 0


def test_a_timed_out_run_is_cancelled_then_trino_runs_and_the_late_run_writes_nothing(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix, monkeypatch
) -> None:
    from poc_tasks.app import app as poc_app
    from poc_tasks.locks import RunLock

    monkeypatch.setenv("POC_LOCK_RETRY_COUNTDOWN", "1")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    # another run holds the month: the sent run keeps re-queueing itself, so the hook's wait times out
    client, prefix = redis_for(poc_app)
    other = RunLock(client, lock_key("OCP", dataset.schema, dataset.source, dataset.config.start_date, prefix),
                    "another-run", ttl_ms=60_000)
    assert other.acquire()
    trino = Trino()
    before = _fallbacks("PocRunTimeout")
    out = summarize_ocp_or_trino(**_hook_args(dataset), trino=trino, config=ON, app=koku, timeout=1.5)
    assert (out.path, trino.calls) == ("fallback", 1)
    assert out.error.startswith("PocRunTimeout") and "(cancelled)" in out.error
    assert _fallbacks("PocRunTimeout") == before + 1

    # the other run ends; the late run then takes the lock, sees the cancel flag and stops before writing
    assert other.release()
    late = koku.AsyncResult(out.extra["task_id"])
    with pytest.raises(Exception) as info:  # noqa: B017 - the type is rebuilt from the result backend
        late.get(timeout=60)
    assert type(info.value).__name__ == "RunCancelled"
    assert count_summary(pg_url, dataset.schema) == 0
    assert other.holder() is None  # and it gave the lock back


def test_cloud_hook_sends_the_cost_models_markup_and_distribution(dataset, redis_url, redis_key_prefix) -> None:
    """What Koku's accessor reads from its cost models (SummarySqlMetadata.build_cost_model_params) goes into the
    message poc_tasks.summarize_ocp_on_aws receives, in percent; with no worker the run times out and Trino runs."""
    from decimal import Decimal

    from celery.signals import before_task_publish

    from poc_tasks.koku import OCP_ON_AWS, summarize_ocp_on_cloud_or_trino

    sent: list[dict] = []

    def keep(sender=None, body=None, **_kw) -> None:
        if sender == "poc_tasks.summarize_ocp_on_aws":
            sent.append(body[1] if isinstance(body, tuple) else body)

    before_task_publish.connect(keep, weak=False)
    trino = Trino()
    reads = []
    try:
        out = summarize_ocp_on_cloud_or_trino(
            OCP_ON_AWS, trino=trino, config=RoutingConfig(enabled=True, percent=100, providers=(OCP_ON_AWS,)),
            app=koku_app(redis_url, redis_key_prefix), timeout=1,
            cost_model=lambda: reads.append(1) or {"markup": Decimal("12.5") / 100, "distribution": "memory"},
            schema_name=dataset.schema, openshift_provider_uuid=dataset.source,
            infrastructure_provider_uuid="2b6f1d2e-0c4a-4c1e-9a57-4b8c0f1e2d3a", start_date="2026-01-01",
            end_date="2026-01-02", cluster_id=dataset.config.cluster_id, report_period_id=1, bill_id=1)
    finally:
        before_task_publish.disconnect(keep)
    assert reads == [1]
    assert [(k["markup"], k["distribution"]) for k in sent] == [(12.5, "memory")]
    assert (out.path, trino.calls) == ("fallback", 1)
