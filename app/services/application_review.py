"""Finance-manager work on credit applications (business rules §5.3–§5.9, §6, §12).

Status changes follow the table of §5.3; approval (§5.4) is its own action with exactly one of APR and
money factor; prescoring (§6) runs the replaceable local model on the application's snapshot; alternatives
are suggested by the rules of §5.8 and picked by the manager (§5.9); pickups can be marked ready and
rescheduled (§5.6). Sensitive values are revealed one at a time with a reason and an audit entry (§12.2),
and the "copy to fleet" block counts as a reveal of every sensitive field in it.

Every change appends to ``status_history`` where the status moves, writes an audit entry, and the status
changes tell the customer through the notification outbox (``messages.application_status_changed``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from app.errors import Conflict, NotFound, PermissionDenied, RuleViolation, ValidationFailed
from app.models import Application, AuditLog, CustomerDocument, Lot, Notification, PickupBooking, Reservation
from app.models.application import REJECTION_REASONS, ManagerAlternative, ManagerComment, StatusChange
from app.models.base import as_utc, parse_object_id, utcnow
from app.models.user import SENSITIVE_FIELDS
from app.pii import age_on, mask_date_of_birth, mask_licence, mask_ssn
from app.services import audit
from app.services.alternatives import AlternativesResult, Candidate, basis_monthly, select_alternatives
from app.services.calculator import amortized_payment, money_factor_to_apr
from app.services.lots import mongo_values
from app.services.prescoring import LocalPrescorer, Prescorer

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")
REVIEW_ROLES = ("finance_manager", "admin")
MAX_BULK_PRESCORE = 50
MAX_ALTERNATIVES = 3
REVEAL_SECONDS = 60

REVEAL_REASONS = {
    "fleet_submission": "Fleet submission",
    "identity_verification": "Identity verification",
    "customer_request": "Customer request",
    "other": "Other",
}
FIELD_LABELS = {
    "ssn": "SSN",
    "drivers_license_number": "Driver's licence number",
    "date_of_birth": "Date of birth",
}

# (from, to) for change_status; approval has its own action.
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("contacted", "rejected"),
    "contacted": ("pending", "rejected"),
    "approved": ("contract_sent", "rejected", "completed"),
    "contract_sent": ("rejected", "completed"),
    "rejected": ("pending",),  # reopen, with a reason
    "completed": ("pending",),  # reopen, with a reason
}

_prescorer: Prescorer = LocalPrescorer()


def _require(actor: audit.Actor) -> None:
    if actor.role not in REVIEW_ROLES:
        raise PermissionDenied("Only finance managers and admins work applications")


def get_application(application_id: Any) -> Application:
    oid = parse_object_id(str(application_id)) if application_id is not None else None
    application = Application.objects(pk=oid).first() if oid else None
    if application is None:
        raise NotFound("Application not found")
    return application


def _notify(application: Application) -> None:
    """Queue the customer's status message through the outbox (channels by consent, §8)."""
    try:
        from app.services import messages

        messages.application_status_changed(application)
    except Exception:  # noqa: BLE001 - the status change is saved; a failed notification must not undo it
        log.exception("could not queue the status message of application %s", application.pk)


def allowed_statuses(application: Application) -> tuple[str, ...]:
    return STATUS_TRANSITIONS.get(application.status, ())


def _history(
    actor: audit.Actor, frm: str | None, to: str, note: str | None, reason_code: str | None
) -> StatusChange:
    return StatusChange(
        from_status=frm,
        to_status=to,
        at=utcnow(),
        by_id=parse_object_id(actor.id),
        by_email=actor.email,
        note=(note or "").strip()[:2000] or None,
        reason_code=reason_code,
    )


