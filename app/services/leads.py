"""Leads ("Get Your Offer") and callback requests, stored for finance managers (business rules §9).

A lead records the consent the car page's checkbox gives (text version, time, address, user agent): a
person at Cargwin may contact the lead about the requested offer; it is not consent to automated texts.
Callback requests come from signed-in customers. Staff move both through their statuses with
:func:`set_status`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from app.errors import NotFound, ValidationFailed
from app.models import Lead, Lot, User
from app.models.base import parse_object_id, utcnow
from app.models.customer import CALLBACK_STATUSES, LEAD_STATUSES, PREFERRED_TIMES
from app.services import audit, messages
from app.services import consent as consent_ledger
from app.services.profile import normalise_phone
from app.services.users import clean_email

log = logging.getLogger(__name__)

LEAD_CONSENT_TEXT = (
    "I agree to personal data processing and receiving commercial offers. I understand that my data will not "
    "be shared with dealers for cold calls."
)
LEAD_CONSENT_VERSION = "lead-form-2025-01"
# Leads and callbacks are worked by finance managers (business rules §9); admins see everything.
STAFF_ALERT_ROLES = ("finance_manager", "admin")


def _request_context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {"ip_address": request.remote_addr, "user_agent": (request.user_agent.string or "")[:400]}


def _resolve_lot(car_id: str | None) -> Lot | None:
    if not car_id:
        return None
    lot = Lot.objects(slug=car_id).only("id").first()
    if lot is None:
        oid = parse_object_id(car_id)
        lot = Lot.objects(pk=oid).only("id").first() if oid else None
    return lot


def create_lead(
    *,
    name: str,
    phone: str,
    email: str,
    message: str = "",
    consent: bool,
    car_id: str | None = None,
    car_title: str | None = None,
) -> Lead:
    """Store a car-page lead with its consent evidence and alert the staff (no personal data in the alert)."""
    if consent is not True:
        raise ValidationFailed("Consent is required", field="consent")
    lead = Lead(
        kind="lead",
        status="new",
        name=name.strip(),
        phone=normalise_phone(phone),
        email=clean_email(email),
        message=(message or "").strip(),
        consent=True,
        consent_text_version=LEAD_CONSENT_VERSION,
        car_id=(car_id or "").strip()[:200] or None,
        lot=_resolve_lot(car_id),
        car_title=(car_title or "").strip()[:200] or None,
        **_request_context(),
    )
    lead.save(force_insert=True)
    context = _request_context()
    for channel, address in (("phone", lead.phone), ("email", lead.email)):
        consent_ledger.record(
            channel=channel,
            address=address,
            purpose="lead_contact",
            action="granted",
            checkbox_state=True,
            disclosure_version=LEAD_CONSENT_VERSION,
            source=f"lead {lead.pk}",
            ip_address=context.get("ip_address"),
            user_agent=context.get("user_agent"),
        )
    audit.record("create", "lead", lead.pk, details={"kind": "lead", "car_id": lead.car_id})
    messages.staff_alert(
        "New lead",
        f"A new offer request arrived for {lead.car_title or 'a car'}. See Leads in the back office.",
        event_key=f"lead:{lead.pk}",
        roles=STAFF_ALERT_ROLES,
    )
    return lead


def create_callback(user: User, *, phone: str, preferred_time: str = "asap") -> Lead:
    """Store a dashboard callback request for the finance managers."""
    if preferred_time not in PREFERRED_TIMES:
        raise ValidationFailed(
            f"preferred_time must be one of: {', '.join(PREFERRED_TIMES)}", field="preferred_time"
        )
    lead = Lead(
        kind="callback",
        status="new",
        user=user,
        name=user.name,
        email=user.email,
        phone=normalise_phone(phone),
        preferred_time=preferred_time,
        **_request_context(),
    )
    lead.save(force_insert=True)
    audit.record(
        "create",
        "lead",
        lead.pk,
        actor=audit.actor_for(user),
        details={"kind": "callback", "preferred_time": preferred_time},
    )
    messages.staff_alert(
        "Callback requested",
        f"A customer asked for a callback ({preferred_time}). See Leads in the back office.",
        event_key=f"callback:{lead.pk}",
        roles=STAFF_ALERT_ROLES,
    )
    return lead


def set_status(lead_id: Any, status: str, *, actor: audit.Actor, outcome: str | None = None) -> Lead:
    """Move a lead (``new`` → ``contacted`` → ``closed``, closing needs an outcome) or a callback
    (``new``, ``called``, ``no_answer``, ``closed``) to ``status``; stamps who handled it and audits."""
    oid = parse_object_id(str(lead_id)) if lead_id is not None else None
    lead = Lead.objects(pk=oid).first() if oid else None
    if lead is None:
        raise NotFound("Lead not found")
    allowed = LEAD_STATUSES if lead.kind == "lead" else CALLBACK_STATUSES
    if status not in allowed:
        raise ValidationFailed(f"status must be one of: {', '.join(allowed)}", field="status")
    outcome = (outcome or "").strip() or None
    if lead.kind == "lead" and status == "closed" and not outcome:
        raise ValidationFailed("An outcome is required to close a lead", field="outcome")
    if outcome and len(outcome) > 500:
        raise ValidationFailed("outcome must be at most 500 characters", field="outcome")
    old_status, old_outcome = lead.status, lead.outcome
    now = utcnow()
    Lead.objects(pk=lead.pk).update_one(
        set__status=status,
        set__outcome=outcome if outcome is not None else old_outcome,
        set__handled_by=parse_object_id(actor.id),
        set__handled_at=now,
        set__updated_at=now,
    )
    lead.reload()
    audit.record(
        "status_change",
        "lead",
        lead.pk,
        actor=actor,
        changes=audit.diff(
            {"status": old_status, "outcome": old_outcome}, {"status": lead.status, "outcome": lead.outcome}
        ),
    )
    return lead
