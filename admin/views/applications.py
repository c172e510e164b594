"""Finance managers' applications: the work queue and the application page (business rules §5, §6, §12).

Finance managers and admins only (editors never see applications or personal data). The queue filters by
status, prescoring tier and result, and age, on indexed fields, with a simple pager and per-status counts.
The application page shows the customer's snapshot with sensitive values masked; revealing one is a separate
POST with a reason, audited, and the value is shown for 60 seconds. Every action is a POST with the session
CSRF token and goes through ``app.services.application_review``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.mongoengine.filters import BaseMongoEngineFilter
from markupsafe import Markup

from admin.base import EqualsFilter, SecureModelView, badge, check_csrf, current_actor, money_cell
from app.errors import DomainError
from app.models import Application, CustomerDocument
from app.models.application import APPLICATION_STATUSES, REJECTION_REASONS
from app.models.base import as_utc, utcnow
from app.services import application_review as review
from app.services import audit
from app.services.lots import PACIFIC

REVIEW_ROLES = review.REVIEW_ROLES
STATUS_BADGE = {
    "pending": "warning",
    "contacted": "info",
    "approved": "success",
    "rejected": "danger",
    "contract_sent": "primary",
    "completed": "dark",
}
AGE_BUCKETS = (
    ("1d", "under 1 day", None, 1),
    ("3d", "1–3 days", 1, 3),
    ("7d", "3–7 days", 3, 7),
    ("old", "over 7 days", 7, None),
)


class AgeFilter(BaseMongoEngineFilter):
    """Age of the application (time since submission), on the ``created_at`` index."""

    def __init__(self) -> None:
        super().__init__("created_at", "Age", options=[(key, label) for key, label, _a, _b in AGE_BUCKETS])

    def apply(self, query: Any, value: Any) -> Any:
        now = utcnow()
        for key, _label, newer_than, older_than in AGE_BUCKETS:
            if key == value:
                if newer_than is not None:
                    query = query.filter(created_at__lte=now - timedelta(days=newer_than))
                if older_than is not None:
                    query = query.filter(created_at__gt=now - timedelta(days=older_than))
        return query

    def operation(self) -> str:
        return "is"


def _age(value: Any) -> str:
    if value is None:
        return ""
    delta = utcnow() - as_utc(value)
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)} min"
    if delta < timedelta(days=2):
        return f"{int(delta.total_seconds() // 3600)} h"
    return f"{delta.days} d"


def _pacific(value: Any) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M") if value else ""


QUEUE_STATUSES = ("pending", "contacted", "approved", "contract_sent")
COUNTS_KEY = "admin:application-status-counts"
COUNTS_TTL_SECONDS = 30


def status_counts() -> list[tuple[str, int]]:
    """Applications per queue status for the list header: one indexed count per status, kept 30 seconds in
    Redis so that paging through the queue does not count the collection on every page."""
    import json

    from app.db import get_redis

    redis = get_redis()
    try:
        cached = redis.get(COUNTS_KEY)
    except Exception:  # noqa: BLE001 - counts are a convenience; without Redis they are computed each time
        cached = None
    if cached:
        return [(status, int(n)) for status, n in json.loads(cached)]
    coll = Application._get_collection()
    counts = [(status, coll.count_documents({"status": status})) for status in QUEUE_STATUSES]
    try:
        redis.set(COUNTS_KEY, json.dumps(counts), ex=COUNTS_TTL_SECONDS)
    except Exception:  # noqa: BLE001
        pass
    return counts


class ApplicationView(SecureModelView):
    """The finance managers' work queue."""

    allowed_roles = REVIEW_ROLES
    export_roles = REVIEW_ROLES
    details_roles = ()
    action_roles = {"prescore": REVIEW_ROLES}
    list_template = "admin/applications/list.html"

    column_list = (
        "created_at",
        "applicant",
        "vehicle",
        "status",
        "prescoring",
        "pickup_status",
        "updated_at",
    )
    column_labels = {"created_at": "Age", "updated_at": "Updated", "pickup_status": "Pickup"}
    column_sortable_list = ("created_at", "status", "updated_at")
    column_default_sort = ("created_at", True)
    column_formatters = {
        "created_at": lambda v, c, m, n: Markup('<span title="{}">{}</span>').format(
            _pacific(m.created_at), _age(m.created_at)
        ),
        "applicant": lambda v, c, m, n: Markup(
            '<a href="{}">{}</a><div class="small text-muted">{}</div>'
        ).format(url_for(".review_view", id=str(m.pk)), m.user_data.name or "—", m.user_data.email or ""),
        "vehicle": lambda v, c, m, n: Markup("{}<div class='small text-muted'>fleet {}</div>").format(
            m.lot_data.title or "", money_cell(m.lot_data.fleet_price)
        ),
        "status": lambda v, c, m, n: badge(m.status, STATUS_BADGE.get(m.status, "secondary")),
        "prescoring": lambda v, c, m, n: (
            f"{m.prescoring_tier} · {(m.prescoring_data or {}).get('approval_probability', '')}"
            if m.prescoring_tier
            else "—"
        ),
        "updated_at": lambda v, c, m, n: _pacific(m.updated_at),
    }
    column_filters = [
        EqualsFilter("status", "Status", options=[(s, s) for s in APPLICATION_STATUSES]),
        EqualsFilter(
            "prescoring_tier", "Prescoring tier", options=[(t, t) for t in ("Tier 1", "Tier 2", "Tier 3")]
        ),
        EqualsFilter(
            "prescoring_data__approval_probability",
            "Prescoring result",
            options=[(p, p) for p in ("High", "Medium", "Low")],
        ),
        AgeFilter(),
    ]
    column_searchable_list = ("search_text",)
    # Export: never a sensitive field (§12.2); the snapshot columns only.
    column_export_list = (
        "id",
        "created_at",
        "status",
        "applicant",
        "email",
        "vehicle",
        "fleet_price",
        "prescoring",
    )
    column_formatters_export = {
        "id": lambda v, c, m, n: str(m.pk),
        "created_at": lambda v, c, m, n: as_utc(m.created_at).isoformat(),
        "applicant": lambda v, c, m, n: m.user_data.name or "",
        "email": lambda v, c, m, n: m.user_data.email or "",
        "vehicle": lambda v, c, m, n: m.lot_data.title or "",
        "fleet_price": lambda v, c, m, n: str(m.lot_data.fleet_price or ""),
        "prescoring": lambda v, c, m, n: m.prescoring_tier or "",
    }

    def search_placeholder(self) -> str:
        return "Applicant name (start), or e-mail"

    def _search(self, query: Any, search_term: str) -> Any:
        import re

        text = " ".join(search_term.lower().split())
        if not text:
            return query
        # ``$regex`` strings rather than compiled patterns: BSON regexes carry flags that some
        # MongoDB-compatible servers mis-handle, and an anchored string pattern can use the index.
        if "@" in text:
            # E-mails sit in the middle of search_text: an unanchored pattern (index scan, not a prefix).
            return query.filter(__raw__={"search_text": {"$regex": re.escape(text)}})
        return query.filter(__raw__={"search_text": {"$regex": "^" + re.escape(text)}})

    def get_query(self) -> Any:
        # The list never loads the encrypted fields or the long histories.
        return Application.objects.exclude(
            "ssn_encrypted",
            "drivers_license_number_encrypted",
            "date_of_birth_encrypted",
            "status_history",
            "manager_comments",
        )

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.list_template:
            kwargs["status_counts"] = status_counts()
            kwargs["status_filter_index"] = self._status_filter_arg()
        return super().render(template, **kwargs)

    def _status_filter_arg(self) -> str | None:
        for index, flt in enumerate(self._filters or []):
            if flt.column == "status":
                return self.get_filter_arg(index, flt)
        return None

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Response:
        if not self.can_export or export_type != "csv":
            abort(403)
        audit.record("export", "application", None, details={"format": "csv", "filters": dict(request.args)})
        return super().export(export_type)

    @action("prescore", "Run prescoring", "Run prescoring for the selected applications (at most 50)?")
    def action_prescore(self, ids: list[str]) -> None:
        try:
            done = review.prescore_many(ids, actor=current_actor())
        except DomainError as exc:
            flash(exc.detail, "error")
            return
        flash(f"Prescoring stored for {done} application(s).", "success")

    # -- the application page ------------------------------------------------------------------------------

    def _load(self) -> Application:
        try:
            return review.get_application(request.args.get("id"))
        except DomainError:
            abort(404)

    @expose("/review/")
    def review_view(self) -> str:
        application = self._load()
        from flask_admin.form import SecureForm

        suggestions = review.suggest_alternatives(application)
        terms = application.approval_details
        warning = None
        if terms is not None and terms.apr is not None:
            warning, _expected = review.payment_check(
                application,
                review.ApprovalTerms(
                    terms.apr, None, terms.loan_term, terms.down_payment, terms.monthly_payment
                ),
            )
        return self.render(
            "admin/applications/review.html",
            app=application,
            form=SecureForm(),
            masked=review.masked_values(application),
            allowed=review.allowed_statuses(application),
            reasons=REJECTION_REASONS,
            reveal_reasons=review.REVEAL_REASONS,
            suggestions=suggestions,
            documents=list(CustomerDocument.objects(application=application.pk).order_by("-created_at")),
            reservation=review.reservation_of(application),
            timeline=review.timeline(application),
            bookings=[
                (
                    booking.slot_start,
                    getattr(booking._data.get("application"), "id", booking._data.get("application"))
                    == application.pk,
                )
                for booking in review.upcoming_bookings()
            ],
            apr_equivalent=review.apr_equivalent(terms.money_factor)
            if terms and terms.money_factor
            else None,
            payment_warning=warning,
            pacific=_pacific,
            money=money_cell,
            status_badge=STATUS_BADGE,
        )

    def _back(self, application_id: str, anchor: str = "") -> Response:
        return redirect(url_for(".review_view", id=application_id) + anchor)

    def _run(self, anchor: str, func: Any, success: str) -> Response:
        check_csrf()
        application_id = request.args.get("id", "")
        try:
            func(application_id, current_actor())
        except DomainError as exc:
            if exc.status_code == 403:
                abort(403)
            flash(exc.detail, "error")
        else:
            if success:
                flash(success, "success")
        return self._back(application_id, anchor)

    @expose("/review/status/", methods=("POST",))
    def status_view(self) -> Response:
        form = request.form
        return self._run(
            "#status",
            lambda app_id, actor: review.change_status(
                app_id,
                form.get("status", ""),
                actor=actor,
                note=form.get("note"),
                reason_code=form.get("reason_code") or None,
                admin_notes=form.get("admin_notes") if form.get("update_admin_notes") else None,
            ),
            "Status changed; the customer is notified.",
        )

    @expose("/review/approve/", methods=("POST",))
    def approve_view(self) -> Response:
        form = request.form
        rate_kind = form.get("rate_kind", "apr")

        def approve(app_id: str, actor: audit.Actor) -> None:
            application = review.approve(
                app_id,
                actor=actor,
                apr=form.get("rate") if rate_kind == "apr" else None,
                money_factor=form.get("rate") if rate_kind == "money_factor" else None,
                loan_term=form.get("loan_term"),
                down_payment=form.get("down_payment"),
                monthly_payment=form.get("monthly_payment"),
                admin_notes=form.get("admin_notes") if form.get("admin_notes") is not None else None,
                note=form.get("note"),
            )
            d = application.approval_details
            terms = review.ApprovalTerms(
                d.apr, d.money_factor, d.loan_term, d.down_payment, d.monthly_payment
            )
            warning, _ = review.payment_check(application, terms)
            if warning:
                flash(warning, "warning")

        return self._run("#approval", approve, "Approval saved.")

    @expose("/review/prescore/", methods=("POST",))
    def prescore_view(self) -> Response:
        return self._run(
            "#prescoring", lambda a, actor: review.prescore(a, actor=actor), "Prescoring stored."
        )

    @expose("/review/income/", methods=("POST",))
    def income_view(self) -> Response:
        amount = request.form.get("verified_income")
        return self._run(
            "#notes",
            lambda a, actor: review.set_verified_income(a, amount, actor=actor),
            "Verified income saved.",
        )

    @expose("/review/comment/", methods=("POST",))
    def comment_view(self) -> Response:
        text = request.form.get("comment", "")
        return self._run(
            "#notes", lambda a, actor: review.add_comment(a, text, actor=actor), "Comment added."
        )

    @expose("/review/notes/", methods=("POST",))
    def notes_view(self) -> Response:
        text = request.form.get("admin_notes", "")
        return self._run(
            "#notes",
            lambda a, actor: review.set_admin_notes(a, text, actor=actor),
            "Note for the customer saved.",
        )

    @expose("/review/alternatives/", methods=("POST",))
    def alternatives_view(self) -> Response:
        entries = [
            (request.form.get(f"alt_lot_{i}"), request.form.get(f"alt_reason_{i}")) for i in range(1, 4)
        ]
        return self._run(
            "#alternatives",
            lambda a, actor: review.set_alternatives(a, entries, actor=actor),
            "Alternatives saved.",
        )

    @expose("/review/pickup-ready/", methods=("POST",))
    def pickup_ready_view(self) -> Response:
        return self._run(
            "#pickup", lambda a, actor: review.mark_ready_for_pickup(a, actor=actor), "Ready for pickup."
        )

    @expose("/review/pickup-release/", methods=("POST",))
    def pickup_release_view(self) -> Response:
        note = request.form.get("note")
        return self._run(
            "#pickup",
            lambda a, actor: review.reschedule_pickup(a, actor=actor, note=note),
            "The slot is released; the customer can book a new one.",
        )

    @expose("/review/reveal/", methods=("POST",))
    def reveal_view(self) -> Response:
        """One sensitive value, with a reason; audited. Shown by the page for 60 seconds, never cached."""
        check_csrf()
        try:
            value = review.reveal(
                request.args.get("id", ""),
                request.form.get("field", ""),
                actor=current_actor(),
                reason=request.form.get("reason", ""),
                other_text=request.form.get("other_reason"),
            )
        except DomainError as exc:
            return _json_error(exc)
        response = jsonify(
            {"field": request.form.get("field"), "value": value, "expires_in": review.REVEAL_SECONDS}
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/review/fleet/", methods=("POST",))
    def fleet_view(self) -> Response:
        """The "copy to fleet" submission text; counts as a reveal of every sensitive field in it."""
        check_csrf()
        try:
            text = review.fleet_submission(
                request.args.get("id", ""),
                actor=current_actor(),
                reason=request.form.get("reason", ""),
                other_text=request.form.get("other_reason"),
            )
        except DomainError as exc:
            return _json_error(exc)
        response = jsonify({"text": text, "expires_in": review.REVEAL_SECONDS})
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/review/document/")
    def document_view(self) -> Response:
        """Download a customer document (decrypted on the fly; audited ``document_viewed``)."""
        from flask_login import current_user

        from app.services import documents

        application = self._load()
        current_actor()
        try:
            file = documents.download(
                str(application.pk), request.args.get("doc", ""), current_user._get_current_object()
            )
        except DomainError as exc:
            abort(403 if exc.status_code == 403 else 404)
        response = Response(file.content, mimetype=file.document.content_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{file.download_name}"'
        response.headers["Cache-Control"] = "no-store"
        return response


def _json_error(exc: DomainError) -> Response:
    if exc.status_code == 403:
        abort(403)
    response = jsonify({"detail": exc.detail})
    response.status_code = exc.status_code
    return response
