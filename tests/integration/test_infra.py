"""The test infrastructure itself: embedded PostgreSQL, the S3 server, Redis + Celery chords, compose.yaml."""

from __future__ import annotations

import importlib
import io
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import poc_tasks.embedded as embedded
from poc_tasks.embedded import embedded_postgres, free_port
from poc_tasks.errors import ConfigurationError
from poc_tasks.io.fs import filesystem, list_parquet

ROOT = Path(__file__).resolve().parents[2]


# --- embedded PostgreSQL -----------------------------------------------------------------------------------


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.integration
def test_embedded_postgres_starts_answers_keeps_data_and_stops(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    with embedded_postgres(data_dir) as url:
        assert url.startswith("postgresql://")
        pid = _postmaster_pid(data_dir)
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            cur.execute("CREATE TABLE kept (n integer)")
            cur.execute("INSERT INTO kept VALUES (%s)", (42,))
        conn.close()
    assert _gone(pid), f"postmaster {pid} still runs after the context exited"

    # A second start on the same directory finds the first one's data.
    with embedded_postgres(data_dir) as url:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT n FROM kept")
            assert cur.fetchall() == [(42,)]
        conn.close()
        pid = _postmaster_pid(data_dir)
    assert _gone(pid)


def _no_pgserver() -> Any:
    raise ImportError("No module named 'pgserver'")


def test_embedded_postgres_without_pgserver_uses_poc_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedded, "_import_pgserver", _no_pgserver)
    monkeypatch.setenv("POC_DATABASE_URL", "postgresql://postgres@db.example:5432/koku")
    with embedded_postgres(tmp_path / "pg") as url:
        assert url == "postgresql://postgres@db.example:5432/koku"
    assert not (tmp_path / "pg").exists()


