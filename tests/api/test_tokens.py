"""Token claims, lifetimes, refresh rotation and reuse detection (consumer-api §1.3, §4.4.5)."""

from __future__ import annotations

from app.db import get_redis
from app.models import AuditLog, User
from app.services import tokens
from tests.api.helpers import sign_in
from tests.factories import make_user


def test_claims_are_the_contracts(app, alice):
    access = tokens.decode(alice.access_token)
    refresh = tokens.decode(alice.refresh_token)
    assert access["sub"] == refresh["sub"] == str(alice.user.pk)
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["sid"] == refresh["sid"] and access["jti"] != refresh["jti"]
    assert access["exp"] - access["iat"] == 30 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert "role" not in access  # the role is read from the database, never from the token


def test_the_session_lives_in_redis_for_the_refresh_lifetime(app, alice):
    sid = tokens.decode(alice.access_token)["sid"]
    ttl = get_redis().ttl(f"cargwin:api-auth:session:{sid}")
    assert 7 * 24 * 3600 - 60 < ttl <= 7 * 24 * 3600


def test_refresh_rotates_both_tokens(app, client, alice):
    response = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Token refreshed" and body["user"]["id"] == str(alice.user.pk)
    assert body["access_token"] != alice.access_token and body["refresh_token"] != alice.refresh_token
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code
        == 200
    )
    again = client.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 200


def test_the_refresh_token_may_come_as_a_bearer_header(app, client, alice):
    response = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {alice.refresh_token}"})
    assert response.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(app, client, alice):
    rotated = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token}).get_json()
    reuse = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert reuse.status_code == 401
    assert reuse.get_json() == {"detail": "Invalid or expired refresh token"}
    # Every token of that session is now dead, including the ones the rotation handed out.
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}).status_code
        == 401
    )
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    )
    assert AuditLog.objects(action="session_revoked").count() == 1


def test_an_access_token_is_not_a_refresh_token(app, client, alice):
    response = client.post("/api/auth/refresh", json={"refresh_token": alice.access_token})
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Invalid or expired refresh token"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_refresh_refuses_garbage_revoked_and_deactivated(app, client):
    user = make_user()
    session = sign_in(app, user)
    assert client.post("/api/auth/refresh", json={"refresh_token": "garbage"}).status_code == 401
    User.objects(pk=user.pk).update_one(set__is_active=False)
    response = client.post("/api/auth/refresh", json={"refresh_token": session.refresh_token})
    assert response.status_code == 401 and response.get_json() == {
        "detail": "Invalid or expired refresh token"
    }
    other = sign_in(app, make_user())
    tokens.revoke_session(tokens.decode(other.refresh_token)["sid"])
    assert client.post("/api/auth/refresh", json={"refresh_token": other.refresh_token}).status_code == 401


def test_refresh_without_a_token_is_422(client):
    response = client.post("/api/auth/refresh", json={})
    assert response.status_code == 422
    assert response.get_json() == {"detail": "refresh_token is required"}


def test_revoke_user_sessions_ends_every_session(app):
    user = make_user()
    sessions = [sign_in(app, user) for _ in range(3)]
    assert tokens.revoke_user_sessions(user.pk) == 3
    assert all(session.get("/api/auth/me").status_code == 401 for session in sessions)
