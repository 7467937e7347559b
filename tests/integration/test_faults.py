"""Faults injected under real runs (docs/reliability.md): killed worker processes, a PostgreSQL of the test's own
restarted or stopped, an S3 server of the test's own stopped, staging space exhausted, late tasks of a finished
run, a connection the server dropped. Each run's tables are compared with a single clean run's rows.

The runs are paused where a kill or a restart must hit a write: the test holds the write lock of the table's
month (db.writer.lock_table_months) so the run's swap transaction (finalize, db.run_swap) waits inside it, as a
slow swap would; or it holds the table itself, so the run's stage of it waits.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from prometheus_client import REGISTRY
from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.init import init_tenant
from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.db.writer import lock_table_months, replace_rows
from poc_tasks.koku import send_ocp_summary
from poc_tasks.locks import lock_key, redis_for
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.retry import ServiceOutage
from tests.integration.fault_support import (
    clean_run,
    cli_argv,
    cli_env,
    ocp_dataset,
    ocp_kwargs,
    ocp_spec,
    side_tables,
    waiting_on_advisory,
)
from tests.integration.koku_support import (
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    start_worker,
    worker_env,
)
from tests.integration.ocp_support import make_dataset, summary_multiset, summary_uuids
from tests.integration.process_support import Blinker, celery_worker, own_postgres, wait_until
from tests.integration.test_ocp_run import clean_env  # noqa: F401 - a fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]


@pytest.fixture
def ds(pg_url, tenant_schema, tmp_path: Path, monkeypatch):
    return ocp_dataset(pg_url, tenant_schema, tmp_path, monkeypatch)


def _child_env(pg_url: str, ds, **extra: str) -> dict[str, str]:
    return cli_env(POC_DATABASE_URL=pg_url, POC_DATA_ROOT=ds.root, POC_DATE_STEP="1", **extra)


def _staged(ds) -> list[str]:
    staging = Path(ds.root) / "poc_tasks_staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def _lock_free(redis_url: str, prefix: str, ds) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return client.get(lock_key("OCP", ds.schema, ds.source, ds.config.start_date, prefix)) is None
    finally:
        client.close()


# --- worker processes killed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["poc_tasks.compute_chunk", "poc_tasks.write_table", "poc_tasks.finalize_run"])
def test_a_pool_process_killed_in_a_step_is_redelivered_and_the_run_completes(
    task, pg_url, ds, tmp_path, redis_url, redis_key_prefix
) -> None:
    reference = clean_run(pg_url, ds)
    pause = tmp_path / "paused"
    env = _child_env(pg_url, ds, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                     POC_TEST_PAUSE_AT=task, POC_TEST_PAUSE_FILE=str(pause))
    with celery_worker(env, redis_key_prefix, tmp_path / "worker.log") as worker:
        result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds))
        wait_until(lambda: pause.exists() and pause.read_text(), 60, f"{task} to start")
        os.kill(int(pause.read_text()), signal.SIGKILL)
        killed = time.monotonic()
        out = result.get(timeout=120)
        recovered = time.monotonic() - killed
        log = worker.text()
    assert "WorkerLostError" in log or "exited with 'signal 9" in log, log[-2000:]
    assert summary_multiset(pg_url, ds.schema) == reference
    assert out["rows"][SUMMARY_TABLE] == sum(reference.values())
    assert _staged(ds) == [] and _lock_free(redis_url, redis_key_prefix, ds)
    print(f"\n{task}: pool process SIGKILLed, run completed {recovered:.1f}s later")  # docs/reliability.md


def test_a_pool_process_killed_inside_the_swap_transaction_leaves_one_copy(
    pg_url, ds, tmp_path, redis_url, redis_key_prefix
) -> None:
    reference = clean_run(pg_url, ds)
    env = _child_env(pg_url, ds, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    gate = connect(pg_url)
    try:
        lock_table_months(gate, ds.schema, SUMMARY_TABLE, ds.config.start_date, ds.config.end_date)
        with celery_worker(env, redis_key_prefix, tmp_path / "worker.log") as worker:
            result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds))
            wait_until(lambda: waiting_on_advisory(pg_url) == 1, 60, "the swap transaction to start")
            for pid in worker.pool_pids():  # finalize's process, inside its swap transaction
                os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            gate.rollback()  # the killed session's transaction and the redelivered finalize may go on
            out = result.get(timeout=120)
            recovered = time.monotonic() - killed
    finally:
        gate.close()
    assert summary_multiset(pg_url, ds.schema) == reference
    assert out["rows"][SUMMARY_TABLE] == sum(reference.values())
    print(f"\nfinalize: pool process SIGKILLed inside the swap transaction, run completed {recovered:.1f}s later")


def test_a_whole_worker_killed_is_taken_over_after_the_visibility_timeout(
    pg_url, ds, tmp_path, redis_url, redis_key_prefix
) -> None:
    reference = clean_run(pg_url, ds)
    pause = tmp_path / "paused"
    # through the setting a deployment uses (celeryconfig's broker_transport_options): without a visibility
    # timeout of poc_tasks' own, Redis' 3600 s would apply and the run would not finish within the wait below
    env = _child_env(pg_url, ds, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                     POC_TEST_PAUSE_AT="poc_tasks.compute_chunk", POC_TEST_PAUSE_FILE=str(pause),
                     POC_VISIBILITY_TIMEOUT="3")
    with celery_worker(env, redis_key_prefix, tmp_path / "a.log", name="a") as first:
        result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds))
        wait_until(lambda: pause.exists() and pause.read_text(), 60, "a day chunk to start")
        pool = first.pool_pids()
        first.proc.kill()  # the whole worker: no parent left to requeue the chunk's unacknowledged message
        for pid in pool:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
    with celery_worker(env, redis_key_prefix, tmp_path / "b.log", name="b"):
        out = result.get(timeout=120)
        recovered = time.monotonic() - killed
    assert summary_multiset(pg_url, ds.schema) == reference
    assert out["rows"][SUMMARY_TABLE] == sum(reference.values())
    assert _staged(ds) == [] and _lock_free(redis_url, redis_key_prefix, ds)
    print(f"\nwhole worker SIGKILLed (visibility_timeout 3 s): run completed {recovered:.1f}s later")


# --- late tasks of a finished run ----------------------------------------------------------------------------


def _lock_waits() -> float:
    return REGISTRY.get_sample_value("poc_tasks_lock_waits_total", {"provider_type": "OCP"}) or 0.0


def test_a_late_task_of_a_finished_run_takes_no_lock_writes_nothing_and_the_next_run_starts_at_once(
    pg_url, ds, celery_worker_app, redis_url, redis_key_prefix, monkeypatch, caplog
) -> None:
    from poc_tasks.app import app as poc_app

    monkeypatch.setenv("POC_LOCK_RETRY_COUNTDOWN", "0.5")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    koku = koku_app(redis_url, redis_key_prefix)
    first = send_ocp_summary(koku, **ocp_kwargs(ds))
    out = first.get(timeout=120)
    rows = summary_uuids(pg_url, ds.schema)
    client, prefix = redis_for(poc_app)
    key = lock_key("OCP", ds.schema, ds.source, ds.config.start_date, prefix)
    lock = {"key": key, "token": first.id}
    # what a worker killed after storing its result but before its late ack would see redelivered
    late_write = poc_app.send_task("poc_tasks.write_table", kwargs={
        "run_id": out["run_id"], "table": SUMMARY_TABLE, "lock": lock, "root": first.id}, queue="poc_aggregation")
    late_chunk = poc_app.send_task("poc_tasks.compute_chunk", kwargs={
        "run_id": out["run_id"], "chunk_start": "2026-01-01", "chunk_end": "2026-01-01", "lock": lock,
        "root": first.id}, queue="poc_aggregation")
    late_final = poc_app.send_task("poc_tasks.finalize_run", args=[[{SUMMARY_TABLE: 1}]], kwargs={
        "run_id": out["run_id"], "lock": lock, "root": first.id}, queue="poc_aggregation")
    assert late_write.get(timeout=30) == {}
    assert late_chunk.get(timeout=30)["skipped"] is True
    assert late_final.get(timeout=30)["skipped"] is True
    assert REGISTRY.get_sample_value("poc_tasks_late_tasks_total", {"task": "write_table"}) >= 1
    for what in (f"write_table {SUMMARY_TABLE}", "compute_chunk 2026-01-01..2026-01-01", "finalize"):
        said = f"{what} of run {out['run_id']} arrived after the run finished: ignored (no lock taken, nothing written)"
        assert said in caplog.text, what  # the log says why nothing happened
    assert client.get(key) is None  # no lock taken back
    assert summary_uuids(pg_url, ds.schema) == rows  # nothing written
    assert first.get(timeout=5)["rows"] == out["rows"]  # the run's result was not overwritten
    waits = _lock_waits()
    second = send_ocp_summary(koku, **ocp_kwargs(ds)).get(timeout=120)
    assert _lock_waits() == waits  # it never waited for an orphaned lock
    assert second["rows"] == out["rows"]


# --- PostgreSQL of the test's own: restarted, stopped ----------------------------------------------------------


@pytest.fixture
def own_pg(tmp_path: Path):
    with own_postgres(tmp_path) as (url, ctl):
        yield url, ctl


def _own_dataset(url: str, tmp_path: Path, monkeypatch, name: str):
    schema = f"org_{name}"
    init_tenant(url, schema)
    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, url, root)
    return make_dataset(url, schema, root, days=3)


def test_postgresql_restarted_during_the_write_the_write_is_retried_and_the_run_completes(
    own_pg, tmp_path, monkeypatch, celery_worker_app, caplog
) -> None:
    from poc_tasks.app import app as poc_app

    caplog.set_level(logging.INFO, logger="poc_tasks")
    url, ctl = own_pg
    ds = _own_dataset(url, tmp_path, monkeypatch, "pgrestart")
    reference = clean_run(url, ds)
    monkeypatch.setenv("POC_RETRY_BASE_S", "0.5")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    gate = connect(url)
    lock_table_months(gate, ds.schema, SUMMARY_TABLE, ds.config.start_date, ds.config.end_date)
    result = poc_app.send_task("poc_tasks.summarize_ocp", kwargs=ocp_kwargs(ds), queue="poc_aggregation")
    wait_until(lambda: waiting_on_advisory(url) == 1, 60, "the swap transaction to start")
    restarted = time.monotonic()
    ctl("restart", "-m", "fast")  # every session ends: the gate's and the waiting write's
    out = result.get(timeout=120)
    recovered = time.monotonic() - restarted
    gate.close()
    assert summary_multiset(url, ds.schema) == reference
    assert out["rows"][SUMMARY_TABLE] == sum(reference.values())
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert f"finalize: PostgreSQL 127.0.0.1:{port}/postgres failed (" in caplog.text  # the swap step was retried,
    assert caplog.text.count(f"summarize_ocp schema={ds.schema} ") == 1  # not the month: it started once
    print(f"\nPostgreSQL restarted during the write: run completed {recovered:.1f}s after the restart began")


def test_postgresql_down_for_good_during_the_write_fails_the_run_naming_it_and_keeps_the_rows(
    own_pg, tmp_path, monkeypatch, celery_worker_app
) -> None:
    from poc_tasks.app import app as poc_app

    url, ctl = own_pg
    ds = _own_dataset(url, tmp_path, monkeypatch, "pgdown")
    reference = clean_run(url, ds)
    uuids = summary_uuids(url, ds.schema)
    monkeypatch.setenv("POC_RETRIES", "2")
    monkeypatch.setenv("POC_RETRY_BASE_S", "0.2")
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    gate = connect(url)
    lock_table_months(gate, ds.schema, SUMMARY_TABLE, ds.config.start_date, ds.config.end_date)
    result = poc_app.send_task("poc_tasks.summarize_ocp", kwargs=ocp_kwargs(ds), queue="poc_aggregation")
    wait_until(lambda: waiting_on_advisory(url) == 1, 60, "the swap transaction to start")
    ctl("stop", "-m", "fast")
    with pytest.raises(Exception) as info:  # noqa: B017 - rebuilt from the result backend
        result.get(timeout=120)
    gate.close()
    message = str(info.value)
    assert type(info.value).__name__ == "ServiceOutage"
    port = url.rsplit(":", 1)[1].split("/")[0]
    where = f"PostgreSQL 127.0.0.1:{port}/postgres"
    assert f"finalize: {where} still failing after 3 attempts" in message  # the swap of every table
    ctl("start")
    assert summary_uuids(url, ds.schema) == uuids  # the previous run's rows, untouched
    assert summary_multiset(url, ds.schema) == reference
    assert _staged(ds) == []  # the error callback removed the run's staging


def test_a_write_on_a_connection_the_server_dropped_reports_the_real_error(pg_url, tenant_schema) -> None:
    conn = connect(pg_url)
    with closing(connect(pg_url)) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (conn.get_backend_pid(),))
        admin.commit()
    with pytest.raises(psycopg2.OperationalError):  # not InterfaceError("connection already closed") of rollback
        replace_rows(conn, tenant_schema, SUMMARY_TABLE, "false", {}, [],
                     partition_range=(dt.date(2026, 1, 1), dt.date(2026, 1, 2)))
    conn.close()


# --- S3 of the test's own, stopped mid-run ---------------------------------------------------------------------


@contextmanager
def _own_s3(tmp_path: Path, monkeypatch) -> Iterator[tuple[subprocess.Popen, int]]:
    """A moto S3 server of the test's own (the test may stop it) with the bucket; yields its process and port."""
    from poc_tasks.embedded import free_port
    from tests.conftest import S3_BUCKET, _create_bucket, _wait_for_http

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path / "moto.log"
    with log.open("wb") as fh:
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        _wait_for_http(endpoint, moto, log)
        _create_bucket(endpoint, S3_BUCKET)
        yield moto, port
    finally:
        if moto.poll() is None:
            moto.kill()
            moto.wait()


