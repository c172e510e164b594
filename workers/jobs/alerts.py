"""Alert fan-out jobs, enqueued by the back office when a lot is first published or its price drops."""

from __future__ import annotations

from app.services import alerts
from workers.context import with_app_context


@with_app_context
def fan_out_new_listing(lot_id: str) -> int:
    """New-listing alerts for one lot; returns the number of messages written to the outbox."""
    return alerts.fan_out_new_listing(lot_id)


@with_app_context
def fan_out_price_drop(lot_id: str) -> int:
    """Price-drop alerts for one lot; returns the number of messages written to the outbox."""
    return alerts.fan_out_price_drop(lot_id)
