"""The audit log for admins: read-only, filtered by actor, action, resource and date, exported as CSV."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

from flask import Response, abort, request
from flask_admin import expose
from flask_admin.contrib.mongoengine.filters import BaseMongoEngineFilter
from markupsafe import Markup

from admin.base import EqualsFilter, SecureModelView
from app.models import AuditLog
from app.models.base import as_utc
from app.models.system import AUDIT_RESOURCE_TYPES
from app.services import audit
from app.services.lots import PACIFIC


class DateFilter(BaseMongoEngineFilter):
    """A Pacific calendar day bound on ``timestamp`` (``on or after`` / ``on or before``)."""

    def __init__(self, name: str, after: bool) -> None:
        super().__init__("timestamp", name, data_type="datepicker")
        self.after = after

    def validate(self, value: str) -> bool:
        try:
            self.clean(value)
        except (ValueError, OverflowError):  # not a date, or a day at the edge of the calendar (9999-12-31)
            return False
        return True

    def clean(self, value: str) -> datetime:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
        start = datetime.combine(day, time(0, 0), tzinfo=PACIFIC)
        return start if self.after else start + timedelta(days=1)

    def apply(self, query: Any, value: datetime) -> Any:
        return query.filter(timestamp__gte=value) if self.after else query.filter(timestamp__lt=value)

    def operation(self) -> str:
        return "on or after" if self.after else "on or before"


def _changes(view: Any, context: Any, model: AuditLog, name: str) -> str:
    return ", ".join(sorted(model.changes or {}))


class AuditLogView(SecureModelView):
    """Read-only: no create, edit or delete exists for anyone (the log is append-only)."""

    allowed_roles = ("admin",)
    export_roles = ("admin",)
    details_roles = ("admin",)
    column_list = (
        "timestamp",
        "actor_email",
        "actor_role",
        "action",
        "resource_type",
        "resource_id",
        "changes",
        "reason",
        "ip_address",
    )
    column_labels = {
        "actor_email": "Actor",
        "actor_role": "Role",
        "resource_type": "Resource",
        "resource_id": "Id",
        "ip_address": "Address",
    }
    column_sortable_list = ("timestamp",)
    column_default_sort = ("timestamp", True)
    column_formatters = {
        "timestamp": lambda v, c, m, n: as_utc(m.timestamp).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M:%S"),
        "actor_email": lambda v, c, m, n: m.actor_email or m.actor_id or "",
        "changes": _changes,
    }
    column_formatters_detail = {
        "changes": lambda v, c, m, n: Markup("<pre class='small'>{}</pre>").format(
            json.dumps(m.changes or {}, indent=2, ensure_ascii=False, default=str)
        ),
        "details": lambda v, c, m, n: Markup("<pre class='small'>{}</pre>").format(
            json.dumps(m.details or {}, indent=2, ensure_ascii=False, default=str)
        ),
    }
    column_details_list = (
        "timestamp",
        "actor_id",
        "actor_email",
        "actor_role",
        "action",
        "resource_type",
        "resource_id",
        "changes",
        "reason",
        "details",
        "ip_address",
        "user_agent",
        "request_id",
    )
    column_filters = [
        EqualsFilter("actor_email", "Actor"),
        EqualsFilter("action", "Action"),
        EqualsFilter("resource_type", "Resource", options=[(r, r) for r in AUDIT_RESOURCE_TYPES]),
        EqualsFilter("resource_id", "Resource id"),
        DateFilter("Date", after=True),
        DateFilter("Date", after=False),
    ]
    column_export_list = column_details_list
    column_formatters_export = {
        "timestamp": lambda v, c, m, n: as_utc(m.timestamp).isoformat(),
        "changes": lambda v, c, m, n: json.dumps(m.changes or {}, ensure_ascii=False, default=str),
        "details": lambda v, c, m, n: json.dumps(m.details or {}, ensure_ascii=False, default=str),
    }

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Response:
        if not self.can_export or export_type != "csv":
            abort(403)
        audit.record("export", "system", None, details={"what": "audit_log", "filters": dict(request.args)})
        return super().export(export_type)
