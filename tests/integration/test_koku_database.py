"""poc_tasks in a database Koku migrated: init-db's DDL against Koku's (snapshot), and the rows Koku owns.

A "Koku database" here is a throw-away database with the two public objects of Koku that a tenant schema points
to: ``public.api_provider`` (the sources) and ``public.trfn_partition_manager()`` (the trigger function of
``partitioned_tables``), as stand-ins with only what the references need. The real ones are Koku's; the
snapshot integration/koku_ddl_snapshot.json was taken from a tenant that Koku 768be8253 made
(integration/run_koku.py refreshes it).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql

from poc_tasks.cloud import tenant as cloud_tenant
from poc_tasks.db.connection import connect
from poc_tasks.db.ddl_snapshot import describe, diff, poc_table_names
from poc_tasks.db.init import ensure_provider, ensure_report_period, init_tenant
from poc_tasks.db.koku_rows import inside_koku
from poc_tasks.errors import KokuRowMissing
from poc_tasks.settings import libpq_url

SNAPSHOT = Path(__file__).resolve().parents[2] / "integration" / "koku_ddl_snapshot.json"
JAN = dt.date(2026, 1, 1)
OCP_SOURCE = "6a9c5c64-0c3e-4b56-9d43-2fb0bd0b3a01"
AWS_SOURCE = "0f5b0c1e-7d35-4a0c-9b8e-5d36a2b1c302"


def _aws_bill(conn, schema: str) -> None:
    """OCP on AWS's bill of January (payer 111111111111), as cloud/aws.py's prepare makes it."""
    cloud_tenant.ensure_bill(conn, schema, "reporting_awscostentrybill", AWS_SOURCE, "AWS", JAN,
                             match={"payer_account_id": "111111111111"}, defaults={"billing_resource": "aws"})


def _with_database(pg_url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(libpq_url(pg_url))
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def koku_db(pg_url: str) -> Iterator[str]:
    """URL of a fresh database with Koku's public.api_provider and public.trfn_partition_manager() stand-ins."""
    name = f"poc_kokudb_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(libpq_url(pg_url))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = _with_database(pg_url, name)
        conn = psycopg2.connect(libpq_url(url))
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE public.api_provider (uuid uuid PRIMARY KEY, name text NOT NULL)")
            cur.execute("CREATE FUNCTION public.trfn_partition_manager() RETURNS trigger LANGUAGE plpgsql"
                        " AS $$BEGIN RETURN NULL; END$$")
        conn.close()
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def _snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


def test_snapshot_covers_every_table_init_db_creates() -> None:
    snap = _snapshot()
    assert sorted(snap) == poc_table_names()
    assert all(snap[name] is not None for name in snap), "a table init-db creates is missing from Koku's tenant"
    # the cost model's output tables (the _rtu statements, the VM UI), partitioned as Koku's migrations make them;
    # rates_to_usage's foreign keys cascade in the database since Koku's migration 0353
    for table in ("rates_to_usage", "reporting_ocp_vm_summary_p"):
        assert snap[table]["partition_key"] == "RANGE (usage_start)"
    cascades = sorted(d.split(" REFERENCES ")[0] for d in snap["rates_to_usage"]["constraints"].values()
                      if "ON DELETE CASCADE" in d)
    assert cascades == ["f: FOREIGN KEY (cost_model_id)", "f: FOREIGN KEY (rate_id)",
                        "f: FOREIGN KEY (report_period_id)", "f: FOREIGN KEY (source_uuid)"]


