"""Cloud-neutral pieces of the PostgreSQL outputs of OCP on cloud (spec ocp-on-cloud.md §4.3, §5.1, §6.2).

- :func:`group_rows`: a SQL GROUP BY over one day's final rows (dates, numbers and NULL keys as SQL has them);
- :class:`UiTable` / :func:`ui_rows`: one UI summary table = a filter and a GROUP BY over the final rows (Koku's
  Trino UI SQL reads the Hive final table, so the sums run over doubles before PostgreSQL rounds them);
- :func:`back_populate_rows`: the OCP rows carrying a provider's attributed cost
  (``reporting_ocp<cloud>_ocp_infrastructure_back_populate.sql``), summed over the values *as the project table
  stores them* (each cost rounded to its column's scale), exactly (Python integers of the smallest unit).

A provider describes what differs (its cost terms and scales, whether a NULL term drops a row from the raw cost,
its currency column, its UI tables); the arithmetic is shared.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from poc_tasks.ocp.frames import arrow_type, group_coded, sql_group, text_as_codes

__all__ = ["group_rows", "group_rows_sorted", "UiTable", "ui_rows", "ui_tables_rows", "combine_ui_rows", "CostTerm",
           "back_populate_rows",
           "back_populate_groups", "merge_back_populate_groups", "back_populate_rows_of", "BACK_POPULATE_COLUMNS",
           "BACK_POPULATE_KEYS", "round_to_column_scales"]

Filter = Callable[[pd.DataFrame], np.ndarray]
ZERO_USAGE_COST = '{"cpu": 0.000000000, "memory": 0.000000000, "storage": 0.000000000}'
BACK_POPULATE_COLUMNS = [
    "report_period_id", "usage_start", "usage_end", "cluster_id", "cluster_alias", "namespace", "data_source", "node",
    "persistentvolumeclaim", "persistentvolume", "storageclass", "resource_id", "pod_labels", "volume_labels",
    "all_labels", "source_uuid", "infrastructure_raw_cost", "infrastructure_project_raw_cost",
    "infrastructure_usage_cost", "supplementary_usage_cost", "infrastructure_data_in_gigabytes",
    "infrastructure_data_out_gigabytes", "raw_currency", "cost_category_id",
    "pod_usage_cpu_core_hours", "pod_request_cpu_core_hours", "pod_limit_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours", "pod_request_memory_gigabyte_hours", "pod_limit_memory_gigabyte_hours",
    "node_capacity_cpu_cores", "node_capacity_cpu_core_hours", "node_capacity_memory_gigabytes",
    "node_capacity_memory_gigabyte_hours", "cluster_capacity_cpu_core_hours",
    "cluster_capacity_memory_gigabyte_hours", "persistentvolumeclaim_capacity_gigabyte",
    "persistentvolumeclaim_capacity_gigabyte_months", "volume_request_storage_gigabyte_months",
    "persistentvolumeclaim_usage_gigabyte_months",
]
_BACK_ZERO_COLUMNS = BACK_POPULATE_COLUMNS[BACK_POPULATE_COLUMNS.index("pod_usage_cpu_core_hours"):]


def group_rows(frame: pd.DataFrame, keys: Sequence[str], aggs: Mapping[str, str],
               numeric: Sequence[str] = ()) -> pd.DataFrame:
    """GROUP BY keys (usage_start first among them, a date) with {column: 'sum'|'max'}; `numeric` columns (and
    every summed column) are compared and summed as float64, in an order fixed by the rows' values (so a re-run
    writes the same digits whatever order its inputs arrived in). Returns keys then aggregates, usage_start a
    date."""
    keys, aggs = list(keys), dict(aggs)
    columns = list(dict.fromkeys([*keys, *aggs]))
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    # the frame's own columns, the converted ones replaced: no copy of the frame (a day part's final rows are
    # ~100 k rows of ~35 columns; frame[columns].copy() held two copies of them at once)
    f = {c: frame[c] for c in columns}
    for c in {*numeric, *(c for c, how in aggs.items() if how == "sum")}:
        f[c] = pd.to_numeric(f[c], errors="coerce").astype("float64")
    # one factorization of the keys and a sort within the groups only (_grouped), where its columns allow: the
    # sort of every row by every column in Arrow was most of the OCP-on-GCP project rows' time
    if len(columns) == len(keys) + len(aggs) and all(
            f[c].dtype == object or pd.api.types.is_float_dtype(f[c].dtype) for c, how in aggs.items() if how == "max"):
        try:
            return _grouped(f, keys, aggs)[0][columns]
        except TypeError:  # text Python cannot order (mixed types): Arrow's conversion and its errors
            pass
    return group_rows_sorted(f, keys, aggs)[columns]


def group_rows_sorted(f: Mapping[str, pd.Series], keys: list[str], aggs: dict[str, str]) -> pd.DataFrame:
    """group_rows by sorting every row by every column in Arrow and grouping the sorted rows (the columns as
    group_rows converts them; a date usage_start grouped as its text)."""
    if "usage_start" in f:
        f = {**f, "usage_start": f["usage_start"].astype(str)}
    # text as codes: a day part's label texts in Arrow's hash grouping were most of the project rows' memory; the
    # groups come out in another order, which nothing here depends on (the sums are in value order either way)
    out = sql_group(f, keys, aggs, ordered=True, text_codes=True)
    if "usage_start" in out.columns:
        out["usage_start"] = pd.to_datetime(out["usage_start"]).dt.date
    return out


@dataclass(frozen=True)
class UiTable:
    """One UI summary table: GROUP BY usage_start and `keys`, SUM(`sums`), MAX(`maxes`), rows passing `where`."""

    name: str
    keys: tuple[str, ...] = ()
    sums: tuple[str, ...] = ()
    maxes: tuple[str, ...] = ()
    where: Filter | None = None

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(["usage_start", *self.keys, *self.maxes, *self.sums]))


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def ui_rows(final: pd.DataFrame, table: UiTable, numeric_keys: Sequence[str] = ()) -> pd.DataFrame:
    """One day's rows of a UI table (without id, usage_end and source_uuid, which the writer adds)."""
    if final.empty:
        return _empty(table.columns)
    f = final if table.where is None else final[table.where(final)]
    aggs = {**{c: "max" for c in table.maxes}, **{c: "sum" for c in table.sums}}
    out = group_rows(f, ["usage_start", *table.keys], aggs,
                     numeric=[c for c in (*table.keys, *table.maxes) if c in numeric_keys])
    return out[table.columns]


