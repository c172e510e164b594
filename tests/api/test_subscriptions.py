"""Model alerts (consumer-api §4.8, business rules §7.1, §7.4)."""

from __future__ import annotations

import pytest

from app.models import AuditLog, ConsentRecord, Notification, Subscription

SITE_BODY = {
    "makes": ["Lexus"],
    "models": ["RX350"],
    "max_price": None,
    "phone": None,
    "notify_email": True,
    "notify_sms": False,
    "notify_telegram": False,
}


def test_subscribe_with_the_sites_body(alice):
    response = alice.post("/api/subscriptions", json=SITE_BODY)
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["message"] == "Subscribed to Lexus, RX350"
    subscription = Subscription.objects.get(pk=body["subscription_id"])
    assert subscription.email == alice.user.email and subscription.is_active
    assert subscription.match_makes == ["lexus"] and subscription.match_models == ["rx350"]
    assert AuditLog.objects(action="create", resource_type="subscription").count() == 1
    assert ConsentRecord.objects(channel="email", action="requested", purpose="marketing_alerts").count() == 1


def test_the_list_shows_my_active_subscriptions_newest_first(alice, bob):
    first = alice.post("/api/subscriptions", json=SITE_BODY).get_json()["subscription_id"]
    second = alice.post("/api/subscriptions", json={"makes": ["Kia"], "max_price": 35000}).get_json()[
        "subscription_id"
    ]
    bob.post("/api/subscriptions", json=SITE_BODY)
    body = alice.get("/api/subscriptions").get_json()
    assert body["total"] == 2 and [s["id"] for s in body["subscriptions"]] == [second, first]
    item = body["subscriptions"][0]
    assert item["makes"] == ["Kia"] and item["models"] == [] and item["max_price"] == 35000
    assert item["notify_email"] is True and item["sms_consent_status"] == "not_requested"
    assert set(item) >= {
        "id",
        "email",
        "phone",
        "telegram_id",
        "notify_sms",
        "notify_telegram",
        "is_active",
        "created_at",
    }


def test_the_query_form_repeats_makes_and_models(alice):
    response = alice.post(
        "/api/subscriptions?makes=Toyota&makes=Honda&models=Camry&max_price=0&notify_email=false"
    )
    assert response.status_code == 200
    assert response.get_json()["message"] == "Subscribed to Toyota, Honda, Camry"
    subscription = Subscription.objects.get()
    assert subscription.makes == ["Toyota", "Honda"] and subscription.max_price is None
    assert subscription.notify_email is False


def test_a_duplicate_updates_the_existing_subscription(alice):
    first = alice.post("/api/subscriptions", json=SITE_BODY).get_json()["subscription_id"]
    again = alice.post(
        "/api/subscriptions",
        json={
            **SITE_BODY,
            "makes": ["lexus "],
            "models": ["rx350"],
            "notify_telegram": True,
            "telegram_id": "@pat",
        },
    ).get_json()
    assert again["subscription_id"] == first
    subscription = Subscription.objects.get()
    assert subscription.notify_telegram is True and subscription.telegram_id == "pat"


def test_sms_starts_pending_and_one_consent_request_is_sent(alice):
    body = {**SITE_BODY, "notify_sms": True, "phone": "949-555-0100"}
    subscription_id = alice.post("/api/subscriptions", json=body).get_json()["subscription_id"]
    subscription = Subscription.objects.get(pk=subscription_id)
    assert subscription.sms_consent_status == "pending" and subscription.phone == "(949) 555-0100"
    alice.post("/api/subscriptions", json=body)
    assert Notification.objects(template="sms_consent_request").count() == 1


def test_a_null_entry_counts_as_empty(alice):
    response = alice.post("/api/subscriptions", json={"makes": [None], "models": ["RX350"]})
    assert response.status_code == 200
    assert response.get_json()["message"] == "Subscribed to RX350"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"makes": [], "models": ["  "]}, "Choose at least one make or model"),
        ({"makes": [None], "models": [None]}, "Choose at least one make or model"),
        ({}, "Choose at least one make or model"),
        ({**SITE_BODY, "notify_sms": True}, "A phone number is required for SMS alerts"),
        ({**SITE_BODY, "notify_telegram": True}, "A Telegram username is required for Telegram alerts"),
        ({**SITE_BODY, "phone": "12345"}, "phone must be a 10-digit US phone number"),
        ({**SITE_BODY, "max_price": -1}, "max_price must be a whole number of dollars, 0 or more"),
        ({**SITE_BODY, "makes": "Lexus"}, "makes must be a list of at most 10 names"),
        ({**SITE_BODY, "makes": [{"$ne": None}]}, "makes must be a list of at most 10 names"),
        ({**SITE_BODY, "makes": [f"Make{i}" for i in range(11)]}, "makes must be a list of at most 10 names"),
        ({**SITE_BODY, "notify_sms": "perhaps"}, "notify_sms must be true or false"),
    ],
)
def test_subscription_validation(alice, body, detail):
    response = alice.post("/api/subscriptions", json=body)
    assert response.status_code == 422
    assert response.get_json() == {"detail": detail}


def test_only_the_owner_deletes_and_the_row_is_kept(alice, bob):
    subscription_id = alice.post("/api/subscriptions", json=SITE_BODY).get_json()["subscription_id"]
    forbidden = bob.delete(f"/api/subscriptions/{subscription_id}")
    assert forbidden.status_code == 403 and forbidden.get_json() == {"detail": "Not authorized"}
    response = alice.delete(f"/api/subscriptions/{subscription_id}")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "message": "Unsubscribed successfully"}
    assert alice.get("/api/subscriptions").get_json() == {"subscriptions": [], "total": 0}
    stored = Subscription.objects.get(pk=subscription_id)
    assert stored.is_active is False and stored.unsubscribed_at is not None
    assert AuditLog.objects(action="delete", resource_id=subscription_id).count() == 1
    assert alice.delete(f"/api/subscriptions/{subscription_id}").status_code == 404


@pytest.mark.parametrize("subscription_id", ["0123456789abcdef01234567", "garbage"])
def test_unknown_subscriptions_are_404(alice, subscription_id):
    response = alice.delete(f"/api/subscriptions/{subscription_id}")
    assert response.status_code == 404 and response.get_json() == {"detail": "Subscription not found"}


def test_subscriptions_need_a_token(client):
    assert client.get("/api/subscriptions").status_code == 401
    assert (
        client.post(
            "/api/subscriptions", json=SITE_BODY, headers={"Authorization": "Bearer undefined"}
        ).status_code
        == 401
    )
