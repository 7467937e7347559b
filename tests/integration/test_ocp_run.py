"""`poc-tasks run ocp` and the Celery chords end to end: real PostgreSQL, Redis, S3 over HTTP (moto server).

The data is poc_tasks.sample's small cluster written for each test's own tenant. Rows are compared as exact
multisets (numeric values as PostgreSQL stores them, jsonb as its canonical text), uuid excluded: Koku gives
every row a fresh random uuid on each run.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from celery.signals import task_postrun
from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.init import ensure_report_period
from poc_tasks.io.fs import strip_scheme
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.runspec import OcpRunSpec
from poc_tasks.settings import Settings
from tests.integration.ocp_support import (
    SUMMARY_TABLE,
    Dataset,
    count_rows,
    fetch,
    make_dataset,
    report_period,
    run_cli,
    summary_multiset,
    summary_uuids,
)

pytestmark = pytest.mark.integration

POC_ENV = ("POC_DATABASE_URL", "POC_DATA_ROOT", "POC_S3_ENDPOINT_URL", "POC_STAGING_ROOT", "POC_DATE_STEP")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No POC_* setting of the developer's shell leaks into a run (the tests set what they mean)."""
    for name in POC_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def s3_dataset(pg_url: str, tenant_schema: str, s3_server, clean_env) -> Dataset:
    return make_dataset(pg_url, tenant_schema, f"s3://{s3_server.bucket}", s3_server.storage_options, days=3)


@pytest.fixture
def local_dataset(pg_url: str, tenant_schema: str, tmp_path: Path, clean_env) -> Dataset:
    return make_dataset(pg_url, tenant_schema, str(tmp_path / "bucket"), days=3)


def _spec(ds: Dataset, start: str | None = None, end: str | None = None) -> OcpRunSpec:
    return OcpRunSpec.build(ds.schema, ds.source, ds.config.cluster_id, start or ds.config.start_date,
                            end or ds.config.end_date, ds.config.cluster_alias)


def _days_with_rows(pg_url: str, schema: str) -> list[dt.date]:
    return [r[0] for r in fetch(pg_url, schema, SUMMARY_TABLE, "DISTINCT usage_start", "true ORDER BY 1")]


def _staged_objects(ds: Dataset, staging_root: str) -> list[str]:
    fs = ds.fs()
    path = strip_scheme(staging_root)
    return fs.find(path) if fs.exists(path) else []


# --- the CLI ----------------------------------------------------------------------------------------------


def test_cli_init_db_then_run_ocp_from_s3_reports_the_rows_it_wrote(pg_url, schema_name, s3_server, clean_env):
    init = run_cli("init-db", "--schema", schema_name, "--database-url", pg_url)
    assert (init.code, init.json) == (0, {"schema": schema_name, "initialised": True}), init.stderr
    ds = make_dataset(pg_url, schema_name, f"s3://{s3_server.bucket}", s3_server.storage_options, days=3)

    res = run_cli(*ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root,
                  "--s3-endpoint-url", s3_server.endpoint_url)

    assert res.code == 0, res.stderr
    out = res.json
    written = count_rows(pg_url, ds.schema)
    assert written > 0
    assert out["rows"] == {SUMMARY_TABLE: written}
    assert (out["provider"], out["start_date"], out["end_date"]) == ("OCP", "2026-01-01", "2026-01-03")
    assert out["report_period_id"] == report_period(pg_url, ds.schema)["id"]
    assert out["chunks"] == 1  # 3 days, Koku's step of 5 days
    assert out["rows_read"] > 0 and out["bytes_read"] > 0
    assert _days_with_rows(pg_url, ds.schema) == [dt.date(2026, 1, d) for d in (1, 2, 3)]
    # every row belongs to this run's source and report period
    assert fetch(pg_url, ds.schema, SUMMARY_TABLE, "DISTINCT source_uuid::text, report_period_id, cluster_id") == [
        (ds.source, out["report_period_id"], ds.config.cluster_id)]
    # the run's staging folder (default: DATA_ROOT/poc_tasks_staging/<run id>) is gone
    assert _staged_objects(ds, f"{ds.staging_root()}/{out['run_id']}") == []


