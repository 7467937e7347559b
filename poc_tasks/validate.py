"""Validators for everything a task argument can carry into SQL or a path.

Task arguments arrive from a broker, so everything that reaches SQL or a path is checked here first:
schema names must be Koku tenant names, sources must be UUIDs, dates ISO dates.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from poc_tasks.errors import InvalidArgument

# Koku tenants are acct<digits> (old accounts) or org<digits>; identifier characters only.
_TENANT_RE = re.compile(r"(acct|org)[a-z0-9_]{1,60}")
_IDENT_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def validate_schema(schema: Any) -> str:
    """Return the schema name if it is a Koku tenant schema name, else raise InvalidArgument."""
    if not isinstance(schema, str) or not _TENANT_RE.fullmatch(schema):
        raise InvalidArgument(f"schema_name {schema!r} is not a Koku tenant schema (acct…/org…, [a-z0-9_])")
    return schema


def validate_identifier(name: Any) -> str:
    if not isinstance(name, str) or not _IDENT_RE.fullmatch(name):
        raise InvalidArgument(f"{name!r} is not a safe SQL identifier")
    return name


def validate_uuid(value: Any, what: str = "source_uuid") -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"{what} {value!r} is not a UUID") from exc


def parse_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise InvalidArgument(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    raise InvalidArgument(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)")


def date_range(start_date: Any, end_date: Any, *, one_month: bool = True) -> tuple[dt.date, dt.date]:
    """(start, end) of a run's inclusive range: ISO dates, end not before start and, with `one_month`, both in one
    calendar month (Koku's callers split their ranges by month before summarising)."""
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    if end < start:
        raise InvalidArgument(f"end_date {end} is before start_date {start}")
    if one_month and (start.year, start.month) != (end.year, end.month):
        raise InvalidArgument(f"start_date {start} and end_date {end} are not in the same month")
    return start, end


def optional_int(value: Any, what: str) -> int | None:
    """None for None, else the integer (an id such as bill_id or report_period_id); InvalidArgument otherwise."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} {value!r} is not an integer") from exc


def check_text(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len or "\x00" in value:
        raise InvalidArgument(f"{what} {value!r} must be a non-empty string of at most {max_len} characters")
    return value
