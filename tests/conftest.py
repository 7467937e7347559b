"""Shared services for the whole test suite: Redis, an S3 server over HTTP, an in-process Celery worker.

Services are real (no mocks of the wire): Redis is the machine's (``POC_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/15``, a database of its own); S3 is a moto server in a child process on a free port.
Outside CI a missing Redis skips the tests that need it; in CI (``CI`` set) it fails them, so a broken
environment can never turn into a green run of skipped tests.

PostgreSQL fixtures live in tests/integration/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from poc_tasks.embedded import free_port

TEST_REDIS_URL = os.environ.get("POC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
S3_BUCKET = "koku-bucket"  # the bucket name compose.yaml uses, so paths in tests read like the deployment's
S3_KEY = S3_SECRET = "testing"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def service_missing(what: str, why: str) -> None:
    """Skip (developer machine) or fail (CI) a test whose service is not there."""
    message = f"{what} is not reachable: {why}"
    if in_ci():
        pytest.fail(f"{message} (CI must provide it: .ci/run starts it)", pytrace=False)
    pytest.skip(message)


# --- Redis -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis database; skips (fails in CI) when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    problem = None
    try:
        client.ping()
    except redis.RedisError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    if problem:  # outside the except block: the report is one line, not a chained traceback
        service_missing(f"Redis at {TEST_REDIS_URL}", problem)
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test session for everything Celery puts in Redis (queues, results, chords).

    Several test sessions may share one Redis (developers, agents and CI on one machine): with its own
    prefix a session neither consumes another's tasks nor sees its results. Its keys are deleted at the end.
    """
    import redis

    prefix = f"poc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- S3 ------------------------------------------------------------------------------------------------------


class S3Server(NamedTuple):
    endpoint_url: str
    bucket: str
    storage_options: dict[str, Any]  # for s3fs / fsspec / poc_tasks.io.fs.filesystem


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server on a free 127.0.0.1 port with the bucket ``koku-bucket``; dummy AWS credentials.

    A child process rather than moto's ThreadedMotoServer: the in-process server shares its state with
    ``moto.mock_aws``, which resets it, so a unit test using mock_aws would empty this session's bucket; and
    a separate process talks plain HTTP exactly like the deployment's S3.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("s3") / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_http(endpoint, proc, log_path)
        with pytest.MonkeyPatch.context() as mp:
            # Dummy credentials for everything in this session (boto3, s3fs, the worker): never real ones.
            mp.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
            mp.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
            for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
                mp.delenv(name, raising=False)
            _create_bucket(endpoint, S3_BUCKET)
            options = {"key": S3_KEY, "secret": S3_SECRET, "client_kwargs": {"endpoint_url": endpoint}}
            yield S3Server(endpoint, S3_BUCKET, options)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_http(endpoint: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 - our own localhost URL
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {endpoint} within {timeout}s:\n{log_path.read_text()[-2000:]}")


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET, region_name="us-east-1"
    )
    client.create_bucket(Bucket=bucket)
    client.close()


# --- Celery ----------------------------------------------------------------------------------------------


@contextmanager
def run_worker(
    app: Any,
    broker_url: str,
    queues: Iterable[str],
    key_prefix: str = "",
    **worker_kwargs: Any,
) -> Iterator[Any]:
    """Point ``app`` at ``broker_url`` (broker and results), purge ``queues``, run an in-process worker on them.

    The worker is Celery's own test worker (celery.contrib.testing.worker.start_worker): a real consumer in a
    thread of this process, with the app's real settings (JSON, late acks, prefetch 1), so what passes here
    passes on a deployed worker with the same settings. Defaults: the solo pool, no ping task.
    """
    from celery import _state as celery_state
    from celery.contrib.testing.worker import start_worker

    queues = list(queues)
    if not queues:
        raise ValueError("run_worker needs at least one queue")
    _point_app_at(app, broker_url, key_prefix)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            channel.queue_purge(queue)
    worker_kwargs.setdefault("pool", "solo")
    worker_kwargs.setdefault("concurrency", 1)
    worker_kwargs.setdefault("perform_ping_check", False)
    worker_kwargs.setdefault("shutdown_timeout", 30.0)
    # start_worker makes the app current and default for the whole process; put the previous ones back so a
    # throwaway app of one test does not become the app of the next.
    previous_default, previous_current = celery_state.default_app, getattr(celery_state._tls, "current_app", None)
    try:
        with start_worker(app, queues=queues, **worker_kwargs) as worker:
            yield worker
    finally:
        celery_state.set_default_app(previous_default)
        celery_state._set_current_app(previous_current)


def _point_app_at(app: Any, url: str, key_prefix: str) -> None:
    """Use ``url`` for broker and results, dropping connections and backends made for the previous URL."""
    transport = dict(app.conf.broker_transport_options or {})
    backend_transport = dict(app.conf.result_backend_transport_options or {})
    # The prefix is exactly the one asked for: an empty one drops the prefix an earlier test of the session set
    # on this (process-wide) app, else that worker would consume "<old prefix>poc_aggregation" while the sender
    # publishes to "poc_aggregation" and the run would never start.
    for options in (transport, backend_transport):
        options.pop("global_keyprefix", None)
        if key_prefix:
            options["global_keyprefix"] = key_prefix
    app.conf.update(
        broker_url=url,
        result_backend=url,
        broker_transport_options=transport,
        result_backend_transport_options=backend_transport,
    )
    # Celery caches the connection pool and (per thread) the result backend on first use; both would keep
    # talking to the old URL. kombu also keeps the pool (and a producer pool over it) in its process-wide
    # registries, keyed by the connection: drop those entries too, or the next worker of the same app gets
    # "Acquire on closed pool".
    if app._pool is not None:
        from kombu import pools
        from kombu.utils.collections import eqhash

        key = eqhash(app.connection_for_write())
        for registry in (pools.producers, pools.connections):
            dict.pop(registry, key, None)
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def celery_worker_app(redis_url: str, redis_key_prefix: str) -> Iterator[Callable[..., Any]]:
    """Start in-process workers: ``celery_worker_app(app, queues=[...], **start_worker_kwargs)``.

    Each call points the app at the test Redis (its own database and this session's key prefix), purges the
    queues and returns the running worker; every worker started is stopped when the test ends. For the
    project's app: ``celery_worker_app(poc_tasks.app.app, queues=["poc_aggregation"])``.
    """
    with ExitStack() as stack:

        def start(app: Any, queues: Iterable[str] = ("poc_aggregation",), **worker_kwargs: Any) -> Any:
            return stack.enter_context(run_worker(app, redis_url, queues, redis_key_prefix, **worker_kwargs))

        yield start
