"""Admin-only operational tools: check that outgoing messages reach the worker and a provider."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.form import SecureForm
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.security import SecuredViewMixin
from app.models import Notification
from app.models.base import utcnow
from app.services import audit
from app.services.notifications import queue_message


class SystemView(SecuredViewMixin, BaseView):
    allowed_roles = ("admin",)

    @expose("/")
    def index(self) -> str:
        recent = Notification.objects(template="test_message").order_by("-created_at").limit(10)
        return self.render("admin/system.html", form=SecureForm(), recent=recent)

    @expose("/test-notification", methods=("POST",))
    def test_notification(self) -> Response:
        form = SecureForm(request.form)
        if not form.validate():
            flash("The form expired; please try again.", "error")
            return redirect(url_for(".index"))
        audit.set_request_actor(current_user)
        notification = queue_message(
            channel="email",
            recipient=current_user.email,
            template="test_message",
            idempotency_key=f"test_message:{current_user.pk}:{utcnow().isoformat()}",
            payload={"requested_by": current_user.email, "channel": "email"},
            language=current_user.language or "en",
            category="system",
            user=current_user.pk,
        )
        audit.record("test_notification", "notification", notification.pk)
        flash("A test e-mail was queued; its status appears below once the worker has run.", "success")
        return redirect(url_for(".index"))
