"""OCP-on-AWS tag summaries: reporting_ocpawstags_summary and reporting_ocpawstags_values (spec §5.2).

Koku runs reporting_ocpawstags_summary.sql after each 5-day chunk, over the project rows of the chunk whose tags
hold a key enabled for AWS:
- summary: one row per (key, bill, report period, account, namespace, node) with the distinct values of the
  enabled key, unioned with the values already stored; the account alias is set on insert only;
- values: one row per (key, value) over *every* key of those rows, with the distinct accounts, clusters,
  namespaces and nodes; an existing row's arrays are replaced (so the last chunk that has the pair wins), its
  account aliases are kept (so the first insert's aliases stay);
- then summary rows of keys disabled for AWS go, and values rows whose key has no summary row.

Here each chunk stages its partial rows (:func:`summary_parts`, :func:`values_parts`) and one write applies the
whole run in one transaction (:func:`write_tag_summaries`). Deviation (documented in docs/ocp-on-aws.md): rows
are matched NULL-safely (a NULL node or account is equal to NULL), where Koku's unique constraint treats NULLs
as distinct and adds a duplicate row per chunk and per re-run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from poc_tasks.cloud.jsontext import parse_map
from poc_tasks.db.connection import advisory_xact_lock, qualified

__all__ = ["SUMMARY_PART_COLUMNS", "VALUES_PART_COLUMNS", "summary_parts", "values_parts", "write_tag_summaries"]

Connection = psycopg2.extensions.connection
SUMMARY_PART_COLUMNS = ["key", "value", "usage_account_id", "account_alias_id", "namespace", "node"]
VALUES_PART_COLUMNS = ["chunk", "key", "value", "usage_account_id", "account_alias", "namespace", "node"]


def _tagged(project: pd.DataFrame, aws_keys: frozenset[str]) -> Iterable[tuple[dict, pd.Series]]:
    """(tag map, row) of the project rows whose tags hold a key enabled for AWS (``tags ?| keys``)."""
    if project.empty or not aws_keys:
        return
    for _, row in project.iterrows():
        tags = parse_map(row["enabled_tags"])
        if tags and any(k in aws_keys for k in tags):
            yield tags, row


def summary_parts(project: pd.DataFrame, aws_keys: frozenset[str]) -> pd.DataFrame:
    """Distinct (key, value, account, alias, namespace, node) of the enabled AWS keys of one chunk's rows."""
    out = set()
    for tags, row in _tagged(project, aws_keys):
        alias = row["account_alias_id"]
        alias = None if pd.isna(alias) else int(alias)
        for k, v in tags.items():
            if k in aws_keys and v is not None:
                out.add((k, v, row["usage_account_id"], alias, row["namespace"], row["node"]))
    return pd.DataFrame(sorted(out, key=repr), columns=SUMMARY_PART_COLUMNS)


def values_parts(project: pd.DataFrame, aws_keys: frozenset[str], chunk: int,
                 alias_names: dict[str, str | None]) -> pd.DataFrame:
    """Distinct (key, value, account, alias name, namespace, node) of every tag of one chunk's tagged rows."""
    out = set()
    for tags, row in _tagged(project, aws_keys):
        for k, v in tags.items():
            if v is not None:
                out.add((chunk, k, v, row["usage_account_id"], alias_names.get(row["usage_account_id"]),
                         row["namespace"], row["node"]))
    return pd.DataFrame(sorted(out, key=repr), columns=VALUES_PART_COLUMNS)


def _sorted_distinct(values: Iterable[Any]) -> list[Any]:
    """array_agg(DISTINCT x): ascending, NULL last."""
    vals = set(values)
    present = sorted(v for v in vals if v is not None)
    return present + ([None] if None in vals else [])


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def write_tag_summaries(conn: Connection, schema: str, bill_id: int, report_period_id: int,
                        cluster_id: str, cluster_alias: str | None, summary: pd.DataFrame,
                        values: pd.DataFrame) -> dict[str, int]:
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


def _write_summary(cur, table, bill_id: int, rp_id: int, summary: pd.DataFrame, counts: dict[str, int]) -> None:
    if summary.empty:
        return
    groups: dict[tuple, dict[str, Any]] = {}
    for r in summary.itertuples(index=False):
        gkey = (r.key, _none(r.usage_account_id), _none(r.namespace), _none(r.node))
        g = groups.setdefault(gkey, {"values": set(), "alias": None})
        g["values"].add(r.value)
        alias = _none(r.account_alias_id)
        if alias is not None and (g["alias"] is None or alias > g["alias"]):
            g["alias"] = int(alias)
    cur.execute(sql.SQL("SELECT uuid::text, key, usage_account_id, namespace, node, values FROM {}"
                        " WHERE cost_entry_bill_id = %s AND report_period_id = %s").format(table), (bill_id, rp_id))
    existing = {(r[1], r[2], r[3], r[4]): (r[0], r[5]) for r in cur.fetchall()}
    inserts, updates = [], []
    for gkey, g in groups.items():
        if gkey in existing:
            row_uuid, old = existing[gkey]
            merged = _sorted_distinct([*g["values"], *(old or [])])
            if merged != list(old or []):
                updates.append((row_uuid, merged))
        else:
            key, account, namespace, node = gkey
            inserts.append((str(uuid.uuid4()), key, _sorted_distinct(g["values"]), bill_id, rp_id, account,
                            g["alias"], namespace, node))
    if inserts:
        execute_values(cur, sql.SQL(
            "INSERT INTO {} (uuid, key, values, cost_entry_bill_id, report_period_id, usage_account_id,"
            " account_alias_id, namespace, node) VALUES %s").format(table), inserts)
    for row_uuid, merged in updates:
        cur.execute(sql.SQL("UPDATE {} SET values = %s WHERE uuid = %s").format(table), (merged, row_uuid))
    counts["summary_inserted"], counts["summary_updated"] = len(inserts), len(updates)
    counts["summary_rows"] = len(groups)


def _write_values(cur, table, cluster_id: str, cluster_alias: str | None, values: pd.DataFrame,
                  counts: dict[str, int]) -> None:
    if values.empty:
        return
    rows = []
    for (key, value), g in values.groupby(["key", "value"], sort=True):
        chunks = sorted(g["chunk"].unique())
        first, last = g[g["chunk"] == chunks[0]], g[g["chunk"] == chunks[-1]]
        rows.append((str(uuid.uuid4()), key, value,
                     _sorted_distinct(_none(v) for v in last["usage_account_id"]),
                     _sorted_distinct(_none(v) for v in first["account_alias"]),
                     [cluster_id], [cluster_alias],
                     _sorted_distinct(_none(v) for v in last["namespace"]),
                     _sorted_distinct(_none(v) for v in last["node"])))
    execute_values(cur, sql.SQL(
        "INSERT INTO {} (uuid, key, value, usage_account_ids, account_aliases, cluster_ids, cluster_aliases,"
        " namespaces, nodes) VALUES %s ON CONFLICT (key, value) DO UPDATE SET"
        " usage_account_ids = EXCLUDED.usage_account_ids, namespaces = EXCLUDED.namespaces,"
        " nodes = EXCLUDED.nodes, cluster_ids = EXCLUDED.cluster_ids,"
        " cluster_aliases = EXCLUDED.cluster_aliases").format(table), rows)
    counts["values_upserted"] = len(rows)
