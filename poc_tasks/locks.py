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

A run marker (``poc_tasks:run:<run id>``: launched / writing / done / failed, kept a day) lets a late or
redelivered task of a run that already finished (a worker killed after storing its result, before its late ack)
see that and do nothing: it never takes the lock back, never writes (tasks.py checks it before the lease).

The lease is a courtesy that keeps a second run from computing for nothing; the guarantee that two runs never
interleave their rows is in PostgreSQL (db/writer.py: an advisory lock per table and month inside every write
transaction), so it also holds when Redis is down or a lease expired under a long run. In-process runs (the CLI)
also hold a session-level PostgreSQL advisory lock on the run's key for the whole run (PgRunLock): two CLI runs of
one month queue for each other, and a Celery run that finds it held re-queues itself as it does for a held lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
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
    "PgRunLock",
    "pg_run_lock_holder",
    "hold_run_lock",
    "run_state",
    "set_run_state",
    "redis_endpoint",
    "in_process_run_lock",
]

LOG = logging.getLogger(__name__)

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

            client = _CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10,
                                                          retry_on_timeout=True)
    return client, prefix


def redis_endpoint(url: str) -> str:
    """host:port/db of a Redis URL for messages: never the password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"Redis {parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"


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


# --- run markers: a finished run's late tasks are no-ops -------------------------------------------------------

RUN_STATE_TTL_S = 86_400


def _run_key(prefix: str, run_id: str) -> str:
    return f"{prefix}poc_tasks:run:{run_id}"


def run_state(app: Any, run_id: str) -> str | None:
    """launched / writing / done / failed, or None (no Redis, or a run this Redis never saw)."""
    found = redis_for(app)
    if found is None:
        return None
    client, prefix = found
    value = client.get(_run_key(prefix, run_id))
    return value.decode() if isinstance(value, bytes) else value


def set_run_state(app: Any, run_id: str, state: str) -> None:
    found = redis_for(app)
    if found is not None:
        client, prefix = found
        client.set(_run_key(prefix, run_id), state, ex=RUN_STATE_TTL_S)


def count_run_step(app: Any, run_id: str, step: str) -> int | None:
    """Count one finished chunk or table of a run (for its progress); None without Redis."""
    found = redis_for(app)
    if found is None:
        return None
    client, prefix = found
    key = f"{prefix}poc_tasks:run:{run_id}:{step}"
    with client.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, RUN_STATE_TTL_S)
        done, _ = pipe.execute()
    return int(done)


# --- the run lock in PostgreSQL (in-process runs) ---------------------------------------------------------------

_HOLDER_SQL = """
SELECT a.pid, a.application_name, a.client_addr, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = ((hashtextextended(%(k)s, 0) >> 32) & 4294967295)::oid
  AND l.objid = (hashtextextended(%(k)s, 0) & 4294967295)::oid AND l.objsubid = 1
"""


def _pg_key(key: str) -> str:
    return f"poc_tasks:run:{key}"


class PgRunLock:
    """A session-level advisory lock named by a run's key, on a connection of its own held for the whole run."""

    def __init__(self, database_url: str, key: str) -> None:
        self.database_url = database_url
        self.key = key
        self.conn: Any = None

    def try_acquire(self) -> bool:
        from poc_tasks.db.connection import connect

        if self.conn is None:
            self.conn = connect(self.database_url, application_name="poc_tasks run lock")
            self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (_pg_key(self.key),))
            return bool(cur.fetchone()[0])

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()  # ends the session: the lock goes with it
            finally:
                self.conn = None


def pg_run_lock_holder(database_url: str, key: str) -> str | None:
    """Who holds the PostgreSQL run lock of `key` (pid, application, since), or None when it is free."""
    from poc_tasks.db.connection import connect

    with closing(connect(database_url, application_name="poc_tasks lock check")) as conn:
        with conn.cursor() as cur:
            cur.execute(_HOLDER_SQL, {"k": _pg_key(key)})
            row = cur.fetchone()
        conn.rollback()
    if row is None:
        return None
    pid, app_name, addr, since = row
    return (f"PostgreSQL session pid {pid} ({app_name or 'no application name'}, {addr or 'local'}, "
            f"since {since:%H:%M:%S})")


