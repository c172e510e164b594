"""Staff sign-in and sign-out for the back office.

Two steps: e-mail and password, then a TOTP code from the staff member's authenticator app (or a recovery
code). An account without a second factor enrols on its first sign-in: a QR code rendered on the server,
a first code to confirm, and ten recovery codes shown once. Between the steps nothing is signed in: the
session only remembers, for five minutes, which account passed the password step.

Failures (password or code) count towards a lockout (``app.services.staff_auth``); every page shows one
message for every failure, so the form never reveals which accounts exist, are staff, or are locked.
Sessions end after ``STAFF_SESSION_IDLE_MINUTES`` without a request and ``STAFF_SESSION_MAX_HOURS`` after
sign-in. All forms carry the session CSRF token (``SecureForm``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_admin.form import SecureForm
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from admin.security import STAFF, safe_next
from app.extensions import limiter, login_manager
from app.models import User
from app.models.base import utcnow
from app.services import audit, staff_auth
from app.services.auth import check_password_login, load_session_user

bp = Blueprint("admin_auth", __name__, url_prefix="/admin")

PENDING_MINUTES = 5
GENERIC_FAILURE = "Invalid e-mail or password, or this account cannot use the back office."
CODE_FAILURE = (
    "That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code."
)


class LoginForm(SecureForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])


class CodeForm(SecureForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)])


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return load_session_user(session_id)


def _fail_audit(email: str | None, reason: str, user: User | None = None) -> None:
    audit.record(
        "login_failed",
        "auth",
        user.pk if user else None,
        details={"surface": "back_office", "email": (email or "").strip().lower()[:254], "reason": reason},
    )


# Per client address, on top of the per-account lockout and the second factor: slows password spraying
# across many accounts from one address.
SIGN_IN_ATTEMPTS_PER_ADDRESS = "30/10 minutes"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_ATTEMPTS_PER_ADDRESS, methods=["POST"])
def login() -> Response | str:
    destination = safe_next(request.values.get("next"), url_for("admin.index"))
    if current_user.is_authenticated and current_user.role in STAFF:
        return redirect(destination)
    form = LoginForm(request.form)
    if request.method == "POST" and form.validate():
        email = form.email.data or ""
        account = User.objects.by_email(email)
        verified = check_password_login(email, form.password.data)
        if account is not None and staff_auth.is_locked(account):
            _fail_audit(email, "locked", account)
        elif verified is None:
            if account is not None:
                staff_auth.register_failure(account, stage="password")
            _fail_audit(email, "password", account)
        elif not verified.is_active or verified.role not in STAFF:
            _fail_audit(email, "not_allowed", verified)
        else:
            session.clear()
            session["mfa_user"] = verified.get_id()
            session["mfa_started"] = utcnow().isoformat()
            session["mfa_next"] = destination
            step = "admin_auth.verify" if staff_auth.is_enrolled(verified) else "admin_auth.enrol"
            return redirect(url_for(step))
        form.password.errors = [GENERIC_FAILURE]
    return render_template("admin/login.html", form=form, next=destination)


def _no_store(page: str) -> Response:
    """Pages that show secrets (recovery codes) must not stay in any cache."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _pending_user() -> User | None:
    """The account that passed the password step in this session, within the time limit."""
    started = session.get("mfa_started")
    try:
        if not started or utcnow() - datetime.fromisoformat(started) > timedelta(minutes=PENDING_MINUTES):
            return None
    except ValueError:
        return None
    user = load_session_user(session.get("mfa_user", ""))
    if user is None or user.role not in STAFF:
        return None
    return user


def _restart(message: str) -> Response:
    session.clear()
    flash(message, "warning")
    return redirect(url_for("admin_auth.login"))


def _complete_sign_in(user: User, method: str) -> str:
    destination = safe_next(session.get("mfa_next"), url_for("admin.index"))
    session.clear()
    login_user(user)
    now = utcnow().isoformat()
    session["signed_in_at"] = now
    session["last_seen"] = now
    staff_auth.register_success(user)
    audit.set_request_actor(user)
    audit.record(
        "login_success", "auth", user.pk, details={"surface": "back_office", "second_factor": method}
    )
    return destination


def _code_failed(user: User) -> Response | None:
    audit.record(
        "mfa_failed", "auth", user.pk, actor=audit.actor_for(user), details={"surface": "back_office"}
    )
    if staff_auth.register_failure(user, stage="second_factor"):
        return _restart("Too many failed attempts. Try again later.")
    return None


