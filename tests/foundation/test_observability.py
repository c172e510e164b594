"""Logs in production are JSON lines with no personal data; metrics are private."""

from __future__ import annotations

import json
import logging

from app.logging_setup import JsonFormatter, ScrubFilter, scrub


def test_json_formatter_writes_one_object_per_line_with_the_request_fields():
    record = logging.LogRecord("cargwin.access", logging.INFO, __file__, 1, "GET /api/cars 200", None, None)
    record.fields = {
        "request_id": "r1",
        "method": "GET",
        "path": "/api/cars",
        "status": 200,
        "duration_ms": 3.2,
    }
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "r1" and entry["status"] == 200 and entry["level"] == "INFO"


def test_scrubbing_removes_ssns_and_tokens_from_any_log_message():
    assert "123-45-6789" not in scrub("profile ssn=123-45-6789 saved")
    assert "123456789" not in scrub("ssn 123456789")
    assert "eyJ" not in scrub("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc123")
    assert "secret-token" not in scrub("Authorization: Bearer secret-token")
    # Ids and ordinary numbers survive.
    assert scrub("lot 6b119fb3ba1901cf2ec6e83c price 32500") == "lot 6b119fb3ba1901cf2ec6e83c price 32500"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ssn %s", ("123-45-6789",), None)
    ScrubFilter().filter(record)
    assert record.getMessage() == "ssn [redacted-ssn]"


def test_metrics_count_requests_by_endpoint_and_are_private(client):
    client.get("/api/")
    body = client.get("/metrics").get_data(as_text=True)  # the test client comes from 127.0.0.1
    assert 'cargwin_http_requests_total{endpoint="api.hello",method="GET",status="200"}' in body
    public = client.get("/metrics", environ_overrides={"REMOTE_ADDR": "8.8.8.8"})
    assert public.status_code == 404
