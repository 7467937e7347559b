"""psycopg2 connections from the URLs Koku and poc_tasks settings use, and small SQL helpers."""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.settings import libpq_url
from poc_tasks.validate import validate_identifier, validate_schema

__all__ = ["connect", "qualified", "advisory_xact_lock", "rollback_quietly", "endpoint_of"]

LOG = logging.getLogger(__name__)


def connect(database_url: str, application_name: str = "poc_tasks") -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off) for a postgresql:// or postgresql+psycopg2:// URL.

    The session runs in UTC, as Django's (USE_TZ=True, TIME_ZONE="UTC") do, so timestamptz values read and
    written here mean what Koku means by them.
    """
    conn = psycopg2.connect(libpq_url(database_url), application_name=application_name)
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


def qualified(schema: str, table: str) -> sql.Composed:
    """schema.table as safe SQL; both names validated first (schema must be a Koku tenant name)."""
    return sql.SQL(".").join([sql.Identifier(validate_schema(schema)), sql.Identifier(validate_identifier(table))])


def advisory_xact_lock(cur: psycopg2.extensions.cursor, key: str) -> None:
    """Take a transaction-level advisory lock named by `key` (released at commit or rollback)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"poc_tasks:{key}",))


def rollback_quietly(conn: psycopg2.extensions.connection) -> None:
    """Roll back after a failure without hiding it: on a connection the server dropped (a restart, a network cut)
    rollback() itself raises InterfaceError ("connection already closed"), which would replace the real
    OperationalError in the traceback the caller and the task result show."""
    try:
        conn.rollback()
    except psycopg2.Error as exc:
        LOG.warning("rollback on %s failed after an earlier error (%s); the server ends the transaction",
                    endpoint_of(conn), exc)


def endpoint_of(conn: psycopg2.extensions.connection) -> str:
    """host:port/dbname of a connection, for error messages (never the user or password)."""
    try:
        p = conn.get_dsn_parameters()
    except psycopg2.Error:
        return "PostgreSQL (connection closed)"
    return f"PostgreSQL {p.get('host', '?')}:{p.get('port', '?')}/{p.get('dbname', '?')}"
