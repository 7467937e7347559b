"""Which OpenShift cluster runs on which cloud source, without Trino (Koku's get_ocp_infrastructure_map_trino).

A synchronous function, :func:`get_ocp_infrastructure_map`, returns exactly what
``OCPReportDBAccessor.get_ocp_infrastructure_map_trino(start_date, end_date, **kwargs)`` returns: a dict
``{ocp source uuid: (cloud source uuid, cloud provider type)}``. It reads a few Parquet columns of one month and two
small PostgreSQL tables, in well under a second for a month of a source, so Koku's hook calls it in its own process
(docs/koku-integration.md §3.4); the task ``poc_tasks.ocp_infrastructure_map`` (poc_tasks/tasks.py) runs the same
function on a poc_tasks worker and returns the map JSON-shaped (tuples as lists).

Koku's specification (trino_sql/{aws,azure,gcp}/reporting_ocpinfrastructure_provider_map.sql and the method):

- {} when the tenant has no OCP pod usage Parquet at all ("table exists"), or the named cloud source's provider has
  none; the clouds are tried in the order AWS, Azure, GCP and the first that matches is returned;
- the OCP side: the distinct non-empty ``resource_id`` (AWS) or ``node`` (Azure, GCP) of the daily pod usage of
  [start, end] (the month of start_date), of the named OCP source, or of every OCP source that public.api_provider
  lists as type 'OCP' without an infrastructure;
- AWS: an OCP resource id that occurs in a ``lineitem_resourceid`` of the daily lines (strpos); Azure: a node equal to
  the 9th '/'-field of ``resourceid`` of the raw lines; GCP: a node that occurs in ``resource_name`` of the daily
  lines; the cloud source must have a reporting_tenant_api_provider row, whose ``type`` is the map's type;
- with a named cloud source, also every public.api_provider whose infrastructure map points at it.

Outside Koku's database (standalone use, tests) public.api_provider may be missing: then every OCP source with
Parquet counts as one without infrastructure and the api_providerinfrastructuremap union is empty.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from typing import Any

import pyarrow.compute as pc
from psycopg2 import sql

from poc_tasks.db.connection import connect, qualified
from poc_tasks.errors import InvalidArgument
from poc_tasks.io.fs import filesystem, list_parquet, strip_scheme
from poc_tasks.io.layout import join, ocp_prefix, provider_prefix
from poc_tasks.io.parquet import STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.settings import Settings
from poc_tasks.validate import parse_date, validate_schema, validate_uuid

__all__ = ["get_ocp_infrastructure_map", "CLOUDS"]

# cloud -> (daily?, Parquet folder name, time column, match column, Koku's table name)
CLOUDS = {
    "AWS": (True, "AWS", "lineitem_usagestartdate", "lineitem_resourceid", "aws_line_items_daily"),
    "Azure": (False, "Azure", "date", "resourceid", "azure_line_items"),
    "GCP": (True, "GCP", "usage_start_time", "resource_name", "gcp_line_items_daily"),
}
_OCP_TABLE = "openshift_pod_usage_line_items_daily"


def _sources(fs, folder: str, year: str, month: str) -> list[str]:
    """The source=... partitions under a table folder that have Parquet for year/month."""
    try:
        entries = fs.ls(strip_scheme(folder), detail=False)
    except FileNotFoundError:
        return []
    out = []
    for e in entries:
        name = e.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("source=") and list_parquet(fs, f"{e}/year={year}/month={month}"):
            out.append(name.removeprefix("source="))
    return sorted(out)


def _exists(fs, folder: str) -> bool:
    try:
        return bool(fs.ls(strip_scheme(folder), detail=False))
    except FileNotFoundError:
        return False


def _distinct(fs, files: list[str], column: str, time_column: str, table: str, start: dt.datetime,
              end: dt.datetime) -> set[str]:
    src = ParquetSource(fs, files, [ColumnSpec(time_column, TIMESTAMP), ColumnSpec(column, STRING)], table,
                        time_column=time_column)
    out: set[str] = set()
    for _path, t in src.read_range(start, end, [column]):
        out.update(pc.unique(t.column(column)).to_pylist())
    out.discard(None)
    return out


def _api_provider(conn) -> tuple[bool, bool]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.api_provider') IS NOT NULL,"
                    " to_regclass('public.api_providerinfrastructuremap') IS NOT NULL")
        return cur.fetchone()


def _ocp_without_infrastructure(conn, candidates: list[str]) -> list[str]:
    """The OCP sources public.api_provider lists as type 'OCP' with no infrastructure (all, without that table)."""
    if not candidates or not _api_provider(conn)[0]:
        return candidates
    with conn.cursor() as cur:
        cur.execute("SELECT uuid::text FROM public.api_provider WHERE type = 'OCP' AND infrastructure_id IS NULL"
                    " AND uuid::text = ANY(%s)", (candidates,))
        return sorted(r[0] for r in cur.fetchall())


def _provider_types(conn, schema: str) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT uuid::text, type FROM {}").format(
            qualified(schema, "reporting_tenant_api_provider")))
        return dict(cur.fetchall())


def _mapped_to(conn, cloud_uuid: str) -> list[tuple[str, str, str]]:
    """The UNION part: providers whose api_providerinfrastructuremap points at the named cloud source."""
    has_provider, has_map = _api_provider(conn)
    if not (has_provider and has_map):
        return []
    with conn.cursor() as cur:
        cur.execute("SELECT p.uuid::text, %s, m.infrastructure_type FROM public.api_provider AS p"
                    " JOIN public.api_providerinfrastructuremap AS m ON p.infrastructure_id = m.id"
                    " WHERE m.infrastructure_provider_id::text = %s", (cloud_uuid, cloud_uuid))
        return [tuple(r) for r in cur.fetchall()]


def _azure_instance(resource_id: str) -> str | None:
    """Trino's split_part(resourceid, '/', 9): the 9th field, NULL when there are fewer."""
    parts = resource_id.split("/")
    return parts[8] if len(parts) > 8 else None


