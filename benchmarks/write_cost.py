#!/usr/bin/env python3
"""PostgreSQL's side of writing the OCP daily summary: backend CPU seconds per part (#14, item 5).

Reads the rows a run wrote (schema.reporting_ocpusagelineitem_daily_summary) as the CSV the writer sends, then
COPYs that same CSV into plain copies of the table carrying chosen indexes (rolled back each time), and times
ANALYZE of the month partition on all columns and on writer.ANALYZE_COLUMNS. CPU is the backend's user+system
time from /proc/<pid>/stat (PostgreSQL on this machine), which stays meaningful on a loaded machine.

    python benchmarks/write_cost.py --dsn "host=127.0.0.1 user=postgres dbname=DB" --schema org9990001 \
        --partition reporting_ocpusagelineitem_daily_summary_2026_01 [--repeat 2]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from poc_tasks.db.writer import ANALYZE_COLUMNS  # noqa: E402
from poc_tasks.ocp.summary import SUMMARY_TABLE, WRITTEN_COLUMNS  # noqa: E402

BTREE = ["(usage_start, uuid)", "(cost_model_rate_type)", "(monthly_cost_type)", "(cost_category_id)",
         "(report_period_id)", "(data_source)", "(namespace varchar_pattern_ops)", "(node varchar_pattern_ops)",
         "(usage_start)"]
GIN = ["(all_labels)", "(pod_labels)", "(volume_labels)"]
VARIANTS = {"no index": [], "9 btree": [("btree", b) for b in BTREE], "3 gin": [("gin", g) for g in GIN],
            "all 12 (Koku's)": [("btree", b) for b in BTREE] + [("gin", g) for g in GIN]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--partition", required=True, help="the month partition to ANALYZE")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    conn = psycopg2.connect(args.dsn)
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    table = sql.Identifier(args.schema, SUMMARY_TABLE)
    cols = sql.SQL(", ").join(map(sql.Identifier, [*WRITTEN_COLUMNS, "uuid"]))
    buf = io.StringIO()
    cur.copy_expert(sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT WITH (FORMAT csv)").format(cols, table), buf)
    data = buf.getvalue().encode()
    conn.commit()
    rows = data.count(b"\n")
    print(f"{rows} rows, {len(data) / 1e6:.1f} MB of CSV")
    copy = sql.Identifier(args.schema, "poc_write_cost")
    for name, indexes in VARIANTS.items():
        for _ in range(args.repeat):
            cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(copy, table))
            for method, expr in indexes:
                cur.execute(sql.SQL("CREATE INDEX ON {} USING " + method + " " + expr).format(copy))
            c0, t0 = cpu(), time.perf_counter()
            cur.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(copy, cols), io.BytesIO(data))
            print(f"COPY into {name:18s} backend cpu {cpu() - c0:5.2f} s  wall {time.perf_counter() - t0:6.2f} s")
            conn.rollback()
    part = sql.Identifier(args.schema, args.partition)
    only = sql.SQL(", ").join(map(sql.Identifier, ANALYZE_COLUMNS[SUMMARY_TABLE]))
    for _ in range(args.repeat):
        for label, stmt in (("all columns", sql.SQL("ANALYZE {}").format(part)),
                            ("ANALYZE_COLUMNS", sql.SQL("ANALYZE {} ({})").format(part, only))):
            c0, t0 = cpu(), time.perf_counter()
            cur.execute(stmt)
            conn.commit()
            print(f"ANALYZE {label:16s} backend cpu {cpu() - c0:5.2f} s  wall {time.perf_counter() - t0:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
