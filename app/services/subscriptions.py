"""Model alerts: create, list, delete own (business rules §7.1, §7.4, §13.2; consumer-api §4.8).

A subscription names makes and/or models. A duplicate (same makes, models and price limit, compared
case-insensitively) updates the existing one instead of creating another. SMS alerts start only after the
customer confirms by replying YES to one consent request (``sms_consent_status = pending`` until then);
every channel asked for is written to the consent ledger with the request context. Telegram alerts need
the customer's chat, not just the username the site asks for: an account without a linked chat is e-mailed
the one-time bot link (:func:`offer_telegram_link`). Deleting deactivates, so the consent and opt-out
evidence stays.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import has_request_context, request

from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.models import Notification, Subscription, User
from app.models.base import parse_object_id, utcnow
from app.services import audit, consent, messages
from app.services.applications import ref_id
from app.services.catalog import iso, number
from app.services.profile import normalise_phone

log = logging.getLogger(__name__)

MAX_ENTRIES = 10
SOURCE = "api:/api/subscriptions"
# An unused Telegram link e-mail younger than this is not repeated when the customer saves alerts again.
TELEGRAM_LINK_REPEAT_AFTER = timedelta(hours=24)
TELEGRAM_LINK_UNDELIVERED = ("failed", "suppressed", "not_sent_no_provider")


def _clean_list(values: list[str | None] | None, field: str, max_length: int) -> list[str]:
    # Blank and null entries are dropped: what counts is at least one non-empty entry across both lists.
    cleaned = [value.strip() for value in values or [] if isinstance(value, str) and value.strip()]
    if len(cleaned) > MAX_ENTRIES:
        raise ValidationFailed(f"{field} must have at most {MAX_ENTRIES} entries", field=field)
    if any(len(value) > max_length for value in cleaned):
        raise ValidationFailed(f"{field} entries must be at most {max_length} characters", field=field)
    return cleaned


def _key(makes: list[str], models: list[str], max_price: Decimal | None) -> tuple[Any, ...]:
    return (
        tuple(sorted({m.lower() for m in makes})),
        tuple(sorted({m.lower() for m in models})),
        Decimal(max_price) if max_price else None,
    )


def customer_view(subscription: Subscription) -> dict[str, Any]:
    """The subscription object of consumer-api §2.6."""
    return {
        "id": str(subscription.pk),
        "makes": list(subscription.makes or []),
        "models": list(subscription.models or []),
        "max_price": number(subscription.max_price),
        "email": subscription.email,
        "phone": subscription.phone,
        "telegram_id": subscription.telegram_id,
        "notify_email": bool(subscription.notify_email),
        "notify_sms": bool(subscription.notify_sms),
        "notify_telegram": bool(subscription.notify_telegram),
        "notify_on_new_listing": bool(subscription.notify_on_new_listing),
        "notify_on_price_drop": bool(subscription.notify_on_price_drop),
        "sms_consent_status": subscription.sms_consent_status,
        "is_active": bool(subscription.is_active),
        "created_at": iso(subscription.created_at),
    }


def subscribe(
    user: User,
    *,
    makes: list[str | None] | None = None,
    models: list[str | None] | None = None,
    max_price: Decimal | int | None = None,
    email: str | None = None,
    phone: str | None = None,
    telegram_id: str | None = None,
    notify_email: bool = True,
    notify_sms: bool = False,
    notify_telegram: bool = False,
    notify_on_new_listing: bool = True,
    notify_on_price_drop: bool = True,
    language: str = "en",
) -> tuple[Subscription, bool]:
    """Create a subscription, or update the caller's identical active one. Returns it and whether it is new."""
    makes = _clean_list(makes, "makes", 60)
    models = _clean_list(models, "models", 80)
    if not makes and not models:
        raise ValidationFailed("Choose at least one make or model")
    if max_price is not None and Decimal(max_price) < 0:
        raise ValidationFailed("max_price must be a number of dollars, 0 or more", field="max_price")
    limit = Decimal(max_price) if max_price else None
    phone = normalise_phone(phone) if phone and phone.strip() else None
    telegram_id = telegram_id.strip().lstrip("@") if telegram_id and telegram_id.strip() else None
    if notify_sms and not phone:
        raise ValidationFailed("A phone number is required for SMS alerts", field="phone")
    if notify_telegram and not telegram_id:
        raise ValidationFailed("A Telegram username is required for Telegram alerts", field="telegram_id")
    email = (email or "").strip().lower() or user.email

    key = _key(makes, models, limit)
    existing = next(
        (
            sub
            for sub in Subscription.objects(user=user.pk, is_active=True)
            if _key(sub.makes, sub.models, sub.max_price) == key
        ),
        None,
    )
    subscription = existing or Subscription(user=user, makes=makes, models=models, max_price=limit)
    if existing is not None and existing.phone != phone and existing.sms_consent_status == "granted":
        subscription.sms_consent_status = "not_requested"  # consent belongs to the old number
    subscription.email = email
    subscription.phone = phone
    subscription.telegram_id = telegram_id
    subscription.notify_email = notify_email
    subscription.notify_sms = notify_sms
    subscription.notify_telegram = notify_telegram
    subscription.notify_on_new_listing = notify_on_new_listing
    subscription.notify_on_price_drop = notify_on_price_drop
    subscription.language = language if language in ("en", "ru") else "en"
    if notify_sms and subscription.sms_consent_status != "granted":
        subscription.sms_consent_status = "pending"
    elif not notify_sms and subscription.sms_consent_status == "pending":
        subscription.sms_consent_status = "not_requested"
    subscription.save()

    _record_consent_requests(user, subscription)
    audit.record(
        "update" if existing else "create",
        "subscription",
        subscription.pk,
        actor=audit.actor_for(user),
        details={
            "makes": subscription.makes,
            "models": subscription.models,
            "channels": [
                c
                for c, on in (("email", notify_email), ("sms", notify_sms), ("telegram", notify_telegram))
                if on
            ],
        },
    )
    if notify_sms:
        # One YES-request text per subscription and number; a number that already said YES is granted.
        messages.sms_consent_request(subscription)
        subscription.reload()
    if notify_telegram:
        offer_telegram_link(user, telegram_username=telegram_id, language=subscription.language)
    return subscription, existing is None


