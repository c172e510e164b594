"""Admins' user management (business rules §10): search, role filter, change role, deactivate/reactivate,
reset password, reset the second factor, lift a lockout. The list shows name, e-mail, role, status and dates
only, never financial or sensitive data. Every change is audited by the services."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, abort, flash, make_response, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from markupsafe import Markup

from admin.base import BoolFilter, EqualsFilter, SecureModelView, badge, check_csrf, current_actor
from app.errors import DomainError
from app.models import User
from app.models.base import as_utc, parse_object_id
from app.models.user import ROLES
from app.services import staff_auth, users
from app.services.lots import PACIFIC

ADMIN_ROLES = ("admin",)
LIST_FIELDS = (
    "email",
    "name",
    "role",
    "is_active",
    "last_login",
    "created_at",
    "mfa_enrolled_at",
    "locked_until",
)


def _pacific(value: Any) -> str:
    return as_utc(value).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M") if value else ""


class UserView(SecureModelView):
    allowed_roles = ADMIN_ROLES
    details_roles = ()
    action_roles = {"deactivate": ADMIN_ROLES, "reactivate": ADMIN_ROLES, "reset_mfa": ADMIN_ROLES}
    column_list = ("email", "name", "role", "is_active", "mfa", "last_login", "created_at")
    column_labels = {
        "is_active": "Active",
        "mfa": "Two-factor",
        "last_login": "Last sign-in",
        "created_at": "Created",
    }
    column_sortable_list = ("email", "role", "created_at")
    column_default_sort = ("created_at", True)
    column_formatters = {
        "email": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for(".manage_view", id=str(m.pk)), m.email
        ),
        "role": lambda v, c, m, n: badge(
            m.role.replace("_", " "), "primary" if m.role != "user" else "light"
        ),
        "is_active": lambda v, c, m, n: "yes" if m.is_active else "no",
        "mfa": lambda v, c, m, n: (
            "enrolled" if m.mfa_enrolled_at else ("—" if m.role == "user" else "not enrolled")
        ),
        "last_login": lambda v, c, m, n: _pacific(m.last_login),
        "created_at": lambda v, c, m, n: _pacific(m.created_at),
    }
    column_filters = [
        EqualsFilter("role", "Role", options=[(r, r) for r in ROLES]),
        BoolFilter("is_active", "Active"),
    ]
    column_searchable_list = ("email",)

    def get_query(self) -> Any:
        return User.objects.only(*LIST_FIELDS)

    def search_placeholder(self) -> str:
        return "E-mail (start)"

    def _search(self, query: Any, search_term: str) -> Any:
        import re

        text = search_term.strip().lower()
        return query.filter(__raw__={"email": {"$regex": "^" + re.escape(text)}}) if text else query

    def _each(self, ids: list[str], func: Any, label: str) -> None:
        actor = current_actor()
        done = 0
        for user_id in ids:
            try:
                func(user_id, actor)
            except DomainError as exc:
                flash(f"{user_id}: {exc.detail}", "error")
            else:
                done += 1
        if done:
            flash(f"{label}: {done} account(s).", "success")

    @action("deactivate", "Deactivate", "Deactivate the selected accounts? Their sessions end at once.")
    def action_deactivate(self, ids: list[str]) -> None:
        self._each(
            ids, lambda i, a: users.deactivate(users.get_user(parse_object_id(i)), actor=a), "Deactivated"
        )

    @action("reactivate", "Reactivate", "Reactivate the selected accounts?")
    def action_reactivate(self, ids: list[str]) -> None:
        self._each(
            ids, lambda i, a: users.reactivate(users.get_user(parse_object_id(i)), actor=a), "Reactivated"
        )

    @action(
        "reset_mfa", "Reset two-factor", "Reset the second factor of the selected accounts? They enrol again."
    )
    def action_reset_mfa(self, ids: list[str]) -> None:
        self._each(ids, lambda i, a: staff_auth.reset_mfa(i, actor=a), "Two-factor reset")

    def _user(self) -> User:
        oid = parse_object_id(request.args.get("id", ""))
        user = User.objects(pk=oid).first() if oid else None
        if user is None:
            abort(404)
        return user

    @expose("/manage/", methods=("GET", "POST"))
    def manage_view(self) -> Response | str:
        from flask_admin.form import SecureForm

        user = self._user()
        new_password = None
        if request.method == "POST":
            check_csrf()
            actor = current_actor()
            operation = request.form.get("op")
            try:
                if operation == "role":
                    users.set_role(user, request.form.get("role", ""), actor=actor)
                    flash("Role changed; the account's sessions ended.", "success")
                elif operation == "deactivate":
                    users.deactivate(user, actor=actor)
                    flash("Account deactivated.", "success")
                elif operation == "reactivate":
                    users.reactivate(user, actor=actor)
                    flash("Account reactivated.", "success")
                elif operation == "reset_password":
                    new_password = secrets.token_urlsafe(12)
                    users.set_password(user, new_password, actor=actor)
                    flash(
                        "Password reset. Give the new password to its owner over a safe channel.", "success"
                    )
                elif operation == "reset_mfa":
                    staff_auth.reset_mfa(user.pk, actor=actor)
                    flash("Two-factor reset: the owner enrols again at the next sign-in.", "success")
                elif operation == "unlock":
                    staff_auth.unlock(user.pk, actor=actor)
                    flash("Lockout lifted.", "success")
                else:
                    abort(400)
            except DomainError as exc:
                flash(exc.detail, "error")
            if new_password is None:
                return redirect(url_for(".manage_view", id=str(user.pk)))
            user.reload()
        page = self.render(
            "admin/users/manage.html",
            user=user,
            form=SecureForm(),
            roles=ROLES,
            new_password=new_password,
            locked=staff_auth.is_locked(user),
            pacific=_pacific,
        )
        response = make_response(page)
        response.headers["Cache-Control"] = "no-store"  # a generated password must not stay in a cache
        return response
