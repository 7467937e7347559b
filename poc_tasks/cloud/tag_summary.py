"""OCP-on-cloud tag summaries of every provider: reporting_ocp<cloud>tags_summary and reporting_ocp<cloud>tags_values
(spec ocp-on-cloud.md §5.2; Koku's reporting_ocp{aws,azure,gcp}tags_summary.sql).

Koku runs the SQL after each 5-day chunk over the chunk's project rows whose tags hold a key enabled for the cloud:
- summary: one row per (key enabled for the cloud, bill, report period, the provider's dimensions -- AWS the usage
  account, Azure the subscription, GCP account / project id / project name --, namespace, node) with the distinct
  values, unioned with the values already stored; AWS's account alias id is set on insert only;
- values: one row per (key, value) over *every* key of those rows, with the distinct dimension values, clusters,
  namespaces and nodes; an existing row's arrays are replaced (the last chunk that has the pair wins), except
  AWS's account aliases (the first insert's stay);
- then summary rows of keys disabled for the cloud go, and values rows whose key has no summary row.

Here each day's project rows are reduced to their distinct (key, value, dimensions, namespace, node) and staged flat
(:class:`ChunkTags`); the write COPYs them into a temporary table and PostgreSQL groups and merges them with the
stored rows, in one transaction for the whole run (:func:`write_tag_summaries`): a 50,000-pod month has ~250,000
summary groups, too many for Python sets. The values side (one row per pair) is reduced per chunk in Python.
Deviations (docs/ocp-on-aws.md, docs/ocp-on-azure-gcp.md): summary rows are matched NULL-safely (Koku's unique key
treats a NULL node as distinct and adds a duplicate row per chunk and re-run); a JSON null tag value is left out
(GCP's SQL skips it, Azure's would fail on the NOT NULL value column); a row without namespace is left out of the
summary (its NOT NULL namespace column would fail Koku's insert).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import parse_map
from poc_tasks.db.connection import advisory_xact_lock, qualified, rollback_quietly
from poc_tasks.db.encode import CsvStream
from poc_tasks.ocp.arrow_agg import distinct

__all__ = ["TagTables", "ChunkTags", "write_tag_summaries"]

Connection = psycopg2.extensions.connection


@dataclass(frozen=True)
class TagTables:
    summary: str
    values: str
    provider_type: str  # reporting_enabledtagkeys.provider_type of the cloud
    dims: tuple[str, ...]  # project columns that key a summary row (besides key, namespace, node)
    arrays: tuple[tuple[str, str], ...]  # (values-table array column, project column) besides clusters/ns/nodes
    insert_only: tuple[str, ...] = ()  # integer project columns a new summary row takes (max), never updated (AWS)
    first_arrays: tuple[str, ...] = ()  # arrays of the first chunk that has the pair, not the last (AWS aliases)

    @property
    def summary_schema(self) -> pa.Schema:
        return pa.schema([("key", pa.string()), ("value", pa.string()), *((d, pa.string()) for d in self.dims),
                          ("namespace", pa.string()), ("node", pa.string()),
                          *((c, pa.int64()) for c in self.insert_only)])

    @property
    def values_schema(self) -> pa.Schema:
        arrays = [*(a for a, _c in self.arrays), "namespaces", "nodes"]
        return pa.schema([("chunk", pa.int64()), ("key", pa.string()), ("value", pa.string()),
                          *((a, pa.list_(pa.string())) for a in arrays)])


def _expanded_tags(texts: Iterable[str | None], cloud_keys: frozenset[str],
                   memo: dict[str | None, tuple[list[str], list[str]] | None]) -> tuple[pa.Array, pa.Array,
                                                                                      np.ndarray, np.ndarray]:
    """Every (key, value) of the distinct tag texts that hold a key enabled for the cloud, flat (keys, values), and
    per text where its pairs start and how many there are (0: no enabled key). A text is parsed once per chunk
    (`memo`): the same pods carry the same tags every day."""
    keys_flat: list[str] = []
    values_flat: list[str] = []
    texts = list(texts)
    starts, counts = np.zeros(len(texts), dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        if text in memo:
            items = memo[text]
        else:
            mapping = parse_map(text) or {}
            if cloud_keys.isdisjoint(mapping):
                items = None
            else:  # a JSON null value is left out
                kept = {k: v for k, v in mapping.items() if v is not None}
                items = (list(kept), list(kept.values()))
            memo[text] = items
        if items is None:
            continue
        starts[i], counts[i] = len(keys_flat), len(items[0])
        keys_flat.extend(items[0])
        values_flat.extend(items[1])
    return pa.array(keys_flat, pa.string()), pa.array(values_flat, pa.string()), starts, counts


def _tag_pairs(project: pd.DataFrame, cloud_keys: frozenset[str], columns: list[str], numeric: tuple[str, ...],
               memo: dict[str | None, tuple[list[str], list[str]] | None] | None = None) -> pa.Table:
    """The distinct (key, value, *columns) of the rows whose tags hold a key enabled for the cloud (``tags ?|
    keys``), every key of those rows (`numeric` columns as float64, the others as text). Each distinct tag text is
    parsed once and rows are expanded by index arithmetic in Arrow (``take``), never per row in Python."""
    schema = pa.schema([("key", pa.string()), ("value", pa.string()),
                        *((c, pa.float64() if c in numeric else pa.string()) for c in columns)])
    if project.empty or not cloud_keys:
        return schema.empty_table()
    codes, texts = pd.factorize(project["enabled_tags"], use_na_sentinel=True)
    if not len(texts):  # no row has tags
        return schema.empty_table()
    keys, values, starts, counts = _expanded_tags(texts, cloud_keys, {} if memo is None else memo)
    per_row = np.where(codes >= 0, counts[np.maximum(codes, 0)], 0)
    if not per_row.sum():
        return schema.empty_table()
    rows = np.repeat(np.arange(len(project)), per_row)
    pick = np.repeat(starts[np.maximum(codes, 0)], per_row) + (
        np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row))
    arrays = [keys.take(pick), values.take(pick)]
    for c in columns:
        if c in numeric:
            col = pa.array(pd.to_numeric(project[c], errors="coerce").to_numpy(dtype=float), pa.float64(),
                           from_pandas=True)
        else:
            col = pa.array(project[c].to_numpy(dtype=object), pa.string(), from_pandas=True)
        arrays.append(col.take(rows))
    return distinct(pa.Table.from_arrays(arrays, schema=schema), schema.names)


def _row_hashes(table: pa.Table) -> np.ndarray:
    """A 64-bit hash of each row's values (equal rows, NULLs included, hash equal)."""
    return pd.util.hash_pandas_object(table.to_pandas(), index=False).to_numpy(dtype=np.uint64)