def _s3_dataset(pg_url: str, schema: str, endpoint: str):
    from tests.conftest import S3_BUCKET

    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
    return make_dataset(pg_url, schema, f"s3://{S3_BUCKET}", options, days=3)


def _held_run(pg_url: str, ds, settings) -> tuple[Any, threading.Thread, list]:
    """run_ocp in a thread, held where it swaps the summary table (the test holds the table; the swap then reads
    the staged rows and the manifest back from S3): the gate to roll back, the thread, its outcome (result or
    exception) once it ended."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(run_ocp(ocp_spec(ds), settings))
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            outcome.append(exc)

    gate = connect(pg_url)
    with gate.cursor() as cur:
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(qualified(ds.schema, SUMMARY_TABLE)))
    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: waiting_on_advisory(pg_url, event="relation") == 1, 60, "the table's stage to start")
    return gate, thread, outcome


def test_s3_stopped_during_the_write_fails_the_run_naming_the_endpoint_and_keeps_the_rows(
    pg_url, tenant_schema, tmp_path, monkeypatch
) -> None:
    from tests.conftest import S3_BUCKET

    with _own_s3(tmp_path, monkeypatch) as (moto, port):
        endpoint = f"http://127.0.0.1:{port}"
        ds = _s3_dataset(pg_url, tenant_schema, endpoint)
        reference = clean_run(pg_url, ds)
        uuids = summary_uuids(pg_url, ds.schema)
        monkeypatch.setenv("POC_RETRIES", "0")  # s3fs and botocore retry a refused connection ~15 s themselves
        gate, thread, outcome = _held_run(pg_url, ds, ds.settings(pg_url))
        moto.kill()  # the rest of the run reads the stage (staged rows, the manifest) from S3
        moto.wait()
        gate.rollback()
        gate.close()
        thread.join(180)
    assert outcome and isinstance(outcome[0], ServiceOutage), outcome
    assert f"S3 {endpoint} (bucket {S3_BUCKET}) still failing after 1 attempt over" in str(outcome[0])
    assert "testing" not in str(outcome[0])  # never the credentials
    assert summary_uuids(pg_url, ds.schema) == uuids and summary_multiset(pg_url, ds.schema) == reference
    assert side_tables(pg_url, ds.schema) == []  # the failed run's side table dropped (by run id: no manifest needed)


def test_s3_away_for_seconds_during_the_write_is_retried_and_the_run_completes(
    pg_url, tenant_schema, tmp_path, monkeypatch
) -> None:
    """The S3 endpoint drops every connection for 3 s just as the run reads its stage back: the read is retried
    (s3fs's own retries, then the step's with_retries, POC_RETRIES at its default) and the run completes with a
    clean run's rows."""
    with _own_s3(tmp_path, monkeypatch) as (_moto, port):
        s3 = Blinker(port)
        try:
            ds = _s3_dataset(pg_url, tenant_schema, f"http://127.0.0.1:{s3.port}")
            reference = clean_run(pg_url, ds)
            gate, thread, outcome = _held_run(pg_url, ds, ds.settings(pg_url))
            s3.go_down()
            gate.rollback()
            gate.close()
            wait_until(lambda: s3.dropped, 60, "the run to meet the outage")
            time.sleep(3)
            s3.come_back()
            back = time.monotonic()
            thread.join(180)
            done = time.monotonic() - back
        finally:
            s3.close()
    assert outcome and isinstance(outcome[0], dict), outcome
    assert summary_multiset(pg_url, ds.schema) == reference
    assert outcome[0]["rows"][SUMMARY_TABLE] == sum(reference.values())
    print(f"\nS3 away 3 s during the write ({s3.dropped} connections dropped): run done {done:.1f}s after it came back")


