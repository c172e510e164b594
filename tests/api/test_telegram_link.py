"""Telegram alerts from the site's unchanged alert form (business rules §7.4): the form sends a Telegram
username, but a bot can only write to a chat that started it. A subscription with Telegram on, for an
account without a linked chat, e-mails the customer the one-time bot link; ``/start <code>`` then links
the chat and the alerts reach it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Notification, Subscription, User
from app.models.base import utcnow
from app.services import alerts, consent, messages, notifications
from tests.api.helpers import completed_profile, sign_in
from tests.factories import make_lot, make_user
from tests.workers.conftest import TELEGRAM_SECRET, pacific, run_worker
from tests.workers.test_consent import telegram_post

TELEGRAM_FORM = {
    "makes": ["Lexus"],
    "models": ["RX350"],
    "max_price": None,
    "phone": None,
    "notify_email": True,
    "notify_sms": False,
    "notify_telegram": True,
    "telegram_id": "@alice_tg",
}


@pytest.fixture
def bot(app, monkeypatch):
    monkeypatch.setitem(app.config, "TELEGRAM_BOT_USERNAME", "CargwinBot")
    monkeypatch.setitem(app.config, "TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET)


def link_messages(user) -> list[Notification]:
    return list(Notification.objects(user=user.pk, template="telegram_link").order_by("created_at"))


def code_of(row: Notification) -> str:
    link = row.payload["link"]
    assert link.startswith("https://t.me/CargwinBot?start=")
    return link.removeprefix("https://t.me/CargwinBot?start=")


def test_the_form_asking_for_telegram_emails_the_bot_link_and_start_links_the_chat(app, alice, bot):
    response = alice.post("/api/subscriptions", json=TELEGRAM_FORM)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"ok", "message", "subscription_id"}  # the site's contract is unchanged

    [row] = link_messages(alice.user)
    assert (row.channel, row.recipient, row.status, row.category) == (
        "email",
        "alice@example.com",
        "queued",
        "transactional",
    )
    code = code_of(row)
    rendered = notifications.render(row)
    assert rendered.subject == "Connect Telegram to get your Cargwin alerts"
    assert f"https://t.me/CargwinBot?start={code}" in rendered.body and "(@alice_tg)" in rendered.body

    # Saving alerts again (the same subscription, or another one) does not send another link: the first
    # one still works.
    assert alice.post("/api/subscriptions", json=TELEGRAM_FORM).status_code == 200
    assert (
        alice.post("/api/subscriptions", json={**TELEGRAM_FORM, "makes": ["Kia"], "models": []}).status_code
        == 200
    )
    assert len(link_messages(alice.user)) == 1

    # The worker sends it; the one-time link is then wiped from the outbox row.
    assert run_worker("notifications")
    row.reload()
    assert row.status == "not_sent_no_provider" and row.payload["link"] == notifications.REDACTED

    # The customer opens the link and presses Start: the bot's webhook links the chat.
    reply = telegram_post(app.test_client(), f"/start {code}", chat_id=777001).get_json()
    assert reply["text"].startswith("Done! This chat is linked")
    user = User.objects.get(pk=alice.user.pk)
    assert user.telegram_chat_id == "777001" and user.telegram_link_code_hash is None

    # Alerts now reach the chat.
    lot = make_lot(make="Lexus", model="RX350")
    alerts.fan_out_new_listing(lot.pk, now=pacific(2026, 3, 10, 12))
    assert Notification.objects(lot=lot.pk, channel="telegram", recipient="777001").count() == 1

    # A linked account is never sent a link again.
    alice.post("/api/subscriptions", json={**TELEGRAM_FORM, "makes": ["Toyota"], "models": []})
    assert len(link_messages(alice.user)) == 1


def test_the_link_is_in_the_customers_language(app, bot):
    ivan = sign_in(app, make_user(email="ivan@example.com", language="ru", **completed_profile()))
    ivan.post("/api/subscriptions", json=TELEGRAM_FORM)
    [row] = link_messages(ivan.user)
    rendered = notifications.render(row)
    assert row.language == "ru" and rendered.subject.startswith("Подключите Telegram")
    assert f"start={code_of(row)}" in rendered.body


def test_no_link_without_telegram_or_with_a_linked_chat(app, alice, bot):
    alice.post("/api/subscriptions", json={**TELEGRAM_FORM, "notify_telegram": False, "telegram_id": None})
    assert link_messages(alice.user) == []
    linked = sign_in(app, make_user(telegram_chat_id="4242", **completed_profile()))
    linked.post("/api/subscriptions", json=TELEGRAM_FORM)
    assert link_messages(linked.user) == []
    assert Subscription.objects(user=linked.user.pk, notify_telegram=True).count() == 1


def test_an_undelivered_or_old_link_is_replaced_by_a_new_one(app, alice, bot):
    alice.post("/api/subscriptions", json=TELEGRAM_FORM)
    [first] = link_messages(alice.user)
    old_code = code_of(first)
    Notification.objects(pk=first.pk).update_one(set__status="failed")
    alice.post("/api/subscriptions", json=TELEGRAM_FORM)
    second = link_messages(alice.user)[-1]
    assert second.pk != first.pk and code_of(second) != old_code
    # Only the newest code links: the old one was replaced.
    assert consent.link_telegram(old_code, "1") is None

    # A day later an unused link is sent again (a new code).
    Notification.objects(pk=second.pk).update_one(set__created_at=utcnow() - timedelta(hours=25))
    alice.post("/api/subscriptions", json=TELEGRAM_FORM)
    assert len(link_messages(alice.user)) == 3


def test_one_message_per_account_and_code(app, bot):
    user = make_user()
    code = consent.telegram_link_code(user.pk)
    first = messages.telegram_link(user, code)
    assert messages.telegram_link(user, code) == first and len(first) == 1
    assert len(messages.telegram_link(user, consent.telegram_link_code(user.pk))) == 1
    assert Notification.objects(template="telegram_link").count() == 2


def test_nothing_is_sent_when_the_bot_is_not_configured(app, alice, monkeypatch):
    monkeypatch.setitem(app.config, "TELEGRAM_BOT_USERNAME", "")
    assert alice.post("/api/subscriptions", json=TELEGRAM_FORM).status_code == 200
    assert link_messages(alice.user) == []
    assert User.objects.get(pk=alice.user.pk).telegram_link_code_hash is None
