"""``init-db``: a tenant schema with every Koku table poc_tasks reads or writes, seeded as Koku seeds one.

Idempotent: re-running creates only what is missing and never touches existing rows. In production Koku's
migrations own these tables; this is for standalone use, demos and tests.

Choices:
- Koku's per-schema tracking table ``partitioned_tables`` is created, and every partition poc_tasks creates
  is recorded in it as Koku records its own (see partitions.py). Koku's trigger function that acts on that
  table is Koku's code and is not installed; in a database Koku migrated (where the function exists) the
  table gets Koku's ``tr_partition_manager`` trigger, and reporting_tenant_api_provider its foreign key to
  ``public.api_provider`` (see _link_koku_public).
- The seeds are those of Koku's migrations: 0300_squash ``add_platform_category`` (the "Platform" cost
  category) and 0315 ``PLATFORM_NAMESPACES`` (its namespace patterns, in that order). On a new schema the
  category gets id 1 and the patterns ids 1..4, as in a Koku tenant, so cost_category_id values compare.
"""

from __future__ import annotations

import datetime as dt

import psycopg2.extensions
from psycopg2 import sql
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from poc_tasks.db import (
    tables_aws,  # noqa: F401  (declares the OCP-on-AWS tables on the same metadata)
    tables_cost_model,  # noqa: F401  (declares Koku's cost-model tables on the same metadata)
    tables_daily,  # noqa: F401  (declares the cloud daily summary tables on the same metadata)
    tables_gcp,  # noqa: F401  (declares the OCP-on-GCP tables on the same metadata)
)
from poc_tasks.db.connection import advisory_xact_lock, connect, qualified, rollback_quietly
from poc_tasks.db.koku_rows import inside_koku, missing
from poc_tasks.db.partitions import ensure_default_partition, next_month
from poc_tasks.db.tables import is_partitioned, metadata
from poc_tasks.db.tables_azure import AZURE_DISK_TIERS, DISK_CAPACITY_TABLE
from poc_tasks.validate import validate_schema, validate_uuid

__all__ = [
    "init_tenant",
    "create_tables",
    "seed_cost_categories",
    "seed_disk_capacity",
    "ensure_provider",
    "ensure_report_period",
    "PLATFORM_CATEGORY",
    "PLATFORM_NAMESPACES",
]

Connection = psycopg2.extensions.connection

# reporting/migrations/0300_squash.py add_platform_category
PLATFORM_CATEGORY = {
    "name": "Platform",
    "description": "Default OpenShift projects bucketed into a Platform group",
    "source_type": "OCP",
    "system_default": True,
    "label": [],
}
# reporting/migrations/0315_openshiftcostcategorynamespace.py PLATFORM_NAMESPACES (system_default=True)
PLATFORM_NAMESPACES = ("openshift-%", "kube-%", "Platform unallocated", "openshift")


def _ddl(schema: str) -> list[str]:
    dialect = pg_dialect.dialect()
    opts = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
    out = []
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect, **opts)))
        for index in sorted(table.indexes, key=lambda i: i.name):
            out.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect, **opts)))
    return out


def create_tables(conn: Connection, schema: str) -> None:
    """CREATE SCHEMA / TABLE / INDEX IF NOT EXISTS for every declared table, plus default partitions."""
    validate_schema(schema)
    with conn.cursor() as cur:
        advisory_xact_lock(cur, f"init:{schema}")  # two concurrent init-db runs would race on the catalog
        advisory_xact_lock(cur, "init:public")  # ... also on the one shared table (disk capacity) of public
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        _ensure_uuid_generate_v4(cur)  # Koku's _p tables default their ids to public.uuid_generate_v4()
        for stmt in _ddl(schema):
            cur.execute(stmt)
        _link_koku_public(cur, schema)
        for table in metadata.sorted_tables:
            if is_partitioned(table):
                ensure_default_partition(cur, schema, table.name)