class _ArrowColumns:
    """A frame's columns as group_rows groups them, each converted once (per column and whether it is taken as
    float64) and shared by every UI table that reads it: the conversion of text columns is most of a grouping's
    cost, and the UI tables of a day read the same columns of the same rows. Text comes as integer codes in the
    values' order with the values by code (ocp.frames.text_as_codes): the same sort, groups and maxima as the text,
    without Arrow sorting strings and making Python strings of every grouped row again."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.cache: dict[tuple[str, bool], tuple[pa.Array, np.ndarray | None]] = {}

    def get(self, name: str, as_float: bool) -> tuple[pa.Array, np.ndarray | None]:
        """The column as Arrow, and for text coded, its values by code (None last: code -1 decodes to NULL)."""
        hit = self.cache.get((name, as_float))
        if hit is None:
            col = self.frame[name]
            if as_float:
                col = pd.to_numeric(col, errors="coerce").astype("float64")
            if name == "usage_start" and not as_float:
                coded = _date_codes(col)
            else:
                coded = None if as_float else text_as_codes(col)
            hit = self.cache[(name, as_float)] = coded or (pa.Array.from_pandas(col, type=arrow_type(col.dtype)),
                                                           None)
        return hit


def _date_codes(col: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """usage_start as codes in date order (group_rows groups its text, which sorts as the dates do) and the dates
    by code, None last: the text of every row is not made (a day part's rows hold one date)."""
    codes, uniques = pd.factorize(col.to_numpy(dtype=object), sort=True, use_na_sentinel=True)
    dates = pd.to_datetime(pd.Series(np.asarray(uniques, dtype=object)).astype(str)).dt.date.to_numpy(dtype=object)
    return pa.array(codes.astype(np.int32), pa.int32(), mask=codes < 0), np.append(dates, None)


def _ui_rows_shared(columns: _ArrowColumns, table: UiTable, numeric_keys: Sequence[str]) -> pd.DataFrame:
    """ui_rows from shared converted columns: the same rows (filtered in the same order), sorted by every column
    and grouped as group_rows sorts and groups them, so every sum adds the same terms in the same order."""
    keys = ["usage_start", *table.keys]
    aggs = {**{c: "max" for c in table.maxes}, **{c: "sum" for c in table.sums}}
    names = [*keys, *aggs]
    as_float = {*(c for c in (*table.keys, *table.maxes) if c in numeric_keys), *table.sums}
    converted = {c: columns.get(c, c in as_float) for c in names}
    t = pa.table([converted[c][0] for c in names], names=names)
    if table.where is not None:
        t = t.filter(pa.array(np.asarray(table.where(columns.frame), dtype=bool), pa.bool_()))
    if not t.num_rows:
        return _empty(names)[table.columns]
    # usage_start is always coded (_date_codes): it decodes to dates
    out = group_coded(t, keys, aggs, {c: lookup for c, (_a, lookup) in converted.items() if lookup is not None},
                      ordered=True)
    return pd.DataFrame(out, columns=table.columns, copy=False)  # the fresh arrays, not copied


def ui_tables_rows(final: pd.DataFrame, tables: Sequence[UiTable],
                   numeric_keys: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """{table name: ui_rows(final, table, numeric_keys)} of every table, each column of `final` converted once."""
    if final.empty:
        return {t.name: _empty(t.columns) for t in tables}
    columns = _ArrowColumns(final)
    out = {}
    for t in tables:
        names = ["usage_start", *t.keys, *t.maxes, *t.sums]
        if len(set(names)) < len(names):  # a column twice: group_rows' own path
            out[t.name] = ui_rows(final, t, numeric_keys)
            continue
        try:
            out[t.name] = _ui_rows_shared(columns, t, numeric_keys)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a value the filter would have dropped fails to convert
            out[t.name] = ui_rows(final, t, numeric_keys)
    return out


def combine_ui_rows(parts: list[pd.DataFrame], table: UiTable, numeric_keys: Sequence[str] = ()) -> pd.DataFrame:
    """ui_rows of the parts of a day's final rows, combined (sums of sums, maxima of maxima)."""
    parts = [p for p in parts if not p.empty]
    if len(parts) <= 1:
        return parts[0] if parts else _empty(table.columns)
    table = replace(table, where=None)
    return ui_tables_rows(pd.concat([p.astype(object) for p in parts], ignore_index=True), [table],
                          numeric_keys)[table.name]


@dataclass(frozen=True)
class CostTerm:
    """A project-table cost column summed into infrastructure_raw_cost, with the scale its column stores."""

    column: str
    scale: int


def _units(values: np.ndarray, scale: int) -> list[int | None]:
    """What numeric(p, scale) stores for each double (sent as its shortest text, rounded half up), as an integer
    number of 10**-scale units; NaN -> None."""
    q = decimal.Decimal(1).scaleb(-scale)
    cache: dict[float, int] = {}
    out: list[int | None] = []
    for v in values.tolist():
        if v != v:
            out.append(None)
            continue
        hit = cache.get(v)
        if hit is None:
            d = decimal.Decimal(repr(v)).quantize(q, rounding=decimal.ROUND_HALF_UP)
            hit = cache[v] = int(d.scaleb(scale))
        out.append(hit)
    return out


def _key_codes(col: pd.Series | np.ndarray) -> np.ndarray:
    """A key column as codes in its values' order (code-point order for text, as group_rows sorts), NULL (None,
    NaN) as the largest code: equal codes are equal values, as GROUP BY has them (NULLs equal)."""
    codes, uniques = pd.factorize(np.asarray(col), sort=True, use_na_sentinel=True)
    return np.where(codes < 0, len(uniques), codes)


def _max_codes(col: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A text column as ranks in its values' order with NULL as -1 (below every value, so a group's maximum rank is
    its SQL MAX, -1 when all are NULL), and the values by rank with None at -1."""
    codes, uniques = pd.factorize(np.asarray(col, dtype=object), sort=True, use_na_sentinel=True)
    return codes, np.append(np.asarray(uniques, dtype=object), None)


def _grouped(columns: Mapping[str, pd.Series], keys: Sequence[str],
             aggs: Mapping[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    """group_rows(columns, keys, aggs) ({column: 'max' (text or float) | 'sum'}; NULL keys equal) and the group of
    each row, from ONE factorization of the keys: group_rows sorted and grouped the rows in Arrow, then the
    back-populate's row->group mapping factorized the same keys again (12 % of an OCP-on-AWS run).

    A sum adds its group's rows in the order group_rows adds them -- Arrow's grouped sum runs in row order, over
    rows sorted by every column: within a group by the aggregated columns in `aggs` order, NULLs last -- so the
    digits are the same; the groups come out in the keys' order. Raises TypeError on a text column Python's sort
    cannot order (mixed types)."""
    n = len(next(iter(columns.values())))
    codes = np.column_stack([_key_codes(columns[k]) for k in keys]) if n else np.zeros((0, len(keys)), np.int64)
    row_group, n_groups = _tuple_ids(codes)
    first = np.full(n_groups, n, dtype=np.intp)
    np.minimum.at(first, row_group, np.arange(n, dtype=np.intp))
    out: dict[str, Any] = {}
    for k in keys:
        values = np.asarray(columns[k])
        taken = values[first]
        if k == "usage_start" and {type(x) for x in taken} != {dt.date}:  # group_rows gives back dates
            taken = pd.to_datetime(pd.Series(taken, dtype=object).astype(str)).dt.date.to_numpy(dtype=object)
        elif taken.dtype == object:
            taken = np.where(pd.isna(taken), None, taken)
        out[k] = taken
    order_keys: list[np.ndarray] = []  # the sort group_rows adds in (NULLs last)
    sums: dict[str, np.ndarray] = {}
    for c, how in aggs.items():
        col = columns[c]
        if how == "sum" or pd.api.types.is_float_dtype(col.dtype):
            v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            order_keys.append(v)  # np.lexsort puts NaN last, as Arrow sorts NULL
            if how == "sum":
                sums[c] = v
            else:
                m = np.full(n_groups, np.nan)
                np.fmax.at(m, row_group, v)
                out[c] = m
        else:
            rank, lookup = _max_codes(col)
            m = np.full(n_groups, -1, dtype=np.int64)
            np.maximum.at(m, row_group, rank)
            out[c] = lookup[m]
            order_keys.append(np.where(rank < 0, len(lookup), rank))
    if sums:
        order = np.lexsort([*reversed(order_keys), row_group])
        g_sorted = row_group[order]
        for c, v in sums.items():
            v = v[order]
            valid = ~np.isnan(v)
            total = np.zeros(n_groups)
            np.add.at(total, g_sorted[valid], v[valid])  # ufunc.at adds repeated indices one by one, in order
            out[c] = np.where(np.bincount(g_sorted[valid], minlength=n_groups) > 0, total, np.nan)
    return pd.DataFrame(out, columns=[*keys, *aggs], copy=False), row_group


def _tuple_ids(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """The id of each row's tuple of non-negative codes, ids in the lexicographic order of the tuples (what
    ``np.unique(codes, axis=0, return_inverse=True)`` gives), and their count. The columns are packed into one
    int64 key (mixed radix keeps the order), re-numbered by a 1-D unique whenever the next column would overflow
    it (the ids of a prefix keep its order): never axis=0's sort of row views (0.8 s of a 21.7 s Azure chunk)."""
    if codes.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), 0
    key = np.zeros(codes.shape[0], dtype=np.int64)
    size = 1  # the key's values are below size
    for i in range(codes.shape[1]):
        r = int(codes[:, i].max()) + 1
        if size * r >= 2**62:
            uniq, key = np.unique(key, return_inverse=True)
            key, size = key.reshape(-1).astype(np.int64), len(uniq)
        key = key * r + codes[:, i].astype(np.int64)
        size *= r
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1), len(uniq)


