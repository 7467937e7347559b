"""Staged frames: Arrow schemas derived from the table declarations, and pandas -> Arrow in those schemas; and the
two pandas helpers every provider's step 1 uses (nullable text, a function applied once per distinct value)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

__all__ = ["arrow_schema", "to_arrow", "text_column", "nullif_empty", "renamed_texts", "mapped_once", "str_mask"]


def _arrow_type(t: sa.types.TypeEngine) -> pa.DataType:
    if isinstance(t, sa.Numeric | sa.Float):  # sa.Float derives from Numeric
        return pa.float64()
    if isinstance(t, sa.Integer):
        return pa.int64()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    return pa.string()  # text, varchar, jsonb (as JSON text), uuid


def arrow_schema(table: sa.Table, columns: Sequence[str]) -> pa.Schema:
    """The staged Arrow schema of some columns of a declared table (numbers as float64, as Trino hands them)."""
    return pa.schema([pa.field(c, _arrow_type(table.c[c].type)) for c in columns])


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame's columns in the schema's types; a column the frame lacks is NULL. NaN is NULL."""
    n = len(df)
    arrays = []
    for field in schema:
        if field.name not in df.columns:
            arrays.append(pa.nulls(n, type=field.type))
            continue
        col = df[field.name]
        t = field.type
        if pa.types.is_floating(t):
            arrays.append(pa.array(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), type=t,
                                   from_pandas=True))
        elif pa.types.is_integer(t):
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            mask = np.isnan(values)
            arrays.append(pa.array(np.where(mask, 0, values).astype(np.int64), type=t, mask=mask))
        elif pa.types.is_date(t):  # each distinct value converted once (a day's rows share one or two dates)
            codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=False)
            dates = pa.array([_date(v) for v in uniques], type=t)
            arrays.append(dates.take(pa.array(codes, pa.int64())) if n else dates)
        elif pa.types.is_boolean(t):
            arrays.append(pa.array(col.astype(object).where(col.notna(), None).tolist(), type=t))
        else:
            try:  # str / None / NaN cells (the usual case): no Python work per cell
                arrays.append(pa.array(col.to_numpy(dtype=object), type=t, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # other objects (numbers, uuids): their text
                values = col.astype(object).where(col.notna(), None)
                arrays.append(pa.array([None if v is None else str(v) for v in values.tolist()], type=t))
    return pa.Table.from_arrays(arrays, schema=schema)


def _date(v: Any) -> Any:
    """A date cell as a date (a datetime or Timestamp's date part), NULL (None, NaT, NaN) as None."""
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.date() if hasattr(v, "date") and callable(v.date) else v


def text_column(col: pd.Series) -> pd.Series:
    """A varchar column as objects, NULL as None."""
    return col.astype(object).where(col.notna(), None)


def nullif_empty(col: pd.Series) -> pd.Series:
    """text_column with '' as NULL too (nullif(x, ''))."""
    c = text_column(col)
    return c.where(c != "", None)


def renamed_texts(df: pd.DataFrame, texts: dict[str, str], nullif: dict[str, str]) -> dict[str, pd.Series]:
    """Step 1's plain text columns of a cloud's lines: {temp column: source column}, as text (`texts`) or with ''
    as NULL (`nullif`)."""
    return {**{k: text_column(df[v]) for k, v in texts.items()}, **{k: nullif_empty(df[v]) for k, v in nullif.items()}}


def mapped_once(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """fn applied once per distinct value (tag texts repeat across lines)."""
    uniques = pd.unique(values.to_numpy(dtype=object))
    lookup = {v: fn(v) for v in uniques}
    return pd.Series([lookup[v] for v in values.to_numpy(dtype=object)], index=values.index, dtype=object)


def str_mask(values: pd.Series | Sequence[Any], pred: Callable[[str], bool]) -> np.ndarray:
    """A boolean array: pred(v) for each string element, False for NULL and non-strings. Each distinct value is
    tested once, as in mapped_once, and mapped back by its factorize code (no per-row lookup): a day's rows repeat
    a handful of service and SKU names (GCP's and Azure's LIKE predicates of the UI tables)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    hit = np.fromiter((isinstance(u, str) and bool(pred(u)) for u in uniques), dtype=bool, count=len(uniques))
    return np.append(hit, False)[codes]  # code -1 (NULL) takes the appended False
