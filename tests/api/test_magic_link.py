"""POST /api/auth/magic and POST /api/auth/verify (consumer-api §4.4.6–4.4.7)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from app import create_app
from app.config import new_pii_key_entry
from app.errors import ConfigurationError
from app.models import AuditLog, MagicLinkToken, Notification, User
from app.models.base import utcnow
from app.services import magic_link
from tests.factories import make_user

SENT = {"ok": True, "message": "Magic link sent to your email"}


def emailed_token(email: str) -> str:
    """The token from the link in the newest outbox e-mail to ``email``."""
    message = Notification.objects(template="magic_link", recipient=email).order_by("-created_at").first()
    link = message.payload["link"]
    assert link.startswith("https://cargwin.example/auth/verify?token=")
    return parse_qs(urlparse(link).query)["token"][0]


def test_a_request_always_gets_the_same_answer(client):
    make_user(email="known@example.com")
    make_user(email="gone@example.com", is_active=False)
    for email in ("known@example.com", "unknown@example.com", "gone@example.com"):
        response = client.post("/api/auth/magic", json={"email": email})
        assert response.status_code == 200
        assert response.get_json() == SENT
    # Nothing is created for the unknown address yet, and the deactivated account gets no e-mail.
    assert User.objects(email="unknown@example.com").count() == 0
    assert Notification.objects(recipient="gone@example.com").count() == 0
    assert Notification.objects(template="magic_link").count() == 2


def test_the_token_is_long_stored_hashed_and_e_mailed_through_the_outbox(client):
    client.post("/api/auth/magic", json={"email": "Known@Example.com"})
    token = emailed_token("known@example.com")
    assert len(token) >= 43
    row = MagicLinkToken.objects.get()
    assert row.token_hash == magic_link.token_hash(token) and token not in row.to_json()
    assert timedelta(minutes=14) < row.expires_at - row.created_at <= timedelta(minutes=15)
    entry = AuditLog.objects(action="magic_link_requested").get()
    assert token not in entry.to_json() and entry.resource_id


def test_invalid_email_is_422(client):
    response = client.post("/api/auth/magic", json={"email": "nope"})
    assert response.status_code == 422
    assert response.get_json() == {"detail": "email must be a valid e-mail address"}


def test_debug_output_only_with_the_setting(app, client, monkeypatch):
    assert "debug_token" not in client.post("/api/auth/magic", json={"email": "a@example.com"}).get_json()
    monkeypatch.setitem(app.config, "MAGIC_LINK_DEBUG", True)
    body = client.post("/api/auth/magic", json={"email": "b@example.com"}).get_json()
    assert body["debug_token"] == emailed_token("b@example.com")
    assert body["debug_url"].endswith(body["debug_token"])


def test_production_never_returns_a_token_and_refuses_the_debug_setting(test_settings):
    production = {
        **test_settings,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "PII_ENCRYPTION_KEYS": new_pii_key_entry("prod1"),
    }
    with pytest.raises(ConfigurationError, match="MAGIC_LINK_DEBUG"):
        create_app({**production, "MAGIC_LINK_DEBUG": "true"})
    prod_app = create_app(production)
    prod_app.config["MAGIC_LINK_DEBUG"] = True  # even if someone flipped it at runtime
    with prod_app.app_context():
        response = prod_app.test_client().post("/api/auth/magic", json={"email": "prod@example.com"})
    body = response.get_json()
    assert body == SENT
    assert "debug" not in response.get_data(as_text=True)


def test_verify_signs_in_and_creates_the_account_only_now(client):
    client.post("/api/auth/magic", json={"email": "fresh@example.com"})
    response = client.post("/api/auth/verify", json={"token": emailed_token("fresh@example.com")})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Logged in successfully"
    assert body["user"]["email"] == "fresh@example.com" and body["user"]["name"] == "fresh"
    assert body["user"]["role"] == "user" and body["access_token"] and body["refresh_token"]
    entry = AuditLog.objects(action="login_success").get()
    assert entry.details["login_method"] == "magic_link"


def test_a_link_works_once(client):
    make_user(email="once@example.com")
    client.post("/api/auth/magic", json={"email": "once@example.com"})
    token = emailed_token("once@example.com")
    assert client.post("/api/auth/verify", json={"token": token}).status_code == 200
    again = client.post("/api/auth/verify", json={"token": token})
    assert again.status_code == 404
    assert again.get_json() == {"detail": "Magic link has already been used"}


def test_simultaneous_uses_of_one_link_let_exactly_one_in(app):
    client = app.test_client()
    client.post("/api/auth/magic", json={"email": "race@example.com"})
    token = emailed_token("race@example.com")

    def use(_: int) -> int:
        with app.app_context():
            return app.test_client().post("/api/auth/verify", json={"token": token}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(use, range(8)))
    assert sorted(statuses) == [200] + [404] * 7
    assert User.objects(email="race@example.com").count() == 1


def test_an_expired_link_and_an_unknown_link(client, app):
    issued = magic_link.request_link("late@example.com", now=utcnow() - timedelta(minutes=16))
    expired = client.post("/api/auth/verify", json={"token": issued.token})
    assert expired.status_code == 404
    assert expired.get_json() == {"detail": "Magic link has expired"}
    unknown = client.post("/api/auth/verify", json={"token": "x" * 43})
    assert unknown.status_code == 404
    assert unknown.get_json() == {"detail": "Invalid or expired magic link"}


def test_a_deactivated_account_cannot_use_a_link(client, app):
    issued = magic_link.request_link("later-gone@example.com")
    make_user(email="later-gone@example.com", is_active=False)
    response = client.post("/api/auth/verify", json={"token": issued.token})
    assert response.status_code == 403
    assert response.get_json() == {"detail": "Account is deactivated"}


def test_verify_without_a_token_is_422(client):
    response = client.post("/api/auth/verify", json={})
    assert response.status_code == 422
    assert response.get_json() == {"detail": "token is required"}
