"""Consent and opt-out (business rules §7.4, §13.2, §13.3).

The ``consent_records`` collection is an append-only ledger: every grant, request and revocation per
channel, address and purpose, with the disclosure version, source, IP and user agent. The latest record
for (channel, address, purpose) is the current state. Subscriptions carry the per-channel switches the
alert matcher filters on; an opt-out changes both at once, and the outbox checks both again at send time,
so an opt-out takes effect immediately, even for messages already queued.

* SMS alerts need prior express written consent: one confirmation text asks for YES (§7.4); a YES reply
  grants, and STOP (or quit, end, revoke, opt out, cancel, unsubscribe, or another clear request) revokes
  every text, marketing and transactional.
* Every alert e-mail carries a signed one-click unsubscribe link (:func:`unsubscribe_link`, RFC 8058).
* Telegram: the customer links the bot with a one-time code (``/start <code>``); ``/stop`` unlinks.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.models import ConsentRecord, Subscription, User
from app.models.base import parse_object_id, utcnow
from app.services import audit

log = logging.getLogger(__name__)

SMS_ALERTS_DISCLOSURE = "sms-alerts-v1"  # the §8.2 consent-request text, as worded in templates/notifications
EMAIL_ALERTS_DISCLOSURE = "email-alerts-v1"
ALL_SMS_PURPOSES = ("marketing_alerts", "transactional")

# §7.4: these words revoke consent, alone or inside a message. Twilio's own keywords are among them.
REVOCATION_WORDS = frozenset(
    {"stop", "stopall", "quit", "end", "revoke", "optout", "cancel", "unsubscribe", "стоп", "отписаться"}
)
# Other clear requests (matched on the normalised text).
REVOCATION_PHRASES = (
    "opt out",
    "opt-out",
    "do not text",
    "dont text",
    "don't text",
    "stop texting",
    "remove me",
    "no more texts",
    "no more messages",
    "leave me alone",
    "отпиш",
    "не пишите",
    "хватит",
)
AFFIRMATION_WORDS = frozenset({"yes", "y", "yes!", "да"})
_WORD = re.compile(r"[\w'-]+", re.UNICODE)


# ------------------------------------------------------------------------------------------------- addresses


def normalise_phone(raw: str | None) -> str | None:
    """A US/international number in E.164 (``+19495550100``), or ``None`` when it cannot be one.

    Ten digits are a US number; eleven starting with 1 too; anything written with ``+`` keeps its digits.
    """
    if not raw:
        return None
    text = str(raw).strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and 8 <= len(digits) <= 15:
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def phone_variants(phone: str) -> list[str]:
    """The ways a stored subscription phone may be written for this E.164 number (for lookups)."""
    variants = {phone}
    if phone.startswith("+1") and len(phone) == 12:
        national = phone[2:]
        variants |= {national, "1" + national, f"({national[:3]}) {national[3:6]}-{national[6:]}"}
        variants |= {f"{national[:3]}-{national[3:6]}-{national[6:]}"}
    return sorted(variants)


def normalise_address(channel: str, address: str) -> str:
    if channel == "email":
        return address.strip().lower()
    if channel in ("sms", "phone"):
        return normalise_phone(address) or address.strip()
    return str(address).strip()


# ---------------------------------------------------------------------------------------------------- ledger


def record(
    *,
    channel: str,
    address: str,
    purpose: str,
    action: str,
    user: Any = None,
    disclosure_version: str | None = None,
    checkbox_state: bool | None = None,
    source: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> ConsentRecord:
    """Append one entry to the consent ledger (§13.2). Never updates an existing entry."""
    entry = ConsentRecord(
        user=user,
        address=normalise_address(channel, address),
        channel=channel,
        purpose=purpose,
        action=action,
        disclosure_version=disclosure_version,
        checkbox_state=checkbox_state,
        source=(source or "")[:200] or None,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:400] or None,
        recorded_at=utcnow(),
    )
    entry.save(force_insert=True)
    return entry


def latest(channel: str, address: str, purpose: str) -> ConsentRecord | None:
    """The newest ledger entry for (channel, address, purpose): the current state of that consent."""
    return (
        ConsentRecord.objects(channel=channel, address=normalise_address(channel, address), purpose=purpose)
        .order_by("-created_at", "-id")
        .first()
    )


def has_consent(channel: str, address: str, purpose: str) -> bool:
    entry = latest(channel, address, purpose)
    return entry is not None and entry.action == "granted"


def is_revoked(channel: str, address: str, purpose: str) -> bool:
    entry = latest(channel, address, purpose)
    return entry is not None and entry.action == "revoked"


# ---------------------------------------------------------------------------------------------- text replies


def _normalise_text(text: str) -> str:
    return " ".join(_WORD.findall((text or "").lower()))


def is_revocation(text: str) -> bool:
    """Whether a reply asks us to stop (§7.4, §13.2): a listed word anywhere, or another clear request."""
    normalised = _normalise_text(text)
    if not normalised:
        return False
    if normalised.replace(" ", "") == "optout" or set(normalised.split()) & REVOCATION_WORDS:
        return True
    return any(phrase in normalised for phrase in REVOCATION_PHRASES)


def is_affirmation(text: str) -> bool:
    return _normalise_text(text) in AFFIRMATION_WORDS or (text or "").strip().lower() in AFFIRMATION_WORDS


def _subscriptions_for_phone(phone: str) -> Iterable[Subscription]:
    return Subscription.objects(phone__in=phone_variants(phone))


def revoke(
    channel: str, address: str, *, source: str, purposes: Iterable[str] | None = None, user: Any = None
) -> int:
    """Revoke consent on a channel for an address, now: ledger entries, and the subscriptions' switches.

    Returns the number of subscriptions changed. SMS revocations cover every purpose: STOP means no texts.
    """
    address = normalise_address(channel, address)
    if purposes is None:
        purposes = ALL_SMS_PURPOSES if channel == "sms" else ("marketing_alerts",)
    for purpose in purposes:
        record(channel=channel, address=address, purpose=purpose, action="revoked", user=user, source=source)
    changed: list[Subscription] = []
    if channel == "sms":
        for sub in _subscriptions_for_phone(address):
            if sub.notify_sms or sub.sms_consent_status != "revoked":
                sub.update(set__notify_sms=False, set__sms_consent_status="revoked", set__updated_at=utcnow())
                changed.append(sub)
    elif channel == "email":
        query = Subscription.objects(is_active=True, notify_email=True)
        owners = [u.pk for u in User.objects(email=address).only("id")]
        for sub in query.filter(email=address):
            changed.append(sub)
        for sub in query.filter(user__in=owners, email__in=[None, "", address]):
            if sub not in changed:
                changed.append(sub)
        for sub in changed:
            sub.update(set__notify_email=False, set__updated_at=utcnow())
    elif channel == "telegram":
        for owner in User.objects(telegram_chat_id=address):
            for sub in Subscription.objects(user=owner, notify_telegram=True):
                sub.update(set__notify_telegram=False, set__updated_at=utcnow())
                changed.append(sub)
            owner.update(unset__telegram_chat_id=True, set__updated_at=utcnow())
    for sub in changed:
        audit.record(
            "consent_revoked",
            "subscription",
            sub.pk,
            actor=audit.SYSTEM,
            details={"channel": channel, "source": source},
        )
    log.info("consent revoked on %s (%s); %d subscription(s) changed", channel, source, len(changed))
    return len(changed)


def grant_sms_by_reply(phone: str, *, source: str) -> int:
    """A YES reply: grant SMS alert consent for the subscriptions waiting on this number (§7.4).

    Only a pending request is confirmed: a YES out of the blue (no request sent) grants nothing.
    Returns the number of subscriptions that now have consent.
    """
    pending = [
        s for s in _subscriptions_for_phone(phone) if s.is_active and s.sms_consent_status == "pending"
    ]
    requested = latest("sms", phone, "marketing_alerts")
    if not pending and (requested is None or requested.action != "requested"):
        return 0
    record(
        channel="sms",
        address=phone,
        purpose="marketing_alerts",
        action="granted",
        user=pending[0].user.pk if pending else (requested.user.pk if requested and requested.user else None),
        disclosure_version=(requested.disclosure_version if requested else None) or SMS_ALERTS_DISCLOSURE,
        checkbox_state=None,
        source=source,
    )
    for sub in pending:
        sub.update(set__sms_consent_status="granted", set__notify_sms=True, set__updated_at=utcnow())
        audit.record(
            "consent_granted",
            "subscription",
            sub.pk,
            actor=audit.SYSTEM,
            details={"channel": "sms", "source": source},
        )
    return len(pending)


def handle_reply(channel: str, address: str, text: str) -> str:
    """Act on an inbound reply: ``"revoked"``, ``"granted"`` or ``"ignored"``."""
    if is_revocation(text):
        revoke(channel, address, source=f"reply: {(text or '').strip()[:60]}")
        return "revoked"
    if channel == "sms" and is_affirmation(text):
        return "granted" if grant_sms_by_reply(address, source="reply: YES") else "ignored"
    return "ignored"


def revoke_by_reply(channel: str, address: str, text: str) -> bool:
    """Revoke when ``text`` is a revocation (STOP and the others of §7.4); returns whether it was one."""
    if not is_revocation(text):
        return False
    revoke(channel, address, source=f"reply: {(text or '').strip()[:60]}")
    return True


def revoke_at_provider(channel: str, recipient: str, detail: str) -> None:
    """The provider says the recipient opted out with it (texted STOP to our number, blocked the bot)."""
    revoke(channel, recipient, source=f"provider: {detail[:150]}")


# ------------------------------------------------------------------------------------- e-mail unsubscribe


@dataclass(frozen=True)
class UnsubscribeTarget:
    user_id: str
    email: str
    language: str


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cargwin-unsubscribe")


def unsubscribe_token(user_id: Any, email: str, language: str = "en") -> str:
    """A signed token naming the account and address. It does not expire: CAN-SPAM wants the opt-out to work
    for at least 30 days after sending, and an old e-mail's link should still work."""
    return _serializer().dumps({"u": str(user_id), "e": normalise_address("email", email), "l": language})


