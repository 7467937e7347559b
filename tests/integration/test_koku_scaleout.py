"""Scale-out and monitoring: one run's day chunks are computed on two workers (one in this process, one a
`celery worker` child process with a prefork pool) and finish with one callback; the child's Prometheus
exporter, started when the worker is ready (POC_METRICS_PORT), reports what its pool process ran."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.signals import task_prerun

from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.embedded import free_port
from poc_tasks.koku import send_ocp_summary
from tests.integration.koku_support import (
    count_summary,
    forget_kombu_pools,  # noqa: F401 - a fixture
    koku_app,
    make_dataset,
    start_worker,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("forget_kombu_pools")]

CHILD = """
import sys
from poc_tasks.app import app
prefix = sys.argv[1]
app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), "global_keyprefix": prefix}
app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
app.worker_main(["worker", "-Q", "poc_aggregation", "--pool", "prefork", "--concurrency", "1", "-n", "child@scaleout",
                 "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"])
"""


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:  # noqa: S310 - localhost
        return resp.read().decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} " if want else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def child_worker(pg_url, tmp_path: Path, redis_url, redis_key_prefix) -> Iterator[int]:
    """A `celery worker` child process of the poc_tasks app on the test Redis; yields its metrics port."""
    port = free_port()
    env = dict(os.environ, POC_DATABASE_URL=pg_url, POC_DATA_ROOT=str(tmp_path / "bucket"), POC_DATE_STEP="1",
               CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url, POC_METRICS_PORT=str(port),
               POC_METRICS_ADDR="127.0.0.1")
    # as compose.yaml runs the worker: a prefork pool, its child's values gathered through the multiprocess dir
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    log = (tmp_path / "child.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, redis_key_prefix], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:  # the exporter starts on worker_ready: once it answers, the worker consumes
            if proc.poll() is not None:
                pytest.fail(f"child worker exited {proc.returncode}:\n{(tmp_path / 'child.log').read_text()[-3000:]}")
            try:
                _scrape(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"child worker not ready:\n{(tmp_path / 'child.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_day_chunks_run_on_two_workers_and_finish_with_one_callback(
    pg_url, tenant_schema, tmp_path, monkeypatch, celery_worker_app, redis_url, redis_key_prefix, child_worker
) -> None:
    from poc_tasks.app import app as poc_app

    root = str(tmp_path / "bucket")
    worker_env(monkeypatch, pg_url, root)
    monkeypatch.setenv("POC_DATE_STEP", "1")
    ds = make_dataset(pg_url, tenant_schema, root, days=4)  # 4 days -> 4 compute_chunk tasks

    def slow_chunk(sender=None, **_kw):  # keep this worker busy a moment, so the other one takes chunks too
        if getattr(sender, "name", "") == "poc_tasks.compute_chunk":
            time.sleep(0.5)

    task_prerun.connect(slow_chunk, weak=False)
    try:
        start_worker(celery_worker_app, poc_app, ["poc_aggregation"], hostname="local@scaleout")
        out = send_ocp_summary(koku_app(redis_url, redis_key_prefix), schema_name=ds.schema,
                               source_uuid=ds.source, start_date="2026-01-01", end_date="2026-01-04",
                               cluster_id=ds.config.cluster_id).get(timeout=120)
    finally:
        task_prerun.disconnect(slow_chunk)

    assert out["chunks"] == 4
    # the chunks ran on both: the child by its node name, this process by its host name (Celery's test worker
    # leaves request.hostname unset, so the task records socket.gethostname())
    assert len(out["workers"]) == 2 and "child@scaleout" in out["workers"]
    assert out["rows"] == {SUMMARY_TABLE: count_summary(pg_url, ds.schema)}  # one callback wrote them once
    assert out["peak_rss_bytes"] > 0

    metrics = _scrape(child_worker)
    chunks_there = _sample(metrics, "poc_tasks_task_duration_seconds_count", task="poc_tasks.compute_chunk")
    assert chunks_there is not None and 1 <= chunks_there <= 3
    assert (_sample(metrics, "poc_tasks_peak_rss_bytes") or 0) > 10 * 2**20  # a Python with pandas: > 10 MiB
