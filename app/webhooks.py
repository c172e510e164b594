"""Inbound endpoints of the messaging channels (business rules §7.4, §13.2, §13.3).

* ``GET /unsubscribe/<token>`` shows a confirmation page; ``POST`` unsubscribes the address from alert
  e-mails at once. Mail clients that honour ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
  (RFC 8058) POST here directly. A GET never unsubscribes: link scanners follow every link in a mail.
* ``POST /webhooks/twilio/sms``: replies to our texts. The ``X-Twilio-Signature`` is verified against the
  public URL and the auth token; YES confirms a pending SMS-alert consent, STOP and the other words of §7.4
  revoke every text. Answers in TwiML.
* ``POST /webhooks/telegram``: the bot's webhook, verified by the ``X-Telegram-Bot-Api-Secret-Token`` header
  (set with ``setWebhook(secret_token=...)``); ``/start <code>`` links the chat, ``/stop`` unsubscribes.
  The reply is returned in the webhook response (a ``sendMessage`` method call), so nothing is sent out of
  band.

Each endpoint answers 404 while its channel is not configured. Register with
``app.register_blueprint(webhooks_blueprint)`` (no URL prefix).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from app.services import consent
from app.services.notifications import render_text

log = logging.getLogger(__name__)

webhooks_blueprint = Blueprint("webhooks", __name__)

PAGE_TEXT = {
    "en": {
        "title": "Unsubscribe from Cargwin alerts",
        "heading": "Unsubscribe from Cargwin alerts",
        "question": "Stop sending car alert e-mails to this address?",
        "button": "Unsubscribe",
        "done": "Done: this address will get no more alert e-mails from Cargwin.",
        "invalid": "This unsubscribe link is not valid. Please use the link from one of our e-mails.",
    },
    "ru": {
        "title": "Отписка от уведомлений Cargwin",
        "heading": "Отписка от уведомлений Cargwin",
        "question": "Больше не присылать письма с уведомлениями об автомобилях на этот адрес?",
        "button": "Отписаться",
        "done": "Готово: на этот адрес больше не будут приходить уведомления Cargwin.",
        "invalid": "Ссылка для отписки недействительна. Воспользуйтесь ссылкой из нашего письма.",
    },
}

# Twilio answers these itself (Advanced Opt-Out) with its own confirmation: we add none.
TWILIO_HANDLED_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)


def _page(state: str, language: str, *, email: str = "", status: int = 200) -> tuple[str, int]:
    html = render_template(
        "notifications/web/unsubscribe.html",
        state=state,
        language=language,
        t=PAGE_TEXT.get(language, PAGE_TEXT["en"]),
        email=email,
        action=request.path,
        company_address=current_app.config.get("COMPANY_POSTAL_ADDRESS", ""),
    )
    return html, status


@webhooks_blueprint.route("/unsubscribe/<token>", methods=("GET", "POST"))
def unsubscribe(token: str) -> Response | tuple[str, int]:
    target = consent.read_unsubscribe_token(token)
    one_click = request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"
    if target is None:
        if one_click:
            return Response("invalid link\n", status=404, mimetype="text/plain")
        return _page("invalid", "en", status=404)
    if request.method == "GET":
        response = _page("confirm", target.language, email=target.email)
        return response
    consent.unsubscribe_email(
        target,
        source="one-click (RFC 8058)" if one_click else "unsubscribe page",
        ip_address=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
    if one_click:
        return Response("unsubscribed\n", status=200, mimetype="text/plain")
    return _page("done", target.language, email=target.email)


def _public_url() -> str:
    """The URL Twilio called, as it signed it: the configured public host (proxies rewrite ours)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def _reply_text(name: str, language: str) -> str:
    text = render_text(name, language, {})
    return text.partition("\n")[2].strip()


def _language_for_phone(phone: str) -> str:
    from app.models import Subscription

    sub = Subscription.objects(phone__in=consent.phone_variants(phone)).only("language").first()
    return sub.language if sub and sub.language in ("en", "ru") else "en"


def twilio_signature_ok(auth_token: str, url: str, form: Any, signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's HMAC of this request (``url`` as Twilio called it, with or without
    the default port, and every form value, repeated keys included).

    The expected signatures are computed with Twilio's SDK and compared with ``hmac.compare_digest`` on
    bytes: constant time whatever the header holds (a non-ASCII header is simply a mismatch).
    """
    from urllib.parse import urlsplit

    from twilio.request_validator import RequestValidator, add_port, remove_port

    if not signature:
        return False
    validator = RequestValidator(auth_token)
    parsed = urlsplit(url)
    given = signature.encode("utf-8", "replace")
    matched = False
    for variant in (remove_port(parsed), add_port(parsed)):
        expected = validator.compute_signature(variant, form).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


@webhooks_blueprint.post("/webhooks/twilio/sms")
def twilio_sms() -> Response:
    from twilio.twiml.messaging_response import MessagingResponse

    auth_token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not auth_token:
        abort(404)
    if not twilio_signature_ok(
        auth_token, _public_url(), request.form, request.headers.get("X-Twilio-Signature")
    ):
        log.warning("rejected an SMS webhook call with a bad Twilio signature")
        abort(403)
    phone = consent.normalise_phone(request.form.get("From"))
    body = request.form.get("Body", "")
    twiml = MessagingResponse()
    if phone:
        outcome = consent.handle_reply("sms", phone, body)
        language = _language_for_phone(phone)
        if outcome == "granted":
            twiml.message(_reply_text("sms_reply_granted", language))
        elif outcome == "revoked" and (body or "").strip().lower() not in TWILIO_HANDLED_WORDS:
            twiml.message(_reply_text("sms_reply_revoked", language))
    return Response(str(twiml), mimetype="application/xml")


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: a malformed update is ignored, never a 500."""
    return value if isinstance(value, dict) else {}


@webhooks_blueprint.post("/webhooks/telegram")
def telegram() -> Response:
    secret = current_app.config.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        abort(404)
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), str(secret).encode()):
        abort(403)
    update = _mapping(request.get_json(silent=True))
    message = _mapping(update.get("message")) or _mapping(update.get("edited_message"))
    chat_id = _mapping(message.get("chat")).get("id")
    text = message.get("text")
    # Telegram sends integer chat ids and string texts; anything else is not an update we act on (and
    # must not become a consent record for an address such as "{'$ne': 1}").
    if (
        isinstance(chat_id, bool)
        or not isinstance(chat_id, int)
        or not isinstance(text, str)
        or not text.strip()
    ):
        return jsonify({})
    text = text.strip()
    language = (
        "ru" if str(_mapping(message.get("from")).get("language_code") or "").startswith("ru") else "en"
    )
    command, _, argument = text.partition(" ")
    command = command.split("@", 1)[0].lower()  # "/stop@CargwinBot" in group chats
    if command == "/start" and argument.strip():
        user = consent.link_telegram(argument.strip(), str(chat_id))
        if user is not None and user.language in ("en", "ru"):
            language = user.language
        reply = _reply_text("telegram_linked" if user else "telegram_link_unknown", language)
    elif command == "/stop" or consent.is_revocation(text):
        consent.telegram_stop(str(chat_id))
        reply = _reply_text("telegram_stopped", language)
    else:
        reply = _reply_text("telegram_help", language)
    return jsonify({"method": "sendMessage", "chat_id": chat_id, "text": reply})
