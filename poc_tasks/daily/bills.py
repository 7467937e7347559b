"""The bill a cloud daily summary writes under (Azure and GCP; AWS's bill has more columns, see daily/aws.py)."""

from __future__ import annotations

import datetime as dt

from psycopg2 import sql

from poc_tasks.cloud.tenant import bill_ids, ensure_bill
from poc_tasks.db.connection import qualified
from poc_tasks.errors import MissingInputData
from poc_tasks.validate import validate_identifier

__all__ = ["month_bill"]


def month_bill(conn, schema: str, bill_table: str, provider_type: str, source_uuid: str, bill_id: int | None,
               month_start: dt.date) -> int:
    """Koku's ``bill_id`` when given (it must be a bill of the source), else the source's bill of the month as the
    updaters pick it (``bills_for_provider_uuid(...).first()``: billing_period_start = the month's first day, lowest
    id), created as Koku's ingestion creates it when missing (standalone use: CLI, demo). Commits a created bill."""
    with conn.cursor() as cur:
        if bill_id is not None:
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s AND provider_id = %s").format(
                qualified(schema, validate_identifier(bill_table))), (bill_id, source_uuid))
            if cur.fetchone() is None:
                raise MissingInputData(f"bill_id {bill_id} is not a {bill_table} row of {provider_type} source "
                                       f"{source_uuid} in {schema}")
            return bill_id
    first = month_start.replace(day=1)
    ids = bill_ids(conn, schema, bill_table, source_uuid, first, first)
    if not ids:
        ensure_bill(conn, schema, bill_table, source_uuid, provider_type, first,
                    source_name=f"{provider_type} {source_uuid[:8]}")
        conn.commit()
        ids = bill_ids(conn, schema, bill_table, source_uuid, first, first)
    return ids[0]
