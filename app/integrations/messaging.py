"""Channel backends for the notification outbox: SendGrid (e-mail), Twilio (SMS), the Telegram Bot API.

A backend sends one rendered message and says what happened: it returns a :class:`SendResult` or raises
:class:`ProviderError`, which tells the outbox whether another attempt can help (``retryable``: timeouts,
connection errors, 429 and 5xx) or not (other 4xx: a bad address, a bad key), and whether the provider
says the recipient opted out (``opted_out``: Twilio's unsubscribed-recipient error, a Telegram user who
blocked the bot), which the outbox turns into a recorded revocation.

When a channel's provider is not configured (development), the console backend logs a one-line summary
(never the body, which may carry personal data) and records ``not_sent_no_provider``: the system never
pretends to have sent (business rules §7.5).

Provider hosts come from settings (``SENDGRID_API_HOST``, ``TWILIO_API_BASE``, ``TELEGRAM_API_BASE``), so
the tests run the real SDKs against a local server that plays the provider.
"""

from __future__ import annotations

import logging
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedMessage:
    """What a backend sends: the subject (e-mail only), the composed body and extra e-mail headers."""

    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    status: str  # "sent" or "not_sent_no_provider"
    provider: str
    provider_message_id: str | None = None


class ProviderError(Exception):
    """A provider refused or could not take the message. ``detail`` is safe to store (no keys, no body)."""

    def __init__(
        self, detail: str, *, retryable: bool, status: int | None = None, opted_out: bool = False
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.opted_out = opted_out


def classify_status(status: int) -> bool:
    """Whether an HTTP status from a provider is worth another attempt (throttling and server errors)."""
    return status == 429 or status == 408 or status >= 500


class Backend(Protocol):
    provider: str

    def send(self, notification: Any, message: RenderedMessage) -> SendResult: ...


class ConsoleBackend:
    """Development backend: logs that a message would have gone out and records it as not sent."""

    provider = "console"

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, notification: Any, message: RenderedMessage) -> SendResult:
        log.info(
            "console %s message %s (%s): %s",
            self.channel,
            notification.pk,
            notification.template,
            message.subject,
        )
        return SendResult(status="not_sent_no_provider", provider=self.provider)


class SendGridBackend:
    """E-mail through the official ``sendgrid`` SDK."""

    provider = "sendgrid"

    def __init__(self, *, api_key: str, host: str, from_email: str, reply_to: str, timeout: float) -> None:
        self.api_key = api_key
        self.host = host.rstrip("/")
        self.from_email = from_email
        self.reply_to = reply_to
        self.timeout = timeout

    def build(self, notification: Any, message: RenderedMessage) -> Any:
        from sendgrid.helpers.mail import Category, CustomArg, Header, Mail, ReplyTo

        mail = Mail(
            from_email=self.from_email,
            to_emails=notification.recipient,
            subject=message.subject,
            plain_text_content=message.body,
        )
        if self.reply_to:
            mail.reply_to = ReplyTo(self.reply_to)
        for name, value in message.headers.items():
            mail.header = Header(name, value)
        mail.custom_arg = CustomArg("notification_id", str(notification.pk))
        mail.category = Category(notification.category)
        return mail

    def send(self, notification: Any, message: RenderedMessage) -> SendResult:
        from python_http_client.exceptions import HTTPError
        from sendgrid import SendGridAPIClient

        client = SendGridAPIClient(api_key=self.api_key, host=self.host)
        client.client.timeout = self.timeout  # the SDK passes it to urllib for every call it builds
        try:
            response = client.send(self.build(notification, message))
        except HTTPError as exc:
            status = int(exc.status_code)
            raise ProviderError(
                f"SendGrid HTTP {status}: {_short(exc.body)}",
                retryable=classify_status(status),
                status=status,
            ) from None
        except TimeoutError as exc:
            raise ProviderError(f"SendGrid timeout: {type(exc).__name__}", retryable=True) from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            raise ProviderError(f"SendGrid unreachable: {_reason(exc)}", retryable=True) from None
        headers = {key.lower(): value for key, value in dict(response.headers or {}).items()}
        return SendResult(
            status="sent", provider=self.provider, provider_message_id=headers.get("x-message-id")
        )


# Twilio error codes meaning "this number told us to stop" (STOP sent to our number) or cannot be texted.
TWILIO_OPTED_OUT_CODES = frozenset({21610})
TWILIO_BAD_RECIPIENT_CODES = frozenset({21211, 21614, 21612, 21408})