def change_status(
    application_id: Any,
    new_status: str,
    *,
    actor: audit.Actor,
    note: str | None = None,
    reason_code: str | None = None,
    admin_notes: str | None = None,
) -> Application:
    """Move an application along §5.3 (approval excepted), record it and tell the customer."""
    _require(actor)
    application = get_application(application_id)
    old = application.status
    if new_status == old:
        raise RuleViolation(f"The application is already {old}")
    if new_status == "approved":
        raise RuleViolation("Use the approval form to approve (it records the terms)")
    if new_status not in STATUS_TRANSITIONS.get(old, ()):
        raise RuleViolation(f"A {old} application cannot become {new_status}")
    now = utcnow()
    updates: dict[str, Any] = {"set__status": new_status, "set__updated_at": now}
    unset: list[str] = []
    reopening = old in ("rejected", "completed")
    if new_status == "rejected":
        if reason_code not in REJECTION_REASONS:
            raise ValidationFailed("A rejection needs a reason code", field="reason_code")
        if reason_code == "other" and not (note or "").strip():
            raise ValidationFailed("Describe the reason in the note", field="note")
        updates["set__rejection_reason_code"] = reason_code
        unset += ["pickup_status", "pickup_slot"]
    elif reopening:
        if not (note or "").strip():
            raise ValidationFailed("Reopening needs a reason in the note", field="note")
        unset += ["rejection_reason_code", "completed_at"]
    if new_status == "contacted":
        updates["set__contacted_at"] = now
    if new_status == "contract_sent":
        updates["set__contract_sent"] = True
        updates["set__contract_sent_at"] = now
    if new_status == "completed":
        updates["set__completed_at"] = now
        updates["set__pickup_status"] = "completed"
    if admin_notes is not None:
        updates["set__admin_notes"] = admin_notes.strip()[:5000] or None
    updates["set__is_open"] = new_status not in ("rejected", "completed")
    updates["push__status_history"] = _history(actor, old, new_status, note, reason_code)
    for name in unset:
        updates[f"unset__{name}"] = True
    had_booking = old in ("approved", "contract_sent") and application.pickup_slot is not None
    try:
        changed = Application.objects(pk=application.pk, status=old).update_one(**updates)
    except Exception as exc:  # the unique open-application index refuses a reopen next to a newer one
        from mongoengine import NotUniqueError

        if isinstance(exc, NotUniqueError):
            raise RuleViolation("The customer already has another open application for this lot") from None
        raise
    if not changed:
        raise Conflict("The application was changed by someone else a moment ago; reload and try again")
    if new_status == "rejected" and had_booking:
        _release_booking(application.pk)
    application.reload()
    changes = {"status": {"old": old, "new": new_status}}
    if admin_notes is not None:
        changes["admin_notes"] = {"old": None, "new": admin_notes}
    audit.record(
        "status_change",
        "application",
        application.pk,
        actor=actor,
        changes=changes,
        reason=(note or "").strip()[:1000] or None,
        details={"reason_code": reason_code} if reason_code else None,
    )
    _notify(application)
    return application


def _release_booking(application_id: Any) -> None:
    from app.services import pickup

    pickup.release_booking(str(application_id))


@dataclass(frozen=True)
class ApprovalTerms:
    """Validated approval input (§5.4)."""

    apr: Decimal | None
    money_factor: Decimal | None
    loan_term: int
    down_payment: Decimal
    monthly_payment: Decimal


MAX_AMOUNT = Decimal(10) ** 12


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"{field} must be a number", field=field) from None
    if not number.is_finite():
        raise ValidationFailed(f"{field} must be a number", field=field)
    if abs(number) >= MAX_AMOUNT:
        # Far above any real term, rate or amount; below what the decimal context (28 digits) and Decimal128
        # (34) can round and store, so "1e30" is a form error rather than an error page.
        raise ValidationFailed(f"{field} is too large", field=field)
    return number


def validate_terms(
    *, apr: Any = None, money_factor: Any = None, loan_term: Any, down_payment: Any, monthly_payment: Any
) -> ApprovalTerms:
    """Exactly one of APR (0–30) and money factor (0 < MF ≤ 0.01); term 12–96; down ≥ 0; monthly > 0."""
    apr_d = _decimal(apr, "apr")
    mf_d = _decimal(money_factor, "money_factor")
    if (apr_d is None) == (mf_d is None):
        raise ValidationFailed("Give exactly one of APR (financing) and money factor (lease)", field="apr")
    if apr_d is not None and not Decimal(0) <= apr_d <= Decimal(30):
        raise ValidationFailed("APR must be between 0 and 30", field="apr")
    if mf_d is not None and not Decimal(0) < mf_d <= Decimal("0.01"):
        raise ValidationFailed("The money factor must be above 0 and at most 0.01", field="money_factor")
    term = _decimal(loan_term, "loan_term")
    if term is None or term != term.to_integral_value() or not 12 <= term <= 96:
        raise ValidationFailed("The term must be 12 to 96 months", field="loan_term")
    down = _decimal(down_payment, "down_payment")
    if down is None or down < 0:
        raise ValidationFailed("The down payment must be 0 or more", field="down_payment")
    monthly = _decimal(monthly_payment, "monthly_payment")
    if monthly is None or monthly <= 0:
        raise ValidationFailed("The monthly payment must be more than 0", field="monthly_payment")
    for name, value in (("down_payment", down), ("monthly_payment", monthly)):
        if value != value.quantize(Decimal("0.01")):
            raise ValidationFailed(f"{name} must have at most 2 decimal places", field=name)
    return ApprovalTerms(apr_d, mf_d, int(term), down, monthly)


