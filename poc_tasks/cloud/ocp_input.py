"""The OpenShift side of OCP on cloud: the OCP daily summary rows and the chunk's nodes, namespaces and volumes.

Koku reads Hive's copy of ``reporting_ocpusagelineitem_daily_summary`` (every OCP source of the tenant), which
has ``csi_volume_handle``; the PostgreSQL table has the same rows without it. Here:
- the rows come from PostgreSQL (copied into the run's stage before the chunks start: export_ocp_rows), only
  those the OCP summary wrote (not the rows OCP-on-cloud back-populates,
  nor cost-model rows), with labels turned into the JSON text Trino's summary writes (jsontext.trino_text);
- ``csi_volume_handle`` comes, for the run's OCP source, from its daily storage Parquet of the same day (by
  persistent volume), and for the tenant's other OCP sources from ``reporting_ocp_pvcs`` (by volume and claim);
- the chunk's node resource ids, nodes, namespaces and (volume, handle) pairs come from the daily pod and
  storage Parquet, as Koku's step 1 and ocp_special_matched_tags.sql read them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from poc_tasks.cloud.jsontext import TagJsonError, canonical_text
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.copy_out import query_arrow
from poc_tasks.errors import InputFileError, MissingInputData
from poc_tasks.io.fs import filesystem, list_parquet
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.io.parquet import STRING, TIMESTAMP, ColumnSpec, ParquetSource
from poc_tasks.io.staging import Stage
from poc_tasks.runspec import days_in_range

__all__ = ["OCP_COLUMNS", "OCP_ROWS_TABLE", "OcpChunkSets", "OcpParquet", "export_ocp_rows", "ocp_label_texts",
           "open_ocp_parquet", "read_ocp_rows", "OCP_ROW_FILTER"]

Connection = psycopg2.extensions.connection

# Rows of the OCP summary itself: back-populated OCP-on-cloud rows are the only ones with supplementary_usage_cost
# (and carry infrastructure_raw_cost), cost-model rows have a rate or monthly cost type.
OCP_ROW_FILTER = (
    "cost_model_rate_type IS NULL AND monthly_cost_type IS NULL AND supplementary_usage_cost IS NULL"
    " AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)"
)
_NUMERIC = ("persistentvolumeclaim_capacity_gigabyte", "pod_effective_usage_cpu_core_hours",
            "pod_effective_usage_memory_gigabyte_hours", "node_capacity_cpu_core_hours",
            "node_capacity_memory_gigabyte_hours")
OCP_COLUMNS = ["source", "report_period_id", "usage_start", "cluster_id", "cluster_alias", "data_source", "namespace",
               "node", "resource_id", "pod_labels", "volume_labels", "persistentvolumeclaim", "persistentvolume",
               "storageclass", *_NUMERIC, "cost_category_id", "csi_volume_handle"]

POD_COLUMNS = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("resource_id", STRING),
               ColumnSpec("node", STRING), ColumnSpec("namespace", STRING)]
STORAGE_COLUMNS = [ColumnSpec("interval_start", TIMESTAMP), ColumnSpec("persistentvolume", STRING),
                   ColumnSpec("csi_volume_handle", STRING, required=False)]


@dataclass
class OcpParquet:
    pod_daily: ParquetSource
    storage_daily: ParquetSource

    def rows_read(self) -> int:
        return self.pod_daily.rows_read + self.storage_daily.rows_read

    def bytes_read(self) -> int:
        return self.pod_daily.bytes_read + self.storage_daily.bytes_read


def open_ocp_parquet(root: str, account: str, source_uuid: str, year: str, month: str,
                     storage_options: dict[str, Any] | None = None) -> OcpParquet:
    fs = filesystem(root, storage_options)
    pod_dir = ocp_prefix(root, account, "pod_usage", source_uuid, year, month, daily=True)
    storage_dir = ocp_prefix(root, account, "storage_usage", source_uuid, year, month, daily=True)
    pod = ParquetSource(fs, list_parquet(fs, pod_dir), POD_COLUMNS, "openshift_pod_usage_line_items_daily")
    storage = ParquetSource(fs, list_parquet(fs, storage_dir), STORAGE_COLUMNS,
                            "openshift_storage_usage_line_items_daily")
    if not pod.files:
        raise MissingInputData(f"no openshift_pod_usage_line_items_daily Parquet for OCP source {source_uuid} "
                               f"{year}-{month} under {pod_dir}")
    return OcpParquet(pod, storage)


@dataclass
class OcpChunkSets:
    """What Koku's step 1 and the special matched tags read of the chunk's OCP Parquet."""

    node_resource_ids: set[str] = field(default_factory=set)
    nodes: set[str | None] = field(default_factory=set)
    namespaces: set[str | None] = field(default_factory=set)
    volumes: set[str] = field(default_factory=set)  # non-empty persistentvolume names
    csi_handles: set[str] = field(default_factory=set)  # non-empty handles of those volumes
    # (day, persistentvolume) -> csi_volume_handle, for the summary's storage rows
    csi_by_day_pv: dict[tuple[dt.date, str], str] = field(default_factory=dict)


def scan_chunk(parquet: OcpParquet, first: dt.date, last: dt.date) -> OcpChunkSets:
    """One narrow pass over the chunk's pod and storage daily Parquet."""
    lo = dt.datetime(first.year, first.month, first.day)
    hi = dt.datetime(last.year, last.month, last.day) + dt.timedelta(days=1)
    out = OcpChunkSets()
    for _path, tbl in parquet.pod_daily.read_range(lo, hi, ["resource_id", "node", "namespace"]):
        # distinct values per column (pc.unique, a plain hash): a group_by over the three columns of a 50,000-pod
        # chunk (~1.5 M rows) left ~45 MiB of heap behind that malloc_trim could not return
        out.node_resource_ids.update(r for r in pc.unique(tbl.column("resource_id")).to_pylist() if r)
        out.nodes.update(pc.unique(tbl.column("node")).to_pylist())
        out.namespaces.update(pc.unique(tbl.column("namespace")).to_pylist())
    for _path, tbl in parquet.storage_daily.read_range(lo, hi, ["interval_start", "persistentvolume",
                                                                "csi_volume_handle"]):
        d = tbl.to_pydict()
        for ts, pv, csi in zip(d["interval_start"], d["persistentvolume"], d["csi_volume_handle"], strict=True):
            if not pv:
                continue
            out.volumes.add(pv)
            if csi:
                out.csi_handles.add(csi)
            key = (ts.date(), pv)
            # one handle per volume and day in practice; if several, the largest (documented)
            if csi is not None and (key not in out.csi_by_day_pv or csi > out.csi_by_day_pv[key]):
                out.csi_by_day_pv[key] = csi
    return out


