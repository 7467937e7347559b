"""Helpers of the Koku integration tests (tests/integration/test_koku_*.py).

- a small sample dataset per test tenant (poc_tasks.sample: 4 nodes, 22 pods), seeded like the demo seeds it;
- a Celery app named "koku" that shares only the broker (and Redis results) with the poc_tasks worker: no
  poc_tasks task is registered on it, runs are sent by name, as Koku's processor/tasks.py would send them;
- reads of the tenant tables for assertions.
"""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import closing, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest
from celery import Celery
from psycopg2 import sql

from poc_tasks import cli
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import SHADOW_TABLE, SUMMARY_TABLE
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.scenario import seed_tenant
from poc_tasks.settings import Settings

POC_ENV = ("POC_DATABASE_URL", "POC_DATA_ROOT", "POC_S3_ENDPOINT_URL", "POC_STAGING_ROOT", "POC_DATE_STEP",
           "POC_SHADOW_REPORT_ROOT", "POC_LOCK_TTL", "POC_LOCK_RETRY_COUNTDOWN", "POC_LOCK_MAX_RETRIES",
           "POC_LOCK_REDIS_URL", "POC_METRICS_PORT", "USE_POC_AGGREGATOR", "POC_AGGREGATOR_PERCENT",
           "POC_AGGREGATOR_PROVIDERS", "POC_AGGREGATOR_ALLOW_SCHEMAS", "POC_AGGREGATOR_DENY_SCHEMAS",
           "POC_AGGREGATOR_XL_SCHEMAS", "POC_AGGREGATOR_MODE", "POC_AGGREGATOR_TIMEOUT", "POC_SHADOW_COMPARE",
           "POC_SHADOW_PERCENT")
SMALL = {"nodes": 4, "pods": 22, "days": 3}


@dataclass(frozen=True)
class Dataset:
    root: str
    config: SampleConfig

    @property
    def schema(self) -> str:
        return self.config.schema

    @property
    def source(self) -> str:
        return self.config.source_uuid

    def ocp_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """poc_tasks.summarize_ocp's keyword arguments for the whole sample, as Koku names them."""
        return {"schema_name": self.schema, "source_uuid": self.source,
                "start_date": self.config.start_date.isoformat(), "end_date": self.config.end_date.isoformat(),
                "cluster_id": self.config.cluster_id, "cluster_alias": self.config.cluster_alias, **overrides}

    def settings(self, pg_url: str) -> Settings:
        return Settings(database_url=pg_url, data_root=self.root)


def make_dataset(pg_url: str, schema: str, root: str, **config: Any) -> Dataset:
    cfg = SampleConfig(schema=schema, **{**SMALL, **config})
    scenario = write_sample(root, cfg)
    with closing(connect(pg_url)) as conn:
        seed_tenant(conn, schema, scenario)
        conn.commit()
    return Dataset(root, cfg)


def worker_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, root: str) -> None:
    """The settings the in-process worker's tasks read (Settings.from_env()), nothing else of the shell's."""
    for name in POC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POC_DATABASE_URL", pg_url)
    monkeypatch.setenv("POC_DATA_ROOT", root)


def _forget_kombu_pools(app: Any) -> None:
    """Drop kombu's process-wide pools (kombu.pools) of the app's broker connection.

    tests/conftest.py closes the app's connection pool when it re-points the app at the test Redis, but kombu
    keeps that pool (and a producer pool over it) in its global registries: the next test of the session that
    publishes from a task (a chord, a replace) would get "Acquire on closed pool".
    """
    from kombu import pools
    from kombu.utils.collections import eqhash

    if app._pool is not None:
        key = eqhash(app.connection_for_write())
        for group in (pools.connections, pools.producers):
            dict.pop(group, key, None)


def start_worker(celery_worker_app: Any, app: Any, queues: list[str], **kwargs: Any) -> Any:
    """celery_worker_app(app, queues), with kombu's stale pools of the app dropped first."""
    _forget_kombu_pools(app)
    return celery_worker_app(app, queues=queues, **kwargs)


@pytest.fixture
def forget_kombu_pools() -> Any:
    """After the test (and its workers): leave no pool of the poc_tasks app in kombu's registries for the next
    test to trip over (see _forget_kombu_pools)."""
    yield
    import sys

    module = sys.modules.get("poc_tasks.app")
    if module is not None:
        _forget_kombu_pools(module.app)


def koku_app(redis_url: str, key_prefix: str) -> Celery:
    """Koku's side: its own app named "koku", JSON like Koku's settings, the same Redis as broker and results."""
    app = Celery("koku", set_as_current=False)
    transport = {"global_keyprefix": key_prefix, "max_retries": 4, "interval_start": 0, "interval_step": 0.5,
                 "interval_max": 3}
    app.conf.update(
        broker_url=redis_url,
        result_backend=redis_url,
        broker_transport_options=transport,
        result_backend_transport_options={"global_keyprefix": key_prefix},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    return app


def fetch(pg_url: str, query: sql.Composable, params: Any = ()) -> list[tuple]:
    with closing(connect(pg_url)) as conn:
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        conn.rollback()
    return rows


def count_summary(pg_url: str, schema: str) -> int:
    return fetch(pg_url, sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, SUMMARY_TABLE)))[0][0]


def verdicts(pg_url: str, schema: str) -> list[tuple]:
    return fetch(pg_url, sql.SQL("SELECT equal, live_rows, poc_rows, changed_rows, missing_rows, extra_rows,"
                                 " differing_days, differing_namespaces, tracing_id FROM {} ORDER BY id").format(
        qualified(schema, SHADOW_TABLE)))


def tenant_fingerprint(pg_url: str, schema: str, skip: tuple[str, ...] = (SHADOW_TABLE,)) -> dict[str, str]:
    """Per table of the tenant (partitions included): row count and an md5 over its rows' text, sorted."""
    tables = [r[0] for r in fetch(pg_url, sql.SQL(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1"), (schema,)) if r[0] not in skip]
    out = {}
    for table in tables:
        rows = fetch(pg_url, sql.SQL("SELECT t::text FROM {} AS t").format(qualified(schema, table)))
        digest = hashlib.md5(usedforsecurity=False)
        for (text,) in sorted(rows):
            digest.update(text.encode())
        out[table] = f"{len(rows)}:{digest.hexdigest()}"
    return out


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_cli(*argv: str) -> CliResult:
    """poc_tasks.cli.main in this process, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())
