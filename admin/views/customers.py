"""Customer-side records in the back office: leads and callbacks, reservations, appointments (finance
managers and admins), subscriptions (admins). Editors see none of them (personal data, §10)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional

from admin.base import BoolFilter, EqualsFilter, SecureModelView, badge, check_csrf, current_actor, money_cell
from app.errors import DomainError
from app.models import Lead, User
from app.models.base import as_utc, parse_object_id
from app.models.customer import (
    APPOINTMENT_STATUSES,
    APPOINTMENT_TYPES,
    CALLBACK_STATUSES,
    LEAD_KINDS,
    LEAD_STATUSES,
    RESERVATION_STATUSES,
)
from app.services.lots import PACIFIC

FINANCE = ("finance_manager", "admin")
ADMIN = ("admin",)


def _pacific(value: Any) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M") if value else ""


def _user_email(view: Any, context: Any, model: Any, name: str) -> str:
    user = model._data.get("user")
    return getattr(user, "email", "") or ""


class LeadView(SecureModelView):
    """Leads ("Get Your Offer") and callback requests, worked by finance managers (§9)."""

    allowed_roles = FINANCE
    details_roles = FINANCE
    column_list = ("created_at", "kind", "name", "phone", "email", "car_title", "preferred_time", "status")
    column_labels = {"created_at": "Received", "car_title": "Car"}
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at",)
    column_formatters = {
        "created_at": lambda v, c, m, n: _pacific(m.created_at),
        "status": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for(".status_view", id=str(m.pk)), m.status
        ),
    }
    column_filters = [
        EqualsFilter("kind", "Kind", options=[(k, k) for k in LEAD_KINDS]),
        EqualsFilter(
            "status", "Status", options=[(s, s) for s in dict.fromkeys(LEAD_STATUSES + CALLBACK_STATUSES)]
        ),
    ]
    column_details_exclude_list = ("ip_address", "user_agent")

    @expose("/status/", methods=("GET", "POST"))
    def status_view(self) -> Response | str:
        from flask_admin.form import SecureForm

        oid = parse_object_id(request.args.get("id", ""))
        lead = Lead.objects(pk=oid).first() if oid else None
        if lead is None:
            abort(404)
        if request.method == "POST":
            check_csrf()
            from app.services import leads

            try:
                leads.set_status(
                    str(lead.pk),
                    request.form.get("status", ""),
                    actor=current_actor(),
                    outcome=request.form.get("outcome") or None,
                )
            except DomainError as exc:
                flash(exc.detail, "error")
            else:
                flash("Status saved.", "success")
            return redirect(url_for(".status_view", id=str(lead.pk)))
        statuses = CALLBACK_STATUSES if lead.kind == "callback" else LEAD_STATUSES
        return self.render(
            "admin/leads/status.html", lead=lead, statuses=statuses, form=SecureForm(), pacific=_pacific
        )


class ReservationView(SecureModelView):
    """Price holds (read-only here: customers create, cancel and convert them; the sweep expires them)."""

    allowed_roles = FINANCE
    details_roles = FINANCE
    column_list = (
        "created_at",
        "user",
        "lot_slug",
        "reserved_price",
        "monthly_payment",
        "status",
        "expires_at",
    )
    column_labels = {"user": "Customer", "lot_slug": "Lot"}
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at", "expires_at")
    column_formatters = {
        "created_at": lambda v, c, m, n: _pacific(m.created_at),
        "expires_at": lambda v, c, m, n: _pacific(m.expires_at),
        "user": _user_email,
        "reserved_price": lambda v, c, m, n: money_cell(m.reserved_price),
        "monthly_payment": lambda v, c, m, n: money_cell(m.monthly_payment),
        "status": lambda v, c, m, n: badge(m.status, "success" if m.status == "active" else "secondary"),
    }
    column_filters = [EqualsFilter("status", "Status", options=[(s, s) for s in RESERVATION_STATUSES])]
    batch_references = {"user": (User, ("email",))}
    column_details_list = (
        "created_at",
        "user",
        "lot_slug",
        "reserved_price",
        "monthly_payment",
        "due_at_signing",
        "deposit_amount",
        "deposit_paid",
        "status",
        "expires_at",
        "cancelled_reason",
        "ended_at",
    )


class SubscriptionView(SecureModelView):
    """Model alerts (admins): who asked to be told about which makes and models, on which channels."""

    allowed_roles = ADMIN
    details_roles = ADMIN
    column_list = (
        "created_at",
        "user",
        "makes",
        "models",
        "max_price",
        "channels",
        "sms_consent_status",
        "is_active",
    )
    column_labels = {"user": "Customer", "sms_consent_status": "SMS consent", "is_active": "Active"}
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at",)
    column_formatters = {
        "created_at": lambda v, c, m, n: _pacific(m.created_at),
        "user": _user_email,
        "makes": lambda v, c, m, n: ", ".join(m.makes or []) or "any",
        "models": lambda v, c, m, n: ", ".join(m.models or []) or "any",
        "max_price": lambda v, c, m, n: money_cell(m.max_price) or "no limit",
        "channels": lambda v, c, m, n: ", ".join(
            ch
            for ch, on in (("e-mail", m.notify_email), ("SMS", m.notify_sms), ("Telegram", m.notify_telegram))
            if on
        ),
        "is_active": lambda v, c, m, n: "yes" if m.is_active else "no",
    }
    column_filters = [BoolFilter("is_active", "Active")]
    batch_references = {"user": (User, ("email",))}


class AppointmentView(SecureModelView):
    """Appointments (§5.11): staff update their status and notes."""

    allowed_roles = FINANCE
    edit_roles = FINANCE
    details_roles = FINANCE
    audit_resource = "appointment"
    column_list = ("starts_at", "appointment_type", "user", "status", "notes")
    column_labels = {"starts_at": "When (Pacific)", "appointment_type": "Type", "user": "Customer"}
    column_default_sort = ("starts_at", False)
    column_sortable_list = ("starts_at",)
    column_formatters = {
        "starts_at": lambda v, c, m, n: _pacific(m.starts_at),
        "user": _user_email,
    }
    column_filters = [
        EqualsFilter("status", "Status", options=[(s, s) for s in APPOINTMENT_STATUSES]),
        EqualsFilter("appointment_type", "Type", options=[(t, t) for t in APPOINTMENT_TYPES]),
    ]
    batch_references = {"user": (User, ("email",))}
    # Only status and notes are editable: the customer chose the type, date and time.
    form_columns = ("status", "notes")
    form_overrides = {"status": SelectField, "notes": TextAreaField}
    form_args = {
        "status": {"choices": [(s, s) for s in APPOINTMENT_STATUSES]},
        "notes": {"validators": [Optional(), Length(max=2000)]},
    }
