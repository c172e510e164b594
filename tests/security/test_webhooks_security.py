"""The inbound endpoints (business rules §7.4, §13.2, §13.3): Twilio's signature and Telegram's secret are
checked before anything happens, whatever the header holds; unsubscribe tokens are signed for that purpose
only and name one address; a GET never changes anything; malformed bodies get a 4xx, never a 500; and no
endpoint, of these or of the back office, redirects to another site."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer
from twilio.request_validator import RequestValidator

from app.models import ConsentRecord, Subscription
from app.services import consent
from tests.admin.conftest import signed_in, token
from tests.factories import make_user
from tests.foundation.test_admin_auth import sign_in

TWILIO_TOKEN = "twilio-test-auth-token-0123456789"
TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
PUBLIC = "https://api.cargwin.example"  # PUBLIC_BASE_URL of the test settings
SMS = "/webhooks/twilio/sms"
STOP = {"From": "+19495550100", "Body": "STOP", "MessageSid": "SM1"}


@pytest.fixture
def configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setitem(app.config, "TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET)
    monkeypatch.setitem(app.config, "TELEGRAM_BOT_USERNAME", "CargwinBot")
    return app


def signature(url: str, form: dict[str, str], auth_token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(auth_token).compute_signature(url, form)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "x",
        "é" * 28,  # not ASCII: must be refused, not crash a constant-time comparison
        signature(PUBLIC + SMS, STOP, "another-account-token-0123456789"),
        signature(PUBLIC + SMS, {**STOP, "Body": "hi"}),  # signed for another body
        signature("https://evil.example" + SMS, STOP),  # signed for another host
    ],
)
def test_a_text_without_a_valid_twilio_signature_changes_nothing(configured, client, header):
    headers = {} if header is None else {"X-Twilio-Signature": header}
    response = client.post(SMS, data=STOP, headers=headers)
    assert response.status_code == 403
    assert ConsentRecord.objects.count() == 0


def test_a_signed_text_is_accepted_with_or_without_the_port(configured, client):
    assert (
        client.post(SMS, data=STOP, headers={"X-Twilio-Signature": signature(PUBLIC + SMS, STOP)}).status_code
        == 200
    )
    revoked = ConsentRecord.objects(channel="sms", action="revoked").count()
    assert revoked >= 1
    with_port = signature("https://api.cargwin.example:443" + SMS, STOP)
    assert client.post(SMS, data=STOP, headers={"X-Twilio-Signature": with_port}).status_code == 200


def telegram(client, body, secret=TELEGRAM_SECRET, **kwargs):
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return client.post(
        "/webhooks/telegram", headers=headers, **({"json": body} if body is not None else kwargs)
    )


@pytest.mark.parametrize("secret", [None, "", "wrong", TELEGRAM_SECRET[:-1], TELEGRAM_SECRET + "x", "é"])
def test_a_telegram_update_without_the_secret_changes_nothing(configured, client, secret):
    user = make_user(telegram_chat_id="9001")
    response = telegram(client, {"message": {"chat": {"id": 9001}, "text": "/stop"}}, secret=secret)
    assert response.status_code == 403
    assert user.reload().telegram_chat_id == "9001"


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "text",
        42,
        {"message": "hello"},
        {"message": {"chat": "9001", "text": "/stop"}},
        {"message": {"chat": {"id": 9001}, "text": 5}},
        {"message": {"chat": {"id": 9001}, "text": "/start x", "from": "me"}},
        {"message": {"chat": {"id": {"$ne": 1}}, "text": "/stop"}},
        {"message": {"chat": {"id": [1]}, "text": "/start abc"}},
        {"edited_message": None, "message": None},
    ],
)
def test_malformed_telegram_updates_are_answered_without_an_error(configured, client, body):
    response = telegram(client, body)
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:200]
    assert ConsentRecord.objects.count() == 0


def test_a_telegram_update_that_is_not_json_is_answered_without_an_error(configured, client):
    response = telegram(client, None, data=b"\xff\x00not json", content_type="application/json")
    assert response.status_code in (200, 400)


def test_unsubscribe_tokens_are_signed_for_that_purpose_and_name_one_address(app, client):
    alice = make_user(email="alice@example.com")
    bob = make_user(email="bob@example.com")
    for user in (alice, bob):
        Subscription(user=user, makes=["Kia"], email=user.email).save()
    good = consent.unsubscribe_token(alice.pk, alice.email)
    payload, _, signed = good.rpartition(".")
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),  # tampered signature
        URLSafeSerializer(app.config["SECRET_KEY"], salt="another-purpose").dumps(
            {"u": str(bob.pk), "e": bob.email}
        ),
        URLSafeSerializer("not-our-key-" * 4, salt="cargwin-unsubscribe").dumps(
            {"u": str(bob.pk), "e": bob.email}
        ),
        consent.unsubscribe_token(alice.pk, alice.email).replace(payload, payload[::-1]),
        "%00",
        "a" * 5000,
    ]
    for token_ in forged:
        assert (
            client.post(f"/unsubscribe/{token_}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
        )
    assert Subscription.objects(notify_email=True).count() == 2
    # The GET only asks; the POST unsubscribes the token's address and nobody else's.
    assert client.get(f"/unsubscribe/{good}").status_code == 200
    assert Subscription.objects(notify_email=True).count() == 2
    assert client.post(f"/unsubscribe/{good}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Subscription.objects.get(user=alice.pk).notify_email is False
    assert Subscription.objects.get(user=bob.pk).notify_email is True


def test_webhook_endpoints_take_no_get(configured, client):
    assert client.get(SMS).status_code == 405
    assert client.get("/webhooks/telegram").status_code == 405


EVIL_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "https:evil.example",
    "http:/\\evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/%2F%2Fevil.example",
]


def is_offsite(location: str) -> bool:
    from urllib.parse import urljoin, urlsplit

    cleaned = location.replace("\\", "/").replace("\t", "").strip()
    absolute = urljoin("https://admin.cargwin.example/admin/", cleaned)
    return urlsplit(absolute).netloc != "admin.cargwin.example" or cleaned.lower().startswith("javascript:")


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_no_back_office_redirect_leaves_the_site(app, client, target):
    staff = make_user(role="admin")
    response = sign_in(client, staff.email, next_url=target)
    assert not is_offsite(response.headers["Location"]), response.headers["Location"]
    csrf = token(client)
    for response in (
        client.post(
            f"/admin/lot/action/?url={target}", data={"action": "publish", "rowid": "x", "csrf_token": csrf}
        ),
        client.post(f"/admin/notification/resend/?id=x&url={target}", data={"csrf_token": csrf}),
        client.post("/admin/lot/delete/", data={"id": "x", "url": target, "csrf_token": csrf}),
        client.get(f"/admin/lot/edit/?id=x&url={target}"),
        client.get(f"/admin/login?next={target}"),
    ):
        assert response.status_code in (302, 303), response.status_code
        assert not is_offsite(response.headers["Location"]), response.headers["Location"]


def test_an_expired_session_is_sent_to_sign_in_with_a_local_next_only(app, client):
    from datetime import timedelta

    from app.models.base import utcnow

    signed_in(client, "admin")
    with client.session_transaction() as session:
        session["last_seen"] = (utcnow() - timedelta(hours=1)).isoformat()
    response = client.get("//evil.example/admin/")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert not is_offsite(response.headers["Location"])


def test_a_signed_text_with_repeated_fields_is_checked_over_every_value(configured, client):
    """Twilio signs every value of a repeated field (several media URLs); all of them count."""
    form = {"From": "+19495550100", "Body": "YES", "MediaUrl": ["https://a.example/1", "https://a.example/2"]}
    from werkzeug.datastructures import MultiDict

    multi = MultiDict(
        [(key, v) for key, value in form.items() for v in (value if isinstance(value, list) else [value])]
    )
    good = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + SMS, multi)
    assert client.post(SMS, data=multi, headers={"X-Twilio-Signature": good}).status_code == 200
    forged = MultiDict([*multi.items(multi=True), ("MediaUrl", "https://evil.example/3")])
    assert client.post(SMS, data=forged, headers={"X-Twilio-Signature": good}).status_code == 403
