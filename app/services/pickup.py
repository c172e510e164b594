"""Pickup slots: the free ones, atomic booking and release (business rules §5.6).

Slot generation is the pure ``pickup_slots`` module; this one adds the database. A booking is one row in
``pickup_bookings``, whose unique index on the slot start means two customers can never hold one slot, and
whose unique index on the application means one application holds at most one slot.

The slot parameters can be changed at runtime through the ``pickup_slots`` app setting (a mapping with any
of ``window_days``, ``closed_weekdays`` (0 = Monday), ``holidays`` (``YYYY-MM-DD``), ``first_hour``,
``last_hour``); without it the defaults of the rules apply.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from bson import ObjectId
from mongoengine import NotUniqueError

from app.errors import Conflict, RuleViolation
from app.models import AppSetting, PickupBooking
from app.models.base import parse_object_id, utcnow
from app.services.pickup_slots import DEFAULT_SLOT_CONFIG, Slot, SlotConfig, generate_slots

log = logging.getLogger(__name__)

SETTING_KEY = "pickup_slots"


def slot_config() -> SlotConfig:
    """The configured slot parameters, or the defaults when the setting is absent or invalid."""
    row = AppSetting.objects(key=SETTING_KEY).only("value").first()
    if row is None or not isinstance(row.value, dict):
        return DEFAULT_SLOT_CONFIG
    value: dict[str, Any] = row.value
    try:
        return SlotConfig(
            window_days=int(value.get("window_days", DEFAULT_SLOT_CONFIG.window_days)),
            closed_weekdays=frozenset(
                int(day) for day in value.get("closed_weekdays", DEFAULT_SLOT_CONFIG.closed_weekdays)
            ),
            holidays=frozenset(date.fromisoformat(str(day)) for day in value.get("holidays", ())),
            first_hour=int(value.get("first_hour", DEFAULT_SLOT_CONFIG.first_hour)),
            last_hour=int(value.get("last_hour", DEFAULT_SLOT_CONFIG.last_hour)),
        )
    except (TypeError, ValueError):
        log.warning("ignoring an invalid %r setting; using the default pickup hours", SETTING_KEY)
        return DEFAULT_SLOT_CONFIG


def list_free_slots(now: datetime | None = None, start_date: date | None = None) -> list[Slot]:
    """The free slots of the window starting ``start_date`` (default: today, Pacific), in time order."""
    now = now or utcnow()
    config = slot_config()
    # Bookings from a day before the window to a day after it cover every slot the window can contain.
    first = (
        datetime.combine(start_date, datetime.min.time()).replace(tzinfo=now.tzinfo) if start_date else now
    )
    earliest = min(first, now) - timedelta(days=1)
    latest = max(first, now) + timedelta(days=config.window_days + 1)
    booked = PickupBooking.objects(slot_start__gte=earliest, slot_start__lte=latest).scalar("slot_start")
    return generate_slots(now, list(booked), config, start_date=start_date)


def book(application_id: ObjectId, user_id: ObjectId, slot_start: datetime) -> PickupBooking:
    """Take one slot for one application. Losing the race for the slot is ``Conflict`` (409); an
    application that already holds a slot is ``RuleViolation("Pickup already scheduled")``."""
    booking = PickupBooking(slot_start=slot_start, application=application_id, user=user_id)
    try:
        booking.save(force_insert=True)
    except NotUniqueError:
        if PickupBooking.objects(application=application_id).first() is not None:
            raise RuleViolation("Pickup already scheduled") from None
        raise Conflict("This time slot is no longer available") from None
    return booking


def release_booking(application_id: Any) -> None:
    """Free the slot an application holds (staff reschedule, rejection). Leaves the application's own
    ``pickup_status`` / ``pickup_slot`` to the caller. A no-op when it holds none."""
    oid = parse_object_id(application_id) if isinstance(application_id, str) else application_id
    if oid is not None:
        PickupBooking.objects(application=oid).delete()
