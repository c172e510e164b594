"""Back-office sign-in: staff only, CSRF on every form, a safe next, sign-out."""

from __future__ import annotations

import re

import pyotp
import pytest

from app.models import AuditLog, User
from app.models.base import utcnow
from app.services import staff_auth
from tests.factories import DEFAULT_PASSWORD, make_user

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def enrol_mfa(user) -> str:
    """Give a staff account a TOTP secret (as if it had enrolled) and return the secret."""
    from app.pii import get_cipher
    from app.services.staff_auth import SECRET_PURPOSE

    secret = pyotp.random_base32()
    User.objects(pk=user.pk).update_one(
        set__mfa_secret_encrypted=get_cipher().encrypt(secret, SECRET_PURPOSE), set__mfa_enrolled_at=utcnow()
    )
    return secret


def sign_in(client, email, password=DEFAULT_PASSWORD, next_url=None):
    """The two-step staff sign-in: password, then a TOTP code. Staff accounts are enrolled first when needed.

    Returns the response of the last step (the password step's when it is refused)."""
    user = User.objects.by_email(email)
    secret = None
    if user is not None and user.role != "user":
        if not user.mfa_enrolled_at:
            secret = enrol_mfa(user)
        else:
            secret = staff_auth.secret_of(user)
        # Each test signs in from scratch: forget the last accepted step so a repeated sign-in within one
        # 30-second window is not refused as a replay (replay refusal has its own test).
        User.objects(pk=user.pk).update_one(unset__mfa_last_totp_step=True)
    page = client.get("/admin/login" + (f"?next={next_url}" if next_url else ""))
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))}
    if next_url:
        data["next"] = next_url
    response = client.post("/admin/login", data=data)
    if response.status_code != 302 or not response.headers["Location"].startswith("/admin/login/verify"):
        return response
    page = client.get("/admin/login/verify")
    code = staff_auth.totp_code(secret, utcnow())
    return client.post(
        "/admin/login/verify", data={"code": code, "csrf_token": csrf_from(page.get_data(as_text=True))}
    )


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/")


@pytest.mark.parametrize("role", ["finance_manager", "editor", "admin"])
def test_staff_sign_in_reaches_the_dashboard(client, role):
    user = make_user(role=role)
    response = sign_in(client, user.email)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and "Welcome" in dashboard.get_data(as_text=True)
    assert AuditLog.objects(action="login_success", actor_id=str(user.pk)).count() == 1
    assert User.objects.get(pk=user.pk).last_login is not None


def test_a_customer_account_cannot_enter(client):
    user = make_user(role="user")
    response = sign_in(client, user.email)
    assert response.status_code == 200
    assert "cannot use the back office" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_wrong_password_and_inactive_staff_are_refused(client):
    staff = make_user(role="editor")
    assert "cannot use the back office" in sign_in(client, staff.email, "wrong-password-123").get_data(
        as_text=True
    )
    inactive = make_user(role="admin", is_active=False)
    assert "cannot use the back office" in sign_in(client, inactive.email).get_data(as_text=True)
    assert AuditLog.objects(action="login_failed").count() == 2


def test_login_without_csrf_token_is_refused(client):
    staff = make_user(role="admin")
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": staff.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/system/", "/admin/system/"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/x", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_must_be_a_local_path(client, next_url, expected):
    staff = make_user(role="admin")
    response = sign_in(client, staff.email, next_url=next_url)
    assert response.headers["Location"] == expected


def test_role_gate_on_admin_only_views(client):
    editor = make_user(role="editor")
    sign_in(client, editor.email)
    assert client.get("/admin/system/").status_code == 403


def test_sign_out_needs_post_with_csrf(client):
    staff = make_user(role="admin")
    sign_in(client, staff.email)
    assert client.get("/admin/logout").status_code == 405
    client.post("/admin/logout", data={})
    assert client.get("/admin/").status_code == 200  # a forged sign-out did nothing
    page = client.get("/admin/").get_data(as_text=True)
    response = client.post("/admin/logout", data={"csrf_token": csrf_from(page)})
    assert response.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 302


def test_deactivation_ends_an_open_session(client):
    staff = make_user(role="editor")
    sign_in(client, staff.email)
    assert client.get("/admin/").status_code == 200
    User.objects(pk=staff.pk).update_one(set__is_active=False, inc__session_generation=1)
    assert client.get("/admin/").status_code == 302
