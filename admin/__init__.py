"""The Flask-Admin back office at ``/admin`` for finance managers, editors and admins.

Views are created per application (tests build several apps). Each one is secured on the server by role
(``admin.security.SecuredViewMixin`` and ``admin.base.SecureModelView``); the menu only lists what the
signed-in role may open.
"""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.form import SecureForm
from flask_admin.theme import Bootstrap4Theme

from admin.auth import bp as auth_blueprint
from admin.auth import init_session_guard
from admin.security import init_no_store
from admin.views.applications import ApplicationView
from admin.views.audit_log import AuditLogView
from admin.views.customers import AppointmentView, LeadView, ReservationView, SubscriptionView
from admin.views.dashboard import DashboardView
from admin.views.lots import LotTrashView, LotView
from admin.views.operations import JobsView, NotificationView
from admin.views.scraper import ScrapeRunView
from admin.views.system import SystemView
from admin.views.users import UserView
from app.extensions import login_manager
from app.models import (
    Application,
    Appointment,
    AuditLog,
    Lead,
    Lot,
    Notification,
    Reservation,
    ScrapeRun,
    Subscription,
    User,
)


def logout_csrf_token() -> str:
    """A CSRF token for the sign-out form in the navigation bar."""
    return SecureForm().csrf_token.current_token


def init_admin(app: Flask) -> Admin:
    """Create this app's ``Admin`` with every back-office view."""
    login_manager.login_view = "admin_auth.login"
    login_manager.session_protection = "strong"
    app.register_blueprint(auth_blueprint)
    app.add_template_global(logout_csrf_token)
    init_session_guard(app)
    init_no_store(app)
    admin = Admin(
        app,
        name="Cargwin",
        url="/admin",
        index_view=DashboardView(name="Dashboard", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/cargwin_base.html", fluid=True),
    )
    admin.add_view(LotView(Lot, name="Lots", endpoint="lot", category="Lots"))
    admin.add_view(LotTrashView(Lot, name="Trash", endpoint="lot_trash", category="Lots"))
    admin.add_view(ScrapeRunView(ScrapeRun, name="Competitor scraper", endpoint="scraper", category="Lots"))
    admin.add_view(
        ApplicationView(Application, name="Applications", endpoint="application", category="Finance")
    )
    admin.add_view(
        ReservationView(Reservation, name="Reservations", endpoint="reservation", category="Finance")
    )
    admin.add_view(
        AppointmentView(Appointment, name="Appointments", endpoint="appointment", category="Finance")
    )
    admin.add_view(LeadView(Lead, name="Leads and callbacks", endpoint="lead", category="Finance"))
    admin.add_view(UserView(User, name="Users", endpoint="user", category="Admin"))
    admin.add_view(AuditLogView(AuditLog, name="Audit log", endpoint="audit_log", category="Admin"))
    admin.add_view(
        SubscriptionView(Subscription, name="Subscriptions", endpoint="subscription", category="Admin")
    )
    admin.add_view(
        NotificationView(Notification, name="Notification outbox", endpoint="notification", category="Admin")
    )
    admin.add_view(JobsView(name="Background jobs", endpoint="jobs", category="Admin"))
    admin.add_view(SystemView(name="System", endpoint="system", category="Admin"))
    return admin
