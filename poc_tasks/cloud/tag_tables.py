"""OCP-on-cloud tag summaries for providers without account aliases (Azure, GCP): reporting_ocp<cloud>tags_summary
and reporting_ocp<cloud>tags_values (spec ocp-on-cloud.md §5.2; Koku's reporting_ocp{azure,gcp}tags_summary.sql).

Koku runs the SQL after each 5-day chunk over the chunk's project rows whose tags hold a key enabled for the cloud:
- summary: one row per (key enabled for the cloud, bill, report period, the provider's dimensions -- Azure the
  subscription, GCP account / project id / project name --, namespace, node) with the distinct values, unioned
  with the values already stored;
- values: one row per (key, value) over *every* key of those rows, with the distinct dimension values, clusters,
  namespaces and nodes; an existing row's arrays are replaced (the last chunk that has the pair wins);
- then summary rows of keys disabled for the cloud go, and values rows whose key has no summary row.

Here each chunk reduces its rows as it goes (:class:`ChunkTagParts`) and stages one small table of each kind;
one write applies the whole run in one transaction (:func:`write_tag_tables`).
Deviations (docs/ocp-on-azure-gcp.md): summary rows are matched NULL-safely (Koku's unique key treats a NULL node
as distinct and adds a duplicate row per chunk and re-run); a JSON null tag value is left out (GCP's SQL skips it,
Azure's would fail on the NOT NULL value column); a row without namespace is left out of the summary (its
NOT NULL namespace column would fail Koku's insert).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg2.extensions
import pyarrow as pa
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import parse_map
from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly

__all__ = ["TagTables", "ChunkTagParts", "write_tag_tables"]

Connection = psycopg2.extensions.connection


@dataclass(frozen=True)
class TagTables:
    summary: str
    values: str
    provider_type: str  # reporting_enabledtagkeys.provider_type of the cloud
    dims: tuple[str, ...]  # project columns that key a summary row (besides key, namespace, node)
    arrays: tuple[tuple[str, str], ...]  # (values-table array column, project column) besides clusters/ns/nodes

    @property
    def summary_schema(self) -> pa.Schema:
        return pa.schema([("key", pa.string()), *((d, pa.string()) for d in self.dims), ("namespace", pa.string()),
                          ("node", pa.string()), ("values", pa.list_(pa.string()))])

    @property
    def values_schema(self) -> pa.Schema:
        arrays = [*(a for a, _c in self.arrays), "namespaces", "nodes"]
        return pa.schema([("chunk", pa.int64()), ("key", pa.string()), ("value", pa.string()),
                          *((a, pa.list_(pa.string())) for a in arrays)])


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and v != v) else v


def _sorted_distinct(values: Iterable[Any]) -> list[Any]:
    """array_agg(DISTINCT x): ascending (byte order, as the C collation), NULL last."""
    vals = set(values)
    present = sorted(v for v in vals if v is not None)
    return present + ([None] if None in vals else [])


class ChunkTagParts:
    """A chunk's tag parts, reduced day after day; memory grows with the distinct groups only."""

    def __init__(self, spec: TagTables, chunk: int) -> None:
        self.spec = spec
        self.chunk = chunk
        self.summary: dict[tuple, set] = {}
        self.values: dict[tuple, list[set]] = {}

    def add(self, project: pd.DataFrame, cloud_keys: frozenset[str]) -> None:
        """Add one day's project rows (``enabled_tags`` = the rows' tags as JSON text)."""
        if project.empty or not cloud_keys:
            return
        spec = self.spec
        texts = project["enabled_tags"].to_numpy(dtype=object)
        parsed: dict[str, list[tuple[str, Any]]] = {}
        for t in set(texts):
            if t is None or (isinstance(t, float) and t != t):
                continue
            m = parse_map(t) or {}
            if any(k in cloud_keys for k in m):  # tags ?| (keys enabled for the cloud)
                parsed[t] = [(k, v) for k, v in m.items() if v is not None]
        if not parsed:
            return
        # one pass per distinct (tags, dimensions, namespace, node): project rows repeat them per resource and SKU
        cols = list(dict.fromkeys(["enabled_tags", *spec.dims, *(c for _a, c in spec.arrays), "namespace", "node"]))
        rows = project.loc[project["enabled_tags"].isin(list(parsed)).to_numpy(dtype=bool), cols]
        rows = rows.astype(object).where(rows.notna(), None).drop_duplicates()
        texts = rows["enabled_tags"].to_numpy(dtype=object)
        dims = [rows[d].to_numpy(dtype=object) for d in spec.dims]
        array_cols = [rows[c].to_numpy(dtype=object) for _a, c in spec.arrays]
        namespaces = rows["namespace"].to_numpy(dtype=object)
        nodes = rows["node"].to_numpy(dtype=object)
        for i, text in enumerate(texts):
            pairs = parsed.get(text) if isinstance(text, str) else None
            if not pairs:
                continue
            ns, node = _none(namespaces[i]), _none(nodes[i])
            dim = tuple(_none(d[i]) for d in dims)
            arr = [_none(a[i]) for a in array_cols]
            for k, v in pairs:
                if k in cloud_keys and ns is not None:
                    self.summary.setdefault((k, *dim, ns, node), set()).add(v)
                sets = self.values.setdefault((k, v), [set() for _ in range(len(arr) + 2)])
                for s, x in zip(sets, [*arr, ns, node], strict=True):
                    s.add(x)

    def summary_table(self) -> pa.Table:
        names = self.spec.summary_schema.names
        rows = [dict(zip(names, [*g, _sorted_distinct(vals)], strict=True)) for g, vals in self.summary.items()]
        return pa.Table.from_pylist(rows, schema=self.spec.summary_schema)

    def values_table(self) -> pa.Table:
        names = self.spec.values_schema.names
        rows = [dict(zip(names, [self.chunk, k, v, *(_sorted_distinct(s) for s in sets)], strict=True))
                for (k, v), sets in self.values.items()]
        return pa.Table.from_pylist(rows, schema=self.spec.values_schema)