def _ensure_uuid_generate_v4(cur) -> None:
    """public.uuid_generate_v4(), the default of the id of Koku's OCP-on-cloud UI tables: from the uuid-ossp
    extension as in Koku; where the server has no uuid-ossp (some embedded builds), a one-line SQL function of that
    name over the built-in gen_random_uuid(), so the tables' DDL stays Koku's."""
    cur.execute("SELECT to_regprocedure('public.uuid_generate_v4()') IS NOT NULL")
    if cur.fetchone()[0]:
        return
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'uuid-ossp'")
    if cur.fetchone():
        cur.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    else:
        cur.execute("CREATE FUNCTION public.uuid_generate_v4() RETURNS uuid LANGUAGE sql VOLATILE"
                    " AS 'SELECT gen_random_uuid()'")


# Koku's name for the foreign key of reporting_tenant_api_provider.provider_id (Django's hashed name, as its
# migration 0300_squash made it in every tenant).
KOKU_PROVIDER_FK = "reporting_tenant_api_provider_id_a3bf3f0b_fk_api_provi"


def _link_koku_public(cur, schema: str) -> None:
    """The two objects of a Koku tenant that point into Koku's public schema, made only where their targets
    exist (a database migrated by Koku): the foreign key of reporting_tenant_api_provider.provider_id to
    public.api_provider, and the tr_partition_manager trigger of partitioned_tables, which runs Koku's
    public.trfn_partition_manager() (Koku's code: never installed by poc_tasks). A database made by init-db
    alone has neither target, so neither object; the DDL check lists them as its only differences there."""
    cur.execute("SELECT to_regclass('public.api_provider') IS NOT NULL,"
                " to_regprocedure('public.trfn_partition_manager()') IS NOT NULL")
    has_provider, has_trigger_function = cur.fetchone()
    if has_provider:
        cur.execute("SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'f'",
                    (f'"{schema}".reporting_tenant_api_provider',))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (provider_id) REFERENCES"
                                " public.api_provider (uuid) DEFERRABLE INITIALLY DEFERRED").format(
                qualified(schema, "reporting_tenant_api_provider"), sql.Identifier(KOKU_PROVIDER_FK)))
    if has_trigger_function:
        cur.execute("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = 'tr_partition_manager'",
                    (f'"{schema}".partitioned_tables',))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE TRIGGER tr_partition_manager AFTER INSERT OR DELETE OR UPDATE ON {}"
                                " FOR EACH ROW EXECUTE FUNCTION public.trfn_partition_manager()").format(
                qualified(schema, "partitioned_tables")))


def seed_cost_categories(conn: Connection, schema: str) -> None:
    """Koku's default "Platform" cost category and its namespace patterns, unless already there."""
    category = qualified(schema, "reporting_ocp_cost_category")
    namespaces = qualified(schema, "reporting_ocp_cost_category_namespace")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (name, description, source_type, system_default, label)"
                " VALUES (%(name)s, %(description)s, %(source_type)s, %(system_default)s, %(label)s::text[])"
                " ON CONFLICT (name) DO NOTHING"
            ).format(category),
            PLATFORM_CATEGORY,
        )
        cur.execute(sql.SQL("SELECT id FROM {} WHERE name = %s").format(category), (PLATFORM_CATEGORY["name"],))
        platform_id = cur.fetchone()[0]
        for pattern in PLATFORM_NAMESPACES:  # one by one: ids follow Koku's order
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (namespace, system_default, cost_category_id) VALUES (%s, true, %s)"
                    " ON CONFLICT (namespace) DO NOTHING"
                ).format(namespaces),
                (pattern, platform_id),
            )


def seed_disk_capacity(conn: Connection) -> None:
    """Koku's Azure disk tiers in public.reporting_common_diskcapacity (migration reporting_common 0041), unless
    already there; rows Koku's scrape_azure_storage_capacities task added or changed are left as they are."""
    with conn.cursor() as cur:
        for substring, capacity, provider in AZURE_DISK_TIERS:
            cur.execute(
                sql.SQL("INSERT INTO {} (product_substring, capacity, provider_type) VALUES (%s, %s, %s)"
                        " ON CONFLICT DO NOTHING").format(sql.Identifier("public", DISK_CAPACITY_TABLE)),
                (substring, capacity, provider),
            )


