"""Back-office sign-in security (business rules §10, GLBA Safeguards Rule): lockout, TOTP two-factor for
every staff account, recovery codes, an admin reset of someone's second factor, and session lifetimes.

* **Lockout**: :data:`LOCKOUT_THRESHOLD` consecutive failures (wrong password or wrong code) lock the
  account for :data:`LOCKOUT_MINUTES`; a success resets the counter. The sign-in page shows the same
  message for a locked account as for a wrong password.
* **TOTP** (RFC 6238, 30-second steps, 6 digits): the secret is stored encrypted with the PII key ring. A
  code is accepted for the current step and one step either side (clock drift), and never twice: the last
  accepted step is stored and only later steps pass, with an atomic conditional update.
* **Enrolment**: the first sign-in of an account without a second factor shows a QR code rendered on the
  server (segno, inline SVG: no third-party service sees the secret) and asks for a first code. The secret
  lives in that sign-in session only (sealed) until the code confirms it; then it is stored on the account.
* **Recovery codes**: ten single-use codes of 80 random bits, shown once, stored as SHA-256 hashes.
* **Sessions**: :func:`session_problem` applies the idle and absolute limits
  (``STAFF_SESSION_IDLE_MINUTES``, ``STAFF_SESSION_MAX_HOURS``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
from mongoengine import Q

from app.errors import NotFound, PermissionDenied
from app.models import User
from app.models.base import as_utc, parse_object_id, utcnow
from app.pii import DecryptionError, get_cipher
from app.services import audit

LOCKOUT_THRESHOLD = 5
LOCKOUT_MINUTES = 15
RECOVERY_CODE_COUNT = 10
TOTP_STEP_SECONDS = 30
ISSUER = "Cargwin back office"
SECRET_PURPOSE = "mfa_secret"


# --------------------------------------------------------------------------------------------------------
# Lockout


def is_locked(user: User, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return user.locked_until is not None and as_utc(user.locked_until) > now


def register_failure(user: User, *, now: datetime | None = None, stage: str = "password") -> bool:
    """Count a failed attempt; lock the account at the threshold. Returns True when this failure locked it."""
    now = now or utcnow()
    updated = User.objects(pk=user.pk).modify(inc__failed_login_count=1, new=True)
    if updated is None:
        return False
    if (updated.failed_login_count or 0) >= LOCKOUT_THRESHOLD and not is_locked(updated, now):
        User.objects(pk=user.pk).update_one(
            set__locked_until=now + timedelta(minutes=LOCKOUT_MINUTES), set__failed_login_count=0
        )
        audit.record(
            "account_locked",
            "auth",
            user.pk,
            actor=audit.Actor(id=str(user.pk), email=user.email, role=user.role),
            details={"stage": stage, "minutes": LOCKOUT_MINUTES},
        )
        return True
    return False


def register_success(user: User) -> None:
    User.objects(pk=user.pk).update_one(
        set__failed_login_count=0, unset__locked_until=True, set__last_login=utcnow()
    )


def unlock(user_id: Any, *, actor: audit.Actor) -> User:
    """Admin action: lift a lockout before it expires."""
    if actor.role != "admin":
        raise PermissionDenied("Only admins can unlock accounts")
    user = _get(user_id)
    User.objects(pk=user.pk).update_one(set__failed_login_count=0, unset__locked_until=True)
    audit.record("unlocked", "user", user.pk, actor=actor)
    return user.reload()


# --------------------------------------------------------------------------------------------------------
# TOTP


def is_enrolled(user: User) -> bool:
    return bool(user.mfa_enrolled_at and user.mfa_secret_encrypted)


def secret_of(user: User) -> str | None:
    """The account's TOTP secret (enrolled or being enrolled), decrypted; None when it has none."""
    if not user.mfa_secret_encrypted:
        return None
    try:
        return get_cipher().decrypt(user.mfa_secret_encrypted, SECRET_PURPOSE)
    except DecryptionError:
        return None


def new_enrolment_secret() -> str:
    """A fresh TOTP secret for one enrolment attempt.

    It belongs to the sign-in session that asked for it (kept there sealed, see :func:`seal_secret`) and is
    written to the account only when that session confirms it with a code. A secret stored on the account
    before confirmation would be shown to every session at the enrolment step, so someone who knew only the
    password could read it first and hold the second factor the real owner then enrols with.
    """
    return pyotp.random_base32()


def seal_secret(secret: str) -> str:
    """The secret encrypted with the PII key ring, to keep in the (signed, not encrypted) session cookie."""
    return get_cipher().encrypt(secret, SECRET_PURPOSE)


def open_secret(sealed: str | None) -> str | None:
    """The secret :func:`seal_secret` sealed, or None when it is missing or does not decrypt."""
    if not sealed:
        return None
    try:
        return get_cipher().decrypt(sealed, SECRET_PURPOSE)
    except DecryptionError:
        return None


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG markup, rendered locally."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")


