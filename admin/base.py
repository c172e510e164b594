"""The one secured base for back-office model views.

* Access: ``allowed_roles`` for the whole view (checked by ``SecuredViewMixin`` on every request, the index
  and every exposed method included); ``create_roles``, ``edit_roles``, ``delete_roles`` and
  ``export_roles`` for those capabilities, and ``action_roles`` per batch action. All are evaluated on the
  server for the signed-in user; hiding a button is never the protection.
* CSRF: every form derives from ``SecureForm`` (WTForms session CSRF, the one mechanism of the app).
* Audit: creations, edits and deletions made through the generic forms are written to the audit log with
  a diff of the changed fields (personal fields masked by ``audit.diff``).
* Big collections: ``simple_list_pager`` (no full count), indexed filters, and references batch-loaded
  once per page (``batch_references``) instead of one query per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import abort, flash, has_request_context, redirect, request
from flask_admin import expose
from flask_admin.contrib.mongoengine import ModelView
from flask_admin.contrib.mongoengine.filters import BaseMongoEngineFilter
from flask_admin.form import SecureForm, rules
from flask_login import current_user
from markupsafe import Markup, escape
from mongoengine import Document
from werkzeug.wrappers import Response

from admin.security import STAFF, SecuredViewMixin, has_role
from app.errors import DomainError
from app.services import audit


def current_actor() -> audit.Actor:
    """The signed-in staff member as an audit actor (also remembered for entries written later)."""
    audit.set_request_actor(current_user)
    return audit.actor_for(current_user)


def check_csrf() -> None:
    """Refuse a POST whose CSRF token is missing or wrong (for forms posted to custom endpoints)."""
    form = SecureForm(request.form)
    if not form.validate():
        abort(400, description="The form expired or was not sent from the back office; reload and try again.")


def flash_domain_error(exc: DomainError) -> None:
    flash(exc.detail, "error")


class EqualsFilter(BaseMongoEngineFilter):
    """``field == value`` on an indexed field, with fixed options when given."""

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(**{self.column: value})

    def operation(self) -> str:
        return "is"


class BoolFilter(BaseMongoEngineFilter):
    def __init__(self, column: str, name: str) -> None:
        super().__init__(column, name, options=(("1", "yes"), ("0", "no")))

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(**{self.column: value == "1"})

    def operation(self) -> str:
        return "is"


_SMALL_INT = re.compile(r"-?[0-9]{1,9}")


class IntEqualsFilter(BaseMongoEngineFilter):
    def clean(self, value: str) -> Any:
        return int(value.strip())

    def validate(self, value: str) -> bool:
        # ASCII digits only and a size MongoDB stores ("²" passes ``isdigit`` but not ``int``; 10**30 is not
        # an 8-byte integer): anything else is refused with a message instead of failing the page.
        return _SMALL_INT.fullmatch(value.strip()) is not None

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(**{self.column: value})

    def operation(self) -> str:
        return "is"


class KeepHiddenField(rules.BaseRule):
    """Declares a hidden field (the CSRF token) part of a form's rules. Flask-Admin deletes every field a
    ruleset does not mention from the form instance, and without this rule it would silently drop
    ``csrf_token`` and with it the CSRF check. The template renders hidden fields by itself."""

    def __init__(self, field_name: str = "csrf_token") -> None:
        super().__init__()
        self.field_name = field_name

    @property
    def visible_fields(self) -> list[str]:
        return [self.field_name]

    def __call__(self, form: Any, form_opts: Any = None, field_args: Any = None) -> str:
        return ""


def role_allows(roles: Iterable[str]) -> bool:
    # Outside a request (Flask-Admin builds its caches at start-up) every capability is "on", so that the
    # forms and columns exist; each request then decides for the signed-in user.
    if not has_request_context():
        return True
    return has_role(roles)


class SecureModelView(SecuredViewMixin, ModelView):
    """Base of every back-office model view. Subclasses set roles, columns and filters."""

    form_base_class = SecureForm
    allowed_roles: tuple[str, ...] = STAFF
    create_roles: tuple[str, ...] = ()
    edit_roles: tuple[str, ...] = ()
    delete_roles: tuple[str, ...] = ()
    export_roles: tuple[str, ...] = ()
    details_roles: tuple[str, ...] | None = None  # None: whoever may see the view
    action_roles: dict[str, tuple[str, ...]] = {}

    audit_resource: str | None = None
    audit_redact: tuple[str, ...] = ()
    batch_references: dict[str, tuple[type[Document], tuple[str, ...]]] = {}

    simple_list_pager = True
    named_filter_urls = True
    page_size = 25
    max_page = 100_000  # beyond it a list page skips more rows than any collection here holds
    max_search_length = 200  # MongoDB refuses patterns over 1,000 characters; nobody types 200
    can_set_page_size = False
    export_max_rows = 10000
    export_types = ["csv"]

    @property  # type: ignore[override]
    def can_create(self) -> bool:
        return role_allows(self.create_roles)

    @property  # type: ignore[override]
    def can_edit(self) -> bool:
        return role_allows(self.edit_roles)

    @property  # type: ignore[override]
    def can_delete(self) -> bool:
        return role_allows(self.delete_roles)

    @property  # type: ignore[override]
    def can_export(self) -> bool:
        return role_allows(self.export_roles)

    @property  # type: ignore[override]
    def can_view_details(self) -> bool:
        return role_allows(self.details_roles if self.details_roles is not None else self.allowed_roles)

    def is_action_allowed(self, name: str) -> bool:
        roles = self.action_roles.get(name)
        if roles is None:
            return False  # an action without declared roles is nobody's
        # The declared roles decide (not ``can_delete``: a "delete" action may be a soft delete).
        return role_allows(roles)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        response = super()._handle_view(name, **kwargs)
        if response is None and current_user.is_authenticated:
            audit.set_request_actor(current_user)
        return response

    # -- lists ------------------------------------------------------------------------------------------

    def _get_list_extra_args(self) -> Any:
        """The list's query-string arguments, bounded: a page number MongoDB can skip to (not negative,
        not beyond ``max_page``), a search of at most ``max_search_length`` characters and a non-negative
        sort column. Hand-edited URLs get a list page, never an error page."""
        args = super()._get_list_extra_args()
        args.page = min(max(args.page or 0, 0), self.max_page)
        if args.sort is not None and args.sort < 0:
            args.sort = None
        if args.search:
            args.search = args.search[: self.max_search_length]
        return args

    def get_list(self, *args: Any, **kwargs: Any) -> Any:
        count, data = super().get_list(*args, **kwargs)
        if self.batch_references and kwargs.get("execute", True):
            data = list(data)
            self.load_references(data)
        return count, data

    def load_references(self, rows: list[Any]) -> None:
        """Fetch every referenced document of the page in one query per field (not one per row)."""
        for field_name, (document, only) in self.batch_references.items():
            ids = set()
            for row in rows:
                raw = row._data.get(field_name)
                ref_id = getattr(raw, "id", raw) if not isinstance(raw, Document) else None
                if ref_id is not None:
                    ids.add(ref_id)
            if not ids:
                continue
            found = {doc.pk: doc for doc in document.objects(pk__in=list(ids)).only(*only)}
            for row in rows:
                raw = row._data.get(field_name)
                ref_id = getattr(raw, "id", raw) if not isinstance(raw, Document) else None
                if ref_id in found:
                    row._data[field_name] = found[ref_id]

    # -- audit of generic create / edit / delete -----------------------------------------------------------

    def audit_snapshot(self, model: Any) -> dict[str, Any]:
        data = model.to_mongo().to_dict()
        data.pop("_id", None)
        data.pop("updated_at", None)
        return data

    def update_model(self, form: Any, model: Any) -> bool:
        self._audit_before = self.audit_snapshot(model)
        return super().update_model(form, model)

    def after_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        if not self.audit_resource:
            return
        before = {} if is_created else getattr(self, "_audit_before", {})
        changes = audit.diff(before, self.audit_snapshot(model), redact=self.audit_redact)
        audit.record("create" if is_created else "update", self.audit_resource, model.pk, changes=changes)

    def on_model_delete(self, model: Any) -> None:
        if self.audit_resource:
            audit.record(
                "delete",
                self.audit_resource,
                model.pk,
                changes=audit.diff(self.audit_snapshot(model), {}, redact=self.audit_redact),
            )

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, DomainError):
            flash_domain_error(exc)
            return True
        return super().handle_view_exception(exc)

    def _export_csv(self, return_url: Any) -> Response:
        """CSV of the current list (filters and search applied, at most ``export_max_rows``), built in
        memory rather than streamed, so the request context (and the role check) is never outlived."""
        import csv
        import io

        from werkzeug.utils import secure_filename

        def csv_encode(value: Any) -> str:
            return guard_formula("" if value is None else str(value))

        _count, data = self._export_data()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([csv_encode(label) for _name, label in self._export_columns])
        for row in data:
            writer.writerow(
                [csv_encode(self.get_export_value(row, name)) for name, _label in self._export_columns]
            )
        filename = secure_filename(self.get_export_name(export_type="csv"))
        return Response(
            buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment;filename={filename}", "Cache-Control": "no-store"},
        )

    @expose("/api/file/")
    def api_file_view(self) -> Response:
        abort(404)  # GridFS downloads are not used; no view serves stored files this way

    def redirect_back(self, default_endpoint: str = ".index_view", **kwargs: Any) -> Response:
        from flask_admin.helpers import get_redirect_target

        return redirect(get_redirect_target() or self.get_url(default_endpoint, **kwargs))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(text: str) -> str:
    """A CSV cell that a spreadsheet program will show as text: values starting with ``=``, ``+``, ``-``,
    ``@`` (or a tab or carriage return before one) are prefixed with ``'``. Exports hold what customers typed
    (names, e-mails, user agents), and a name like ``=HYPERLINK(...)`` must not run in the reader's Excel."""
    return "'" + text if text.startswith(FORMULA_START) else text


def badge(text: str, kind: str = "secondary") -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(kind, escape(text))


def money_cell(value: Any) -> str:
    if value is None:
        return ""
    from decimal import Decimal

    amount = Decimal(value)
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"
