"""Trade-in estimates (business rules §5.7).

The API and the back office depend on the :class:`TradeInValuator` protocol only, so a valuation provider
can replace :class:`LocalTradeInModel` without changing them. The local model is a coarse depreciation rule
over the model year, the mileage and the stated condition; it is labelled as an estimate wherever shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "CONDITION_MULTIPLIERS",
    "LOCAL_MODEL_NOTE",
    "LOCAL_MODEL_SOURCE",
    "LocalTradeInModel",
    "TradeInValuation",
    "TradeInValuator",
    "pacific_today",
]

PACIFIC = ZoneInfo("America/Los_Angeles")

LOCAL_MODEL_SOURCE = "local_model"
LOCAL_MODEL_NOTE = "Estimate only – not a Kelley Blue Book valuation"

CONDITION_MULTIPLIERS: MappingProxyType[str, Decimal] = MappingProxyType(
    {
        "excellent": Decimal("1.00"),
        "good": Decimal("0.90"),
        "fair": Decimal("0.75"),
        "poor": Decimal("0.60"),
    }
)
"""Accepted conditions (lower-case, exactly) and their multipliers."""

_BASE_VALUE = Decimal(30_000)
_PER_YEAR = Decimal("0.15")
_PER_100K_MILES = Decimal("0.20")


@dataclass(frozen=True, slots=True)
class TradeInValuation:
    """A trade-in estimate: whole dollars (never negative), who produced it, and the note to show with it."""

    value: int
    source: str
    note: str


class TradeInValuator(Protocol):
    """Anything that can value a trade-in vehicle.

    Implementations raise ``ValueError`` for input they cannot value (for example an unknown condition).
    """

    def estimate(
        self,
        *,
        vin: str,
        year: int,
        make: str,
        model: str,
        mileage: int,
        condition: str,
    ) -> TradeInValuation:
        """Value one vehicle."""
        ...


def pacific_today(now: datetime | None = None) -> date:
    """The Pacific calendar date (the business calendar) at ``now`` (aware; default: the current time)."""
    if now is None:
        return datetime.now(PACIFIC).date()
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(PACIFIC).date()


class LocalTradeInModel:
    """The §5.7 rule: ``max(0, floor(30,000 × (1 − 0.15 × age − 0.20 × miles/100,000) × condition))``.

    ``age`` is the current Pacific calendar year minus the model year, never below 0. ``today`` returns the
    Pacific date to value at; tests inject a fixed one.
    """

    def __init__(self, today: Callable[[], date] = pacific_today) -> None:
        self._today = today

    def estimate(
        self,
        *,
        vin: str,
        year: int,
        make: str,
        model: str,
        mileage: int,
        condition: str,
    ) -> TradeInValuation:
        """Value one vehicle; the VIN, make and model do not influence the local model."""
        if condition not in CONDITION_MULTIPLIERS:
            allowed = ", ".join(CONDITION_MULTIPLIERS)
            raise ValueError(f"condition must be one of: {allowed}")
        if isinstance(year, bool) or not isinstance(year, int):
            raise ValueError("year must be an integer")
        if isinstance(mileage, bool) or not isinstance(mileage, int) or mileage < 0:
            raise ValueError("mileage must be a non-negative integer")
        age = max(0, self._today().year - year)
        factor = 1 - _PER_YEAR * age - _PER_100K_MILES * Decimal(mileage) / Decimal(100_000)
        raw = _BASE_VALUE * factor * CONDITION_MULTIPLIERS[condition]
        # Clamped at zero: an old, high-mileage car is worth nothing here, never a negative amount.
        value = max(0, int(raw.to_integral_value(rounding=ROUND_FLOOR)))
        return TradeInValuation(value=value, source=LOCAL_MODEL_SOURCE, note=LOCAL_MODEL_NOTE)
