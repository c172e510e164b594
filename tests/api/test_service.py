"""Service endpoints, the error envelope under /api, the OpenAPI document and the docs page."""

from __future__ import annotations

import pytest

from tests.api.helpers import pii_violations


@pytest.mark.parametrize("path", ["/api", "/api/"])
def test_hello_on_both_paths(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Hello World"}


def test_health_reports_each_dependency(client):
    body = client.get("/api/health").get_json()
    assert body["status"] == "healthy"
    assert body["checks"] == {"database": "ok", "redis": "ok"}
    assert body["version"] == "1.0.0"


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/api/no/such/path", 404, "Not found"),
        ("PATCH", "/api/cars", 405, "Method not allowed"),
        ("DELETE", "/api/auth/login", 405, "Method not allowed"),
    ],
)
def test_router_errors_are_json_with_a_string_detail(client, method, path, status, detail):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.get_json() == {"detail": detail}


@pytest.mark.parametrize("body", ["{not json", '{"email": "a@b.c",}', "[1, 2", '{"x": NaN}'])
def test_malformed_json_is_400_with_the_contract_message(client, body):
    response = client.post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Malformed JSON body"}


def test_a_body_that_is_not_an_object_is_422(client):
    response = client.post("/api/auth/login", json=["a@b.c", "pw"])
    assert response.status_code == 422
    assert response.get_json() == {"detail": "Request body must be a JSON object"}


def test_every_api_response_carries_security_headers_and_no_store(client):
    response = client.get("/api/auth/me")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_openapi_document_is_generated_from_the_routes_and_models(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    expected = {
        ("get", "/api/cars"),
        ("get", "/api/cars/{slug_or_id}"),
        ("post", "/api/auth/register"),
        ("post", "/api/auth/refresh"),
        ("put", "/api/user/profile"),
        ("post", "/api/applications"),
        ("get", "/api/admin/pickup-slots"),
        ("post", "/api/applications/{application_id}/schedule-pickup"),
        ("delete", "/api/subscriptions/{subscription_id}"),
        ("post", "/api/callback-request"),
        ("post", "/api/calc"),
    }
    assert expected <= {(method, path) for path, ops in paths.items() for method in ops}
    # The request schema is the validating model: the profile's credit score range comes from it.
    profile_schema = doc["components"]["schemas"]["ProfileUpdate"]
    credit = next(
        s for s in profile_schema["properties"]["credit_score"]["anyOf"] if s.get("type") == "integer"
    )
    assert (credit["minimum"], credit["maximum"]) == (300, 850)
    # "query lot_id with a null body" is documented as a query parameter, and the JSON form as a body.
    create = paths["/api/applications"]["post"]
    assert any(p["name"] == "lot_id" and p["in"] == "query" for p in create["parameters"])
    assert "requestBody" in create and create["security"] == [{"bearerAuth": []}]
    assert create["responses"]["400"]["description"].startswith("Please complete your profile")
    assert (
        paths["/api/cars"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["type"]
        == "array"
    )


def test_docs_page_is_self_contained_html(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "/api/cars/{slug_or_id}" in html and "Reserve a price for 48 hours" in html
    # Self-contained: no script, and nothing loaded from anywhere (no CDN, no stylesheet link).
    assert "<script" not in html and "src=" not in html and "<link" not in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_personal_data_guard_flags_a_leak():
    from flask import Response

    leaking = Response('{"user": {"ssn": "123-45-6789"}}', mimetype="application/json")
    problems = pii_violations("/api/x", leaking)
    assert any("123-45-6789" in p for p in problems) and any("sensitive keys" in p for p in problems)
    assert pii_violations("/api/x", Response('{"ssn_on_file": true}', mimetype="application/json")) == []
