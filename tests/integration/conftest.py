"""PostgreSQL fixtures: the real server (POC_TEST_DATABASE_URL), one throw-away tenant schema per test.

Outside CI an unreachable server skips the tests that need it; in CI it fails them (tests/conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import pytest

from poc_tasks.db.connection import connect
from poc_tasks.db.init import init_tenant
from poc_tasks.settings import libpq_url
from tests.conftest import service_missing

TEST_DATABASE_URL = os.environ.get("POC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL; skips (fails in CI) when it does not answer."""
    problem = None
    try:
        psycopg2.connect(libpq_url(TEST_DATABASE_URL), connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        problem = str(exc).strip()
    if problem:
        service_missing(f"PostgreSQL at {TEST_DATABASE_URL}", problem)
    return TEST_DATABASE_URL


def _drop_schema(url: str, schema: str) -> None:
    conn = psycopg2.connect(libpq_url(url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()


@pytest.fixture
def schema_name(pg_url: str) -> Iterator[str]:
    """A unique Koku-shaped tenant name (org_t<hex>), not created; dropped after the test if it exists."""
    name = f"org_t{uuid.uuid4().hex[:12]}"
    yield name
    _drop_schema(pg_url, name)


@pytest.fixture
def tenant_schema(pg_url: str, schema_name: str) -> str:
    """A unique tenant schema made by init_tenant (Koku's tables and seeds); dropped after the test."""
    init_tenant(pg_url, schema_name)
    return schema_name


@pytest.fixture
def pg_conn(pg_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A poc_tasks connection (autocommit off, UTC), closed after the test."""
    conn = connect(pg_url)
    yield conn
    conn.close()
