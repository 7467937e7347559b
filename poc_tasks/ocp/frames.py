"""pandas frames with SQL semantics where pandas differs: NULL keys group together but never join,
max() skips NULL strings, a sum of only NULLs is NULL."""

from __future__ import annotations

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


def sql_group(df: pd.DataFrame, keys: list[str], aggs: dict[str, str], ordered: bool = False) -> pd.DataFrame:
    """GROUP BY keys with {column: 'sum'|'max'|'min'}, SQL NULL semantics.

    ordered=True sorts the rows by every column first: a float sum depends on the order of its terms, and the
    order rows arrive in (chunks finishing, a table re-written by another run) is not part of the data, so a
    re-run of the same rows must add them in the same order to write the same digits."""
    return arrow_group(_arrow(df[[*keys, *aggs]]), keys, aggs, ordered)


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
