"""Alert fan-out: new listings and price drops to the subscribers who asked (business rules §7).

One fan-out handles one lot event and runs in a few database round trips whatever the number of
subscriptions, so it stays fast with tens of thousands of them:

1. **Match** with one indexed query: ``match_makes`` / ``match_models`` hold the lower-cased makes and models
   (or the ``*`` sentinel for "any"), so "make in makes or makes empty, and model in models or models empty"
   (§7.1) is ``match_makes $in [make, *]`` and ``match_models $in [model, *]``; ``max_price`` is compared
   with the fleet price (no limit when unset), and the per-subscription switch for the event is honoured.
2. **Told once**: one ``AlertDelivery`` per (customer, lot, event key), inserted in bulk; its unique index
   drops every customer already told, so retries, restarts and parallel workers never repeat an alert, and a
   customer with several matching subscriptions gets one message per channel.
3. **Daily cap**: per customer and Pacific day, ``AlertDailyCount`` lists the events counted; the event is
   added with a conditional ``$addToSet`` (only while the list is shorter than the cap), in bulk, and the
   lists read back say who was counted. Customers already at the cap are recorded as ``capped`` (the alert
   is dropped and logged); naming the event makes a retry count nothing twice.
4. **Outbox**: the messages are bulk-inserted under idempotency keys and their delivery jobs enqueued in a
   few Redis pipelines. Alert texts during quiet hours wait in the outbox until morning.

A fan-out that stops half-way leaves ``pending`` deliveries, which the next run of the same event or the
outbox sweep (:func:`resume_incomplete`) completes; every step is idempotent, so finishing twice sends
nothing twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bson import Decimal128, ObjectId
from flask import current_app
from pymongo.errors import BulkWriteError

from app.models import AlertDailyCount, AlertDelivery, Lot, Subscription, User
from app.models.base import parse_object_id, utcnow
from app.models.customer import MATCH_ANY
from app.services import consent, notifications
from app.services.messages import car_link

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")
NEW_LISTING = "new_listing"
# §7.2 (CHOICE): the same thresholds as the back office's price-change check (app.services.lots); the job
# re-checks them because the price may have moved again between the change and the job.
PRICE_DROP_FLEET = Decimal(500)
PRICE_DROP_MONTHLY = Decimal(10)
RESUME_AFTER = timedelta(minutes=10)
# Ids per $in: large $in lists are quadratic on the embedded development server; chunks keep them linear.
IN_CHUNK = 100
FAN_OUT_LOCK_SECONDS = 600  # longer than the fan-out job's timeout (300 s)


@dataclass
class Plan:
    """How one customer is told about one event: their channels and addresses, and the template context."""

    user_id: ObjectId
    language: str
    subscribed_to: str
    channels: dict[str, str] = field(default_factory=dict)  # channel -> address


def _chunks(items: list[Any], size: int = IN_CHUNK) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return Decimal(value)


def _whole(value: Decimal | None) -> str | None:
    return str(int(value)) if value is not None else None


def _money128(value: Any) -> Decimal128 | None:
    """A money value as stored (``MoneyField``: Decimal128 in cents), for raw conditional updates.

    Raw updates, because MongoEngine's ``update(set__<money field>=...)`` validates the already converted
    Decimal128 and refuses it."""
    return Lot._fields["announced_fleet"].to_mongo(Decimal(str(value))) if value is not None else None


def pacific_day(now: datetime) -> str:
    return now.astimezone(PACIFIC).date().isoformat()


def price_drop_event(lot: Lot) -> tuple[str, dict[str, str | None]] | None:
    """``("price_drop:{fleet}:{monthly}", figures)`` when the lot's price fell past the thresholds against
    the values last announced (§7.2), else ``None``."""
    if lot.announced_fleet is None:
        return None
    fleet = lot.fleet
    monthly = _dec(lot.lease.monthly) if lot.lease and lot.lease.monthly is not None else None
    old_fleet = _dec(lot.announced_fleet)
    old_monthly = _dec(lot.announced_monthly)
    fleet_drop = old_fleet is not None and old_fleet - fleet >= PRICE_DROP_FLEET
    monthly_drop = (
        monthly is not None and old_monthly is not None and old_monthly - monthly >= PRICE_DROP_MONTHLY
    )
    if not (fleet_drop or monthly_drop):
        return None
    key = f"price_drop:{int(fleet)}:{int(monthly or 0)}"
    return key, {
        "fleet": _whole(fleet),
        "monthly": _whole(monthly),
        "old_fleet": _whole(old_fleet),
        "old_monthly": _whole(old_monthly if old_monthly is not None else monthly),
    }


def _public_lot(lot_id: Any, now: datetime) -> Lot | None:
    oid = parse_object_id(str(lot_id))
    return Lot.objects.public(now).filter(pk=oid).first() if oid else None


# -------------------------------------------------------------------------------------------------- matching


_SUB_FIELDS = {
    "user": 1,
    "email": 1,
    "phone": 1,
    "notify_email": 1,
    "notify_sms": 1,
    "notify_telegram": 1,
    "sms_consent_status": 1,
    "language": 1,
    "makes": 1,
    "models": 1,
    "created_at": 1,
}


def subscription_pipeline(
    lot: Lot, event: str, user_ids: list[ObjectId] | None = None
) -> list[dict[str, Any]]:
    """The aggregation that finds the subscriptions a lot event matches (§7.1).

    The first stage is the selective, index-backed part (``is_active`` and ``match_makes $in [make, *]``
    on the ``(is_active, match_makes ...)`` index); the second narrows to the model, the price limit and
    the event's switch. MongoDB merges the two stages and plans them together; the embedded development
    server only uses an index for a first stage of this shape, so the split keeps both fast.
    """
    switch = "notify_on_new_listing" if event == NEW_LISTING else "notify_on_price_drop"
    narrow: dict[str, Any] = {
        "match_models": {"$in": [(lot.model or "").strip().lower(), MATCH_ANY]},
        "$or": [{"max_price": None}, {"max_price": {"$gte": Decimal128(lot.fleet)}}],
        switch: {"$ne": False},
    }
    if user_ids is not None:
        narrow["user"] = {"$in": user_ids}
    return [
        {
            "$match": {
                "is_active": True,
                "match_makes": {"$in": [(lot.make or "").strip().lower(), MATCH_ANY]},
            }
        },
        {"$match": narrow},
        {"$project": _SUB_FIELDS},
    ]


def plan_recipients(lot: Lot, event: str, user_ids: list[ObjectId] | None = None) -> dict[ObjectId, Plan]:
    """Every customer to tell about this event, with their channels (one entry per customer)."""
    collection = Subscription._get_collection()
    by_user: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    for batch in _chunks(user_ids) if user_ids is not None else [None]:
        for sub in collection.aggregate(subscription_pipeline(lot, event, batch)):
            by_user[sub["user"]].append(sub)
    if not by_user:
        return {}
    users: dict[ObjectId, dict[str, Any]] = {}
    for batch in _chunks(list(by_user)):
        for user in User._get_collection().find(
            {"_id": {"$in": batch}, "is_active": True}, {"email": 1, "language": 1, "telegram_chat_id": 1}
        ):
            users[user["_id"]] = user
    plans: dict[ObjectId, Plan] = {}
    for user_id, subs in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        subs.sort(key=lambda s: s.get("created_at") or datetime.min)
        first = subs[0]
        plan = Plan(
            user_id=user_id,
            language=user.get("language")
            if user.get("language") in ("en", "ru")
            else first.get("language") or "en",
            subscribed_to=" ".join(
                part
                for part in (", ".join(first.get("makes") or []), ", ".join(first.get("models") or []))
                if part
            ),
        )
        for sub in subs:
            if sub.get("notify_email", True) and "email" not in plan.channels:
                address = sub.get("email") or user.get("email")
                if address:
                    plan.channels["email"] = address.strip().lower()
            if (
                sub.get("notify_sms")
                and sub.get("sms_consent_status") == "granted"
                and "sms" not in plan.channels
            ):
                phone = consent.normalise_phone(sub.get("phone"))
                if phone:
                    plan.channels["sms"] = phone
            if (
                sub.get("notify_telegram")
                and user.get("telegram_chat_id")
                and "telegram" not in plan.channels
            ):
                plan.channels["telegram"] = user["telegram_chat_id"]
        if plan.channels:
            plans[user_id] = plan
    return plans


# ------------------------------------------------------------------------------------------------- fan-out


def _cap() -> int:
    return max(1, int(current_app.config.get("ALERT_DAILY_CAP", 5)))


def _users_at_cap(user_ids: list[ObjectId], day: str) -> set[ObjectId]:
    """The customers who already had their daily ration of alerts on this Pacific day."""
    full: set[ObjectId] = set()
    counts = AlertDailyCount._get_collection()
    at_cap = f"events.{_cap() - 1}"
    for batch in _chunks(user_ids):
        for hit in counts.find({"user": {"$in": batch}, "day": day, at_cap: {"$exists": True}}, {"user": 1}):
            full.add(hit["user"])
    return full


def _record_deliveries(lot: Lot, event_key: str, plans: dict[ObjectId, Plan], now: datetime) -> None:
    """One delivery per customer for this event; customers already at today's cap are recorded as capped
    (the alert is dropped, and the row is its log entry)."""
    if not plans:
        return
    day = pacific_day(now)
    collection = AlertDelivery._get_collection()
    # Customers already recorded for this event (a repeated fan-out) are left out before inserting: the
    # unique index would refuse them anyway, one error each.
    known = {row["user"] for row in collection.find({"lot": lot.pk, "event_key": event_key}, {"user": 1})}
    plans = {user_id: plan for user_id, plan in plans.items() if user_id not in known}
    if not plans:
        return
    full = _users_at_cap(list(plans), day)
    documents = [
        {
            "_id": ObjectId(),
            "user": user_id,
            "lot": lot.pk,
            "event_key": event_key,
            "day": day,
            "status": "capped" if user_id in full else "pending",
            "channels": sorted(plan.channels),
            "created_at": now,
            "updated_at": now,
        }
        for user_id, plan in plans.items()
    ]
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        # Duplicates are customers already told (or being told) about this event: exactly what we want.
        if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
            raise
    if full:
        log.info(
            "alert daily cap reached for lot %s (%s): %d customer(s) not told: users %s",
            lot.pk,
            event_key,
            len(full),
            ",".join(str(user) for user in full)[:2000],
        )


def _set_status(delivery_ids: list[ObjectId], status: str, now: datetime) -> None:
    collection = AlertDelivery._get_collection()
    for batch in _chunks(delivery_ids):
        collection.update_many({"_id": {"$in": batch}}, {"$set": {"status": status, "updated_at": now}})


def _count_against_cap(token: str, day: str, users: list[ObjectId]) -> set[ObjectId]:
    """Add this event to each customer's list of the day, while the list is shorter than the cap; returns
    the customers it was counted for (including those it already was: a retry counts nothing twice).

    In bulk: customers without a list get one inserted; the others get one conditional ``$addToSet`` per
    chunk; reading the lists back says, per customer, whether the event made it. Concurrent fan-outs of other
    events cannot push anyone past the cap, because the condition and the addition are one atomic update.
    """
    cap = _cap()
    counts = AlertDailyCount._get_collection()
    lists: dict[ObjectId, list[str]] = {}
    for batch in _chunks(users):
        for doc in counts.find({"user": {"$in": batch}, "day": day}, {"user": 1, "events": 1}):
            lists[doc["user"]] = doc.get("events") or []
    counted = {user for user, events in lists.items() if token in events}
    fresh = [user for user in users if user not in lists]
    raced: list[ObjectId] = []
    if fresh:
        documents = [{"user": user, "day": day, "events": [token]} for user in fresh]
        try:
            counts.insert_many(documents, ordered=False)
            counted.update(fresh)
        except BulkWriteError as exc:
            failed = set()
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                failed.add(error["index"])
            raced = [fresh[index] for index in failed]  # another fan-out created the list meanwhile
            counted.update(user for index, user in enumerate(fresh) if index not in failed)
    candidates = [u for u, events in lists.items() if token not in events and len(events) < cap] + raced
    for batch in _chunks(candidates):
        counts.update_many(
            {"user": {"$in": batch}, "day": day, f"events.{cap - 1}": {"$exists": False}},
            {"$addToSet": {"events": token}},
        )
        for doc in counts.find({"user": {"$in": batch}, "day": day, "events": token}, {"user": 1}):
            counted.add(doc["user"])
    return counted


def _apply_daily_cap(lot: Lot, event_key: str, pending: list[dict[str, Any]], now: datetime) -> set[ObjectId]:
    """Count each pending delivery against its customer's Pacific day (§7.3: at most the cap a day);
    returns the ids of the deliveries dropped by the cap. (Customers known to be at the cap were recorded
    as capped already; those capped here reached it meanwhile through another lot's fan-out.)"""
    if not pending:
        return set()
    token = f"{lot.pk}:{event_key}"
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pending:
        by_day[row["day"]].append(row)
    capped: list[dict[str, Any]] = []
    for day, rows in by_day.items():
        counted = _count_against_cap(token, day, [row["user"] for row in rows])
        capped += [row for row in rows if row["user"] not in counted]
    _set_status([row["_id"] for row in capped], "capped", now)
    if capped:
        log.info(
            "alert daily cap (%d) reached for lot %s (%s) during the fan-out: %d customer(s) not told: users %s",
            _cap(),
            lot.pk,
            event_key,
            len(capped),
            ",".join(str(row["user"]) for row in capped)[:2000],
        )
    return {row["_id"] for row in capped}


def _event_context(lot: Lot, event_key: str) -> tuple[str, dict[str, Any]]:
    """(template, lot-level payload) of an event; price figures come from the event key and announced_*."""
    monthly = _dec(lot.lease.monthly) if lot.lease and lot.lease.monthly is not None else None
    context: dict[str, Any] = {
        "make": lot.make,
        "model": lot.model,
        "fleet": _whole(lot.fleet),
        "monthly": _whole(monthly),
        "link": car_link(lot.slug),
    }
    if event_key == NEW_LISTING:
        return "new_listing", context
    _prefix, fleet, new_monthly = event_key.split(":")
    old_fleet = _dec(lot.announced_fleet)
    old_monthly = _dec(lot.announced_monthly)
    context.update(
        fleet=fleet,
        monthly=new_monthly,
        old_fleet=_whole(old_fleet) or fleet,
        old_monthly=_whole(old_monthly) or new_monthly,
    )
    return "price_drop", context


def complete_pending(
    lot: Lot, event_key: str, now: datetime, plans: dict[ObjectId, Plan] | None = None
) -> int:
    """Count, cap and queue every unfinished delivery of this lot event; returns the messages written.

    Call it holding the event's fan-out lock (:func:`_event_lock`)."""
    collection = AlertDelivery._get_collection()
    rows = list(
        collection.find(
            {"lot": lot.pk, "event_key": event_key, "status": "pending"},
            {"user": 1, "day": 1, "status": 1},
        )
    )
    if not rows:
        return 0
    # Counting is idempotent (the event is named in the customer's list), so rows of an interrupted run
    # are simply counted again.
    capped = _apply_daily_cap(lot, event_key, rows, now)
    to_send = [row for row in rows if row["_id"] not in capped]
    if not to_send:
        return 0
    event = NEW_LISTING if event_key == NEW_LISTING else "price_drop"
    if plans is None:
        plans = plan_recipients(lot, event, [row["user"] for row in to_send])
    template, base = _event_context(lot, event_key)
    quiet_until = notifications.sms_quiet_until(now)
    documents: list[dict[str, Any]] = []
    deferred: set[int] = set()
    no_channel: list[ObjectId] = []
    for row in to_send:
        plan = plans.get(row["user"])
        if plan is None:
            no_channel.append(row["_id"])  # unsubscribed meanwhile
            continue
        for channel, address in sorted(plan.channels.items()):
            payload = dict(base, subscribed_to=plan.subscribed_to)
            if channel == "email":
                payload["unsubscribe_url"] = consent.unsubscribe_link(plan.user_id, address, plan.language)
            document = {
                "idempotency_key": f"alert:{lot.pk}:{event_key}:{channel}:{plan.user_id}",
                "channel": channel,
                "category": "alert",
                "recipient": address,
                "template": template,
                "language": plan.language,
                "payload": payload,
                "user": plan.user_id,
                "lot": lot.pk,
                "event_key": event_key,
            }
            if channel == "sms" and quiet_until is not None:
                # §7.4 quiet hours: the text waits in the outbox; the sweep sends it in the morning.
                document["next_attempt_at"] = quiet_until
                deferred.add(len(documents))
            documents.append(document)
    inserted = set(notifications.insert_messages(documents))
    notifications.enqueue_deliveries(
        [
            doc["_id"]
            for index, doc in enumerate(documents)
            if index not in deferred and doc["_id"] in inserted
        ]
    )
    _set_status(no_channel, "no_channel", now)
    collection.update_many(
        {"lot": lot.pk, "event_key": event_key, "status": "pending"},
        {"$set": {"status": "queued", "updated_at": now}},
    )
    return len(inserted)


@contextmanager
def _event_lock(lot_id: Any, event_key: str) -> Iterator[bool]:
    """One fan-out per lot event at a time (a duplicate job waits for nothing: it just does nothing).

    The lock expires after :data:`FAN_OUT_LOCK_SECONDS`, so a fan-out whose worker died is finished by the
    outbox sweep (:func:`resume_incomplete`)."""
    from app.db import get_redis

    redis = get_redis()
    key = f"cargwin:fan-out:{lot_id}:{event_key}"
    token = str(ObjectId())
    acquired = bool(redis.set(key, token, nx=True, ex=FAN_OUT_LOCK_SECONDS))
    try:
        yield acquired
    finally:
        if acquired:
            redis.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
                1,
                key,
                token,
            )


