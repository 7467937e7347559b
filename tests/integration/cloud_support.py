"""What the cloud daily and the OCP-on-cloud tests share: a summarize task sent by name to a real worker, as Koku
sends it, with the chords' environment (the set-up was the same lines three times), and a table's rows as a
multiset."""

from __future__ import annotations

import collections
import time
from contextlib import closing
from typing import Any

import pytest
from celery.signals import task_postrun
from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.tables import get_table
from tests.integration.ocp_support import Dataset


def table_multiset(pg_url: str, schema: str, table: str, where: str = "true") -> collections.Counter:
    """The table's rows (ids left out) as text tuples, counted."""
    cols = [c for c in get_table(table).columns if c.name not in ("uuid", "id")]
    select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c.name)) for c in cols)
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(select, qualified(schema, table), sql.SQL(where)))
        return collections.Counter(cur.fetchall())


class ByName:
    """Start a worker with a dataset's S3 data, staging under the bucket and 1-day chunks (3 days -> Koku's pairs
    (1-2), (3-3): two chunk tasks), send tasks by name, and count the tasks that ran (task_postrun)."""

    def __init__(self, pg_url: str, s3_server: Any, start_worker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pg_url, self.s3_server, self.start_worker, self.monkeypatch = pg_url, s3_server, start_worker, monkeypatch
        self.finished: list[str] = []

    def record(self, task: Any = None, **_kw: Any) -> None:
        self.finished.append(task.name)

    def start(self, ds: Dataset) -> str:
        """The worker's environment for `ds`, the worker started; returns the staging root."""
        staging = f"s3://{self.s3_server.bucket}/staging-{ds.schema}"
        for name, value in (("POC_DATABASE_URL", self.pg_url), ("POC_DATA_ROOT", ds.root),
                            ("POC_S3_ENDPOINT_URL", self.s3_server.endpoint_url), ("POC_STAGING_ROOT", staging),
                            ("POC_DATE_STEP", "1")):
            self.monkeypatch.setenv(name, value)
        self.start_worker()
        return staging

    def send(self, task: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        from poc_tasks.app import app

        return app.send_task(task, kwargs=kwargs, queue="poc_aggregation").get(timeout=180)

    def counts(self, last: str, times: int = 1) -> collections.Counter:
        """The tasks that ran, once `last` ran `times` times (task_postrun fires just after a result is stored:
        the worker thread gets a moment to report it)."""
        deadline = time.monotonic() + 10
        while self.finished.count(last) < times and time.monotonic() < deadline:
            time.sleep(0.05)
        return collections.Counter(self.finished)


@pytest.fixture
def by_name(pg_url, s3_server, start_worker, monkeypatch):
    runner = ByName(pg_url, s3_server, start_worker, monkeypatch)
    task_postrun.connect(runner.record, weak=False)
    yield runner
    task_postrun.disconnect(runner.record)
