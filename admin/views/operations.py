"""Admins' operations: the notification outbox (status, attempts, resend through
``notifications.resend``) and the background jobs (queues, failed jobs, retry), read from RQ's own
registries. Admin role only."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.actions import action
from flask_admin.form import SecureForm
from markupsafe import Markup
from rq.job import Job
from rq.registry import FailedJobRegistry

from admin.base import EqualsFilter, SecureModelView, badge, check_csrf, current_actor
from admin.security import SecuredViewMixin
from app.db import get_redis
from app.errors import DomainError
from app.models import Notification
from app.models.base import as_utc
from app.models.system import NOTIFICATION_CHANNELS, NOTIFICATION_STATUSES
from app.services import audit, notifications
from app.services.lots import PACIFIC
from app.tasks import QUEUE_NAMES, get_queue

ADMIN = ("admin",)


def _pacific(value: Any) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


RESENDABLE = ("failed", "not_sent_no_provider")  # what ``notifications.resend`` accepts


def _status_cell(view: Any, context: Any, model: Notification, name: str) -> Markup:
    cell = badge(
        model.status, {"sent": "success", "failed": "danger", "queued": "info"}.get(model.status, "secondary")
    )
    if model.status not in RESENDABLE:
        return cell
    return cell + Markup(
        '<form method="post" action="{}" class="d-inline ml-1"><input type="hidden" name="csrf_token" value="{}">'
        '<button type="submit" class="btn btn-link btn-sm p-0" data-testid="resend">Resend</button></form>'
    ).format(view.get_url(".resend_view", id=str(model.pk)), SecureForm().csrf_token.current_token)


class NotificationView(SecureModelView):
    """The outbox: every message with its status and attempts. "Resend" (a row's button, or the batch
    action) hands a failed message to ``notifications.resend``, which refuses sent and suppressed ones."""

    allowed_roles = ADMIN
    details_roles = ADMIN
    action_roles = {"resend": ADMIN}
    column_list = (
        "created_at",
        "channel",
        "category",
        "template",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    )
    column_labels = {"created_at": "Queued", "last_error": "Last error", "sent_at": "Sent"}
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at",)
    column_formatters = {
        "created_at": lambda v, c, m, n: _pacific(m.created_at),
        "sent_at": lambda v, c, m, n: _pacific(m.sent_at),
        "status": _status_cell,
    }
    column_filters = [
        EqualsFilter("status", "Status", options=[(s, s) for s in NOTIFICATION_STATUSES]),
        EqualsFilter("channel", "Channel", options=[(c, c) for c in NOTIFICATION_CHANNELS]),
    ]
    column_details_exclude_list = ("payload",)  # template context may hold contact details; not needed here

    def get_query(self) -> Any:
        return Notification.objects.exclude("payload")

    def _resend(self, ids: list[str]) -> None:
        actor = current_actor()
        count = 0
        for notification_id in ids:
            try:
                notifications.resend(notification_id, actor=actor)
            except DomainError as exc:
                flash(f"Message {notification_id}: {exc.detail}", "warning")
            else:
                count += 1
        if count:
            flash(f"{count} message(s) queued again.", "success")

    @action("resend", "Resend", "Queue the selected failed messages again?")
    def action_resend(self, ids: list[str]) -> None:
        self._resend(ids)

    @expose("/resend/", methods=("POST",))
    def resend_view(self) -> Response:
        check_csrf()
        self._resend([request.args.get("id", "")])
        return self.redirect_back()


class JobsView(SecuredViewMixin, BaseView):
    """Queues, failed jobs and retry, from RQ's registries (no rq-dashboard: it has no login of its own)."""

    allowed_roles = ADMIN

    @expose("/")
    def index(self) -> str:
        connection = get_redis()
        queues = []
        failed = []
        for name in QUEUE_NAMES:
            queue = get_queue(name)
            registry = FailedJobRegistry(queue=queue)
            queues.append(
                {
                    "name": name,
                    "queued": queue.count,
                    "started": queue.started_job_registry.count,
                    "scheduled": queue.scheduled_job_registry.count,
                    "failed": registry.count,
                }
            )
            for job_id in registry.get_job_ids(0, 49):
                job = (
                    Job.fetch(job_id, connection=connection)
                    if Job.exists(job_id, connection=connection)
                    else None
                )
                if job is None:
                    continue
                error = (job.latest_result().exc_string if job.latest_result() else "") or ""
                failed.append(
                    {
                        "queue": name,
                        "id": job.id,
                        "func": job.func_name,
                        "args": ", ".join(
                            str(a) for a in job.args
                        ),  # jobs carry ids only, never personal data
                        "ended_at": _pacific(job.ended_at),
                        "error": error.strip().splitlines()[-1] if error.strip() else "",
                    }
                )
        return self.render("admin/jobs.html", queues=queues, failed=failed, form=SecureForm())

    @expose("/retry/", methods=("POST",))
    def retry(self) -> Response:
        check_csrf()
        name = request.form.get("queue", "")
        job_id = request.form.get("job_id", "")
        if name not in QUEUE_NAMES:
            abort(400)
        registry = FailedJobRegistry(queue=get_queue(name))
        try:
            registry.requeue(job_id)
        except Exception:  # noqa: BLE001 - RQ raises its own errors for unknown or already retried jobs
            flash("That job is no longer in the failed list.", "warning")
        else:
            audit.record("job_retry", "system", job_id, actor=current_actor(), details={"queue": name})
            flash("The job is queued again.", "success")
        return redirect(url_for(".index"))
