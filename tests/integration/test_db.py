"""poc_tasks.db on the real PostgreSQL: Koku's tables, partitions, the transactional writer, tenant reads.

Every test gets its own tenant schema (tests/integration/conftest.py). Expected values are written by hand
from Koku's models, migrations and accessor code.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import uuid

import pandas as pd
import psycopg2
import pyarrow as pa
import pytest
from psycopg2 import sql

from poc_tasks.db import tenant
from poc_tasks.db.encode import CsvStream, pg_array_literal, random_uuid_array
from poc_tasks.db.init import ensure_report_period, init_tenant
from poc_tasks.db.partitions import ensure_month_partitions
from poc_tasks.db.tables import SUMMARY_COLUMNS, SUMMARY_TABLE, is_partitioned, metadata
from poc_tasks.db.writer import ANALYZE_COLUMNS, copy_rows, replace_daily_summary, replace_rows
from poc_tasks.errors import InvalidArgument

pytestmark = pytest.mark.integration

SOURCE = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
JAN = dt.date(2026, 1, 1)


@pytest.fixture
def pg_conn(pg_conn, tenant_schema):
    """The conftest connection with the test's tenant first on the search path (queries below name no schema)."""
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(tenant_schema)))
    pg_conn.commit()
    return pg_conn


def _fetch(conn, query: str | sql.Composable, params=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.commit()
    return rows


def _period(conn, schema: str, month: dt.date = JAN, source: str = SOURCE) -> int:
    rp = ensure_report_period(conn, schema, source, "my-cluster", "My Cluster", month)
    conn.commit()
    return rp


def _summary_rows(rp: int, days: list[int], namespace: str = "ns", **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_period_id": [rp] * len(days),
            "usage_start": [dt.date(2026, 1, d) for d in days],
            "usage_end": [dt.date(2026, 1, d) for d in days],
            "namespace": [namespace] * len(days),
            "data_source": ["Pod"] * len(days),
            "pod_usage_cpu_core_hours": [float(d) for d in days],
            **extra,
        }
    )


def _summary(conn, schema: str, cols: str = "namespace, usage_start, pod_usage_cpu_core_hours") -> list[tuple]:
    query = sql.SQL("SELECT {} FROM reporting_ocpusagelineitem_daily_summary").format(sql.SQL(cols))
    return sorted(_fetch(conn, query), key=repr)


# --- init-db ---------------------------------------------------------------------------------------------


def test_init_tenant_creates_koku_tables_and_seeds_once(pg_url, tenant_schema, pg_conn):
    init_tenant(pg_url, tenant_schema)  # the fixture ran it once already
    tables = {r[0] for r in _fetch(pg_conn, "SELECT tablename FROM pg_tables WHERE schemaname = %s", (tenant_schema,))}
    defaults = {f"{t.name}_default" for t in metadata.sorted_tables if is_partitioned(t)}
    assert SUMMARY_TABLE in tables and f"{SUMMARY_TABLE}_default" in defaults
    assert tables == {t.name for t in metadata.sorted_tables if t.schema is None} | defaults
    assert _fetch(
        pg_conn,
        "SELECT id, name, source_type, system_default, label FROM reporting_ocp_cost_category",
    ) == [(1, "Platform", "OCP", True, [])]
    assert _fetch(
        pg_conn,
        "SELECT id, namespace, system_default, cost_category_id FROM reporting_ocp_cost_category_namespace ORDER BY id",
    ) == [
        (1, "openshift-%", True, 1),
        (2, "kube-%", True, 1),
        (3, "Platform unallocated", True, 1),
        (4, "openshift", True, 1),
    ]
    # every partitioned table's default partition is tracked, once (init ran twice)
    assert sorted(_fetch(pg_conn, "SELECT table_name, partition_parameters FROM partitioned_tables")) == sorted(
        (name, {"default": True}) for name in defaults
    )


def test_init_tenant_rejects_a_non_tenant_schema(pg_url):
    with pytest.raises(InvalidArgument):
        init_tenant(pg_url, "public")