def payment_check(application: Application, terms: ApprovalTerms) -> tuple[str | None, Decimal | None]:
    """``(warning, expected payment)``: with an APR, the amortized payment on (fleet − down) and a warning
    when the entered payment differs by more than $1 (taxes and fees may be financed, so it never blocks).
    With a money factor, the APR equivalent is for display only (label it, §3.2)."""
    if terms.apr is None:
        return None, None
    fleet = Decimal(application.lot_data.fleet_price or 0) if application.lot_data else Decimal(0)
    principal = max(Decimal(0), fleet - terms.down_payment)
    try:
        expected = amortized_payment(principal.quantize(Decimal("0.01")), terms.apr, terms.loan_term)
    except ValueError:
        return None, None
    if abs(expected - terms.monthly_payment) > 1:
        return (
            f"The amortized payment on {principal:,.2f} at {terms.apr}% over {terms.loan_term} months is "
            f"{expected:,.2f}; the entered payment differs by more than $1 (fine if taxes or fees are financed).",
            expected,
        )
    return None, expected


def apr_equivalent(money_factor: Decimal) -> Decimal:
    """MF × 2400, to be shown as "approx. rate equivalent" (never called an APR, Regulation M)."""
    return money_factor_to_apr(money_factor)


def approve(
    application_id: Any,
    *,
    actor: audit.Actor,
    apr: Any = None,
    money_factor: Any = None,
    loan_term: Any,
    down_payment: Any,
    monthly_payment: Any,
    admin_notes: str | None = None,
    note: str | None = None,
) -> Application:
    """Approve a pending or contacted application with its terms, or replace the terms of an approved one
    (locked once the contract is sent). Sets ``pickup_status = ready_for_pickup`` on approval."""
    _require(actor)
    application = get_application(application_id)
    terms = validate_terms(
        apr=apr,
        money_factor=money_factor,
        loan_term=loan_term,
        down_payment=down_payment,
        monthly_payment=monthly_payment,
    )
    old = application.status
    if old not in ("pending", "contacted", "approved"):
        if old == "contract_sent":
            raise RuleViolation("The contract was sent: the approval terms are locked")
        raise RuleViolation(f"A {old} application cannot be approved")
    from app.models.application import ApprovalDetails

    details = ApprovalDetails(
        apr=terms.apr,
        money_factor=terms.money_factor,
        loan_term=terms.loan_term,
        down_payment=terms.down_payment,
        monthly_payment=terms.monthly_payment,
        approved_at=utcnow(),
        approved_by_id=parse_object_id(actor.id),
        approved_by_email=actor.email,
    )
    before = _terms_dict(application.approval_details)
    updates: dict[str, Any] = {
        "__raw__": {"$set": mongo_values(Application, {"approval_details": details, "updated_at": utcnow()})}
    }
    if admin_notes is not None:
        updates["set__admin_notes"] = admin_notes.strip()[:5000] or None
    transition = old != "approved"
    if transition:
        updates["set__status"] = "approved"
        updates["set__pickup_status"] = "ready_for_pickup"
        updates["push__status_history"] = _history(actor, old, "approved", note, None)
    changed = Application.objects(pk=application.pk, status=old).update_one(**updates)
    if not changed:
        raise Conflict("The application was changed by someone else a moment ago; reload and try again")
    application.reload()
    changes = audit.diff(before, _terms_dict(application.approval_details))
    if transition:
        changes["status"] = {"old": old, "new": "approved"}
    audit.record("approve", "application", application.pk, actor=actor, changes=changes, reason=note)
    if transition:
        _notify(application)
    return application


def _terms_dict(details: Any) -> dict[str, Any]:
    if details is None:
        return {}
    return {
        "apr": details.apr,
        "money_factor": details.money_factor,
        "loan_term": details.loan_term,
        "down_payment": details.down_payment,
        "monthly_payment": details.monthly_payment,
    }


