"""48-hour price reservations (business rules §4; consumer-api §2.5, §4.7).

The server sets the prices (§4.2). At most one active reservation per customer and lot is enforced by the
database (a unique partial index on user and lot where ``status = active``), so simultaneous identical
requests create exactly one. Expiry happens lazily whenever a customer's reservations are read and in the
``expire_due`` sweep; every create, cancel, convert and expiry is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bson import ObjectId
from mongoengine import NotUniqueError

from app.errors import NotFound, PermissionDenied, RuleViolation
from app.models import Application, Lot, Reservation, User
from app.models.base import as_utc, parse_object_id, utcnow
from app.models.customer import RESERVATION_DEPOSIT, RESERVATION_HOLD_HOURS
from app.services import applications, audit, catalog, messages
from app.services.applications import ref_id
from app.services.calculator import amortized_payment_exact
from app.services.catalog import iso, number
from app.services.money import round_dollars

log = logging.getLogger(__name__)

HOLD = timedelta(hours=RESERVATION_HOLD_HOURS)
MAX_ACTIVE_PER_LOT = 5
DEFAULT_DUE_AT_SIGNING = Decimal(3000)
MONTHLY_HINT_TOLERANCE = Decimal(1)

DUPLICATE = "You already have an active reservation for this vehicle"
NOT_ACTIVE = "Reservation is not active"


# --------------------------------------------------------------------------------------------------------
# Prices (business rules §4.2)


def finance_payment(lot: Lot) -> Decimal | None:
    """The lot's own finance payment: (fleet − down payment) at its APR over its term, whole dollars."""
    finance = lot.finance
    if finance is None or finance.apr is None or not finance.term_months:
        return None
    principal = max(Decimal(0), lot.fleet - Decimal(finance.down_payment or 0))
    try:
        return round_dollars(amortized_payment_exact(principal, Decimal(finance.apr), finance.term_months))
    except ValueError:
        return None


