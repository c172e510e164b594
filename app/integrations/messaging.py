"""Channel backends for the notification outbox.

A backend sends one rendered message and says what happened. When a channel's provider is not configured
(development), the console backend logs a one-line summary (never the body, which may carry personal data)
and records ``not_sent_no_provider``: the system never pretends to have sent (business rules §7.5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    status: str  # "sent", "not_sent_no_provider", "suppressed"
    provider: str
    provider_message_id: str | None = None


class Backend(Protocol):
    def send(self, notification: Any, message: Any) -> SendResult: ...


class ConsoleBackend:
    """Development backend: records the message as not sent."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, notification: Any, message: Any) -> SendResult:
        log.info(
            "console %s message %s (%s): %s",
            self.channel,
            notification.pk,
            notification.template,
            message.subject,
        )
        return SendResult(status="not_sent_no_provider", provider="console")


def backend_for(channel: str) -> Backend:
    """The configured backend of a channel (providers are added by the notifications work)."""
    return ConsoleBackend(channel)
