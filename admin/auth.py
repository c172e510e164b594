"""Staff sign-in and sign-out for the back office (Flask-Login sessions, CSRF-protected forms)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_admin.form import SecureForm
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length

from admin.security import STAFF, safe_next
from app.extensions import login_manager
from app.models import User
from app.models.base import utcnow
from app.services import audit
from app.services.auth import check_password_login, load_session_user

bp = Blueprint("admin_auth", __name__, url_prefix="/admin")


class LoginForm(SecureForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return load_session_user(session_id)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    destination = safe_next(request.values.get("next"), url_for("admin.index"))
    if current_user.is_authenticated and current_user.role in STAFF:
        return redirect(destination)
    form = LoginForm(request.form)
    if request.method == "POST" and form.validate():
        user = check_password_login(form.email.data, form.password.data)
        if user is None or not user.is_active or user.role not in STAFF:
            audit.record(
                "login_failed",
                "auth",
                details={"surface": "back_office", "email": (form.email.data or "").strip().lower()[:254]},
            )
            # One message for every failure, so the form does not reveal which accounts exist or are staff.
            form.password.errors = ["Invalid e-mail or password, or this account cannot use the back office."]
        else:
            session.clear()
            login_user(user)
            session["signed_in_at"] = utcnow().isoformat()
            User.objects(pk=user.pk).update_one(set__last_login=utcnow())
            audit.set_request_actor(user)
            audit.record("login_success", "auth", user.pk, details={"surface": "back_office"})
            return redirect(destination)
    return render_template("admin/login.html", form=form, next=destination)


@bp.post("/logout")
def logout() -> Response:
    form = SecureForm(request.form)
    if not form.validate():
        flash("Your session expired; please sign out again.", "warning")
        return redirect(url_for("admin.index"))
    if current_user.is_authenticated:
        audit.set_request_actor(current_user)
        audit.record("logout", "auth", current_user.pk, details={"surface": "back_office"})
    logout_user()
    session.clear()
    return redirect(url_for("admin_auth.login"))
