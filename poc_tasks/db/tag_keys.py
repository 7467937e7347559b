"""The tenant's enabled tag and label keys (reporting_enabledtagkeys), as Koku's settings API changes them.

Koku's ingestion records every new OCP label key (and GCP label key) disabled; AWS and Azure tag keys are
enabled up to a limit. A run keeps only the enabled keys, so on a tenant made by ``init-db`` no OCP row carries
a label until keys are enabled: ``poc-tasks tag-keys --enable KEY ...`` does what a user does in Koku's settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg2 import sql

from poc_tasks.db.connection import qualified
from poc_tasks.errors import InvalidArgument
from poc_tasks.validate import validate_schema

__all__ = ["PROVIDER_TYPES", "set_keys", "list_keys"]

PROVIDER_TYPES = ("OCP", "AWS", "Azure", "GCP")


def _check(provider_type: str, keys: Iterable[str]) -> list[str]:
    if provider_type not in PROVIDER_TYPES:
        raise InvalidArgument(f"provider type {provider_type!r} is not one of {', '.join(PROVIDER_TYPES)}")
    out = []
    for key in keys:
        if not isinstance(key, str) or not key or len(key) > 253:
            raise InvalidArgument(f"tag key {key!r} must be a non-empty string of at most 253 characters")
        out.append(key)
    return out


def set_keys(conn: Any, schema: str, provider_type: str, enable: Iterable[str] = (),
             disable: Iterable[str] = ()) -> None:
    """Enable / disable keys (rows are created when missing, as Koku's API does); no commit."""
    validate_schema(schema)
    table = qualified(schema, "reporting_enabledtagkeys")
    with conn.cursor() as cur:
        for flag, keys in ((True, _check(provider_type, enable)), (False, _check(provider_type, disable))):
            for key in keys:
                cur.execute(sql.SQL("INSERT INTO {} (uuid, key, enabled, provider_type) VALUES (%s, %s, %s, %s)"
                                    " ON CONFLICT (key, provider_type) DO UPDATE SET enabled = EXCLUDED.enabled")
                            .format(table), (str(uuid.uuid4()), key, flag, provider_type))


def list_keys(conn: Any, schema: str, provider_type: str) -> dict[str, list[str]]:
    """{"enabled": [...], "disabled": [...]} of the provider type, sorted."""
    _check(provider_type, ())
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT key, enabled FROM {} WHERE provider_type = %s ORDER BY key").format(
            qualified(validate_schema(schema), "reporting_enabledtagkeys")), (provider_type,))
        rows = cur.fetchall()
    return {"enabled": [k for k, on in rows if on], "disabled": [k for k, on in rows if not on]}
