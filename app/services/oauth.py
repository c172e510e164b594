"""Google sign-in through the identity provider's session exchange (consumer-api §4.4.8).

The provider's subject id is stored on the account (``oauth_subject``) and never used as our user id. The
account is found by lower-cased e-mail, or created with role ``user``. Our own tokens are issued by the
caller; no cookie is set.
"""

from __future__ import annotations

from app.errors import Conflict, PermissionDenied, RuleViolation, UpstreamUnavailable, ValidationFailed
from app.integrations import oauth_provider
from app.models import User
from app.models.base import utcnow
from app.services import users

PROVIDER = "google"


def sign_in(session_id: str) -> User:
    """The account for a provider session: 400 for a rejected id, 502 when the provider is unavailable,
    403 for a deactivated account."""
    try:
        identity = oauth_provider.fetch_identity(session_id)
    except oauth_provider.InvalidSession:
        raise RuleViolation("Invalid session ID") from None
    except oauth_provider.ProviderUnavailable:
        raise UpstreamUnavailable("Authentication provider unavailable") from None
    try:
        email = users.clean_email(identity.email)
    except ValidationFailed:
        raise UpstreamUnavailable("Authentication provider unavailable") from None
    user = User.objects(email=email).first()
    if user is None:
        try:
            user = users.create_user(email, role="user", name=identity.name or None)
        except Conflict:
            user = User.objects(email=email).first()
            if user is None:
                raise
        User.objects(pk=user.pk).update_one(
            set__oauth_provider=PROVIDER,
            set__oauth_subject=identity.subject,
            set__picture=identity.picture,
            set__updated_at=utcnow(),
        )
        user.reload()
    if not user.is_active:
        raise PermissionDenied("Account is deactivated")
    updates = {}
    if not user.oauth_subject:
        updates.update(set__oauth_provider=PROVIDER, set__oauth_subject=identity.subject)
    if identity.picture and not user.picture:
        updates["set__picture"] = identity.picture
    if updates:
        User.objects(pk=user.pk).update_one(**updates, set__updated_at=utcnow())
        user.reload()
    return user
