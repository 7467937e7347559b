"""Retries of the step that failed, for the failures that pass: PostgreSQL restarting, the S3 endpoint or Redis
away for a few seconds.

Each step of a run (prepare, a day chunk, a table's write, finalize) is retried on its own, in the process that
ran it, with exponential backoff and jitter, bounded in count (POC_RETRIES, default 4 retries) and in time (each
wait at most POC_RETRY_MAX_S, default 30 s; the first POC_RETRY_BASE_S, default 1 s): a blip of a few seconds
costs the step, not the month. Every step is idempotent (a chunk rewrites its part file, a table write is one
transaction that rolled back), so a retry is safe. Bad input (PocTasksError) and anything else not known to be
transient is raised at once.

When the retries are spent the error says which service and endpoint failed (host:port/database, the S3 endpoint
and bucket, the Redis host:port/db -- never a user or password), after how many attempts and seconds, and keeps
the original error as its cause.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from poc_tasks.errors import ConfigurationError, PocTasksError

__all__ = ["ServiceOutage", "transient_service", "with_retries", "endpoint"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL error classes that pass: connection exceptions, operator intervention (shutdown, restart, "the
# database system is starting up"), serialization failure and deadlock.
_PG_TRANSIENT_CLASSES = ("08", "57P", "40001", "40P01")
# connection-level errors (no SQLSTATE) that will not pass by waiting
_PG_PERMANENT_TEXT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                      "role \"", "invalid dsn", "sslmode")


class ServiceOutage(Exception):  # noqa: N818 - the name says what the caller meets
    """A service (PostgreSQL, S3, Redis) kept failing after the retries: an outage, not bad input (unlike
    errors.ServiceUnavailable, a misconfiguration found before the run starts: exit 2)."""

    def __init__(self, message: str, service: str | None = None, where: str | None = None) -> None:
        # the message first and alone in args: Celery rebuilds the exception from args in the caller's process
        self.service = service
        self.where = where
        super().__init__(message)


def transient_service(exc: BaseException) -> str | None:
    """'postgresql', 's3' or 'redis' when `exc` is a failure of that service that may pass; else None."""
    if isinstance(exc, PocTasksError | ServiceOutage):
        return None
    import psycopg2

    if isinstance(exc, psycopg2.Error):
        code = getattr(exc, "pgcode", None)
        if code:
            return "postgresql" if code.startswith(_PG_TRANSIENT_CLASSES) else None
        if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
            text = str(exc).lower()
            return None if any(t in text for t in _PG_PERMANENT_TEXT) else "postgresql"
        return None
    try:
        import redis

        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return "redis"
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import botocore.exceptions as bexc

        if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectionClosedError | bexc.ReadTimeoutError
                      | bexc.ConnectTimeoutError):
            return "s3"
    except ImportError:  # pragma: no cover - s3fs brings botocore
        pass
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ServerTimeoutError):
            return "s3"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, ConnectionError | TimeoutError):
        return "s3"  # what s3fs raises when its endpoint does not answer (the socket's own error)
    cause = exc.__cause__ or exc.__context__
    return transient_service(cause) if cause is not None and cause is not exc else None


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigurationError(f"{name}={raw!r} must not be negative")
    return value


def endpoint(service: str, settings: Any = None) -> str:
    """Where `service` is, for a message: host, port and database or bucket, never credentials."""
    if service == "postgresql":
        url = getattr(settings, "database_url", None) or ""
        parts = urlsplit(url.replace("postgresql+psycopg2://", "postgresql://"))
        return f"PostgreSQL {parts.hostname or '?'}:{parts.port or 5432}{parts.path or ''}" if url else "PostgreSQL"
    if service == "s3":
        ep = getattr(settings, "s3_endpoint_url", None) or "AWS S3"
        roots = {r for r in (getattr(settings, "data_root", None), getattr(settings, "staging_root", None)) if r}
        buckets = sorted(urlsplit(r).netloc for r in roots if r.startswith("s3://"))
        return f"S3 {ep}" + (f" (bucket {', '.join(buckets)})" if buckets else "")
    if service == "redis":
        from poc_tasks.locks import redis_endpoint

        url = os.environ.get("POC_LOCK_REDIS_URL") or getattr(settings, "broker_url", None) or ""
        return redis_endpoint(url) if url else "Redis"
    return service


def with_retries(step: str, fn: Callable[[], T], settings: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried on a transient PostgreSQL / S3 / Redis failure with exponential backoff and jitter."""
    retries = int(_number("POC_RETRIES", 4))
    base, cap = _number("POC_RETRY_BASE_S", 1.0), _number("POC_RETRY_MAX_S", 30.0)
    t0 = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            service = transient_service(exc)
            if service is None:
                raise
            where = endpoint(service, settings)
            if attempt >= retries:
                raise ServiceOutage(
                    f"{step}: {where} still failing after {attempt + 1} attempt{'s' if attempt else ''} over "
                    f"{time.monotonic() - t0:.1f}s: {type(exc).__name__}: {str(exc).strip()}", service, where) from exc
            ceiling = min(cap, base * 2**attempt)
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret
            LOG.warning("%s: %s failed (%s: %s); retry %d of %d in %.1fs", step, where, type(exc).__name__,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else "", attempt + 1, retries, delay)
            sleep(delay)
            attempt += 1