def _columns(conn, schema: str, table: str) -> dict[str, tuple[str, str]]:
    rows = _fetch(
        conn,
        "SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable FROM information_schema.columns c"
        " JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass"
        " AND a.attname = c.column_name WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def test_summary_table_is_koku_shaped(tenant_schema, pg_conn):
    cols = _columns(pg_conn, tenant_schema, SUMMARY_TABLE)
    assert len(cols) == 58 == len(SUMMARY_COLUMNS)
    expected = {
        "uuid": ("uuid", "NO"),
        "report_period_id": ("integer", "YES"),
        "cost_category_id": ("integer", "YES"),
        "cluster_id": ("character varying(50)", "YES"),
        "cluster_alias": ("character varying(256)", "YES"),
        "data_source": ("character varying(64)", "YES"),
        "namespace": ("character varying(253)", "YES"),
        "usage_start": ("date", "NO"),
        "usage_end": ("date", "NO"),
        "pod_labels": ("jsonb", "YES"),
        "all_labels": ("jsonb", "YES"),
        "pod_usage_cpu_core_hours": ("numeric(33,15)", "YES"),
        "node_capacity_cpu_cores": ("numeric(33,15)", "YES"),
        "infrastructure_raw_cost": ("numeric(33,15)", "YES"),
        "infrastructure_usage_cost": ("jsonb", "YES"),
        "cost_model_gpu_cost": ("numeric(33,15)", "YES"),
        "cost_model_rate_type": ("text", "YES"),
        "source_uuid": ("uuid", "YES"),
        "distributed_cost": ("numeric(33,15)", "YES"),
    }
    assert {k: cols[k] for k in expected} == expected
    assert "csi_volume_handle" not in cols  # Koku's Postgres table has none
    # koku/database.py: the PK of a partitioned table is the partition column, then the model's key
    assert _fetch(
        pg_conn,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' AND conrelid = %s::regclass",
        (SUMMARY_TABLE,),
    ) == [(f"{SUMMARY_TABLE}_pk", "PRIMARY KEY (usage_start, uuid)")]
    assert _fetch(pg_conn, "SELECT pg_get_partkeydef(%s::regclass)", (SUMMARY_TABLE,)) == [("RANGE (usage_start)",)]
    indexes = dict(
        _fetch(pg_conn, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (tenant_schema,))
    )
    assert "USING gin (all_labels)" in indexes["all_labels_idx"]
    assert "(namespace varchar_pattern_ops)" in indexes["summary_namespace_idx"]


def test_other_tables_are_koku_shaped(tenant_schema, pg_conn):
    assert _columns(pg_conn, tenant_schema, "reporting_ocp_nodes")["node_capacity_cpu_cores"] == (
        "numeric(18,2)",
        "YES",
    )
    assert _columns(pg_conn, tenant_schema, "reporting_enabledtagkeys")["key"] == ("character varying(512)", "NO")
    assert _columns(pg_conn, tenant_schema, "reporting_ocp_cost_category")["label"] == ("text[]", "NO")
    period = _columns(pg_conn, tenant_schema, "reporting_ocpusagereportperiod")
    assert period["report_period_start"] == ("timestamp with time zone", "NO")
    assert period["provider_id"] == ("uuid", "NO")
    uniques = {
        r[0]
        for r in _fetch(
            pg_conn,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'u' AND connamespace = %s::regnamespace",
            (tenant_schema,),
        )
    }
    assert "UNIQUE (cluster_id, report_period_start, provider_id)" in uniques
    assert "UNIQUE (key, provider_type)" in uniques
    assert "UNIQUE (persistent_volume, persistent_volume_claim, cluster_id)" in uniques


# --- partitions ------------------------------------------------------------------------------------------


def _where_rows_live(conn, schema: str) -> list[tuple]:
    return sorted(
        _fetch(conn, "SELECT tableoid::regclass::text, usage_start FROM reporting_ocpusagelineitem_daily_summary"),
        key=repr,
    )


def test_month_partition_moves_rows_out_of_default(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    frame = _summary_rows(rp, [3]).assign(usage_start=[dt.date(2026, 1, 3)])
    feb = _summary_rows(rp, [3]).assign(usage_start=[dt.date(2026, 2, 3)], usage_end=[dt.date(2026, 2, 3)])
    copy_rows(pg_conn, tenant_schema, SUMMARY_TABLE, [frame, feb])
    pg_conn.commit()
    default = f"{SUMMARY_TABLE}_default"  # regclass text: the tenant is on the search path
    assert [r[0] for r in _where_rows_live(pg_conn, tenant_schema)] == [default, default]

    assert ensure_month_partitions(pg_conn, tenant_schema, SUMMARY_TABLE, [dt.date(2026, 1, 17)]) == [
        f"{SUMMARY_TABLE}_2026_01"
    ]
    pg_conn.commit()
    assert _where_rows_live(pg_conn, tenant_schema) == [
        (f"{SUMMARY_TABLE}_2026_01", dt.date(2026, 1, 3)),
        (default, dt.date(2026, 2, 3)),
    ]
    assert ensure_month_partitions(pg_conn, tenant_schema, SUMMARY_TABLE, [JAN]) == []  # idempotent
    bounds = _fetch(
        pg_conn,
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = %s::regclass",
        (f"{SUMMARY_TABLE}_2026_01",),
    )
    assert bounds == [("FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')",)]
    tracked = _fetch(
        pg_conn,
        "SELECT partition_parameters FROM partitioned_tables WHERE table_name = %s",
        (f"{SUMMARY_TABLE}_2026_01",),
    )
    assert tracked == [({"default": False, "from": "2026-01-01", "to": "2026-02-01"},)]


def test_concurrent_partition_creation_waits_and_creates_once(pg_url, tenant_schema, pg_conn):
    from poc_tasks.db.connection import connect

    assert ensure_month_partitions(pg_conn, tenant_schema, SUMMARY_TABLE, [JAN]) == [f"{SUMMARY_TABLE}_2026_01"]
    other = connect(pg_url)
    result: dict = {}

    def second() -> None:
        try:
            result["created"] = ensure_month_partitions(other, tenant_schema, SUMMARY_TABLE, [JAN])
            other.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    t = threading.Thread(target=second)
    t.start()
    t.join(1.0)
    assert t.is_alive()  # blocked on the first transaction's advisory lock
    pg_conn.commit()
    t.join(10)
    other.close()
    assert result == {"created": []}


# --- the transactional writer ----------------------------------------------------------------------------


def test_replace_daily_summary_keeps_old_rows_when_copy_fails(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    assert (
        replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 5), _summary_rows(rp, [1, 2, 3])) == 3
    )
    before = _summary(pg_conn, tenant_schema)

    good = _summary_rows(rp, [1, 2], namespace="new")
    bad = _summary_rows(rp, [3], namespace="new").astype({"pod_usage_cpu_core_hours": object})
    bad.loc[0, "pod_usage_cpu_core_hours"] = "not a number"
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 5), [good, bad])
    assert _summary(pg_conn, tenant_schema) == before

    def failing():
        yield good
        raise OSError("staged file vanished")

    with pytest.raises(OSError, match="staged file vanished"):
        replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 5), failing())
    assert _summary(pg_conn, tenant_schema) == before

    with pytest.raises(InvalidArgument, match="outside the replaced range"):
        replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 1), good)
    assert _summary(pg_conn, tenant_schema) == before


