"""The whole compose stack (redis, postgres, S3, worker, flower) running a real OCP summary.

Needs a Docker engine, which CI and the development machines here lack: the test skips with that reason
there and runs wherever `docker info` answers (a developer laptop, a CI runner with Docker).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.integration]


def _compose() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
            return ["docker", "compose"]
        if shutil.which("docker-compose"):
            return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def stack():
    compose = _compose()
    if compose is None:
        pytest.skip("no Docker engine here (docker info fails): the compose stack cannot start")
    cmd = [*compose, "-f", str(ROOT / "compose.yaml"), "-p", "poc_tasks_test"]
    subprocess.run([*cmd, "up", "--build", "-d", "--wait"], check=True, timeout=900)
    try:
        yield cmd
    finally:
        subprocess.run([*cmd, "down", "-v"], timeout=300)


def _run(stack: list[str], *args: str) -> str:
    out = subprocess.run([*stack, "run", "--rm", "worker", *args], check=True, capture_output=True, text=True,
                         timeout=600)
    return out.stdout


def test_compose_stack_summarises_a_sample_through_the_worker(stack):
    schema = "org7654321"
    _run(stack, "poc-tasks", "init-db", "--schema", schema)
    _run(stack, "poc-tasks", "sample", "--schema", schema, "--days", "2")
    send = (
        "import json; from poc_tasks.app import app; from poc_tasks.sample.scenario import read_scenario, seed_tenant; "
        "from poc_tasks.db.connection import connect; from poc_tasks.settings import Settings; "
        "s=Settings.from_env(); sc=read_scenario(s.data_root, s.storage_options()); c=connect(s.database_url); "
        f"seed_tenant(c, '{schema}', sc); c.commit(); "
        "r=app.send_task('poc_tasks.summarize_ocp', kwargs=dict(schema_name=sc['schema'], "
        "source_uuid=sc['source_uuid'], start_date=sc['start_date'], end_date=sc['end_date'], "
        "cluster_id=sc['cluster_id'], cluster_alias=sc['cluster_alias']), queue='poc_aggregation'); "
        "print(json.dumps(r.get(timeout=300)))"
    )
    t0 = time.time()
    result = json.loads(_run(stack, "python", "-c", send).strip().splitlines()[-1])
    assert result["rows"]["reporting_ocpusagelineitem_daily_summary"] > 0
    assert time.time() - t0 < 600
