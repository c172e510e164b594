"""Alert fan-out (business rules §7): matching, once per customer per lot per event, the daily cap, price
drops against the announced prices, quiet hours, and efficiency (indexed queries, not loops)."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

from bson import Decimal128, ObjectId
from rq import Queue

from app.db import get_redis
from app.models import AlertDailyCount, AlertDelivery, Lot, Notification, Subscription
from app.models.customer import MATCH_ANY
from app.services import alerts, consent
from app.services.notifications import DELIVER_JOB
from app.tasks import enqueue
from tests.factories import make_lot, make_user
from tests.workers.conftest import pacific, run_worker

DAYTIME = pacific(2026, 3, 10, 11)  # 11:00 Pacific: texts may go out


def money(value):
    return Decimal128(Decimal(value).quantize(Decimal("0.01")))


def set_prices(lot, **fields) -> None:
    """Raw ``$set`` of money fields (MongoEngine's update refuses its own converted Decimal128)."""
    values = {name: money(value) for name, value in fields.items()}
    Lot._get_collection().update_one({"_id": lot.pk}, {"$set": values})


def subscribe(user=None, **fields) -> Subscription:
    sub = Subscription(user=user or make_user(), **fields)
    sub.save()
    return sub


def alerted_users(lot, event_key="new_listing") -> set:
    return {n.user.pk for n in Notification.objects(lot=lot.pk, event_key=event_key, channel="email")}


def test_matching_is_case_insensitive_and_ands_makes_with_models(app):
    lot = make_lot(make="Lexus", model="RX350", msrp=Decimal(56000), discount=Decimal(3000))  # fleet 53,000
    model_page = subscribe(makes=["lexus "], models=["rx350"])  # the site's "this model" subscription
    any_lexus = subscribe(makes=["LEXUS"])
    any_rx = subscribe(models=["RX350"])
    other_model = subscribe(makes=["Lexus"], models=["NX350"])  # the old OR-matching would have alerted it
    other_make = subscribe(makes=["Toyota"], models=["RX350"])
    several = subscribe(makes=["Toyota", "Lexus"], models=["Camry", "RX350"])
    assert any_lexus.match_models == [MATCH_ANY]

    alerts.fan_out_new_listing(lot.pk, now=DAYTIME)
    told = alerted_users(lot)
    assert told == {s.user.pk for s in (model_page, any_lexus, any_rx, several)}
    assert other_model.user.pk not in told and other_make.user.pk not in told


def test_max_price_is_compared_with_the_fleet_price(app):
    lot = make_lot(make="Kia", model="K4", msrp=Decimal(25000), discount=Decimal(1000))  # fleet 24,000
    exact = subscribe(makes=["Kia"], max_price=Decimal(24000))
    above = subscribe(makes=["Kia"], max_price=Decimal(30000))
    below = subscribe(makes=["Kia"], max_price=Decimal(23999))
    zero = subscribe(makes=["Kia"], max_price=Decimal(0))  # 0 means no limit (§7.1)
    none = subscribe(makes=["Kia"])
    alerts.fan_out_new_listing(lot.pk, now=DAYTIME)
    assert alerted_users(lot) == {s.user.pk for s in (exact, above, zero, none)}
    assert below.user.pk not in alerted_users(lot)


def test_inactive_subscriptions_and_switches_are_honoured(app):
    lot = make_lot(make="Mazda", model="CX-5")
    wanted = subscribe(makes=["Mazda"])
    subscribe(makes=["Mazda"], is_active=False)
    subscribe(makes=["Mazda"], notify_on_new_listing=False)
    subscribe(makes=["Mazda"], notify_email=False)  # no channel left
    subscribe(user=make_user(is_active=False), makes=["Mazda"])
    assert alerts.fan_out_new_listing(lot.pk, now=DAYTIME) == 1
    assert alerted_users(lot) == {wanted.user.pk}


def test_one_message_per_customer_and_channel_and_never_twice(app):
    lot = make_lot(make="Honda", model="Civic")
    user = make_user(telegram_chat_id="4242")
    subscribe(user=user, makes=["Honda"])
    subscribe(user=user, makes=["Honda"], models=["Civic"], notify_telegram=True)
    subscribe(user=user, models=["civic"], max_price=Decimal(90000))
    assert alerts.fan_out_new_listing(lot.pk, now=DAYTIME) == 2
    rows = Notification.objects(lot=lot.pk)
    assert sorted((r.channel, r.recipient) for r in rows) == [("email", user.email), ("telegram", "4242")]
    email = rows.filter(channel="email").first()
    assert email.category == "alert" and email.template == "new_listing"
    assert email.payload["link"] == f"https://cargwin.example/car/{lot.slug}"
    assert email.payload["unsubscribe_url"].startswith("https://api.cargwin.example/unsubscribe/")
    assert email.payload["subscribed_to"] == "Honda"  # the oldest matching subscription names it

    # The same event again (a retry, a second worker, a re-publication): nothing new.
    assert alerts.fan_out_new_listing(lot.pk, now=DAYTIME) == 0
    assert Notification.objects(lot=lot.pk).count() == 2
    assert AlertDelivery.objects(lot=lot.pk).count() == 1


def test_duplicate_fan_out_jobs_through_the_worker_send_one_message(app):
    lot = make_lot(make="Subaru", model="Outback")
    subscribe(makes=["Subaru"])
    enqueue("workers.jobs.alerts.fan_out_new_listing", str(lot.pk))
    enqueue("workers.jobs.alerts.fan_out_new_listing", str(lot.pk))
    run_worker("notifications")
    [row] = Notification.objects(lot=lot.pk)
    # Console backend in tests: delivered once, recorded as not sent by a provider.
    assert (row.status, row.attempts) == ("not_sent_no_provider", 1)


def test_at_most_five_alerts_per_customer_per_day(app):
    user = make_user()
    subscribe(user=user, makes=["Ford"])
    lots = [make_lot(make="Ford", model=f"Model {n}") for n in range(7)]
    for lot in lots:
        alerts.fan_out_new_listing(lot.pk, now=DAYTIME)
    assert Notification.objects(user=user.pk).count() == 5
    statuses = [AlertDelivery.objects.get(user=user.pk, lot=lot.pk).status for lot in lots]
    assert statuses == ["queued"] * 5 + ["capped"] * 2
    assert AlertDailyCount.objects.get(user=user.pk).count == 5
    # The next Pacific day starts a new count.
    tomorrow = make_lot(make="Ford", model="Next day")
    alerts.fan_out_new_listing(tomorrow.pk, now=DAYTIME + timedelta(days=1))
    assert Notification.objects(user=user.pk).count() == 6


def test_price_drop_against_the_announced_prices(app):
    lot = make_lot(make="BMW", model="X5", msrp=Decimal(70000), discount=Decimal(5000))
    set_prices(lot, announced_fleet=65000, announced_monthly=899, **{"lease.monthly": 899})
    sub = subscribe(makes=["BMW"])
    subscribe(makes=["BMW"], notify_on_price_drop=False)

    set_prices(lot, discount=5400)  # fleet -400, monthly unchanged: under both thresholds
    assert alerts.fan_out_price_drop(lot.pk, now=DAYTIME) == 0

    set_prices(lot, discount=5600, **{"lease.monthly": 879})  # fleet -600, monthly -20
    assert alerts.fan_out_price_drop(lot.pk, now=DAYTIME) == 1
    [row] = Notification.objects(lot=lot.pk)
    assert row.user.pk == sub.user.pk
    assert row.event_key == "price_drop:64400:879"
    assert (row.payload["fleet"], row.payload["old_fleet"]) == ("64400", "65000")
    assert (row.payload["monthly"], row.payload["old_monthly"]) == ("879", "899")
    lot.reload()
    assert (lot.announced_fleet, lot.announced_monthly) == (Decimal(64400), Decimal(879))

    assert alerts.fan_out_price_drop(lot.pk, now=DAYTIME) == 0  # announced now: no drop any more
    set_prices(lot, **{"lease.monthly": 869})  # another $10 lower: a new event
    assert alerts.fan_out_price_drop(lot.pk, now=DAYTIME) == 1
    assert Notification.objects(lot=lot.pk, event_key="price_drop:64400:869").count() == 1


def test_lots_that_are_not_public_are_not_announced(app):
    lot = make_lot(make="Audi", model="Q5", status="draft")
    subscribe(makes=["Audi"])
    assert alerts.fan_out_new_listing(lot.pk, now=DAYTIME) == 0
    scheduled = make_lot(
        make="Audi", model="Q7", status="scheduled", publish_at=DAYTIME - timedelta(minutes=1)
    )
    assert (
        alerts.fan_out_new_listing(scheduled.pk, now=DAYTIME) == 1
    )  # §2.5: scheduled and due counts as public


def test_sms_alerts_wait_for_morning_but_email_goes_now(app):
    lot = make_lot(make="Volvo", model="XC60")
    phone = "+19495550120"
    user = make_user()
    subscribe(user=user, makes=["Volvo"], phone=phone, notify_sms=True, sms_consent_status="granted")
    consent.record(channel="sms", address=phone, purpose="marketing_alerts", action="granted")
    night = pacific(2026, 3, 10, 22, 30)
    assert alerts.fan_out_new_listing(lot.pk, now=night) == 2
    sms = Notification.objects.get(lot=lot.pk, channel="sms")
    assert sms.recipient == phone and sms.status == "queued"
    assert sms.next_attempt_at.replace(tzinfo=UTC) == pacific(2026, 3, 11, 8, 0)
    queued = [job.args[0] for job in Queue("notifications", connection=get_redis()).jobs]
    email = Notification.objects.get(lot=lot.pk, channel="email")
    assert queued == [str(email.pk)]  # only the e-mail is on its way


def test_sms_alerts_need_granted_consent(app):
    lot = make_lot(make="Jeep", model="Wrangler")
    subscribe(makes=["Jeep"], phone="+19495550121", notify_sms=True, sms_consent_status="pending")
    alerts.fan_out_new_listing(lot.pk, now=DAYTIME)
    assert [n.channel for n in Notification.objects(lot=lot.pk)] == ["email"]


def test_an_interrupted_fan_out_is_finished_by_the_sweep(app):
    lot = make_lot(make="Nissan", model="Leaf")
    users = [subscribe(makes=["Nissan"]).user for _ in range(3)]
    plans = alerts.plan_recipients(lot, alerts.NEW_LISTING)
    long_ago = DAYTIME - timedelta(hours=1)
    alerts._record_deliveries(lot, alerts.NEW_LISTING, plans, long_ago)  # then the worker died
    assert Notification.objects(lot=lot.pk).count() == 0
    assert alerts.resume_incomplete(now=DAYTIME) == 3
    assert {n.user.pk for n in Notification.objects(lot=lot.pk)} == {u.pk for u in users}
    assert set(AlertDelivery.objects(lot=lot.pk).scalar("status")) == {"queued"}
    assert alerts.resume_incomplete(now=DAYTIME) == 0


def test_fan_out_writes_messages_and_delivery_jobs_in_bulk(app):
    lot = make_lot(make="Tesla", model="Model Y")
    for _ in range(40):
        subscribe(makes=["Tesla"])
    assert alerts.fan_out_new_listing(lot.pk, now=DAYTIME) == 40
    jobs = Queue("notifications", connection=get_redis()).jobs
    assert len(jobs) == 40 and {job.func_name for job in jobs} == {DELIVER_JOB}
    assert all(job.retries_left == 3 and job.timeout == 60 for job in jobs)


def test_matching_uses_an_index_not_a_scan(app):
    lot = make_lot(make="Genesis", model="GV70")
    for make in ("Genesis", "Kia", "Hyundai"):
        subscribe(makes=[make])
    plan = (
        Subscription._get_collection()
        .find(alerts.subscription_pipeline(lot, alerts.NEW_LISTING)[0]["$match"])
        .explain()
    )
    winning = plan["queryPlanner"]["winningPlan"]
    stages = []
    while winning:
        stages.append(winning.get("stage"))
        winning = winning.get("inputStage")
    assert "IXSCAN" in stages and "COLLSCAN" not in stages


def test_the_fan_out_job_skips_unknown_lots(app):
    assert alerts.fan_out_new_listing(str(ObjectId())) == 0
    assert alerts.fan_out_price_drop("not-an-id") == 0
    assert Lot.objects.count() == 0


def test_the_cap_counts_each_event_once_and_never_past_the_limit(app):
    user = make_user()
    other = make_user()
    day = "2026-03-10"
    AlertDailyCount(user=user, day=day, events=[f"lot{n}:new_listing" for n in range(4)]).save()
    assert alerts._count_against_cap("lotA:new_listing", day, [user.pk, other.pk]) == {user.pk, other.pk}
    # A retry of the same event counts nothing twice; another event finds the customer at the cap.
    assert alerts._count_against_cap("lotA:new_listing", day, [user.pk]) == {user.pk}
    assert alerts._count_against_cap("lotB:new_listing", day, [user.pk, other.pk]) == {other.pk}
    assert AlertDailyCount.objects.get(user=user.pk, day=day).count == 5
    assert AlertDailyCount.objects.get(user=other.pk, day=day).events == [
        "lotA:new_listing",
        "lotB:new_listing",
    ]
