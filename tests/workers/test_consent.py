"""Consent and opt-out (business rules §7.4, §13.2, §13.3): STOP and other revocations, the YES flow, the
signed unsubscribe link (RFC 8058 one-click too), the Telegram bot, quiet hours, and suppression at send
time of messages already queued."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from app.models import ConsentRecord, Notification, Subscription, User
from app.services import alerts, consent, messages, notifications
from tests.factories import make_lot, make_user
from tests.workers.conftest import TELEGRAM_SECRET, TWILIO_TOKEN, pacific, run_worker

SMS_WEBHOOK = "/webhooks/twilio/sms"
PUBLIC = "https://api.cargwin.example"  # PUBLIC_BASE_URL of the test settings
DEFAULTS: dict = {}  # settings left at their defaults: texts from 08:00 to 21:00


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "QUIT", "end", "Revoke", "OPT OUT", "optout", "cancel", "Unsubscribe",
     "Please stop texting me", "don't text me anymore", "remove me from this list", "СТОП", "отпишите меня"],
)  # fmt: skip
def test_revocation_words_and_clear_requests(text):
    assert consent.is_revocation(text)


@pytest.mark.parametrize("text", ["YES", "Thanks!", "What's the price?", "", "Is the RX still available?"])
def test_other_replies_are_not_revocations(text):
    assert not consent.is_revocation(text)


def test_phone_numbers_are_normalised_to_e164():
    assert consent.normalise_phone("(949) 555-0100") == "+19495550100"
    assert consent.normalise_phone("1-949-555-0100") == "+19495550100"
    assert consent.normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert consent.normalise_phone("555-0100") is None


def test_quiet_hours_are_8_to_21_pacific():
    assert notifications.sms_quiet_until(pacific(2026, 3, 10, 8, 0), DEFAULTS) is None
    assert notifications.sms_quiet_until(pacific(2026, 3, 10, 20, 59), DEFAULTS) is None
    assert notifications.sms_quiet_until(pacific(2026, 3, 10, 21, 0), DEFAULTS) == pacific(2026, 3, 11, 8, 0)
    assert notifications.sms_quiet_until(pacific(2026, 3, 10, 3, 15), DEFAULTS) == pacific(2026, 3, 10, 8, 0)
    # Across the spring-forward night the morning is still 08:00 local.
    assert notifications.sms_quiet_until(pacific(2026, 3, 7, 23, 0), DEFAULTS) == pacific(2026, 3, 8, 8, 0)


# ----------------------------------------------------------------------------------------------- SMS flows


def twilio_post(client, form: dict, *, token: str = TWILIO_TOKEN):
    signature = RequestValidator(token).compute_signature(PUBLIC + SMS_WEBHOOK, form)
    return client.post(SMS_WEBHOOK, data=form, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def twilio_configured(webhook_app, monkeypatch):
    monkeypatch.setitem(webhook_app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)


def sms_subscriber(phone="+19495550130", status="pending", **fields) -> Subscription:
    sub = Subscription(
        user=make_user(), makes=["Lexus"], models=["RX350"], phone=phone, notify_sms=True,
        sms_consent_status=status, **fields,
    )  # fmt: skip
    sub.save()
    return sub


def test_yes_reply_grants_sms_alert_consent(app, webhook_client, twilio_configured):
    sub = sms_subscriber(phone="(949) 555-0130")
    messages.sms_consent_request(sub)
    response = twilio_post(webhook_client, {"From": "+19495550130", "Body": "Yes", "To": "+19495550000"})
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert "Text alerts about the cars you follow are on" in response.get_data(as_text=True)
    sub.reload()
    assert (sub.sms_consent_status, sub.notify_sms) == ("granted", True)
    grant = consent.latest("sms", "+19495550130", "marketing_alerts")
    assert grant.action == "granted" and grant.disclosure_version == consent.SMS_ALERTS_DISCLOSURE
    assert grant.source == "reply: YES"


def test_yes_without_a_request_grants_nothing(app, webhook_client, twilio_configured):
    response = twilio_post(webhook_client, {"From": "+19495550131", "Body": "YES"})
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    assert not consent.has_consent("sms", "+19495550131", "marketing_alerts")


def test_stop_revokes_at_once_and_suppresses_queued_texts(app, webhook_client, twilio_configured, providers):
    phone = "+19495550132"
    sub = sms_subscriber(phone=phone, status="granted")
    consent.record(channel="sms", address=phone, purpose="marketing_alerts", action="granted")
    consent.record(channel="sms", address=phone, purpose="transactional", action="granted")
    lot = make_lot(make="Lexus", model="RX350")
    alerts.fan_out_new_listing(lot.pk, now=pacific(2026, 3, 10, 12))
    queued_sms = Notification.objects.get(channel="sms", recipient=phone)
    assert queued_sms.status == "queued"

    response = twilio_post(webhook_client, {"From": phone, "Body": "STOP"})
    # Twilio confirms its own STOP keyword; we add no second text.
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    sub.reload()
    assert (sub.notify_sms, sub.sms_consent_status) == (False, "revoked")
    assert consent.is_revoked("sms", phone, "marketing_alerts") and consent.is_revoked(
        "sms", phone, "transactional"
    )

    run_worker("notifications")
    queued_sms.reload()
    assert queued_sms.status == "suppressed" and "consent" in queued_sms.last_error
    assert providers.sent("twilio") == []  # the e-mail went; the text did not
    assert len(providers.sent("sendgrid")) == 1


def test_a_free_text_revocation_gets_one_confirmation(app, webhook_client, twilio_configured):
    sms_subscriber(phone="+19495550133", status="granted")
    response = twilio_post(webhook_client, {"From": "+19495550133", "Body": "please stop texting me"})
    assert "you are unsubscribed and will get no more texts" in response.get_data(as_text=True)
    assert consent.is_revoked("sms", "+19495550133", "marketing_alerts")


def test_a_forged_sms_webhook_call_is_refused(app, webhook_client, twilio_configured):
    sub = sms_subscriber(phone="+19495550134", status="granted")
    response = twilio_post(webhook_client, {"From": "+19495550134", "Body": "STOP"}, token="not-the-token")
    assert response.status_code == 403
    assert webhook_client.post(SMS_WEBHOOK, data={"From": "+19495550134", "Body": "STOP"}).status_code == 403
    sub.reload()
    assert sub.sms_consent_status == "granted" and ConsentRecord.objects.count() == 0


def test_the_sms_webhook_is_off_without_twilio(app, webhook_client, monkeypatch, webhook_app):
    monkeypatch.setitem(webhook_app.config, "TWILIO_AUTH_TOKEN", "")
    assert webhook_client.post(SMS_WEBHOOK, data={"From": "+19495550135", "Body": "STOP"}).status_code == 404


# ------------------------------------------------------------------------------------------- e-mail link


def test_unsubscribe_link_confirms_on_get_and_unsubscribes_on_post(app, webhook_client):
    user = make_user(language="ru")
    sub = Subscription(user=user, makes=["Kia"])
    sub.save()
    link = consent.unsubscribe_link(user.pk, user.email, "ru")
    assert link.startswith(f"{PUBLIC}/unsubscribe/")
    path = link.removeprefix(PUBLIC)

    page = webhook_client.get(path)
    assert page.status_code == 200 and "Отписаться" in page.get_data(as_text=True)
    sub.reload()
    assert sub.notify_email is True  # a GET (a link scanner) never unsubscribes

    done = webhook_client.post(path)
    assert done.status_code == 200 and "больше не будут приходить" in done.get_data(as_text=True)
    sub.reload()
    assert sub.notify_email is False
    entry = consent.latest("email", user.email, "marketing_alerts")
    assert entry.action == "revoked" and entry.source == "unsubscribe page"


def test_one_click_unsubscribe_rfc_8058(app, webhook_client):
    user = make_user()
    Subscription(user=user, makes=["Kia"]).save()
    Subscription(user=user, makes=["Ford"], email="other@example.com").save()
    path = consent.unsubscribe_link(user.pk, user.email).removeprefix(PUBLIC)
    response = webhook_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    # Only the subscription mailing this address stops; the other address was not the one unsubscribing.
    assert sorted(Subscription.objects(user=user).scalar("notify_email")) == [False, True]
    assert consent.latest("email", user.email, "marketing_alerts").source == "one-click (RFC 8058)"


def test_a_tampered_unsubscribe_link_is_refused(app, webhook_client):
    user = make_user()
    path = consent.unsubscribe_link(user.pk, user.email).removeprefix(PUBLIC)
    assert webhook_client.get(path[:-2] + "xx").status_code == 404
    assert webhook_client.post(path[:-2] + "xx", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert ConsentRecord.objects.count() == 0


def test_an_unsubscribed_address_gets_no_more_alert_email(app, webhook_client, providers):
    user = make_user()
    Subscription(user=user, makes=["Mini"]).save()
    lot = make_lot(make="Mini", model="Cooper")
    alerts.fan_out_new_listing(lot.pk, now=pacific(2026, 3, 10, 12))
    row = Notification.objects.get(lot=lot.pk)
    # The customer clicks the link of an earlier alert before this one is sent.
    webhook_client.post(row.payload["unsubscribe_url"].removeprefix(PUBLIC))
    run_worker("notifications")
    row.reload()
    assert row.status == "suppressed" and providers.sent("sendgrid") == []
    # Account messages are transactional: they still go out.
    messages.magic_link(user.email, "https://cargwin.example/auth/verify?token=t", "en")
    run_worker("notifications")
    assert len(providers.sent("sendgrid")) == 1


# ------------------------------------------------------------------------------------------------ Telegram


@pytest.fixture
def telegram_configured(webhook_app, monkeypatch):
    monkeypatch.setitem(webhook_app.config, "TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET)
    monkeypatch.setitem(webhook_app.config, "TELEGRAM_BOT_USERNAME", "CargwinBot")


def telegram_post(client, text: str, chat_id: int = 9001, secret: str = TELEGRAM_SECRET, language="en"):
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "language_code": language},
            "text": text,
        },
    }
    return client.post("/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})


def test_start_with_a_code_links_the_chat_once(app, webhook_client, telegram_configured):
    user = make_user(language="ru")
    code = consent.telegram_link_code(user.pk)
    assert len(code) <= 64
    response = telegram_post(webhook_client, f"/start {code}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["method"] == "sendMessage" and body["chat_id"] == 9001
    assert body["text"].startswith("Готово! Этот чат привязан")
    user.reload()
    assert user.telegram_chat_id == "9001" and user.telegram_link_code_hash is None
    assert consent.has_consent("telegram", "9001", "marketing_alerts")
    # The code worked once.
    again = telegram_post(webhook_client, f"/start {code}", chat_id=9002).get_json()
    assert "expired or was already used" in again["text"]
    assert User.objects(telegram_chat_id="9002").count() == 0


def test_stop_unsubscribes_the_chat(app, webhook_client, telegram_configured, providers):
    user = make_user(telegram_chat_id="9003")
    sub = Subscription(user=user, makes=["Kia"], notify_email=False, notify_telegram=True)
    sub.save()
    lot = make_lot(make="Kia", model="EV6")
    alerts.fan_out_new_listing(lot.pk, now=pacific(2026, 3, 10, 12))
    row = Notification.objects.get(lot=lot.pk, channel="telegram")

    body = telegram_post(webhook_client, "/stop", chat_id=9003).get_json()
    assert "You are unsubscribed" in body["text"]
    sub.reload()
    user.reload()
    assert sub.notify_telegram is False and user.telegram_chat_id is None
    assert consent.is_revoked("telegram", "9003", "marketing_alerts")
    run_worker("notifications")
    row.reload()
    assert row.status == "suppressed" and providers.sent("telegram") == []


def test_the_bot_webhook_needs_its_secret(app, webhook_client, telegram_configured):
    user = make_user()
    code = consent.telegram_link_code(user.pk)
    assert telegram_post(webhook_client, f"/start {code}", secret="wrong").status_code == 403
    user.reload()
    assert user.telegram_chat_id is None


def test_other_messages_get_help(app, webhook_client, telegram_configured):
    body = telegram_post(webhook_client, "hello", language="ru").get_json()
    assert body["text"].startswith("Этот бот присылает уведомления Cargwin")


def test_link_code_url(app, monkeypatch):
    monkeypatch.setitem(app.config, "TELEGRAM_BOT_USERNAME", "CargwinBot")
    assert consent.telegram_link_url("abc") == "https://t.me/CargwinBot?start=abc"