def unsubscribe_link(user_id: Any, email: str, language: str = "en") -> str:
    """The one-click unsubscribe URL for alert e-mails (served by ``app.webhooks``)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(user_id, email, language)}"


def read_unsubscribe_token(token: str) -> UnsubscribeTarget | None:
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not data.get("e"):
        return None
    language = data.get("l") if data.get("l") in ("en", "ru") else "en"
    return UnsubscribeTarget(user_id=str(data.get("u") or ""), email=str(data["e"]), language=language)


def unsubscribe_email(
    target: UnsubscribeTarget, *, source: str, ip_address: str | None = None, user_agent: str | None = None
) -> int:
    """Stop alert e-mails to the token's address, now (§7.4, §13.3); returns subscriptions changed."""
    user_oid = parse_object_id(target.user_id)
    record(
        channel="email",
        address=target.email,
        purpose="marketing_alerts",
        action="revoked",
        user=user_oid,
        source=source,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    changed = []
    subs = Subscription.objects(is_active=True, notify_email=True)
    for sub in subs.filter(email=target.email):
        changed.append(sub)
    if user_oid is not None:
        for sub in subs.filter(user=user_oid, email__in=[None, "", target.email]):
            if sub not in changed:
                changed.append(sub)
    for sub in changed:
        sub.update(set__notify_email=False, set__updated_at=utcnow())
        audit.record(
            "consent_revoked",
            "subscription",
            sub.pk,
            actor=audit.SYSTEM,
            details={"channel": "email", "source": source},
        )
    return len(changed)


# -------------------------------------------------------------------------------------------------- Telegram


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def telegram_link_code(user_id: Any) -> str:
    """A new one-time code for ``t.me/<bot>?start=<code>``; it replaces any earlier code of the account.

    Only its hash is stored. Telegram allows 64 characters of ``[A-Za-z0-9_-]`` in a start parameter.
    """
    code = secrets.token_urlsafe(24)
    updated = User.objects(pk=parse_object_id(str(user_id))).update_one(
        set__telegram_link_code_hash=_code_hash(code), set__updated_at=utcnow()
    )
    if not updated:
        from app.errors import NotFound

        raise NotFound("User not found")
    return code


def telegram_link_url(code: str) -> str | None:
    username = current_app.config.get("TELEGRAM_BOT_USERNAME")
    return f"https://t.me/{username}?start={code}" if username else None


def link_telegram(code: str, chat_id: str) -> User | None:
    """``/start <code>``: link the chat to the account that holds the code (once); ``None`` if unknown."""
    if not code:
        return None
    user = User.objects(telegram_link_code_hash=_code_hash(code)).modify(
        unset__telegram_link_code_hash=True,
        set__telegram_chat_id=str(chat_id),
        set__updated_at=utcnow(),
        new=True,
    )
    if user is None:
        return None
    # A chat belongs to one account: an older link from another account is dropped.
    User.objects(telegram_chat_id=str(chat_id), pk__ne=user.pk).update(unset__telegram_chat_id=True)
    record(
        channel="telegram",
        address=str(chat_id),
        purpose="marketing_alerts",
        action="granted",
        user=user.pk,
        disclosure_version="telegram-link-v1",
        source="telegram /start",
    )
    audit.record("consent_granted", "user", user.pk, actor=audit.SYSTEM, details={"channel": "telegram"})
    return user


def telegram_stop(chat_id: str) -> int:
    """``/stop``: unsubscribe the chat from every alert and unlink it; returns subscriptions changed."""
    return revoke("telegram", str(chat_id), source="telegram /stop")


# --------------------------------------------------------------------------------------- send-time checks


def suppression_reason(notification: Any) -> str | None:
    """Why a queued message must not go out now (opt-outs are honoured at send time, §7.4), or ``None``."""
    from app.services.notifications import template_spec

    if template_spec(notification.template).consent_exempt:
        return None
    channel, address, category = notification.channel, notification.recipient, notification.category
    user_id = notification.user.pk if notification.user is not None else None
    if category == "alert":
        subs = Subscription.objects(user=user_id, is_active=True) if user_id else None
        if channel == "email":
            if is_revoked("email", address, "marketing_alerts"):
                return "the address unsubscribed from alert e-mails"
            if subs is not None and not subs.filter(notify_email=True).first():
                return "no active subscription with e-mail alerts"
        elif channel == "sms":
            if not has_consent("sms", address, "marketing_alerts"):
                return "no SMS consent on record for alerts (never given, or revoked)"
            if subs is not None and not subs.filter(notify_sms=True, sms_consent_status="granted").first():
                return "no active subscription with SMS alerts"
        elif channel == "telegram":
            if is_revoked("telegram", address, "marketing_alerts"):
                return "the chat sent /stop"
            owner = User.objects(pk=user_id).only("telegram_chat_id").first() if user_id else None
            if owner is None or owner.telegram_chat_id != address:
                return "the Telegram chat is no longer linked to the account"
            if subs is not None and not subs.filter(notify_telegram=True).first():
                return "no active subscription with Telegram alerts"
        return None
    if channel == "sms" and not has_consent("sms", address, "transactional"):
        return "no SMS consent on record for account messages"
    if channel == "telegram" and is_revoked("telegram", address, "marketing_alerts"):
        return "the chat sent /stop"
    return None
