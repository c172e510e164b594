"""Credential checks shared by the API sign-in and the back-office sign-in."""

from __future__ import annotations

from app.models import User
from app.models.user import normalise_email
from app.services.passwords import burn_verification_time, hash_password, needs_rehash, verify_password


def check_password_login(email: str, password: str) -> User | None:
    """The account whose password matches, or None. Unknown e-mails cost as much time as wrong passwords,
    so response timing does not reveal which accounts exist. Activation is the caller's concern: the rules
    say "deactivated" only after the password was verified."""
    user = User.objects(email=normalise_email(email)).first()
    if user is None or not user.password_hash:
        burn_verification_time(password)
        return None
    if not verify_password(password, user.password_hash):
        return None
    if needs_rehash(user.password_hash):
        # Imported (or weaker) hashes are replaced while the plain password is at hand; the conditional
        # update leaves a hash someone changed meanwhile alone.
        fresh = hash_password(password)
        User.objects(pk=user.pk, password_hash=user.password_hash).update_one(set__password_hash=fresh)
        user.password_hash = fresh
    return user


def load_session_user(session_id: str) -> User | None:
    """Resolve a back-office session id (``<user id>:<session generation>``) to an active user.

    A bumped generation (deactivation, role change, password or MFA reset) invalidates old sessions.
    """
    user_id, _, generation = (session_id or "").partition(":")
    if not user_id or not generation.isdigit():
        return None
    from app.models.base import parse_object_id

    oid = parse_object_id(user_id)
    if oid is None:
        return None
    user = User.objects(pk=oid).first()
    if user is None or not user.is_active or (user.session_generation or 0) != int(generation):
        return None
    return user
