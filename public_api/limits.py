"""Rate limits of the API (consumer-api §1.8), kept by Flask-Limiter in Redis so every worker shares them.

Limits are per endpoint, so exceeding one never blocks the client's other paths. The client address is
``request.remote_addr``, which ``ProxyFix`` sets from ``X-Forwarded-For`` only for the configured number
of trusted proxies (``TRUSTED_PROXY_COUNT``). A breach is ``429`` with the contract's sentence and a
``Retry-After`` header in seconds.
"""

from __future__ import annotations

import hashlib

from flask import Response, g

from app.extensions import client_address
from app.models.user import normalise_email
from public_api.parsing import json_body
from public_api.routing import RateLimit


def user_or_address() -> str:
    """The signed-in user's id (limits "per user"), or the client address before authentication."""
    user = g.get("api_user")
    return f"user:{user.pk}" if user is not None else client_address()


def login_account() -> str:
    """The account a login attempt names (hashed: no e-mail addresses in Redis keys)."""
    try:
        body = json_body() or {}
    except Exception:  # noqa: BLE001 - a malformed body is answered by the view; it names no account
        body = {}
    email = body.get("email") if isinstance(body.get("email"), str) else ""
    digest = hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()[:32]
    return f"account:{digest}"


def login_failed(response: Response) -> bool:
    return response.status_code == 401


AUTH_LIMIT = RateLimit("10/minute", description="10 per minute per client address")
FAILED_LOGINS = RateLimit(
    "5 per 15 minutes",
    key_func=login_account,
    deduct_when=login_failed,
    description="5 failed logins per account per 15 minutes",
)
FORM_LIMITS = (
    RateLimit("5/minute", description="5 per minute per client address"),
    RateLimit("30/day", description="30 per day per client address"),
)
PER_USER_LIMIT = RateLimit("10/minute", key_func=user_or_address, description="10 per minute per user")
