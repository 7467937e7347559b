"""A run is found in Flower under the name Koku sent: poc_tasks.summarize_ocp, with its PROGRESS (step, chunks and
tables done) while it runs and its result (rows per table) at the end; its chunk and write tasks are listed too.

Real processes: a `celery worker -E` (prefork) of the poc_tasks app and Flower itself, on the test Redis; Koku's
side sends the task by name from an app of its own. Flower's API (/api/tasks, /api/task/result) is what its task
list shows; Celery's event receiver in this process records the PROGRESS events Flower turns into a state.
"""

from __future__ import annotations

import ast
import json
import os
import urllib.request
from pathlib import Path

import pytest

from poc_tasks.db.tables import SUMMARY_TABLE
from poc_tasks.koku import send_ocp_summary
from tests.integration.koku_support import count_summary, koku_app, make_dataset
from tests.integration.process_support import celery_worker, flower, recorded_events, wait_until

pytestmark = pytest.mark.integration


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own localhost Flower
        return json.loads(resp.read())


def test_flower_lists_summarize_ocp_with_its_progress_and_result(
    pg_url, tenant_schema, tmp_path: Path, redis_url, redis_key_prefix
) -> None:
    pytest.importorskip("flower")
    root = str(tmp_path / "bucket")
    ds = make_dataset(pg_url, tenant_schema, root, days=3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POC_", "CELERY_"))}
    env.update(POC_DATABASE_URL=pg_url, POC_DATA_ROOT=root, POC_DATE_STEP="1", CELERY_BROKER_URL=redis_url,
               CELERY_RESULT_BACKEND=redis_url)
    koku = koku_app(redis_url, redis_key_prefix)
    with celery_worker(env, redis_key_prefix, tmp_path / "worker.log"), \
            flower(env, redis_key_prefix, tmp_path / "flower.log") as base, recorded_events(koku) as events:
        result = send_ocp_summary(koku, schema_name=ds.schema, source_uuid=ds.source, start_date="2026-01-01",
                                  end_date="2026-01-03", cluster_id=ds.config.cluster_id)
        out = result.get(timeout=120)

        def listed() -> dict | None:
            tasks = _get(f"{base}/api/tasks?taskname=poc_tasks.summarize_ocp")
            task = tasks.get(result.id)
            return task if task and task["state"] == "SUCCESS" else None

        task = wait_until(listed, 30, "Flower to show summarize_ocp as SUCCESS")
        every = _get(f"{base}/api/tasks")
        backend = _get(f"{base}/api/task/result/{result.id}")

    rows = count_summary(pg_url, ds.schema)
    assert out["rows"] == {SUMMARY_TABLE: rows} and rows > 0
    # the task Koku sent, under its own name and id, with the run's rows per table as its result
    assert task["name"] == "poc_tasks.summarize_ocp" and task["uuid"] == result.id
    assert ast.literal_eval(task["result"])["rows"] == {SUMMARY_TABLE: rows}
    assert backend["state"] == "SUCCESS" and backend["result"]["rows"] == {SUMMARY_TABLE: rows}
    # the run's other tasks are listed too, each under its own name
    names = sorted(t["name"] for t in every.values() if t.get("name"))
    for name, n in (("poc_tasks.compute_chunk", 3), ("poc_tasks.write_tables", 1), ("poc_tasks.write_table", 1),
                    ("poc_tasks.finalize_run", 1), ("poc_tasks.summarize_ocp", 1)):
        assert names.count(name) == n, names
    # while it ran: PROGRESS events on the summarize id, with the step and what is done
    progress = [ast.literal_eval(e["result"]) for e in events.of(result.id, "task-progress")]
    assert {p["step"] for p in progress} >= {"compute", "write"}
    assert max(p.get("chunks_done") or 0 for p in progress) == 3
    assert all(p.get("chunks_total") == 3 for p in progress if p["step"] == "compute")
    assert any(p.get("tables_done") == 1 and p.get("table") == SUMMARY_TABLE for p in progress)
    assert [e["type"] for e in events.of(result.id)][-1] == "task-succeeded"
