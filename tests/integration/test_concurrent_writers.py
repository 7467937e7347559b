"""Nothing doubled: two writes of the same table and month never interleave, whatever starts them.

- the PostgreSQL guarantee alone (no run lock at all): two runs' writes released at the same instant leave exactly
  one run's rows;
- two `poc-tasks run ocp` processes started together: the second waits for the PostgreSQL run lock (and says so),
  the table holds one copy; with POC_LOCK_WAIT=0 it refuses (exit 2, naming the holder);
- a Celery run while an in-process run holds the run lock re-queues itself and runs after it;
- two Celery runs without any Redis lease (a lock URL that is not Redis, as when the lease expired or Redis could
  not be asked) on a worker running four tasks at a time: they overlap, and still leave exactly one copy.
Every check compares the table with a single clean run's rows (uuids aside).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from poc_tasks.db.connection import connect
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.db.writer import lock_table_months
from poc_tasks.koku import send_ocp_summary
from poc_tasks.locks import hold_run_lock, lock_key
from poc_tasks.ocp.pipeline import compute_chunk, finalize, new_stage, prepare_ocp, write_table
from tests.integration.fault_support import (
    clean_run,
    cli,
    ocp_dataset,
    ocp_kwargs,
    ocp_spec,
    waiting_on_advisory,
)
from tests.integration.koku_support import (
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    start_worker,
)
from tests.integration.ocp_support import count_rows, summary_multiset

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]


@pytest.fixture
def ds(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    return ocp_dataset(pg_url, tenant_schema, tmp_path, monkeypatch)


def test_two_writes_released_together_leave_one_runs_rows(pg_url, ds, monkeypatch) -> None:
    reference = clean_run(pg_url, ds)
    settings = ds.settings(pg_url)
    stages = []
    for _ in range(2):  # two complete runs staged (their side tables loaded), just before their swaps
        stage = new_stage(settings)
        manifest = prepare_ocp(ocp_spec(ds), settings, stage)
        for a, b in manifest["chunks"]:
            compute_chunk(settings, stage, a, b)
        write_table(settings, stage, SUMMARY_TABLE)
        stages.append(stage)
    app_name = f"poc_tasks-{ds.schema}"
    import poc_tasks.ocp.pipeline as pipeline

    monkeypatch.setattr(pipeline, "connect", lambda url: connect(url, application_name=app_name))
    errors: list[BaseException] = []

    def swap(stage) -> None:
        try:
            finalize(settings, stage, {})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    gate = connect(pg_url)
    try:
        lock_table_months(gate, ds.schema, SUMMARY_TABLE, ds.config.start_date, ds.config.end_date)
        threads = [threading.Thread(target=swap, args=(s,)) for s in stages]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while waiting_on_advisory(pg_url, app_name) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_advisory(pg_url, app_name) == 2  # both swaps are inside their transaction, queued
    finally:
        gate.rollback()  # both go at once
        gate.close()
    for t in threads:
        t.join(60)
    assert not errors
    assert summary_multiset(pg_url, ds.schema) == reference  # one copy, not two


def _wait_for_text(paths: list[Path], text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(text in p.read_text() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_two_cli_runs_started_together_leave_one_copy_and_say_when_they_wait(pg_url, ds, tmp_path) -> None:
    reference = clean_run(pg_url, ds)
    key = lock_key("OCP", ds.schema, ds.source, ds.config.start_date)
    errs = [tmp_path / "a.err", tmp_path / "b.err"]
    # both runs queue for a run lock this test holds, then start at the same instant when it lets go
    with hold_run_lock(pg_url, key, wait_s=0):
        procs = [cli(pg_url, ds, e) for e in errs]
        _wait_for_text(errs, f"waiting up to 900s for run lock {key}, held by PostgreSQL session pid")
    outs = [p.communicate(timeout=180)[0] for p in procs]
    texts = [e.read_text() for e in errs]
    assert [p.returncode for p in procs] == [0, 0], texts
    assert all(f"waiting up to 900s for run lock {key}" in t for t in texts), texts
    assert sum("held by PostgreSQL session pid" in t and "taken; running" in t for t in texts) == 2
    assert all('"rows"' in o for o in outs)
    assert summary_multiset(pg_url, ds.schema) == reference


def test_a_cli_run_that_may_not_wait_refuses_naming_the_holder(pg_url, ds, tmp_path) -> None:
    reference = clean_run(pg_url, ds)
    key = lock_key("OCP", ds.schema, ds.source, ds.config.start_date)
    with hold_run_lock(pg_url, key, wait_s=0):
        proc = cli(pg_url, ds, tmp_path / "err", {"POC_LOCK_WAIT": "0"})
        proc.communicate(timeout=120)
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 2, err
    assert f"poc-tasks: error: run lock {key} is held by PostgreSQL session pid" in err
    assert "POC_LOCK_WAIT" in err
    assert summary_multiset(pg_url, ds.schema) == reference  # untouched


def _lock_waits(provider: str) -> float:
    return REGISTRY.get_sample_value("poc_tasks_lock_waits_total", {"provider_type": provider}) or 0.0


def test_a_celery_run_requeues_while_an_in_process_run_holds_the_run_lock(
    pg_url, ds, celery_worker_app, redis_url, redis_key_prefix, monkeypatch
) -> None:
    from poc_tasks.app import app as poc_app

    reference = clean_run(pg_url, ds)
    monkeypatch.setenv("POC_LOCK_RETRY_COUNTDOWN", "0.5")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    key = lock_key("OCP", ds.schema, ds.source, ds.config.start_date)
    waits = _lock_waits("OCP")
    with hold_run_lock(pg_url, key, wait_s=0):
        held_until = time.time() + 2
        result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds))
        time.sleep(2)
    out = result.get(timeout=120)
    assert out["started_at"] >= held_until - 0.5  # it ran after the in-process run let go
    assert _lock_waits("OCP") >= waits + 1
    assert summary_multiset(pg_url, ds.schema) == reference


def test_two_celery_runs_without_a_lease_still_leave_one_copy(
    pg_url, ds, celery_worker_app, redis_url, redis_key_prefix, monkeypatch
) -> None:
    from poc_tasks.app import app as poc_app

    reference = clean_run(pg_url, ds)
    monkeypatch.setenv("POC_LOCK_REDIS_URL", "none://")  # no lease, no run markers: only PostgreSQL serialises
    monkeypatch.setenv("POC_DATE_STEP", "1")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"], pool="threads", concurrency=4)
    koku = koku_app(redis_url, redis_key_prefix)
    first, second = send_ocp_summary(koku, **ocp_kwargs(ds)), send_ocp_summary(koku, **ocp_kwargs(ds))
    a, b = first.get(timeout=180), second.get(timeout=180)
    overlap = min(a["finished_at"], b["finished_at"]) - max(a["started_at"], b["started_at"])
    assert overlap > 0  # the two runs did run at the same time (nothing serialised them but PostgreSQL)
    assert a["rows"] == b["rows"] == {SUMMARY_TABLE: count_rows(pg_url, ds.schema)}
    assert summary_multiset(pg_url, ds.schema) == reference
