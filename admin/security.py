"""Back-office access control: one secured base for every view, by role, with a safe ``next``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

STAFF = ("finance_manager", "editor", "admin")


def safe_next(target: str | None, default: str) -> str:
    """Only a same-site absolute path is a valid ``next``; anything else (other hosts, ``//evil``,
    ``javascript:``, backslashes) falls back to ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def has_role(roles: Iterable[str]) -> bool:
    return bool(
        current_user.is_authenticated and current_user.is_active and current_user.role in tuple(roles)
    )


class SecuredViewMixin:
    """Mixed into every back-office view. ``allowed_roles`` is checked on the server for every request."""

    allowed_roles: tuple[str, ...] = STAFF

    def is_accessible(self) -> bool:
        return has_role(self.allowed_roles)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Response:
        if current_user.is_authenticated:
            from flask import abort

            abort(403)
        return redirect(url_for("admin_auth.login", next=request.full_path.rstrip("?")))


def init_no_store(app: Flask) -> None:
    """Back-office answers are never cached (GLBA: customer income, credit and contact data, generated
    passwords, recovery codes): ``Cache-Control: no-store`` on everything under ``/admin`` but the theme's
    static files, unless a view chose its own policy."""

    @app.after_request
    def _no_store(response: Response) -> Response:
        if (
            request.path.startswith("/admin")
            and not request.path.startswith("/admin/static/")
            and "Cache-Control" not in response.headers
        ):
            response.headers["Cache-Control"] = "no-store"
        return response