def totp_code(secret: str, when: datetime) -> str:
    """The code an authenticator app shows at ``when`` (used by tests and the enrolment check)."""
    return pyotp.TOTP(secret).at(when)


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()


def _accept_totp(user: User, secret: str, code: str, now: datetime) -> bool:
    digits = _normalise_code(code)
    if len(digits) != 6 or not digits.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            # Only a step later than the last accepted one passes: a code cannot be replayed.
            claimed = User.objects(
                Q(pk=user.pk) & (Q(mfa_last_totp_step__lt=step) | Q(mfa_last_totp_step=None))
            ).update_one(set__mfa_last_totp_step=step)
            return bool(claimed)
    return False


def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def _new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits, 16 characters
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def confirm_enrolment(
    user: User, code: str, secret: str | None, *, now: datetime | None = None
) -> list[str] | None:
    """Finish enrolment with the session's ``secret`` and a first valid code: stores the secret and returns
    the recovery codes (shown once), or None (wrong code, no secret, or the account enrolled meanwhile)."""
    now = now or utcnow()
    if not secret or is_enrolled(user):
        return None
    if not _accept_totp(user, secret, code, now):
        return None
    codes = _new_recovery_codes()
    # Conditional: of two sessions enrolling at once, only the first to confirm sets the factor.
    stored = User.objects(pk=user.pk, mfa_enrolled_at=None).update_one(
        set__mfa_secret_encrypted=seal_secret(secret),
        set__mfa_enrolled_at=now,
        set__mfa_recovery_code_hashes=[_hash_code(c) for c in codes],
    )
    user.reload()
    if not stored:
        return None
    audit.record("mfa_enrolled", "auth", user.pk, actor=audit.actor_for(user))
    return codes


def verify_second_factor(user: User, code: str, *, now: datetime | None = None) -> str | None:
    """``"totp"`` or ``"recovery_code"`` when ``code`` is accepted (a recovery code is used up), else None."""
    now = now or utcnow()
    secret = secret_of(user)
    if secret is None or not is_enrolled(user):
        return None
    if _accept_totp(user, secret, code, now):
        return "totp"
    normalised = _normalise_code(code)
    if len(normalised) == 16:
        hashed = _hash_code(normalised)
        if User.objects(pk=user.pk, mfa_recovery_code_hashes=hashed).update_one(
            pull__mfa_recovery_code_hashes=hashed
        ):
            audit.record("mfa_recovery_code_used", "auth", user.pk, actor=audit.actor_for(user))
            return "recovery_code"
    return None


def remaining_recovery_codes(user: User) -> int:
    return len(user.mfa_recovery_code_hashes or [])


def regenerate_recovery_codes(user: User, *, actor: audit.Actor) -> list[str]:
    """New codes for one's own account; the old ones stop working."""
    if actor.id != str(user.pk):
        raise PermissionDenied("Recovery codes can only be renewed by their owner")
    codes = _new_recovery_codes()
    User.objects(pk=user.pk).update_one(set__mfa_recovery_code_hashes=[_hash_code(c) for c in codes])
    audit.record("mfa_recovery_codes_renewed", "auth", user.pk, actor=actor)
    return codes


def _get(user_id: Any) -> User:
    oid = parse_object_id(str(user_id))
    user = User.objects(pk=oid).first() if oid else None
    if user is None:
        raise NotFound("User not found")
    return user


def reset_mfa(user_id: Any, *, actor: audit.Actor) -> User:
    """Admin action: remove someone's second factor. Their sessions end; they enrol again at next sign-in."""
    if actor.role != "admin":
        raise PermissionDenied("Only admins can reset two-factor authentication")
    user = _get(user_id)
    if actor.id == str(user.pk):
        raise PermissionDenied("Ask another admin to reset your own second factor")
    User.objects(pk=user.pk).update_one(
        unset__mfa_secret_encrypted=True,
        unset__mfa_enrolled_at=True,
        set__mfa_recovery_code_hashes=[],
        unset__mfa_last_totp_step=True,
        inc__session_generation=1,
        set__updated_at=utcnow(),
    )
    audit.record("mfa_reset", "user", user.pk, actor=actor)
    return user.reload()


# --------------------------------------------------------------------------------------------------------
# Sessions


def session_problem(
    signed_in_at: str | None, last_seen: str | None, now: datetime, *, idle_minutes: int, max_hours: int
) -> str | None:
    """Why a back-office session must end (``"idle"``, ``"expired"``, ``"invalid"``), or None."""
    try:
        started = datetime.fromisoformat(signed_in_at) if signed_in_at else None
        seen = datetime.fromisoformat(last_seen) if last_seen else started
    except ValueError:
        return "invalid"
    if started is None or seen is None:
        return "invalid"
    if now - as_utc(started) > timedelta(hours=max_hours):
        return "expired"
    if now - as_utc(seen) > timedelta(minutes=idle_minutes):
        return "idle"
    return None
