"""Turn DataFrames / Arrow record batches into the CSV that PostgreSQL's COPY reads.

Arrow's CSV writer (C++) does the formatting, so a batch costs no Python work per row, except for jsonb or
array values that arrive as Python objects. What it writes, and how COPY (FORMAT csv) reads it back:
- NULL: an unquoted empty field. Strings are always quoted, so an empty string stays an empty string.
- float64: the shortest text that round-trips (what Python's repr gives), so PostgreSQL's numeric(33,15)
  input does the rounding to 15 places, as it does for Koku's rows. NaN becomes NULL (pandas' missing value);
  +-inf is refused with the column's name.
- date32, timestamps, booleans, integers, decimals: their ISO / plain text forms.
- jsonb: a str is sent as is; dict/list values are json.dumps'ed.
- text[] (and other arrays): PostgreSQL array literals built from lists.
- uuid: str or uuid.UUID.
"""

from __future__ import annotations

import io
import json
import math
import os
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.errors import InvalidArgument

__all__ = ["Batch", "to_arrow", "csv_bytes", "random_uuid_array", "pg_array_literal", "encode_ahead"]

Batch = pd.DataFrame | pa.RecordBatch | pa.Table
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False)


def random_uuid_array(n: int) -> pa.Array:
    """n random version-4 UUIDs as 32-digit hex strings (PostgreSQL's uuid input accepts them), vectorised."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32")
    return pa.array(hexed, type=pa.binary(32)).cast(pa.string())


def _json_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_array_literal(values: Any) -> str | None:
    """A one-dimensional PostgreSQL array literal: ['a', None] -> '{"a",NULL}'."""
    if values is None or (isinstance(values, float) and math.isnan(values)):
        return None
    if isinstance(values, str):  # already a literal
        return values
    return "{" + ",".join(_array_item(v) for v in list(values)) + "}"


def _python_column(values: Iterable[Any], fn) -> pa.Array:
    return pa.array([fn(v) for v in values], type=pa.string())


def _prepare_pandas(df: pd.DataFrame, types: Mapping[str, sa.types.TypeEngine]) -> pa.Table:
    """Object columns that Arrow cannot convert (dicts, lists, UUIDs) become text first."""
    out = {}
    for name in df.columns:
        s = df[name]
        target = types[name]
        if s.dtype == object and isinstance(target, pg.JSONB | sa.JSON):
            out[name] = _python_column(s.tolist(), _json_text)
        elif s.dtype == object and isinstance(target, sa.ARRAY):
            out[name] = _python_column(s.tolist(), pg_array_literal)
        elif s.dtype == object and isinstance(target, sa.Uuid):
            out[name] = _python_column(s.tolist(), lambda v: None if v is None or v is pd.NA else str(v))
        else:
            try:
                out[name] = pa.Array.from_pandas(s)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InvalidArgument(f"column {name!r}: cannot convert values for COPY ({exc})") from exc
    return pa.table(out)


def _fix_column(name: str, arr: pa.ChunkedArray, target: sa.types.TypeEngine) -> pa.ChunkedArray | pa.Array:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_floating(t):
        if pc.any(pc.is_inf(arr)).as_py():
            raise InvalidArgument(f"column {name!r} holds an infinite value; PostgreSQL numeric cannot store it")
        # pandas uses NaN for a missing value; PostgreSQL would store NaN, Koku's rows hold NULL.
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, t), arr)
        if isinstance(target, sa.Numeric) and not isinstance(target, sa.Float):
            arr = float8_numeric(arr)
    elif isinstance(target, sa.Date) and not isinstance(target, sa.DateTime) and pa.types.is_timestamp(t):
        arr = arr.cast(pa.date32())
    elif isinstance(target, pg.JSONB | sa.JSON) and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        arr = _python_column(arr.to_pylist(), _json_text)
    elif isinstance(target, sa.ARRAY) and (pa.types.is_list(t) or pa.types.is_large_list(t)):
        arr = _python_column(arr.to_pylist(), pg_array_literal)
    elif isinstance(target, sa.Uuid) and pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        arr = _python_column(arr.to_pylist(), lambda v: None if v is None else str(uuid.UUID(bytes=v)))
    return arr


def float8_numeric(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Round doubles to 15 significant digits, as PostgreSQL's float8 -> numeric cast does (DBL_DIG digits).

    Koku computes in double precision and inserts into numeric(33,15) columns, so its stored values carry the
    cast's 15 significant digits (6.451612903225806 is stored as 6.451612903225810). Sending the same
    15-digit value makes our stored numerics equal Koku's digit for digit, not only within a tolerance.
    """
    values = arr.to_numpy(zero_copy_only=False).astype(float)
    out = values.copy()
    ok = np.isfinite(values) & (values != 0)
    x = values[ok]
    digits = 14 - np.floor(np.log10(np.abs(x)))
    up = digits >= 0
    scale_up = np.power(10.0, digits[up])
    scale_down = np.power(10.0, -digits[~up])
    rounded = np.empty_like(x)
    rounded[up] = np.rint(x[up] * scale_up) / scale_up
    rounded[~up] = np.rint(x[~up] / scale_down) * scale_down
    out[ok] = rounded
    mask = pc.is_null(arr)
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return pa.array(out, type=pa.float64(), mask=mask.to_numpy(zero_copy_only=False))


