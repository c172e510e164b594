"""The Flask-Admin back office at ``/admin`` for finance managers, editors and admins."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.form import SecureForm
from flask_admin.theme import Bootstrap4Theme

from admin.auth import bp as auth_blueprint
from admin.views.dashboard import DashboardView
from admin.views.system import SystemView
from app.extensions import login_manager


def logout_csrf_token() -> str:
    """A CSRF token for the sign-out form in the navigation bar."""
    return SecureForm().csrf_token.current_token


def init_admin(app: Flask) -> Admin:
    """Create this app's ``Admin`` (views are instantiated per app, so tests can build several apps)."""
    login_manager.login_view = "admin_auth.login"
    login_manager.session_protection = "strong"
    app.register_blueprint(auth_blueprint)
    app.add_template_global(logout_csrf_token)
    admin = Admin(
        app,
        name="Cargwin",
        url="/admin",
        index_view=DashboardView(name="Dashboard", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/cargwin_base.html", fluid=True),
    )
    admin.add_view(SystemView(name="System", endpoint="system", category="Admin"))
    return admin