class TwilioBackend:
    """SMS through the official ``twilio`` SDK. ``api_base`` replaces ``https://api.twilio.com`` (tests)."""

    provider = "twilio"

    def __init__(
        self, *, account_sid: str, auth_token: str, from_number: str, api_base: str, timeout: float
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.api_base = api_base
        self.timeout = timeout

    def client(self) -> Any:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=self.timeout))
        if self.api_base:
            client.api.base_url = self.api_base.rstrip("/")
        return client

    def send(self, notification: Any, message: RenderedMessage) -> SendResult:
        import requests
        from twilio.base.exceptions import TwilioRestException

        try:
            created = self.client().messages.create(
                to=notification.recipient, from_=self.from_number, body=message.body
            )
        except TwilioRestException as exc:
            status = int(exc.status)
            code = int(exc.code) if exc.code else None
            detail = f"Twilio HTTP {status}" + (f" code {code}" if code else "") + f": {_short(exc.msg)}"
            if code in TWILIO_OPTED_OUT_CODES:
                raise ProviderError(detail, retryable=False, status=status, opted_out=True) from None
            retryable = classify_status(status) and code not in TWILIO_BAD_RECIPIENT_CODES
            raise ProviderError(detail, retryable=retryable, status=status) from None
        except requests.Timeout as exc:
            raise ProviderError(f"Twilio timeout: {type(exc).__name__}", retryable=True) from None
        except requests.RequestException as exc:
            raise ProviderError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from None
        return SendResult(status="sent", provider=self.provider, provider_message_id=created.sid)


class TelegramBackend:
    """Telegram through the Bot API over HTTPS (``sendMessage``)."""

    provider = "telegram"

    def __init__(self, *, token: str, api_base: str, timeout: float) -> None:
        self.token = token
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def send(self, notification: Any, message: RenderedMessage) -> SendResult:
        import requests

        # The token is part of the URL: exceptions are reported by type only, so it never reaches a log.
        url = f"{self.api_base}/bot{self.token}/sendMessage"
        try:
            response = requests.post(
                url,
                json={
                    "chat_id": notification.recipient,
                    "text": message.body,
                    "disable_web_page_preview": False,
                },
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            raise ProviderError(f"Telegram timeout: {type(exc).__name__}", retryable=True) from None
        except requests.RequestException as exc:
            raise ProviderError(f"Telegram unreachable: {type(exc).__name__}", retryable=True) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code == 200 and data.get("ok"):
            result = data.get("result") or {}
            message_id = result.get("message_id")
            return SendResult(
                status="sent",
                provider=self.provider,
                provider_message_id=str(message_id) if message_id else None,
            )
        status = response.status_code
        detail = f"Telegram HTTP {status}: {_short(data.get('description') or '')}"
        if status == 403:
            # "bot was blocked by the user" / "user is deactivated": the chat will never accept our messages.
            raise ProviderError(detail, retryable=False, status=status, opted_out=True)
        raise ProviderError(detail, retryable=classify_status(status), status=status)


def _short(value: Any, limit: int = 300) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return " ".join(str(value or "").split())[:limit]


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__


def backend_for(channel: str, config: Mapping[str, Any] | None = None) -> Backend:
    """The configured backend of a channel: its provider when the keys are set, else the console."""
    if config is None:
        from flask import current_app

        config = current_app.config
    timeout = float(config.get("PROVIDER_TIMEOUT_SECONDS") or 10)
    if channel == "email" and config.get("SENDGRID_API_KEY"):
        return SendGridBackend(
            api_key=config["SENDGRID_API_KEY"],
            host=config.get("SENDGRID_API_HOST") or "https://api.sendgrid.com",
            from_email=config.get("MAIL_FROM") or "Cargwin <deals@cargwin.com>",
            reply_to=config.get("MAIL_REPLY_TO") or "",
            timeout=timeout,
        )
    if (
        channel == "sms"
        and config.get("TWILIO_ACCOUNT_SID")
        and config.get("TWILIO_AUTH_TOKEN")
        and config.get("TWILIO_FROM_NUMBER")
    ):
        return TwilioBackend(
            account_sid=config["TWILIO_ACCOUNT_SID"],
            auth_token=config["TWILIO_AUTH_TOKEN"],
            from_number=config["TWILIO_FROM_NUMBER"],
            api_base=config.get("TWILIO_API_BASE") or "",
            timeout=timeout,
        )
    if channel == "telegram" and config.get("TELEGRAM_BOT_TOKEN"):
        return TelegramBackend(
            token=config["TELEGRAM_BOT_TOKEN"],
            api_base=config.get("TELEGRAM_API_BASE") or "https://api.telegram.org",
            timeout=timeout,
        )
    return ConsoleBackend(channel)