def to_arrow(
    batch: Batch,
    table: sa.Table,
    columns: Sequence[str],
    constants: Mapping[str, Any] | None = None,
    generate: Sequence[str] = (),
) -> pa.Table:
    """The batch as an Arrow table with exactly `columns`, in that order, ready for csv_bytes.

    `constants` fill columns the batch lacks with one value; `generate` names uuid columns to fill with
    random UUIDs when the batch lacks them. A column the table does not have, or one that neither the
    batch nor these supply, is an InvalidArgument naming it.
    """
    types = {c.name: c.type for c in table.columns}
    names = list(batch.columns) if isinstance(batch, pd.DataFrame) else list(batch.schema.names)
    unknown = [n for n in names if n not in types]
    if unknown:
        raise InvalidArgument(f"columns {unknown} do not exist in {table.name}")
    if isinstance(batch, pd.DataFrame):
        data = _prepare_pandas(batch, types)
    elif isinstance(batch, pa.RecordBatch):
        data = pa.Table.from_batches([batch])
    else:
        data = batch
    n = data.num_rows
    arrays = []
    for name in columns:
        if name in names:
            arrays.append(_fix_column(name, data.column(name), types[name]))
        elif constants and name in constants:
            value = constants[name]
            arrays.append(pa.array([None if value is None else str(value)] * n, type=pa.string()))
        elif name in generate:
            arrays.append(random_uuid_array(n))
        else:
            raise InvalidArgument(f"column {name!r} of {table.name} is missing from the rows to write")
    return pa.table(arrays, names=list(columns))


def csv_bytes(data: pa.Table) -> pa.Buffer:
    """The rows as CSV, in Arrow's own buffer (read through the buffer protocol: BytesIO.getvalue() would copy
    the whole chunk once more)."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(data, sink, _WRITE_OPTIONS)
    return sink.getvalue()


_DONE = object()


def encode_ahead(chunks: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """The chunks of `chunks`, produced by a thread that runs up to `depth` chunks ahead of the consumer.

    COPY sends a chunk and PostgreSQL parses it and maintains the table's indexes; without this the next chunk
    is read from the stage and encoded only after the send returns, while the server sits idle once it has
    drained the socket. Arrow's reading, casting and CSV writing release the GIL, so on two cores the encoding
    of the next chunk overlaps the server's work on this one. An error of the producer (bad input, a check) is
    raised here, in the consumer, at the point its chunk would have come.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():  # never blocks for good on a consumer that has gone
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put((chunk, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((_DONE, exc))

    worker = threading.Thread(target=produce, name="poc-copy-encode", daemon=True)
    worker.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()  # the consumer gave up (the COPY failed): the producer stops at its next chunk
        worker.join()


class CsvStream(io.RawIOBase):
    """A read()-able file over CSV chunks produced lazily, so one COPY streams batch after batch.

    read() returns at most `size` bytes of the current chunk (COPY reads until it gets b""), so no chunk is
    ever copied more than once.
    """

    def __init__(self, chunks: Iterator[bytes | pa.Buffer]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")
        self._pos = 0
        # psycopg2 turns an exception raised in read() into QueryCanceled; keep the original to re-raise it.
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._view):
            try:
                nxt = next(self._chunks, None)
            except BaseException as exc:
                self.error = exc
                raise
            if nxt is None:
                return b""
            self._view, self._pos = memoryview(nxt), 0
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        out = bytes(self._view[self._pos : end])
        self._pos = end
        return out
