#!/usr/bin/env python3
"""Are two tenant schemas' tables the same rows? For a refactor: run the same dataset with the old and the new code
into two schemas (e.g. benchmarks/cloud_parity.py DATASET --schema orgbefore... with PYTHONPATH=<old checkout>, then
--schema orgafter... with this one), then

    .venv/bin/python benchmarks/same_rows.py orgbefore_aws_sample orgafter_aws_sample

Every table of the first schema is compared with its namesake as a multiset of rows (A EXCEPT ALL B, B EXCEPT ALL A),
every column as text except those a run draws afresh (uuid columns, ``id``, timestamptz stamps); partitioned_tables
(it names the schema) is skipped. Prints one line per table with rows, and exits 0 only when every table is equal.
POC_PARITY_DSN (default host=127.0.0.1 user=postgres dbname=postgres) names the database.
"""

from __future__ import annotations

import os
import sys

import psycopg2
from psycopg2 import sql

DSN = os.environ.get("POC_PARITY_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def main(a: str, b: str) -> int:
    differ = 0
    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
                    " AND c.relname <> 'partitioned_tables' ORDER BY 1", (a,))
        for (table,) in cur.fetchall():
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                        " AND data_type NOT IN ('uuid', 'timestamp with time zone') AND column_name <> 'id'"
                        " ORDER BY ordinal_position", (a, table))
            cols = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(r[0])) for r in cur.fetchall())
            ta, tb = sql.Identifier(a, table), sql.Identifier(b, table)
            cur.execute(sql.SQL("SELECT (SELECT count(*) FROM {ta}), (SELECT count(*) FROM (SELECT {c} FROM {ta} EXCEPT"
                                " ALL SELECT {c} FROM {tb}) x), (SELECT count(*) FROM (SELECT {c} FROM {tb} EXCEPT ALL"
                                " SELECT {c} FROM {ta}) y)").format(c=cols, ta=ta, tb=tb))
            rows, only_a, only_b = cur.fetchone()
            if rows or only_a or only_b:
                print(f"{table:60s} rows {rows:7d}  only in {a}: {only_a}  only in {b}: {only_b}")
            differ += only_a + only_b
    print("SAME ROWS" if not differ else f"DIFFERENT: {differ} rows")
    return 0 if not differ else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
