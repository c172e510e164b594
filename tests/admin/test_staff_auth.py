"""Staff sign-in security: TOTP enrolment with a local QR code, recovery codes, replay refusal, lockout, the
admin reset of a second factor, and the idle and absolute session limits."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.models import AuditLog, User
from app.models.base import utcnow
from app.services import audit, staff_auth
from tests.admin.conftest import signed_in, staff
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.foundation.test_admin_auth import csrf_from, enrol_mfa, sign_in


def password_step(client, email, password=DEFAULT_PASSWORD):
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


def post_code(client, path, code):
    page = client.get(path)
    return client.post(path, data={"code": code, "csrf_token": csrf_from(page.get_data(as_text=True))})


def test_first_sign_in_enrols_with_a_local_qr_code_and_recovery_codes(client):
    user = make_user(role="editor")
    response = password_step(client, user.email)
    assert response.headers["Location"] == "/admin/login/enrol"
    assert client.get("/admin/").status_code == 302  # nothing is signed in between the steps

    page = client.get("/admin/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "https://" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert post_code(client, "/admin/login/enrol", "000000").status_code == 200  # wrong code: stays

    response = post_code(client, "/admin/login/enrol", staff_auth.totp_code(secret, utcnow()))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    codes = re.findall(
        r"<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>", response.get_data(as_text=True)
    )
    assert len(codes) == 10
    assert client.get("/admin/").status_code == 200
    user.reload()
    assert user.mfa_enrolled_at is not None and len(user.mfa_recovery_code_hashes) == 10
    assert codes[0] not in str(user.to_mongo())  # stored hashed
    assert "secret" not in str(user.mfa_secret_encrypted).lower() and secret not in user.mfa_secret_encrypted
    assert AuditLog.objects(action="mfa_enrolled", actor_id=str(user.pk)).count() == 1
    assert AuditLog.objects(action="mfa_failed").count() == 1

    # A recovery code replaces the phone once.
    client.post("/admin/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})
    assert password_step(client, user.email).headers["Location"] == "/admin/login/verify"
    assert post_code(client, "/admin/login/verify", codes[0].upper()).status_code == 302
    client.post("/admin/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})
    password_step(client, user.email)
    assert post_code(client, "/admin/login/verify", codes[0]).status_code == 200  # used up


def test_a_totp_code_is_accepted_once(client, app):
    user = make_user(role="admin")
    secret = enrol_mfa(user)
    now = utcnow()
    code = staff_auth.totp_code(secret, now)
    assert staff_auth.verify_second_factor(user.reload(), code, now=now) == "totp"
    assert staff_auth.verify_second_factor(user.reload(), code, now=now) is None
    later = now + timedelta(seconds=30)
    assert (
        staff_auth.verify_second_factor(user.reload(), staff_auth.totp_code(secret, later), now=later)
        == "totp"
    )


def test_repeated_failures_lock_the_account_without_saying_so(client):
    user = make_user(role="finance_manager")
    enrol_mfa(user)
    for _ in range(staff_auth.LOCKOUT_THRESHOLD):
        page = password_step(client, user.email, "wrong-password-123").get_data(as_text=True)
        assert "Invalid e-mail or password" in page
    user.reload()
    assert user.locked_until is not None
    # Even the right password is refused while locked, with the same message.
    response = password_step(client, user.email)
    assert response.status_code == 200 and "Invalid e-mail or password" in response.get_data(as_text=True)
    assert AuditLog.objects(action="account_locked", resource_id=str(user.pk)).count() == 1
    assert AuditLog.objects(action="login_failed", details__reason="locked").count() == 1

    User.objects(pk=user.pk).update_one(set__locked_until=utcnow() - timedelta(seconds=1))
    assert sign_in(client, user.email).status_code == 302


def test_wrong_codes_count_towards_the_lockout(client):
    user = make_user(role="editor")
    enrol_mfa(user)
    password_step(client, user.email)
    for _ in range(staff_auth.LOCKOUT_THRESHOLD - 1):
        assert post_code(client, "/admin/login/verify", "123456").status_code == 200
    response = post_code(client, "/admin/login/verify", "123456")
    assert response.headers["Location"] == "/admin/login"
    assert staff_auth.is_locked(user.reload())
    assert (
        AuditLog.objects(action="mfa_failed", actor_id=str(user.pk)).count() == staff_auth.LOCKOUT_THRESHOLD
    )


def test_the_code_step_expires_and_needs_the_password_step(client):
    assert client.get("/admin/login/verify").headers["Location"] == "/admin/login"
    user = make_user(role="editor")
    enrol_mfa(user)
    password_step(client, user.email)
    with client.session_transaction() as session:
        session["mfa_started"] = (utcnow() - timedelta(minutes=6)).isoformat()
    assert client.get("/admin/login/verify").headers["Location"] == "/admin/login"


def test_customers_never_reach_the_second_step(client):
    customer = make_user(role="user")
    response = password_step(client, customer.email)
    assert response.status_code == 200 and "cannot use the back office" in response.get_data(as_text=True)


def test_admin_resets_a_second_factor_and_the_sessions_end(app, client):
    target_client = app.test_client()
    target = signed_in(target_client, "editor")
    assert target_client.get("/admin/").status_code == 200
    signed_in(client, "admin")
    page = client.get(f"/admin/user/manage/?id={target.pk}")
    response = client.post(
        f"/admin/user/manage/?id={target.pk}",
        data={"op": "reset_mfa", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert response.status_code == 302
    target.reload()
    assert target.mfa_enrolled_at is None and target.mfa_secret_encrypted is None
    assert target_client.get("/admin/").status_code == 302  # signed out everywhere
    assert password_step(target_client, target.email).headers["Location"] == "/admin/login/enrol"
    assert AuditLog.objects(action="mfa_reset", resource_id=str(target.pk)).count() == 1


def test_only_admins_reset_and_not_their_own(app):
    admin = staff("admin")
    editor = staff("editor")
    with pytest.raises(Exception, match="Only admins"):
        staff_auth.reset_mfa(admin.pk, actor=audit.actor_for(editor))
    with pytest.raises(Exception, match="another admin"):
        staff_auth.reset_mfa(admin.pk, actor=audit.actor_for(admin))


@pytest.mark.parametrize(
    ("signed_in_ago", "seen_ago", "ends"),
    [
        (timedelta(hours=1), timedelta(minutes=5), False),
        (timedelta(hours=1), timedelta(minutes=31), True),  # idle
        (timedelta(hours=12, minutes=1), timedelta(minutes=1), True),  # absolute
    ],
)
def test_sessions_end_when_idle_or_too_old(client, signed_in_ago, seen_ago, ends):
    signed_in(client, "editor")
    now = utcnow()
    with client.session_transaction() as session:
        session["signed_in_at"] = (now - signed_in_ago).isoformat()
        session["last_seen"] = (now - seen_ago).isoformat()
    response = client.get("/admin/lot/")
    if ends:
        assert response.status_code == 302 and response.headers["Location"].startswith(
            "/admin/login?next=/admin/lot/"
        )
        assert client.get("/admin/").status_code == 302
        assert AuditLog.objects(action="session_expired").count() == 1
    else:
        assert response.status_code == 200


def test_recovery_codes_can_be_renewed_by_their_owner(client):
    user = signed_in(client, "finance_manager")
    old_hashes = list(user.reload().mfa_recovery_code_hashes or [])
    page = client.get("/admin/account/recovery-codes")
    response = client.post(
        "/admin/account/recovery-codes", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert len(user.reload().mfa_recovery_code_hashes) == 10 and user.mfa_recovery_code_hashes != old_hashes
