"""Rows Koku owns: inside Koku's database poc_tasks only reads them; standalone it creates them as Koku would.

Which database is Koku's: the one where Koku's migrations made ``public.api_provider`` (the table behind every
source). ``init-db`` never creates that table, so a database made by ``init-db`` alone keeps the standalone
behaviour (providers, report periods and bills created when missing), and a Koku database never gets a
provider row, report period or bill from poc_tasks: a missing one raises KokuRowMissing naming it, so it
cannot collide with the row Koku's own processing makes later.
"""

from __future__ import annotations

import psycopg2.extensions

from poc_tasks.errors import KokuRowMissing

__all__ = ["KOKU_MARKER_TABLE", "inside_koku", "missing"]

Connection = psycopg2.extensions.connection
KOKU_MARKER_TABLE = "public.api_provider"


def inside_koku(conn: Connection) -> bool:
    """True in Koku's database (Koku's ``public.api_provider`` exists)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (KOKU_MARKER_TABLE,))
        return bool(cur.fetchone()[0])


def missing(schema: str, table: str, what: str, made_by: str) -> KokuRowMissing:
    """The error for a Koku-owned row that is not there (`made_by`: which step of Koku creates it)."""
    return KokuRowMissing(f"{schema}.{table}", what,
                          f"inside Koku's database poc_tasks does not create it; {made_by} creates it")
