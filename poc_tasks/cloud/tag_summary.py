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

import io
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import parse_map
from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.db.encode import CsvStream

__all__ = ["ChunkTags", "SUMMARY_STAGED", "VALUES_STAGED", "write_tag_summaries"]

Connection = psycopg2.extensions.connection


PAIR_COLUMNS = ["key", "value", "usage_account_id", "account_alias_id", "namespace", "node"]


def _tag_pairs(project: pd.DataFrame, aws_keys: frozenset[str]) -> pd.DataFrame:
    """The distinct (key, value, account, alias, namespace, node) of the rows whose tags hold a key enabled for
    AWS (``tags ?| keys``), every key of those rows. Each distinct tag text is parsed once and rows are expanded
    by index arithmetic (the strings are shared, never copied per row)."""
    if project.empty or not aws_keys:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    codes, texts = pd.factorize(project["enabled_tags"], use_na_sentinel=True)
    keys_flat: list[str] = []
    values_flat: list[str | None] = []
    starts, counts = np.zeros(len(texts), dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        mapping = parse_map(text) or {}
        if not any(k in aws_keys for k in mapping):
            continue
        items = [(k, v) for k, v in mapping.items() if v is not None]
        starts[i], counts[i] = len(keys_flat), len(items)
        keys_flat.extend(k for k, _ in items)
        values_flat.extend(v for _, v in items)
    per_row = np.where(codes >= 0, counts[np.maximum(codes, 0)], 0)
    if not per_row.sum():
        return pd.DataFrame(columns=PAIR_COLUMNS)
    rows = np.repeat(np.arange(len(project)), per_row)
    first = np.repeat(starts[np.maximum(codes, 0)], per_row)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    pick = first + offset
    out = pd.DataFrame({
        "key": np.asarray(keys_flat, dtype=object)[pick],
        "value": np.asarray(values_flat, dtype=object)[pick],
        **{c: project[c].to_numpy(dtype=object)[rows] for c in ("usage_account_id", "namespace", "node")},
        "account_alias_id": pd.to_numeric(project["account_alias_id"], errors="coerce").to_numpy(dtype=float)[rows],
    })
    return out.drop_duplicates()[PAIR_COLUMNS].reset_index(drop=True)


# The summary side is staged flat (one row per distinct tag of a group) and aggregated by PostgreSQL at write
# time: a 50,000-pod month has ~250,000 summary groups, too many for Python sets.
SUMMARY_STAGED = pa.schema([("key", pa.string()), ("value", pa.string()), ("usage_account_id", pa.string()),
                            ("namespace", pa.string()), ("node", pa.string()), ("account_alias_id", pa.int64())])
VALUES_STAGED = pa.schema([("chunk", pa.int64()), ("key", pa.string()), ("value", pa.string()),
                           *((c, pa.list_(pa.string())) for c in ("usage_account_ids", "account_aliases",
                                                                  "namespaces", "nodes"))])


class ChunkTags:
    """A chunk's tag parts, reduced as the days come: the distinct summary rows (enabled AWS keys) as Arrow,
    per (key, value) its accounts, alias names, namespaces and nodes."""

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.summary: list[pa.Table] = []
        self.values: dict[tuple, tuple[set, set, set, set]] = {}

    def add(self, project: pd.DataFrame, aws_keys: frozenset[str], alias_names: dict[str, str | None]) -> None:
        pairs = _tag_pairs(project, aws_keys)
        if pairs.empty:
            return
        enabled = pairs[pairs["key"].isin(list(aws_keys)).to_numpy(dtype=bool)]
        alias = enabled["account_alias_id"].to_numpy(dtype=float)
        mask = np.isnan(alias)
        self.summary.append(pa.table({
            "key": pa.array(enabled["key"].tolist(), pa.string()),
            "value": pa.array(enabled["value"].tolist(), pa.string()),
            **{c: pa.array([_none(v) for v in enabled[c].tolist()], pa.string())
               for c in ("usage_account_id", "namespace", "node")},
            "account_alias_id": pa.array(np.where(mask, 0, alias).astype(np.int64), pa.int64(), mask=mask),
        }, schema=SUMMARY_STAGED))
        for (k, v, acct, ns, node) in pairs[["key", "value", "usage_account_id", "namespace", "node"]].itertuples(
                index=False, name=None):
            acct, ns, node = _none(acct), _none(ns), _none(node)
            accts, names, nss, nodes = self.values.setdefault((k, v), (set(), set(), set(), set()))
            accts.add(acct)
            names.add(alias_names.get(acct) if acct is not None else None)
            nss.add(ns)
            nodes.add(node)

    def summary_table(self) -> pa.Table:
        if not self.summary:
            return SUMMARY_STAGED.empty_table()
        table = pa.concat_tables(self.summary)
        self.summary = []
        return table.group_by(SUMMARY_STAGED.names, use_threads=False).aggregate([]).select(SUMMARY_STAGED.names)

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
                        cluster_id: str, cluster_alias: str | None, summary: Iterable[pa.RecordBatch],
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
        rollback_quietly(conn)
        raise
    return counts


def _csv_chunks(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        if batch.num_rows:
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]).select(SUMMARY_STAGED.names), buf,
                            pacsv.WriteOptions(include_header=False))
            yield buf.getvalue()