def _labels(series: pd.Series, what: str) -> pd.Series:
    def conv(text: str | None) -> str | None:
        try:
            return canonical_text(text)
        except TagJsonError as exc:
            raise InputFileError("reporting_ocpusagelineitem_daily_summary", f"unusable {what}: {exc}", what) from exc

    uniques = pd.unique(series.to_numpy(dtype=object))
    lookup = {v: conv(v) for v in uniques}
    return pd.Series([lookup[v] for v in series.to_numpy(dtype=object)], index=series.index, dtype=object)


_TEXT_COLUMNS = ("cluster_id", "cluster_alias", "data_source", "namespace", "node", "resource_id")
_PV_COLUMNS = ("persistentvolumeclaim", "persistentvolume", "storageclass")
_READ_TYPES: dict[str, pa.DataType] = {
    "source": pa.string(), "report_period_id": pa.int64(), "usage_start": pa.date32(),
    **dict.fromkeys(_TEXT_COLUMNS, pa.string()), "pod_labels": pa.string(), "volume_labels": pa.string(),
    **dict.fromkeys(_PV_COLUMNS, pa.string()), **dict.fromkeys(_NUMERIC, pa.float64()),
    "cost_category_id": pa.int64(),
}


OCP_ROWS_TABLE = "ocp_summary_input"  # the stage's copy of the OCP summary rows the run reads, one part per day


