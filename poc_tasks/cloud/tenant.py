"""The tenant rows an OCP-on-cloud run reads, and the bill row it creates as Koku's ingestion would.

Shared by every provider: the OCP report period and cluster, the enabled and listed tag keys, the cloud bill of the
month (Koku's ``create_bill``), Koku's matched-tag discovery from PostgreSQL (Azure / GCP form; AWS's own query is in
cloud/aws.py), the OCP label texts the Trino fallback reads, and the report period's stamp. Everything runs in the
caller's transaction (the caller commits).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.cloud.jsontext import candidate_string
from poc_tasks.db.connection import qualified
from poc_tasks.db.init import ensure_provider
from poc_tasks.db.koku_rows import inside_koku, missing
from poc_tasks.validate import validate_identifier, validate_uuid

__all__ = ["report_period", "has_cluster", "ensure_bill", "month_bill", "bill_ids", "enabled_keys", "keys_exist",
           "tag_keys", "table_exists", "postgres_matched_tags", "stamp_report_period"]

Connection = psycopg2.extensions.connection


def utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def report_period(conn: Connection, schema: str, ocp_uuid: str, month_start: dt.date) -> tuple[int, str, str] | None:
    """(id, cluster_id, cluster_alias) of the OCP source's report period of the month, lowest id; None if absent."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id, cluster_id, cluster_alias FROM {} WHERE provider_id = %s"
                            " AND report_period_start = %s ORDER BY id LIMIT 1").format(
            qualified(schema, "reporting_ocpusagereportperiod")), (validate_uuid(ocp_uuid), utc(month_start)))
        row = cur.fetchone()
    return None if row is None else (int(row[0]), row[1], row[2])


def has_cluster(conn: Connection, schema: str, ocp_uuid: str) -> bool:
    """Koku returns early from update_{aws,azure}_summary_tables when the OCP source has no OCPCluster row."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE provider_id = %s LIMIT 1").format(
            qualified(schema, "reporting_ocp_clusters")), (validate_uuid(ocp_uuid),))
        return cur.fetchone() is not None


def ensure_bill(conn: Connection, schema: str, bill_table: str, provider_uuid: str, provider_type: str,
                month_start: dt.date, match: dict[str, Any] | None = None,
                defaults: dict[str, Any] | None = None, source_name: str | None = None) -> None:
    """{AWS,Azure,GCP}ReportParquetProcessor.create_bill: get_or_create(billing_period_start = the month's first day,
    billing_period_end = its last day, both 00:00 UTC, provider, and the provider's `match` columns: AWS's payer
    account), with `defaults` on insert (AWS's billing resource); the provider row (`source_name`) is created if
    missing.
    Inside Koku's database the bill is only looked up (KokuRowMissing if the source has none for the month)."""
    uuid = validate_uuid(provider_uuid, "provider_uuid")
    ensure_provider(conn, schema, uuid, source_name or provider_type, provider_type)
    start = utc(month_start.replace(day=1))
    table = qualified(schema, validate_identifier(bill_table))
    if inside_koku(conn):  # Koku's report processing made the bill; never a second one of ours beside it
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND provider_id = %s").format(table),
                        (start, uuid))
            if cur.fetchone() is None:
                raise missing(schema, bill_table, f"the {month_start:%Y-%m} bill of {provider_type} source {uuid}",
                              f"Koku's {provider_type} report processing ({provider_type}ReportParquetProcessor"
                              ".create_bill)")
        return
    end = utc(month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1]))
    match = {validate_identifier(k): v for k, v in (match or {}).items()}
    row = {**{validate_identifier(k): v for k, v in (defaults or {}).items()}, **match,
           "billing_period_start": start, "billing_period_end": end, "provider_id": uuid}
    same = sql.SQL("").join(sql.SQL(" AND {} IS NOT DISTINCT FROM %s").format(sql.Identifier(k)) for k in match)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND billing_period_end = %s"
                            " AND provider_id = %s{}").format(table, same), (start, end, uuid, *match.values()))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
                table, sql.SQL(", ").join(sql.Identifier(k) for k in row),
                sql.SQL(", ").join(sql.Placeholder() * len(row))), tuple(row.values()))


