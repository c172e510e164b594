"""Register, login, me and logout (consumer-api §4.4.1–4.4.4) and the bearer rules of §1.3."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

from app.models import AuditLog, User
from tests.api.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, make_user

USER_KEYS = {
    "id", "email", "name", "role", "is_active", "profile_completed", "picture", "last_login", "created_at",
    "credit_score", "annual_income", "auto_loan_history", "employment_type", "employer_name", "job_title",
    "time_at_job_months", "monthly_income_pretax", "employment_duration_months", "immigration_status", "phone",
    "address", "current_address", "current_address_duration_months", "residence_duration_months",
    "previous_address", "monthly_expenses", "down_payment_ready", "ssn_on_file", "drivers_license_on_file",
    "date_of_birth_on_file",
}  # fmt: skip


def register(
    client, email="New.Person@Example.com", password="a-long-secret-phrase", name="New Person", **kwargs
):
    return client.post(
        "/api/auth/register", json={"email": email, "password": password, "name": name}, **kwargs
    )


# --------------------------------------------------------------------------------------------------------
# Register


def test_register_returns_the_token_response_and_a_customer(client):
    response = register(client)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [
        "ok",
        "message",
        "user",
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    ]
    assert body["ok"] is True and body["message"] == "User registered successfully"
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    user = body["user"]
    assert set(user) == USER_KEYS
    assert user["email"] == "new.person@example.com" and user["name"] == "New Person"
    assert user["role"] == "user" and user["profile_completed"] is False and user["picture"] == ""
    assert user["id"].isascii() and len(user["id"]) == 24
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code
        == 200
    )
    assert AuditLog.objects(action="user_registered", resource_id=user["id"]).count() == 1


def test_registration_sets_the_message_language_from_the_browser(client):
    register(client, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert User.objects.get().language == "ru"


def test_a_duplicate_email_is_400_whatever_its_case(client):
    register(client, email="dup@example.com")
    response = register(client, email="  DUP@example.COM ")
    assert response.status_code == 400
    assert response.get_json() == {"detail": "User with this email already exists"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"email": "not-an-email", "password": "a-long-secret-phrase", "name": "X"},
            "email must be a valid e-mail address",
        ),
        ({"password": "a-long-secret-phrase", "name": "X"}, "email is required"),
        (
            {"email": "a@example.com", "password": "short", "name": "X"},
            "Password must be at least 8 characters",
        ),
        (
            {"email": "a@example.com", "password": "password123", "name": "X"},
            "Password is too common; choose a less predictable one",
        ),
        (
            {"email": "a@example.com", "password": "x" * 129, "name": "X"},
            "Password must be at most 128 characters",
        ),
        ({"email": "a@example.com", "password": "a-long-secret-phrase"}, "name is required"),
        ({"email": "a@example.com", "password": "a-long-secret-phrase", "name": "   "}, "name is required"),
        (
            {"email": "a@example.com", "password": "a-long-secret-phrase", "name": "n" * 101},
            "name must be at most 100 characters",
        ),
        (
            {"email": {"$ne": None}, "password": "a-long-secret-phrase", "name": "X"},
            "email must be a valid e-mail address",
        ),
        ({"email": "a@example.com", "password": ["a"], "name": "X"}, "password must be a string"),
    ],
)
def test_register_validation(client, body, detail):
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}
    assert User.objects.count() == 0


# --------------------------------------------------------------------------------------------------------
# Login


def test_login_returns_tokens_and_stamps_last_login(client):
    user = make_user(email="casey@example.com")
    response = client.post(
        "/api/auth/login", json={"email": " Casey@Example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Logged in successfully"
    assert body["user"]["id"] == str(user.pk) and body["user"]["last_login"].endswith("Z")
    assert (
        AuditLog.objects(action="login_success", resource_id=str(user.pk)).get().details["login_method"]
        == "password"
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("casey@example.com", "wrong-password"),
        ("nobody@example.com", DEFAULT_PASSWORD),
        ("nopassword@example.com", "anything"),
    ],
)
def test_wrong_password_unknown_email_and_password_less_accounts_get_the_same_401(client, email, password):
    make_user(email="casey@example.com")
    make_user(email="nopassword@example.com", password=None)
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Invalid email or password"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    entry = AuditLog.objects(action="login_failed").get()
    assert password not in entry.to_json()


def test_a_deactivated_account_is_403_only_after_the_password_checked(client):
    make_user(email="gone@example.com", is_active=False)
    wrong = client.post("/api/auth/login", json={"email": "gone@example.com", "password": "not-the-password"})
    assert wrong.status_code == 401
    right = client.post("/api/auth/login", json={"email": "gone@example.com", "password": DEFAULT_PASSWORD})
    assert right.status_code == 403
    assert right.get_json() == {"detail": "Account is deactivated"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"password": "x"}, "email is required"),
        ({"email": "a@b.c"}, "password is required"),
        ({}, "email is required"),
    ],
)
def test_login_missing_fields_are_422(client, body, detail):
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


# --------------------------------------------------------------------------------------------------------
# /api/auth/me and the bearer rules


def test_me_returns_the_bare_user(app, alice):
    response = alice.get("/api/auth/me")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == USER_KEYS
    assert body["id"] == str(alice.user.pk) and body["profile_completed"] is True


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Bearer null", "Bearer undefined", "Basic abc"]
)
def test_missing_or_placeholder_tokens_are_authentication_required(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Authentication required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_bad_expired_and_refresh_tokens_are_invalid(app, client, alice):
    expired = create_access_token(
        identity=str(alice.user.pk), additional_claims={"sid": "x"}, expires_delta=timedelta(seconds=-5)
    )
    tampered = alice.access_token[:-4] + ("aaaa" if not alice.access_token.endswith("aaaa") else "bbbb")
    for token in ("garbage", "a.b.c", expired, tampered, alice.refresh_token):
        response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.get_json() == {"detail": "Invalid or expired token"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_signed_with_another_key_is_invalid(app, client, alice):
    import jwt

    forged = jwt.encode(
        {"sub": str(alice.user.pk), "type": "access", "sid": "s", "jti": "j"}, "x" * 40, "HS256"
    )
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.get_json() == {"detail": "Invalid or expired token"}


def test_a_deactivated_account_is_refused_at_once(app, alice):
    User.objects(pk=alice.user.pk).update_one(set__is_active=False)
    response = alice.get("/api/auth/me")
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Account is deactivated"}


def test_the_role_is_read_from_the_database_on_every_request(app, alice):
    assert alice.get("/api/auth/me").get_json()["role"] == "user"
    User.objects(pk=alice.user.pk).update_one(set__role="finance_manager")
    assert alice.get("/api/auth/me").get_json()["role"] == "finance_manager"


def test_a_token_of_a_deleted_user_is_invalid(app, alice):
    alice.user.delete()
    assert alice.get("/api/auth/me").get_json() == {"detail": "Invalid or expired token"}


def test_auth_none_endpoints_ignore_an_invalid_header(client):
    response = client.get("/api/cars", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200


# --------------------------------------------------------------------------------------------------------
# Logout


def test_logout_revokes_the_access_and_refresh_tokens(app, client, alice):
    response = alice.post("/api/auth/logout", json={})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "message": "Logged out successfully"}
    assert alice.get("/api/auth/me").get_json() == {"detail": "Invalid or expired token"}
    refreshed = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert refreshed.status_code == 401
    assert AuditLog.objects(action="logout", resource_id=str(alice.user.pk)).count() == 1


def test_logout_with_a_refresh_token_in_the_body_revokes_that_session_too(app, client):
    user = make_user()
    first, second = sign_in(app, user), sign_in(app, user)
    first.post("/api/auth/logout", json={"refresh_token": second.refresh_token})
    assert first.get("/api/auth/me").status_code == 401
    assert second.get("/api/auth/me").status_code == 401


def test_logout_leaves_other_sessions_alone(app):
    user = make_user()
    phone, laptop = sign_in(app, user), sign_in(app, user)
    phone.post("/api/auth/logout", json={})
    assert laptop.get("/api/auth/me").status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer null"}, {"Authorization": "Bearer garbage"}]
)
def test_logout_always_answers_200(client, headers):
    response = client.post("/api/auth/logout", data="{oops", content_type="application/json", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["ok"] is True


def test_logout_works_with_an_expired_access_token(app, alice):
    from app.services import tokens

    claims = tokens.decode(alice.access_token)
    expired = create_access_token(
        identity=str(alice.user.pk),
        additional_claims={"sid": claims["sid"]},
        expires_delta=timedelta(seconds=-5),
    )
    alice.client.post("/api/auth/logout", json={}, headers={"Authorization": f"Bearer {expired}"})
    assert alice.get("/api/auth/me").status_code == 401


def test_logout_expires_a_legacy_session_cookie(client):
    client.set_cookie("session_token", "old-value")
    response = client.post("/api/auth/logout", json={})
    cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("session_token=;") and "Expires=Thu, 01 Jan 1970" in cookie
