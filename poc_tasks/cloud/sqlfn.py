"""The few Trino scalar functions whose edge cases decide a row of Koku's OCP-on-cloud SQL, in Python.

- :func:`split_part` is Trino's: a field index past the last field gives NULL, not '' (PostgreSQL's gives '').
  Koku's Azure unit rewriting depends on it (``split_part(unit, ' ', 3) = ''`` is NULL for a two-word unit).
- :func:`like` is SQL ``LIKE`` (``%`` any run, ``_`` one character, case-sensitive, no escape character).
- :func:`strpos_found` is ``strpos(haystack, needle) != 0``: an empty needle is found in any non-NULL haystack,
  and NULL on either side is not found (NULL is not true).
- :func:`decimal_9` is ``cast(double AS decimal(24,9))``: the double's shortest text rounded half up to 9
  decimals (what Koku's Azure and GCP SQL does to costs and usage before splitting them).
"""

from __future__ import annotations

import decimal
import math
import re
from functools import lru_cache

import numpy as np

__all__ = ["split_part", "like", "strpos_found", "decimal_9", "decimal_9_array", "round_half_away"]

_NINE = decimal.Decimal("1e-9")


def split_part(text: str | None, delimiter: str, index: int) -> str | None:
    """Trino split_part (1-based); NULL text or an index past the last field gives None."""
    if text is None:
        return None
    fields = text.split(delimiter)
    return fields[index - 1] if 1 <= index <= len(fields) else None


@lru_cache(maxsize=1024)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def like(text: str | None, pattern: str) -> bool:
    """text LIKE pattern; NULL text is not a match."""
    return text is not None and _like_regex(pattern).fullmatch(text) is not None


def strpos_found(haystack: str | None, needle: str | None) -> bool:
    return haystack is not None and needle is not None and needle in haystack


def decimal_9(value: float | None) -> float:
    """cast(value AS decimal(24,9)) back to a double; None/NaN -> NaN."""
    if value is None or value != value:
        return math.nan
    if math.isinf(value):
        raise ValueError(f"{value} does not fit decimal(24,9)")
    return float(decimal.Decimal(repr(float(value))).quantize(_NINE, rounding=decimal.ROUND_HALF_UP))


def decimal_9_array(values: np.ndarray) -> np.ndarray:
    """decimal_9 of every element; most values repeat (a line's cost per row), so each distinct value once."""
    arr = np.asarray(values, dtype=float)
    uniq, inverse = np.unique(arr, return_inverse=True)
    return np.array([decimal_9(v) for v in uniq.tolist()], dtype=float)[inverse].reshape(arr.shape) \
        if arr.size else arr.copy()


def round_half_away(x: float) -> float:
    """round(double) / cast(double AS integer): half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)
