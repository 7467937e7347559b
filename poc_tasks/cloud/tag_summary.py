"""OCP-on-AWS tag summaries: reporting_ocpawstags_summary and reporting_ocpawstags_values (spec §5.2).

Koku runs reporting_ocpawstags_summary.sql after each 5-day chunk, over the project rows of the chunk whose tags
hold a key enabled for AWS:
- summary: one row per (key, bill, report period, account, namespace, node) with the distinct values of the
  enabled key, unioned with the values already stored; the account alias is set on insert only;
- values: one row per (key, value) over *every* key of those rows, with the distinct accounts, clusters,
  namespaces and nodes; an existing row's arrays are replaced (so the last chunk that has the pair wins), its
  account aliases are kept (so the first insert's aliases stay);
- then summary rows of keys disabled for AWS go, and values rows whose key has no summary row.

Here each chunk reduces its rows' tags as it goes (:class:`ChunkTags`) and stages one small table of each kind;
one write applies the whole run in one transaction (:func:`write_tag_summaries`).
Deviation (documented in docs/ocp-on-aws.md): rows are matched NULL-safely (a NULL node or account equals NULL),
where Koku's unique constraint treats NULLs as distinct and adds a duplicate row per chunk and per re-run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import pandas as pd
import psycopg2.extensions
import pyarrow as pa
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import parse_map
from poc_tasks.db.connection import advisory_xact_lock, qualified

__all__ = ["ChunkTags", "SUMMARY_STAGED", "VALUES_STAGED", "write_tag_summaries"]

Connection = psycopg2.extensions.connection


def _tag_pairs(project: pd.DataFrame, aws_keys: frozenset[str]) -> pd.DataFrame:
    """One row per (project row, tag) of the rows whose tags hold a key enabled for AWS (``tags ?| keys``);
    every distinct tag text is parsed once."""
    cols = ["key", "value", "usage_account_id", "account_alias_id", "namespace", "node"]
    if project.empty or not aws_keys:
        return pd.DataFrame(columns=cols)
    texts = project["enabled_tags"]
    parsed = {t: parse_map(t) for t in pd.unique(texts.dropna().to_numpy(dtype=object))}
    tagged = {t: list(m.items()) for t, m in parsed.items() if m and any(k in aws_keys for k in m)}
    rows = project[texts.isin(list(tagged)).to_numpy(dtype=bool)]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    pairs = rows["enabled_tags"].map(tagged).explode()
    out = rows.loc[pairs.index, ["usage_account_id", "account_alias_id", "namespace", "node"]].copy()
    out["key"] = [kv[0] for kv in pairs]
    out["value"] = [kv[1] for kv in pairs]
    out = out[out["value"].notna()]
    return out[cols].reset_index(drop=True)


SUMMARY_STAGED = pa.schema([("key", pa.string()), ("usage_account_id", pa.string()), ("namespace", pa.string()),
                            ("node", pa.string()), ("account_alias_id", pa.int64()), ("values", pa.list_(pa.string()))])
VALUES_STAGED = pa.schema([("chunk", pa.int64()), ("key", pa.string()), ("value", pa.string()),
                           *((c, pa.list_(pa.string())) for c in ("usage_account_ids", "account_aliases",
                                                                  "namespaces", "nodes"))])


class ChunkTags:
    """A chunk's tag parts reduced as they come, day after day: per summary group its values and alias, per
    (key, value) its accounts, alias names, namespaces and nodes. Memory grows with the distinct groups only."""

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.summary: dict[tuple, list] = {}
        self.values: dict[tuple, tuple[set, set, set, set]] = {}

    def add(self, project: pd.DataFrame, aws_keys: frozenset[str], alias_names: dict[str, str | None]) -> None:
        pairs = _tag_pairs(project, aws_keys)
        if pairs.empty:
            return
        pairs = pairs.drop_duplicates()  # the same tag of many rows of one namespace and node
        alias = pd.to_numeric(pairs["account_alias_id"], errors="coerce").to_numpy(dtype=float)
        for (k, v, acct, ns, node), a in zip(
                pairs[["key", "value", "usage_account_id", "namespace", "node"]].itertuples(index=False, name=None),
                alias, strict=True):
            acct, ns, node = _none(acct), _none(ns), _none(node)
            if k in aws_keys:
                g = self.summary.setdefault((k, acct, ns, node), [set(), None])
                g[0].add(v)
                if a == a and (g[1] is None or a > g[1]):
                    g[1] = int(a)
            accts, names, nss, nodes = self.values.setdefault((k, v), (set(), set(), set(), set()))
            accts.add(acct)
            names.add(alias_names.get(acct) if acct is not None else None)
            nss.add(ns)
            nodes.add(node)

    def summary_table(self) -> pa.Table:
        rows = [(*g, a, _sorted_distinct(vals)) for g, (vals, a) in self.summary.items()]
        return pa.Table.from_pylist([dict(zip(SUMMARY_STAGED.names, r, strict=True)) for r in rows],
                                    schema=SUMMARY_STAGED)

    def values_table(self) -> pa.Table:
        rows = [(self.chunk, k, v, *(_sorted_distinct(x) for x in sets)) for (k, v), sets in self.values.items()]
        return pa.Table.from_pylist([dict(zip(VALUES_STAGED.names, r, strict=True)) for r in rows],
                                    schema=VALUES_STAGED)


def _sorted_distinct(values: Iterable[Any]) -> list[Any]:
    """array_agg(DISTINCT x): ascending, NULL last."""
    vals = set(values)
    present = sorted(v for v in vals if v is not None)
    return present + ([None] if None in vals else [])


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def write_tag_summaries(conn: Connection, schema: str, bill_id: int, report_period_id: int,
                        cluster_id: str, cluster_alias: str | None, summary: pa.Table,
                        values: pa.Table) -> dict[str, int]:
    """Apply a run's partial rows to both tables in one transaction (commits; rolls back on error)."""
    stable = qualified(schema, "reporting_ocpawstags_summary")
    vtable = qualified(schema, "reporting_ocpawstags_values")
    keys = qualified(schema, "reporting_enabledtagkeys")
    counts = dict.fromkeys(("summary_rows", "summary_inserted", "summary_updated", "values_upserted",
                            "summary_deleted", "values_deleted"), 0)
    try:
        with conn.cursor() as cur:
            advisory_xact_lock(cur, f"ocpawstags:{schema}")
            _write_summary(cur, stable, bill_id, report_period_id, summary, counts)
            _write_values(cur, vtable, cluster_id, cluster_alias, values, counts)
            cur.execute(sql.SQL("DELETE FROM {} ts WHERE EXISTS (SELECT 1 FROM {} k WHERE NOT k.enabled"
                                " AND k.provider_type = 'AWS' AND k.key = ts.key)").format(stable, keys))
            counts["summary_deleted"] = cur.rowcount
            cur.execute(sql.SQL("DELETE FROM {} tv WHERE NOT EXISTS (SELECT 1 FROM {} ts WHERE ts.key = tv.key)")
                        .format(vtable, stable))
            counts["values_deleted"] = cur.rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return counts


