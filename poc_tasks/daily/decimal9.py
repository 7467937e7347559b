"""Trino's decimal(24,9) arithmetic of Koku's cloud daily summaries, exact, on Arrow arrays.

Koku's Azure and GCP daily-summary SQL casts doubles to ``decimal(24,9)`` and sums decimals; PostgreSQL stores
the result in ``numeric(24,9)`` columns. Doing that arithmetic in doubles would be one unit in the 9th decimal off
now and then, so it is done here in Arrow decimals (exact sums, up to 38 digits):

- :func:`cast_double` is ``cast(double AS decimal(24,9))``: Trino takes the double's shortest decimal text
  (``BigDecimal.valueOf``) and rounds it half up (away from zero) to 9 decimals (daily/numbers.py does it,
  vectorised). A value with 16 or more integer digits does not fit decimal(24,9): Trino fails the query, so does
  this (naming the column).
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

from poc_tasks.daily.numbers import to_decimal
from poc_tasks.errors import InvalidArgument

__all__ = ["DEC", "cast_double", "cast_double_slow", "to_double", "times_literal", "markup_literal"]

DEC = pa.decimal128(24, 9)
_NINE = decimal.Decimal("1e-9")


def cast_double_slow(value: float) -> decimal.Decimal:
    """cast(value AS decimal(24,9)) of one double, the reference the vectorised path must equal."""
    return decimal.Decimal(repr(float(value))).quantize(_NINE, rounding=decimal.ROUND_HALF_UP)


def cast_double(values: Any, column: str = "value") -> pa.Array:
    """cast(double AS decimal(24,9)) of every element (NULL and NaN stay NULL), as decimal128(24,9): daily/numbers.py's
    exact conversion, and Trino's failure for a value beyond decimal(24,9) (naming the column)."""
    try:
        out = to_decimal(values, 9)
    except (decimal.InvalidOperation, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{column}: a value cannot be cast to decimal(24,9) ({exc})") from exc
    try:
        return out.cast(DEC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgument(f"{column}: a value does not fit decimal(24,9) (Trino's cast fails)") from exc


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