def month_bill(conn: Connection, spec: Any, _sources: Any, bill_table: str, provider_type: str) -> dict[str, Any]:
    """A provider's prepare_tenant when its ingestion makes nothing but the month's bill (Azure, GCP)."""
    ensure_bill(conn, spec.schema_name, bill_table, spec.cloud_provider_uuid, provider_type, spec.start_date)
    return {}


def bill_ids(conn: Connection, schema: str, bill_table: str, provider_uuid: str, month_start: dt.date,
             end: dt.date) -> list[int]:
    """get_bills_from_provider: the source's bills with billing_period_start between the month's first day and
    `end`, by id."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id FROM {} WHERE provider_id = %s AND billing_period_start >= %s"
                            " AND billing_period_start <= %s ORDER BY id").format(
            qualified(schema, validate_identifier(bill_table))),
            (validate_uuid(provider_uuid), utc(month_start.replace(day=1)), utc(end)))
        return [int(r[0]) for r in cur.fetchall()]


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


def tag_keys(conn: Connection, schema: str, provider_type: str | None = None) -> list[str]:
    """Every key listed in reporting_enabledtagkeys (enabled or not), of one provider type or of all."""
    query = sql.SQL("SELECT DISTINCT key FROM {}").format(qualified(schema, "reporting_enabledtagkeys"))
    params: tuple = ()
    if provider_type is not None:
        query += sql.SQL(" WHERE provider_type = %s")
        params = (provider_type,)
    with conn.cursor() as cur:
        cur.execute(query, params)
        return sorted(r[0] for r in cur.fetchall())


def table_exists(cur, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])


# the cloud's listed (key, value) pairs equal, case-insensitively, to OCP's; {enabled}: Azure's "and enabled"
_MATCHED_TAGS = """
WITH cloud AS (SELECT DISTINCT v.key, v.value FROM {cloud} v
                 JOIN {etk} e ON lower(e.key) = lower(v.key) AND e.provider_type = %s{enabled}),
     ocp AS (SELECT DISTINCT v.key, v.value FROM {ocp} v
               JOIN {etk} e ON lower(e.key) = lower(v.key) WHERE e.provider_type = 'OCP')
SELECT c.key, c.value FROM cloud c JOIN ocp o ON lower(c.key) = lower(o.key) AND lower(c.value) = lower(o.value)
"""


def postgres_matched_tags(conn: Connection, schema: str, provider_type: str, tags_values_table: str,
                          cloud_enabled_only: bool) -> list[str]:
    """Koku's sql/{azure,gcp}/openshift/reporting_ocp{azure,gcp}_matched_tags.sql as candidate strings: the cloud's
    (key, value) pairs of its tag-values table whose key is listed for the cloud (Azure: and enabled) equal,
    case-insensitively, to a pair of reporting_ocptags_values whose key is listed for OCP. [] when the tables are
    empty or absent (then the caller falls back to the Parquet, as Koku falls back to Trino)."""
    with conn.cursor() as cur:
        if not all(table_exists(cur, schema, t) for t in (tags_values_table, "reporting_ocptags_values")):
            return []
        enabled = sql.SQL(" AND e.enabled") if cloud_enabled_only else sql.SQL("")
        q = sql.SQL(_MATCHED_TAGS).format(cloud=qualified(schema, tags_values_table), enabled=enabled,
                                          ocp=qualified(schema, "reporting_ocptags_values"),
                                          etk=qualified(schema, "reporting_enabledtagkeys"))
        cur.execute(q, (provider_type,))
        rows = cur.fetchall()
    return sorted({candidate_string(k, v) for k, v in rows})


def stamp_report_period(conn: Connection, schema: str, report_period_id: int) -> None:
    """reporting_ocpusagereportperiod.ocp_on_cloud_updated_datetime = now() (no commit)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET ocp_on_cloud_updated_datetime = now() WHERE id = %s").format(
            qualified(schema, "reporting_ocpusagereportperiod")), (int(report_period_id),))