# --- staging space exhausted -------------------------------------------------------------------------------------


def test_staging_space_exhausted_is_named_by_its_path_and_keeps_the_rows(pg_url, ds, tmp_path) -> None:
    reference = clean_run(pg_url, ds)
    uuids = summary_uuids(pg_url, ds.schema)
    staging = tmp_path / "staging"
    argv, env = cli_argv(pg_url, ds), cli_env(POC_STAGING_ROOT=str(staging))
    limit = 4096  # a file may not grow past 4 KiB in the CLI's process: the staged Parquet does (EFBIG, as ENOSPC)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, preexec_fn=small_files)  # noqa: PLW1509
    assert proc.returncode == 1, proc.stderr
    assert f"cannot write staging file {staging}/" in proc.stderr and "(is POC_STAGING_ROOT full?)" in proc.stderr
    assert summary_uuids(pg_url, ds.schema) == uuids and summary_multiset(pg_url, ds.schema) == reference
    assert not staging.exists() or list(staging.iterdir()) == []  # the failed run's staging is gone


# --- the broker restarted mid-run --------------------------------------------------------------------------------


def _hook(url: str, ds, prefix: str = "", timeout: float = 120):
    """Koku's hook (summarize_ocp_or_trino through its Celery app): the outcome, and whether Trino ran."""
    from poc_tasks.koku import summarize_ocp_or_trino
    from poc_tasks.koku.config import RoutingConfig

    c = ds.config
    return summarize_ocp_or_trino(
        schema_name=ds.schema, source_uuid=ds.source, start_date=c.start_date.isoformat(),
        end_date=c.end_date.isoformat(), cluster_id=c.cluster_id, cluster_alias=c.cluster_alias,
        report_period_id=None, trino=lambda: "trino ran", app=koku_app(url, prefix), timeout=timeout,
        config=RoutingConfig(enabled=True, percent=100.0))