def _already_signed_in() -> Response | None:
    """A signed-in staff member who opens a sign-in step keeps the session (a stray or forged link to these
    pages must not sign anyone out) and goes to the dashboard."""
    if current_user.is_authenticated and current_user.role in STAFF:
        return redirect(url_for("admin.index"))
    return None


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_ATTEMPTS_PER_ADDRESS, methods=["POST"])
def verify() -> Response | str:
    signed_in = _already_signed_in()
    if signed_in is not None:
        return signed_in
    user = _pending_user()
    if user is None:
        return _restart("Please sign in again.")
    if not staff_auth.is_enrolled(user):
        return redirect(url_for("admin_auth.enrol"))
    form = CodeForm(request.form)
    if request.method == "POST" and form.validate():
        if staff_auth.is_locked(user):
            return _restart("Too many failed attempts. Try again later.")
        method = staff_auth.verify_second_factor(user, form.code.data)
        if method is not None:
            destination = _complete_sign_in(user, method)
            if method == "recovery_code":
                left = staff_auth.remaining_recovery_codes(user.reload())
                flash(
                    f"You signed in with a recovery code; {left} remain. Renew them under Account.", "warning"
                )
            return redirect(destination)
        response = _code_failed(user)
        if response is not None:
            return response
        form.code.errors = [CODE_FAILURE]
    return render_template("admin/login_verify.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol() -> Response | str:
    signed_in = _already_signed_in()
    if signed_in is not None:
        return signed_in
    user = _pending_user()
    if user is None:
        return _restart("Please sign in again.")
    if staff_auth.is_enrolled(user):
        return redirect(url_for("admin_auth.verify"))
    # The secret of this enrolment lives in this session only (sealed), until a code confirms it.
    secret = staff_auth.open_secret(session.get("mfa_enrol_secret"))
    if secret is None:
        secret = staff_auth.new_enrolment_secret()
        session["mfa_enrol_secret"] = staff_auth.seal_secret(secret)
    form = CodeForm(request.form)
    if request.method == "POST" and form.validate():
        if staff_auth.is_locked(user):
            return _restart("Too many failed attempts. Try again later.")
        codes = staff_auth.confirm_enrolment(user, form.code.data, secret)
        if codes is not None:
            destination = _complete_sign_in(user, "totp_enrolment")
            return _no_store(
                render_template(
                    "admin/recovery_codes.html", codes=codes, destination=destination, first_time=True
                )
            )
        response = _code_failed(user)
        if response is not None:
            return response
        form.code.errors = [
            "That code does not match. Check the time on your phone and enter the current code."
        ]
    uri = staff_auth.provisioning_uri(user, secret)
    return render_template(
        "admin/login_enrol.html",
        form=form,
        qr=Markup(staff_auth.qr_svg(uri)),  # generated by segno from our own data: no user input inside
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        email=user.email,
    )


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
def recovery_codes() -> Response | str:
    """Renew one's own recovery codes (the old ones stop working)."""
    if not (current_user.is_authenticated and current_user.role in STAFF):
        return redirect(url_for("admin_auth.login", next=request.path))
    form = SecureForm(request.form)
    if request.method == "POST" and form.validate():
        codes = staff_auth.regenerate_recovery_codes(current_user, actor=audit.actor_for(current_user))
        return _no_store(
            render_template(
                "admin/recovery_codes.html", codes=codes, destination=url_for("admin.index"), first_time=False
            )
        )
    return render_template(
        "admin/account.html", form=form, remaining=staff_auth.remaining_recovery_codes(current_user)
    )


@bp.post("/logout")
def logout() -> Response:
    form = SecureForm(request.form)
    if not form.validate():
        flash("Your session expired; please sign out again.", "warning")
        return redirect(url_for("admin.index"))
    if current_user.is_authenticated:
        audit.set_request_actor(current_user)
        # The session lives in a signed cookie: clearing it here does not stop a copy of the old cookie
        # (another tab's, or one taken from this machine) from working until the absolute limit. A new
        # session generation makes every earlier cookie of the account worthless at once, so signing out
        # ends the account's back-office sessions everywhere.
        User.objects(pk=current_user.pk).update_one(inc__session_generation=1)
        audit.record("logout", "auth", current_user.pk, details={"surface": "back_office"})
    logout_user()
    session.clear()
    return redirect(url_for("admin_auth.login"))


def init_session_guard(app: Flask) -> None:
    """End back-office sessions after the idle and absolute limits (business rules §10)."""

    @app.before_request
    def _staff_session_limits() -> Response | None:
        if not request.path.startswith("/admin") or request.path.startswith("/admin/static"):
            return None
        if (
            request.endpoint
            and request.endpoint.startswith("admin_auth.")
            and request.endpoint != "admin_auth.recovery_codes"
        ):
            return None
        if not current_user.is_authenticated:
            return None
        now = utcnow()
        problem = staff_auth.session_problem(
            session.get("signed_in_at"),
            session.get("last_seen"),
            now,
            idle_minutes=current_app.config["STAFF_SESSION_IDLE_MINUTES"],
            max_hours=current_app.config["STAFF_SESSION_MAX_HOURS"],
        )
        if problem is None:
            session["last_seen"] = now.isoformat()
            return None
        audit.record(
            "session_expired",
            "auth",
            current_user.pk,
            actor=audit.actor_for(current_user),
            details={"why": problem},
        )
        logout_user()
        session.clear()
        flash("Your session has ended; please sign in again.", "warning")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("admin_auth.login", next=target) if target else url_for("admin_auth.login"))
