"""Pickup slot generation (business rules §5.6, consumer API §4.6.5–4.6.6).

Slots are business hours in Pacific time, handed out as UTC instants. Generating them in local wall-clock
time and converting each one means daylight-saving changes are handled per day: 09:00 is 17:00Z in winter
and 16:00Z in summer, also within one 14-day window that spans the change.

This module is pure: the caller passes the current time and the set of booked slot starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_SLOT_CONFIG",
    "PACIFIC",
    "SUNDAY",
    "Slot",
    "SlotConfig",
    "format_display",
    "generate_slots",
    "parse_slot_instant",
]

PACIFIC = ZoneInfo("America/Los_Angeles")

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
SUNDAY = 6  # date.weekday()

# In a query string an unencoded "+" arrives as a space: "2025-11-17T17:00:00 00:00".
_SPACE_FOR_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


@dataclass(frozen=True, slots=True)
class SlotConfig:
    """The configurable slot parameters; the defaults are the §5.6 choices.

    ``closed_weekdays`` uses ``date.weekday()`` numbers (Monday 0 … Sunday 6); ``holidays`` are Pacific
    calendar dates; slot starts run hourly from ``first_hour`` to ``last_hour`` inclusive.
    """

    window_days: int = 14
    closed_weekdays: frozenset[int] = field(default_factory=lambda: frozenset({SUNDAY}))
    holidays: frozenset[date] = field(default_factory=frozenset)
    first_hour: int = 9
    last_hour: int = 16

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError("window_days must be at least 1")
        if not 0 <= self.first_hour <= self.last_hour <= 23:
            raise ValueError("first_hour and last_hour must satisfy 0 <= first_hour <= last_hour <= 23")
        if not all(0 <= day <= 6 for day in self.closed_weekdays):
            raise ValueError("closed_weekdays must hold weekday numbers 0 (Monday) to 6 (Sunday)")


DEFAULT_SLOT_CONFIG = SlotConfig()


@dataclass(frozen=True, slots=True)
class Slot:
    """One free pickup slot: its start as an aware UTC datetime, and the Pacific label for the site."""

    start_utc: datetime
    display: str

    @property
    def iso(self) -> str:
        """The start in the API's form, ``2025-11-17T17:00:00Z``."""
        return self.start_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_display(start: datetime) -> str:
    """``"Monday, November 17 at 09:00 AM"``: the start in Pacific time, in English whatever the locale."""
    local = start.astimezone(PACIFIC)
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (
        f"{_WEEKDAYS[local.weekday()]}, {_MONTHS[local.month - 1]} {local.day:02d} "
        f"at {hour12:02d}:{local.minute:02d} {meridiem}"
    )


def _as_utc(value: datetime) -> datetime:
    # A naive value from the database is UTC (that is how it was stored).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def generate_slots(
    now_utc: datetime,
    booked: Iterable[datetime] = frozenset(),
    config: SlotConfig = DEFAULT_SLOT_CONFIG,
    *,
    start_date: date | None = None,
) -> list[Slot]:
    """The free slots of the window, in time order.

    The window is ``config.window_days`` consecutive Pacific calendar days from ``start_date`` (default:
    today in Pacific time at ``now_utc``). Closed weekdays and holidays are skipped, slots that have already
    started (start ≤ now) are not offered, and every instant in ``booked`` is removed, whatever time zone
    it is expressed in (naive values are read as UTC).
    """
    if now_utc.utcoffset() is None:
        raise ValueError("now_utc must be timezone-aware")
    now = now_utc.astimezone(UTC)
    taken = {_as_utc(instant) for instant in booked}
    first_day = start_date if start_date is not None else now.astimezone(PACIFIC).date()

    slots: list[Slot] = []
    for offset in range(config.window_days):
        day = first_day + timedelta(days=offset)
        if day.weekday() in config.closed_weekdays or day in config.holidays:
            continue
        for hour in range(config.first_hour, config.last_hour + 1):
            # Built from the wall-clock time, so the UTC offset is the one in force on that day.
            local_start = datetime.combine(day, time(hour), tzinfo=PACIFIC)
            start = local_start.astimezone(UTC)
            if start <= now or start in taken:
                continue
            slots.append(Slot(start_utc=start, display=format_display(start)))
    return slots


def parse_slot_instant(value: object) -> datetime:
    """Parse a slot instant sent by a client into an aware UTC datetime.

    Accepts ISO 8601 with ``Z`` or a numeric offset; a naive value is read as UTC; an offset whose ``+``
    was turned into a space by query-string decoding is repaired. Raises ``ValueError`` for anything else
    (including non-strings), which the API answers with "Invalid datetime format".
    """
    if not isinstance(value, str):
        raise ValueError("datetime must be an ISO 8601 string")
    text = value.strip()
    if not text:
        raise ValueError("datetime must not be empty")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {value!r}") from None
    return _as_utc(parsed)