def test_the_broker_restarted_without_persistence_mid_run_is_a_clear_error_within_seconds_and_no_table_changes(
    pg_url, ds, tmp_path, monkeypatch
) -> None:
    """Redis (broker and results) restarted without persistence while the run is in its write step: the run's
    queued messages and chord state are gone. The caller's wait notices the Redis lost the run's watch key within
    POC_BROKER_CHECK_S and gets BrokerLost naming the broker (Koku's hook then runs Trino), not its hour-long
    timeout; the run never reaches its swap: the table keeps its rows. A re-run gives a clean run's rows."""
    from tests.integration.process_support import own_redis

    reference = clean_run(pg_url, ds)
    uuids = summary_uuids(pg_url, ds.schema)
    monkeypatch.setenv("POC_BROKER_CHECK_S", "1")
    pause = tmp_path / "paused"
    with own_redis(tmp_path) as (url, restart):
        env = _child_env(pg_url, ds, CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url,
                         POC_TEST_PAUSE_AT="poc_tasks.write_table", POC_TEST_PAUSE_FILE=str(pause))
        with celery_worker(env, "bl:", tmp_path / "worker.log"):
            outcome: list = []
            caller = threading.Thread(target=lambda: outcome.append(_hook(url, ds, "bl:")))
            caller.start()
            wait_until(lambda: pause.exists() and pause.read_text(), 60, "the write step to start")
            restart(down_s=1.0)
            restarted = time.monotonic()
            caller.join(60)
            told = time.monotonic() - restarted
            os.kill(int(pause.read_text()), signal.SIGKILL)  # the paused write; its message went with Redis
            assert outcome and outcome[0].path == "fallback" and outcome[0].result == "trino ran", outcome
            reason = outcome[0].error
            assert reason.startswith("BrokerLost: OCP run: Redis 127.0.0.1:") and "restarted" in reason, reason
            assert told < 15, told  # seconds, not POC_AGGREGATOR_TIMEOUT
            assert summary_uuids(pg_url, ds.schema) == uuids  # nothing of the lost run reached the table
            again = _hook(url, ds, "bl:")
            assert again.path == "poc", again.error
    assert summary_multiset(pg_url, ds.schema) == reference
    print(f"\nbroker restarted mid-run: caller told in {told:.1f}s: {reason[:160]}")  # docs/reliability.md