@contextmanager
def hold_run_lock(database_url: str, key: str, wait_s: float | None = None,
                  say: Callable[[str], None] | None = None, poll_s: float = 1.0) -> Iterator[PgRunLock]:
    """Hold the run lock of `key` for the block; wait for it up to `wait_s` seconds (POC_LOCK_WAIT, default
    POC_LOCK_TTL), saying once that it waits and for whom; then refuse with RunLocked."""
    say = say or LOG.warning
    if wait_s is None:
        raw = os.environ.get("POC_LOCK_WAIT")
        try:
            wait_s = float(raw) if raw else lock_ttl_ms() / 1000
        except ValueError:
            raise ConfigurationError(f"POC_LOCK_WAIT={raw!r} is not a number of seconds") from None
    lock = PgRunLock(database_url, key)
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while not lock.try_acquire():
            holder = pg_run_lock_holder(database_url, key) or "another run"
            if time.monotonic() >= deadline:
                raise RunLocked(f"run lock {key} is held by {holder}; gave up after {wait_s:g}s (POC_LOCK_WAIT): "
                                f"another run of this month is in progress, try again when it ends")
            if not told:
                say(f"waiting up to {wait_s:g}s for run lock {key}, held by {holder}")
                told = True
            time.sleep(poll_s)
        if told:
            say(f"run lock {key} taken; running")
        yield lock
    finally:
        lock.release()


@contextmanager
def _redis_lease(key_parts: tuple[str, str, str, Any], token: str, wait_s: float,
                 say: Callable[[str], None]) -> Iterator[None]:
    """The Celery tasks' Redis lease, for an in-process run, when this shell names a Redis (POC_LOCK_REDIS_URL or a
    redis:// CELERY_BROKER_URL): a run from the CLI then waits for a Celery run of the same month, and the reverse.
    Redis unreachable: the run goes on under the PostgreSQL locks alone (said in the log)."""
    import redis

    url = os.environ.get("POC_LOCK_REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        yield
        return
    from poc_tasks.app import app

    provider, schema, source, month = key_parts
    lock = run_lock(app, provider, schema, source, month, token)
    if lock is None:
        yield
        return
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while not lock.acquire():
            if time.monotonic() >= deadline:
                raise RunLocked(f"run lock {lock.key} in {redis_endpoint(url)} is held by run {lock.holder()}; "
                                f"gave up after {wait_s:g}s (POC_LOCK_WAIT)")
            if not told:
                say(f"waiting up to {wait_s:g}s for run lock {lock.key} in {redis_endpoint(url)}, held by run "
                    f"{lock.holder()}")
                told = True
            time.sleep(1.0)
    except redis.RedisError as exc:
        say(f"{redis_endpoint(url)} unreachable ({type(exc).__name__}); running under the PostgreSQL locks alone")
        yield
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lock.ttl_ms / 3000):
            try:
                lock.renew()
            except redis.RedisError:
                pass  # the PostgreSQL locks still serialise the writes

    keeper = threading.Thread(target=renew, name="poc-lock-renew", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        try:
            lock.release()
        except redis.RedisError:
            pass


@contextmanager
def in_process_run_lock(database_url: str, provider: str, schema: str, source: str, month: Any, token: str,
                        say: Callable[[str], None] | None = None) -> Iterator[None]:
    """What an in-process run (the CLI) holds for its whole run: the PostgreSQL run lock of its key and, when the
    shell names a Redis, the Celery tasks' lease of the same key."""
    say = say or LOG.warning
    key = lock_key(provider, schema, source, month)
    raw = os.environ.get("POC_LOCK_WAIT")
    try:
        wait_s = float(raw) if raw else lock_ttl_ms() / 1000
    except ValueError:
        raise ConfigurationError(f"POC_LOCK_WAIT={raw!r} is not a number of seconds") from None
    with hold_run_lock(database_url, key, wait_s, say), _redis_lease((provider, schema, source, month), token,
                                                                     wait_s, say):
        yield