def set_admin_notes(application_id: Any, text: str, *, actor: audit.Actor) -> Application:
    """The customer-visible "Note from team"; editable at any time."""
    _require(actor)
    application = get_application(application_id)
    new = (text or "").strip()[:5000] or None
    if new == application.admin_notes:
        return application
    old = application.admin_notes
    Application.objects(pk=application.pk).update_one(set__admin_notes=new, set__updated_at=utcnow())
    audit.record(
        "update",
        "application",
        application.pk,
        actor=actor,
        changes={"admin_notes": {"old": old, "new": new}},
    )
    return application.reload()


# --------------------------------------------------------------------------------------------------------
# Prescoring (§6)


def _profile_for_prescoring(application: Application) -> dict[str, Any]:
    snapshot = application.user_data
    profile = {
        "credit_score": snapshot.credit_score if snapshot else None,
        "monthly_income_pretax": snapshot.monthly_income_pretax if snapshot else None,
        "annual_income": snapshot.annual_income if snapshot else None,
    }
    return profile


def prescore(application_id: Any, *, actor: audit.Actor) -> Application:
    """Run the prescorer on the application's self-reported snapshot and store the full result."""
    _require(actor)
    application = get_application(application_id)
    result = _prescorer.prescore(
        _profile_for_prescoring(application), checked_at=utcnow(), checked_by=actor.email
    )
    data = result.as_dict()
    data["debt_to_income_ratio"] = str(data["debt_to_income_ratio"])  # BSON has no Decimal; keep it exact
    Application.objects(pk=application.pk).update_one(
        set__prescoring_data=data, set__prescoring_tier=result.credit_tier, set__updated_at=utcnow()
    )
    audit.record(
        "prescore",
        "application",
        application.pk,
        actor=actor,
        details={"credit_tier": result.credit_tier, "approval_probability": result.approval_probability},
    )
    return application.reload()


def prescore_many(application_ids: Sequence[Any], *, actor: audit.Actor) -> int:
    """Bulk prescoring, at most 50 per call (§6.3)."""
    _require(actor)
    if len(application_ids) > MAX_BULK_PRESCORE:
        raise ValidationFailed(f"At most {MAX_BULK_PRESCORE} applications at a time")
    done = 0
    for application_id in application_ids:
        try:
            prescore(application_id, actor=actor)
        except NotFound:
            continue
        done += 1
    return done


# --------------------------------------------------------------------------------------------------------
# Income, comments, alternatives


def set_verified_income(application_id: Any, amount: Any, *, actor: audit.Actor) -> Application:
    _require(actor)
    application = get_application(application_id)
    value = _decimal(amount, "verified_income")
    if value is not None and (value < 0 or value != value.quantize(Decimal("0.01"))):
        raise ValidationFailed(
            "Verified income must be 0 or more, in dollars and cents", field="verified_income"
        )
    old = application.verified_income
    Application.objects(pk=application.pk).update_one(
        __raw__={"$set": mongo_values(Application, {"verified_income": value, "updated_at": utcnow()})}
    )
    audit.record(
        "verified_income_set",
        "application",
        application.pk,
        actor=actor,
        changes={"verified_income": {"old": old, "new": value}},
    )
    return application.reload()


def add_comment(application_id: Any, text: str, *, actor: audit.Actor) -> Application:
    """An internal manager comment (never shown to the customer)."""
    _require(actor)
    application = get_application(application_id)
    body = (text or "").strip()
    if not body:
        raise ValidationFailed("The comment is empty", field="comment")
    comment = ManagerComment(
        text=body[:5000], by_id=parse_object_id(actor.id), by_email=actor.email, at=utcnow()
    )
    Application.objects(pk=application.pk).update_one(
        push__manager_comments=comment, set__updated_at=utcnow()
    )
    audit.record("comment_added", "application", application.pk, actor=actor)
    return application.reload()