def _write_summary(cur, table, bill_id: int, rp_id: int, summary: pa.Table, counts: dict[str, int]) -> None:
    groups: dict[tuple, list] = {}
    for r in summary.to_pylist():
        g = groups.setdefault((r["key"], r["usage_account_id"], r["namespace"], r["node"]), [set(), None])
        g[0].update(r["values"])
        alias = r["account_alias_id"]
        if alias is not None and (g[1] is None or alias > g[1]):
            g[1] = alias
    if not groups:
        return
    cur.execute(sql.SQL("SELECT uuid::text, key, usage_account_id, namespace, node, values FROM {}"
                        " WHERE cost_entry_bill_id = %s AND report_period_id = %s").format(table), (bill_id, rp_id))
    existing = {(r[1], r[2], r[3], r[4]): (r[0], r[5]) for r in cur.fetchall()}
    inserts, updates = [], []
    for gkey, (vals, alias) in groups.items():
        if gkey in existing:
            row_uuid, old = existing[gkey]
            merged = _sorted_distinct([*vals, *(old or [])])
            if merged != list(old or []):
                updates.append((row_uuid, merged))
        else:
            key, account, namespace, node = gkey
            inserts.append((str(uuid.uuid4()), key, _sorted_distinct(vals), bill_id, rp_id, account, alias,
                            namespace, node))
    if inserts:
        execute_values(cur, sql.SQL(
            "INSERT INTO {} (uuid, key, values, cost_entry_bill_id, report_period_id, usage_account_id,"
            " account_alias_id, namespace, node) VALUES %s").format(table), inserts, page_size=1000)
    if updates:
        execute_values(cur, sql.SQL("UPDATE {} AS t SET values = v.vals FROM (VALUES %s) AS v(id, vals)"
                                    " WHERE t.uuid = v.id::uuid").format(table), updates, page_size=1000)
    counts["summary_inserted"], counts["summary_updated"] = len(inserts), len(updates)
    counts["summary_rows"] = len(groups)


def _write_values(cur, table, cluster_id: str, cluster_alias: str | None, values: pa.Table,
                  counts: dict[str, int]) -> None:
    """Per (key, value): the last chunk's arrays, the first chunk's aliases (Koku's upsert per chunk)."""
    first: dict[tuple, dict] = {}
    last: dict[tuple, dict] = {}
    for r in values.to_pylist():
        pair = (r["key"], r["value"])
        if pair not in first or r["chunk"] < first[pair]["chunk"]:
            first[pair] = r
        if pair not in last or r["chunk"] > last[pair]["chunk"]:
            last[pair] = r
    rows = [(str(uuid.uuid4()), k, v, last[(k, v)]["usage_account_ids"], first[(k, v)]["account_aliases"],
             [cluster_id], [cluster_alias], last[(k, v)]["namespaces"], last[(k, v)]["nodes"])
            for k, v in sorted(last)]
    if not rows:
        return
    execute_values(cur, sql.SQL(
        "INSERT INTO {} (uuid, key, value, usage_account_ids, account_aliases, cluster_ids, cluster_aliases,"
        " namespaces, nodes) VALUES %s ON CONFLICT (key, value) DO UPDATE SET"
        " usage_account_ids = EXCLUDED.usage_account_ids, namespaces = EXCLUDED.namespaces,"
        " nodes = EXCLUDED.nodes, cluster_ids = EXCLUDED.cluster_ids,"
        " cluster_aliases = EXCLUDED.cluster_aliases").format(table), rows, page_size=1000)
    counts["values_upserted"] = len(rows)