def test_delete_rule_keeps_infrastructure_cost_rows_and_rerun_is_stable(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    other_rp = _period(pg_conn, tenant_schema, source="0a1b2c3d-0000-4000-8000-000000000001")
    seed = pd.DataFrame(
        {
            "report_period_id": [rp, rp, rp, other_rp, rp],
            "usage_start": [dt.date(2026, 1, d) for d in (2, 3, 4, 2, 9)],
            "usage_end": [dt.date(2026, 1, d) for d in (2, 3, 4, 2, 9)],
            "namespace": ["null-cost", "zero-cost", "aws-cost", "other-period", "outside"],
            "infrastructure_raw_cost": [None, 0.0, 5.5, None, None],
        }
    )
    ensure_month_partitions(pg_conn, tenant_schema, SUMMARY_TABLE, [JAN])
    copy_rows(pg_conn, tenant_schema, SUMMARY_TABLE, seed)
    pg_conn.commit()

    new = _summary_rows(rp, [2, 4], namespace="fresh")
    result = replace_rows(
        pg_conn,
        tenant_schema,
        SUMMARY_TABLE,
        "usage_start >= %(start)s AND usage_start <= %(end)s AND report_period_id = %(report_period_id)s"
        " AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)",
        {"start": JAN, "end": dt.date(2026, 1, 5), "report_period_id": rp},
        new,
        partition_range=(JAN, dt.date(2026, 1, 5)),
    )
    assert result == (2, 2)
    first = _summary(pg_conn, tenant_schema, "namespace, usage_start")
    assert first == sorted(
        [
            ("aws-cost", dt.date(2026, 1, 4)),
            ("fresh", dt.date(2026, 1, 2)),
            ("fresh", dt.date(2026, 1, 4)),
            ("other-period", dt.date(2026, 1, 2)),
            ("outside", dt.date(2026, 1, 9)),
        ],
        key=repr,
    )
    assert replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 5), new) == 2
    assert _summary(pg_conn, tenant_schema, "namespace, usage_start") == first


