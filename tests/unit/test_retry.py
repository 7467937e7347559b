"""Retries of a transient failure (poc_tasks.retry) and the staging sweep (poc_tasks.io.staging)."""

from __future__ import annotations

import datetime as dt
import os
import time

import botocore.exceptions
import psycopg2
import pytest
import redis

from poc_tasks.errors import InvalidArgument
from poc_tasks.io.staging import Stage, sweep_stale_stages
from poc_tasks.retry import ServiceOutage, transient_service, with_retries
from poc_tasks.settings import Settings

SETTINGS = Settings(database_url="postgresql://koku:s3cret@db.example:5433/koku", data_root="s3://koku-bucket",
                    s3_endpoint_url="http://s3.example:9000", aws_access_key_id="AKIA", aws_secret_access_key="s3cret",
                    broker_url="redis://:s3cret@redis.example:6380/1")


def test_transient_failures_are_known_by_service_and_bad_input_is_not() -> None:
    assert transient_service(psycopg2.OperationalError("server closed the connection unexpectedly")) == "postgresql"
    assert transient_service(psycopg2.InterfaceError("connection already closed")) == "postgresql"
    assert transient_service(psycopg2.OperationalError('password authentication failed for user "x"')) is None
    assert transient_service(redis.ConnectionError("Connection refused")) == "redis"
    assert transient_service(ConnectionRefusedError(111, "Connection refused")) == "s3"
    assert transient_service(InvalidArgument("bad schema")) is None
    assert transient_service(ValueError("a bug")) is None
    wrapped = RuntimeError("while reading")
    wrapped.__cause__ = psycopg2.OperationalError("terminating connection due to administrator command")
    assert transient_service(wrapped) == "postgresql"


# what each service's client raises while its server is away (s3fs: the socket's own error, or botocore's)
BLIPS = {
    "postgresql": lambda: psycopg2.OperationalError("could not connect to server: Connection refused"),
    "s3": lambda: botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3.example:9000/koku-bucket"),
    "redis": lambda: redis.ConnectionError("Error 111 connecting to redis.example:6380. Connection refused."),
}


@pytest.mark.parametrize("service", sorted(BLIPS))
def test_a_blip_is_retried_with_growing_jittered_waits(service, monkeypatch) -> None:
    monkeypatch.delenv("POC_LOCK_REDIS_URL", raising=False)
    monkeypatch.setenv("POC_RETRY_BASE_S", "1")
    calls, waits = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise BLIPS[service]()
        return "done"

    assert with_retries("write_table t", flaky, SETTINGS, sleep=waits.append) == "done"
    assert len(calls) == 4 and len(waits) == 3
    for attempt, wait in enumerate(waits):  # half the ceiling fixed, half jitter: 2**attempt / 2 .. 2**attempt
        assert 2**attempt / 2 <= wait <= 2**attempt


def test_giving_up_names_the_endpoint_never_the_credentials(monkeypatch) -> None:
    monkeypatch.setenv("POC_RETRIES", "2")

    def down() -> None:
        raise psycopg2.OperationalError("connection refused")

    with pytest.raises(ServiceOutage) as info:
        with_retries("finalize", down, SETTINGS, sleep=lambda _s: None)
    message = str(info.value)
    assert message.startswith("finalize: PostgreSQL db.example:5433/koku still failing after 3 attempts over ")
    assert "s3cret" not in message and "koku:" not in message
    assert isinstance(info.value.__cause__, psycopg2.OperationalError)

    def s3_down() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(ServiceOutage, match=r"S3 http://s3\.example:9000 \(bucket koku-bucket\) still failing"):
        with_retries("compute_chunk", s3_down, SETTINGS, sleep=lambda _s: None)

    def redis_down() -> None:
        raise BLIPS["redis"]()

    monkeypatch.delenv("POC_LOCK_REDIS_URL", raising=False)
    with pytest.raises(ServiceOutage) as info:
        with_retries("run lock", redis_down, SETTINGS, sleep=lambda _s: None)
    assert str(info.value).startswith("run lock: Redis redis.example:6380/1 still failing after 3 attempts")
    assert "s3cret" not in str(info.value)


def test_bad_input_is_raised_at_once() -> None:
    calls = []

    def bad() -> None:
        calls.append(1)
        raise InvalidArgument("schema_name 'x' is not a Koku tenant schema")

    with pytest.raises(InvalidArgument):
        with_retries("prepare", bad, SETTINGS, sleep=lambda _s: None)
    assert calls == [1]


def test_staging_older_than_a_day_is_swept_and_newer_is_kept(tmp_path) -> None:
    root = str(tmp_path / "staging")
    old, new, mine = (Stage(root, f"{i:032x}") for i in (1, 2, 3))
    for stage in (old, new, mine):
        stage.write_json("manifest", {"run": stage.run_id})
    two_days_ago = time.time() - 2 * 86_400
    for stage in (old, mine):
        path = f"{stage.folder}/manifest.json"
        os.utime(path, (two_days_ago, two_days_ago))
    (tmp_path / "staging" / "not-a-run").mkdir()

    removed = sweep_stale_stages(root, keep=mine.run_id)
    assert removed == [old.folder]
    left = sorted(p.name for p in (tmp_path / "staging").iterdir())
    assert left == sorted([new.run_id, mine.run_id, "not-a-run"])
    assert sweep_stale_stages(root, older_than=dt.timedelta(0), keep=mine.run_id) == [new.folder]