def test_init_db_in_a_koku_database_has_kokus_ddl(koku_db: str) -> None:
    schema = "org_ddl_koku"
    init_tenant(koku_db, schema)
    init_tenant(koku_db, schema)  # idempotent: the foreign key and trigger are not added twice
    conn = connect(koku_db)
    try:
        described = describe(conn, schema)
    finally:
        conn.close()
    renamed: list[str] = []
    accepted: list[str] = []
    assert diff(_snapshot(), described, renamed, accepted) == []
    assert accepted == ["cost_model trigger cost_model_audit"]  # Koku's cost-model audit trail: ACCEPTED
    assert renamed, "Django's hashed names are spelled readably in tables.py (a name-only difference)"
    assert described["reporting_tenant_api_provider"]["constraints"][
        "reporting_tenant_api_provider_id_a3bf3f0b_fk_api_provi"].startswith("f: FOREIGN KEY (provider_id)")
    assert list(described["partitioned_tables"]["triggers"]) == ["tr_partition_manager"]


def test_init_db_standalone_differs_only_by_kokus_public_links(pg_conn, tenant_schema: str) -> None:
    """Without Koku's public objects there is nothing to reference: the foreign key and the trigger are the only
    differences, and the check names both."""
    differences = diff(_snapshot(), describe(pg_conn, tenant_schema))
    assert len(differences) == 2, differences
    assert differences[0].startswith("partitioned_tables trigger tr_partition_manager: missing")
    assert differences[1].startswith(
        "reporting_tenant_api_provider constraint reporting_tenant_api_provider_id_a3bf3f0b_fk_api_provi: missing")


def test_diff_names_a_changed_default_and_a_missing_index() -> None:
    snap = _snapshot()
    changed = json.loads(json.dumps(snap))
    changed["reporting_ocpaws_cost_summary_p"]["columns"]["id"]["default"] = None
    del changed["reporting_awsenabledcategorykeys"]["indexes"]["reporting_awsenabledcategorykeys_key_idx"]
    assert diff(snap, changed) == [
        "reporting_awsenabledcategorykeys index reporting_awsenabledcategorykeys_key_idx: missing (Koku: CREATE"
        " INDEX ON {schema}.reporting_awsenabledcategorykeys USING btree (key varchar_pattern_ops))",
        "reporting_ocpaws_cost_summary_p column id: Koku {'default': 'uuid_generate_v4()', 'identity': None,"
        " 'not_null': True, 'type': 'uuid'} != {'default': None, 'identity': None, 'not_null': True,"
        " 'type': 'uuid'}",
    ]


# --- rows Koku owns ----------------------------------------------------------------------------------------------

def _count(conn, schema: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        return cur.fetchone()[0]


@pytest.fixture
def koku_tenant(koku_db: str) -> Iterator[tuple[psycopg2.extensions.connection, str]]:
    schema = "org_rows_koku"
    init_tenant(koku_db, schema)
    conn = connect(koku_db)
    yield conn, schema
    conn.close()


def test_a_koku_database_is_recognised(koku_tenant, pg_conn) -> None:
    conn, _ = koku_tenant
    assert inside_koku(conn) is True
    assert inside_koku(pg_conn) is False
    pg_conn.rollback()


def test_missing_report_period_is_named_and_nothing_is_created(koku_tenant) -> None:
    conn, schema = koku_tenant
    with conn.cursor() as cur:  # Koku's source: the public row and the tenant's provider row
        cur.execute("INSERT INTO public.api_provider (uuid, name) VALUES (%s, 'cluster')", (OCP_SOURCE,))
        cur.execute(sql.SQL("INSERT INTO {} (uuid, name, type, provider_id) VALUES (%s, 'cluster', 'OCP', %s)")
                    .format(sql.Identifier(schema, "reporting_tenant_api_provider")), (OCP_SOURCE, OCP_SOURCE))
    conn.commit()
    with pytest.raises(KokuRowMissing) as err:
        ensure_report_period(conn, schema, OCP_SOURCE, "my-cluster", "My Cluster", JAN)
    conn.rollback()
    assert err.value.table == f"{schema}.reporting_ocpusagereportperiod"
    assert f"OCP source {OCP_SOURCE}, cluster my-cluster, 2026-01" in str(err.value)
    assert _count(conn, schema, "reporting_ocpusagereportperiod") == 0
    # Koku's period (its own alias) is used as it is, never renamed
    with conn.cursor() as cur:
        cur.execute(sql.SQL("INSERT INTO {} (cluster_id, cluster_alias, report_period_start, report_period_end,"
                            " provider_id) VALUES ('my-cluster', 'Koku alias', '2026-01-01', '2026-02-01', %s)"
                            " RETURNING id").format(sql.Identifier(schema, "reporting_ocpusagereportperiod")),
                    (OCP_SOURCE,))
        rp_id = cur.fetchone()[0]
    conn.commit()
    assert ensure_report_period(conn, schema, OCP_SOURCE, "my-cluster", "My Cluster", JAN) == rp_id
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT cluster_alias FROM {}").format(
            sql.Identifier(schema, "reporting_ocpusagereportperiod")))
        assert cur.fetchall() == [("Koku alias",)]