def _rows_equal(a: pa.Table, b: pa.Table) -> np.ndarray:
    """Row i of `a` equals row i of `b` in every column, a NULL equal to a NULL."""
    same = np.ones(a.num_rows, dtype=bool)
    for x, y in zip(a.columns, b.columns, strict=True):
        eq = pc.fill_null(pc.equal(x, y), False)
        both_null = pc.and_(pc.is_null(x), pc.is_null(y))
        same &= pc.or_(eq, both_null).to_numpy(zero_copy_only=False)
    return same


class ChunkTags:
    """A chunk's tag parts: its distinct summary rows as Arrow (PostgreSQL merges the chunks'), and per (key, value)
    the distinct values of each array column, as distinct (key, value, x) rows; both reduced at each part added, so
    memory grows with the distinct rows only. The summary rows hold no date: the same pods give the same rows every
    day (the 50-node OCP-on-AWS month: 566,460 rows staged per day for 17,158 summary rows, all COPYed and grouped
    by PostgreSQL in the run's serial tail; per chunk, a fifth of that)."""

    def __init__(self, spec: TagTables, chunk: int) -> None:
        self.spec = spec
        self.chunk = chunk
        self.summary: pa.Table = spec.summary_schema.empty_table()
        self._sorted = np.zeros(0, dtype=np.uint64)  # the held summary rows' hashes, ascending
        self._sorted_rows = np.zeros(0, dtype=np.int64)  # the held row of each of those hashes
        self._array_columns = [*(c for _a, c in spec.arrays), "namespace", "node"]
        self.values: dict[str, pa.Table] = {}  # array column -> distinct (key, value, column)
        self._columns = list(dict.fromkeys([*spec.dims, *(c for _a, c in spec.arrays), "namespace", "node",
                                            *spec.insert_only]))
        self._memo: dict[str | None, tuple[list[str], list[str]] | None] = {}

    def add(self, project: pd.DataFrame, cloud_keys: frozenset[str]) -> None:
        """Add one day's (or day part's) project rows (``enabled_tags`` = the rows' tags as JSON text)."""
        spec = self.spec
        pairs = _tag_pairs(project, cloud_keys, self._columns, spec.insert_only, self._memo)
        if not pairs.num_rows:
            return
        enabled = pairs.filter(pc.and_(pc.is_in(pairs["key"], value_set=pa.array(sorted(cloud_keys), pa.string())),
                                       pc.is_valid(pairs["namespace"])))
        arrays = []
        for c in spec.summary_schema.names:
            col = enabled[c]
            if c in spec.insert_only:  # float ids -> bigint, as the summary stages them
                v = col.to_numpy(zero_copy_only=False).astype(float)
                col = pa.array(np.where(np.isnan(v), 0, v).astype(np.int64), pa.int64(), mask=np.isnan(v))
            arrays.append(col)
        self._add_summary(distinct(pa.Table.from_arrays(arrays, schema=spec.summary_schema),
                                   spec.summary_schema.names))
        for c in self._array_columns:
            part = pairs.select(["key", "value", c])
            seen = self.values.get(c)
            self.values[c] = distinct(part if seen is None else pa.concat_tables([seen, part]), ["key", "value", c])

    def _add_summary(self, part: pa.Table) -> None:
        """Append the rows of `part` (distinct) that the chunk does not hold yet. The held rows are never grouped
        again: a part's rows are looked up by a 64-bit hash of each row among the held rows' hashes (kept sorted),
        and a row whose hash is found is dropped only if it equals that held row, column by column (NULLs equal):
        a hash collision can keep a duplicate, which PostgreSQL's grouping merges, never lose a row. Re-grouping
        the chunk's held rows at every part (a 5-day chunk of the 10x AWS month holds ~250,000) cost ~60 MiB of
        Arrow hash table at each part, the peak of the chunk, and CPU growing with the rows held."""
        if not part.num_rows:
            return
        hashes = _row_hashes(part)
        if self.summary.num_rows:
            pos = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
            found = np.flatnonzero(self._sorted[pos] == hashes)
            if len(found):
                held = self.summary.take(pa.array(self._sorted_rows[pos[found]]))
                same = _rows_equal(part.take(pa.array(found)), held)
                keep = np.ones(part.num_rows, dtype=bool)
                keep[found[same]] = False
                part, hashes = part.filter(pa.array(keep)), hashes[keep]
        if not part.num_rows:
            return
        rows = np.arange(self.summary.num_rows, self.summary.num_rows + part.num_rows, dtype=np.int64)
        self.summary = pa.concat_tables([self.summary, part]) if self.summary.num_rows else part
        all_hashes, all_rows = np.concatenate([self._sorted, hashes]), np.concatenate([self._sorted_rows, rows])
        order = np.argsort(all_hashes, kind="stable")
        self._sorted, self._sorted_rows = all_hashes[order], all_rows[order]

    def summary_table(self) -> pa.Table:
        """The distinct summary rows of every part added (staged once per chunk)."""
        return self.summary

    def values_table(self) -> pa.Table:
        """One row per (key, value) with, per array column, its distinct values ascending (code point order, as
        PostgreSQL's C collation orders array_agg(DISTINCT x)), NULL last."""
        schema = self.spec.values_schema
        if not self.values:
            return schema.empty_table()
        pairs = None
        lists = []
        for c in self._array_columns:
            t = self.values[c].sort_by([("key", "ascending", "at_end"), ("value", "ascending", "at_end"),
                                        (c, "ascending", "at_end")])
            k, v = t["key"].combine_chunks(), t["value"].combine_chunks()
            change = pc.or_(pc.not_equal(k[1:], k[:-1]), pc.not_equal(v[1:], v[:-1])).to_numpy(zero_copy_only=False)
            starts = np.flatnonzero(np.concatenate([[True], change]))
            offsets = pa.array(np.append(starts, len(t)).astype(np.int32), pa.int32())
            lists.append(pa.ListArray.from_arrays(offsets, t[c].combine_chunks().cast(pa.string())))
            if pairs is None:  # every column has the same (key, value) pairs, in the same sorted order
                pairs = (k.take(starts), v.take(starts))
        n = len(pairs[0])
        return pa.Table.from_arrays([pa.array(np.full(n, self.chunk, dtype=np.int64)), *pairs, *lists],
                                    schema=schema)