def suggest_alternatives(application: Application, now: datetime | None = None) -> AlternativesResult:
    """The §5.8 suggestions for this application, from the public lots (nothing stored)."""
    lot = (
        Lot.objects(pk=application.lot.pk if hasattr(application.lot, "pk") else application.lot)
        .only("lease", "make")
        .first()
    )
    current = lot.lease.monthly if lot and lot.lease else None
    snapshot = (
        application.lot_data.lease.monthly if application.lot_data and application.lot_data.lease else None
    )
    basis = basis_monthly(current, snapshot)
    if basis is None:
        return AlternativesResult()
    candidates = [
        Candidate(
            lot_id=str(c.pk),
            slug=c.slug,
            year=c.year,
            make=c.make,
            model=c.model,
            monthly=c.lease.monthly if c.lease else None,
            published_at=c.published_at,
        )
        for c in Lot.objects.public(now)
        .filter(lease__monthly__gt=0)
        .only("slug", "year", "make", "model", "lease", "published_at")
    ]
    make = application.lot_data.make if application.lot_data else (lot.make if lot else None)
    exclude = (
        str(application.lot_data.lot_id) if application.lot_data and application.lot_data.lot_id else None
    )
    return select_alternatives(basis, make, candidates, exclude_lot_id=exclude)


def set_alternatives(
    application_id: Any, entries: Iterable[tuple[Any, str | None]], *, actor: audit.Actor
) -> Application:
    """Replace the manager-picked alternatives: up to three public lots, each with an optional reason."""
    _require(actor)
    application = get_application(application_id)
    picked: list[ManagerAlternative] = []
    seen: set[str] = set()
    for lot_id, reason in entries:
        key = str(lot_id or "").strip()
        if not key or key in seen:
            continue
        seen.add(key)
        oid = parse_object_id(key)
        lot = (
            Lot.objects.public().filter(pk=oid).first()
            if oid
            else Lot.objects.public().filter(slug=key).first()
        )
        if lot is None:
            raise ValidationFailed(f"{key} is not a public lot", field="alternatives")
        picked.append(
            ManagerAlternative(
                lot_id=lot.pk,
                lot_slug=lot.slug,
                title=lot.short_title,
                monthly=lot.lease.monthly if lot.lease else None,
                suggested_by=actor.email or actor.id,
                suggested_at=utcnow(),
                reason=(reason or "").strip()[:500] or None,
            )
        )
    if len(picked) > MAX_ALTERNATIVES:
        raise ValidationFailed(f"At most {MAX_ALTERNATIVES} alternatives", field="alternatives")
    before = [a.lot_slug for a in application.alternatives or []]
    Application.objects(pk=application.pk).update_one(
        __raw__={"$set": mongo_values(Application, {"alternatives": picked, "updated_at": utcnow()})}
    )
    audit.record(
        "alternatives_added",
        "application",
        application.pk,
        actor=actor,
        changes={"alternatives": {"old": before, "new": [a.lot_slug for a in picked]}},
    )
    return application.reload()


# --------------------------------------------------------------------------------------------------------
# Pickup (§5.6)


def mark_ready_for_pickup(application_id: Any, *, actor: audit.Actor) -> Application:
    _require(actor)
    application = get_application(application_id)
    if application.status not in ("approved", "contract_sent"):
        raise RuleViolation("Only approved applications can be made ready for pickup")
    if application.pickup_status == "scheduled":
        raise RuleViolation("A pickup is booked; reschedule it to release the slot")
    if application.pickup_status == "ready_for_pickup":
        return application
    Application.objects(pk=application.pk).update_one(
        set__pickup_status="ready_for_pickup", set__updated_at=utcnow()
    )
    audit.record(
        "pickup_ready",
        "application",
        application.pk,
        actor=actor,
        changes={"pickup_status": {"old": application.pickup_status, "new": "ready_for_pickup"}},
    )
    return application.reload()


def reschedule_pickup(application_id: Any, *, actor: audit.Actor, note: str | None = None) -> Application:
    """Release the booked slot (it becomes free for everyone) so the customer can pick a new one."""
    _require(actor)
    application = get_application(application_id)
    if application.pickup_status != "scheduled":
        raise RuleViolation("No pickup is booked for this application")
    slot = application.pickup_slot
    _release_booking(application.pk)
    # The release leaves the application ready for a new booking whatever the booking service stored.
    Application.objects(pk=application.pk).update_one(
        set__pickup_status="ready_for_pickup", unset__pickup_slot=True, set__updated_at=utcnow()
    )
    audit.record(
        "pickup_released",
        "application",
        application.pk,
        actor=actor,
        changes={"pickup_slot": {"old": slot, "new": None}},
        reason=note,
    )
    return application.reload()


