"""Sign-in links by e-mail (consumer-api §4.4.6–4.4.7).

A request always answers the same way, whether or not the address has an account, so nobody can probe
which addresses are customers. The token has 256 random bits, is e-mailed through the notification outbox
and stored only as its SHA-256 (MongoDB, so it survives restarts and is shared by every worker), lives 15
minutes and can be used once: consuming it is one atomic ``findAndModify``. The account is created when
the link is used, never when it is requested, so only proven addresses get accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import current_app

from app.errors import Conflict, NotFound, PermissionDenied
from app.models import MagicLinkToken, User
from app.models.base import as_utc, utcnow
from app.services import audit, messages, users
from app.services.tokens import fingerprint

LIFETIME = timedelta(minutes=15)
# Rows stay a day past expiry so that "expired" can be told apart from "unknown" (TTL index on purge_at).
PURGE_AFTER = timedelta(days=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_for(token: str) -> str:
    """``{FRONTEND_URL}/auth/verify?token=...``: the page the e-mail points at."""
    return f"{current_app.config['FRONTEND_URL'].rstrip('/')}/auth/verify?{urlencode({'token': token})}"


@dataclass(frozen=True)
class MagicLinkRequest:
    """What a request produced. ``token`` and ``link`` are for the debug output of non-production setups
    only; the API never shows them otherwise."""

    token: str | None
    link: str | None


def request_link(email: str, *, language: str = "en", now: datetime | None = None) -> MagicLinkRequest:
    """Issue and e-mail a link for ``email`` (already a valid address). A deactivated account gets nothing,
    but the caller cannot tell the difference."""
    address = users.clean_email(email)
    existing = User.objects(email=address).only("is_active", "language").first()
    if existing is not None and not existing.is_active:
        audit.record("magic_link_requested", "auth", None, details={"sent": False})
        return MagicLinkRequest(token=None, link=None)
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    digest = token_hash(token)
    MagicLinkToken(
        token_hash=digest, email=address, expires_at=now + LIFETIME, purge_at=now + LIFETIME + PURGE_AFTER
    ).save(force_insert=True)
    link = link_for(token)
    messages.magic_link(address, link, existing.language if existing and existing.language else language)
    audit.record("magic_link_requested", "auth", fingerprint(token), details={"sent": True})
    return MagicLinkRequest(token=token, link=link)


def consume(token: str, *, now: datetime | None = None) -> User:
    """Use a link: atomically mark it used and return the (possibly new) account.

    ``NotFound`` with "Invalid or expired magic link", "Magic link has expired" or "Magic link has already
    been used"; ``PermissionDenied("Account is deactivated")``.
    """
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        raise NotFound("Invalid or expired magic link")
    now = now or utcnow()
    digest = token_hash(token)
    claimed = MagicLinkToken.objects(token_hash=digest, used_at=None, expires_at__gt=now).modify(
        set__used_at=now, set__updated_at=now, new=True
    )
    if claimed is None:
        row = MagicLinkToken.objects(token_hash=digest).first()
        if row is None:
            raise NotFound("Invalid or expired magic link")
        if row.used_at is not None:
            raise NotFound("Magic link has already been used")
        if as_utc(row.expires_at) <= now:
            raise NotFound("Magic link has expired")
        raise NotFound("Invalid or expired magic link")
    user = User.objects(email=claimed.email).first()
    if user is None:
        try:
            user = users.create_user(claimed.email, role="user")
        except Conflict:
            # Someone registered this address a moment ago: sign them in to that account.
            user = User.objects(email=claimed.email).first()
            if user is None:
                raise
    if not user.is_active:
        raise PermissionDenied("Account is deactivated")
    return user