def _day_query(schema: str) -> sql.Composed:
    ident = sql.Identifier
    cols = [sql.SQL("source_uuid::text AS source"), ident("report_period_id"), ident("usage_start"),
            *(ident(c) for c in _TEXT_COLUMNS),
            *(sql.SQL("{}::text AS {}").format(ident(c), ident(c)) for c in ("pod_labels", "volume_labels")),
            *(ident(c) for c in _PV_COLUMNS),
            *(sql.SQL("{}::float8 AS {}").format(ident(c), ident(c)) for c in _NUMERIC),
            ident("cost_category_id")]
    # ORDER BY every column read: the heap order changes whenever the OCP summary is re-run, and the float sums
    # downstream add their terms in row order, so without it a re-run over the same rows could differ in the
    # last digits (a sort of ~55 k rows a day in PostgreSQL)
    order = sql.SQL(" ORDER BY ") + sql.SQL(", ").join(sql.Literal(i) for i in range(1, len(cols) + 1))
    where = sql.SQL("usage_start = %s AND " + OCP_ROW_FILTER)
    return sql.SQL("SELECT {} FROM {} WHERE ").format(
        sql.SQL(", ").join(cols), qualified(schema, "reporting_ocpusagelineitem_daily_summary")) + where + order


_ROWS_SCHEMA = pa.schema(list(_READ_TYPES.items()))


def export_ocp_rows(database_url: str, schema: str, first: dt.date, last: dt.date, stage: Stage,
                    connections: int = 2) -> int:
    """Copy the OCP summary rows of every OCP source of the tenant for the days [first, last] into the run's
    stage (one part per day, labels as PostgreSQL gives them); returns the rows copied.

    Why a copy: the in-process run streams its writes in one transaction opened before the chunks compute
    (stream_writes), the back-populated rows into this very table. Were the chunks to read the table, that COPY
    would have to wait for the last chunk (a third session's DDL queued behind our lock would block their reads
    while we wait for them: a deadlock PostgreSQL cannot see), a serial tail of the run. Read here, before the
    transaction opens, the chunks never touch the table, and every chunk reads the same snapshot of it.

    The days are split over `connections` sessions (threads: PostgreSQL sorts and sends, pyarrow parses and
    writes, both outside the GIL), so the copy does not hold up the run's start on one core."""
    query = _day_query(schema)
    days = days_in_range(first, last)

    def copy_days(mine: list[dt.date]) -> int:
        rows = 0
        with closing(connect(database_url, "poc_tasks export")) as conn:
            for day in mine:
                table = query_arrow(conn, query, (day,), _READ_TYPES)
                conn.rollback()  # no transaction left open across days
                with stage.writer(OCP_ROWS_TABLE, _ROWS_SCHEMA, part=day.isoformat()) as w:
                    w.write_table(table)
                rows += table.num_rows
                del table
        return rows

    n = max(1, min(connections, len(days)))
    with ThreadPoolExecutor(n, thread_name_prefix="ocp-export") as pool:
        return sum(pool.map(copy_days, [days[i::n] for i in range(n)]))


def _staged_day(stage: Stage, day: dt.date, storage_only: bool, columns: list[str] | None = None) -> pa.Table:
    schema = _ROWS_SCHEMA
    read = columns
    if columns is not None:
        read = columns + ["data_source"] if storage_only and "data_source" not in columns else columns
        schema = pa.schema([_ROWS_SCHEMA.field(c) for c in read])
    batches = list(stage.read_part(OCP_ROWS_TABLE, day.isoformat(), columns=read))
    table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
    if storage_only:
        table = table.filter(pc.equal(table.column("data_source"), "Storage"))
    return table.select(columns) if columns is not None else table


