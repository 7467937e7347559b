"""Streaming reads of Koku's Parquet: row-group selection by interval_start, column projection, type checks.

A month of OCP data never sits in memory: each file's footer is read once (schema and row-group statistics),
then for each day only the row groups whose interval_start range overlaps that day are read, with only the
columns a step needs, and filtered to the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from poc_tasks.errors import InputFileError
from poc_tasks.io.line_checks import check_lines

# What a column must be, in Koku's Parquet (spec ocp.md §1.5): pandas writes str -> UTF8, float64 -> DOUBLE,
# datetime64 -> TIMESTAMP(ms). We accept the compatible physical variants (dictionary strings, ints, any unit).
STRING, NUMBER, TIMESTAMP = "string", "number", "timestamp"


def _kind_ok(kind: str, typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_null(typ):  # an all-empty column written by pandas: fine for any kind
        return True
    if kind == STRING:
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if kind == NUMBER:
        return pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ)
    if kind == TIMESTAMP:
        return pa.types.is_timestamp(typ) or pa.types.is_date(typ)
    raise ValueError(kind)


_ARROW_TYPE = {STRING: pa.string(), NUMBER: pa.float64(), TIMESTAMP: pa.timestamp("ms")}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str
    required: bool = True
    not_null: bool = False  # a key column: a NULL is refused, naming the file and column


def line_columns(time: str, names: str, numbers: frozenset[str] = frozenset(),
                 optional: frozenset[str] = frozenset()) -> list[ColumnSpec]:
    """A cloud export's columns a step reads, in order: the timestamp `time`, then the space-separated `names`
    (strings, but `numbers`; `optional` ones may be missing from a file)."""
    return [ColumnSpec(time, TIMESTAMP), *(ColumnSpec(n, NUMBER if n in numbers else STRING, n not in optional)
                                          for n in names.split())]


@dataclass
class _FileIndex:
    path: str
    columns: frozenset[str]
    # per row group: (min, max) of interval_start as naive datetimes, or None when the footer has no statistics
    ranges: list[tuple[dt.datetime, dt.datetime] | None]

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "columns": sorted(self.columns),
                "ranges": [None if r is None else [r[0].isoformat(), r[1].isoformat()] for r in self.ranges]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _FileIndex:
        return cls(d["path"], frozenset(d["columns"]),
                   [None if r is None else (dt.datetime.fromisoformat(r[0]), dt.datetime.fromisoformat(r[1]))
                    for r in d["ranges"]])


class ParquetSource:
    """The Parquet files of one Koku table for one source-month, read a day at a time."""

    def __init__(self, fs: fsspec.AbstractFileSystem, files: list[str], columns: list[ColumnSpec],
                 table: str, time_column: str = "interval_start",
                 index: list[dict[str, Any]] | None = None) -> None:
        self.fs = fs
        self.table = table
        self.columns = {c.name: c for c in columns}
        self.time_column = time_column
        self._index: list[_FileIndex] | None = None
        if index is not None:  # footers already read and checked by an earlier step of the same run
            self._index = [_FileIndex.from_json(d) for d in index]
            files = [fi.path for fi in self._index]
        self.files = list(files)
        self.bytes_read = 0
        self.rows_read = 0

    # ---- footers -------------------------------------------------------------------------------------------
    def index(self) -> list[_FileIndex]:
        if self._index is None:
            self._index = [self._index_file(p) for p in self.files]
        return self._index

    def export_index(self) -> list[dict[str, Any]]:
        """The checked footer index as JSON, so later steps (other workers) need not read the footers again."""
        return [fi.to_json() for fi in self.index()]

    def _open(self, path: str) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.fs.open(path, "rb"))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - any footer/format failure is a corrupt file for the caller
            raise InputFileError(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from exc

    def _index_file(self, path: str) -> _FileIndex:
        pf = self._open(path)
        schema = pf.schema_arrow
        for spec in self.columns.values():
            idx = schema.get_field_index(spec.name)
            if idx < 0:
                if spec.required:
                    raise InputFileError(path, f"required column missing from {self.table}", spec.name)
                continue
            if not _kind_ok(spec.kind, schema.field(idx).type):
                raise InputFileError(
                    path, f"column has type {schema.field(idx).type}, expected a {spec.kind} column", spec.name
                )
        ranges: list[tuple[dt.datetime, dt.datetime] | None] = []
        col_idx = pf.schema_arrow.get_field_index(self.time_column)
        # map the arrow field to the parquet leaf column (flat schemas: same position)
        for rg in range(pf.metadata.num_row_groups):
            stats = pf.metadata.row_group(rg).column(col_idx).statistics if col_idx >= 0 else None
            if stats is not None and stats.has_min_max:
                ranges.append((_naive(stats.min), _naive(stats.max)))
            else:
                ranges.append(None)
        return _FileIndex(path, frozenset(schema.names), ranges)

    # ---- reads ---------------------------------------------------------------------------------------------
    def read_range(self, start: dt.datetime, end: dt.datetime, columns: list[str]) -> Iterator[tuple[str, pa.Table]]:
        """Yield (path, table) for each row group overlapping [start, end), filtered to that interval.

        Columns are projected and normalised to Koku's types (strings, float64, timestamp[ms]); optional columns
        a file lacks come back as nulls.
        """
        for fi in self.index():
            groups = [i for i, r in enumerate(fi.ranges) if r is None or (r[1] >= start and r[0] < end)]
            if not groups:
                continue
            present = [c for c in columns if c in fi.columns]
            read_cols = list(dict.fromkeys([*present, self.time_column]))
            pf = self._open(fi.path)
            for rg in groups:
                try:
                    tbl = pf.read_row_group(rg, columns=read_cols)
                except Exception as exc:  # noqa: BLE001 - a broken page is a corrupt file
                    raise InputFileError(fi.path, f"row group {rg} unreadable ({type(exc).__name__}: {exc})") from exc
                self.bytes_read += pf.metadata.row_group(rg).total_byte_size
                ts = _normalise_time(tbl.column(self.time_column), fi.path, self.time_column)
                if ts.null_count:  # Koku's range filter would drop them unseen: refuse instead
                    raise InputFileError(fi.path, f"{ts.null_count} row(s) of row group {rg} have no time value "
                                                  "(NULL); Koku's SQL would drop them silently", self.time_column)
                mask = pc.and_(pc.greater_equal(ts, pa.scalar(start, pa.timestamp("ms"))),
                               pc.less(ts, pa.scalar(end, pa.timestamp("ms"))))
                tbl = tbl.set_column(tbl.schema.get_field_index(self.time_column), self.time_column, ts)
                tbl = tbl.filter(mask)
                if tbl.num_rows == 0:
                    continue
                self.rows_read += tbl.num_rows
                conformed = self._conform(tbl, columns, fi.path)
                check_lines(self.table, conformed, fi.path)  # rows Koku's SQL fails on, refused naming the file
                yield fi.path, conformed

    def min_time(self, start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
        """The smallest time value in [start, end), reading only row groups whose statistics cannot answer."""
        best: dt.datetime | None = None
        for fi in self.index():
            for rg, r in enumerate(fi.ranges):
                if r is not None and (r[1] < start or r[0] >= end):
                    continue
                if r is not None and r[0] >= start:
                    best = r[0] if best is None else min(best, r[0])
                    continue
                pf = self._open(fi.path)
                ts = _normalise_time(pf.read_row_group(rg, columns=[self.time_column]).column(0), fi.path,
                                     self.time_column)
                inside = ts.filter(pc.and_(pc.greater_equal(ts, pa.scalar(start, pa.timestamp("ms"))),
                                           pc.less(ts, pa.scalar(end, pa.timestamp("ms")))))
                low = pc.min(inside).as_py() if len(inside) else None
                if low is not None:
                    best = low if best is None else min(best, low)
        return best

    def read_day(self, day: dt.date, columns: list[str]) -> Iterator[tuple[str, pa.Table]]:
        start = dt.datetime(day.year, day.month, day.day)
        return self.read_range(start, start + dt.timedelta(days=1), columns)

    def _conform(self, tbl: pa.Table, columns: list[str], path: str) -> pa.Table:
        arrays, names = [], []
        for name in columns:
            spec = self.columns.get(name)
            target = _ARROW_TYPE[spec.kind] if spec else None
            if name in tbl.column_names:
                col = tbl.column(name)
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                if target is not None and col.type != target:
                    try:
                        col = col.cast(target) if spec.kind != TIMESTAMP else _normalise_time(col, path, name)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise InputFileError(path, f"cannot read as {spec.kind}: {exc}", name) from exc
            else:
                col = pa.nulls(tbl.num_rows, type=target or pa.string())
            if spec is not None and spec.not_null and col.null_count:
                raise InputFileError(path, f"{col.null_count} row(s) have a NULL {name}, a key column of the summary",
                                     name)
            arrays.append(col)
            names.append(name)
        return pa.table(arrays, names=names)


def _naive(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise TypeError(value)


def _normalise_time(col: pa.ChunkedArray, path: str, name: str) -> pa.ChunkedArray:
    """Koku writes naive UTC timestamp[ms]; accept other units, tz-aware (converted to UTC) and dates."""
    typ = col.type
    if pa.types.is_null(typ):
        return pa.chunked_array([pa.nulls(len(col), pa.timestamp("ms"))])
    if pa.types.is_date(typ):
        return col.cast(pa.timestamp("ms"))
    if not pa.types.is_timestamp(typ):
        raise InputFileError(path, f"column has type {typ}, expected a timestamp", name)
    if typ.tz is not None:
        col = col.cast(pa.timestamp(typ.unit, tz="UTC")).cast(pa.timestamp(typ.unit))
    return col.cast(pa.timestamp("ms"), safe=False)
