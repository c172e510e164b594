"""Appointments a customer books for their application (business rules §5.11; consumer-api §4.9).

A ``pickup`` appointment is recorded like the others; it does not book a pickup slot (that is
``applications.schedule_pickup``). Staff manage appointments in the back office.
"""

from __future__ import annotations

from datetime import date, datetime, time

from app.errors import ValidationFailed
from app.models import Appointment, User
from app.models.customer import APPOINTMENT_TIMES, APPOINTMENT_TYPES
from app.services import audit
from app.services.applications import get_owned
from app.services.pickup_slots import PACIFIC
from app.services.trade_in import pacific_today


def starts_at(day: date, clock: str) -> datetime:
    """The Pacific wall-clock ``day`` at ``clock`` (``"9:00 AM"``) as an aware datetime."""
    parsed = datetime.strptime(clock, "%I:%M %p").time()
    return datetime.combine(day, time(parsed.hour, parsed.minute), tzinfo=PACIFIC)


def book(
    user: User,
    *,
    application_id: str,
    appointment_type: str,
    day: str,
    clock: str,
    now: datetime | None = None,
) -> Appointment:
    """Book an appointment on the caller's own application, today or later (Pacific)."""
    if appointment_type not in APPOINTMENT_TYPES:
        raise ValidationFailed(f"appointment_type must be one of: {', '.join(APPOINTMENT_TYPES)}")
    if clock not in APPOINTMENT_TIMES:
        raise ValidationFailed(f"time must be one of: {', '.join(APPOINTMENT_TIMES)}")
    try:
        when = date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ValidationFailed("date must be a date in YYYY-MM-DD format") from None
    if when < pacific_today(now):
        raise ValidationFailed("date must be today or later")
    application = get_owned(application_id, user)
    appointment = Appointment(
        user=user,
        application=application,
        appointment_type=appointment_type,
        date=when.isoformat(),
        time=clock,
        starts_at=starts_at(when, clock),
        status="scheduled",
    )
    appointment.save(force_insert=True)
    audit.record(
        "create",
        "appointment",
        appointment.pk,
        actor=audit.actor_for(user),
        details={
            "application_id": application.pk,
            "type": appointment_type,
            "date": appointment.date,
            "time": clock,
        },
    )
    return appointment


def confirmation(appointment: Appointment) -> str:
    """``"video scheduled for 2025-11-20 at 10:00 AM"``."""
    return f"{appointment.appointment_type} scheduled for {appointment.date} at {appointment.time}"
