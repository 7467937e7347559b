"""pandas frames with SQL semantics where pandas differs: NULL keys group together but never join,
max() skips NULL strings, a sum of only NULLs is NULL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from poc_tasks.ocp.arrow_agg import group


def arrow_type(dtype) -> pa.DataType:
    """The Arrow type a frame column of this dtype is grouped in: numbers as float64 / int64, datetimes as
    timestamps, anything else as text."""
    if pd.api.types.is_float_dtype(dtype):
        return pa.float64()
    if pd.api.types.is_integer_dtype(dtype):
        return pa.int64()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.timestamp("ms")
    return pa.string()


def _arrow(df: pd.DataFrame) -> pa.Table:
    schema = pa.schema([pa.field(name, arrow_type(df[name].dtype)) for name in df.columns])
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


def sql_group(df: pd.DataFrame | Mapping[str, pd.Series], keys: list[str], aggs: dict[str, str],
              ordered: bool = False, text_codes: bool = False) -> pd.DataFrame:
    """GROUP BY keys with {column: 'sum'|'max'|'min'}, SQL NULL semantics.

    ordered=True sorts the rows by every column first: a float sum depends on the order of its terms, and the
    order rows arrive in (chunks finishing, a table re-written by another run) is not part of the data, so a
    re-run of the same rows must add them in the same order to write the same digits.

    text_codes=True groups the text keys and the max / min text columns as integer codes in the values' order
    (:func:`text_as_codes`): the same groups, maxima and (ordered) sums, but the rows come out in another order, so
    only for callers that do not depend on it. Arrow's hash grouping of long text keys holds several copies of
    them: the 10x OCP-on-GCP month's direct rows (105 k rows, labels ~100 bytes) took 218 MiB above the
    frame's own memory that way, 75 MiB as codes (and a third of the time). With text_codes, `df` may also be a
    mapping of column name to Series (a caller's converted columns, without a frame built of them)."""
    if not text_codes:
        return arrow_group(_arrow(df[[*keys, *aggs]]), keys, aggs, ordered)
    names = [*keys, *aggs]
    arrays, lookups = [], {}
    for name in names:
        col = df[name]
        coded = text_as_codes(col) if (name in keys or aggs.get(name) in ("max", "min")) else None
        if coded is None:
            arrays.append(pa.Array.from_pandas(col, type=arrow_type(col.dtype)))
        else:
            arrays.append(coded[0])
            lookups[name] = coded[1]
    return pd.DataFrame(group_coded(pa.table(arrays, names=names), keys, aggs, lookups, ordered), columns=names)


def group_coded(table: pa.Table, keys: list[str], aggs: Mapping[str, str], lookups: Mapping[str, np.ndarray],
                ordered: bool) -> dict[str, Any]:
    """GROUP BY of a table whose text columns are codes (:func:`text_as_codes`; `lookups`: their values by code),
    sorted by every column first when `ordered`; {column: values}, the codes decoded."""
    if ordered:
        table = table.sort_by([(c, "ascending") for c in table.column_names])
    table = group(table, keys, dict(aggs))
    return {name: (lookups[name][table.column(name).fill_null(-1).to_numpy()] if name in lookups
                   else table.column(name).to_pandas()) for name in table.column_names}


def text_as_codes(col: pd.Series) -> tuple[pa.Array, np.ndarray] | None:
    """A text column as integer codes (int32: half the memory of int64 for the keys Arrow hashes and sorts) that
    sort as its values do (Python's str order is code-point order, as is Arrow's byte order of UTF-8), NULL
    (None, NaN) as NULL, and the values by code with None last (so code -1 decodes to None); None when the column
    holds anything but text (left to Arrow's own conversion, and its errors)."""
    if col.dtype != object:
        return None
    codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
    values = np.asarray(uniques, dtype=object)
    if not all(isinstance(v, str) for v in values):
        return None
    wide = len(values) >= 2**31 - 1
    dtype, arrow = (np.int64, pa.int64()) if wide else (np.int32, pa.int32())
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order), dtype=dtype)
    rank[order] = np.arange(len(order), dtype=dtype)
    missing = codes < 0
    ranked = rank[np.where(missing, 0, codes)] if len(rank) else np.zeros(len(codes), dtype=dtype)
    return pa.array(ranked, type=arrow, mask=missing), np.append(values[order], None)


def arrow_group(table: pa.Table, keys: list[str], aggs: dict[str, str], ordered: bool = False) -> pd.DataFrame:
    """sql_group of a table already in sql_group's Arrow types (a frame's columns converted once, shared by
    several groupings)."""
    if ordered:
        table = table.sort_by([(c, "ascending") for c in table.column_names])
    table = group(table, keys, aggs)
    out = table.to_pandas()
    return out[[*keys, *aggs]]


def left_join(left: pd.DataFrame, right: pd.DataFrame, on: list[str] | dict[str, str]) -> pd.DataFrame:
    """LEFT JOIN with SQL equality: a NULL key on either side matches nothing. Duplicate right keys fan out."""
    left_on, right_on = (list(on), list(on)) if isinstance(on, list) else (list(on), list(on.values()))
    right = right.dropna(subset=right_on)
    return left.merge(right, how="left", left_on=left_on, right_on=right_on, suffixes=("", "_r"),
                      sort=False)




def as_float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def float_or(series: pd.Series, default: float) -> np.ndarray:
    """COALESCE(column, default) as a float array."""
    values = as_float(series)
    return np.where(np.isnan(values), default, values)