def server_prices(lot: Lot, monthly_hint: Decimal | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """``(reserved_price, monthly_payment, due_at_signing)`` for a reservation of ``lot`` now.

    The client's monthly payment is kept only when it is within $1 of the lot's lease payment or of its
    finance payment (the site shows either, depending on the mode); otherwise the lease payment is used.
    """
    lease = lot.lease
    lease_monthly = Decimal(lease.monthly) if lease and lease.monthly is not None else None
    matches = [value for value in (lease_monthly, finance_payment(lot)) if value is not None]
    monthly = lease_monthly if lease_monthly is not None else Decimal(0)
    if monthly_hint is not None and any(
        abs(monthly_hint - value) <= MONTHLY_HINT_TOLERANCE for value in matches
    ):
        monthly = monthly_hint
    due = (
        Decimal(lease.due_at_signing)
        if lease and lease.due_at_signing is not None
        else DEFAULT_DUE_AT_SIGNING
    )
    return lot.fleet, monthly, due


# --------------------------------------------------------------------------------------------------------
# Lookups and views


def get_owned(reservation_id: Any, user: User) -> Reservation:
    """The caller's reservation: 404 when unknown (or malformed), 403 when someone else's."""
    oid = parse_object_id(reservation_id)
    reservation = Reservation.objects(pk=oid).first() if oid else None
    if reservation is None:
        raise NotFound("Reservation not found")
    if ref_id(reservation, "user") != user.pk:
        raise PermissionDenied("Not authorized")
    return reservation


def customer_view(reservation: Reservation) -> dict[str, Any]:
    """The reservation object of consumer-api §2.5."""
    application_id = ref_id(reservation, "application")
    return {
        "id": str(reservation.pk),
        "lot_id": str(ref_id(reservation, "lot")),
        "lot_slug": reservation.lot_slug,
        "reserved_price": number(reservation.reserved_price),
        "monthly_payment": number(reservation.monthly_payment),
        "due_at_signing": number(reservation.due_at_signing),
        "deposit_amount": number(reservation.deposit_amount),
        "deposit_paid": bool(reservation.deposit_paid),
        "status": reservation.status,
        "expires_at": iso(reservation.expires_at),
        "created_at": iso(reservation.created_at),
        "application_id": str(application_id) if application_id else None,
    }


def list_for_user(user: User, now: datetime | None = None) -> list[Reservation]:
    """Every reservation of the customer, newest first, after expiring the ones whose hold has passed."""
    now = now or utcnow()
    _expire_ids(Reservation.objects(user=user.pk, status="active", expires_at__lte=now).scalar("id"), now)
    return list(Reservation.objects(user=user.pk).order_by("-created_at"))


# --------------------------------------------------------------------------------------------------------
# Create, cancel, convert


def create(
    user: User, lot_ref: str, *, monthly_hint: Decimal | None = None, now: datetime | None = None
) -> Reservation:
    """Reserve a public lot's price for 48 hours (``POST /api/reservations``)."""
    now = now or utcnow()
    lot = catalog.get_public_lot(lot_ref, now)
    # A hold of this customer that ran out but was not swept yet must not block a new one.
    _expire_ids(
        Reservation.objects(user=user.pk, lot=lot.pk, status="active", expires_at__lte=now).scalar("id"), now
    )
    if Reservation.objects(user=user.pk, lot=lot.pk, status="active").only("id").first() is not None:
        raise RuleViolation(DUPLICATE)
    # CHOICE (business rules §4.1): a best-effort cap; the per-customer rule above is the strict one.
    if Reservation.objects(lot=lot.pk, status="active", expires_at__gt=now).count() >= MAX_ACTIVE_PER_LOT:
        raise RuleViolation("This vehicle cannot be reserved right now")
    reserved_price, monthly, due = server_prices(lot, monthly_hint)
    reservation = Reservation(
        user=user,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=reserved_price,
        monthly_payment=monthly,
        due_at_signing=due,
        deposit_amount=RESERVATION_DEPOSIT,
        deposit_paid=False,
        status="active",
        created_at=now,
        expires_at=now + HOLD,
    )
    try:
        reservation.save(force_insert=True)
    except NotUniqueError:
        # Another request of the same customer won the race (the unique partial index decided).
        raise RuleViolation(DUPLICATE) from None
    audit.record(
        "create",
        "reservation",
        reservation.pk,
        actor=audit.actor_for(user),
        details={
            "lot_id": lot.pk,
            "reserved_price": reserved_price,
            "monthly_payment": monthly,
            "expires_at": reservation.expires_at,
        },
    )
    messages.reservation_created(reservation)
    return reservation


def cancel(reservation_id: Any, user: User, *, now: datetime | None = None) -> Reservation:
    """The owner cancels an active reservation."""
    now = now or utcnow()
    reservation = get_owned(reservation_id, user)
    if reservation.status == "active" and as_utc(reservation.expires_at) <= now:
        _expire_ids([reservation.pk], now)
    cancelled = Reservation.objects(pk=reservation.pk, status="active").modify(
        set__status="cancelled",
        set__ended_at=now,
        set__cancelled_reason="customer",
        set__updated_at=now,
        new=True,
    )
    if cancelled is None:
        raise RuleViolation(NOT_ACTIVE)
    audit.record(
        "cancel",
        "reservation",
        cancelled.pk,
        actor=audit.actor_for(user),
        changes={"status": {"old": "active", "new": "cancelled"}},
    )
    return cancelled


def convert(reservation_id: Any, user: User, *, now: datetime | None = None) -> Application:
    """Turn an active, unexpired reservation into an application at the locked price.

    The reservation is claimed first with a conditional update, then the application is created; if that
    fails the reservation is put back. No completed profile is needed here (business rules §5.1).
    """
    now = now or utcnow()
    reservation = get_owned(reservation_id, user)
    if reservation.status != "active":
        raise RuleViolation(NOT_ACTIVE)
    if as_utc(reservation.expires_at) <= now:
        _expire_ids([reservation.pk], now)
        raise RuleViolation("Reservation has expired")
    lot = Lot.objects(pk=ref_id(reservation, "lot")).first()
    if lot is None or lot.status in ("sold", "deleted"):
        raise NotFound("Car not found")
    claimed = Reservation.objects(pk=reservation.pk, status="active", expires_at__gt=now).modify(
        set__status="converted", set__ended_at=now, set__updated_at=now, new=True
    )
    if claimed is None:
        reservation.reload()
        raise RuleViolation("Reservation has expired" if reservation.status == "expired" else NOT_ACTIVE)
    # Price lock: never above the reserved price; a price that fell during the hold is passed on (§4.2).
    fleet_price = min(Decimal(claimed.reserved_price), lot.fleet)
    try:
        application = applications.create(
            user, lot, fleet_price=fleet_price, reservation_id=claimed.pk, source="reservation"
        )
    except Exception:
        Reservation.objects(pk=claimed.pk, status="converted", application=None).update_one(
            set__status="active", unset__ended_at=True, set__updated_at=utcnow()
        )
        raise
    Reservation.objects(pk=claimed.pk).update_one(set__application=application.pk, set__updated_at=utcnow())
    audit.record(
        "convert",
        "reservation",
        claimed.pk,
        actor=audit.actor_for(user),
        changes={"status": {"old": "active", "new": "converted"}},
        details={"application_id": application.pk, "fleet_price": fleet_price},
    )
    return application


# --------------------------------------------------------------------------------------------------------
# System sweeps


def _expire_ids(ids: Iterable[ObjectId], now: datetime) -> int:
    count = 0
    for reservation_id in list(ids):
        expired = Reservation.objects(pk=reservation_id, status="active", expires_at__lte=now).modify(
            set__status="expired", set__ended_at=now, set__updated_at=now, new=True
        )
        if expired is None:
            continue  # another process expired, cancelled or converted it first
        count += 1
        audit.record(
            "expire",
            "reservation",
            expired.pk,
            actor=audit.SYSTEM,
            changes={"status": {"old": "active", "new": "expired"}},
        )
        messages.reservation_expired(expired)
        Reservation.objects(pk=expired.pk).update_one(set__expiry_notified=True)
    return count


def expire_due(now: datetime | None = None) -> int:
    """Expire every active reservation whose hold has passed (the periodic sweep). Returns how many."""
    now = now or utcnow()
    return _expire_ids(Reservation.objects(status="active", expires_at__lte=now).scalar("id"), now)


def cancel_others_on_sold(lot_id: Any, keep_reservation_id: Any = None) -> int:
    """Cancel the other customers' active reservations of a lot that was sold (business rules §2.5).

    Audited with the system actor; each customer is told (``messages.reservation_cancelled``).
    """
    oid = parse_object_id(lot_id) if isinstance(lot_id, str) else lot_id
    query = Reservation.objects(lot=oid, status="active")
    keep = (
        parse_object_id(keep_reservation_id) if isinstance(keep_reservation_id, str) else keep_reservation_id
    )
    if keep is not None:
        query = query.filter(pk__ne=keep)
    now = utcnow()
    count = 0
    for reservation_id in list(query.scalar("id")):
        cancelled = Reservation.objects(pk=reservation_id, status="active").modify(
            set__status="cancelled",
            set__ended_at=now,
            set__cancelled_reason="lot_sold",
            set__updated_at=now,
            new=True,
        )
        if cancelled is None:
            continue
        count += 1
        audit.record(
            "cancel",
            "reservation",
            cancelled.pk,
            actor=audit.SYSTEM,
            reason="The vehicle was sold",
            changes={"status": {"old": "active", "new": "cancelled"}},
        )
        messages.reservation_cancelled(cancelled)
    return count
