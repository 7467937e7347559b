"""query_arrow: rows through COPY TO STDOUT keep what fetchall() would give (NULL vs '', NULL-looking text, exact
doubles, dates, quotes and newlines), with values bound like cursor.execute binds them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from psycopg2 import sql

from poc_tasks.db.copy_out import query_arrow

TYPES = {"a": pa.string(), "b": pa.string(), "c": pa.string(), "x": pa.float64(), "y": pa.float64(),
         "d": pa.date32(), "i": pa.int64(), "j": pa.string()}
QUERY = sql.SQL(
    "SELECT a, b, c, x, y, d, i, j FROM (VALUES"
    " (NULL::text, ''::text, 'NA'::text, 0.1::float8, NULL::float8, DATE '2026-01-02', NULL::bigint, %s::text),"
    " ('null', 'a,b', 'line\none', 6.451612903225806::float8, 1e-300::float8, NULL::date, 7::bigint, '{\"k\": \"v\"}')"
    ") v(a, b, c, x, y, d, i, j) WHERE %s <> ''"
)


def test_values_survive_the_csv_trip(pg_conn):
    table = query_arrow(pg_conn, QUERY, ("it's \"quoted\"", "x"), TYPES)
    assert table.schema == pa.schema(list(TYPES.items()))
    with pg_conn.cursor() as cur:  # what fetchall() says of the same rows
        cur.execute(QUERY, ("it's \"quoted\"", "x"))
        expected = cur.fetchall()
    pg_conn.rollback()
    got = list(zip(*(table.column(n).to_pylist() for n in TYPES), strict=True))
    assert got == expected
    assert got[0][:3] == (None, "", "NA") and got[1][0] == "null"  # NULL-looking text stays text
    assert got[1][3] == 6.451612903225806 and got[0][5] == dt.date(2026, 1, 2)


def test_no_rows_gives_an_empty_typed_table(pg_conn):
    table = query_arrow(pg_conn, QUERY, ("x", ""), TYPES)
    assert table.num_rows == 0 and table.schema == pa.schema(list(TYPES.items()))