def upcoming_bookings(now: datetime | None = None, days: int = 14) -> list[PickupBooking]:
    now = now or utcnow()
    return list(
        PickupBooking.objects(
            slot_start__gte=now - timedelta(hours=1), slot_start__lt=now + timedelta(days=days)
        )
        .order_by("slot_start")
        .limit(200)
    )


# --------------------------------------------------------------------------------------------------------
# Sensitive values (§12.2)


def masked_values(application: Application, today: date | None = None) -> dict[str, dict[str, Any]]:
    """For each sensitive field: whether it is on file, its mask, and the age for a date of birth. Decrypts
    only to build the mask; plaintext never leaves this function."""
    today = today or utcnow().astimezone(PACIFIC).date()
    result: dict[str, dict[str, Any]] = {}
    for name in SENSITIVE_FIELDS:
        on_file = application.has_sensitive(name)
        entry: dict[str, Any] = {"on_file": on_file, "mask": "", "age": None, "label": FIELD_LABELS[name]}
        if on_file:
            value = application.decrypt_sensitive(name)
            if name == "ssn":
                entry["mask"] = mask_ssn(value)
            elif name == "drivers_license_number":
                entry["mask"] = mask_licence(value)
            else:
                entry["mask"] = mask_date_of_birth(value)
                try:
                    entry["age"] = age_on(value, today) if value else None
                except ValueError:
                    entry["age"] = None
        result[name] = entry
    return result


def _check_reason(reason: str, other_text: str | None) -> str:
    if reason not in REVEAL_REASONS:
        raise ValidationFailed("Choose a reason for the reveal", field="reason")
    if reason == "other":
        text = (other_text or "").strip()
        if not text:
            raise ValidationFailed("Describe the reason", field="other_reason")
        return f"other: {text[:500]}"
    return reason


def _alert_on_many_reveals(actor: audit.Actor, now: datetime | None = None) -> None:
    """Tell the admins as soon as a staff member's reveals within 60 minutes pass the threshold (§12.2).

    The count and the alert are the hourly check's (``periodic``), under the same event key per staff member
    and hour: a burst is one message, whether this call or the hourly job sees it first, and later reveals
    in the same hour add nothing.
    """
    from app.services import periodic

    now = now or utcnow()
    try:
        count = periodic.pii_reveals_within(actor.id, now)
        if count > periodic.pii_reveal_threshold():
            periodic.alert_pii_reveal_burst(actor.id, count, now)
    except Exception:  # noqa: BLE001 - the audit log keeps the record; the hourly check alerts too
        log.warning("could not alert admins about reveals by %s", actor.id)


def reveal(
    application_id: Any, field: str, *, actor: audit.Actor, reason: str, other_text: str | None = None
) -> str:
    """The plaintext of one sensitive field, for a finance manager or admin with a reason. Audited
    (``pii_reveal``: who, when, which field of which application, why)."""
    _require(actor)
    if field not in SENSITIVE_FIELDS:
        raise ValidationFailed("Unknown field", field="field")
    why = _check_reason(reason, other_text)
    application = get_application(application_id)
    value = application.decrypt_sensitive(field)
    if value is None:
        raise NotFound(f"No {FIELD_LABELS[field]} on file")
    audit.record(
        "pii_reveal",
        "pii",
        application.pk,
        actor=actor,
        reason=why,
        details={"field": field, "resource": "application", "application_id": str(application.pk)},
    )
    _alert_on_many_reveals(actor)
    return value


def _money(value: Any) -> str:
    return f"${Decimal(value):,.2f}" if value is not None else "—"