def fan_out_new_listing(lot_id: Any, now: datetime | None = None) -> int:
    """Tell every matching subscriber about a lot's first publication (§7.2); returns messages written."""
    now = now or utcnow()
    lot = _public_lot(lot_id, now)
    if lot is None:
        log.info("new-listing alert for lot %s skipped: the lot is not public", lot_id)
        return 0
    with _event_lock(lot.pk, NEW_LISTING) as mine:
        if not mine:
            log.info("new-listing alert for lot %s already running elsewhere", lot.pk)
            return 0
        plans = plan_recipients(lot, NEW_LISTING)
        _record_deliveries(lot, NEW_LISTING, plans, now)
        written = complete_pending(lot, NEW_LISTING, now, plans)
    if lot.announced_fleet is None:
        # The baseline of later price drops, when the publication path did not record it.
        monthly = _dec(lot.lease.monthly) if lot.lease and lot.lease.monthly is not None else None
        Lot._get_collection().update_one(
            {"_id": lot.pk, "announced_fleet": None},
            {"$set": {"announced_fleet": _money128(lot.fleet), "announced_monthly": _money128(monthly)}},
        )
    log.info("new-listing alerts for lot %s: %d message(s) to %d customer(s)", lot.pk, written, len(plans))
    return written


def fan_out_price_drop(lot_id: Any, now: datetime | None = None) -> int:
    """Tell matching subscribers that a public lot's price fell (§7.2); returns messages written.

    The announced prices move to the new ones once everyone is queued, so the next drop is measured from
    what customers were last told.
    """
    now = now or utcnow()
    lot = _public_lot(lot_id, now)
    if lot is None:
        return 0
    event = price_drop_event(lot)
    if event is None:
        log.info("price-drop alert for lot %s skipped: no drop past the thresholds any more", lot_id)
        return 0
    event_key, figures = event
    with _event_lock(lot.pk, event_key) as mine:
        if not mine:
            return 0
        plans = plan_recipients(lot, "price_drop")
        _record_deliveries(lot, event_key, plans, now)
        written = complete_pending(lot, event_key, now, plans)
        # Conditional on the announced prices we compared with: a concurrent announcement wins, not ours.
        Lot._get_collection().update_one(
            {
                "_id": lot.pk,
                "announced_fleet": _money128(lot.announced_fleet),
                "announced_monthly": _money128(lot.announced_monthly),
            },
            {
                "$set": {
                    "announced_fleet": _money128(figures["fleet"]),
                    "announced_monthly": _money128(figures["monthly"]),
                }
            },
        )
    log.info("price-drop alerts for lot %s (%s): %d message(s)", lot.pk, event_key, written)
    return written


def resume_incomplete(now: datetime | None = None, limit: int = 5000) -> int:
    """Finish fan-outs that stopped half-way (deliveries still ``pending`` after a while)."""
    now = now or utcnow()
    rows = AlertDelivery._get_collection().find(
        {"status": "pending", "updated_at": {"$lte": now - RESUME_AFTER}},
        {"lot": 1, "event_key": 1},
        limit=limit,
    )
    events = {(row["lot"], row["event_key"]) for row in rows}
    written = 0
    for lot_id, event_key in events:
        lot = Lot.objects(pk=lot_id).first()
        if lot is None:
            continue
        with _event_lock(lot.pk, event_key) as mine:
            if mine:
                written += complete_pending(lot, event_key, now)
    return written
