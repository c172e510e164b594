"""Log lines carry no sensitive value and no capability token (business rules §12.1, §12.2): tracebacks are
scrubbed in both formats, the structured fields of the access log too, links that act without signing in
(one-click unsubscribe, lot previews) are cut out of paths, and the database driver never dumps documents.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.logging_setup import JsonFormatter, ScrubFilter, TextFormatter, configure_logging, scrub
from app.services import consent
from tests.factories import make_user

SSN = "123-45-6789"


def record_with_exception(message: str) -> logging.LogRecord:
    try:
        raise ValueError(message)
    except ValueError:
        import sys

        return logging.LogRecord("x", logging.ERROR, __file__, 1, "it failed", None, sys.exc_info())


@pytest.mark.parametrize("formatter", [TextFormatter("%(message)s"), JsonFormatter()], ids=["text", "json"])
def test_a_traceback_quoting_a_sensitive_value_is_scrubbed(formatter):
    record = record_with_exception(f"input_value='{SSN}' is not valid")
    record.stack_info = f"stack with {SSN}"
    output = formatter.format(record)
    assert SSN not in output and "[redacted-ssn]" in output


def test_ssns_written_with_spaces_are_scrubbed_too():
    assert SSN.replace("-", " ") not in scrub(f"ssn {SSN.replace('-', ' ')} saved")


@pytest.mark.parametrize(
    "path", ["/unsubscribe/eyJ1IjoiNjU.abc_DEF-123", "/api/preview/Zm9vYmFyYmF6cXV4LWJsYWgtYmxhaC0xMjM0NTY3"]
)
def test_capability_tokens_are_cut_out_of_logged_paths(path):
    token = path.rsplit("/", 1)[1]
    record = logging.LogRecord("cargwin.access", logging.INFO, __file__, 1, "GET %s 200", (path,), None)
    record.fields = {"path": path, "status": 200}
    ScrubFilter().filter(record)
    assert token not in record.getMessage()
    assert token not in JsonFormatter().format(record)


@pytest.fixture
def log_output(app) -> Iterator[io.StringIO]:
    """What the application's own handler (filter and JSON format) writes, during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_an_unsubscribe_request_logs_no_usable_link(app, client, log_output):
    user = make_user()
    token = consent.unsubscribe_token(user.pk, user.email)
    assert client.get(f"/unsubscribe/{token}").status_code == 200
    lines = [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "cargwin.access"]
    assert access and access[0]["path"] == "/unsubscribe/[token]"
    assert token not in log_output.getvalue()
    assert user.email not in log_output.getvalue()


def test_the_database_driver_never_logs_documents_even_at_debug(app):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("DEBUG", "text")
        assert logging.getLogger("pymongo").getEffectiveLevel() >= logging.INFO
        assert not logging.getLogger("pymongo.command").isEnabledFor(logging.DEBUG)
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