def offer_telegram_link(
    user: User,
    *,
    telegram_username: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """E-mail the one-time bot link when Telegram alerts are asked for and no chat is linked yet.

    The site's form gives a Telegram username, but a bot cannot write to a username: the customer must
    open ``t.me/<bot>?start=<code>`` and press Start (``consent.link_telegram``). A new code replaces the
    previous one, so while a link e-mail of the last :data:`TELEGRAM_LINK_REPEAT_AFTER` is still unused the
    account is not sent another (its link keeps working); a failed or unsent one is replaced. Returns the
    outbox rows written (none when nothing was sent).
    """
    now = now or utcnow()
    account = (
        User.objects(pk=user.pk)
        .only("id", "email", "language", "telegram_chat_id", "telegram_link_code_hash")
        .first()
    )
    if account is None or account.telegram_chat_id or not account.email:
        return []
    if consent.telegram_link_url("-") is None:
        log.warning("Telegram alerts asked for by %s but TELEGRAM_BOT_USERNAME is not set", user.pk)
        return []
    if account.telegram_link_code_hash:  # a code is out and unused: is its e-mail recent and on its way?
        recent = (
            Notification.objects(user=user.pk, created_at__gte=now - TELEGRAM_LINK_REPEAT_AFTER)
            .filter(template="telegram_link", status__nin=TELEGRAM_LINK_UNDELIVERED)
            .only("id")
            .first()
        )
        if recent is not None:
            return []
    code = consent.telegram_link_code(user.pk)
    return messages.telegram_link(account, code, telegram_username=telegram_username, language=language)


def _record_consent_requests(user: User, subscription: Subscription) -> None:
    """A ``requested`` ledger entry for the e-mail and Telegram channels asked for. SMS is recorded by
    ``messages.sms_consent_request`` together with the disclosure its YES-request text carries."""
    ip = request.remote_addr if has_request_context() else None
    agent = (request.user_agent.string or "") if has_request_context() else None
    for channel, wanted, address in (
        ("email", subscription.notify_email, subscription.email),
        ("telegram", subscription.notify_telegram, subscription.telegram_id),
    ):
        if not wanted or not address:
            continue
        consent.record(
            channel=channel,
            address=address,
            purpose="marketing_alerts",
            action="requested",
            user=user,
            source=SOURCE,
            ip_address=ip,
            user_agent=agent,
        )


def subscribed_message(subscription: Subscription) -> str:
    """``"Subscribed to Lexus, RX350"``: the makes, then the models, joined by ", "."""
    return "Subscribed to " + ", ".join([*subscription.makes, *subscription.models])


def list_active(user: User) -> list[Subscription]:
    return list(Subscription.objects(user=user.pk, is_active=True).order_by("-created_at"))


def unsubscribe(subscription_id: Any, user: User) -> Subscription:
    """Deactivate the caller's subscription (only the owner; it stays stored as evidence)."""
    oid = parse_object_id(subscription_id)
    subscription = Subscription.objects(pk=oid).first() if oid else None
    if subscription is None:
        raise NotFound("Subscription not found")
    if ref_id(subscription, "user") != user.pk:
        raise PermissionDenied("Not authorized")
    updated = Subscription.objects(pk=subscription.pk, is_active=True).modify(
        set__is_active=False, set__unsubscribed_at=utcnow(), set__updated_at=utcnow(), new=True
    )
    if updated is None:
        raise NotFound("Subscription not found")
    audit.record(
        "delete",
        "subscription",
        updated.pk,
        actor=audit.actor_for(user),
        changes={"is_active": {"old": True, "new": False}},
    )
    return updated
