"""Delivery of outbox messages."""

from __future__ import annotations

from app.services import notifications
from workers.context import with_app_context


@with_app_context
def deliver_notification(notification_id: str) -> str | None:
    """Send one outbox message; returns its final status (kept as the job result for the back office)."""
    sent = notifications.deliver(notification_id)
    return sent.status if sent else None
