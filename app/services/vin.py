"""Vehicle identification numbers: normalisation, format check and the position-9 check digit.

The format rule (business rules §2.6, consumer API §4.6.3) is 17 characters from ``A–Z`` and ``0–9``
without ``I``, ``O`` and ``Q``. The check digit (ISO 3779 as applied in North America, 49 CFR 565) is
mandatory on vehicles built for the US and Canada; it is verified only where a caller asks for it, since
imports and trade-ins may carry VINs from elsewhere.
"""

from __future__ import annotations

import re

__all__ = [
    "VIN_LENGTH",
    "check_digit",
    "is_valid_vin_format",
    "normalise_vin",
    "validate_vin",
    "vin_check_digit_ok",
]

VIN_LENGTH = 17

_VIN_FORMAT = re.compile(r"[A-HJ-NPR-Z0-9]{17}")

# Letters stand for digits in the check-digit sum; I, O and Q never occur.
_TRANSLITERATION: dict[str, int] = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise_vin(vin: str) -> str:
    """Remove surrounding whitespace and upper-case: the form in which VINs are stored and compared."""
    return vin.strip().upper()


def is_valid_vin_format(vin: str) -> bool:
    """True when ``vin`` is exactly 17 characters of ``A–Z`` / ``0–9`` without ``I``, ``O``, ``Q``.

    The check is strict (upper-case, no whitespace); pass the value through :func:`normalise_vin` first to
    accept user input case-insensitively.
    """
    return isinstance(vin, str) and _VIN_FORMAT.fullmatch(vin) is not None


def check_digit(vin: str) -> str:
    """The expected position-9 character (``"0"``–``"9"`` or ``"X"``) for a VIN in valid format."""
    if not is_valid_vin_format(vin):
        raise ValueError("vin must be 17 characters from A-Z and 0-9, excluding I, O and Q")
    remainder = sum(_TRANSLITERATION[ch] * w for ch, w in zip(vin, _WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def vin_check_digit_ok(vin: str) -> bool:
    """True when ``vin`` has the valid format and its 9th character is the correct check digit."""
    return is_valid_vin_format(vin) and vin[8] == check_digit(vin)


def validate_vin(vin: str, require_check_digit: bool = False) -> str:
    """Normalise ``vin`` and validate it, returning the normalised VIN.

    Raises ``ValueError`` naming the field when the format is wrong, or, with ``require_check_digit``, when
    the position-9 check digit does not match.
    """
    if not isinstance(vin, str):
        raise ValueError("vin must be a string")
    normalised = normalise_vin(vin)
    if not is_valid_vin_format(normalised):
        raise ValueError("vin must be 17 characters from A-Z and 0-9, excluding I, O and Q")
    if require_check_digit and not vin_check_digit_ok(normalised):
        raise ValueError("vin check digit (9th character) does not match")
    return normalised
