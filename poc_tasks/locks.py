"""Run locks and cancel flags in Redis: never two runs for the same (schema, provider, source, month) at once.

Koku serialises update_summary_tables with a WorkerCache key per (schema, provider type, provider uuid, month);
poc_tasks does the same with a Redis lease:

- acquire: ``SET key token NX PX ttl``; the token is the run id, so only the run that holds the lock can
  renew or release it;
- renew: every task of the run pushes the expiry forward (compare-and-pexpire in one Lua script);
- release: compare-and-delete in one Lua script (a late release never deletes a newer run's lock);
- a worker that dies stops renewing, and its lock expires after the TTL (POC_LOCK_TTL, default 900 s).

A cancel flag (``poc_tasks:cancel:<root task id>``) lets a caller that stopped waiting (the Koku hook's
timeout) tell the run's remaining tasks not to write.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

from poc_tasks.errors import ConfigurationError, PocTasksError
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = [
    "RunLock",
    "RunLocked",
    "RunCancelled",
    "lock_key",
    "redis_for",
    "run_lock",
    "lock_ttl_ms",
    "request_cancel",
    "is_cancelled",
]

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
DEFAULT_TTL_S = 900.0
CANCEL_TTL_S = 86_400


class RunLocked(PocTasksError):
    """Another run holds the lock of this (schema, provider, source, month)."""


class RunCancelled(PocTasksError):
    """The caller cancelled the run (it stopped waiting and fell back); nothing more is written."""


def lock_ttl_ms(env: dict[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get("POC_LOCK_TTL")
    try:
        seconds = float(raw) if raw else DEFAULT_TTL_S
    except ValueError:
        raise ConfigurationError(f"POC_LOCK_TTL={raw!r} is not a number of seconds") from None
    if seconds <= 0:
        raise ConfigurationError(f"POC_LOCK_TTL={raw!r} must be positive")
    return int(seconds * 1000)


def lock_key(provider: str, schema_name: str, source_uuid: str, month: Any, prefix: str = "") -> str:
    """poc_tasks:lock:<schema>:<provider>:<source>:<YYYY-MM>, Koku's cache key parts in Koku's order."""
    day = parse_date(month, "month") if not isinstance(month, dt.date) else month
    return (f"{prefix}poc_tasks:lock:{validate_schema(schema_name)}:{provider}:"
            f"{validate_uuid(source_uuid)}:{day:%Y-%m}")


class RunLock:
    """One lease on one key, identified by its token."""

    def __init__(self, client: Any, key: str, token: str, ttl_ms: int | None = None) -> None:
        self.client = client
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms or lock_ttl_ms()

    def acquire(self) -> bool:
        """Take the lock if it is free (or already ours: a redelivered task of the same run)."""
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        """Push the expiry forward if we still hold the lock."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> bool:
        """Delete the lock if we still hold it; False when it expired or another run holds it now."""
        return bool(self.client.eval(_RELEASE, 1, self.key, self.token))

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def ttl_left_ms(self) -> int:
        return int(self.client.pttl(self.key))


_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def redis_for(app: Any) -> tuple[Any, str] | None:
    """A Redis client for the app's broker (or POC_LOCK_REDIS_URL) and the key prefix the app uses there.

    None when neither is a Redis URL (e.g. the in-memory broker of `poc-tasks demo`: one process, no lock).
    """
    url = os.environ.get("POC_LOCK_REDIS_URL") or str(getattr(app.conf, "broker_url", "") or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "") or ""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            import redis

            client = _CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    return client, prefix


def run_lock(app: Any, provider: str, schema_name: str, source_uuid: str, month: Any, token: str,
             ttl_ms: int | None = None) -> RunLock | None:
    """The lock of one run (None without Redis)."""
    found = redis_for(app)
    if found is None:
        return None
    client, prefix = found
    return RunLock(client, lock_key(provider, schema_name, source_uuid, month, prefix), token, ttl_ms)


def _cancel_key(prefix: str, root_id: str) -> str:
    return f"{prefix}poc_tasks:cancel:{root_id}"


def request_cancel(app: Any, root_id: str) -> bool:
    """Flag the run whose root task id is `root_id` as cancelled; False without Redis."""
    found = redis_for(app)
    if found is None or not root_id:
        return False
    client, prefix = found
    client.set(_cancel_key(prefix, root_id), "1", ex=CANCEL_TTL_S)
    return True


def is_cancelled(app: Any, root_id: str | None) -> bool:
    found = redis_for(app)
    if found is None or not root_id:
        return False
    client, prefix = found
    return bool(client.exists(_cancel_key(prefix, root_id)))