def test_installed_console_script_runs_ocp_configured_by_the_environment(pg_url, s3_dataset, s3_server):
    script = Path(sys.executable).with_name("poc-tasks")
    assert script.exists(), f"{script}: the package's console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k not in POC_ENV}
    env.update(POC_DATABASE_URL=pg_url, POC_DATA_ROOT=s3_dataset.root, POC_S3_ENDPOINT_URL=s3_server.endpoint_url)

    proc = subprocess.run([str(script), *s3_dataset.run_argv()], env=env, capture_output=True, text=True,
                          timeout=120, check=False)

    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"] == {SUMMARY_TABLE: count_rows(pg_url, s3_dataset.schema)}
    assert out["rows"][SUMMARY_TABLE] > 0

    # bad input through the real process: exit status 2 and one line naming the argument
    bad = subprocess.run([str(script), *s3_dataset.run_argv(), "--schema", "public"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "poc-tasks: error: schema_name 'public' is not a Koku tenant schema (acct…/org…, [a-z0-9_])"]


# --- Celery: the task by name, a real worker, the chords ---------------------------------------------------


@pytest.fixture
def start_worker(celery_worker_app):
    """An in-process worker for poc_tasks' own app on the test Redis (tests/conftest.py)."""
    from poc_tasks.app import app

    return lambda: celery_worker_app(app, queues=["poc_aggregation"])


def _task_kwargs(ds: Dataset) -> dict[str, str]:
    return {"schema_name": ds.schema, "source_uuid": ds.source, "start_date": ds.config.start_date.isoformat(),
            "end_date": ds.config.end_date.isoformat(), "cluster_id": ds.config.cluster_id,
            "cluster_alias": ds.config.cluster_alias}


def _worker_env(monkeypatch, pg_url: str, ds: Dataset, endpoint: str, staging_root: str) -> None:
    # the tasks read Settings.from_env() when they run, in the worker's thread of this process
    monkeypatch.setenv("POC_DATABASE_URL", pg_url)
    monkeypatch.setenv("POC_DATA_ROOT", ds.root)
    monkeypatch.setenv("POC_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("POC_STAGING_ROOT", staging_root)


def test_summarize_ocp_sent_by_name_runs_day_chunks_and_writes_what_an_in_process_run_writes(
    pg_url, s3_dataset, s3_server, start_worker, monkeypatch
):
    from poc_tasks.app import app

    ds = s3_dataset
    staging = f"s3://{s3_server.bucket}/staging-{ds.schema}"
    _worker_env(monkeypatch, pg_url, ds, s3_server.endpoint_url, staging)
    monkeypatch.setenv("POC_DATE_STEP", "1")  # 3 days -> 3 compute_chunk tasks in the first chord
    finished: list[tuple[str, str]] = []

    def record(task=None, state=None, **_kw):
        finished.append((task.name, state))

    task_postrun.connect(record, weak=False)
    try:
        start_worker()
        result = app.send_task("poc_tasks.summarize_ocp", kwargs=_task_kwargs(ds), queue="poc_aggregation")
        out = result.get(timeout=90)
        # task_postrun fires after the result is stored: give the worker thread a moment to report the last task
        deadline = time.monotonic() + 10
        while ("poc_tasks.finalize_run", "SUCCESS") not in finished and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        task_postrun.disconnect(record)

    # the id the caller holds ends in finalize_run's dict (each replace hands the id down the chords)
    written = count_rows(pg_url, ds.schema)
    assert written > 0
    assert out["rows"] == {SUMMARY_TABLE: written}
    assert (out["start_date"], out["end_date"], out["chunks"]) == ("2026-01-01", "2026-01-03", 3)
    ran = collections.Counter(name for name, _state in finished)
    assert ran == {"poc_tasks.summarize_ocp": 1, "poc_tasks.compute_chunk": 3, "poc_tasks.write_tables": 1,
                   "poc_tasks.write_table": 1, "poc_tasks.finalize_run": 1}
    assert _staged_objects(ds, staging) == []
    assert report_period(pg_url, ds.schema)["summary_data_updated_datetime"] is not None

    via_worker = summary_multiset(pg_url, ds.schema)
    worker_uuids = summary_uuids(pg_url, ds.schema)
    monkeypatch.delenv("POC_DATE_STEP")  # the in-process run: Koku's 5-day step, one chunk
    in_process = run_ocp(_spec(ds), Settings.from_env())
    assert in_process["chunks"] == 1
    assert summary_multiset(pg_url, ds.schema) == via_worker
    assert summary_uuids(pg_url, ds.schema).isdisjoint(worker_uuids)  # replaced, not kept
    assert _staged_objects(ds, staging) == []


def test_summarize_ocp_rejects_a_bad_schema_name_before_any_work(
    pg_url, s3_dataset, s3_server, start_worker, monkeypatch
):
    from poc_tasks.app import app

    staging = f"s3://{s3_server.bucket}/staging-{s3_dataset.schema}"
    _worker_env(monkeypatch, pg_url, s3_dataset, s3_server.endpoint_url, staging)
    start_worker()
    kwargs = {**_task_kwargs(s3_dataset), "schema_name": "org1; drop"}

    result = app.send_task("poc_tasks.summarize_ocp", kwargs=kwargs, queue="poc_aggregation")
    with pytest.raises(Exception) as info:  # noqa: B017 - the type is rebuilt from the result backend
        result.get(timeout=60)

    assert type(info.value).__name__ == "InvalidArgument"
    assert "schema_name 'org1; drop' is not a Koku tenant schema" in str(info.value)
    assert count_rows(pg_url, s3_dataset.schema) == 0
    assert _staged_objects(s3_dataset, staging) == []


# --- idempotence (spec §6.2 item 8) -----------------------------------------------------------------------


def _insert_row(pg_url: str, schema: str, report_period_id: int, day: dt.date, namespace: str,
                raw_cost: float | None, source: str) -> None:
    """A hand-made summary row, as OCP-on-cloud (raw cost > 0) or a stale summary (NULL/0) would leave it."""
    with closing(connect(pg_url)) as conn:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("INSERT INTO {} (uuid, report_period_id, usage_start, usage_end, namespace, data_source,"
                        " cluster_id, source_uuid, infrastructure_raw_cost) VALUES (gen_random_uuid(), %s, %s, %s,"
                        " %s, 'Pod', 'my-ocp-cluster-1', %s, %s)").format(
                    qualified(schema, SUMMARY_TABLE)),
                (report_period_id, day, day, namespace, source, raw_cost),
            )
        conn.commit()


def _hand_rows(pg_url: str, schema: str) -> list[tuple]:
    return sorted(fetch(pg_url, schema, SUMMARY_TABLE, "namespace, usage_start, infrastructure_raw_cost::float8",
                        "namespace LIKE 'hand-%%'"))


def test_rerun_replaces_every_row_with_the_same_rows(pg_url, local_dataset):
    ds = local_dataset
    first = run_ocp(_spec(ds), ds.settings(pg_url))
    rows, uuids = summary_multiset(pg_url, ds.schema), summary_uuids(pg_url, ds.schema)
    created = report_period(pg_url, ds.schema)

    second = run_ocp(_spec(ds), ds.settings(pg_url))

    assert first["rows"] == second["rows"] == {SUMMARY_TABLE: sum(rows.values())}
    assert summary_multiset(pg_url, ds.schema) == rows
    assert summary_uuids(pg_url, ds.schema).isdisjoint(uuids)
    after = report_period(pg_url, ds.schema)
    assert after["id"] == created["id"] == first["report_period_id"] == second["report_period_id"]
    assert after["summary_data_creation_datetime"] == created["summary_data_creation_datetime"]  # kept
    assert after["summary_data_updated_datetime"] > created["summary_data_updated_datetime"]

    third = run_ocp(_spec(ds), ds.settings(pg_url))  # issue 12: three runs of the month, still one copy
    assert third["rows"] == first["rows"] and summary_multiset(pg_url, ds.schema) == rows


def test_rows_with_infrastructure_raw_cost_survive_a_rerun_and_stale_rows_do_not(pg_url, local_dataset):
    ds = local_dataset
    run_ocp(_spec(ds), ds.settings(pg_url))
    rp = report_period(pg_url, ds.schema)["id"]
    expected = summary_multiset(pg_url, ds.schema)
    other_source = "0b7c2f1e-5d4a-4e3b-8c2d-1f0e9d8c7b6a"
    with closing(connect(pg_url)) as conn:
        other_rp = ensure_report_period(conn, ds.schema, other_source, "other-cluster", "Other", dt.date(2026, 1, 1))
        conn.commit()
    jan2 = dt.date(2026, 1, 2)
    _insert_row(pg_url, ds.schema, rp, jan2, "hand-ocp-on-cloud", 12.5, ds.source)
    _insert_row(pg_url, ds.schema, rp, jan2, "hand-stale-null", None, ds.source)
    _insert_row(pg_url, ds.schema, rp, jan2, "hand-stale-zero", 0.0, ds.source)
    _insert_row(pg_url, ds.schema, other_rp, jan2, "hand-other-period", None, other_source)

    run_ocp(_spec(ds), ds.settings(pg_url))

    assert _hand_rows(pg_url, ds.schema) == [("hand-ocp-on-cloud", jan2, 12.5), ("hand-other-period", jan2, None)]
    assert summary_multiset(pg_url, ds.schema, where="namespace NOT LIKE 'hand-%%'") == expected


def test_a_sub_range_run_replaces_only_its_days(pg_url, local_dataset):
    ds = local_dataset
    run_ocp(_spec(ds), ds.settings(pg_url))
    rp = report_period(pg_url, ds.schema)["id"]
    before = summary_multiset(pg_url, ds.schema)
    kept_uuids = summary_uuids(pg_url, ds.schema, "usage_start <> '2026-01-02'")
    day2_uuids = summary_uuids(pg_url, ds.schema, "usage_start = '2026-01-02'")
    for day in (1, 2, 3):
        _insert_row(pg_url, ds.schema, rp, dt.date(2026, 1, day), f"hand-stale-{day}", None, ds.source)

    out = run_ocp(_spec(ds, "2026-01-02", "2026-01-02"), ds.settings(pg_url))

    assert (out["start_date"], out["end_date"]) == ("2026-01-02", "2026-01-02")
    assert out["rows"] == {SUMMARY_TABLE: len(day2_uuids)}
    assert _hand_rows(pg_url, ds.schema) == [("hand-stale-1", dt.date(2026, 1, 1), None),
                                             ("hand-stale-3", dt.date(2026, 1, 3), None)]
    assert summary_uuids(pg_url, ds.schema, "usage_start <> '2026-01-02' AND namespace NOT LIKE 'hand-%%'") \
        == kept_uuids
    assert summary_uuids(pg_url, ds.schema, "usage_start = '2026-01-02'").isdisjoint(day2_uuids)
    assert summary_multiset(pg_url, ds.schema, where="namespace NOT LIKE 'hand-%%'") == before
