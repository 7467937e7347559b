"""The tenant rows OCP on AWS reads, and the few it creates as Koku's ingestion would (bill, account aliases).

Reads run in the caller's transaction; ``ensure_bill`` and ``ensure_account_aliases`` too (the caller commits).
"""

from __future__ import annotations

import calendar
import datetime as dt

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import candidate_string
from poc_tasks.db.connection import qualified
from poc_tasks.db.init import ensure_provider
from poc_tasks.db.koku_rows import inside_koku, missing
from poc_tasks.validate import validate_uuid

__all__ = ["report_period", "has_cluster", "ensure_bill", "bill_ids", "ensure_account_aliases", "account_aliases",
           "enabled_keys", "keys_exist", "postgres_matched_tags", "stamp_report_period"]

Connection = psycopg2.extensions.connection


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def report_period(conn: Connection, schema: str, ocp_uuid: str, month_start: dt.date) -> tuple[int, str, str] | None:
    """(id, cluster_id, cluster_alias) of the OCP source's report period of the month, lowest id; None if absent."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id, cluster_id, cluster_alias FROM {} WHERE provider_id = %s"
                            " AND report_period_start = %s ORDER BY id LIMIT 1").format(
            qualified(schema, "reporting_ocpusagereportperiod")), (validate_uuid(ocp_uuid), _utc(month_start)))
        row = cur.fetchone()
    return None if row is None else (int(row[0]), row[1], row[2])


def has_cluster(conn: Connection, schema: str, ocp_uuid: str) -> bool:
    """Koku returns early from update_aws_summary_tables when the OCP source has no OCPCluster row."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE provider_id = %s LIMIT 1").format(
            qualified(schema, "reporting_ocp_clusters")), (validate_uuid(ocp_uuid),))
        return cur.fetchone() is not None


def ensure_bill(conn: Connection, schema: str, aws_uuid: str, month_start: dt.date, payer_account_id: str | None,
                source_name: str = "AWS") -> None:
    """AWSReportParquetProcessor.create_bill: get_or_create(billing_period_start = the month's first day,
    billing_period_end = its last day (00:00 UTC), payer_account_id, provider); bill_type stays NULL.

    Inside Koku's database the bill is only looked up (KokuRowMissing if the source has none for the month)."""
    aws = validate_uuid(aws_uuid, "aws_provider_uuid")
    ensure_provider(conn, schema, aws, source_name, "AWS")
    start = _utc(month_start.replace(day=1))
    end = _utc(month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1]))
    table = qualified(schema, "reporting_awscostentrybill")
    with conn.cursor() as cur:
        if inside_koku(conn):  # Koku's AWS processing made the bill; never a second one of ours beside it
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND provider_id = %s").format(table),
                        (start, aws))
            if cur.fetchone() is None:
                raise missing(schema, "reporting_awscostentrybill", f"the {month_start:%Y-%m} bill of AWS source {aws}",
                              "Koku's AWS report processing (AWSReportParquetProcessor.create_bill)")
            return
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND billing_period_end = %s AND"
                            " payer_account_id IS NOT DISTINCT FROM %s AND provider_id = %s").format(table),
                    (start, end, payer_account_id, aws))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("INSERT INTO {} (billing_resource, payer_account_id, billing_period_start,"
                                " billing_period_end, provider_id) VALUES ('aws', %s, %s, %s, %s)").format(table),
                        (payer_account_id, start, end, aws))


def bill_ids(conn: Connection, schema: str, aws_uuid: str, month_start: dt.date, end: dt.date) -> list[int]:
    """The AWS source's bills with billing_period_start between the month's first day and `end`, by id."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id FROM {} WHERE provider_id = %s AND billing_period_start >= %s"
                            " AND billing_period_start <= %s ORDER BY id").format(
            qualified(schema, "reporting_awscostentrybill")),
            (validate_uuid(aws_uuid), _utc(month_start.replace(day=1)), _utc(end)))
        return [int(r[0]) for r in cur.fetchall()]


def ensure_account_aliases(conn: Connection, schema: str, accounts: set[str]) -> None:
    """An alias row per account that has none (Koku's update_account_aliases: the alias defaults to the id)."""
    accounts = {a for a in accounts if a}
    if not accounts:
        return
    with conn.cursor() as cur:
        execute_values(cur, sql.SQL("INSERT INTO {} (account_id, account_alias) VALUES %s"
                                    " ON CONFLICT (account_id) DO NOTHING").format(
            qualified(schema, "reporting_awsaccountalias")), [(a, a) for a in sorted(accounts)])


def account_aliases(conn: Connection, schema: str) -> dict[str, tuple[int, str | None]]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT account_id, id, account_alias FROM {}").format(
            qualified(schema, "reporting_awsaccountalias")))
        return {r[0]: (int(r[1]), r[2]) for r in cur.fetchall()}


