"""POST /api/auth/oauth/session against a local identity provider (consumer-api §4.4.8)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.embedded import free_port
from app.models import AuditLog, User
from tests.factories import make_user

SESSIONS = {
    "good": {
        "id": "google-sub-123",
        "email": "Pat.Doe@Gmail.com",
        "name": "Pat Doe",
        "picture": "https://img.example/p.png",
    },
    "noemail": {"id": "google-sub-456", "name": "No Mail"},
}


class Provider(BaseHTTPRequestHandler):
    seen_headers: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        session_id = self.headers.get("X-Session-ID", "")
        Provider.seen_headers.append(session_id)
        if session_id == "boom":
            self._reply(500, {"error": "internal"})
        elif session_id == "text":
            self._reply(200, "not json", raw=True)
        elif session_id in SESSIONS:
            self._reply(200, SESSIONS[session_id])
        else:
            self._reply(401, {"error": "invalid session"})

    def _reply(self, status: int, payload: object, raw: bool = False) -> None:
        body = (payload if raw else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/auth/v1/env/oauth/session-data"
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(app, provider_url, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_SESSION_URL", provider_url)
    Provider.seen_headers.clear()
    return provider_url


def test_a_new_person_gets_our_own_account_and_tokens(client, provider):
    response = client.post("/api/auth/oauth/session", json={"session_id": "good"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "OAuth session processed successfully"
    assert body["access_token"] and body["refresh_token"]
    user = User.objects.get(email="pat.doe@gmail.com")
    assert body["user"]["id"] == str(user.pk) != "google-sub-123"
    assert user.oauth_subject == "google-sub-123" and user.name == "Pat Doe"
    assert (
        body["user"]["picture"] == "https://img.example/p.png" and body["user"]["profile_completed"] is False
    )
    assert Provider.seen_headers == ["good"]
    assert "Set-Cookie" not in response.headers
    assert AuditLog.objects(action="login_success").get().details["login_method"] == "oauth"


def test_an_existing_account_is_found_by_email_whatever_the_case(client, provider):
    existing = make_user(email="pat.doe@gmail.com", name="Patricia")
    body = client.post("/api/auth/oauth/session", json={"session_id": "good"}).get_json()
    assert body["user"]["id"] == str(existing.pk) and body["user"]["name"] == "Patricia"
    assert User.objects.count() == 1


def test_a_deactivated_account_is_403(client, provider):
    make_user(email="pat.doe@gmail.com", is_active=False)
    response = client.post("/api/auth/oauth/session", json={"session_id": "good"})
    assert response.status_code == 403
    assert response.get_json() == {"detail": "Account is deactivated"}


@pytest.mark.parametrize(
    "body", [{}, {"session_id": ""}, {"session_id": None}, {"session_id": {"$ne": None}}]
)
def test_a_missing_session_id_is_400(client, provider, body):
    response = client.post("/api/auth/oauth/session", json=body)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "session_id is required"}


def test_a_session_the_provider_rejects_is_400(client, provider):
    response = client.post("/api/auth/oauth/session", json={"session_id": "forged"})
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Invalid session ID"}


@pytest.mark.parametrize("session_id", ["boom", "text", "noemail"])
def test_provider_failures_are_502(client, provider, session_id):
    response = client.post("/api/auth/oauth/session", json={"session_id": session_id})
    assert response.status_code == 502
    assert response.get_json() == {"detail": "Authentication provider unavailable"}
    assert User.objects.count() == 0


def test_an_unreachable_or_unconfigured_provider_is_502(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_SESSION_URL", f"http://127.0.0.1:{free_port()}/session")
    assert client.post("/api/auth/oauth/session", json={"session_id": "good"}).status_code == 502
    monkeypatch.setitem(app.config, "OAUTH_SESSION_URL", "")
    assert client.post("/api/auth/oauth/session", json={"session_id": "good"}).status_code == 502


def test_credentialed_cors_for_a_listed_origin(client, provider):
    response = client.post(
        "/api/auth/oauth/session", json={"session_id": "good"}, headers={"Origin": "https://cargwin.example"}
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://cargwin.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
