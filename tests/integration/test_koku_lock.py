"""Never two runs for the same (schema, provider, source, month) at once: the Redis lease, a second run that
re-queues itself with a countdown, and the lock of a dead worker that expires."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY

from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.koku import send_ocp_summary
from poc_tasks.locks import RunLock, lock_key, redis_for
from tests.integration.koku_support import (
    count_summary,
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    make_dataset,
    start_worker,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]


def _lock_waits() -> float:
    return REGISTRY.get_sample_value("poc_tasks_lock_waits_total", {"provider_type": "OCP"}) or 0.0


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_lease_semantics_on_real_redis(client, redis_key_prefix) -> None:
    key = lock_key("OCP", "org1234567", "6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90", "2026-01-17", redis_key_prefix)
    assert key == f"{redis_key_prefix}poc_tasks:lock:org1234567:OCP:6e2a1c8f-4b1d-4c3e-9f0a-7d5b8e2c1a90:2026-01"
    mine, theirs = RunLock(client, key, "run-a", ttl_ms=300), RunLock(client, key, "run-b", ttl_ms=300)
    try:
        assert mine.acquire()
        assert mine.acquire()  # the same run (a redelivered message) takes its own lock back
        assert not theirs.acquire()
        assert not theirs.release() and mine.holder() == "run-a"  # compare-and-delete: not theirs to delete
        assert not theirs.renew()
        time.sleep(0.2)
        assert mine.renew() and mine.ttl_left_ms() > 200  # renewed: the expiry moved forward
        time.sleep(0.45)  # nobody renews (a dead worker): the lease expires
        assert mine.holder() is None
        assert theirs.acquire()
        assert not mine.release() and theirs.holder() == "run-b"  # a late release does not free the new run
        assert theirs.release() and theirs.holder() is None
    finally:
        client.delete(key)


@pytest.fixture
def dataset(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, pg_url, root)
    monkeypatch.setenv("POC_LOCK_RETRY_COUNTDOWN", "0.5")
    monkeypatch.setenv("POC_DATE_STEP", "1")  # 3 chunks: the first run spans several tasks
    return make_dataset(pg_url, tenant_schema, root)


def test_two_concurrent_sends_for_one_month_run_one_after_the_other(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    waits = _lock_waits()
    args = {"schema_name": dataset.schema, "source_uuid": dataset.source, "start_date": "2026-01-01",
            "end_date": "2026-01-03", "cluster_id": dataset.config.cluster_id}
    # both messages are queued before either runs: without the lock the second run's prepare would run
    # between the first run's day chunks
    first, second = send_ocp_summary(koku, **args), send_ocp_summary(koku, **args)
    a, b = first.get(timeout=120), second.get(timeout=120)

    runs = sorted([a, b], key=lambda r: r["started_at"])
    assert runs[0]["finished_at"] <= runs[1]["started_at"]  # no overlap
    assert _lock_waits() >= waits + 1  # the second one found the lock taken and re-queued itself
    assert a["rows"] == b["rows"] == {SUMMARY_TABLE: count_summary(pg_url, dataset.schema)}  # replaced, not doubled
    client, prefix = redis_for(poc_app)
    assert client.get(lock_key("OCP", dataset.schema, dataset.source, "2026-01-01", prefix)) is None


def test_a_dead_workers_lock_expires_and_the_waiting_run_goes_ahead(
    pg_url, dataset, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    client, prefix = redis_for(poc_app)
    key = lock_key("OCP", dataset.schema, dataset.source, "2026-01-01", prefix)
    dead = RunLock(client, key, "run-of-a-dead-worker", ttl_ms=2000)  # nobody will renew or release it
    assert dead.acquire()
    waits = _lock_waits()
    t0 = time.time()
    result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), schema_name=dataset.schema,
                              source_uuid=dataset.source, start_date="2026-01-01", end_date="2026-01-03",
                              cluster_id=dataset.config.cluster_id)
    out = result.get(timeout=120)
    assert out["started_at"] >= t0 + 1.5  # it waited for the expiry (2 s lease, 0.5 s countdown)
    assert _lock_waits() >= waits + 2
    assert out["rows"][SUMMARY_TABLE] == count_summary(pg_url, dataset.schema) > 0
    assert client.get(key) is None