def read_ocp_rows(stage: Stage, conn: Connection, schema: str, day: dt.date, source_uuid: str,
                  csi_by_day_pv: dict[tuple[dt.date, str], str], storage_only: bool = False) -> pd.DataFrame:
    """The OCP summary rows of every OCP source of the tenant for `day` (export_ocp_rows' copy), with csi handles.

    Column ``source`` is the OCP source uuid (Hive's partition column). Numbers are float64, labels Trino text.
    `conn` reads the other sources' handles (reporting_ocp_pvcs), never the OCP summary.
    """
    df = _staged_day(stage, day, storage_only).to_pandas(date_as_object=True)
    df["pod_labels"] = _labels(df["pod_labels"], "pod_labels")
    df["volume_labels"] = _labels(df["volume_labels"], "volume_labels")
    df["csi_volume_handle"] = _attach_csi(conn, schema, df, source_uuid, csi_by_day_pv)
    return df[OCP_COLUMNS]


def ocp_label_texts(stage: Stage, source_uuid: str, days: Sequence[dt.date]) -> tuple[set[str], set[str]]:
    """The distinct pod-label and volume-label texts (as Trino writes them) of one OCP source's summary rows of
    `days`: what Koku's Trino matched-tag query unnests on the OpenShift side."""
    pods: set[str] = set()
    volumes: set[str] = set()
    for day in days:
        t = _staged_day(stage, day, False, ["source", "pod_labels", "volume_labels"])
        t = t.filter(pc.equal(t.column("source"), source_uuid))
        for column, out in (("pod_labels", pods), ("volume_labels", volumes)):
            texts = [v for v in pc.unique(t.column(column)).to_pylist() if v]
            try:
                out.update(canonical_text(v) for v in texts)
            except TagJsonError as exc:
                raise InputFileError("reporting_ocpusagelineitem_daily_summary", f"unusable labels: {exc}",
                                     column) from exc
    return pods, volumes


def _attach_csi(conn: Connection, schema: str, df: pd.DataFrame, source_uuid: str,
                csi_by_day_pv: dict[tuple[dt.date, str], str]) -> pd.Series:
    out = np.full(len(df), None, dtype=object)
    if df.empty:
        return pd.Series(out, index=df.index, dtype=object)
    storage = (df["data_source"] == "Storage").to_numpy(dtype=bool) & df["persistentvolume"].notna().to_numpy()
    own = storage & (df["source"] == source_uuid).to_numpy(dtype=bool)
    days = df["usage_start"].to_numpy(dtype=object)
    pvs = df["persistentvolume"].to_numpy(dtype=object)
    rows = np.flatnonzero(own)
    out[rows] = [csi_by_day_pv.get((days[i], pvs[i])) for i in rows]
    others = storage & ~own
    if others.any():
        handles = _other_source_handles(conn, schema, sorted(set(df.loc[others, "source"])))
        src = df["source"].to_numpy(dtype=object)
        pvcs = df["persistentvolumeclaim"].to_numpy(dtype=object)
        rows = np.flatnonzero(others)
        out[rows] = [handles.get((src[i], pvs[i], pvcs[i])) for i in rows]
    return pd.Series(out, index=df.index, dtype=object)


def _other_source_handles(conn: Connection, schema: str, sources: list[str]) -> dict[tuple, str | None]:
    """(source uuid, volume, claim) -> csi_volume_handle from reporting_ocp_pvcs of those sources' clusters."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT c.provider_id::text, p.persistent_volume, p.persistent_volume_claim, p.csi_volume_handle"
                " FROM {} p JOIN {} c ON c.uuid = p.cluster_id WHERE c.provider_id::text = ANY(%s)"
            ).format(qualified(schema, "reporting_ocp_pvcs"), qualified(schema, "reporting_ocp_clusters")),
            (sources,),
        )
        return {(r[0], r[1], r[2]): r[3] for r in cur.fetchall()}