def write_tag_tables(conn: Connection, schema: str, spec: TagTables, bill_id: int, report_period_id: int,
                     cluster_id: str, cluster_alias: str | None, summary: pa.Table,
                     values: pa.Table) -> dict[str, int]:
    """Apply a run's staged parts to both tables in one transaction (commits; rolls back on error)."""
    stable, vtable = qualified(schema, spec.summary), qualified(schema, spec.values)
    keys = qualified(schema, "reporting_enabledtagkeys")
    counts = dict.fromkeys(("summary_rows", "summary_inserted", "summary_updated", "values_upserted",
                            "summary_deleted", "values_deleted"), 0)
    try:
        with conn.cursor() as cur:
            advisory_xact_lock(cur, f"{spec.summary}:{schema}")
            _write_summary(cur, stable, spec, bill_id, report_period_id, summary, counts)
            _write_values(cur, vtable, spec, cluster_id, cluster_alias, values, counts)
            cur.execute(sql.SQL("DELETE FROM {} ts WHERE EXISTS (SELECT 1 FROM {} k WHERE NOT k.enabled"
                                " AND k.provider_type = %s AND k.key = ts.key)").format(stable, keys),
                        (spec.provider_type,))
            counts["summary_deleted"] = cur.rowcount
            cur.execute(sql.SQL("DELETE FROM {} tv WHERE NOT EXISTS (SELECT 1 FROM {} ts WHERE ts.key = tv.key)")
                        .format(vtable, stable))
            counts["values_deleted"] = cur.rowcount
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return counts


def _write_summary(cur, table, spec: TagTables, bill_id: int, rp_id: int, summary: pa.Table,
                   counts: dict[str, int]) -> None:
    group_cols = ["key", *spec.dims, "namespace", "node"]
    groups: dict[tuple, set] = {}
    for r in summary.to_pylist():
        groups.setdefault(tuple(r[c] for c in group_cols), set()).update(r["values"])
    if not groups:
        return
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in group_cols)
    cur.execute(sql.SQL("SELECT uuid::text, {}, values FROM {} WHERE cost_entry_bill_id = %s"
                        " AND report_period_id = %s").format(cols, table), (bill_id, rp_id))
    existing = {tuple(r[1:-1]): (r[0], r[-1]) for r in cur.fetchall()}
    inserts, updates = [], []
    for gkey, vals in groups.items():
        if gkey in existing:
            row_uuid, old = existing[gkey]
            merged = _sorted_distinct([*vals, *(old or [])])
            if merged != list(old or []):
                updates.append((row_uuid, merged))
        else:
            inserts.append((str(uuid.uuid4()), *gkey, _sorted_distinct(vals), bill_id, rp_id))
    if inserts:
        names = ["uuid", *group_cols, "values", "cost_entry_bill_id", "report_period_id"]
        execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
            table, sql.SQL(", ").join(sql.Identifier(c) for c in names)), inserts, page_size=1000)
    if updates:
        execute_values(cur, sql.SQL("UPDATE {} AS t SET values = v.vals FROM (VALUES %s) AS v(id, vals)"
                                    " WHERE t.uuid = v.id::uuid").format(table), updates, page_size=1000)
    counts["summary_inserted"], counts["summary_updated"] = len(inserts), len(updates)
    counts["summary_rows"] = len(groups)


def _write_values(cur, table, spec: TagTables, cluster_id: str, cluster_alias: str | None, values: pa.Table,
                  counts: dict[str, int]) -> None:
    """Per (key, value): the arrays of the last chunk that has the pair (Koku's upsert per chunk)."""
    last: dict[tuple, dict] = {}
    for r in values.to_pylist():
        pair = (r["key"], r["value"])
        if pair not in last or r["chunk"] > last[pair]["chunk"]:
            last[pair] = r
    arrays = [a for a, _c in spec.arrays]
    rows = [(str(uuid.uuid4()), k, v, *(last[(k, v)][a] for a in arrays), [cluster_id], [cluster_alias],
             last[(k, v)]["namespaces"], last[(k, v)]["nodes"]) for k, v in sorted(last)]
    if not rows:
        return
    names = ["uuid", "key", "value", *arrays, "cluster_ids", "cluster_aliases", "namespaces", "nodes"]
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in names[3:])
    execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s ON CONFLICT (key, value) DO UPDATE SET {}").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in names), updates), rows, page_size=1000)
    counts["values_upserted"] = len(rows)
