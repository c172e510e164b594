"""API sign-in: password registration and login, JWT sessions, refresh rotation and revocation.

Every sign-in opens a *session* (a random ``sid``) kept in Redis for the refresh-token lifetime; both
tokens carry its ``sid``. An access token is accepted only while its session exists, so logout (or
deactivation, or reuse of a rotated refresh token) revokes the access and refresh tokens at once. Each
session also remembers the one refresh token (by ``jti``) that may be exchanged next: refreshing swaps it
atomically for a new one, and presenting an older one is treated as theft and revokes the whole session.

Identity claim (``sub``) is the user id as a string; the role and ``is_active`` are read from the database
on every request, never from the token (consumer-api §1.3).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token

from app.db import get_redis
from app.errors import AuthenticationFailed, PermissionDenied, RuleViolation
from app.errors import Conflict as DuplicateAccount
from app.models import User
from app.models.base import parse_object_id, utcnow
from app.models.user import normalise_email
from app.services import audit, users
from app.services.auth import check_password_login

log = logging.getLogger(__name__)

_PREFIX = "cargwin:api-auth"
INVALID_REFRESH = "Invalid or expired refresh token"

# Compare-and-swap of the session's current refresh token: 1 rotated, 0 reuse (session deleted), -1 unknown.
_ROTATE_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'refresh')
if not current then return -1 end
if current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'refresh', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def access_lifetime() -> timedelta:
    return timedelta(minutes=int(current_app.config["JWT_ACCESS_TOKEN_MINUTES"]))


def refresh_lifetime() -> timedelta:
    return timedelta(days=int(current_app.config["JWT_REFRESH_TOKEN_DAYS"]))


def _session_key(sid: str) -> str:
    return f"{_PREFIX}:session:{sid}"


def _user_sessions_key(user_id: str) -> str:
    return f"{_PREFIX}:user:{user_id}"


def fingerprint(token: str) -> str:
    """A short, non-reversible label of a token for audit entries (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


def _mint(user_id: str, sid: str) -> tuple[TokenPair, str]:
    refresh_jti = str(uuid.uuid4())
    access = create_access_token(
        identity=user_id, additional_claims={"sid": sid}, expires_delta=access_lifetime(), fresh=False
    )
    refresh = create_refresh_token(
        identity=user_id, additional_claims={"sid": sid, "jti": refresh_jti}, expires_delta=refresh_lifetime()
    )
    pair = TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(access_lifetime().total_seconds()),
        session_id=sid,
    )
    return pair, refresh_jti


def open_session(user: User) -> TokenPair:
    """Start a session for ``user`` and return its first access and refresh tokens."""
    sid = secrets.token_urlsafe(18)
    user_id = str(user.pk)
    pair, refresh_jti = _mint(user_id, sid)
    ttl = int(refresh_lifetime().total_seconds())
    pipe = get_redis().pipeline()
    pipe.hset(_session_key(sid), mapping={"user": user_id, "refresh": refresh_jti})
    pipe.expire(_session_key(sid), ttl)
    pipe.sadd(_user_sessions_key(user_id), sid)
    pipe.expire(_user_sessions_key(user_id), ttl)
    pipe.execute()
    return pair


def session_is_active(sid: str | None) -> bool:
    """Whether a session still exists (not logged out, revoked or expired)."""
    if not sid or not isinstance(sid, str):
        return False
    return bool(get_redis().exists(_session_key(sid)))


def revoke_session(sid: str | None) -> bool:
    """End a session: its access and refresh tokens stop working at once. True when it existed."""
    if not sid or not isinstance(sid, str):
        return False
    return bool(get_redis().delete(_session_key(sid)))


def revoke_user_sessions(user_id: Any) -> int:
    """End every API session of a user (e.g. after a password reset). Returns how many were open."""
    key = _user_sessions_key(str(user_id))
    client = get_redis()
    sids = [sid.decode() if isinstance(sid, bytes) else sid for sid in client.smembers(key)]
    ended = sum(revoke_session(sid) for sid in sids)
    client.delete(key)
    return ended


def decode(token: str, *, allow_expired: bool = False) -> dict[str, Any] | None:
    """The verified claims of one of our tokens, or None when it is not one (bad signature, malformed,
    expired unless ``allow_expired``)."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        return decode_token(token, allow_expired=allow_expired)
    except Exception:  # noqa: BLE001 - PyJWT and Flask-JWT-Extended raise many types; all mean "not valid"
        return None


def rotate(refresh_token: str) -> tuple[User, TokenPair]:
    """Exchange a refresh token for a new access token and a new refresh token.

    The presented token is revoked. A token that was already exchanged revokes its whole session (reuse
    detection). Any failure, including an access token or a deactivated account, is
    ``AuthenticationFailed("Invalid or expired refresh token")``.
    """
    claims = decode(refresh_token)
    if not claims or claims.get("type") != "refresh" or not claims.get("sid") or not claims.get("jti"):
        raise AuthenticationFailed(INVALID_REFRESH)
    sid, user_id = claims["sid"], str(claims.get("sub"))
    oid = parse_object_id(user_id)
    user = User.objects(pk=oid).first() if oid else None
    if user is None or not user.is_active:
        revoke_session(sid)
        raise AuthenticationFailed(INVALID_REFRESH)
    pair, new_jti = _mint(user_id, sid)
    try:
        outcome = get_redis().eval(
            _ROTATE_SCRIPT,
            1,
            _session_key(sid),
            claims["jti"],
            new_jti,
            int(refresh_lifetime().total_seconds()),
        )
    except redis.RedisError:
        log.warning("refresh rotation unavailable: Redis error")
        raise
    if outcome == 0:
        audit.record(
            "session_revoked",
            "auth",
            fingerprint(refresh_token),
            actor=audit.actor_for(user),
            reason="A refresh token was used twice",
        )
        raise AuthenticationFailed(INVALID_REFRESH)
    if outcome != 1:
        raise AuthenticationFailed(INVALID_REFRESH)
    get_redis().expire(_user_sessions_key(user_id), int(refresh_lifetime().total_seconds()))
    return user, pair


# --------------------------------------------------------------------------------------------------------
# Password accounts


def register(email: str, password: str, name: str, *, language: str = "en") -> User:
    """Create a customer account (role ``user``) with a password. Duplicate e-mails are a 400 here, as the
    site expects."""
    try:
        return users.create_user(email, role="user", password=password, name=name, language=language)
    except DuplicateAccount:
        raise RuleViolation("User with this email already exists") from None


def login_with_password(email: str, password: str) -> User:
    """The account whose password matches. Unknown e-mails, wrong passwords and accounts without a
    password all give the same 401, so the form does not reveal which accounts exist or how they sign in;
    "deactivated" is said only after the password was verified."""
    user = check_password_login(email, password)
    if user is None:
        audit.record(
            "login_failed", "auth", details={"email": normalise_email(email)[:254], "surface": "api"}
        )
        raise AuthenticationFailed("Invalid email or password")
    if not user.is_active:
        audit.record(
            "login_failed", "auth", user.pk, actor=audit.actor_for(user), details={"reason": "deactivated"}
        )
        raise PermissionDenied("Account is deactivated")
    record_login(user, "password")
    return user


def record_login(user: User, method: str) -> None:
    """Stamp ``last_login`` and audit ``login_success`` with the sign-in method."""
    now = utcnow()
    User.objects(pk=user.pk).update_one(set__last_login=now)
    user.last_login = now
    audit.set_request_actor(user)
    audit.record(
        "login_success", "auth", user.pk, actor=audit.actor_for(user), details={"login_method": method}
    )
