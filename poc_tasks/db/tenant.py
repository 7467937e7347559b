"""The few PostgreSQL reads the pipeline needs, and the tenant rows Koku maintains around a summary run.

Reads run in the connection's current transaction and do not commit. The two writers
(``upsert_cluster_info``, ``set_report_period_summary_times``) are complete units: they commit, and roll
back on error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.validate import validate_schema, validate_uuid

__all__ = [
    "enabled_tag_keys",
    "cost_category_namespaces",
    "ocp_nodes",
    "get_report_period",
    "set_report_period_summary_times",
    "upsert_cluster_info",
    "ClusterInfoResult",
    "NODE_FIELDS",
    "PVC_FIELDS",
]

Connection = psycopg2.extensions.connection
NODE_FIELDS = ("node", "resource_id", "node_capacity_cpu_cores", "node_role", "architecture")
PVC_FIELDS = ("persistentvolume", "persistentvolumeclaim", "csi_volume_handle")


def enabled_tag_keys(conn: Connection, schema: str, provider_type: str = "OCP") -> list[str]:
    """Keys of reporting_enabledtagkeys with enabled = true for the provider type, sorted."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT key FROM {} WHERE enabled AND provider_type = %s").format(
                qualified(schema, "reporting_enabledtagkeys")
            ),
            (provider_type,),
        )
        return sorted(r[0] for r in cur.fetchall())


def cost_category_namespaces(conn: Connection, schema: str) -> list[tuple[str, int]]:
    """(LIKE pattern, cost_category_id) of every reporting_ocp_cost_category_namespace row, by id.

    Koku's summary takes max(cost_category_id) over the patterns a namespace matches.
    """
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT namespace, cost_category_id FROM {} ORDER BY id").format(
                qualified(schema, "reporting_ocp_cost_category_namespace")
            )
        )
        return [(r[0], int(r[1])) for r in cur.fetchall()]


def ocp_nodes(conn: Connection, schema: str) -> pd.DataFrame:
    """Every reporting_ocp_nodes row of the tenant (all clusters: Koku's node-role lookup spans them).

    Columns: node, resource_id, node_capacity_cpu_cores (float), node_role, architecture, cluster_id (the
    uuid of the reporting_ocp_clusters row, as text).
    """
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT node, resource_id, node_capacity_cpu_cores::float8, node_role, architecture,"
                " cluster_id::text FROM {} ORDER BY uuid"
            ).format(qualified(schema, "reporting_ocp_nodes"))
        )
        rows = cur.fetchall()
    df = pd.DataFrame(rows, columns=[*NODE_FIELDS, "cluster_id"])
    return df.astype({"node_capacity_cpu_cores": "float64"})


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def get_report_period(conn: Connection, schema: str, provider_uuid: str, month_start: dt.date) -> int | None:
    """Koku's report_periods_for_provider_uuid(provider, start).first(): the id, or None if there is none.

    Matches the provider and report_period_start = 1st of the month 00:00 UTC (any cluster), lowest id.
    """
    provider = validate_uuid(provider_uuid, "provider_uuid")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT id FROM {} WHERE provider_id = %s AND report_period_start = %s ORDER BY id LIMIT 1").format(
                qualified(schema, "reporting_ocpusagereportperiod")
            ),
            (provider, _utc_midnight(month_start)),
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def set_report_period_summary_times(conn: Connection, schema: str, report_period_id: int,
                                    commit: bool = True) -> None:
    """summary_data_creation_datetime = now if it is NULL; summary_data_updated_datetime = now. Commits unless
    `commit` is False (a statement of the caller's transaction: the run's swap)."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET summary_data_creation_datetime = coalesce(summary_data_creation_datetime, now()),"
                    " summary_data_updated_datetime = now() WHERE id = %s"
                ).format(qualified(schema, "reporting_ocpusagereportperiod")),
                (int(report_period_id),),
            )
        if commit:
            conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise


# --- cluster information (OCPReportDBAccessor.populate_openshift_cluster_information_tables) ---------------


@dataclass(frozen=True)
class ClusterInfoResult:
    cluster_uuid: str
    clusters_deleted: int
    nodes_inserted: int
    nodes_updated: int
    pvcs_inserted: int
    pvcs_updated: int
    projects_inserted: int


# Django turns a float for DecimalField(max_digits=18) into a Decimal of 18 significant digits (not rounded to
# the 2 decimal places) both for the lookup and for the saved value; the column then rounds what it stores.
_DJANGO_DECIMAL = decimal.Context(prec=18)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _clean(v: Any) -> Any:
    return None if _missing(v) else v


def _django_decimal(v: Any) -> decimal.Decimal | None:
    if _missing(v):
        return None
    if isinstance(v, float):  # numpy.float64 included
        return _DJANGO_DECIMAL.create_decimal_from_float(float(v))
    if hasattr(v, "dtype"):  # other numpy scalars
        return _django_decimal(v.item())
    return decimal.Decimal(v)


def _rows(data: pd.DataFrame | Iterable[Sequence[Any]], fields: Sequence[str]) -> list[tuple]:
    """Tuples in Koku's field order, from a DataFrame (columns by name) or from tuples already in that order."""
    if isinstance(data, pd.DataFrame):
        renamed = data.rename(columns={"arch": "architecture"})
        data = renamed[list(fields)].itertuples(index=False, name=None)
    return [tuple(_clean(v) for v in row) for row in data]