def test_a_broker_blip_is_retried_with_backoff_and_the_run_completes(pg_url, ds, tmp_path, monkeypatch) -> None:
    """Redis away for 3 s (restarted with its data kept) while the run waits: the caller's wait retries with
    backoff (retry.with_retries), finds the run's watch key kept, and gets the run's result; the worker (a child
    process, as deployed: an in-process worker would leave the process-wide poc_tasks app bound to this Redis,
    which is gone after the test) reconnects and finishes the run."""
    from tests.integration.process_support import own_redis

    reference = clean_run(pg_url, ds)
    monkeypatch.setenv("POC_BROKER_CHECK_S", "1")
    with own_redis(tmp_path, persist=True) as (url, restart):
        env = _child_env(pg_url, ds, CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url, POC_RETRY_BASE_S="0.5")
        with celery_worker(env, "bb:", tmp_path / "worker.log"):
            gate = connect(pg_url)  # the run waits at its swap while Redis is away
            lock_table_months(gate, ds.schema, SUMMARY_TABLE, ds.config.start_date, ds.config.end_date)
            outcome: list = []
            caller = threading.Thread(target=lambda: outcome.append(_hook(url, ds, "bb:", timeout=280)))
            caller.start()
            wait_until(lambda: waiting_on_advisory(pg_url) == 1, 60, "the swap to start")
            restart(down_s=3.0)
            gate.rollback()
            gate.close()
            caller.join(290)  # generous: on a loaded machine the small run alone takes tens of seconds
    assert outcome and outcome[0].path == "poc", outcome[0].error if outcome else outcome
    assert summary_multiset(pg_url, ds.schema) == reference


