"""Tenant rows OCP on Azure and OCP on GCP read, and the bill row they create as Koku's ingestion would.

The report period, cluster, enabled-key and stamp helpers of cloud/tenant.py are shared with AWS; this module adds
what the Azure and GCP flows need besides: their monthly bill (one per source and month, Koku's
``create_bill``), the disk tiers of ``public.reporting_common_diskcapacity`` and Koku's matched-tag discovery
from PostgreSQL. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import calendar
import datetime as dt

import psycopg2.extensions
from psycopg2 import sql

from poc_tasks.cloud.jsontext import TagJsonError, candidate_string, canonical_text
from poc_tasks.cloud.ocp_input import OCP_ROW_FILTER
from poc_tasks.db.connection import qualified
from poc_tasks.db.init import ensure_provider
from poc_tasks.db.koku_rows import inside_koku, missing
from poc_tasks.errors import ConfigurationError, InputFileError
from poc_tasks.validate import validate_identifier, validate_uuid

__all__ = ["ensure_month_bill", "month_bill_ids", "disk_tiers", "tag_keys", "keys_enabled_for_both",
           "postgres_matched_tags", "ocp_label_texts"]

Connection = psycopg2.extensions.connection


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def ensure_month_bill(conn: Connection, schema: str, bill_table: str, provider_uuid: str, provider_type: str,
                      source_name: str, month_start: dt.date) -> None:
    """{Azure,GCP}ReportParquetProcessor.create_bill: get_or_create(billing_period_start = the month's first day,
    billing_period_end = its last day, both 00:00 UTC, provider); the provider row is created if missing.
    Inside Koku's database both are only looked up (KokuRowMissing if absent)."""
    uuid = validate_uuid(provider_uuid, "provider_uuid")
    ensure_provider(conn, schema, uuid, source_name, provider_type)
    start = _utc(month_start.replace(day=1))
    end = _utc(month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1]))
    table = qualified(schema, validate_identifier(bill_table))
    with conn.cursor() as cur:
        if inside_koku(conn):  # Koku's report processing made the bill; never a second one of ours beside it
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND provider_id = %s").format(table),
                        (start, uuid))
            if cur.fetchone() is None:
                raise missing(schema, bill_table, f"the {month_start:%Y-%m} bill of {provider_type} source {uuid}",
                              f"Koku's {provider_type} report processing ({provider_type}ReportParquetProcessor"
                              ".create_bill)")
            return
        cur.execute(sql.SQL("SELECT 1 FROM {} WHERE billing_period_start = %s AND billing_period_end = %s"
                            " AND provider_id = %s").format(table), (start, end, uuid))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("INSERT INTO {} (billing_period_start, billing_period_end, provider_id)"
                                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(table), (start, end, uuid))


def month_bill_ids(conn: Connection, schema: str, bill_table: str, provider_uuid: str, month_start: dt.date,
                   end: dt.date) -> list[int]:
    """get_bills_from_provider: the source's bills with billing_period_start between the month's first day and
    `end`, by id."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id FROM {} WHERE provider_id = %s AND billing_period_start >= %s"
                            " AND billing_period_start <= %s ORDER BY id").format(
            qualified(schema, validate_identifier(bill_table))),
            (validate_uuid(provider_uuid), _utc(month_start.replace(day=1)), _utc(end)))
        return [int(r[0]) for r in cur.fetchall()]


def disk_tiers(conn: Connection) -> list[tuple[str, int]]:
    """(product_substring, capacity GiB) of Koku's Azure disk lookup (public.reporting_common_diskcapacity)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.reporting_common_diskcapacity') IS NOT NULL")
        if not cur.fetchone()[0]:
            raise ConfigurationError("public.reporting_common_diskcapacity does not exist: Koku's migrations (or "
                                     "poc-tasks init-db) create and seed it; OCP on Azure sizes disks from it")
        cur.execute("SELECT product_substring, capacity FROM public.reporting_common_diskcapacity"
                    " WHERE provider_type = 'Azure' ORDER BY product_substring")
        return [(r[0], int(r[1])) for r in cur.fetchall()]


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


def keys_enabled_for_both(conn: Connection, schema: str, provider_type: str) -> bool:
    """check_for_matching_enabled_keys: some key is enabled both for the cloud and for OCP."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM (SELECT key FROM {} WHERE enabled AND provider_type IN (%s, 'OCP')"
                            " GROUP BY key HAVING count(provider_type) > 1) AS c").format(
            qualified(schema, "reporting_enabledtagkeys")), (provider_type,))
        return cur.fetchone()[0] > 0


def _exists(cur, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])


def postgres_matched_tags(conn: Connection, schema: str, provider_type: str, tags_values_table: str,
                          cloud_enabled_only: bool) -> list[str]:
    """Koku's sql/{azure,gcp}/openshift/reporting_ocp{azure,gcp}_matched_tags.sql as candidate strings: the cloud's
    (key, value) pairs of its tag-values table whose key is listed for the cloud (Azure: and enabled) equal,
    case-insensitively, to a pair of reporting_ocptags_values whose key is listed for OCP. [] when the tables are
    empty or absent (then the caller falls back to the Parquet, as Koku falls back to Trino)."""
    with conn.cursor() as cur:
        if not all(_exists(cur, schema, t) for t in (tags_values_table, "reporting_ocptags_values")):
            return []
        enabled = sql.SQL(" AND e.enabled") if cloud_enabled_only else sql.SQL("")
        q = sql.SQL(
            "WITH cloud AS (SELECT DISTINCT v.key, v.value FROM {cloud} v JOIN {etk} e ON lower(e.key) = lower(v.key)"
            "   AND e.provider_type = %s{enabled}),"
            " ocp AS (SELECT DISTINCT v.key, v.value FROM {ocp} v JOIN {etk} e ON lower(e.key) = lower(v.key)"
            "   WHERE e.provider_type = 'OCP')"
            " SELECT c.key, c.value FROM cloud c JOIN ocp o ON lower(c.key) = lower(o.key)"
            "   AND lower(c.value) = lower(o.value)"
        ).format(cloud=qualified(schema, tags_values_table), ocp=qualified(schema, "reporting_ocptags_values"),
                 etk=qualified(schema, "reporting_enabledtagkeys"), enabled=enabled)
        cur.execute(q, (provider_type,))
        rows = cur.fetchall()
    return sorted({candidate_string(k, v) for k, v in rows})


def ocp_label_texts(conn: Connection, schema: str, source_uuid: str, first: dt.date,
                    last: dt.date) -> tuple[set[str], set[str]]:
    """The distinct pod-label and volume-label texts (as Trino writes them) of one OCP source's summary rows of the
    days [first, last]: what Koku's Trino matched-tag query unnests on the OpenShift side."""
    query = sql.SQL("SELECT DISTINCT pod_labels::text, volume_labels::text FROM {} WHERE source_uuid = %s"
                    " AND usage_start >= %s AND usage_start <= %s AND {}").format(
        qualified(schema, "reporting_ocpusagelineitem_daily_summary"), sql.SQL(OCP_ROW_FILTER))
    with conn.cursor() as cur:
        cur.execute(query, (validate_uuid(source_uuid), first, last))
        rows = cur.fetchall()
    try:
        pods = {canonical_text(p) for p, _v in rows if p}
        volumes = {canonical_text(v) for _p, v in rows if v}
    except TagJsonError as exc:
        raise InputFileError("reporting_ocpusagelineitem_daily_summary", f"unusable labels: {exc}",
                             "pod_labels") from exc
    return pods, volumes
