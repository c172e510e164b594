"""CORS for /api (consumer-api §1.6)."""

from __future__ import annotations

import pytest

LISTED = "https://cargwin.example"


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/reservations", "/api/no/such/path", "/api/cars/x"])
def test_a_preflight_from_a_listed_origin(client, path):
    response = client.options(
        path,
        headers={
            "Origin": LISTED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_from_an_unlisted_origin_gets_no_cors_grant(client):
    response = client.options(
        "/api/auth/me", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert response.status_code == 204
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]


def test_actual_responses_echo_only_listed_origins_and_never_a_wildcard(client):
    listed = client.get("/api/cars", headers={"Origin": "https://www.cargwin.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://www.cargwin.example"
    assert listed.headers["Access-Control-Allow-Credentials"] == "true"
    unlisted = client.get("/api/cars", headers={"Origin": "https://cargwin.example.evil.com"})
    assert "Access-Control-Allow-Origin" not in unlisted.headers
    assert "*" not in unlisted.headers.get("Access-Control-Allow-Origin", "")
    assert "Origin" in unlisted.headers["Vary"]


def test_credentialed_logout_response_is_readable_by_the_listed_origin(client):
    response = client.post("/api/auth/logout", json={}, headers={"Origin": LISTED})
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_error_responses_carry_cors_headers_too(client):
    response = client.get("/api/auth/me", headers={"Origin": LISTED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


def test_preflights_never_use_up_the_rate_limit(client):
    for _ in range(15):
        assert client.options("/api/auth/login", headers={"Origin": LISTED}).status_code == 204
    assert client.post("/api/auth/login", json={"email": "a@example.com", "password": "x"}).status_code == 401


def test_outside_api_there_are_no_cors_headers(client):
    response = client.options("/admin/login", headers={"Origin": LISTED})
    assert "Access-Control-Allow-Origin" not in response.headers