def test_embedded_postgres_without_pgserver_or_url_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedded, "_import_pgserver", _no_pgserver)
    monkeypatch.delenv("POC_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"pgserver package is not installed.*POC_DATABASE_URL"):
        with embedded_postgres(tmp_path / "pg"):
            pytest.fail("must not get here")


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- S3 over HTTP ----------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_s3_server_serves_parquet_to_the_project_filesystem(s3_server: Any) -> None:
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    root = f"s3://{s3_server.bucket}"
    fs = filesystem(root, s3_server.storage_options)
    folder = f"{s3_server.bucket}/data/parquet/test_infra"
    table = pa.table({"pod": ["a", "b"], "usage": [1.5, 2.0]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with fs.open(f"{folder}/part-0.parquet", "wb") as f:
        f.write(buf.getvalue())
    with fs.open(f"{folder}/notes.txt", "wb") as f:
        f.write(b"not parquet")

    assert list_parquet(fs, f"{root}/data/parquet/test_infra") == [f"{folder}/part-0.parquet"]
    with fs.open(f"{folder}/part-0.parquet", "rb") as f:
        assert pq.read_table(f).to_pydict() == {"pod": ["a", "b"], "usage": [1.5, 2.0]}


# --- Redis and Celery --------------------------------------------------------------------------------------


def _throwaway_app(name: str) -> Any:
    """A Celery app with the project's celeryconfig and two tiny tasks (a chord header and its callback)."""
    from celery import Celery

    app = Celery(name, set_as_current=False)
    app.config_from_object("celeryconfig")

    @app.task(name=f"{name}.square")
    def square(x: int) -> int:
        return x * x

    @app.task(name=f"{name}.total")
    def total(values: list[int]) -> dict[str, int]:
        return {"n": len(values), "sum": sum(values)}

    return app


@pytest.mark.integration
def test_chord_runs_on_the_in_process_worker_over_real_redis(
    celery_worker_app: Any, redis_url: str, redis_key_prefix: str
) -> None:
    import redis
    from celery import chord

    app = _throwaway_app("poc_test_infra")
    celery_worker_app(app, queues=["poc_aggregation"])

    header = [app.tasks["poc_test_infra.square"].s(i) for i in range(1, 6)]
    result = chord(header)(app.tasks["poc_test_infra.total"].s())
    assert result.get(timeout=30) == {"n": 5, "sum": 1 + 4 + 9 + 16 + 25}

    # The result went through the test database, under this session's prefix only.
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(f"{redis_key_prefix}celery-task-meta-{result.id}") == 1
        assert client.exists(f"celery-task-meta-{result.id}") == 0
    finally:
        client.close()


@pytest.mark.integration
def test_worker_consumes_only_its_queues(celery_worker_app: Any) -> None:
    app = _throwaway_app("poc_test_queues")
    celery_worker_app(app, queues=["poc_aggregation_xl"])
    square = app.tasks["poc_test_queues.square"]

    on_xl = square.apply_async((7,), queue="poc_aggregation_xl")
    assert on_xl.get(timeout=30) == 49
    on_default = square.apply_async((3,))  # routed to poc_aggregation, which this worker does not consume
    time.sleep(1.5)
    assert on_default.state == "PENDING"
    on_default.forget()


def _reload_celeryconfig() -> Any:
    """Re-read the settings module from the environment; the top-level celeryconfig may only re-export it."""
    import celeryconfig

    try:
        source = importlib.import_module("poc_tasks.celeryconfig")
    except ImportError:
        return importlib.reload(celeryconfig)
    importlib.reload(source)
    importlib.reload(celeryconfig)
    return source


def test_celeryconfig_reads_broker_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import celeryconfig

    try:
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
        monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
        conf = _reload_celeryconfig()
        assert conf.broker_url == conf.result_backend == "redis://localhost:6379/1"

        monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis:6379/1")
        conf = _reload_celeryconfig()
        assert conf.result_backend == "redis://redis:6379/1"  # results follow the broker unless set

        monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://redis:6379/2")
        conf = _reload_celeryconfig()
        assert (conf.broker_url, conf.result_backend) == ("redis://redis:6379/1", "redis://redis:6379/2")
        # The top-level module (celery --config celeryconfig) carries the same values.
        assert (celeryconfig.broker_url, celeryconfig.result_backend) == (conf.broker_url, conf.result_backend)
        assert conf.accept_content == ["json"] and conf.task_acks_late and conf.worker_prefetch_multiplier == 1
    finally:
        monkeypatch.undo()
        _reload_celeryconfig()


# --- compose.yaml ----------------------------------------------------------------------------------------------


def _compose_cli() -> list[str] | None:
    """`docker compose` or `docker-compose`, if one answers here (`config` needs no engine)."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if probe.returncode == 0:
            return cmd
    return None


def test_compose_file_passes_compose_config() -> None:
    cmd = _compose_cli()
    if cmd is None:
        pytest.skip("neither `docker compose` (plugin) nor `docker-compose` is installed here")
    done = subprocess.run(
        [*cmd, "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr


def test_compose_file_wires_worker_flower_and_services() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "s3", "worker", "flower"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"

    worker = services["worker"]
    assert worker["build"]["context"] == "."
    assert (ROOT / worker["build"]["dockerfile"]).is_file()
    command = " ".join(worker["command"])
    assert "-A poc_tasks worker -Q poc_aggregation,poc_aggregation_xl -E" in command
    assert "--concurrency 1 --prefetch-multiplier 1" in command

    env = worker["environment"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/1"
    assert env["POC_DATA_ROOT"] == "s3://koku-bucket"
    for name in ("POC_DATABASE_URL", "POC_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "CELERY_RESULT_BACKEND"):
        assert env.get(name), name
    # Hosts in the URLs are services of this file.
    for url in (env["POC_DATABASE_URL"], env["POC_S3_ENDPOINT_URL"], env["CELERY_BROKER_URL"]):
        host = url.split("://", 1)[1].rsplit("@", 1)[-1].split(":", 1)[0].split("/", 1)[0]
        assert host in services, url

    flower = services["flower"]
    assert "flower" in " ".join(flower["command"])
    assert flower["environment"]["CELERY_BROKER_URL"] == env["CELERY_BROKER_URL"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