def _cloud_matches(cloud: str, cloud_values: set[str], ocp_values: set[str]) -> bool:
    if cloud == "Azure":
        return bool({_azure_instance(v) for v in cloud_values} & ocp_values)
    text = "\x00".join(cloud_values)  # strpos(cloud value, ocp value) != 0, for every pair at once
    return any(v in text for v in ocp_values)


def get_ocp_infrastructure_map(schema_name: str, start_date: Any, end_date: Any, *, settings: Settings | None = None,
                               ocp_provider_uuid: str | None = None, aws_provider_uuid: str | None = None,
                               azure_provider_uuid: str | None = None, gcp_provider_uuid: str | None = None
                               ) -> dict[str, tuple[str, str]]:
    """Koku's OCPReportDBAccessor.get_ocp_infrastructure_map_trino, from the Parquet (see the module docstring)."""
    schema = validate_schema(schema_name)
    named = {"OCP": ocp_provider_uuid, "AWS": aws_provider_uuid, "Azure": azure_provider_uuid,
             "GCP": gcp_provider_uuid}
    named = {k: validate_uuid(v, f"{k.lower()}_provider_uuid") for k, v in named.items() if v}
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    if end < start:
        raise InvalidArgument(f"end_date {end} is before start_date {start}")
    settings = settings or Settings.from_env()
    root = settings.require_data_root()
    fs = filesystem(root, settings.storage_options())
    account = schema.removeprefix("acct")
    year, month = f"{start.year:04d}", f"{start.month:02d}"
    t0 = dt.datetime(start.year, start.month, start.day)
    t1 = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)

    ocp_root = join(root, f"data/parquet/daily/{account}/OCP/pod_usage")
    if not _exists(fs, ocp_root):
        return {}

    def cloud_root(cloud: str) -> str:
        daily, folder = CLOUDS[cloud][0], CLOUDS[cloud][1]
        return join(root, f"data/parquet/daily/{account}/{folder}/raw" if daily else f"data/parquet/{account}/{folder}")

    checks = {}
    for cloud in CLOUDS:
        if cloud in named or "OCP" in named:
            checks[cloud] = _exists(fs, cloud_root(cloud))
            if cloud in named and not checks[cloud]:
                return {}
    if not any(checks.values()):
        return {}

    with closing(connect(settings.require_database_url())) as conn:
        if "OCP" in named:
            ocp_sources = [named["OCP"]]
        else:
            ocp_sources = _ocp_without_infrastructure(conn, _sources(fs, ocp_root, year, month))
        types = _provider_types(conn, schema)
        ocp_values: dict[str, dict[str, set[str]]] = {}

        def ocp_side(source: str, column: str) -> set[str]:
            cache = ocp_values.setdefault(source, {})
            if column not in cache:
                files = list_parquet(fs, ocp_prefix(root, account, "pod_usage", source, year, month, daily=True))
                cache[column] = _distinct(fs, files, column, "interval_start", _OCP_TABLE, t0, t1) - {""}
            return cache[column]

        results: dict[str, tuple[str, str]] = {}
        for cloud, check in checks.items():
            if not check:
                continue
            daily, folder, time_col, column, table = CLOUDS[cloud]
            cloud_sources = [named[cloud]] if cloud in named else _sources(fs, cloud_root(cloud), year, month)
            results = {}
            rows: set[tuple[str, str, str]] = set()
            for cs in cloud_sources:
                files = list_parquet(fs, provider_prefix(root, account, folder, cs, year, month, daily=daily))
                if not files or cs not in types:
                    continue
                values = _distinct(fs, files, column, time_col, table, t0, t1)
                if cloud == "AWS":
                    values.discard("")
                for ocp in ocp_sources:
                    if _cloud_matches(cloud, values, ocp_side(ocp, "resource_id" if cloud == "AWS" else "node")):
                        rows.add((ocp, cs, types[cs]))
            if cloud in named:
                rows.update(_mapped_to(conn, named[cloud]))
            for ocp, infra, kind in sorted(rows):
                results[ocp] = (infra, kind)
            if results:  # an OCP cluster runs on one source: the first cloud that matches wins, as in Koku
                return results
        return results


def to_json(infra_map: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in infra_map.items()}


