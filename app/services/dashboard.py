"""Figures for the back-office dashboard, by role (editors: lots; finance managers: applications,
reservations; admins: everything plus notifications).

Every figure is one aggregation on indexed fields over a bounded window; nothing loads documents. Days are
Pacific calendar days, the company's business time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.models import Application, Lot, Notification, Reservation
from app.models.application import APPLICATION_STATUSES
from app.models.base import utcnow
from app.models.lot import LOT_STATUSES

TZ = "America/Los_Angeles"
FINANCE_ROLES = ("finance_manager", "admin")
EDITOR_ROLES = ("editor", "admin")


@dataclass
class Dashboard:
    """What the page shows: key numbers on top and chart series (labels + datasets) below."""

    numbers: list[tuple[str, Any]] = field(default_factory=list)
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _days(now: datetime, days: int) -> list[str]:
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo(TZ)).date()
    return [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def _day_expr(field_name: str) -> dict[str, Any]:
    return {"$dateToString": {"format": "%Y-%m-%d", "date": f"${field_name}", "timezone": TZ}}


def _per_day(
    collection: Any, date_field: str, group_field: str, since: datetime
) -> dict[str, dict[str, int]]:
    pipeline = [
        {"$match": {date_field: {"$gte": since}}},
        {"$group": {"_id": {"d": _day_expr(date_field), "k": f"${group_field}"}, "n": {"$sum": 1}}},
    ]
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for row in collection.aggregate(pipeline):
        result[str(row["_id"].get("k"))][row["_id"]["d"]] = row["n"]
    return result


def _count_by(collection: Any, group_field: str, match: dict[str, Any] | None = None) -> dict[str, int]:
    pipeline: list[dict[str, Any]] = []
    if match:
        pipeline.append({"$match": match})
    pipeline.append({"$group": {"_id": f"${group_field}", "n": {"$sum": 1}}})
    return {str(row["_id"]): row["n"] for row in collection.aggregate(pipeline)}


def lot_figures(dashboard: Dashboard) -> None:
    coll = Lot._get_collection()
    by_status = _count_by(coll, "status")
    dashboard.numbers += [
        ("Published lots", by_status.get("published", 0)),
        ("Scheduled", by_status.get("scheduled", 0)),
        ("Drafts", by_status.get("draft", 0)),
    ]
    dashboard.charts["lots_by_status"] = {
        "type": "doughnut",
        "title": "Lots by status",
        "labels": [s for s in LOT_STATUSES if s != "deleted"],
        "datasets": [
            {"label": "Lots", "data": [by_status.get(s, 0) for s in LOT_STATUSES if s != "deleted"]}
        ],
    }
    by_make = sorted(
        _count_by(coll, "make", {"status": {"$in": ["published", "scheduled"]}}).items(),
        key=lambda kv: -kv[1],
    )[:15]
    dashboard.charts["lots_by_make"] = {
        "type": "bar",
        "title": "Live lots by make",
        "labels": [k for k, _ in by_make],
        "datasets": [{"label": "Lots", "data": [v for _, v in by_make]}],
    }


def application_figures(dashboard: Dashboard, now: datetime, days: int) -> None:
    coll = Application._get_collection()
    since = now - timedelta(days=days)
    labels = _days(now, days)
    series = _per_day(coll, "created_at", "status", since)
    dashboard.charts["applications_per_status"] = {
        "type": "bar",
        "stacked": True,
        "title": f"Applications received per day (last {days} days), by current status",
        "labels": labels,
        "datasets": [
            {"label": status, "data": [series.get(status, {}).get(day, 0) for day in labels]}
            for status in APPLICATION_STATUSES
        ],
    }
    by_status = _count_by(coll, "status")
    approved = sum(by_status.get(s, 0) for s in ("approved", "contract_sent", "completed"))
    decided = approved + by_status.get("rejected", 0)
    rate = round(100 * approved / decided, 1) if decided else None
    dashboard.numbers += [
        ("Pending applications", by_status.get("pending", 0)),
        ("Contacted", by_status.get("contacted", 0)),
        ("Approval rate", f"{rate}%" if rate is not None else "—"),
    ]
    # Weekly approval rate over decisions recorded in the status history.
    weeks = 8
    start = now - timedelta(weeks=weeks)
    pipeline = [
        {"$match": {"status_history.at": {"$gte": start}}},
        {"$unwind": "$status_history"},
        {
            "$match": {
                "status_history.at": {"$gte": start},
                "status_history.to_status": {"$in": ["approved", "rejected"]},
            }
        },
        {
            "$group": {
                "_id": {
                    "w": {
                        "$dateToString": {"format": "%G-W%V", "date": "$status_history.at", "timezone": TZ}
                    },
                    "to": "$status_history.to_status",
                },
                "n": {"$sum": 1},
            }
        },
    ]
    weekly: dict[str, dict[str, int]] = defaultdict(dict)
    for row in coll.aggregate(pipeline):
        weekly[row["_id"]["w"]][row["_id"]["to"]] = row["n"]
    week_labels = sorted(weekly)
    dashboard.charts["approval_rate"] = {
        "type": "line",
        "title": "Approval rate per week (% of decisions)",
        "labels": week_labels,
        "datasets": [
            {
                "label": "Approved %",
                "data": [
                    round(100 * weekly[w].get("approved", 0) / max(1, sum(weekly[w].values())), 1)
                    for w in week_labels
                ],
            }
        ],
    }


def reservation_figures(dashboard: Dashboard, now: datetime, days: int) -> None:
    coll = Reservation._get_collection()
    since = now - timedelta(days=days)
    labels = _days(now, days)
    created = _per_day(coll, "created_at", "status", since)
    total_per_day = [sum(created.get(s, {}).get(day, 0) for s in created) for day in labels]
    converted = [created.get("converted", {}).get(day, 0) for day in labels]
    dashboard.charts["reservations"] = {
        "type": "line",
        "title": f"Reservations per day and those converted to applications (last {days} days)",
        "labels": labels,
        "datasets": [
            {"label": "Reservations", "data": total_per_day},
            {"label": "Converted", "data": converted},
        ],
    }
    active = coll.count_documents({"status": "active", "expires_at": {"$gt": now}})
    dashboard.numbers.append(("Active reservations", active))


def notification_figures(dashboard: Dashboard, now: datetime, days: int) -> None:
    coll = Notification._get_collection()
    since = now - timedelta(days=days)
    labels = _days(now, days)
    series = _per_day(coll, "created_at", "status", since)
    shown = ("sent", "failed", "not_sent_no_provider", "suppressed", "queued")
    dashboard.charts["notifications"] = {
        "type": "bar",
        "stacked": True,
        "title": f"Notifications per day by outcome (last {days} days)",
        "labels": labels,
        "datasets": [{"label": s, "data": [series.get(s, {}).get(d, 0) for d in labels]} for s in shown],
    }
    failed = coll.count_documents({"status": "failed", "created_at": {"$gte": now - timedelta(days=1)}})
    dashboard.numbers.append(("Failed messages (24 h)", failed))


def build(role: str, *, now: datetime | None = None, days: int = 30) -> Dashboard:
    """The dashboard for ``role``: only the figures that role may see (§10)."""
    now = now or utcnow()
    dashboard = Dashboard()
    if role in EDITOR_ROLES:
        lot_figures(dashboard)
    if role in FINANCE_ROLES:
        application_figures(dashboard, now, days)
        reservation_figures(dashboard, now, days)
        notification_figures(dashboard, now, days)
    return dashboard
