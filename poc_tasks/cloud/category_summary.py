"""reporting_ocpawscategory_summary: the AWS cost-category keys and values of the OCP-on-AWS project rows (§5.3).

Koku runs this once per run, after every chunk, in PostgreSQL over the project table (every cluster's rows of the
run's bills and dates, not only this run's), so it runs here the same way, after the project table is written:
- summary rows of category keys disabled in reporting_awsenabledcategorykeys are deleted;
- per (key, bill, usage account) of the enabled keys, the distinct values, unioned with the stored row's values
  when the stored row has the same account alias (an alias-less row is never merged, as in Koku), upserted on
  (key, bill, usage account); the alias is the account's reporting_awsaccountalias id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.db.connection import qualified

__all__ = ["update_category_summary"]
LOG = logging.getLogger(__name__)


def update_category_summary(conn: psycopg2.extensions.connection, schema: str, bill_ids: Sequence[int],
                            start: dt.date, end: dt.date) -> int:
    """Apply the category summary of [start, end] in the caller's transaction; returns the rows upserted."""
    t = {name: qualified(schema, name) for name in (
        "reporting_ocpawscategory_summary", "reporting_awsenabledcategorykeys",
        "reporting_ocpawscostlineitem_project_daily_summary_p", "reporting_awsaccountalias")}
    summary, keys = t["reporting_ocpawscategory_summary"], t["reporting_awsenabledcategorykeys"]
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                    (f'"{schema}"."reporting_ocpawscategory_summary"',
                     f'"{schema}"."reporting_awsenabledcategorykeys"'))
        if not cur.fetchone()[0]:  # a schema made before these tables were declared: nothing to summarise into
            LOG.warning("%s has no reporting_ocpawscategory_summary / reporting_awsenabledcategorykeys (run "
                        "init-db): cost-category summary skipped", schema)
            return 0
        cur.execute(sql.SQL("DELETE FROM {} s WHERE s.key IN (SELECT k.key FROM {} k WHERE NOT k.enabled)")
                    .format(summary, keys))
        bills = sql.SQL(" AND p.cost_entry_bill_id = ANY(%(bills)s)") if bill_ids else sql.SQL("")
        query = sql.SQL(
            "WITH pairs AS ("
            "  SELECT DISTINCT c.key, c.value, p.cost_entry_bill_id AS bill, p.usage_account_id AS account"
            "    FROM {project} p CROSS JOIN LATERAL jsonb_each_text(p.aws_cost_category) c"
            "   WHERE p.usage_start >= %(start)s AND p.usage_start <= %(end)s"
            "     AND p.aws_cost_category ?| (SELECT array_agg(DISTINCT k.key) FROM {keys} k WHERE k.enabled)"
            "{bills}"
            "), fresh AS ("
            "  SELECT pairs.key, array_agg(DISTINCT pairs.value) AS vals, pairs.bill, pairs.account,"
            "         a.id AS alias"
            "    FROM pairs JOIN {keys} k ON k.key = pairs.key AND k.enabled"
            "    LEFT JOIN {alias} a ON a.account_id = pairs.account"
            "   GROUP BY pairs.key, pairs.bill, pairs.account, a.id"
            "), merged AS ("
            "  SELECT f.key, f.bill, f.account, f.alias,"
            "         ARRAY(SELECT DISTINCT v FROM unnest(f.vals || coalesce(s.values, '{{}}'::text[])) AS v"
            "               ORDER BY v) AS vals"
            "    FROM fresh f LEFT JOIN {summary} s ON s.key = f.key AND s.cost_entry_bill_id = f.bill"
            "     AND s.usage_account_id = f.account AND s.account_alias_id = f.alias"
            ")"
            " INSERT INTO {summary} (uuid, key, cost_entry_bill_id, usage_account_id, account_alias_id, values)"
            " SELECT gen_random_uuid(), key, bill, account, alias, vals FROM merged"
            " ON CONFLICT (key, cost_entry_bill_id, usage_account_id) DO UPDATE SET values = EXCLUDED.values"
        ).format(project=t["reporting_ocpawscostlineitem_project_daily_summary_p"], keys=keys, bills=bills,
                 alias=t["reporting_awsaccountalias"], summary=summary)
        cur.execute(query, {"start": start, "end": end, "bills": list(bill_ids)})
        return cur.rowcount
