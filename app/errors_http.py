"""One error envelope for the API: every error under ``/api`` is JSON ``{"detail": "<string>"}``.

Registered at application level, because blueprint handlers never see routing 404/405. Outside ``/api``
(the back office, static files) Flask's own pages are kept.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.errors import DomainError

log = logging.getLogger(__name__)

STANDARD_DETAILS = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not authorized",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "File too large (max 10 MB)",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests. Please try again later.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, detail: str, **extra: object) -> Response:
    response = jsonify({"detail": detail, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def register_error_envelope(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Response | tuple[str, int]:
        if is_api_request():
            return error_response(exc.status_code, exc.detail)
        return exc.detail, exc.status_code

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not is_api_request():
            return exc
        status = exc.code or 500
        if status == 413:
            limit_mb = app.config["MAX_UPLOAD_SIZE"] // (1024 * 1024)
            detail = f"File too large (max {limit_mb} MB)"
        elif status == 429:
            detail = STANDARD_DETAILS[429]
        else:
            # Our own aborts carry a sentence meant for the caller; werkzeug's defaults are paragraphs.
            description = exc.description if isinstance(exc.description, str) else None
            default = type(exc).description if hasattr(type(exc), "description") else None
            detail = (
                description
                if description and description != default
                else STANDARD_DETAILS.get(status, exc.name)
            )
        response = error_response(status, detail)
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return error_response(500, STANDARD_DETAILS[500])
        return "Internal server error", 500
