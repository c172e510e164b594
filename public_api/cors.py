"""CORS for ``/api`` (consumer-api §1.6), for deployments where the site is on another origin.

Only origins listed in ``CORS_ORIGINS`` get CORS headers: the exact origin is echoed with
``Access-Control-Allow-Credentials: true`` (needed by the two calls the site sends in credentials mode) and
``Vary: Origin``; a wildcard is never sent. ``OPTIONS`` on any ``/api`` path, known or not, answers ``204``
without authentication and outside the rate limits, with the allowed methods and headers unless the
``Origin`` is one that is not listed.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from app.errors_http import is_api_request
from app.extensions import limiter

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
EXPOSE_HEADERS = "Retry-After, ETag, X-Request-ID"
MAX_AGE = "600"


def allowed_origin() -> str | None:
    """The request's ``Origin`` when it is in the configured list, else None."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    listed = current_app.config.get("CORS_ORIGINS") or []
    return origin if origin in listed and origin != "*" else None


def _add_origin_headers(response: Response) -> None:
    response.vary.add("Origin")
    origin = allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def preflight() -> Response | None:
    """Answer a preflight for any ``/api`` path before routing, authentication or rate limits.

    Always ``204``; the grant (methods, headers, max age, and the origin added after the request) goes only
    to a listed origin, or to an ``OPTIONS`` without ``Origin`` (not a browser preflight): an origin that
    is not listed gets no CORS headers at all (consumer-api §1.6).
    """
    if request.method != "OPTIONS" or not is_api_request():
        return None
    response = Response(status=204)
    if request.headers.get("Origin") and allowed_origin() is None:
        return response
    response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response


def add_cors_headers(response: Response) -> Response:
    if is_api_request():
        _add_origin_headers(response)
    return response


def is_preflight() -> bool:
    return request.method == "OPTIONS" and is_api_request()


def init_cors(app: Flask) -> None:
    """Called once per app: preflights first among our hooks, headers on every ``/api`` response."""
    app.before_request(preflight)
    app.after_request(add_cors_headers)


# A preflight is not a request of the API: it must never use up a client's allowance.
limiter.request_filter(is_preflight)