def _exact_group_costs(project: pd.DataFrame, terms: Sequence[CostTerm], group_of: np.ndarray, n_groups: int,
                       strict_raw: bool, strict_project: bool) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per group, (sum, has any term) of the raw and the project raw cost, exactly: integers of 10**-scale (the
    largest scale of the terms) of each term as its column stores it; int64 when no sum can overflow it, Python
    integers otherwise. A NULL term counts as 0; a row with one drops out of a strict sum (SQL ``sum(a + b)``)."""
    scale = max(t.scale for t in terms)
    units, valid, bound = [], [], 0
    for t in terms:
        values = pd.to_numeric(project[t.column], errors="coerce").to_numpy(dtype=float)
        uniq, inverse = np.unique(values, return_inverse=True)
        u = _units(uniq, t.scale)
        present = [abs(x) for x in u if x is not None]
        bound += (max(present) if present else 0) * 10 ** (scale - t.scale)
        units.append((np.array([0 if x is None else x * 10 ** (scale - t.scale) for x in u], dtype=object),
                      inverse.reshape(-1)))
        valid.append(~np.isnan(values))
    dtype = np.int64 if bound * max(len(project), 1) < 2 ** 62 else object
    total = np.zeros(len(project), dtype=dtype)
    for (u, inverse) in units:
        total = total + u.astype(dtype)[inverse]
    complete = np.logical_and.reduce(valid)
    out = []
    for strict, zero_start in ((strict_raw, False), (strict_project, not strict_project)):
        take = complete if strict else np.ones(len(project), dtype=bool)
        sums = np.zeros(n_groups, dtype=dtype)
        np.add.at(sums, group_of[take], total[take])
        has = np.bincount(group_of[take], minlength=n_groups) > 0
        out.append((sums, has | zero_start))
    return tuple(out)


def _unit_floats(values: np.ndarray, has: np.ndarray, scale: int) -> np.ndarray:
    """Integers of 10**-scale as doubles (correctly rounded: an integer below 2**53 is exact as a double, and one
    IEEE division rounds once); no value -> NaN."""
    unit = 10.0 ** scale
    out = np.full(len(values), np.nan)
    if values.dtype == np.int64:
        small = has & (np.abs(values) <= 2 ** 53)
        out[small] = values[small].astype(np.float64) / unit
        has = has & ~small
    for i in np.flatnonzero(has):
        v = int(values[i])
        out[i] = float(decimal.Decimal(v).scaleb(-scale)) if abs(v) > 2 ** 53 else v / unit
    return out


BACK_POPULATE_KEYS = ["usage_start", "cluster_id", "cluster_alias", "namespace", "data_source", "node",
                      "persistentvolumeclaim", "resource_id", "enabled_tags", "data_transfer_direction"]
_BACK_FLOATS = ("infrastructure_data_in_gigabytes", "infrastructure_data_out_gigabytes", "cost_category_id")
# the exact cost sums of a group (integers of 10**-scale, int64 or Python integers) and whether any row had a term
_BACK_UNITS = (("raw_units", "raw_has"), ("project_units", "project_has"))
_TRANSFER_ROW = "transfer_row"


def _back_aggs(currency: str) -> dict[str, str]:
    return {"persistentvolume": "max", "storageclass": "max", currency: "max",
            "infrastructure_data_in_gigabytes": "sum", "infrastructure_data_out_gigabytes": "sum",
            "cost_category_id": "max"}


def _empty_back_groups(currency: str) -> pd.DataFrame:
    return _empty([*BACK_POPULATE_KEYS, *_back_aggs(currency), *(c for pair in _BACK_UNITS for c in pair)])


def back_populate_groups(project: pd.DataFrame, terms: Sequence[CostTerm], strict_raw: bool, currency: str,
                         strict_project: bool = False) -> pd.DataFrame:
    """Project rows (a day's, or one part of a day's) reduced to what their back-populated OCP rows need: one row
    per back-populate group with the maxima, the exact cost sums (:func:`_exact_group_costs`) and the data in /
    out sums, except that a row of data transfer ('IN' / 'OUT', which alone output its data sums) stays a row of
    its own. Groups of several parts combine exactly (:func:`merge_back_populate_groups`): maxima of maxima,
    integer sums of integer sums, and a transfer group's float sums added over its own rows' values in value
    order as group_rows adds them -- so a day's parts need not be held until the day's end (GCP: the 10x
    month's day of 265 k project rows held 180 MiB until then, and grouping it at once took 210 MiB more)."""
    if project.empty:
        return _empty_back_groups(currency)
    keys, aggs = BACK_POPULATE_KEYS, _back_aggs(currency)
    columns = {c: project[c] for c in [*keys, *aggs]}
    for c in _BACK_FLOATS:
        columns[c] = pd.to_numeric(project[c], errors="coerce").astype("float64")
    transfer = project["data_transfer_direction"].astype(object).str.upper().isin(["IN", "OUT"]).to_numpy(dtype=bool)
    columns[_TRANSFER_ROW] = pd.Series(np.where(transfer, np.arange(len(project), dtype=np.int64), -1))
    g, row_group = _grouped(columns, [*keys, _TRANSFER_ROW], aggs)
    costs = _exact_group_costs(project, terms, row_group, len(g), strict_raw, strict_project)
    for (units, has), (values, any_term) in zip(_BACK_UNITS, costs, strict=True):
        g[units] = values
        g[has] = any_term
    return g.drop(columns=_TRANSFER_ROW)


def merge_back_populate_groups(parts: Sequence[pd.DataFrame], currency: str) -> pd.DataFrame:
    """back_populate_groups of several parts (of one day) as one: per group the maxima, the data in / out sums
    (group_rows: a transfer group's rows are its project rows, summed in value order as if grouped at once) and
    the exact cost sums of the parts' sums."""
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _empty_back_groups(currency)
    f = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    keys, aggs = BACK_POPULATE_KEYS, _back_aggs(currency)
    g, row_group = _grouped({c: f[c] for c in [*keys, *aggs]}, keys, aggs)
    n_groups = len(g)
    for units, has in _BACK_UNITS:
        values = f[units].to_numpy()
        exact = values.dtype == np.int64 and float(np.abs(values.astype(np.float64)).sum()) < 2 ** 62
        values = values if exact else values.astype(object)
        sums = np.zeros(n_groups, dtype=values.dtype)
        np.add.at(sums, row_group, values)
        g[units] = sums
        g[has] = np.bincount(row_group[f[has].to_numpy(dtype=bool)], minlength=n_groups) > 0
    return g


def back_populate_rows_of(groups: pd.DataFrame, report_period_id: int, ocp_source_uuid: str,
                          terms: Sequence[CostTerm], currency: str) -> pd.DataFrame:
    """The back-populated OCP rows of merged back_populate_groups (see :func:`back_populate_rows`)."""
    if groups.empty:
        return pd.DataFrame(columns=BACK_POPULATE_COLUMNS)
    g = groups
    scale = max(t.scale for t in terms)
    raw_cost, project_cost = (_unit_floats(g[units].to_numpy(), g[has].to_numpy(dtype=bool), scale)
                              for units, has in _BACK_UNITS)
    upper = g["data_transfer_direction"].astype(object).str.upper()
    source = g["data_source"]
    labels = g["enabled_tags"]
    out = pd.DataFrame({
        "report_period_id": report_period_id,
        "usage_start": g["usage_start"],
        "cluster_id": g["cluster_id"], "cluster_alias": g["cluster_alias"], "namespace": g["namespace"],
        "data_source": source, "node": g["node"], "persistentvolumeclaim": g["persistentvolumeclaim"],
        "persistentvolume": g["persistentvolume"], "storageclass": g["storageclass"],
        "resource_id": g["resource_id"],
        "pod_labels": labels.where(source == "Pod", "{}"),
        "volume_labels": labels.where(source == "Storage", "{}"),
        "all_labels": labels,
        "source_uuid": ocp_source_uuid,
        "infrastructure_raw_cost": raw_cost,
        "infrastructure_project_raw_cost": project_cost,
        "infrastructure_usage_cost": ZERO_USAGE_COST,
        "supplementary_usage_cost": ZERO_USAGE_COST,
        "infrastructure_data_in_gigabytes": g["infrastructure_data_in_gigabytes"].where(upper == "IN"),
        "infrastructure_data_out_gigabytes": g["infrastructure_data_out_gigabytes"].where(upper == "OUT"),
        "raw_currency": g[currency],
        "cost_category_id": g["cost_category_id"],
    })
    out["usage_end"] = out["usage_start"]
    for c in _BACK_ZERO_COLUMNS:
        out[c] = 0.0
    return out[BACK_POPULATE_COLUMNS]


def back_populate_rows(project: pd.DataFrame, report_period_id: int, ocp_source_uuid: str,
                       terms: Sequence[CostTerm], strict_raw: bool, currency: str,
                       strict_project: bool = False) -> pd.DataFrame:
    """The back-populated OCP rows of one day's project rows.

    One row per (day, cluster, alias, namespace, data_source, node, PVC, resource, labels, direction):
    infrastructure_project_raw_cost = sum of every term (NULL terms as 0); infrastructure_raw_cost the same, or,
    with `strict_raw`, the sum over the rows whose terms are all non-NULL (SQL ``sum(a + b)``; `strict_project`:
    the project raw cost too, as AWS's SQL); data in / out =
    the group's sum for 'IN' / 'OUT' rows (upper-cased), NULL otherwise; pod_labels on Pod rows, volume_labels on
    Storage rows, '{}' otherwise; every usage and capacity column 0. A day in parts: back_populate_groups of each,
    merge_back_populate_groups, back_populate_rows_of (the same rows).
    """
    groups = back_populate_groups(project, terms, strict_raw, currency, strict_project)
    return back_populate_rows_of(merge_back_populate_groups([groups], currency), report_period_id, ocp_source_uuid,
                                 terms, currency)


def round_to_column_scales(frame: pd.DataFrame, table: sa.Table, max_scale: int = 9) -> pd.DataFrame:
    """Round the numbers of `frame` to the scale of `table`'s numeric columns of scale <= `max_scale`, as the
    value's shortest text rounds half up (how Koku's Trino INSERT lands a double in numeric(p, s); the COPY writer
    would otherwise round to 15 significant digits first, which decides a half-way case differently, e.g.
    -0.0009483374999999998 -> -0.000948337, not -0.000948338)."""
    out = frame.copy()
    for col in table.columns:
        t = col.type
        if (col.name in out.columns and isinstance(t, sa.Numeric) and not isinstance(t, sa.Float)
                and t.scale is not None and t.scale <= max_scale):
            values = pd.to_numeric(out[col.name], errors="coerce").to_numpy(dtype=float)
            uniq, inverse = np.unique(values, return_inverse=True)
            units = _units(uniq, t.scale)
            rounded = np.array([np.nan if u is None else float(decimal.Decimal(u).scaleb(-t.scale)) for u in units],
                               dtype=float)
            out[col.name] = rounded[inverse].reshape(values.shape) if len(values) else values
    return out
