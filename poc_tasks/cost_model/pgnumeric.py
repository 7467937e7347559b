"""PostgreSQL numeric division, for the statements whose costs stay numeric end to end.

``numeric / numeric`` rounds the quotient (half away from zero) to a scale PostgreSQL chooses from its inputs
(select_div_scale in src/backend/utils/adt/numeric.c, documented behaviour: at least 16 significant digits, and
never fewer decimals than either input shows). Reproducing it makes a chain of divisions, stored in
numeric(33,15), equal Koku's digit for digit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

__all__ = ["pg_div", "pg_round", "dscale"]

_MIN_SIG_DIGITS = 16
_DEC_DIGITS = 4  # decimal digits per base-10000 digit of PostgreSQL's numeric
_MAX_DISPLAY_SCALE = 1000


def dscale(value: Decimal) -> int:
    """The display scale: decimals the value carries (a numeric(p, s) value carries s)."""
    exp = value.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _weight_and_first(value: Decimal) -> tuple[int, int]:
    """Weight (base-10000 position) and value of the first non-zero base-10000 digit; (0, 0) for zero."""
    if value == 0:
        return 0, 0
    v = abs(value)
    weight = v.adjusted() // _DEC_DIGITS
    with localcontext() as ctx:
        ctx.prec = 60
        first = int(v.scaleb(-_DEC_DIGITS * weight))
    return weight, first


def pg_round(value: Decimal, scale: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def pg_div(a: Decimal, b: Decimal) -> Decimal:
    """``a / b`` as PostgreSQL's numeric computes it (scales taken from the operands' exponents)."""
    w1, f1 = _weight_and_first(a)
    w2, f2 = _weight_and_first(b)
    qweight = w1 - w2
    if f1 <= f2:
        qweight -= 1
    rscale = _MIN_SIG_DIGITS - qweight * _DEC_DIGITS
    rscale = min(max(rscale, dscale(a), dscale(b), 0), _MAX_DISPLAY_SCALE)
    with localcontext() as ctx:
        ctx.prec = 120
        return pg_round(a / b, rscale)
