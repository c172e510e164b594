"""Rate limits (consumer-api §1.8): per path, per client address from trusted proxies only, per account."""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import IsolatedClient
from tests.factories import DEFAULT_PASSWORD, make_user

TOO_MANY = {"detail": "Too many requests. Please try again later."}


def login(client, email="nobody@example.com", password="wrong-password", address="10.0.0.1", **headers):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def assert_limited(response):
    assert response.status_code == 429
    assert response.get_json() == TOO_MANY
    assert int(response.headers["Retry-After"]) >= 0


def test_login_allows_ten_per_minute_per_address(client):
    for attempt in range(10):
        assert login(client, email=f"user{attempt}@example.com").status_code == 401
    assert_limited(login(client, email="someone-else@example.com"))
    # Another address is not affected, nor is another path from the same address.
    assert login(client, address="10.0.0.2").status_code == 401
    assert client.get("/api/cars", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
    register = client.post("/api/auth/register", json={}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert register.status_code == 422


def test_five_failed_logins_lock_the_account_from_any_address(client):
    make_user(email="target@example.com")
    for attempt in range(5):
        assert login(client, email="target@example.com", address=f"10.1.0.{attempt}").status_code == 401
    locked = login(client, email="Target@Example.com", password=DEFAULT_PASSWORD, address="10.2.0.1")
    assert_limited(locked)
    assert 800 < int(locked.headers["Retry-After"]) <= 900
    # Other accounts are not locked.
    make_user(email="other@example.com")
    assert (
        login(client, email="other@example.com", password=DEFAULT_PASSWORD, address="10.2.0.1").status_code
        == 200
    )


def test_successful_logins_do_not_count_towards_the_lockout(client):
    make_user(email="busy@example.com")
    for attempt in range(8):
        response = login(
            client, email="busy@example.com", password=DEFAULT_PASSWORD, address=f"10.3.0.{attempt}"
        )
        assert response.status_code == 200


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client):
    for attempt in range(10):
        login(
            client,
            email=f"u{attempt}@example.com",
            address="10.9.9.9",
            **{"X-Forwarded-For": f"203.0.113.{attempt}"},
        )
    assert_limited(login(client, address="10.9.9.9", **{"X-Forwarded-For": "203.0.113.200"}))


@pytest.fixture
def proxied_app(test_settings):
    application = create_app({**test_settings, "TRUSTED_PROXY_COUNT": 1})
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application


def test_behind_one_trusted_proxy_the_forwarded_address_counts(proxied_app):
    client = proxied_app.test_client()
    proxy = "10.0.0.254"
    for attempt in range(10):
        response = login(
            client, email=f"p{attempt}@example.com", address=proxy, **{"X-Forwarded-For": "198.51.100.7"}
        )
        assert response.status_code == 401
    assert_limited(login(client, address=proxy, **{"X-Forwarded-For": "198.51.100.7"}))
    # Another client behind the same proxy has its own allowance.
    assert login(client, address=proxy, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 401
    # Only the last hop is trusted: a client cannot pick its address by prepending one.
    assert_limited(login(client, address=proxy, **{"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}))


def test_lead_form_allows_five_per_minute(client):
    body = {"name": "A", "phone": "9495550100", "email": "a@example.com", "consent": True}
    for _ in range(5):
        assert client.post("/api/lead", json=body).status_code == 200
    assert_limited(client.post("/api/lead", json=body))
    assert client.post("/api/deal-intent", json=body).status_code == 200  # its own path


def test_reservations_allow_ten_per_minute_per_user(app, alice, bob):
    for _ in range(10):
        assert alice.post("/api/reservations", json={"lot_slug": "no-such-car"}).status_code == 404
    assert_limited(alice.post("/api/reservations", json={"lot_slug": "no-such-car"}))
    assert bob.post("/api/reservations", json={"lot_slug": "no-such-car"}).status_code == 404
    assert alice.get("/api/reservations").status_code == 200  # listing is another endpoint


def test_every_other_path_allows_120_per_minute(client):
    for _ in range(120):
        assert client.get("/api/tax-fees/CA").status_code == 200
    assert_limited(client.get("/api/tax-fees/CA"))
    assert client.get("/api/tax-fees/NV").status_code == 429  # same endpoint, any state
    assert client.get("/api/tax-fees").status_code == 200