def test_numeric_rounds_to_15_places_and_nan_is_null(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    values = [1 / 3, 0.1234567890123455, 2.5e-16, 123456.0000000000005, float("nan")]
    frame = _summary_rows(rp, [1, 2, 3, 4, 5]).assign(pod_usage_cpu_core_hours=values)
    replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 5), frame)
    got = [r[2] for r in _summary(pg_conn, tenant_schema)]
    D = decimal.Decimal
    # repr gives 0.3333333333333333 / 0.1234567890123455 / 2.5e-16 / 123456.0; numeric(33,15) rounds half up
    assert sorted(got, key=repr) == sorted(
        [D("0.333333333333333"), D("0.123456789012346"), D("0E-15"), D("123456.000000000000000"), None], key=repr
    )


def test_jsonb_uuid_and_arrays_round_trip(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    labels = [{"app": 'a"b', "é": "x\ny"}, '{"k": "v"}', None]
    frame = _summary_rows(rp, [1, 2, 3]).assign(
        pod_labels=labels,
        all_labels=[{}, {}, {}],
        source_uuid=[uuid.UUID(SOURCE), SOURCE, None],
        cluster_alias=["", "x,y", "\\N"],
    )
    replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 3), frame)
    got = _summary(pg_conn, tenant_schema, "usage_start, pod_labels, all_labels, source_uuid::text, cluster_alias")
    assert [r[1:] for r in sorted(got)] == [
        ({"app": 'a"b', "é": "x\ny"}, {}, SOURCE, ""),
        ({"k": "v"}, {}, SOURCE, "x,y"),
        (None, {}, None, "\\N"),
    ]
    category = pd.DataFrame(
        {
            "name": ["Mine"],
            "description": ["d"],
            "source_type": ["OCP"],
            "system_default": [False],
            "label": [["a", 'b"c', None, "d,e"]],
        }
    )
    copy_rows(pg_conn, tenant_schema, "reporting_ocp_cost_category", category)
    pg_conn.commit()
    assert _fetch(pg_conn, "SELECT id, label FROM reporting_ocp_cost_category WHERE name = %s", ("Mine",)) == [
        (2, ["a", 'b"c', None, "d,e"])
    ]


