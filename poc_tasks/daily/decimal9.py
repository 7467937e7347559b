"""Trino's decimal(24,9) arithmetic of Koku's cloud daily summaries, exact, on Arrow arrays.

Koku's Azure and GCP daily-summary SQL casts doubles to ``decimal(24,9)`` and sums decimals; PostgreSQL stores
the result in ``numeric(24,9)`` columns. Doing that arithmetic in doubles would be one unit in the 9th decimal off
now and then, so it is done here in Arrow decimals (exact sums, up to 38 digits):

- :func:`cast_double` is ``cast(double AS decimal(24,9))``: Trino takes the double's shortest decimal text
  (``BigDecimal.valueOf``) and rounds it half up (away from zero) to 9 decimals. Vectorised: the product by 1e9 is
  exact enough to decide the rounding unless it lies within a few ulps of a half, and only those values (and values
  too large for the fast path) go through Python's ``decimal``. A value with 16 or more integer digits does not fit
  decimal(24,9): Trino fails the query, so does this (naming the column).
- :func:`times_literal` is ``cast(decimal * <literal> AS decimal(24,9))`` for Koku's markup, which the SQL inlines
  as text (``{{markup | sqlsafe}}``: Python's ``str(float)``). Trino reads ``0.1`` as a decimal literal (exact
  product, then rounded half up to 9 decimals) but ``1e-05`` as a double (the product is a double, then cast).
"""

from __future__ import annotations

import decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from poc_tasks.errors import InvalidArgument

__all__ = ["DEC", "cast_double", "cast_double_slow", "from_nanos", "to_double", "times_literal", "markup_literal"]

DEC = pa.decimal128(24, 9)
_NINE = decimal.Decimal("1e-9")
_LIMIT = decimal.Decimal("1e15")  # decimal(24,9) holds 15 integer digits
_FAST = 2.0**52 / 1e9  # below this, |x| * 1e9 and its fraction are representable closely enough (see cast_double)


def cast_double_slow(value: float) -> decimal.Decimal:
    """cast(value AS decimal(24,9)) of one double, the reference the vectorised path must equal."""
    return decimal.Decimal(repr(float(value))).quantize(_NINE, rounding=decimal.ROUND_HALF_UP)


def from_nanos(nanos: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(24,9) values from int64 counts of 1e-9 (two's-complement 128-bit words built directly)."""
    nanos = np.ascontiguousarray(nanos, dtype=np.int64)
    words = np.empty((len(nanos), 2), dtype=np.int64)
    words[:, 0] = nanos
    words[:, 1] = nanos >> 63  # sign extension
    validity = None
    if valid is not None and not valid.all():
        validity = pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(DEC, len(nanos), [validity, pa.py_buffer(words.tobytes())],
                                 null_count=-1 if validity is not None else 0)


def _as_float(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, validity) of an Arrow/numpy column; NaN counts as NULL (what pandas writes for a gap)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        valid = ~pc.is_null(values, nan_is_null=True).to_numpy(zero_copy_only=False)
        x = values.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    else:
        x = np.asarray(values, dtype=float)
        valid = ~np.isnan(x)
    x = np.where(valid, x, 0.0)
    return x.astype(float, copy=False), valid


def cast_double(values: Any, column: str = "value") -> pa.Array:
    """cast(double AS decimal(24,9)) of every element (NULL and NaN stay NULL), as decimal128(24,9)."""
    x, valid = _as_float(values)
    if not np.isfinite(x).all():
        raise InvalidArgument(f"{column}: an infinite value cannot be cast to decimal(24,9)")
    a = np.abs(x)
    y = a * 1e9
    floor = np.floor(y)
    frac = y - floor  # exact for |y| < 2^52
    # |x - shortest decimal of x| <= ulp(x)/2 and the product adds ulp(y)/2: outside this margin of a half the
    # rounding of the exact decimal is the rounding of y.
    margin = 2.0 * (np.spacing(a) * 1e9 + np.spacing(y))
    slow = (a >= _FAST) | (np.abs(frac - 0.5) <= margin)
    nanos = (floor + (frac > 0.5)).astype(np.int64)
    nanos = np.where(x < 0, -nanos, nanos)
    if slow.any():
        idx = np.flatnonzero(slow & valid)
        exact = [cast_double_slow(v) for v in x[idx].tolist()]
        if any(abs(d) >= _LIMIT for d in exact):
            bad = next(float(d) for d in exact if abs(d) >= _LIMIT)
            raise InvalidArgument(f"{column}: {bad!r} does not fit decimal(24,9) (Trino's cast fails)")
        nanos[idx] = [int(d.scaleb(9)) for d in exact]
    return from_nanos(nanos, valid)


def to_double(values: pa.Array) -> np.ndarray:
    """cast(decimal AS double): the nearest double (NULL -> NaN)."""
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False)


def markup_literal(markup_value: Any) -> str:
    """The text Koku's template inlines for ``{{markup | sqlsafe}}``: ``markup_value or 0`` through ``str``."""
    if markup_value in (None, "", 0):
        return "0"
    try:
        value = float(markup_value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"markup_value {markup_value!r} is not a number") from exc
    if not np.isfinite(value):
        raise InvalidArgument(f"markup_value {markup_value!r} is not a finite number")
    return "0" if value == 0 else str(value)


def times_literal(values: pa.Array, literal: str) -> pa.Array:
    """cast(values * <literal> AS decimal(24,9)) with Trino's typing of the literal (decimal unless it has an
    exponent, then double)."""
    if "e" in literal.lower():
        return cast_double(to_double(values) * float(literal), "markup_cost")
    m = decimal.Decimal(literal)
    sign, digits, exponent = m.as_tuple()
    scale = max(0, -exponent)
    precision = max(len(digits), scale, 1)
    product = pc.multiply(values.cast(DEC), pa.scalar(m, pa.decimal128(precision, scale)))
    rounded = pc.round(product, ndigits=9, round_mode="half_towards_infinity")
    return rounded.cast(pa.decimal128(38, 9)).cast(DEC)
