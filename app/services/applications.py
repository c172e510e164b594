"""Credit applications, customer side (business rules §5; consumer-api §2.4, §4.6).

A customer applies for a public lot (or converts a reservation, see ``reservations.convert``); the
application keeps snapshots of the lot and of the profile taken at submission. Customers may add a trade-in,
ask for automatic alternatives and schedule the pickup once approved. Status changes by finance managers
live in the back office (``application_review``). Every change a customer makes is audited.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from mongoengine import Document, NotUniqueError

from app.errors import NotFound, PermissionDenied, RuleViolation, ValidationFailed
from app.models import Application, Lot, User
from app.models.application import CLOSED_STATUSES, LotSnapshot, StatusChange, TradeIn, UserSnapshot
from app.models.base import parse_object_id, utcnow
from app.models.lot import FinanceTerms, LeaseTerms
from app.services import audit, catalog, messages, pickup
from app.services.alternatives import AlternativesResult, Candidate, basis_monthly, select_alternatives
from app.services.catalog import iso, number
from app.services.pickup_slots import parse_slot_instant
from app.services.trade_in import LocalTradeInModel, TradeInValuator

# Roles that may look at any customer's application from the API (business rules §10).
REVIEWER_ROLES = ("finance_manager", "admin")
SCHEDULABLE_STATUSES = ("approved", "contract_sent")

USER_SNAPSHOT_FIELDS = tuple(UserSnapshot._fields)


def ref_id(document: Document, field: str) -> ObjectId | None:
    """The id a reference field points at, without loading the referenced document."""
    value = document._data.get(field)
    return getattr(value, "id", value)


# --------------------------------------------------------------------------------------------------------
# Snapshots (business rules §5.2)


def snapshot_lot(lot: Lot, fleet_price: Decimal | int | None = None) -> LotSnapshot:
    """The lot as applied for. ``fleet_price`` overrides ``msrp − discount`` (a reservation's locked price)."""
    lease = lot.lease or LeaseTerms()
    finance = lot.finance or FinanceTerms()
    return LotSnapshot(
        lot_id=lot.pk,
        slug=lot.slug,
        title=lot.title,
        year=lot.year,
        make=lot.make,
        model=lot.model,
        trim=lot.trim or "",
        vin=lot.vin,
        msrp=lot.msrp,
        discount=lot.discount,
        fleet_price=Decimal(fleet_price) if fleet_price is not None else lot.fleet,
        lease=LeaseTerms(**{name: getattr(lease, name) for name in LeaseTerms._fields}),
        finance=FinanceTerms(**{name: getattr(finance, name) for name in FinanceTerms._fields}),
    )


def snapshot_user(user: User) -> UserSnapshot:
    """The applicant's profile at submission; never the sensitive values (they are copied encrypted)."""
    return UserSnapshot(**{name: getattr(user, name) for name in USER_SNAPSHOT_FIELDS})


# --------------------------------------------------------------------------------------------------------
# Lookups


def get_application(application_id: Any) -> Application:
    """The application, or ``NotFound("Application not found")`` (also for a malformed id)."""
    oid = parse_object_id(application_id)
    application = Application.objects(pk=oid).first() if oid else None
    if application is None:
        raise NotFound("Application not found")
    return application


def get_owned(application_id: Any, user: User) -> Application:
    """The caller's own application: 404 when unknown, 403 when it belongs to someone else."""
    application = get_application(application_id)
    if ref_id(application, "user") != user.pk:
        raise PermissionDenied("Not authorized")
    return application


def get_visible(application_id: Any, user: User) -> Application:
    """The application for its owner or a finance manager (or admin); 403 for anyone else."""
    application = get_application(application_id)
    if ref_id(application, "user") != user.pk and user.role not in REVIEWER_ROLES:
        raise PermissionDenied("Not authorized")
    return application


def list_for_user(user: User) -> list[Application]:
    """The customer's applications, newest first."""
    return list(Application.objects(user=user.pk).order_by("-created_at"))


# --------------------------------------------------------------------------------------------------------
# Creation


def create_from_lot(user: User, lot_ref: str, *, now: datetime | None = None) -> Application:
    """``POST /api/applications``: a completed profile, a public lot (slug or id), no other open application
    for it. The profile check comes first, as the contract orders the checks."""
    if not user.profile_completed:
        raise RuleViolation("Please complete your profile before applying")
    lot = catalog.get_public_lot(lot_ref, now)
    return create(user, lot, fleet_price=lot.fleet, source="direct")


def create(
    user: User,
    lot: Lot,
    *,
    fleet_price: Decimal,
    reservation_id: ObjectId | None = None,
    source: str = "direct",
) -> Application:
    """Create a ``pending`` application with both snapshots, audit it and tell the customer.

    The unique partial index on (user, lot) for open applications is the final word on duplicates, so two
    simultaneous submissions still create one application.
    """
    actor = audit.actor_for(user)
    now = utcnow()
    application = Application(
        user=user,
        lot=lot,
        reservation=reservation_id,
        status="pending",
        status_history=[
            StatusChange(
                from_status=None, to_status="pending", at=now, by_id=user.pk, by_email=user.email, note=source
            )
        ],
        lot_data=snapshot_lot(lot, fleet_price),
        user_data=snapshot_user(user),
        # The sensitive values are copied in their encrypted form only (business rules §5.2).
        ssn_encrypted=user.ssn_encrypted,
        drivers_license_number_encrypted=user.drivers_license_number_encrypted,
        date_of_birth_encrypted=user.date_of_birth_encrypted,
        profile_completed_at_submission=bool(user.profile_completed),
    )
    try:
        application.save(force_insert=True)
    except NotUniqueError:
        raise RuleViolation("You already have an open application for this vehicle") from None
    audit.record(
        "create",
        "application",
        application.pk,
        actor=actor,
        details={"lot_id": lot.pk, "source": source, "reservation_id": reservation_id},
    )
    messages.application_received(application)
    return application


# --------------------------------------------------------------------------------------------------------
# Customer view (consumer-api §2.4)


def customer_view(application: Application) -> dict[str, Any]:
    """What the customer sees: never prescoring, verified income, manager comments, the user snapshot or
    anything sensitive."""
    lot_data = application.lot_data or LotSnapshot()
    approval = application.approval_details
    trade_in = application.trade_in
    return {
        "id": str(application.pk),
        "status": application.status,
        "created_at": iso(application.created_at),
        "updated_at": iso(application.updated_at),
        "lot_id": str(ref_id(application, "lot")),
        "lot_slug": lot_data.slug,
        "lot_data": {
            "year": lot_data.year,
            "make": lot_data.make,
            "model": lot_data.model,
            "trim": lot_data.trim or "",
            "msrp": number(lot_data.msrp),
            "fleet_price": number(lot_data.fleet_price),
        },
        "approval_details": (
            {
                "apr": number(approval.apr),
                "money_factor": number(approval.money_factor),
                "loan_term": approval.loan_term,
                "down_payment": number(approval.down_payment),
                "monthly_payment": number(approval.monthly_payment),
                "approved_at": iso(approval.approved_at),
            }
            if approval
            else None
        ),
        "contract_sent": bool(application.contract_sent),
        "contract_sent_at": iso(application.contract_sent_at),
        "pickup_status": application.pickup_status,
        "pickup_slot": iso(application.pickup_slot),
        "admin_notes": application.admin_notes,
        "trade_in": (
            {
                "year": trade_in.year,
                "make": trade_in.make,
                "model": trade_in.model,
                "mileage": trade_in.mileage,
                "condition": trade_in.condition,
                "kbb_value": number(trade_in.kbb_value),
                "added_at": iso(trade_in.added_at),
            }
            if trade_in
            else None
        ),
        "reservation_id": str(application.reservation) if application.reservation else None,
    }


# --------------------------------------------------------------------------------------------------------
# Trade-in (business rules §5.7)


def add_trade_in(
    application_id: Any,
    user: User,
    *,
    vin: str,
    year: int,
    make: str,
    model: str,
    mileage: int,
    condition: str,
    photos: list[str] | None = None,
    valuator: TradeInValuator | None = None,
) -> int:
    """Value the customer's trade-in and store it on their application, replacing any earlier one.

    Returns the estimate in whole dollars (never negative). Closed applications refuse a trade-in.
    """
    application = get_owned(application_id, user)
    if application.status in CLOSED_STATUSES:
        raise RuleViolation("Trade-in cannot be added to this application")
    try:
        valuation = (valuator or LocalTradeInModel()).estimate(
            vin=vin, year=year, make=make, model=model, mileage=mileage, condition=condition
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    trade_in = TradeIn(
        vin=vin or None,
        year=year,
        make=make,
        model=model,
        mileage=mileage,
        condition=condition,
        photos=list(photos or []),
        kbb_value=Decimal(valuation.value),
        valuation_source=valuation.source,
        valuation_note=valuation.note,
        added_at=utcnow(),
    )
    updated = Application.objects(pk=application.pk, status__nin=CLOSED_STATUSES).update_one(
        set__trade_in=trade_in, set__updated_at=utcnow()
    )
    if not updated:
        raise RuleViolation("Trade-in cannot be added to this application")
    audit.record(
        "trade_in_added",
        "application",
        application.pk,
        actor=audit.actor_for(user),
        details={
            "year": year,
            "make": make,
            "model": model,
            "condition": condition,
            "value": valuation.value,
        },
    )
    return valuation.value


# --------------------------------------------------------------------------------------------------------
# Automatic alternatives (business rules §5.8)


def auto_alternatives(application_id: Any, user: User, *, now: datetime | None = None) -> AlternativesResult:
    """Up to three public lots relative to the applied-for lot's monthly payment. Never fails for a zero or
    missing monthly payment or a lot that has since gone."""
    application = get_visible(application_id, user)
    lot_id = ref_id(application, "lot")
    current = Lot.objects(pk=lot_id).only("lease", "make").first() if lot_id else None
    snapshot = application.lot_data
    basis = basis_monthly(
        getattr(current.lease, "monthly", None) if current and current.lease else None,
        getattr(snapshot.lease, "monthly", None) if snapshot and snapshot.lease else None,
    )
    if basis is None:
        return AlternativesResult()
    original_make = (current.make if current else None) or (snapshot.make if snapshot else None)
    candidates = [
        Candidate(
            lot_id=str(lot.pk),
            slug=lot.slug,
            year=lot.year,
            make=lot.make,
            model=lot.model,
            monthly=getattr(lot.lease, "monthly", None) if lot.lease else None,
            published_at=lot.published_at,
        )
        for lot in Lot.objects.public(now).only("slug", "year", "make", "model", "lease", "published_at")
    ]
    return select_alternatives(basis, original_make, candidates, exclude_lot_id=str(lot_id))


# --------------------------------------------------------------------------------------------------------
# Pickup (business rules §5.6)


def schedule_pickup(
    application_id: Any, user: User, slot: Any, *, now: datetime | None = None
) -> Application:
    """Book one of the currently offered slots for an approved application, atomically.

    Checks in the contract's order: the value, the application, ownership, the status, the pickup state,
    that the instant is offered; then the booking itself, which only one customer can win.
    """
    try:
        instant = parse_slot_instant(slot)
    except ValueError:
        raise RuleViolation("Invalid datetime format") from None
    application = get_owned(application_id, user)
    if application.status not in SCHEDULABLE_STATUSES:
        raise RuleViolation("Application must be approved first")
    if application.pickup_status != "ready_for_pickup" or application.pickup_slot is not None:
        raise RuleViolation("Pickup already scheduled")
    now = now or utcnow()
    if instant not in {free.start_utc for free in pickup.list_free_slots(now)}:
        raise RuleViolation("Selected time is not available")
    pickup.book(application.pk, user.pk, instant)
    updated = Application.objects(
        pk=application.pk, status__in=SCHEDULABLE_STATUSES, pickup_status="ready_for_pickup"
    ).update_one(set__pickup_status="scheduled", set__pickup_slot=instant, set__updated_at=utcnow())
    if not updated:
        # The application changed under us (staff rejected it a moment ago): give the slot back.
        pickup.release_booking(application.pk)
        raise RuleViolation("Pickup already scheduled")
    application.reload()
    audit.record(
        "pickup_scheduled",
        "application",
        application.pk,
        actor=audit.actor_for(user),
        changes={"pickup_slot": {"old": None, "new": instant}},
    )
    messages.pickup_scheduled(application)
    return application
