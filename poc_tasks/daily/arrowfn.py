"""Arrow column helpers with the SQL semantics Koku's daily-summary SQL relies on (NULL-safe coalesce/nullif, a
Python function applied once per distinct value, GROUP BY where NULL keys form a group)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["column", "coalesce_nullif", "map_distinct", "group_by", "json_extract_scalar"]


def column(table: pa.Table, name: str) -> pa.Array:
    """One column as a single Array (dictionary columns decoded)."""
    col = table.column(name).combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col


def coalesce_nullif(*arrays: pa.Array) -> pa.Array:
    """coalesce(nullif(a, ''), nullif(b, ''), ..., last): the first non-NULL, non-empty value; the last argument is
    taken as it is (also when it is '')."""
    *heads, last = arrays
    out = last
    for arr in reversed(heads):
        usable = pc.and_kleene(pc.is_valid(arr), pc.not_equal(arr, "")).fill_null(False)
        out = pc.if_else(usable, arr, out)
    return out


def map_distinct(arr: pa.Array, fn: Callable[[Any], Any], out_type: pa.DataType = pa.string()) -> pa.Array:
    """fn of every element, computed once per distinct value (NULL included: fn(None))."""
    if len(arr) == 0:
        return pa.array([], out_type)
    uniq = pc.unique(arr)
    mapped = pa.array([fn(v) for v in uniq.to_pylist()], out_type)
    return mapped.take(pc.index_in(arr, value_set=uniq))


def group_by(table: pa.Table, keys: Sequence[str], aggs: Sequence[tuple[Any, ...]],
             names: Sequence[str]) -> pa.Table:
    """GROUP BY keys (NULL keys form one group) with Arrow aggregations; the outputs renamed to ``names``."""
    out = table.group_by(list(keys), use_threads=False).aggregate(list(aggs))
    agg_names = [n for n in out.column_names if n not in keys]  # "<column>_<function>", in the given order
    renames = dict(zip(agg_names, names, strict=True))
    return out.rename_columns([renames.get(n, n) for n in out.column_names])


def json_extract_scalar(text: str | None, key: str) -> str | None:
    """json_extract_scalar(json_parse(text), '$["<key>"]') of a JSON object text: a string as is, a number or
    boolean as its JSON text, a missing key, null, object or array NULL. Invalid JSON raises ValueError (Trino's
    json_parse fails the query); '' is read as {} (documented deviation: Trino fails on it too, Koku's ingestion
    never writes it)."""
    if text is None or text == "":
        return None
    obj = json.loads(text)
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)