def write_tag_summaries(conn: Connection, schema: str, spec: TagTables, bill_id: int, report_period_id: int,
                        cluster_id: str, cluster_alias: str | None, summary: Iterable[pa.RecordBatch],
                        values: pa.Table, commit: bool = True) -> dict[str, int]:
    """Apply a run's staged parts to both tables in one transaction (commits unless `commit` is False: statements
    of the run's swap transaction; rolls back on error)."""
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
        if commit:
            conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    return counts


def _csv_chunks(batches: Iterable[pa.RecordBatch], names: list[str]) -> Iterator[bytes]:
    for batch in batches:
        if batch.num_rows:
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]).select(names), buf, pacsv.WriteOptions(include_header=False))
            yield buf.getvalue()


def _write_summary(cur, table, spec: TagTables, bill_id: int, rp_id: int, summary: Iterable[pa.RecordBatch],
                   counts: dict[str, int]) -> None:
    """COPY the staged flat rows into a temporary table (streamed, batch by batch), then per group (key, dimensions,
    namespace, node; NULL-safe) union the values with the stored row's, or insert a new row."""
    names = spec.summary_schema.names
    group = ["key", *spec.dims, "namespace", "node"]
    ident = {c: sql.Identifier(c) for c in names}
    cur.execute(sql.SQL("CREATE TEMP TABLE poc_tags_flat ({}) ON COMMIT DROP").format(sql.SQL(", ").join(
        sql.SQL("{} {}").format(ident[c], sql.SQL("bigint" if c in spec.insert_only else "text")) for c in names)))
    cur.copy_expert("COPY poc_tags_flat FROM STDIN WITH (FORMAT csv)", CsvStream(_csv_chunks(summary, names)),
                    size=1 << 20)
    cur.execute(sql.SQL("CREATE TEMP TABLE poc_tags_groups ON COMMIT DROP AS SELECT {group}{extra},"
                        " array_agg(DISTINCT value) AS vals FROM poc_tags_flat GROUP BY {group}").format(
        group=sql.SQL(", ").join(ident[c] for c in group),
        extra=sql.SQL("").join(sql.SQL(", max({0}) AS {0}").format(ident[c]) for c in spec.insert_only)))
    counts["summary_rows"] = cur.rowcount
    same = sql.SQL(" AND ").join([sql.SQL("s.cost_entry_bill_id = %(bill)s AND s.report_period_id = %(rp)s"
                                          " AND s.key = g.key AND s.namespace = g.namespace"),
                                  *(sql.SQL("s.{0} IS NOT DISTINCT FROM g.{0}").format(ident[c])
                                    for c in [*spec.dims, "node"])])
    params = {"bill": bill_id, "rp": rp_id}
    cur.execute(sql.SQL(
        "UPDATE {t} s SET values = m.vals FROM ("
        "  SELECT s.uuid, ARRAY(SELECT DISTINCT v FROM unnest(s.values || g.vals) AS v ORDER BY v) AS vals"
        "    FROM {t} s JOIN poc_tags_groups g ON {same}) m"
        " WHERE s.uuid = m.uuid AND s.values IS DISTINCT FROM m.vals").format(t=table, same=same), params)
    counts["summary_updated"] = cur.rowcount
    inserted = [*group, *spec.insert_only]
    cur.execute(sql.SQL(
        "INSERT INTO {t} (uuid, values, cost_entry_bill_id, report_period_id, {cols})"
        " SELECT gen_random_uuid(), g.vals, %(bill)s, %(rp)s, {gcols} FROM poc_tags_groups g"
        " WHERE NOT EXISTS (SELECT 1 FROM {t} s WHERE {same})").format(
        t=table, same=same, cols=sql.SQL(", ").join(ident[c] for c in inserted),
        gcols=sql.SQL(", ").join(sql.SQL("g.{}").format(ident[c]) for c in inserted)), params)
    counts["summary_inserted"] = cur.rowcount


