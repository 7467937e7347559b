"""Typed settings, read from the environment (CLI flags override them).

Inside Koku's own workers the same values come from Koku's Django settings unless a POC_* variable overrides
them, so the plugin needs no configuration of its own there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from poc_tasks.errors import ConfigurationError

DEFAULT_BROKER = "redis://localhost:6379/1"  # Koku's REDIS_URL shape: database 1


def normalise_database_url(url: str) -> str:
    """Map the URL Koku writes (postgresql://...) to the driver we ship (psycopg2).

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
    """
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    raise ConfigurationError(f"not a PostgreSQL URL: {redact_url(url)!r}")


def libpq_url(url: str) -> str:
    """The same URL as psycopg2.connect() takes it (no SQLAlchemy driver suffix)."""
    return "postgresql://" + normalise_database_url(url).split("://", 1)[1]


def redact_url(url: str) -> str:
    """Hide a password in a URL so it can be logged."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _django_settings() -> Any | None:
    """Koku's settings when running inside a configured Django process, else None."""
    try:
        from django.conf import settings as dj  # type: ignore[import-not-found]

        if dj.configured:
            return dj
    except Exception:  # noqa: BLE001 - no Django, or not configured: plain environment only
        return None
    return None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_root: str | None = None
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    broker_url: str = DEFAULT_BROKER
    result_backend: str = DEFAULT_BROKER
    staging_root: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        dj = _django_settings()
        database_url = env.get("POC_DATABASE_URL")
        data_root = env.get("POC_DATA_ROOT")
        endpoint = env.get("POC_S3_ENDPOINT_URL")
        key = env.get("AWS_ACCESS_KEY_ID")
        secret = env.get("AWS_SECRET_ACCESS_KEY")
        broker = env.get("CELERY_BROKER_URL")
        backend = env.get("CELERY_RESULT_BACKEND")
        if dj is not None:
            database_url = database_url or _django_database_url(dj)
            bucket = getattr(dj, "S3_BUCKET_NAME", None)
            data_root = data_root or (f"s3://{bucket}" if bucket else None)
            endpoint = endpoint or getattr(dj, "S3_ENDPOINT", None)
            key = key or getattr(dj, "S3_ACCESS_KEY", None)
            secret = secret or getattr(dj, "S3_SECRET", None)
            broker = broker or getattr(dj, "REDIS_URL", None)
            backend = backend or getattr(dj, "REDIS_URL", None)
        return cls(
            database_url=database_url,
            data_root=data_root,
            s3_endpoint_url=endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            broker_url=broker or DEFAULT_BROKER,
            result_backend=backend or broker or DEFAULT_BROKER,
            staging_root=env.get("POC_STAGING_ROOT"),
        )

    def override(self, **values: Any) -> Settings:
        """Settings with the given non-None values replaced (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError("no database: set POC_DATABASE_URL or pass --database-url")
        return normalise_database_url(self.database_url)

    def require_data_root(self) -> str:
        if not self.data_root:
            raise ConfigurationError("no data root: set POC_DATA_ROOT or pass --data-root")
        return self.data_root

    def effective_staging_root(self) -> str:
        """Where the compute step stages its result for the write tasks (never the broker)."""
        if self.staging_root:
            return self.staging_root
        root = self.require_data_root().rstrip("/")
        return f"{root}/poc_tasks_staging"

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for s3:// roots."""
        opts: dict[str, Any] = {}
        if self.s3_endpoint_url:
            opts["client_kwargs"] = {"endpoint_url": self.s3_endpoint_url}
        if self.aws_access_key_id:
            opts["key"] = self.aws_access_key_id
        if self.aws_secret_access_key:
            opts["secret"] = self.aws_secret_access_key
        return opts


def _django_database_url(dj: Any) -> str | None:
    db = (getattr(dj, "DATABASES", None) or {}).get("default")
    if not db:
        return None
    user, password = db.get("USER", ""), db.get("PASSWORD", "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgresql://{auth}{db.get('HOST', 'localhost')}:{db.get('PORT', 5432)}/{db.get('NAME', '')}"
