"""Shared pieces of every document: UTC clock, money fields, timestamps, string ids."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from bson.decimal128 import Decimal128
from bson.errors import InvalidId
from mongoengine import DateTimeField, Document
from mongoengine.fields import Decimal128Field

CENT = Decimal("0.01")


def utcnow() -> datetime:
    """Timezone-aware now in UTC. Use as ``default=utcnow`` (the function, never its result)."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat a naive datetime as UTC (the database stores UTC) and convert aware ones to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_object_id(value: Any) -> ObjectId | None:
    """An ObjectId from its 24-hex string form, or None for anything else (malformed ids act as unknown)."""
    if isinstance(value, ObjectId):
        return value
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Decimal128):  # queryset updates hand fields the converted value
        return value.to_decimal()
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        # Floats reach us only from legacy data and spreadsheets; their shortest repr is what the user saw.
        return Decimal(repr(value))
    return Decimal(value)


class ExactDecimalField(Decimal128Field):
    """A non-money decimal (APR, money factor, residual percent) stored exactly as Decimal128."""

    invalid_message = "must be a number"

    def normalise(self, value: Decimal) -> Decimal:
        """Hook for subclasses: the finite value as it is stored."""
        return value

    def to_mongo(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            value = _to_decimal(value)
        except (TypeError, decimal.InvalidOperation):
            return super().to_mongo(value)
        if value.is_finite():
            value = self.normalise(value)
        return super().to_mongo(value)

    def validate(self, value: Any) -> None:
        try:
            number = _to_decimal(value)
        except (TypeError, decimal.InvalidOperation):
            self.error(self.invalid_message)
            return
        if not number.is_finite():
            self.error("must be a finite number")
        super().validate(self.to_mongo(number))


class MoneyField(ExactDecimalField):
    """A US-dollar amount stored as Decimal128 and kept to whole cents."""

    invalid_message = "must be an amount in dollars"

    def __init__(self, min_value: Decimal | int | None = 0, **kwargs: Any) -> None:
        super().__init__(min_value=Decimal(min_value) if min_value is not None else None, **kwargs)

    def normalise(self, value: Decimal) -> Decimal:
        return value.quantize(CENT, rounding=decimal.ROUND_HALF_UP)


class WholeDollarsField(MoneyField):
    """A lot price: whole dollars only (business rules §2.2)."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        number = _to_decimal(value)
        if number.is_finite() and number != number.to_integral_value():
            self.error("must be a whole number of dollars")


class TimestampedDocument(Document):
    """Adds ``created_at`` / ``updated_at``; ``updated_at`` moves on every save."""

    meta = {"abstract": True}

    created_at = DateTimeField(default=utcnow, required=True)
    updated_at = DateTimeField(default=utcnow, required=True)

    def save(self, *args: Any, **kwargs: Any) -> TimestampedDocument:
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)

    @property
    def id_str(self) -> str:
        return str(self.pk)
