"""Delivery of outbox messages, and the outbox sweep."""

from __future__ import annotations

from app.services import notifications
from workers.context import with_app_context


@with_app_context
def deliver_notification(notification_id: str) -> str | None:
    """Send one outbox message; returns its final status (kept as the job result for the back office).

    A retryable provider failure raises ``DeliveryRetry``, and RQ retries the job with the back-off declared
    in ``app.tasks.JOBS``.
    """
    sent = notifications.deliver(notification_id)
    return sent.status if sent else None


@with_app_context
def sweep_outbox(scheduled_for: str | None = None) -> int:
    """Periodic: re-enqueue messages stuck in ``queued``/``sending``; returns how many."""
    return notifications.sweep()
