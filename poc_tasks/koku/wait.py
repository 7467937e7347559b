"""Waiting for a sent run without being left in silence when the broker restarts or goes away for a while.

A Redis broker (and result backend) restarted without persistence forgets the run: its queued messages, its
chord's counters and its result. The run can never finish, and a plain ``AsyncResult.get(timeout)`` would wait
the whole POC_AGGREGATOR_TIMEOUT (an hour by default) for nothing. So before sending, the caller leaves a small
watch key in every Redis the run lives in (the broker's, and the result backend's when it is another one), and
while it waits it checks every POC_BROKER_CHECK_S seconds (default 5) that the key is still there. A key that
vanished means that Redis lost its data: the caller gets ``BrokerLost`` naming the endpoint (host:port/db, never
the password) and, when it can tell, that the server restarted (Redis' run id changed) -- unless the run's result
is there after all (its finalize ran past the restart). With persistence (AOF, or a snapshot taken after the
send) the key survives and the caller keeps waiting for the run, which goes on.

A Redis that does not answer for a while is retried with backoff and jitter (retry.with_retries), bounded by
POC_RETRIES consecutive failures; then ``ServiceOutage`` names it. Nothing here touches the tables: a run the broker
lost before its finalize never swaps its tables in, so every table stays as before it (db.run_swap); its staging
and side tables are swept after a day.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from poc_tasks.errors import PocTasksError

__all__ = ["BrokerLost", "send_and_wait", "watch_keys"]

WATCH_MARGIN_S = 300  # the watch key outlives the caller's timeout by this much
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


class BrokerLost(PocTasksError):
    """The Redis a sent run lived in lost its data (restarted without persistence): the run will never finish."""

    def __init__(self, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


def _redis_urls(app: Any) -> list[str]:
    """Every Redis the run lives in: the broker's (or POC_LOCK_REDIS_URL) and the result backend's."""
    urls = [os.environ.get("POC_LOCK_REDIS_URL") or str(getattr(app.conf, "broker_url", "") or ""),
            str(getattr(app.conf, "result_backend", "") or "")]
    out: list[str] = []
    for url in urls:
        if url.startswith(("redis://", "rediss://", "unix://")) and url not in out:
            out.append(url)
    return out


def _client(url: str) -> Any:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            import redis

            client = _CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return client


def _prefix(app: Any) -> str:
    return (app.conf.broker_transport_options or {}).get("global_keyprefix", "") or ""


def _watch_key(app: Any, task_id: str) -> str:
    return f"{_prefix(app)}poc_tasks:watch:{task_id}"


def _server_id(client: Any) -> str | None:
    try:
        return str(client.info("server").get("run_id"))
    except Exception:  # noqa: BLE001 - only for the message
        return None


def watch_keys(app: Any, task_id: str, timeout: float) -> dict[str, str | None]:
    """Leave the watch key of `task_id` in every Redis of the run; {url: that server's run id}."""
    servers: dict[str, str | None] = {}
    for url in _redis_urls(app):
        client = _client(url)
        client.set(_watch_key(app, task_id), "1", ex=int(timeout + WATCH_MARGIN_S))
        servers[url] = _server_id(client)
    return servers


def _lost(app: Any, task_id: str, servers: dict[str, str | None]) -> str | None:
    """A message naming the Redis that lost the run's watch key, or None while every key is there."""
    from poc_tasks.locks import redis_endpoint

    for url, was in servers.items():
        client = _client(url)
        if client.exists(_watch_key(app, task_id)):
            continue
        now = _server_id(client)
        how = (f"restarted (server run id {was[:8]} -> {now[:8]}) without persistence" if was and now and now != was
               else "lost its data (flushed, evicted, or restarted without persistence)")
        return (f"{redis_endpoint(url)} {how} while run {task_id} was in flight: its queued messages and chord"
                " state are gone and it will not finish. Every table is as before the run, or wholly replaced if"
                " its last step had begun (the tables are swapped in one transaction at its end); send it again")
    return None


def send_and_wait(app: Any, send: Callable[[str], Any], timeout: float, what: str) -> Any:
    """`send(task_id)` (an AsyncResult whose id is task_id), then its result within `timeout` seconds, raising
    BrokerLost as soon as a Redis of the run lost it, ServiceOutage when a Redis stays away (retry.with_retries:
    backoff and jitter, POC_RETRIES), and Celery's TimeoutError after `timeout`."""
    from types import SimpleNamespace
    from uuid import uuid4

    from celery.exceptions import TimeoutError as CeleryTimeout

    from poc_tasks.retry import with_retries

    task_id = str(uuid4())
    servers = watch_keys(app, task_id, timeout)
    result = send(task_id)
    check = float(os.environ.get("POC_BROKER_CHECK_S") or 5.0)
    deadline = time.monotonic() + timeout
    pending = object()

    def poll() -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CeleryTimeout(f"{what} {task_id} did not finish within {timeout:g}s")
        try:
            # propagate=False: the run's own failure comes back as a value, so that only Redis' errors are retried
            return result.get(timeout=min(check, remaining) if servers else remaining, propagate=False,
                              disable_sync_subtasks=False)
        except CeleryTimeout:
            message = _lost(app, task_id, servers)
            if message and result.ready():  # its last step finished after the restart and stored the result
                return result.get(timeout=1, propagate=False, disable_sync_subtasks=False)
            if message:
                raise BrokerLost(f"{what}: {message}", task_id) from None
            return pending

    where = SimpleNamespace(broker_url=next(iter(servers), None))  # for the message: host:port/db only
    while True:
        value = with_retries(f"waiting for {what} {task_id}", poll, where)
        if isinstance(value, BaseException):
            raise value  # the run failed: its own error (the failed step's, naming file, service or argument)
        if value is not pending:
            return value
