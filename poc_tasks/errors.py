"""Errors that name what is wrong: the file, the column, the task, the argument.

Every error a run can raise on bad input derives from PocTasksError, so the Celery layer and the CLI can tell
"the input is wrong" (do not retry, exit 2) from "something broke" (retry, exit 1).
"""

from __future__ import annotations


class PocTasksError(Exception):
    """Base class of the errors poc_tasks raises on bad input or bad configuration."""


class InvalidArgument(PocTasksError, ValueError):
    """A task or CLI argument is not acceptable (schema name, uuid, date, ...)."""


class MissingInputData(PocTasksError):
    """No Parquet where Koku's layout says there must be some."""


class InputFileError(PocTasksError):
    """A Parquet file is unreadable, lacks a required column, or has a column of the wrong type."""

    def __init__(self, path: str, message: str, column: str | None = None) -> None:
        self.path = path
        self.column = column
        self.message = message
        where = f"{path}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:  # pickled whole (a chunk's worker process sends it to the run's process)
        return type(self), (self.path, self.message, self.column), self.__dict__


class ConfigurationError(PocTasksError):
    """A setting is missing or malformed."""


class KokuRowMissing(PocTasksError):
    """Inside Koku's database, a row that Koku owns (provider, report period, bill) is not there.

    poc_tasks never creates such rows in Koku's database: Koku's source and ingestion make them, and a
    missing one means Koku has not processed that source or month yet.
    """

    def __init__(self, table: str, what: str, message: str) -> None:
        self.table = table
        self.what = what
        self.message = message
        super().__init__(f"{table}: {what} is missing: {message}")

    def __reduce__(self) -> tuple:
        return type(self), (self.table, self.what, self.message), self.__dict__


class OwnershipConflict(InvalidArgument):
    """An argument would make a run write rows another run owns, or delete rows it does not own."""


class ServiceUnavailable(PocTasksError):
    """PostgreSQL or S3 cannot be reached, or refused the credentials (the message names which and the fix)."""


class MissingTables(PocTasksError):
    """The tenant schema lacks the tables a run reads or writes (init-db, or Koku's migrations, make them)."""


def user_error(exc: BaseException, database_url: str | None = None, schema: str | None = None) -> PocTasksError | None:
    """The PocTasksError a user-caused failure of a service means (no database, wrong credentials, no tables,
    an unreachable S3 endpoint), with the fix; None for anything else (a bug or an outage: exit 1)."""
    import psycopg2
    import psycopg2.errors

    from poc_tasks.settings import redact_url

    where = f" at {redact_url(database_url)}" if database_url else ""
    if isinstance(exc, (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName,
                        psycopg2.errors.UndefinedColumn)):
        what = str(exc).splitlines()[0]
        tenant = schema or "SCHEMA"
        return MissingTables(
            f"PostgreSQL{where}: {what}: the tenant schema {tenant} lacks the tables Koku's migrations make. Fix: "
            f"poc-tasks init-db --schema {tenant} (standalone), or inside Koku run its migrations "
            "(python koku/manage.py migrate_schemas)")
    s3 = _s3_failure(exc)
    if s3 is not None:
        return s3
    if isinstance(exc, psycopg2.OperationalError) and not isinstance(exc, psycopg2.errors.QueryCanceled):
        text = str(exc).strip()
        first = " ".join(text.split())[:300]
        lowered = text.lower()
        if "password authentication failed" in lowered or "role" in lowered and "does not exist" in lowered \
                or "no password supplied" in lowered:
            fix = "put the right user and password in POC_DATABASE_URL / --database-url (postgresql://USER:PASSWORD@HOST:PORT/DB)"
        elif "database" in lowered and "does not exist" in lowered:
            fix = "create the database (createdb) or name an existing one in POC_DATABASE_URL / --database-url"
        elif "connection" in lowered or "could not" in lowered or "timeout" in lowered:
            fix = "start PostgreSQL, or point POC_DATABASE_URL / --database-url at a running server"
        else:
            return None
        return ServiceUnavailable(f"cannot use PostgreSQL{where}: {first}. Fix: {fix}")
    return None


def _s3_failure(exc: BaseException) -> PocTasksError | None:
    """botocore's "cannot reach the endpoint" and "no credentials" errors (raised mid-run, after the probe)."""
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover - s3fs brings botocore
        return None
    if isinstance(exc, (boto.EndpointConnectionError, boto.ConnectTimeoutError)):
        fix = "check POC_S3_ENDPOINT_URL / --s3-endpoint-url (is the S3 server up?)"
    elif isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError)):
        fix = "set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    else:
        return None
    detail = " ".join(str(exc).split())[:300]
    return ServiceUnavailable(f"S3: {type(exc).__name__}: {detail}. Fix: {fix}")