def _write_values(cur, table, spec: TagTables, cluster_id: str, cluster_alias: str | None, values: pa.Table,
                  counts: dict[str, int]) -> None:
    """Per (key, value): the arrays of the last chunk that has the pair, `first_arrays` of the first (Koku's upsert
    per chunk)."""
    first: dict[tuple, dict] = {}
    last: dict[tuple, dict] = {}
    for r in values.to_pylist():
        pair = (r["key"], r["value"])
        if pair not in first or r["chunk"] < first[pair]["chunk"]:
            first[pair] = r
        if pair not in last or r["chunk"] > last[pair]["chunk"]:
            last[pair] = r
    arrays = [a for a, _c in spec.arrays]
    rows = [(str(uuid.uuid4()), k, v, *((first if a in spec.first_arrays else last)[(k, v)][a] for a in arrays),
             [cluster_id], [cluster_alias], last[(k, v)]["namespaces"], last[(k, v)]["nodes"]) for k, v in sorted(last)]
    if not rows:
        return
    names = ["uuid", "key", "value", *arrays, "cluster_ids", "cluster_aliases", "namespaces", "nodes"]
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in names[3:]
                                 if c not in spec.first_arrays)
    execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s ON CONFLICT (key, value) DO UPDATE SET {}").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in names), updates), rows, page_size=1000)
    counts["values_upserted"] = len(rows)