def _cluster(cur, schema: str, provider: str, cluster_id: str, cluster_alias: str | None) -> tuple[str, int]:
    """populate_cluster_table: returns (cluster uuid, rows deleted)."""
    clusters = qualified(schema, "reporting_ocp_clusters")
    cur.execute(
        sql.SQL("SELECT uuid::text, cluster_alias FROM {} WHERE provider_id = %s ORDER BY uuid").format(clusters),
        (provider,),
    )
    rows = cur.fetchall()
    deleted = 0
    if len(rows) > 1:
        # Django's exclude(cluster_alias=alias): every other alias goes, a NULL alias included.
        doomed = [r[0] for r in rows if r[1] != cluster_alias]
        if doomed:
            for child in ("reporting_ocp_nodes", "reporting_ocp_pvcs", "reporting_ocp_projects"):  # on_delete=CASCADE
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE cluster_id = ANY(%s::uuid[])").format(qualified(schema, child)),
                    (doomed,),
                )
            cur.execute(sql.SQL("DELETE FROM {} WHERE uuid = ANY(%s::uuid[])").format(clusters), (doomed,))
            deleted = cur.rowcount
        rows = [r for r in rows if r[0] not in doomed]
    if not rows:
        new = str(uuid.uuid4())
        cur.execute(
            sql.SQL("INSERT INTO {} (uuid, cluster_id, cluster_alias, provider_id) VALUES (%s, %s, %s, %s)").format(
                clusters
            ),
            (new, cluster_id, cluster_alias, provider),
        )
        return new, deleted
    first_uuid, alias = rows[0]
    if alias != cluster_alias:
        cur.execute(
            sql.SQL("UPDATE {} SET cluster_alias = %s WHERE uuid = %s").format(clusters), (cluster_alias, first_uuid)
        )
    return first_uuid, deleted


def _nodes(cur, schema: str, cluster: str, nodes: list[tuple]) -> tuple[int, int]:
    """populate_node_table, folded over the input in order; returns (inserted, updated)."""
    table = qualified(schema, "reporting_ocp_nodes")
    cur.execute(
        sql.SQL(
            "SELECT uuid::text, node, resource_id, node_capacity_cpu_cores, node_role, architecture"
            " FROM {} WHERE cluster_id = %s ORDER BY uuid"
        ).format(table),
        (cluster,),
    )
    state: dict[tuple, list] = {}
    for uid, node, rid, cap, role, arch in cur.fetchall():
        state.setdefault((node, rid, cap), [uid, role, arch, False])  # .first(): lowest uuid
    inserts: dict[tuple, list] = {}
    for node, rid, cap, role, arch in nodes:
        key = (node, rid, _django_decimal(cap))
        cur_row = state.get(key)
        if cur_row is None:
            state[key] = inserts[key] = [None, role, arch, False]
        elif not cur_row[1] or not cur_row[2]:
            cur_row[1], cur_row[2], cur_row[3] = role, arch, True
    if inserts:
        execute_values(
            cur,
            sql.SQL(
                "INSERT INTO {} (uuid, node, resource_id, node_capacity_cpu_cores, node_role, architecture,"
                " cluster_id) VALUES %s"
            ).format(table),
            [(str(uuid.uuid4()), k[0], k[1], k[2], v[1], v[2], cluster) for k, v in inserts.items()],
        )
    updates = [(v[0], v[1], v[2]) for v in state.values() if v[3] and v[0] is not None]
    if updates:
        execute_values(
            cur,
            sql.SQL(
                "UPDATE {} AS t SET node_role = v.role, architecture = v.arch"
                " FROM (VALUES %s) AS v(uuid, role, arch) WHERE t.uuid = v.uuid::uuid"
            ).format(table),
            updates,
        )
    return len(inserts), len(updates)