def init_tenant(database_url: str, schema: str) -> None:
    """Create (idempotently) and seed the tenant schema, in one transaction."""
    validate_schema(schema)
    conn = connect(database_url)
    try:
        create_tables(conn, schema)
        seed_cost_categories(conn, schema)
        seed_disk_capacity(conn)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    finally:
        conn.close()


def ensure_provider(conn: Connection, schema: str, provider_uuid: str, name: str, provider_type: str) -> None:
    """The tenant's reporting_tenant_api_provider row (Koku creates it with the source); no commit.

    An existing row is left as it is. Inside Koku's database (koku_rows.inside_koku) a missing row is an error
    naming it, never created.
    """
    cur_uuid = validate_uuid(provider_uuid, "provider_uuid")
    table = qualified(schema, "reporting_tenant_api_provider")
    with conn.cursor() as cur:
        if inside_koku(conn):
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE uuid = %s").format(table), (cur_uuid,))
            if cur.fetchone() is None:
                raise missing(schema, "reporting_tenant_api_provider", f"the {provider_type} provider {cur_uuid}",
                              "Koku's source creation (api_provider, then the tenant's provider row)")
            return
        cur.execute(
            sql.SQL("INSERT INTO {} (uuid, name, type) VALUES (%s, %s, %s) ON CONFLICT (uuid) DO NOTHING").format(
                table
            ),
            (cur_uuid, name, provider_type),
        )


def ensure_report_period(
    conn: Connection,
    schema: str,
    provider_uuid: str,
    cluster_id: str,
    cluster_alias: str | None,
    month_start: dt.date,
) -> int:
    """Get or create the report period row, as OCPReportParquetProcessor.create_bill does; return its id.

    Start is the 1st of the month 00:00 UTC, end the 1st of the next month; an existing row's
    cluster_alias is updated when it differs. Runs in the current transaction (no commit). The period
    references reporting_tenant_api_provider: a missing provider row (standalone use; Koku creates it with the
    source) is created as an 'OCP' provider named after the cluster alias.

    Inside Koku's database the period is only looked up (KokuRowMissing if absent): Koku's
    OCPReportParquetProcessor made it, with its own alias, before the summary.
    """
    provider = validate_uuid(provider_uuid, "provider_uuid")
    ensure_provider(conn, schema, provider, cluster_alias or cluster_id, "OCP")
    first = dt.date(month_start.year, month_start.month, 1)
    start = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC)
    nxt = next_month(first)
    end = dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)
    table = qualified(schema, "reporting_ocpusagereportperiod")
    if inside_koku(conn):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT id FROM {} WHERE cluster_id = %s AND report_period_start = %s"
                                " AND provider_id = %s").format(table), (cluster_id, start, provider))
            row = cur.fetchone()
        if row is None:
            raise missing(schema, "reporting_ocpusagereportperiod",
                          f"the report period of OCP source {provider}, cluster {cluster_id}, {first:%Y-%m}",
                          "Koku's OCP report processing (OCPReportParquetProcessor.create_bill)")
        return int(row[0])
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (cluster_id, cluster_alias, report_period_start, report_period_end, provider_id)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (cluster_id, report_period_start, provider_id) DO NOTHING"
            ).format(table),
            (cluster_id, cluster_alias, start, end, provider),
        )
        cur.execute(
            sql.SQL(
                "SELECT id, cluster_alias FROM {}"
                " WHERE cluster_id = %s AND report_period_start = %s AND provider_id = %s"
            ).format(table),
            (cluster_id, start, provider),
        )
        rp_id, alias = cur.fetchone()
        if alias != cluster_alias:
            cur.execute(sql.SQL("UPDATE {} SET cluster_alias = %s WHERE id = %s").format(table), (cluster_alias, rp_id))
    return int(rp_id)
