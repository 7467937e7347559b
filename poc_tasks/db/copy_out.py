"""Large query results as Arrow tables through COPY ... TO STDOUT (CSV), not cursor.fetchall().

fetchall() builds a Python tuple and one object per value: a day of a 50,000-pod cluster's OCP summary rows
(~55 k rows x 20 columns) is ~80 MiB of short-lived objects and most of the read time. COPY sends the same rows as
CSV text, parsed by Arrow's CSV reader into typed columns (repeated strings are shared when converted to pandas).

What survives the trip unchanged: NULL vs '' (PostgreSQL writes NULL unquoted and '' quoted; only an unquoted empty
field is read as NULL), doubles (PostgreSQL's float8 output is the shortest text that reads back to the same
double, and Arrow's parser is exact), dates, and text that looks like a NULL marker ('NA', 'null' stay strings).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2.extensions
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql

__all__ = ["query_arrow"]

Connection = psycopg2.extensions.connection
_BLOCK = 4 << 20


def query_arrow(conn: Connection, query: sql.Composable, params: Sequence[Any] | Mapping[str, Any] | None,
                types: Mapping[str, pa.DataType]) -> pa.Table:
    """Run a SELECT and return its rows as an Arrow table with the given column types (every output column must
    be named in `types`, in the SELECT's order). Values are bound client-side by psycopg2 (COPY takes no
    parameters), with the same quoting as cursor.execute."""
    names = list(types)
    # the CSV goes to a temporary file, not a BytesIO: a day of a 50,000-pod cluster is ~35 MB of text, which would
    # sit in memory (up to twice, as BytesIO grows) beside the table parsed from it
    with tempfile.TemporaryFile() as buf:
        with conn.cursor() as cur:
            select = cur.mogrify(query, params)
            cur.copy_expert(b"COPY (" + select + b") TO STDOUT WITH (FORMAT csv, HEADER true)", buf)
        buf.seek(0)  # never empty: the header line comes even without rows (an empty, typed table then)
        table = pacsv.read_csv(
            buf,
            read_options=pacsv.ReadOptions(block_size=_BLOCK, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict(types), null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False, include_columns=names),
        )
    if table.column_names != names:
        raise RuntimeError(f"query returned columns {table.column_names}, expected {names}")
    return table
