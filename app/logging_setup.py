"""Logging: one line per request (request id, method, path, status, duration), JSON lines in production.

Request bodies, query strings and headers are never logged; a filter also scrubs anything shaped like an SSN
or a bearer token from every message, whoever logged it (business rules §12.2).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_SCRUBBERS = (
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[redacted-ssn]"),
    (re.compile(r"\b\d{3} \d{2} \d{4}\b"), "[redacted-ssn]"),
    # Capability tokens that travel in URL paths (one-click unsubscribe, lot previews): a log line is not a
    # place for a link that acts without signing in.
    (re.compile(r"(/unsubscribe/|/preview/)[A-Za-z0-9._~%-]+"), r"\1[token]"),
    (re.compile(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])"), "[redacted-number]"),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"), "[redacted-jwt]"),
)


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"fields": {...}}`` adds structured keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # Structured fields (the request's path among them) are scrubbed like the message.
            entry.update(
                {key: scrub(value) if isinstance(value, str) else value for key, value in fields.items()}
            )
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        # A traceback's last line is the exception's message, which may quote the value that failed
        # (a pydantic or database error naming an SSN): scrubbed like every message.
        return scrub(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return scrub(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields.get("request_id"):
            base += f" request_id={fields['request_id']}"
        return base


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ScrubFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_cargwin", False):
            root.removeHandler(existing)
    handler._cargwin = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Werkzeug's own access log would duplicate ours (and print query strings).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # At DEBUG the MongoDB driver logs every command with its documents (names, e-mails, addresses, income):
    # customer data has no place in logs, whatever LOG_LEVEL says.
    logging.getLogger("pymongo").setLevel(max(root.level, logging.INFO))


access_log = logging.getLogger("cargwin.access")


def current_request_id() -> str | None:
    return getattr(g, "request_id", None)


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start_request() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = getattr(g, "request_started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        response.headers[REQUEST_ID_HEADER] = getattr(g, "request_id", "")
        fields = {
            "request_id": getattr(g, "request_id", None),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        }
        user_id = getattr(g, "log_user_id", None)
        if user_id:
            fields["user_id"] = user_id
        access_log.info(
            "%s %s %s %sms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={"fields": fields},
        )
        return response