def test_arrow_batches_stream_into_one_copy(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)

    def batches():
        for day in range(1, 11):
            yield pa.record_batch(
                {
                    "usage_start": pa.array([dt.date(2026, 1, day)] * 100, pa.date32()),
                    "usage_end": pa.array([dt.date(2026, 1, day)] * 100, pa.date32()),
                    "namespace": pa.array([f"ns{i}" for i in range(100)]).dictionary_encode(),
                    "pod_request_cpu_core_hours": pa.array([0.5] * 100),
                }
            )

    assert replace_daily_summary(pg_conn, tenant_schema, rp, JAN, dt.date(2026, 1, 10), batches()) == 1000
    rows = _fetch(
        pg_conn,
        "SELECT count(*), count(DISTINCT uuid), sum(pod_request_cpu_core_hours), min(report_period_id) "
        "FROM reporting_ocpusagelineitem_daily_summary",
    )
    assert rows == [(1000, 1000, decimal.Decimal("500.000000000000000"), rp)]
    # the written month partition was analyzed (OCP on cloud reads it back by usage_start right away)
    stats = _fetch(pg_conn, "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE n.nspname = %s AND c.relname = %s",
                   (tenant_schema, "reporting_ocpusagelineitem_daily_summary_2026_01"))
    assert stats == [(1000,)]
    # only the columns the reads filter on (writer.ANALYZE_COLUMNS); the jsonb label columns are the dear ones
    analyzed = {a for (a,) in _fetch(pg_conn, "SELECT attname FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                                     (tenant_schema, "reporting_ocpusagelineitem_daily_summary_2026_01"))}
    assert analyzed == set(ANALYZE_COLUMNS["reporting_ocpusagelineitem_daily_summary"])


def test_writer_names_unknown_columns_and_foreign_periods(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema)
    with pytest.raises(InvalidArgument, match="csi_volume_handle"):
        replace_daily_summary(
            pg_conn, tenant_schema, rp, JAN, JAN, _summary_rows(rp, [1]).assign(csi_volume_handle=["h"])
        )
    with pytest.raises(InvalidArgument, match="report_period_id other than"):
        replace_daily_summary(pg_conn, tenant_schema, rp, JAN, JAN, _summary_rows(rp + 1, [1]))


def test_csv_stream_and_encoders():
    stream = CsvStream(iter([b"abc", b"", b"defgh"]))
    assert [stream.read(2) for _ in range(5)] == [b"ab", b"c", b"de", b"fg", b"h"]
    assert stream.read(2) == b""
    assert pg_array_literal(["a", None, 'q"\\']) == '{"a",NULL,"q\\"\\\\"}'
    ids = random_uuid_array(3).to_pylist()
    assert len(set(ids)) == 3 and all(uuid.UUID(i).version == 4 for i in ids)


# --- tenant reads and report periods ---------------------------------------------------------------------


def test_report_period_get_or_create_and_timestamps(tenant_schema, pg_conn):
    rp = _period(pg_conn, tenant_schema, dt.date(2026, 1, 20))
    assert _period(pg_conn, tenant_schema, JAN) == rp
    rows = _fetch(
        pg_conn,
        "SELECT cluster_id, cluster_alias, report_period_start, report_period_end, provider_id::text "
        "FROM reporting_ocpusagereportperiod",
    )
    utc = dt.UTC
    assert rows == [
        ("my-cluster", "My Cluster", dt.datetime(2026, 1, 1, tzinfo=utc), dt.datetime(2026, 2, 1, tzinfo=utc), SOURCE)
    ]
    assert _fetch(pg_conn, "SELECT uuid::text, name, type FROM reporting_tenant_api_provider") == [
        (SOURCE, "My Cluster", "OCP")
    ]
    ensure_report_period(pg_conn, tenant_schema, SOURCE, "my-cluster", "Renamed", JAN)
    pg_conn.commit()
    assert _fetch(pg_conn, "SELECT cluster_alias FROM reporting_ocpusagereportperiod") == [("Renamed",)]
    assert tenant.get_report_period(pg_conn, tenant_schema, SOURCE, dt.date(2026, 1, 31)) == rp
    assert tenant.get_report_period(pg_conn, tenant_schema, SOURCE, dt.date(2026, 2, 1)) is None

    tenant.set_report_period_summary_times(pg_conn, tenant_schema, rp)
    ((created, updated),) = _fetch(
        pg_conn,
        "SELECT summary_data_creation_datetime, summary_data_updated_datetime FROM reporting_ocpusagereportperiod",
    )
    tenant.set_report_period_summary_times(pg_conn, tenant_schema, rp)
    ((created2, updated2),) = _fetch(
        pg_conn,
        "SELECT summary_data_creation_datetime, summary_data_updated_datetime FROM reporting_ocpusagereportperiod",
    )
    assert created is not None and created2 == created and updated2 > updated


def test_enabled_keys_and_category_patterns(tenant_schema, pg_conn):
    with pg_conn.cursor() as cur:
        for key, enabled, ptype in [("b", True, "OCP"), ("a", True, "OCP"), ("c", False, "OCP"), ("d", True, "AWS")]:
            cur.execute(
                "INSERT INTO reporting_enabledtagkeys VALUES (%s, %s, %s, %s)",
                (str(uuid.uuid4()), key, enabled, ptype),
            )
    pg_conn.commit()
    assert tenant.enabled_tag_keys(pg_conn, tenant_schema) == ["a", "b"]
    assert tenant.enabled_tag_keys(pg_conn, tenant_schema, "AWS") == ["d"]
    assert tenant.cost_category_namespaces(pg_conn, tenant_schema) == [
        ("openshift-%", 1),
        ("kube-%", 1),
        ("Platform unallocated", 1),
        ("openshift", 1),
    ]


# --- cluster information (populate_cluster/node/pvc/project_table) ---------------------------------------


def _clusters(conn, schema: str) -> list[tuple]:
    return sorted(_fetch(conn, "SELECT uuid::text, cluster_id, cluster_alias FROM reporting_ocp_clusters"))


def _add_cluster(conn, schema: str, alias: str | None, with_children: bool = True) -> str:
    uid = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO reporting_ocp_clusters VALUES (%s, %s, %s, %s)", (uid, "c1", alias, SOURCE))
        if with_children:
            cur.execute("INSERT INTO reporting_ocp_projects VALUES (%s, %s, %s)", (str(uuid.uuid4()), "p", uid))
            cur.execute(
                "INSERT INTO reporting_ocp_nodes (uuid, node, cluster_id) VALUES (%s, %s, %s)",
                (str(uuid.uuid4()), "n", uid),
            )
    conn.commit()
    return uid


def test_cluster_rows_duplicates_deleted_and_alias_updated(tenant_schema, pg_conn):
    _period(pg_conn, tenant_schema)  # creates the provider row
    keep = _add_cluster(pg_conn, tenant_schema, "Alias")
    _add_cluster(pg_conn, tenant_schema, "Old")
    _add_cluster(pg_conn, tenant_schema, None)
    res = tenant.upsert_cluster_info(pg_conn, tenant_schema, SOURCE, "c1", "Alias")
    assert (res.cluster_uuid, res.clusters_deleted) == (keep, 2)
    assert _clusters(pg_conn, tenant_schema) == [(keep, "c1", "Alias")]
    assert _fetch(pg_conn, "SELECT cluster_id::text FROM reporting_ocp_projects") == [(keep,)]

    # a single row with another alias is renamed, not replaced (and its cluster_id is left alone)
    res = tenant.upsert_cluster_info(pg_conn, tenant_schema, SOURCE, "c-other", "New")
    assert _clusters(pg_conn, tenant_schema) == [(keep, "c1", "New")] and res.clusters_deleted == 0


def test_cluster_row_created_when_every_duplicate_differs(tenant_schema, pg_conn):
    _period(pg_conn, tenant_schema)
    a, b = _add_cluster(pg_conn, tenant_schema, "A"), _add_cluster(pg_conn, tenant_schema, "B")
    res = tenant.upsert_cluster_info(pg_conn, tenant_schema, SOURCE, "c9", "C")
    assert res.clusters_deleted == 2 and res.cluster_uuid not in (a, b)
    assert _clusters(pg_conn, tenant_schema) == [(res.cluster_uuid, "c9", "C")]


def test_node_pvc_project_semantics(tenant_schema, pg_conn):
    _period(pg_conn, tenant_schema)
    cluster = _add_cluster(pg_conn, tenant_schema, "Alias", with_children=False)
    with pg_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO reporting_ocp_nodes VALUES (%s,%s,%s,%s,%s,%s,%s), (%s,%s,%s,%s,%s,%s,%s)",
            (
                str(uuid.uuid4()),
                "n1",
                "r1",
                4,
                cluster,
                None,
                "amd64",
                str(uuid.uuid4()),
                "n2",
                "r2",
                2,
                cluster,
                "master",
                "amd64",
            ),
        )
        cur.execute(
            "INSERT INTO reporting_ocp_pvcs VALUES (%s,%s,%s,%s,%s), (%s,%s,%s,%s,%s)",
            (str(uuid.uuid4()), "pvc1", "pv1", cluster, None, str(uuid.uuid4()), "pvc2", "pv2", cluster, "h2"),
        )
        cur.execute("INSERT INTO reporting_ocp_projects VALUES (%s,%s,%s)", (str(uuid.uuid4()), "a", cluster))
    pg_conn.commit()

    nodes = pd.DataFrame(
        [
            ("n1", "r1", 4.0, "worker", "arm64"),  # role empty: role AND architecture overwritten
            ("n2", "r2", 2.0, "worker", "x"),  # complete: untouched
            ("n3", None, 1.5, "infra", None),  # new, NULL resource_id
            ("n4", "r4", 2.345, "worker", "amd64"),  # new; stored as 2.35
        ],
        columns=["node", "resource_id", "node_capacity_cpu_cores", "node_role", "arch"],
    )
    pvcs = [
        ("pv1", "pvc1", "h1"),
        ("pv2", "pvc2", "hX"),
        ("pv3", "pvc3", None),
        ("pv3", "pvc3", "h3"),
        (None, "x", "h"),
    ]
    res = tenant.upsert_cluster_info(pg_conn, tenant_schema, SOURCE, "c1", "Alias", nodes, pvcs, ["a", "b", "b"])
    assert (res.nodes_inserted, res.nodes_updated, res.pvcs_inserted, res.pvcs_updated, res.projects_inserted) == (
        2,
        1,
        1,
        1,
        1,
    )
    got_nodes = _fetch(
        pg_conn,
        "SELECT node, resource_id, node_capacity_cpu_cores::text, node_role, architecture "
        "FROM reporting_ocp_nodes ORDER BY node",
    )
    assert got_nodes == [
        ("n1", "r1", "4.00", "worker", "arm64"),
        ("n2", "r2", "2.00", "master", "amd64"),
        ("n3", None, "1.50", "infra", None),
        ("n4", "r4", "2.35", "worker", "amd64"),
    ]
    assert _fetch(
        pg_conn,
        "SELECT persistent_volume, persistent_volume_claim, csi_volume_handle FROM reporting_ocp_pvcs ORDER BY 1",
    ) == [("pv1", "pvc1", "h1"), ("pv2", "pvc2", "h2"), ("pv3", "pvc3", "h3")]
    assert _fetch(pg_conn, "SELECT project FROM reporting_ocp_projects ORDER BY 1") == [
        ("a",),
        ("b",),
    ]

    # Re-run: NULL resource_id matches NULL; n4's 2.345 (as Django compares it) does not match the stored
    # 2.35, so Koku adds a second n4 row on every run; n3 still lacks an architecture, so it is re-saved (with
    # the same values); the rest is unchanged.
    res = tenant.upsert_cluster_info(pg_conn, tenant_schema, SOURCE, "c1", "Alias", nodes, pvcs, ["a", "b"])
    assert (res.nodes_inserted, res.nodes_updated, res.pvcs_inserted, res.pvcs_updated, res.projects_inserted) == (
        1,
        1,
        0,
        0,
        0,
    )
    assert _fetch(pg_conn, "SELECT count(*) FROM reporting_ocp_nodes WHERE node = %s", ("n4",)) == [(2,)]

    df = tenant.ocp_nodes(pg_conn, tenant_schema)
    assert list(df.columns) == [
        "node",
        "resource_id",
        "node_capacity_cpu_cores",
        "node_role",
        "architecture",
        "cluster_id",
    ]
    assert len(df) == 5 and set(df["cluster_id"]) == {cluster}
    assert df.loc[df["node"] == "n3", "node_capacity_cpu_cores"].tolist() == [1.5]
    assert json.dumps(df["node_role"].tolist())  # plain Python strings / None
