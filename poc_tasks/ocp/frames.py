"""pandas frames with SQL semantics where pandas differs: NULL keys group together but never join,
max() skips NULL strings, a sum of only NULLs is NULL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from poc_tasks.ocp.arrow_agg import group


def _arrow(df: pd.DataFrame) -> pa.Table:
    fields = []
    for name in df.columns:
        dtype = df[name].dtype
        if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            fields.append(pa.field(name, pa.float64() if pd.api.types.is_float_dtype(dtype) else pa.int64()))
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            fields.append(pa.field(name, pa.timestamp("ms")))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.Table.from_pandas(df, schema=pa.schema(fields), preserve_index=False)


def sql_group(df: pd.DataFrame, keys: list[str], aggs: dict[str, str]) -> pd.DataFrame:
    """GROUP BY keys with {column: 'sum'|'max'|'min'}, SQL NULL semantics."""
    table = group(_arrow(df[[*keys, *aggs]]), keys, aggs)
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
