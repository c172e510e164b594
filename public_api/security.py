"""Bearer authentication for the API (consumer-api §1.3) on Flask-JWT-Extended.

Every JWT error loader is overridden so that each failure is a ``401`` with the contract's sentence and
``WWW-Authenticate: Bearer``: a missing, empty, ``Bearer null`` or ``Bearer undefined`` header is
"Authentication required"; a bad, expired or revoked token, or a refresh token used as an access token,
is "Invalid or expired token". An access token is revoked when its session is (``tokens.session_is_active``).
The account is loaded from the database on every request, so role changes and deactivation apply at once.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request

from app.errors import AuthenticationFailed
from app.errors_http import error_response
from app.extensions import jwt
from app.models import User
from app.models.base import parse_object_id
from app.services import audit, tokens

AUTH_REQUIRED = "Authentication required"
INVALID_TOKEN = "Invalid or expired token"
DEACTIVATED = "Account is deactivated"

# Placeholders some widgets of the site send when no token is stored.
_EMPTY_TOKENS = {"", "null", "undefined", "none"}


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is no usable one."""
    header = request.headers.get("Authorization", "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return None if token.lower() in _EMPTY_TOKENS else token


def authenticate() -> User:
    """The signed-in, active account of this request, or a 401 with the contract's message."""
    cached = g.get("api_user")
    if cached is not None:
        return cached
    if bearer_token() is None:
        raise AuthenticationFailed(AUTH_REQUIRED)
    verify_jwt_in_request()  # errors become 401s through the loaders below
    user: User | None = get_current_user()
    if user is None:
        raise AuthenticationFailed(INVALID_TOKEN)
    if not user.is_active:
        raise AuthenticationFailed(DEACTIVATED)
    g.api_user = user
    audit.set_request_actor(user)
    return user


def _unauthorized(detail: str) -> Response:
    return error_response(401, detail)


@jwt.unauthorized_loader
def _missing_token(_reason: str) -> Response:
    return _unauthorized(AUTH_REQUIRED)


@jwt.invalid_token_loader
def _invalid_token(_reason: str) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.expired_token_loader
def _expired_token(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.revoked_token_loader
def _revoked_token(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.needs_fresh_token_loader
def _needs_fresh_token(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.token_verification_failed_loader
def _verification_failed(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.user_lookup_error_loader
def _unknown_user(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized(INVALID_TOKEN)


@jwt.token_in_blocklist_loader
def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
    """A token is revoked once its session is gone (logout, rotation reuse, revocation, expiry)."""
    return not tokens.session_is_active(payload.get("sid"))


@jwt.user_lookup_loader
def _load_user(_header: dict[str, Any], payload: dict[str, Any]) -> User | None:
    oid = parse_object_id(str(payload.get("sub", "")))
    return User.objects(pk=oid).first() if oid else None