# --- a run that gives up: every table as before it started (db.run_swap) -----------------------------------------


def _fail_inserts_into(pg_url: str, schema: str, table: str) -> None:
    """A statement trigger that fails every INSERT into schema.table: the run's swap of that table fails inside
    finalize's transaction, after the tables before it were replaced in the same transaction."""
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS"
                            " $$BEGIN RAISE EXCEPTION 'injected failure: INSERT INTO %', TG_TABLE_NAME; END$$")
                    .format(qualified(schema, "poc_test_fail")))
        cur.execute(sql.SQL("CREATE TRIGGER poc_test_fail BEFORE INSERT ON {} FOR EACH STATEMENT"
                            " EXECUTE FUNCTION {}()").format(qualified(schema, table),
                                                             qualified(schema, "poc_test_fail")))
        conn.commit()


def _stop_failing(pg_url: str, schema: str, table: str) -> None:
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TRIGGER poc_test_fail ON {}").format(qualified(schema, table)))
        conn.commit()


def _report_period_times(pg_url: str, schema: str) -> list[tuple]:
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id, summary_data_updated_datetime, ocp_on_cloud_updated_datetime FROM {}"
                            " ORDER BY id").format(qualified(schema, "reporting_ocpusagereportperiod")))
        return cur.fetchall()


