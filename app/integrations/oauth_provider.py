"""The identity provider behind the site's Google sign-in (consumer-api §4.4.8).

The site receives a ``session_id`` from the provider; we exchange it at the configured session-data endpoint
(``OAUTH_SESSION_URL``), sending the id in the ``X-Session-ID`` header with a 10-second timeout, and read
``id``, ``email``, ``name`` and ``picture`` from the JSON reply. A reply the provider gives for a bad id
(4xx) is :class:`InvalidSession`; anything else that goes wrong (no URL configured, network error, timeout,
5xx, a reply that is not the expected JSON) is :class:`ProviderUnavailable`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from flask import current_app

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class InvalidSession(Exception):
    """The provider rejected the session id."""


class ProviderUnavailable(Exception):
    """The provider could not be asked, or answered something unusable."""


@dataclass(frozen=True)
class OAuthIdentity:
    subject: str
    email: str
    name: str
    picture: str


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def fetch_identity(session_id: str) -> OAuthIdentity:
    """Exchange a provider session id for the signed-in person's identity."""
    url = current_app.config.get("OAUTH_SESSION_URL") or ""
    if not url:
        raise ProviderUnavailable("OAUTH_SESSION_URL is not configured")
    try:
        response = requests.get(url, headers={"X-Session-ID": session_id}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        log.warning("identity provider unreachable: %s", type(exc).__name__)
        raise ProviderUnavailable(type(exc).__name__) from None
    if 400 <= response.status_code < 500:
        raise InvalidSession(str(response.status_code))
    if response.status_code != 200:
        log.warning("identity provider answered %s", response.status_code)
        raise ProviderUnavailable(str(response.status_code))
    try:
        data = response.json()
    except ValueError:
        raise ProviderUnavailable("reply is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable("reply is not an object")
    email = _text(data.get("email"), 254)
    subject = data.get("id")
    if not email or subject is None or isinstance(subject, (dict, list)):
        raise ProviderUnavailable("reply lacks id or email")
    return OAuthIdentity(
        subject=str(subject)[:200],
        email=email,
        name=_text(data.get("name"), 100),
        picture=_text(data.get("picture"), 500),
    )
