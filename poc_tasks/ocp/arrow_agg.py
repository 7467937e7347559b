"""Small Arrow helpers: group-by with SQL semantics (NULL keys form a group, sum of only NULLs is NULL)."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa


def group(table: pa.Table, keys: list[str], aggs: dict[str, str]) -> pa.Table:
    """GROUP BY keys with {column: 'sum'|'max'|'min'}; output columns keep their input names."""
    if not keys:
        raise ValueError("group() needs at least one key")
    spec = [(col, fn) for col, fn in aggs.items()]
    out = table.group_by(keys, use_threads=False).aggregate(spec)
    renames = {f"{col}_{fn}": col for col, fn in spec}
    return out.rename_columns([renames.get(n, n) for n in out.column_names])


def distinct(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.group_by(keys, use_threads=False).aggregate([]).select(keys)


def combine(parts: Iterable[pa.Table], keys: list[str], aggs: dict[str, str], schema: pa.Schema) -> pa.Table:
    """Re-aggregate partial aggregates (sums of sums, maxima of maxima) into one table."""
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return schema.empty_table()
    merged = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if len(parts) == 1:
        return merged
    return group(merged, keys, aggs).select(schema.names)


def combine_distinct(parts: Iterable[pa.Table], keys: list[str], schema: pa.Schema) -> pa.Table:
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return schema.empty_table()
    return distinct(pa.concat_tables(parts), keys).select(schema.names)