def test_an_ocp_run_whose_swap_fails_is_a_failed_task_and_leaves_the_tables_and_report_period_as_before(
    pg_url, ds, celery_worker_app, redis_url, redis_key_prefix
) -> None:
    from poc_tasks.app import app as poc_app

    reference = clean_run(pg_url, ds)
    uuids, stamps = summary_uuids(pg_url, ds.schema), _report_period_times(pg_url, ds.schema)
    _fail_inserts_into(pg_url, ds.schema, SUMMARY_TABLE)
    start_worker(celery_worker_app, poc_app, ["poc_aggregation"])
    result = send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds))
    with pytest.raises(Exception, match=f"injected failure: INSERT INTO {SUMMARY_TABLE}"):
        result.get(timeout=120)
    assert summary_uuids(pg_url, ds.schema) == uuids  # the previous rows, untouched
    assert _report_period_times(pg_url, ds.schema) == stamps  # not stamped: the stamp is in the same transaction
    assert side_tables(pg_url, ds.schema) == [] and _staged(ds) == []
    _stop_failing(pg_url, ds.schema, SUMMARY_TABLE)
    assert send_ocp_summary(koku_app(redis_url, redis_key_prefix), **ocp_kwargs(ds)).get(timeout=120)["rows"]
    assert summary_multiset(pg_url, ds.schema) == reference


@pytest.mark.parametrize("cloud", ["AWS", "Azure", "GCP"])
def test_an_ocp_on_cloud_run_that_fails_at_its_last_table_leaves_every_table_as_before_and_a_rerun_is_clean(
    cloud, pg_url, tenant_schema, tmp_path, clean_env  # noqa: F811 - the fixture
) -> None:
    """The previous state is a run with a 10 % markup (every cost table differs from a clean run's); the failing
    run's last table (the last UI table) fails in the swap: every table, the tag summaries and the report period
    keep the previous state; with the failure gone a re-run equals a clean run."""
    from poc_tasks.cloud import flow
    from tests.integration.test_ocp_on_cloud import _all_tables, _dataset, _run_ocp
    from tests.integration.test_ocp_on_cloud import _spec as cloud_spec

    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    p, settings = flow.provider(cloud), ds.settings(pg_url)
    flow.run(p, cloud_spec(cloud, ds), settings)
    reference = _all_tables(cloud, pg_url, ds.schema)
    flow.run(p, cloud_spec(cloud, ds, markup="10"), settings)
    before, stamps = _all_tables(cloud, pg_url, ds.schema), _report_period_times(pg_url, ds.schema)
    last = flow.write_order(p)[-1]
    changed = [t for t in flow.write_order(p) if before[t] != reference[t]]
    assert p.project_table in changed and last in changed, changed  # the test can see a half-swapped run
    _fail_inserts_into(pg_url, ds.schema, last)
    with pytest.raises(Exception, match=f"injected failure: INSERT INTO {last}"):
        flow.run(p, cloud_spec(cloud, ds), settings)
    assert _all_tables(cloud, pg_url, ds.schema) == before  # every table: none swapped, none half-written
    assert _report_period_times(pg_url, ds.schema) == stamps
    assert side_tables(pg_url, ds.schema) == []
    _stop_failing(pg_url, ds.schema, last)
    flow.run(p, cloud_spec(cloud, ds), settings)
    assert _all_tables(cloud, pg_url, ds.schema) == reference


def test_stale_side_tables_are_swept_and_a_finalize_after_its_commit_does_nothing(pg_url, tenant_schema) -> None:
    """Side tables of runs that died without their clean-up are dropped after a day (a run's are kept while it
    stages); a redelivered finalize that finds none of its run's side tables (its swap committed) does nothing."""
    import uuid

    from poc_tasks.db.run_swap import TableReplace, side_table, stage_table, swap_tables, sweep_side_tables

    rule = TableReplace(SUMMARY_TABLE, "false", {}, partition_range=(dt.date(2026, 1, 1), dt.date(2026, 1, 2)))
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    with closing(connect(pg_url)) as conn:
        for run in (old, new):
            assert stage_table(conn, tenant_schema, run, rule, []) == 0
        with conn.cursor() as cur:  # the old run staged two days ago
            cur.execute(sql.SQL("COMMENT ON TABLE {} IS %s").format(
                qualified(tenant_schema, side_table(old, SUMMARY_TABLE))),
                (f'{{"run": "{old}", "staged_at": {time.time() - 2 * 86400}}}',))
        conn.commit()
        assert sweep_side_tables(conn) >= 1
        assert side_tables(pg_url, tenant_schema) == [side_table(new, SUMMARY_TABLE)]
        assert swap_tables(conn, tenant_schema, new, [rule]) == {SUMMARY_TABLE: (0, 0)}
        assert swap_tables(conn, tenant_schema, new, [rule]) == {}  # redelivered: swapped already, nothing to do
    assert side_tables(pg_url, tenant_schema) == []
