"""What the fault and concurrency tests share (test_faults.py, test_concurrent_writers.py): the small OCP dataset
of the test's own tenant, its run arguments, a clean run's rows to compare with, the sessions waiting at a write
lock, the CLI in a child process, and the side tables a run leaves in PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from poc_tasks.db.connection import connect
from poc_tasks.ocp.pipeline import run_ocp
from poc_tasks.runspec import OcpRunSpec
from tests.integration.koku_support import worker_env
from tests.integration.ocp_support import Dataset, make_dataset, summary_multiset

__all__ = ["ocp_dataset", "ocp_spec", "ocp_kwargs", "clean_run", "waiting_on_advisory", "cli_env", "cli_argv",
           "cli", "side_tables"]


def ocp_dataset(pg_url: str, tenant_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """The small OCP month (3 days) in the test's tenant, with the environment of an in-process worker (the tests'
    `ds` fixture)."""
    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, pg_url, root)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    return make_dataset(pg_url, tenant_schema, root, days=3)


def ocp_spec(ds: Dataset) -> OcpRunSpec:
    c = ds.config
    return OcpRunSpec.build(ds.schema, ds.source, c.cluster_id, c.start_date, c.end_date, c.cluster_alias)


def ocp_kwargs(ds: Dataset) -> dict[str, str]:
    """summarize_ocp's arguments, as Koku sends them."""
    c = ds.config
    return {"schema_name": ds.schema, "source_uuid": ds.source, "start_date": c.start_date.isoformat(),
            "end_date": c.end_date.isoformat(), "cluster_id": c.cluster_id, "cluster_alias": c.cluster_alias}


def clean_run(pg_url: str, ds: Dataset) -> object:
    """A single clean run's rows (uuids aside): the reference every outcome must equal; the run also leaves the
    rows a failed run must keep."""
    run_ocp(ocp_spec(ds), ds.settings(pg_url))
    return summary_multiset(pg_url, ds.schema)


def waiting_on_advisory(pg_url: str, application: str = "poc_tasks", event: str = "advisory") -> int:
    """Sessions of this database of one application name waiting for an advisory lock (a run's swap transaction
    held at its first statement), or with `event` 'relation' for a table's lock."""
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND wait_event = %s AND application_name = %s",
                    (event, application))
        return cur.fetchone()[0]


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without poc_tasks' and Celery's settings (the CLI gets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}
    env.update(extra)
    return env


def cli_argv(pg_url: str, ds: Dataset) -> list[str]:
    """`poc-tasks run ocp` of the dataset, as a child process runs it."""
    return [sys.executable, "-m", "poc_tasks.cli", *ds.run_argv(), "--database-url", pg_url, "--data-root", ds.root]


def cli(pg_url: str, ds: Dataset, err: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    """`poc-tasks run ocp` in a process of its own; stderr goes to `err` (read while it runs)."""
    with err.open("w") as fh:
        return subprocess.Popen(cli_argv(pg_url, ds), stdout=subprocess.PIPE, stderr=fh, text=True,
                                env=cli_env(**(env_extra or {})))


def side_tables(pg_url: str, schema: str) -> list[str]:
    """The side tables of runs (db.run_swap) left in a schema: none once a run finished or failed."""
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE 'poc\\_swap\\_%%' ORDER BY 1",
                    (schema,))
        return [name for (name,) in cur.fetchall()]
