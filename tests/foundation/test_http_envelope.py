"""Every error under /api is JSON {"detail": "<string>"}; liveness and readiness."""

from __future__ import annotations

import json
import logging

import pytest
from flask import abort, request
from werkzeug.exceptions import BadRequest

from app import create_app
from app.embedded import free_port
from app.errors import RuleViolation


@pytest.fixture(scope="module")
def envelope_app(test_settings):
    """A separate app with routes that fail in each way the envelope must cover."""
    from tests.conftest import IsolatedClient

    application = create_app(test_settings)
    application.test_client_class = IsolatedClient

    @application.get("/api/_test/bad-request")
    def bad_request():
        raise BadRequest()

    @application.post("/api/_test/json")
    def parse_json():
        request.get_json()
        return {"ok": True}

    @application.get("/api/_test/rule")
    def rule():
        raise RuleViolation("Reservation is not active")

    @application.get("/api/_test/abort-with-message")
    def aborted():
        abort(404, description="Car not found")

    @application.get("/api/_test/crash")
    def crash():
        raise RuntimeError("secret internal detail /srv/cargwin/app.py")

    return application


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/api/no-such-thing", 404, "Not found"),
        ("DELETE", "/api/", 405, "Method not allowed"),
        ("GET", "/api/_test/bad-request", 400, "Bad request"),
        ("GET", "/api/_test/rule", 400, "Reservation is not active"),
        ("GET", "/api/_test/abort-with-message", 404, "Car not found"),
        ("GET", "/api/_test/crash", 500, "Internal server error"),
    ],
)
def test_api_errors_are_json_with_a_string_detail(envelope_app, method, path, status, detail):
    with envelope_app.app_context():
        response = envelope_app.test_client().open(path, method=method)
    assert response.status_code == status
    assert response.is_json
    assert response.get_json() == {"detail": detail}


def test_malformed_json_is_a_400_with_json_body(envelope_app):
    response = envelope_app.test_client().post(
        "/api/_test/json", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.get_json()["detail"], str)


def test_a_500_leaks_no_internal_detail_and_is_logged(envelope_app, caplog):
    with caplog.at_level(logging.ERROR):
        body = envelope_app.test_client().get("/api/_test/crash").get_data(as_text=True)
    assert "secret internal detail" not in body and "Traceback" not in body
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


def test_non_api_errors_keep_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response.is_json


def test_liveness_does_no_io(client):
    assert client.get("/health").get_json() == {"status": "alive"}


def test_readiness_reports_healthy(client):
    body = client.get("/api/health").get_json()
    assert body["status"] == "healthy"
    assert body["checks"] == {"database": "ok", "redis": "ok"}
    assert body["timestamp"].endswith("Z")


@pytest.mark.parametrize("broken", ["database", "redis"])
def test_readiness_is_503_naming_the_failed_dependency(app, client, test_settings, broken):
    """Point the running app at a port where nothing listens, as when a server goes down."""
    import redis as redis_lib

    from app.db import connect_mongo

    dead = free_port()
    original_redis = app.extensions["redis"]
    try:
        if broken == "database":
            connect_mongo(f"mongodb://127.0.0.1:{dead}/?directConnection=true", test_settings["MONGODB_DB"])
        else:
            app.extensions["redis"] = redis_lib.Redis.from_url(f"redis://127.0.0.1:{dead}/0")
        response = client.get("/api/health")
        body = response.get_json()
        assert response.status_code == 503
        assert body["status"] == "unhealthy" and body["detail"] == "Service unavailable"
        assert body["checks"][broken] == "error"
        assert body["checks"]["redis" if broken == "database" else "database"] == "ok"
    finally:
        app.extensions["redis"] = original_redis
        connect_mongo(test_settings["MONGODB_URI"], test_settings["MONGODB_DB"])


def test_security_headers_and_request_id(client):
    response = client.get("/api/", headers={"X-Request-ID": "abc12345-req"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"] == "abc12345-req"
    assert len(client.get("/api/", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]) == 32


def test_request_log_line_has_the_fields_and_no_query_string(client, caplog):
    with caplog.at_level(logging.INFO, logger="cargwin.access"):
        client.get("/api/?ssn=123-45-6789&token=abc")
    record = next(r for r in caplog.records if r.name == "cargwin.access")
    fields = record.fields
    assert fields["method"] == "GET" and fields["path"] == "/api/" and fields["status"] == 200
    assert fields["request_id"] and isinstance(fields["duration_ms"], float)
    assert "123-45-6789" not in record.getMessage() and "token" not in json.dumps(fields)