def fleet_submission(
    application_id: Any, *, actor: audit.Actor, reason: str, other_text: str | None = None
) -> str:
    """The plain-text block for the lender or dealer. It contains the sensitive values, so producing it is
    audited as ``copy_to_fleet`` listing those fields (§12.2)."""
    _require(actor)
    why = _check_reason(reason, other_text)
    application = get_application(application_id)
    u = application.user_data
    lot = application.lot_data
    revealed = [name for name in SENSITIVE_FIELDS if application.has_sensitive(name)]
    lines = [
        "FLEET SUBMISSION — Cargwin LLC",
        f"Application: {application.pk}  Status: {application.status}",
        "",
        "APPLICANT",
        f"Name: {u.name or ''}",
        f"E-mail: {u.email or ''}   Phone: {u.phone or ''}",
        f"SSN: {application.decrypt_sensitive('ssn') or 'not on file'}",
        f"Driver's licence: {application.decrypt_sensitive('drivers_license_number') or 'not on file'}",
        f"Date of birth: {application.decrypt_sensitive('date_of_birth') or 'not on file'}",
        f"Address: {u.current_address or u.address or ''} ({u.current_address_duration_months or u.residence_duration_months or '?'} months)",
        f"Previous address: {u.previous_address or ''}",
        f"Employment: {u.employment_type or ''} {u.employer_name or ''} {u.job_title or ''} ({u.time_at_job_months or '?'} months)",
        f"Income (monthly, pre-tax): {_money(u.monthly_income_pretax)}   Annual: {_money(u.annual_income)}",
        f"Verified income: {_money(application.verified_income)}",
        f"Credit score (self-reported): {u.credit_score or 'n/a'}   Immigration status: {u.immigration_status or ''}",
        "",
        "VEHICLE",
        f"{lot.title or ''}  VIN: {lot.vin or 'n/a'}",
        f"MSRP {_money(lot.msrp)}  Discount {_money(lot.discount)}  Fleet price {_money(lot.fleet_price)}",
    ]
    details = application.approval_details
    if details is not None:
        rate = (
            f"APR {details.apr}%"
            if details.apr is not None
            else f"Money factor {details.money_factor} (approx. rate equivalent {apr_equivalent(details.money_factor)}%)"
        )
        lines += [
            "",
            "APPROVAL",
            f"{rate}  Term {details.loan_term} months  Down {_money(details.down_payment)}  Monthly {_money(details.monthly_payment)}",
        ]
    if application.trade_in is not None:
        t = application.trade_in
        lines += [
            "",
            "TRADE-IN",
            f"{t.year or ''} {t.make or ''} {t.model or ''} VIN {t.vin or 'n/a'} {t.mileage or '?'} mi, {t.condition or ''}; estimate {_money(t.kbb_value)}",
        ]
    audit.record(
        "copy_to_fleet",
        "pii",
        application.pk,
        actor=actor,
        reason=why,
        details={"fields": revealed, "resource": "application", "application_id": str(application.pk)},
    )
    _alert_on_many_reveals(actor)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# Page data


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # status, audit, notification, comment, document
    title: str
    detail: str = ""
    who: str = ""


def timeline(application: Application) -> list[TimelineEntry]:
    """Everything that happened to the application, oldest first: status changes, staff actions (from the
    audit log), messages sent, comments and uploaded documents."""
    entries: list[TimelineEntry] = [
        TimelineEntry(as_utc(application.created_at), "status", "Application submitted", "", "")
    ]
    for change in application.status_history or []:
        entries.append(
            TimelineEntry(
                as_utc(change.at),
                "status",
                f"{change.from_status or 'new'} → {change.to_status}",
                " · ".join(
                    p for p in (REJECTION_REASONS.get(change.reason_code or "", ""), change.note or "") if p
                ),
                change.by_email or "",
            )
        )
    skip = {"status_change"}
    for entry in AuditLog.objects(resource_id=str(application.pk)).order_by("timestamp").limit(500):
        if entry.resource_type == "application" and entry.action in skip:
            continue
        detail = ""
        if entry.resource_type == "pii":
            detail = f"{(entry.details or {}).get('field') or ', '.join((entry.details or {}).get('fields', []))} — {entry.reason or ''}"
        elif entry.changes:
            detail = ", ".join(sorted(entry.changes))
        entries.append(
            TimelineEntry(
                as_utc(entry.timestamp),
                "audit",
                entry.action.replace("_", " "),
                detail,
                entry.actor_email or entry.actor_id or "",
            )
        )
    for message in Notification.objects(application=application.pk).order_by("created_at").limit(200):
        entries.append(
            TimelineEntry(
                as_utc(message.created_at),
                "notification",
                f"{message.channel} message: {message.template}",
                message.status,
                "",
            )
        )
    for comment in application.manager_comments or []:
        entries.append(
            TimelineEntry(as_utc(comment.at), "comment", "Comment", comment.text, comment.by_email or "")
        )
    for document in CustomerDocument.objects(application=application.pk).order_by("created_at").limit(100):
        entries.append(
            TimelineEntry(
                as_utc(document.created_at), "document", f"Document uploaded: {document.doc_type}", "", ""
            )
        )
    entries.sort(key=lambda e: e.at)
    return entries


def reservation_of(application: Application) -> Reservation | None:
    if not application.reservation:
        return None
    return Reservation.objects(pk=application.reservation).first()
