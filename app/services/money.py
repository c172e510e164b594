"""Decimal money helpers shared by every surface.

Money is :class:`decimal.Decimal`, never ``float``: binary floating point cannot hold 0.01 exactly and the
payment rules (business rules §3.3) round at precise points. Rounding is always half-up, the way people and
lessor worksheets round, not Python's default banker's rounding.

Some calculations (lease depreciation, amortization) are carried out in exact rational arithmetic with
:class:`fractions.Fraction`, because a quotient such as 12,850 ÷ 36 has no finite decimal form; the rounding
helpers here accept a ``Fraction`` so that the only rounding step is the one the rules prescribe.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction

__all__ = [
    "CENT",
    "ZERO",
    "format_usd",
    "json_number",
    "round_cents",
    "round_dollars",
    "round_half_up",
    "to_decimal",
]

ZERO = Decimal("0")
CENT = Decimal("0.01")

MoneyInput = Decimal | int | str
"""What :func:`to_decimal` accepts. ``float`` is deliberately absent."""


def to_decimal(value: MoneyInput) -> Decimal:
    """Convert ``value`` to a finite :class:`Decimal`.

    Accepts ``int``, ``str`` (for example ``"29400"`` or ``"8.75"``) and ``Decimal``. A ``float`` raises
    ``TypeError``: its binary value is usually not the decimal the caller meant, so callers holding a float
    (legacy data) must decide explicitly, e.g. ``to_decimal(str(x))``. ``bool`` is refused too, because
    ``True`` being an ``int`` would otherwise pass as 1. NaN and infinities raise ``ValueError``, as does a
    string that is not a number.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(
            f"expected int, str or Decimal, got {type(value).__name__}; convert floats with str()"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    else:
        raise TypeError(f"expected int, str or Decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def round_half_up(value: MoneyInput | Fraction, places: int) -> Decimal:
    """Round ``value`` half-up (away from zero on a tie) to ``places`` decimal places.

    ``value`` may be anything :func:`to_decimal` accepts, or an exact ``Fraction``; a Fraction is rounded
    exactly, without first being approximated as a Decimal.
    """
    if isinstance(value, Fraction):
        scaled = abs(value) * (Fraction(10) ** places)
        # floor(x + 1/2) on the magnitude is half-up away from zero; the sign is put back afterwards.
        magnitude = math.floor(scaled + Fraction(1, 2))
        signed = -magnitude if value < 0 else magnitude
        return Decimal(signed).scaleb(-places)
    exponent = Decimal(1).scaleb(-places)
    with localcontext() as ctx:
        # Enough digits for any realistic amount, so quantize never fails for lack of precision.
        ctx.prec = 60
        return to_decimal(value).quantize(exponent, rounding=ROUND_HALF_UP)


def round_cents(value: MoneyInput | Fraction) -> Decimal:
    """Round to cents, half-up: ``round_cents(Decimal("44.065")) == Decimal("44.07")``."""
    return round_half_up(value, 2)


def round_dollars(value: MoneyInput | Fraction) -> Decimal:
    """Round to whole dollars, half-up: ``round_dollars(Decimal("32381.75")) == Decimal("32382")``."""
    return round_half_up(value, 0)


def format_usd(value: MoneyInput) -> str:
    """Whole dollars with thousands separators, rounded half-up: ``"$29,400"``, ``"-$1,250"``."""
    dollars = round_dollars(value)
    sign = "-" if dollars < 0 else ""
    return f"{sign}${abs(dollars):,}"


def json_number(value: Decimal) -> int | float:
    """Render a Decimal for a JSON response, which must carry numbers, never strings (consumer API §1.4).

    A Decimal written without a fractional part (``Decimal("65")``, ``Decimal("2175")``) becomes an ``int``;
    one written with a fractional part (``Decimal("8.75")``, ``Decimal("6.0")``) becomes a ``float``, whose
    ``repr`` is the same digits, so the JSON text shows exactly the written value. Raises ``ValueError``
    when the value has more significant digits than a JSON (IEEE double) number can carry, rather than
    silently changing it.
    """
    value = to_decimal(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise ValueError(f"{value} cannot be represented exactly as a JSON number")
    return as_float
