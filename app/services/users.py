"""Accounts: creation, roles, activation (business rules §10)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from mongoengine import NotUniqueError

from app.errors import Conflict, NotFound, PermissionDenied, RuleViolation, ValidationFailed
from app.models import User
from app.models.base import utcnow
from app.models.user import ROLES, normalise_email
from app.services import audit
from app.services.passwords import hash_password, validate_password


def clean_email(email: str) -> str:
    """Trimmed, lower-cased and syntactically valid (no DNS lookup), or ``ValidationFailed``."""
    candidate = normalise_email(email or "")
    try:
        validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationFailed("email must be a valid e-mail address", field="email") from None
    return candidate


def get_user(user_id: object) -> User:
    user = User.objects(pk=user_id).first()
    if user is None:
        raise NotFound("User not found")
    return user


def get_by_email(email: str) -> User:
    user = User.objects.by_email(email)
    if user is None:
        raise NotFound(f"No account for {normalise_email(email)}")
    return user


def create_user(
    email: str,
    *,
    role: str = "user",
    password: str | None = None,
    name: str | None = None,
    language: str = "en",
    actor: audit.Actor | None = None,
) -> User:
    """Create an account. The unique index on the normalised e-mail is the final word on duplicates."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")
    email = clean_email(email)
    if password is not None:
        validate_password(password)
    user = User(
        email=email,
        name=(name or "").strip() or email.split("@", 1)[0],
        role=role,
        language=language if language in ("en", "ru") else "en",
        password_hash=hash_password(password) if password else None,
    )
    try:
        user.save(force_insert=True)
    except NotUniqueError:
        raise Conflict("User with this email already exists") from None
    audit.record("user_registered", "user", user.pk, actor=actor, details={"role": role})
    return user


def _require_admin(actor: audit.Actor, what: str) -> None:
    """Managing accounts is for admins (business rules §10), checked here as well as in the back office, so
    that no other caller of these functions can skip it."""
    if actor.role != "admin":
        raise PermissionDenied(f"Only admins can {what}")


def set_role(user: User, role: str, *, actor: audit.Actor) -> User:
    """Change a role. Admins cannot change their own role, and the last active admin stays an admin."""
    _require_admin(actor, "change roles")
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")
    if actor.id == str(user.pk):
        raise PermissionDenied("You cannot change your own role")
    if user.role == role:
        return user
    if user.role == "admin" and User.objects(role="admin", is_active=True, pk__ne=user.pk).count() == 0:
        raise RuleViolation("The last admin cannot be demoted")
    old = user.role
    # A role change ends back-office sessions so that the new permissions apply at once.
    User.objects(pk=user.pk).update_one(set__role=role, inc__session_generation=1, set__updated_at=utcnow())
    user.reload()
    audit.record("role_changed", "user", user.pk, actor=actor, changes={"role": {"old": old, "new": role}})
    return user


def deactivate(user: User, *, actor: audit.Actor) -> User:
    """Deactivate an account: its back-office sessions end and its API tokens stop working at once
    (every API request re-reads ``is_active``)."""
    _require_admin(actor, "deactivate accounts")
    if actor.id == str(user.pk):
        raise PermissionDenied("You cannot deactivate your own account")
    if not user.is_active:
        return user
    if user.role == "admin" and User.objects(role="admin", is_active=True, pk__ne=user.pk).count() == 0:
        raise RuleViolation("The last admin cannot be deactivated")
    now = utcnow()
    User.objects(pk=user.pk).update_one(
        set__is_active=False, set__deactivated_at=now, inc__session_generation=1, set__updated_at=now
    )
    user.reload()
    audit.record("deactivated", "user", user.pk, actor=actor)
    return user


def reactivate(user: User, *, actor: audit.Actor) -> User:
    _require_admin(actor, "reactivate accounts")
    if user.is_active:
        return user
    User.objects(pk=user.pk).update_one(
        set__is_active=True, unset__deactivated_at=True, set__updated_at=utcnow()
    )
    user.reload()
    audit.record("reactivated", "user", user.pk, actor=actor)
    return user


def set_password(user: User, password: str, *, actor: audit.Actor) -> User:
    _require_admin(actor, "reset passwords")
    validate_password(password)
    User.objects(pk=user.pk).update_one(
        set__password_hash=hash_password(password),
        inc__session_generation=1,
        set__failed_login_count=0,
        unset__locked_until=True,
        set__updated_at=utcnow(),
    )
    user.reload()
    audit.record("password_reset", "user", user.pk, actor=actor)
    return user