def enabled_keys(conn: Connection, schema: str, provider_type: str) -> list[str]:
    """Keys with enabled = true for the provider type, sorted."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT DISTINCT key FROM {} WHERE enabled AND provider_type = %s").format(
            qualified(schema, "reporting_enabledtagkeys")), (provider_type,))
        return sorted(r[0] for r in cur.fetchall())


def keys_exist(conn: Connection, schema: str, provider_type: str) -> bool:
    """EnabledTagKeys.objects.filter(provider_type=...).exists(): any row, enabled or not."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE provider_type = %s LIMIT 1").format(
            qualified(schema, "reporting_enabledtagkeys")), (provider_type,))
        return cur.fetchone() is not None


def _exists(cur, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])


def postgres_matched_tags(conn: Connection, schema: str) -> list[str]:
    """Koku's matched-tag discovery from PostgreSQL (sql/aws/openshift/reporting_ocpaws_matched_tags.sql), as
    candidate strings: AWS (key, value) pairs of reporting_awstags_values equal, case-insensitively, to an
    OpenShift pair of reporting_ocptags_values, for keys the tenant lists (any state) for both; [] when those
    tables are empty or absent (then the caller falls back to the Parquet, as Koku falls back to Trino)."""
    with conn.cursor() as cur:
        if not all(_exists(cur, schema, t) for t in ("reporting_awstags_summary", "reporting_awstags_values",
                                                      "reporting_ocptags_values")):
            return []
        etk = qualified(schema, "reporting_enabledtagkeys")
        q = sql.SQL(
            "WITH aws_keys AS (SELECT DISTINCT s.key FROM {aws_summary} s JOIN {etk} e ON lower(e.key) = lower(s.key)),"
            " ocp_keys AS (SELECT DISTINCT v.key FROM {ocp_values} v JOIN {etk} e ON lower(e.key) = lower(v.key)"
            "   WHERE e.provider_type = 'OCP'),"
            " pairs AS (SELECT DISTINCT a.key AS aws_key, o.key AS ocp_key FROM aws_keys a JOIN ocp_keys o"
            "   ON lower(a.key) = lower(o.key)),"
            " aws_tags AS (SELECT DISTINCT v.key, v.value FROM {aws_values} v JOIN {etk} e"
            "   ON lower(e.key) = lower(v.key) WHERE v.key IN (SELECT aws_key FROM pairs) AND e.provider_type = 'AWS'),"
            " ocp_tags AS (SELECT DISTINCT v.key, v.value FROM {ocp_values} v JOIN {etk} e"
            "   ON lower(e.key) = lower(v.key) WHERE v.key IN (SELECT ocp_key FROM pairs) AND e.provider_type = 'OCP')"
            " SELECT a.key, a.value FROM aws_tags a JOIN ocp_tags o"
            "   ON lower(a.key) = lower(o.key) AND lower(a.value) = lower(o.value)"
        ).format(aws_summary=qualified(schema, "reporting_awstags_summary"),
                 aws_values=qualified(schema, "reporting_awstags_values"),
                 ocp_values=qualified(schema, "reporting_ocptags_values"), etk=etk)
        cur.execute(q)
        rows = cur.fetchall()
    return sorted({candidate_string(k, v) for k, v in rows})


def stamp_report_period(conn: Connection, schema: str, report_period_id: int) -> None:
    """reporting_ocpusagereportperiod.ocp_on_cloud_updated_datetime = now() (no commit)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET ocp_on_cloud_updated_datetime = now() WHERE id = %s").format(
            qualified(schema, "reporting_ocpusagereportperiod")), (int(report_period_id),))

