"""Doubles into numeric(p, s) as Koku's Trino SQL lands them: ``cast(x AS decimal(p, s))``.

Trino casts a double to a decimal through the double's shortest decimal text, rounded half up to the scale
(the convention the OCP-on-cloud flows of poc_tasks follow too). The result is sent to PostgreSQL as exact
decimal text, so a numeric(33,15) column keeps all 15 decimals (a float sent through the COPY writer would be
cut to 15 significant digits, as PostgreSQL's float8 -> numeric cast does).

Most values are converted with integer arithmetic in numpy; the few whose scaled value lies near a half-way
point (where the double's error could decide the rounding) or beyond 2**53 go through Python's Decimal.
"""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

__all__ = ["decimal_text", "to_decimal_text", "decimal_array", "to_decimal"]

_EXACT = 2.0 ** 52
_CONTEXT = decimal.Context(prec=80)  # a double's text quantized to 15 decimals needs more than the default 28


def _slow(value: float, scale: int) -> str:
    q = decimal.Decimal(repr(value)).quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP,
                                              context=_CONTEXT)
    text = format(q, "f")
    return "0" + text[2:] if text.startswith("-0") and q == 0 else text


def _units(x: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """(integer units in the scale, NaN mask, exact units of the positions numpy cannot decide)."""
    nan = np.isnan(x)
    scaled = x * (10.0 ** scale)
    frac = scaled - np.floor(scaled)
    margin = np.abs(scaled) * 1e-15 + 1e-12
    slow = ~nan & ((np.abs(frac - 0.5) <= margin) | (np.abs(scaled) >= _EXACT) | ~np.isfinite(scaled))
    units = np.where(nan | slow, 0.0, np.floor(scaled + 0.5)).astype(np.int64)
    exact = {int(i): int(decimal.Decimal(_slow(float(x[i]), scale)).scaleb(scale, context=_CONTEXT))
             for i in np.flatnonzero(slow)}
    return units, nan, exact


def decimal_array(values: np.ndarray, scale: int) -> pa.Array:
    """Each double as ``cast(value AS decimal(_, scale))``, as an Arrow decimal128(38, scale) array (NaN is NULL);
    built from the integer units without a Python object per value."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    units, nan, exact = _units(x, scale)
    typ = pa.decimal128(38, scale)
    if any(abs(v) >= 2**63 for v in exact.values()):  # beyond int64 units: Python's Decimal for the column
        quantum = decimal.Decimal(1).scaleb(-scale)
        objs = [None if nan[i] else (decimal.Decimal(exact[i]).scaleb(-scale, context=_CONTEXT) if i in exact
                                      else decimal.Decimal(int(units[i])) * quantum) for i in range(n)]
        return pa.array(objs, type=typ)
    for i, v in exact.items():
        units[i] = v
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # the 128-bit two's complement's high word
    arr = pa.Array.from_buffers(typ, n, [None, pa.py_buffer(words.tobytes())])
    if nan.any():
        arr = pa.compute.if_else(pa.array(nan), pa.scalar(None, typ), arr)
    return arr


def to_decimal(values: pa.Array | pa.ChunkedArray | np.ndarray, scale: int) -> pa.Array:
    """`decimal_array` of an Arrow or numpy column of numbers (nulls stay NULL)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        values = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return decimal_array(values, scale)


def decimal_text(values: np.ndarray, scale: int) -> pa.Array:
    """Each double of `values` as the text of ``cast(value AS decimal(_, scale))``; NaN is NULL."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    units, nan, exact = _units(x, scale)
    neg = units < 0
    mag = np.abs(units)
    div = 10 ** scale
    out = np.char.add(np.where(neg, "-", ""), (mag // div).astype(str))
    if scale > 0:
        out = np.char.add(np.char.add(out, "."), np.char.zfill((mag % div).astype(str), scale))
    result = out.astype(object)
    for i in exact:
        result[i] = _slow(float(x[i]), scale)
    result[nan] = None
    return pa.array(result.tolist() if n else [], type=pa.string())


def to_decimal_text(values: pa.Array | pa.ChunkedArray | np.ndarray, scale: int) -> pa.Array:
    """`decimal_text` of an Arrow or numpy column of numbers (nulls stay NULL)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        values = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return decimal_text(values, scale)