def test_missing_provider_row_is_named(koku_tenant) -> None:
    conn, schema = koku_tenant
    with pytest.raises(KokuRowMissing) as err:
        ensure_provider(conn, schema, OCP_SOURCE, "cluster", "OCP")
    conn.rollback()
    assert err.value.table == f"{schema}.reporting_tenant_api_provider"
    assert OCP_SOURCE in str(err.value) and "Koku's source creation" in str(err.value)
    assert _count(conn, schema, "reporting_tenant_api_provider") == 0


def test_missing_bills_are_named_and_never_created(koku_tenant) -> None:
    conn, schema = koku_tenant
    with conn.cursor() as cur:
        cur.execute("INSERT INTO public.api_provider (uuid, name) VALUES (%s, 'aws')", (AWS_SOURCE,))
        cur.execute(sql.SQL("INSERT INTO {} (uuid, name, type, provider_id) VALUES (%s, 'aws', 'AWS', %s)")
                    .format(sql.Identifier(schema, "reporting_tenant_api_provider")), (AWS_SOURCE, AWS_SOURCE))
    conn.commit()
    with pytest.raises(KokuRowMissing) as err:
        _aws_bill(conn, schema)
    conn.rollback()
    assert err.value.table == f"{schema}.reporting_awscostentrybill"
    assert f"2026-01 bill of AWS source {AWS_SOURCE}" in str(err.value)
    with pytest.raises(KokuRowMissing) as err:
        cloud_tenant.ensure_bill(conn, schema, "reporting_azurecostentrybill", AWS_SOURCE, "Azure", JAN,
                                 source_name="az")
    conn.rollback()
    assert err.value.table == f"{schema}.reporting_azurecostentrybill"
    assert _count(conn, schema, "reporting_awscostentrybill") == 0
    assert _count(conn, schema, "reporting_azurecostentrybill") == 0
    # Koku's bill (billing_resource and payer as Koku's processing wrote them) is the one used; no second bill
    with conn.cursor() as cur:
        cur.execute(sql.SQL("INSERT INTO {} (billing_resource, payer_account_id, billing_period_start,"
                            " billing_period_end, provider_id) VALUES ('aws', '999999999999', '2026-01-01',"
                            " '2026-01-31', %s)").format(sql.Identifier(schema, "reporting_awscostentrybill")),
                    (AWS_SOURCE,))
    conn.commit()
    _aws_bill(conn, schema)
    conn.commit()
    assert _count(conn, schema, "reporting_awscostentrybill") == 1


def test_standalone_schema_keeps_creating_rows(pg_conn, tenant_schema: str) -> None:
    rp = ensure_report_period(pg_conn, tenant_schema, OCP_SOURCE, "my-cluster", "My Cluster", JAN)
    _aws_bill(pg_conn, tenant_schema)
    pg_conn.commit()
    assert rp > 0
    assert _count(pg_conn, tenant_schema, "reporting_tenant_api_provider") == 2
    assert _count(pg_conn, tenant_schema, "reporting_awscostentrybill") == 1
    pg_conn.rollback()  # end the reading transaction: the schema is dropped after the test
