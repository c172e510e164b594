"""Back-office sessions (business rules §10, GLBA Safeguards Rule): the second factor cannot be skipped,
enrolment secrets belong to the session that shows them, sign-in starts a new session, sign-out ends it for
every copy of the cookie, and the idle and absolute limits end it too."""

from __future__ import annotations

import re
from datetime import timedelta

from app.models import AuditLog, Lot, User
from app.models.base import utcnow
from app.services import staff_auth
from tests.admin.conftest import VALID_VIN, signed_in, token
from tests.factories import DEFAULT_PASSWORD, make_lot, make_user
from tests.foundation.test_admin_auth import csrf_from, enrol_mfa

COOKIE = "cargwin_session"


def password_step(client, email: str, password: str = DEFAULT_PASSWORD):
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


def code_step(client, path: str, code: str):
    page = client.get(path)
    return client.post(path, data={"code": code, "csrf_token": csrf_from(page.get_data(as_text=True))})


def shown_secret(client) -> str:
    page = client.get("/admin/login/enrol").get_data(as_text=True)
    return re.search(r'data-testid="mfa-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")


def copy_of_cookie(app, client):
    """A second browser holding the same session cookie (a stolen or left-over copy)."""
    other = app.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return other


def test_an_enrolment_secret_seen_by_someone_with_the_password_is_not_the_one_the_owner_enrols(app):
    """Someone who knows only the password opens the enrolment page first and notes the secret. The owner
    then signs in and enrols: the account's factor must not be the secret the other session saw."""
    user = make_user(role="finance_manager")
    intruder, owner = app.test_client(), app.test_client()
    assert password_step(intruder, user.email).headers["Location"] == "/admin/login/enrol"
    intruder_page = intruder.get("/admin/login/enrol").get_data(as_text=True)
    seen_by_intruder = shown_secret(intruder)
    assert password_step(owner, user.email).headers["Location"] == "/admin/login/enrol"
    owners = shown_secret(owner)
    assert owners != seen_by_intruder
    assert shown_secret(owner) == owners  # a reload keeps the session's secret
    assert code_step(owner, "/admin/login/enrol", staff_auth.totp_code(owners, utcnow())).status_code == 200
    assert owner.get("/admin/").status_code == 200
    assert staff_auth.secret_of(user.reload()) == owners
    # The intruder's secret never becomes a factor of the account, by confirming it afterwards either.
    later = utcnow() + timedelta(seconds=60)
    intruder.post(
        "/admin/login/enrol",
        data={"code": staff_auth.totp_code(seen_by_intruder, later), "csrf_token": csrf_from(intruder_page)},
    )
    assert intruder.get("/admin/").status_code == 302
    assert staff_auth.secret_of(user.reload()) == owners
    assert (
        staff_auth.verify_second_factor(user, staff_auth.totp_code(seen_by_intruder, later), now=later)
        is None
    )


def test_the_enrolment_secret_is_not_written_to_the_account_before_it_is_confirmed(app, client):
    user = make_user(role="editor")
    password_step(client, user.email)
    secret = shown_secret(client)
    user.reload()
    assert user.mfa_secret_encrypted is None and user.mfa_enrolled_at is None
    assert secret not in (client.get_cookie(COOKIE).value or "")  # sealed in the cookie, not readable


def test_a_locked_account_cannot_finish_enrolment(app, client):
    user = make_user(role="editor")
    password_step(client, user.email)
    secret = shown_secret(client)
    User.objects(pk=user.pk).update_one(set__locked_until=utcnow() + timedelta(minutes=15))
    response = code_step(client, "/admin/login/enrol", staff_auth.totp_code(secret, utcnow()))
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert user.reload().mfa_enrolled_at is None and client.get("/admin/").status_code == 302


def test_the_second_factor_cannot_be_skipped_by_opening_a_page_directly(app, client):
    """After the password step only, every back-office URL still sends the visitor to sign in (the full walk
    of the url_map for this state is in test_backoffice_url_map; here, the pages that matter most)."""
    user = make_user(role="admin")
    enrol_mfa(user)
    lot = make_lot(vin=VALID_VIN)
    assert password_step(client, user.email).headers["Location"] == "/admin/login/verify"
    for path in ("/admin/", "/admin/user/", "/admin/audit_log/", "/admin/account/recovery-codes"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path
    csrf = csrf_from(client.get("/admin/login/verify").get_data(as_text=True))
    client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "archived", "csrf_token": csrf})
    assert Lot.objects.get(pk=lot.pk).status == "published"


def test_signing_in_starts_a_new_session(app, client):
    """Nothing planted in the session before sign-in survives it, and the cookie changes."""
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before_cookie = client.get_cookie(COOKIE).value
    signed_in(client, "editor")
    with client.session_transaction() as session:
        assert "planted" not in session and "mfa_user" not in session and "mfa_enrol_secret" not in session
        assert session.get("signed_in_at") and session.get("_user_id")
    assert client.get_cookie(COOKIE).value != before_cookie


def test_a_csrf_token_from_before_sign_in_is_refused_after_it(app, client):
    lot = make_lot(vin=VALID_VIN)
    old_token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    signed_in(client, "editor")
    client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "archived", "csrf_token": old_token})
    assert Lot.objects.get(pk=lot.pk).status == "published"


def test_signing_out_ends_every_copy_of_the_session(app, client):
    user = signed_in(client, "admin")
    copy = copy_of_cookie(app, client)
    assert copy.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": token(client)})
    assert client.get("/admin/").status_code == 302
    response = copy.get("/admin/user/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert AuditLog.objects(action="logout", actor_id=str(user.pk)).count() == 1


def test_a_copy_of_an_expired_session_stays_expired(app, client):
    signed_in(client, "admin")
    with client.session_transaction() as session:
        session["last_seen"] = (utcnow() - timedelta(minutes=31)).isoformat()
    copy = copy_of_cookie(app, client)
    assert client.get("/admin/").status_code == 302
    assert copy.get("/admin/").status_code == 302
    assert AuditLog.objects(action="session_expired").count() >= 1


def test_a_session_without_its_sign_in_time_is_refused(app, client):
    """A cookie that names a user but not when the session started (forged with a leaked key, or from an
    older release) has no limits to check: it is ended."""
    signed_in(client, "admin")
    with client.session_transaction() as session:
        session.pop("signed_in_at")
        session.pop("last_seen")
    assert client.get("/admin/").status_code == 302


def test_opening_a_sign_in_step_while_signed_in_keeps_the_session(app, client):
    """A link to the code or enrolment page (from another site, or an old tab) must not sign anyone out."""
    signed_in(client, "finance_manager")
    for path in ("/admin/login/verify", "/admin/login/enrol"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/application/").status_code == 200


def test_sign_in_attempts_are_limited_per_address(client):
    """Password spraying from one address stops after 30 tries in 10 minutes, whatever the accounts."""
    statuses = []
    for n in range(31):
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(
            "/admin/login",
            data={"email": f"nobody{n}@example.com", "password": "wrong-password-1", "csrf_token": token},
        )
        statuses.append(response.status_code)
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