def _write_summary(cur, table, bill_id: int, rp_id: int, summary: Iterable[pa.RecordBatch],
                   counts: dict[str, int]) -> None:
    """COPY the staged (key, value, account, namespace, node, alias) rows into a temporary table (streamed, batch by
    batch), then per group (key, account, namespace, node; NULL-safe) union the values with the stored row's, or
    insert a new row."""
    cur.execute("CREATE TEMP TABLE poc_tags_flat (key text, value text, usage_account_id text, namespace text,"
                " node text, account_alias_id integer) ON COMMIT DROP")
    cur.copy_expert("COPY poc_tags_flat FROM STDIN WITH (FORMAT csv)", CsvStream(_csv_chunks(summary)),
                    size=1 << 20)
    cur.execute("CREATE TEMP TABLE poc_tags_groups ON COMMIT DROP AS SELECT key, usage_account_id, namespace, node,"
                " max(account_alias_id) AS account_alias_id, array_agg(DISTINCT value) AS vals"
                " FROM poc_tags_flat GROUP BY key, usage_account_id, namespace, node")
    counts["summary_rows"] = cur.rowcount
    same = sql.SQL("s.cost_entry_bill_id = %(bill)s AND s.report_period_id = %(rp)s AND s.key = g.key"
                   " AND s.usage_account_id IS NOT DISTINCT FROM g.usage_account_id AND s.namespace = g.namespace"
                   " AND s.node IS NOT DISTINCT FROM g.node")
    params = {"bill": bill_id, "rp": rp_id}
    cur.execute(sql.SQL(
        "UPDATE {t} s SET values = m.vals FROM ("
        "  SELECT s.uuid, ARRAY(SELECT DISTINCT v FROM unnest(s.values || g.vals) AS v ORDER BY v) AS vals"
        "    FROM {t} s JOIN poc_tags_groups g ON {same}) m"
        " WHERE s.uuid = m.uuid AND s.values IS DISTINCT FROM m.vals").format(t=table, same=same), params)
    counts["summary_updated"] = cur.rowcount
    cur.execute(sql.SQL(
        "INSERT INTO {t} (uuid, key, values, cost_entry_bill_id, report_period_id, usage_account_id,"
        " account_alias_id, namespace, node)"
        " SELECT gen_random_uuid(), g.key, g.vals, %(bill)s, %(rp)s, g.usage_account_id, g.account_alias_id,"
        " g.namespace, g.node FROM poc_tags_groups g"
        " WHERE NOT EXISTS (SELECT 1 FROM {t} s WHERE {same})").format(t=table, same=same), params)
    counts["summary_inserted"] = cur.rowcount


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
