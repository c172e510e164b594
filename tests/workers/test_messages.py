"""The messages of business rules §8: exact copy in English and Russian, per-channel composition, and the
event functions that put them in the outbox (channels, language, idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Application, Notification, Reservation, Subscription
from app.models.application import LotSnapshot, StatusChange, UserSnapshot
from app.services import consent, messages
from app.services.notifications import compose_sms, format_money, format_pacific, render
from tests.factories import make_lot, make_user

ADDRESS = "Cargwin LLC, 2855 Michelle Dr, Office 180, Irvine, CA 92606"

# The copy of §8.1, verbatim from the business rules (placeholders filled with the values used below).
STATUS_COPY = {
    "pending": (
        "Your application status has been updated. Our team is reviewing your information.",
        "Статус вашей заявки обновлён. Наша команда проверяет ваши данные.",
    ),
    "contacted": (
        "We've received your application and our team is reviewing it. We'll contact you within 24 hours with "
        "next steps.",
        "Мы получили вашу заявку, и наша команда её рассматривает. Мы свяжемся с вами в течение 24 часов и "
        "расскажем о дальнейших шагах.",
    ),
    "approved": (
        "🎉 Congratulations! Your application has been approved. Check your email for contract details and next "
        "steps.",
        "🎉 Поздравляем! Ваша заявка одобрена. Проверьте электронную почту: там подробности договора и "
        "дальнейшие шаги.",
    ),
    "rejected": (
        "Unfortunately, we're unable to approve your application at this time. However, we have alternative "
        "options available. Our team will contact you shortly.",
        "К сожалению, сейчас мы не можем одобрить вашу заявку. Но у нас есть альтернативные варианты — наша "
        "команда скоро свяжется с вами.",
    ),
    "contract_sent": (
        "Your contract has been sent to your email. Please review and sign it to continue.",
        "Договор отправлен на вашу электронную почту. Пожалуйста, ознакомьтесь с ним и подпишите, чтобы "
        "продолжить.",
    ),
    "completed": (
        "Your deal is complete. Thank you for choosing Cargwin!",
        "Сделка завершена. Спасибо, что выбрали Cargwin!",
    ),
}


def outbox_row(template: str, payload: dict, *, language: str = "en", channel: str = "email", category=None):
    """An unsaved outbox row, rendered the way the worker renders it."""
    from app.services.notifications import template_spec

    return Notification(
        idempotency_key=f"test:{template}:{language}:{channel}",
        channel=channel,
        category=category or template_spec(template).category,
        recipient="someone@example.com",
        template=template,
        language=language,
        payload=payload,
    )


def make_application(user, status="pending", history=0, **fields) -> Application:
    lot = make_lot(make="Toyota", model="Camry", year=2025)
    application = Application(
        user=user,
        lot=lot,
        status=status,
        lot_data=LotSnapshot(
            lot_id=lot.pk, slug=lot.slug, title=lot.title, year=2025, make="Toyota", model="Camry"
        ),
        user_data=UserSnapshot(name=user.name, email=user.email),
        status_history=[StatusChange(to_status=status) for _ in range(history)],
        **fields,
    )
    application.save()
    return application


# ------------------------------------------------------------------------------------------------- copy


@pytest.mark.parametrize("status", sorted(STATUS_COPY))
@pytest.mark.parametrize("language", ["en", "ru"])
def test_application_status_texts_are_the_products_copy(app, status, language):
    rendered = render(outbox_row(f"application_status_{status}", {"status": status}, language=language))
    assert rendered.body.strip() == STATUS_COPY[status][0 if language == "en" else 1]


def test_unknown_status_falls_back_to_the_generic_text(app):
    en = render(outbox_row("application_status_other", {"status": "on_hold"}))
    ru = render(outbox_row("application_status_other", {"status": "on_hold"}, language="ru"))
    assert en.body.strip() == "Your application status has been updated to: on_hold"
    assert ru.body.strip() == "Статус вашей заявки изменён: on_hold"


def test_received_pickup_and_reservation_texts(app):
    vehicle = {"year": 2025, "make": "Toyota", "model": "Camry"}
    assert render(outbox_row("application_received", vehicle)).body.strip() == (
        "We've received your application for the 2025 Toyota Camry. Our team will review it shortly."
    )
    assert render(outbox_row("application_received", vehicle, language="ru")).body.strip() == (
        "Мы получили вашу заявку на 2025 Toyota Camry. Наша команда скоро её рассмотрит."
    )
    slot = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 10:00 AM Pacific (PDT)
    assert render(outbox_row("pickup_scheduled", {"slot_at": slot.isoformat()})).body.strip() == (
        f"Your vehicle pickup is scheduled for March 10, 2026 at 10:00 AM (Pacific Time) at {ADDRESS}."
    )
    assert render(
        outbox_row("pickup_scheduled", {"slot_at": slot.isoformat()}, language="ru")
    ).body.strip() == (
        f"Получение автомобиля назначено на 10 марта 2026 г. в 10:00 (тихоокеанское время) по адресу: {ADDRESS}."
    )
    expires = datetime(2026, 1, 16, 23, 30, tzinfo=UTC)  # 3:30 PM Pacific (PST)
    payload = {"title": "2025 Toyota Camry SE", "expires_at": expires.isoformat(), "link": "x"}
    assert render(outbox_row("reservation_created", payload)).body.strip() == (
        "Your price for the 2025 Toyota Camry SE is reserved until January 16, 2026 at 3:30 PM (Pacific Time)."
    )
    assert render(outbox_row("reservation_created", payload, language="ru")).body.strip() == (
        "Цена на 2025 Toyota Camry SE зарезервирована до 16 января 2026 г. в 15:30 (тихоокеанское время)."
    )
    assert render(outbox_row("reservation_expired", payload)).body.strip() == (
        "Your price reservation for the 2025 Toyota Camry SE has expired. You can reserve it again if it is "
        "still available."
    )
    assert render(outbox_row("reservation_expired", payload, language="ru")).body.strip() == (
        "Срок резервирования цены на 2025 Toyota Camry SE истёк. Если автомобиль ещё доступен, вы можете "
        "зарезервировать его снова."
    )


ALERT = {
    "make": "Lexus",
    "model": "RX350",
    "monthly": "649",
    "fleet": "52400",
    "old_monthly": "699",
    "old_fleet": "53900",
    "link": "https://cargwin.example/car/2025-lexus-rx350",
    "subscribed_to": "Lexus RX350",
    "unsubscribe_url": "https://api.cargwin.example/unsubscribe/tok",
}


def test_new_listing_email_is_subject_body_and_footer(app):
    en = render(outbox_row("new_listing", ALERT))
    assert en.subject == "🚗 New Lexus RX350 Available!"
    assert en.body == (
        "New Lexus RX350 just listed on CargwinNewCar!\n\n"
        "💰 Starting at $649/mo\n"
        "🏷️ Fleet Price: $52,400\n\n"
        "View now: https://cargwin.example/car/2025-lexus-rx350\n\n"
        "This is exactly what you're looking for!\n\n"
        "You're receiving this because you subscribed to Lexus RX350 alerts on CargwinNewCar. "
        f"Unsubscribe: https://api.cargwin.example/unsubscribe/tok · {ADDRESS}\n"
    )
    # RFC 8058 one-click unsubscribe for mail clients.
    assert en.headers == {
        "List-Unsubscribe": "<https://api.cargwin.example/unsubscribe/tok>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    ru = render(outbox_row("new_listing", ALERT, language="ru"))
    assert ru.subject == "🚗 В продаже новый Lexus RX350!"
    assert ru.body == (
        "На CargwinNewCar только что появился Lexus RX350!\n\n"
        "💰 От $649 в месяц\n"
        "🏷️ Fleet-цена: $52,400\n\n"
        "Смотреть: https://cargwin.example/car/2025-lexus-rx350\n\n"
        "Именно то, что вы искали!\n\n"
        "Вы получили это письмо, потому что подписались на уведомления о Lexus RX350 на CargwinNewCar. "
        f"Отписаться: https://api.cargwin.example/unsubscribe/tok · {ADDRESS}\n"
    )


def test_price_drop_states_the_previous_figures(app):
    en = render(outbox_row("price_drop", ALERT))
    assert en.subject == "📉 Price Drop: Lexus RX350"
    assert en.body.startswith(
        "Great news! The price dropped on Lexus RX350\n"
        "💰 Now only $649/mo (was $699/mo)\n"
        "🏷️ Fleet Price: $52,400 (was $53,900)\n"
        "Don't miss out: https://cargwin.example/car/2025-lexus-rx350\n\n"
        "You're receiving this because"
    )
    ru = render(outbox_row("price_drop", ALERT, language="ru"))
    assert ru.subject == "📉 Цена снижена: Lexus RX350"
    assert ru.body.startswith(
        "Отличные новости! Цена на Lexus RX350 снизилась\n"
        "💰 Теперь всего $649 в месяц (было $699)\n"
        "🏷️ Fleet-цена: $52,400 (было $53,900)\n"
        "Не упустите: https://cargwin.example/car/2025-lexus-rx350\n\n"
        "Вы получили это письмо"
    )


def test_alert_sms_is_subject_newline_short_body_link_and_stop(app):
    sms = render(outbox_row("new_listing", ALERT, channel="sms")).body
    assert sms == (
        "🚗 New Lexus RX350 Available!\n"
        "💰 Starting at $649/mo\n"
        "🏷️ Fleet Price: $52,400\n"
        "https://cargwin.example/car/2025-lexus-rx350\n"
        "Reply STOP to opt out."
    )
    assert "\\n" not in sms and len(sms) <= 320
    ru = render(outbox_row("price_drop", ALERT, channel="sms", language="ru")).body
    assert ru.startswith("📉 Цена снижена: Lexus RX350\n") and ru.endswith(
        "\nОтветьте STOP, чтобы отписаться."
    )
    assert len(ru) <= 320


def test_sms_is_cut_to_320_characters_keeping_the_link_and_stop():
    long_line = "x" * 400
    text = compose_sms("Subject", f"{long_line}\nhttps://cargwin.example/car/a", "Reply STOP to opt out.")
    assert len(text) <= 320
    assert text.endswith("https://cargwin.example/car/a\nReply STOP to opt out.")
    single = compose_sms("Subject", "y" * 500, "Reply STOP to opt out.")
    assert len(single) == 320 and single.endswith("…\nReply STOP to opt out.")


def test_telegram_is_body_plus_stop_command(app):
    en = render(outbox_row("new_listing", ALERT, channel="telegram")).body
    assert en.startswith("New Lexus RX350 just listed on CargwinNewCar!") and en.endswith(
        "\n\n/stop to unsubscribe"
    )
    assert "Unsubscribe:" not in en
    ru = render(outbox_row("new_listing", ALERT, channel="telegram", language="ru")).body
    assert ru.endswith("\n\n/stop — отписаться")


def test_consent_request_is_the_disclosure_with_its_own_stop(app):
    en = render(outbox_row("sms_consent_request", {"subscribed_to": "Lexus RX350"}, channel="sms")).body
    assert en == (
        "Cargwin: reply YES to get automated text alerts about Lexus RX350 deals at this number. Consent is not "
        "a condition of purchase. Msg & data rates may apply. Reply STOP to cancel."
    )
    ru = render(
        outbox_row("sms_consent_request", {"subscribed_to": "Lexus RX350"}, channel="sms", language="ru")
    )
    assert ru.body == (
        "Cargwin: ответьте YES, чтобы получать автоматические SMS о предложениях Lexus RX350 на этот номер. "
        "Согласие не является условием покупки. Может взиматься плата за сообщения и трафик. Ответьте STOP для "
        "отмены."
    )


def test_transactional_sms_ends_with_the_stop_instruction(app):
    sms = render(outbox_row("application_status_pending", {"status": "pending"}, channel="sms")).body
    assert sms == STATUS_COPY["pending"][0] + "\nReply STOP to opt out."


def test_money_and_dates_follow_section_8():
    assert format_money("29400") == "29,400"
    assert format_money("1234567.5") == "1,234,568"  # whole dollars, half-up
    winter = datetime(2026, 1, 5, 20, 5, tzinfo=UTC)
    assert format_pacific(winter, "en") == "January 5, 2026 at 12:05 PM"
    assert format_pacific(winter.isoformat(), "ru") == "5 января 2026 г. в 12:05"
    summer = datetime(2026, 7, 5, 20, 5, tzinfo=UTC)  # PDT: UTC-7
    assert format_pacific(summer, "en") == "July 5, 2026 at 1:05 PM"


def test_every_template_exists_in_both_languages():
    from app.services.notifications import TEMPLATE_DIR, TEMPLATES

    for name in TEMPLATES:
        for language in ("en", "ru"):
            assert (TEMPLATE_DIR / f"{name}.{language}.txt").is_file(), f"{name}.{language}.txt"


# ------------------------------------------------------------------------------------------ event → outbox


def test_application_messages_go_by_email_in_the_customers_language_once(app):
    user = make_user(language="ru")
    application = make_application(user)
    rows = messages.application_received(application)
    assert [(r.channel, r.recipient, r.language, r.template) for r in rows] == [
        ("email", user.email, "ru", "application_received")
    ]
    assert rows[0].application == application.pk and rows[0].category == "transactional"
    assert rows[0].payload == {"year": 2025, "make": "Toyota", "model": "Camry"}
    again = messages.application_received(application.pk)
    assert [r.pk for r in again] == [r.pk for r in rows]
    assert Notification.objects.count() == 1


def test_each_status_change_is_its_own_event(app):
    user = make_user()
    application = make_application(user, status="contacted", history=1)
    first = messages.application_status_changed(application)
    assert first[0].template == "application_status_contacted"
    assert messages.application_status_changed(application)[0].pk == first[0].pk  # same change: same message
    application.status = "approved"
    application.status_history.append(StatusChange(to_status="approved"))
    application.save()
    second = messages.application_status_changed(application)
    assert second[0].template == "application_status_approved" and second[0].pk != first[0].pk
    application.status = "on_hold_for_docs"  # not a known status: the fallback text
    application.status_history.append(StatusChange(to_status="contacted"))
    assert messages.application_status_changed(application)[0].template == "application_status_other"


def test_sms_joins_email_only_with_sms_consent_for_account_messages(app):
    user = make_user(phone="(949) 555-0101")
    application = make_application(user)
    assert [r.channel for r in messages.application_received(application)] == ["email"]
    consent.record(channel="sms", address="+19495550101", purpose="marketing_alerts", action="granted")
    assert [
        r.channel for r in messages.pickup_scheduled(make_application(user, pickup_slot=datetime.now(UTC)))
    ] == ["email"]  # alert consent is not consent for account texts (§13.2: per purpose)
    consent.record(channel="sms", address="+19495550101", purpose="transactional", action="granted")
    rows = messages.application_status_changed(application)
    assert sorted((r.channel, r.recipient) for r in rows) == [("email", user.email), ("sms", "+19495550101")]


def test_reservation_messages_name_the_car_and_link_to_it(app):
    user = make_user()
    lot = make_lot(make="Kia", model="EV9", trim="Land")
    reservation = Reservation(
        user=user,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=lot.fleet,
        monthly_payment=499,
        due_at_signing=2999,
        expires_at=datetime.now(UTC) + timedelta(hours=48),
    )
    reservation.save()
    created = messages.reservation_created(reservation)[0]
    assert created.payload["title"] == lot.title
    assert created.payload["link"] == f"https://cargwin.example/car/{lot.slug}"
    expired = messages.reservation_expired(reservation.pk)[0]
    assert expired.template == "reservation_expired" and expired.pk != created.pk


def test_sms_consent_request_is_sent_once_and_not_when_consent_exists(app):
    user = make_user()
    sub = Subscription(user=user, makes=["Lexus"], models=["RX350"], phone="949-555-0102", notify_sms=True)
    sub.save()
    rows = messages.sms_consent_request(sub)
    assert [(r.channel, r.recipient, r.template) for r in rows] == [
        ("sms", "+19495550102", "sms_consent_request")
    ]
    assert rows[0].payload == {"subscribed_to": "Lexus RX350"}
    assert messages.sms_consent_request(sub)[0].pk == rows[0].pk
    sub.reload()
    assert sub.sms_consent_status == "pending"
    assert consent.latest("sms", "+19495550102", "marketing_alerts").action == "requested"

    consent.record(channel="sms", address="+19495550103", purpose="marketing_alerts", action="granted")
    other = Subscription(user=user, makes=["Kia"], phone="+1 949 555 0103", notify_sms=True)
    other.save()
    assert messages.sms_consent_request(other) == []
    other.reload()
    assert other.sms_consent_status == "granted"


def test_staff_alert_reaches_active_admins_only_once_per_event(app):
    admin = make_user(role="admin")
    make_user(role="admin", is_active=False)
    make_user(role="editor")
    make_user(role="user")
    rows = messages.staff_alert("Something happened", "Details")
    assert [r.recipient for r in rows] == [admin.email]
    assert rows[0].category == "system"
    assert messages.staff_alert("Something happened", "Details")[0].pk == rows[0].pk
    assert len(messages.staff_alert("Something happened", "Details", event_key="again")) == 1
    assert Notification.objects(template="staff_alert").count() == 2


def test_magic_link_goes_to_the_address_in_the_accounts_language(app):
    make_user(email="reader@example.com", language="ru")
    rows = messages.magic_link("Reader@Example.com ", "https://cargwin.example/auth/verify?token=abc", "en")
    assert rows[0].recipient == "reader@example.com" and rows[0].language == "en"
    assert rows[0].payload["link"].endswith("token=abc")
    assert render(rows[0]).body.startswith(
        "Use this link to sign in to Cargwin:\nhttps://cargwin.example/auth"
    )