def _pvcs(cur, schema: str, cluster: str, pvcs: list[tuple]) -> tuple[int, int]:
    """populate_pvc_table, folded over the input in order; returns (inserted, updated)."""
    table = qualified(schema, "reporting_ocp_pvcs")
    cur.execute(
        sql.SQL(
            "SELECT uuid::text, persistent_volume, persistent_volume_claim, csi_volume_handle FROM {}"
            " WHERE cluster_id = %s"
        ).format(table),
        (cluster,),
    )
    state: dict[tuple, list] = {(pv, pvc): [uid, csi, False] for uid, pv, pvc, csi in cur.fetchall()}
    inserts: dict[tuple, list] = {}
    for pv, pvc, csi in pvcs:
        if pv is None or pvc is None:
            continue  # Koku's create raises IntegrityError (NOT NULL), which it logs and skips
        cur_row = state.get((pv, pvc))
        if cur_row is None:
            state[(pv, pvc)] = inserts[(pv, pvc)] = [None, csi, False]
        elif not cur_row[1]:
            cur_row[1], cur_row[2] = csi, True
    if inserts:
        execute_values(
            cur,
            sql.SQL(
                "INSERT INTO {} (uuid, persistent_volume, persistent_volume_claim, csi_volume_handle, cluster_id)"
                " VALUES %s"
            ).format(table),
            [(str(uuid.uuid4()), k[0], k[1], v[1], cluster) for k, v in inserts.items()],
        )
    updates = [(v[0], v[1]) for v in state.values() if v[2] and v[0] is not None]
    if updates:
        execute_values(
            cur,
            sql.SQL(
                "UPDATE {} AS t SET csi_volume_handle = v.csi FROM (VALUES %s) AS v(uuid, csi)"
                " WHERE t.uuid = v.uuid::uuid"
            ).format(table),
            updates,
        )
    return len(inserts), len(updates)


def _projects(cur, schema: str, cluster: str, projects: Iterable[Any]) -> int:
    """populate_project_table: get_or_create(project, cluster); returns the number inserted."""
    wanted = list(dict.fromkeys(_clean(p) for p in projects))
    if not wanted:
        return 0
    inserted = execute_values(
        cur,
        sql.SQL(
            "INSERT INTO {} (uuid, project, cluster_id) VALUES %s ON CONFLICT (project, cluster_id) DO NOTHING"
            " RETURNING 1"
        ).format(qualified(schema, "reporting_ocp_projects")),
        [(str(uuid.uuid4()), p, cluster) for p in wanted],
        fetch=True,
    )
    return len(inserted)


def upsert_cluster_info(
    conn: Connection,
    schema: str,
    provider_uuid: str,
    cluster_id: str,
    cluster_alias: str | None,
    nodes: pd.DataFrame | Iterable[Sequence[Any]] = (),
    pvcs: pd.DataFrame | Iterable[Sequence[Any]] = (),
    projects: Iterable[str] = (),
) -> ClusterInfoResult:
    """Koku's populate_cluster_table / _node_table / _pvc_table / _project_table, in one transaction; commits.

    - cluster: of the provider's rows, when there are several, those whose alias differs are deleted (with
      their nodes, PVCs and projects); the first remaining row (lowest uuid) gets the alias if it differs;
      with none left, a row (cluster_id, cluster_alias, provider) is created.
    - nodes (node, resource_id, node_capacity_cpu_cores, node_role, architecture; a DataFrame may name the
      last one ``arch`` as Koku's query does): matched on node, resource_id (NULL matches NULL) and the
      capacity compared as Django compares it (the float as an 18-significant-digit decimal against the stored
      numeric(18,2)); inserted if absent; if the matched row lacks a role or an architecture, both are set
      from the input.
    - pvcs (persistentvolume, persistentvolumeclaim, csi_volume_handle): matched on (pv, pvc); inserted if
      absent (rows with a NULL pv or pvc are skipped, as Koku's IntegrityError handler skips them); an empty
      csi_volume_handle is filled.
    - projects: get_or_create on (project, cluster).
    Input rows are applied in order, so duplicates behave as in Koku's loops.
    """
    validate_schema(schema)
    provider = validate_uuid(provider_uuid, "provider_uuid")
    node_rows, pvc_rows = _rows(nodes, NODE_FIELDS), _rows(pvcs, PVC_FIELDS)
    if isinstance(projects, pd.DataFrame):
        raise TypeError("projects: pass a sequence of names (e.g. df['namespace'])")
    try:
        with conn.cursor() as cur:
            advisory_xact_lock(cur, f"cluster_info:{schema}:{provider}")
            cluster, deleted = _cluster(cur, schema, provider, cluster_id, cluster_alias)
            n_ins, n_upd = _nodes(cur, schema, cluster, node_rows)
            p_ins, p_upd = _pvcs(cur, schema, cluster, pvc_rows)
            proj = _projects(cur, schema, cluster, projects)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return ClusterInfoResult(cluster, deleted, n_ins, n_upd, p_ins, p_upd, proj)
