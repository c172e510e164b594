"""Turning the old platform's loosely typed values into ours.

The old code stored whatever the browser, a spreadsheet cell or a maintenance script produced: ``"nan"`` from
empty CSV cells, numbers as strings, doubles for money, dates as BSON dates, Python ``isoformat()`` strings,
JavaScript ``toISOString()`` strings or bare dates. Every helper here accepts all of those and returns ``None``
for "no value", never guessing a default.
"""

from __future__ import annotations

import hashlib
import re
import struct
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bson import ObjectId

from app.models.base import parse_object_id

# What spreadsheet imports wrote for an empty cell (str(float("nan"))), and other spellings of nothing.
BLANKS = frozenset({"", "nan", "none", "null", "undefined", "n/a"})

_DIGITS = re.compile(r"\D")


def pick(doc: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present in ``doc`` with a value that is not blank."""
    for key in keys:
        value = doc.get(key)
        if not is_blank(value):
            return value
    return None


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, str) and value.strip().lower() in BLANKS


def text(value: Any, max_length: int | None = None) -> str | None:
    """A stripped string, or None for blanks. Internal whitespace runs collapse to one space."""
    if is_blank(value):
        return None
    result = " ".join(str(value).split())
    if max_length is not None:
        result = result[:max_length]
    return result or None


def integer(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; None otherwise."""
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def money(value: Any) -> Decimal | None:
    """A Decimal amount. Doubles go through their shortest repr (``38067.0`` → ``Decimal("38067.0")``),
    never through binary floating point."""
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        number = Decimal(str(value).strip().replace(",", "").lstrip("$"))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if is_blank(value):
        return None
    if isinstance(value, (int, float)):
        return bool(value)
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "1", "y"):
        return True
    if lowered in ("false", "no", "0", "n"):
        return False
    return None


def moment(value: Any) -> datetime | None:
    """An aware UTC datetime from a BSON date, an ISO string (with or without offset, ``Z``) or a bare date
    (midnight UTC). Naive values are UTC: that is how the old application stored them."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso_date(value: Any) -> str | None:
    """``YYYY-MM-DD`` from an ISO date, ``MM/DD/YYYY`` or a datetime; None when it is not a real date."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    raw = str(value).strip()
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", raw)
    try:
        if match:
            month, day, year = (int(g) for g in match.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(raw[:10]).isoformat()
    except ValueError:
        return None


def us_phone(value: Any) -> str | None:
    """E.164 for US numbers written any of the usual ways (``(424) 555-0145``, ``310-555-0101``,
    ``+13235550145``); other values are kept as typed (stripped)."""
    raw = text(value, 20)
    if raw is None:
        return None
    digits = _DIGITS.sub("", raw)
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return raw


def ssn(value: Any) -> str | None:
    """``123-45-6789`` from the three legacy spellings; other values are kept as typed (stripped)."""
    raw = text(value)
    if raw is None:
        return None
    digits = _DIGITS.sub("", raw)
    if len(digits) == 9:
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    return raw


def legacy_id(value: Any) -> str | None:
    """The string form of a legacy id (``str(_id)``), as the old code wrote it into references."""
    if value is None:
        return None
    if isinstance(value, ObjectId):
        return str(value)
    raw = str(value).strip()
    return raw or None


def derived_object_id(collection: str, legacy: str, created: datetime | None = None) -> ObjectId:
    """A stable ObjectId for a legacy id that is not one (the OAuth user's uuid).

    Four bytes of creation time (so ordering by ``_id`` still follows creation) and eight bytes of a hash of
    the collection and the legacy id: the same legacy row always maps to the same id, on every run.
    """
    seconds = int(created.timestamp()) if created else 0
    digest = hashlib.sha256(f"cargwin-legacy:{collection}:{legacy}".encode()).digest()
    return ObjectId(struct.pack(">I", seconds & 0xFFFFFFFF) + digest[:8])


def object_id_for(collection: str, value: Any, created: datetime | None = None) -> ObjectId | None:
    """Our ``_id`` for a legacy ``_id``: the same ObjectId when it is one (so references and old links keep
    working), otherwise a stable derived one."""
    if isinstance(value, ObjectId):
        return value
    legacy = legacy_id(value)
    if legacy is None:
        return None
    return parse_object_id(legacy) or derived_object_id(collection, legacy, created)
