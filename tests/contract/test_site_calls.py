"""An independent black-box client of the public API, written from ``consumer-api.md`` alone.

The real application is served by a real HTTP server (werkzeug, in a thread) and called with ``requests``
the way the unchanged React site's browser calls it: the same paths, the same bodies (``null`` bodies with
no ``Content-Type`` where the site sends them), ``Authorization: Bearer`` from "localStorage", and, for a
site on another origin, an ``OPTIONS`` preflight before every non-simple request. Every response passes the
conventions of contract §1 (:func:`check_conventions`) before a test looks at it: JSON errors with a string
``detail``, ``WWW-Authenticate: Bearer`` on 401, ``Retry-After`` on 429, security and cache headers, UTC
datetimes with an explicit offset, and no sensitive key anywhere.

Set-up that the site cannot do by itself goes through the services the back office uses: lots are saved as
documents, the approval is ``application_review.approve`` by a finance manager, the preview link is
``previews.create_preview`` by an editor.
"""

from __future__ import annotations

import base64
import json as json_module
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app.models import Lot, User
from app.models.base import utcnow
from app.models.lot import CompetitorPrice, CompetitorPrices, FinanceTerms, LeaseTerms
from app.services import application_review, audit, previews
from tests.factories import make_lot, make_user

PACIFIC = ZoneInfo("America/Los_Angeles")
SITE_ORIGIN = "https://cargwin.example"  # listed in CORS_ORIGINS by tests/conftest.py
FOREIGN_ORIGIN = "https://evil.example"
PASSWORD = "Sunset-Boulevard-2025"

SENSITIVE_KEYS = frozenset(
    {
        "ssn",
        "drivers_license_number",
        "date_of_birth",
        "password",
        "password_hash",
        "mfa_secret",
        "oauth_subject",
        "user_data",
        "prescoring_data",
        "manager_comments",
        "verified_income",
        "_id",
    }
)
CATALOGUE_PATHS = re.compile(r"^/api/(cars|cars/[^/]+|tax-fees|tax-fees/[^/]+)$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
EXPLICIT_OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")

USER_KEYS = {
    "id",
    "email",
    "name",
    "role",
    "is_active",
    "profile_completed",
    "picture",
    "last_login",
    "credit_score",
    "annual_income",
    "auto_loan_history",
    "employment_type",
    "employer_name",
    "job_title",
    "time_at_job_months",
    "monthly_income_pretax",
    "employment_duration_months",
    "immigration_status",
    "phone",
    "address",
    "current_address",
    "current_address_duration_months",
    "residence_duration_months",
    "previous_address",
    "monthly_expenses",
    "down_payment_ready",
}
LIST_KEYS = {
    "id",
    "slug",
    "title",
    "msrp",
    "fleet",
    "savings",
    "dealer_addons",
    "stockLeft",
    "image",
    "dealer",
    "endsAt",
    "lease",
    "finance",
}
DETAIL_KEYS = LIST_KEYS | {
    "gallery",
    "specs",
    "description",
    "addonsAvg",
    "competitor_prices",
    "state",
}
APPLICATION_KEYS = {
    "id",
    "status",
    "created_at",
    "updated_at",
    "lot_data",
    "approval_details",
    "contract_sent",
    "pickup_status",
    "pickup_slot",
    "admin_notes",
}
RESERVATION_KEYS = {
    "id",
    "lot_slug",
    "reserved_price",
    "monthly_payment",
    "due_at_signing",
    "status",
    "expires_at",
    "created_at",
    "application_id",
}
SUBSCRIPTION_KEYS = {
    "id",
    "makes",
    "models",
    "max_price",
    "email",
    "phone",
    "telegram_id",
    "notify_email",
    "notify_sms",
    "notify_telegram",
    "is_active",
    "created_at",
}

# The profile wizard's final step, exactly (contract §4.5.2).
WIZARD_BODY = {
    "credit_score": 715,
    "auto_loan_history": True,
    "employment_type": "W2",
    "annual_income": 98000,
    "employment_duration_months": None,
    "address": "2855 Michelle Dr, Irvine, CA 92606",
    "residence_duration_months": 30,
    "monthly_expenses": 2100,
    "down_payment_ready": 4000,
    "ssn": "",
}


# --------------------------------------------------------------------------------------------------------
# The server and the browser


@pytest.fixture(scope="module")
def server(app: Flask) -> Iterator[str]:
    http_server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, name="contract-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http_server.server_port}"
    http_server.shutdown()
    thread.join(timeout=10)
    http_server.server_close()


def _walk(value: Any, where: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """Every ``(path, key, value)`` of a JSON document (key is None for array items and the root)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield f"{where}.{key}", key, inner
            yield from _walk(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield f"{where}[{index}]", None, inner
            yield from _walk(inner, f"{where}[{index}]")


def check_conventions(method: str, path: str, response: requests.Response) -> None:
    """The rules of contract §1 that hold for every response under ``/api``."""
    what = f"{method} {path} -> {response.status_code}"
    headers = response.headers
    # §1.7 security headers on every response
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", what
    # §1.7 caching: no-store, or a short public cache on the catalogue
    cache = headers.get("Cache-Control")
    if CATALOGUE_PATHS.match(path) and response.status_code in (200, 304):
        assert cache in ("no-store", "public, max-age=60"), f"{what}: Cache-Control {cache!r}"
    else:
        assert cache == "no-store", f"{what}: Cache-Control {cache!r}"
    if response.status_code in (204, 304):
        assert not response.content, what
        return
    # §1.5 every answer is JSON; errors carry a string detail
    assert headers.get("Content-Type", "").startswith("application/json"), (
        f"{what}: {headers.get('Content-Type')}"
    )
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], (
            f"{what}: {body}"
        )
        assert "Traceback" not in response.text and "/work/" not in response.text, what
    if response.status_code == 401:
        assert headers.get("WWW-Authenticate") == "Bearer", what
    if response.status_code == 429:
        assert body["detail"] == "Too many requests. Please try again later.", what
        assert headers.get("Retry-After", "").isdigit(), f"{what}: Retry-After {headers.get('Retry-After')!r}"
    for where, key, value in _walk(body):
        # §2.1 / §2.4: sensitive values are never returned, to anyone (the OpenAPI document names inputs)
        assert key not in SENSITIVE_KEYS or path == "/api/openapi.json", f"{what}: sensitive key at {where}"
        # §1.4 datetimes carry an explicit UTC offset
        if isinstance(value, str) and ISO_DATETIME.match(value):
            assert EXPLICIT_OFFSET.search(value), f"{what}: naive datetime {value!r} at {where}"


class Browser:
    """One browser tab of the site: ``localStorage`` tokens, and CORS when the site is on another origin.

    ``json=None`` means the site sends no body at all (and so no ``Content-Type``). When ``origin`` is set,
    every non-simple request (a bearer header, or a JSON body) is preceded by the preflight a browser sends,
    and every response must grant that origin.
    """

    def __init__(self, base: str, origin: str | None = None) -> None:
        self.base = base
        self.origin = origin
        self.http = requests.Session()
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.user: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    def store(self, token_response: dict[str, Any]) -> None:
        self.access_token = token_response["access_token"]
        self.refresh_token = token_response["refresh_token"]
        self.user = token_response["user"]

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        auth: bool | str = True,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        credentials: bool = False,
    ) -> requests.Response:
        sent: dict[str, str] = dict(headers or {})
        if auth is True and self.access_token:
            sent["Authorization"] = f"Bearer {self.access_token}"
        elif isinstance(auth, str):
            sent["Authorization"] = auth
        data: bytes | None = raw
        if json is not None:
            data = json_module.dumps(json).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        if self.origin:
            sent["Origin"] = self.origin
            non_simple = [name.lower() for name in sent if name.lower() in ("authorization", "content-type")]
            if non_simple or method not in ("GET", "HEAD", "POST"):
                self.preflight(method, path, non_simple)
        response = self.http.request(
            method,
            self.base + path,
            params=params,
            data=data,
            headers=sent,
            allow_redirects=False,
            timeout=30,
        )
        check_conventions(method, path, response)
        if self.origin:
            assert response.headers.get("Access-Control-Allow-Origin") == self.origin, f"{method} {path}"
            assert "Origin" in response.headers.get("Vary", ""), f"{method} {path}"
            if credentials:
                assert response.headers.get("Access-Control-Allow-Credentials") == "true"
        return response

    def preflight(self, method: str, path: str, request_headers: list[str]) -> requests.Response:
        response = self.http.options(
            self.base + path,
            headers={
                "Origin": self.origin or "",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ", ".join(request_headers),
            },
            timeout=30,
        )
        assert response.status_code == 204, f"preflight {method} {path}: {response.status_code}"
        allowed_methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
        assert method in allowed_methods
        allowed_headers = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert set(request_headers) <= allowed_headers
        assert response.headers.get("Access-Control-Allow-Origin") == self.origin
        assert response.headers.get("Access-Control-Max-Age") == "600"
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def tab(server: str) -> Iterator[Browser]:
    """The site on the API's own origin (the recommended deployment): no CORS involved."""
    browser = Browser(server)
    yield browser
    browser.close()


@pytest.fixture
def cross_tab(server: str) -> Iterator[Browser]:
    """The site on another, listed origin: every non-simple call is preflighted."""
    browser = Browser(server, origin=SITE_ORIGIN)
    yield browser
    browser.close()


def signed_up(server: str, email: str, name: str = "Pat Customer", origin: str | None = None) -> Browser:
    browser = Browser(server, origin=origin)
    response = browser.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 200, response.text
    browser.store(response.json())
    return browser


def detail_of(response: requests.Response) -> str:
    return response.json()["detail"]


# --------------------------------------------------------------------------------------------------------
# Catalogue fixtures


def camry(**fields: Any) -> Lot:
    values: dict[str, Any] = {
        "make": "Toyota",
        "model": "Camry",
        "year": 2025,
        "trim": "SE",
        "slug": "2025-toyota-camry-se",
        "vin": "4T1DAACK5SU000000",
        "engine": "2.5L I4 Hybrid",
        "transmission": "CVT",
        "drivetrain": "FWD",
        "exterior_color": "White",
        "interior_color": "Black",
        "competitor_prices": CompetitorPrices(
            autobandit=CompetitorPrice(
                monthly=Decimal(389),
                due_at_signing=Decimal(3500),
                term=36,
                updated_at=utcnow() - timedelta(days=2),
            )
        ),
    }
    values.update(fields)
    return make_lot(**values)


def money(value: Any) -> bool:
    """A JSON number (never a string, never a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------------
# §4.1 service


def test_hello_on_both_paths_and_health(tab: Browser) -> None:
    for path in ("/api", "/api/"):
        response = tab.get(path)
        assert response.status_code == 200
        assert response.json() == {"message": "Hello World"}

    health = tab.get("/api/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["checks"]["database"] == "ok"
    assert EXPLICIT_OFFSET.search(body["timestamp"])


# --------------------------------------------------------------------------------------------------------
# The whole site, page by page


def test_the_sites_flows_end_to_end(server: str) -> None:
    now = utcnow()
    main = camry()
    niro = make_lot(
        make="Kia",
        model="Niro",
        year=2024,
        trim="",
        slug="2024-kia-niro",
        published_at=now - timedelta(hours=1),
    )
    lexus = make_lot(
        make="Lexus",
        model="RX350",
        year=2025,
        trim="Premium",
        slug="2025-lexus-rx350-premium",
        msrp=Decimal(52000),
        discount=Decimal(4000),
        lease=LeaseTerms(
            monthly=Decimal(610), due_at_signing=Decimal(3999), term_months=36, miles_per_year=7500
        ),
        finance=FinanceTerms(apr=Decimal("4.9"), term_months=72, down_payment=Decimal(5000)),
        published_at=now - timedelta(days=2),
    )
    due_scheduled = make_lot(
        slug="2025-toyota-camry-le-due",
        status="scheduled",
        published_at=None,
        publish_at=now - timedelta(minutes=5),
    )
    hidden = [
        make_lot(slug="draft-lot", status="draft", published_at=None),
        make_lot(slug="archived-lot", status="archived"),
        make_lot(slug="sold-lot", status="sold"),
        make_lot(slug="deleted-lot", status="deleted"),
        make_lot(
            slug="future-lot", status="scheduled", published_at=None, publish_at=now + timedelta(days=1)
        ),
    ]
    site = Browser(server, origin=SITE_ORIGIN)

    # ---- Home page: the offer grid (§4.2.1) — a simple GET, no token yet
    grid = site.get("/api/cars")
    assert grid.status_code == 200
    cars = grid.json()
    assert isinstance(cars, list)
    slugs = [car["id"] for car in cars]
    assert set(slugs) == {main.slug, niro.slug, lexus.slug, due_scheduled.slug}
    assert slugs.index(main.slug) < slugs.index(lexus.slug)  # newest publication first
    for car in cars:
        assert LIST_KEYS <= set(car), car
        assert car["id"] == car["slug"]
        assert not car["title"].endswith(" ") and "  " not in car["title"]
        for key in ("msrp", "fleet", "savings", "dealer_addons", "stockLeft"):
            assert whole(car[key]), (key, car[key])
        assert car["stockLeft"] == 1 and car["dealer"] == "Fleet Dealer"
        assert set(car["lease"]) >= {"monthly", "dueAtSigning", "termMonths", "milesPerYear"}
        assert set(car["finance"]) >= {"apr", "termMonths", "downPayment"}
        assert all(money(v) for v in (*car["lease"].values(), *car["finance"].values()))
    by_slug = {car["id"]: car for car in cars}
    card = by_slug[main.slug]
    assert card["title"] == "2025 Toyota Camry SE"
    assert by_slug[niro.slug]["title"] == "2024 Kia Niro"
    assert (card["msrp"], card["discount"], card["fleet"], card["savings"]) == (32500, 3100, 29400, 3100)
    assert card["lease"] == {
        "monthly": 329,
        "dueAtSigning": 2999,
        "termMonths": 36,
        "milesPerYear": 10000,
        "incentives": 500,
    }
    assert card["finance"] == {"apr": 3.9, "termMonths": 60, "downPayment": 3000}
    assert card["endsAt"] is None or EXPLICIT_OFFSET.search(card["endsAt"])

    # ---- Car page (§4.2.2): every card opens; the price-breakdown dialog reads the CA row
    for car in cars:
        page = site.get(f"/api/cars/{car['id']}")
        assert page.status_code == 200, car["id"]
        detail = page.json()
        assert DETAIL_KEYS <= set(detail)
        for key in LIST_KEYS:
            assert detail[key] == car[key], key
        assert isinstance(detail["gallery"], list) and detail["gallery"]
        assert all(isinstance(url, str) for url in detail["gallery"])
        assert isinstance(detail["specs"], dict) and isinstance(detail["specs"]["year"], str)
        assert isinstance(detail["competitor_prices"], dict)
        assert detail["addonsAvg"] == car["fees_hint"]
    page = site.get(f"/api/cars/{main.slug}").json()
    assert page["specs"] == {
        "year": "2025",
        "make": "Toyota",
        "model": "Camry",
        "trim": "SE",
        "engine": "2.5L I4 Hybrid",
        "transmission": "CVT",
        "drivetrain": "FWD",
        "exteriorColor": "White",
        "interiorColor": "Black",
        "vin": "4T1DAACK5SU000000",
    }
    assert page["state"] == "CA"
    assert page["cash"] == {"incentives": 500, "total": 29400}
    assert set(page["competitor_prices"]) == {"autobandit"}
    assert page["competitor_prices"]["autobandit"]["monthly"] == 389
    assert set(page["competitor_prices"]["autobandit"]) == {"monthly", "dueAtSigning", "term", "updatedAt"}
    assert site.get(f"/api/cars/{main.pk}").json()["id"] == main.slug  # the 24-hex id works too
    for lot in hidden:
        missing = site.get(f"/api/cars/{lot.slug}")
        assert (missing.status_code, detail_of(missing)) == (404, "Car not found"), lot.slug
    assert detail_of(site.get("/api/cars/no-such-car")) == "Car not found"
    ca = site.get("/api/tax-fees/CA").json()
    assert (ca["sales_tax_rate"], ca["dmv_registration"], ca["doc_fee"]) == (7.25, 65, 85)

    # ---- Sign-in page, Register tab (§4.4.1), then Login tab (§4.4.2)
    registered = site.post(
        "/api/auth/register",
        json={"email": "  Pat.Customer@Example.COM ", "password": PASSWORD, "name": " Pat "},
    )
    assert registered.status_code == 200, registered.text
    tokens = registered.json()
    assert tokens["ok"] is True and tokens["message"] == "User registered successfully"
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 1800
    assert isinstance(tokens["access_token"], str) and isinstance(tokens["refresh_token"], str)
    assert tokens["user"]["email"] == "pat.customer@example.com"
    assert tokens["user"]["role"] == "user" and tokens["user"]["profile_completed"] is False
    again = site.post(
        "/api/auth/register", json={"email": "PAT.customer@example.com", "password": PASSWORD, "name": "Pat"}
    )
    assert (again.status_code, detail_of(again)) == (400, "User with this email already exists")
    wrong = site.post(
        "/api/auth/login", json={"email": "pat.customer@example.com", "password": "not-the-one-123"}
    )
    assert (wrong.status_code, detail_of(wrong)) == (401, "Invalid email or password")
    login = site.post("/api/auth/login", json={"email": "Pat.Customer@example.com", "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["message"] == "Logged in successfully"
    assert login.json()["user"]["last_login"] is not None
    site.store(login.json())

    # ---- Every page load: /api/auth/me (§4.4.3)
    me = site.get("/api/auth/me")
    assert me.status_code == 200
    user = me.json()
    assert USER_KEYS <= set(user)
    assert HEX24.match(user["id"]) and user["name"] == "Pat" and user["picture"] == ""
    assert user["ssn_on_file"] is False and user["is_active"] is True

    # ---- Dashboard banner → profile wizard, final step (§4.5.2)
    saved = site.put("/api/user/profile", json=WIZARD_BODY)
    assert saved.status_code == 200, saved.text
    profile = saved.json()
    assert profile["profile_completed"] is True
    assert (profile["credit_score"], profile["annual_income"], profile["employment_duration_months"]) == (
        715,
        98000,
        None,
    )
    assert profile["ssn_on_file"] is False
    with_ssn = site.put("/api/user/profile", json={"ssn": "123-45-6780"})
    assert with_ssn.json()["ssn_on_file"] is True
    kept = site.put("/api/user/profile", json=WIZARD_BODY).json()
    assert kept["ssn_on_file"] is True  # ``ssn: ""`` keeps the stored number
    assert "123-45-6780" not in site.get("/api/user/profile").text
    assert site.get("/api/user/profile").json() == site.get("/api/auth/me").json()

    # ---- Car page "Apply for Financing" (§4.6.1): query lot_id, null body, no Content-Type
    applied = site.post("/api/applications", params={"lot_id": main.slug})
    assert applied.status_code == 200, applied.text
    assert applied.json()["ok"] is True and applied.json()["message"] == "Application submitted successfully"
    application_id = applied.json()["application_id"]
    assert HEX24.match(application_id)
    twice = site.post("/api/applications", params={"lot_id": main.slug})
    assert (twice.status_code, detail_of(twice)) == (
        400,
        "You already have an open application for this vehicle",
    )

    # ---- Offer card "Reserve Price" (§4.7.1): the site's JSON, with client prices and deposit_paid
    lexus_card = by_slug[lexus.slug]
    reserve_body = {
        "lot_slug": lexus_card["slug"],
        "reserved_price": lexus_card["fleet"] - 5000,  # a client hint the server must not trust
        "monthly_payment": lexus_card["lease"]["monthly"],
        "due_at_signing": lexus_card["lease"]["dueAtSigning"],
        "deposit_paid": False,
    }
    reserved = site.post("/api/reservations", json=reserve_body)
    assert reserved.status_code == 200, reserved.text
    hold = reserved.json()
    assert hold["ok"] is True and hold["message"] == "Price reserved for 48 hours"
    expires = datetime.fromisoformat(hold["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (utcnow() + timedelta(hours=48))) < timedelta(minutes=2)
    duplicate = site.post("/api/reservations", json=reserve_body)
    assert (duplicate.status_code, detail_of(duplicate)) == (
        400,
        "You already have an active reservation for this vehicle",
    )
    niro_card = by_slug[niro.slug]
    other_hold = site.post(
        "/api/reservations",
        json={
            "lot_slug": niro_card["slug"],
            "reserved_price": niro_card["fleet"],
            "monthly_payment": 512.37,  # a finance payment the site computed itself
            "due_at_signing": 3000,
            "deposit_paid": False,
        },
    )
    assert other_hold.status_code == 200

    # ---- Dashboard lists (§4.6.2, §4.7.2)
    listed = site.get("/api/applications").json()
    assert set(listed) == {"applications", "total"} and listed["total"] == 1
    first = listed["applications"][0]
    assert APPLICATION_KEYS <= set(first)
    assert first["id"] == application_id and first["status"] == "pending"
    assert first["lot_data"]["year"] == 2025 and first["lot_data"]["make"] == "Toyota"
    assert first["lot_data"]["model"] == "Camry" and first["lot_data"]["fleet_price"] == 29400
    assert first["approval_details"] is None and first["contract_sent"] is False
    assert first["pickup_status"] is None and first["pickup_slot"] is None
    holds = site.get("/api/reservations").json()
    assert set(holds) == {"reservations", "total"} and holds["total"] == 2
    lexus_hold = next(r for r in holds["reservations"] if r["id"] == hold["reservation_id"])
    assert RESERVATION_KEYS <= set(lexus_hold)
    assert lexus_hold["status"] == "active" and lexus_hold["lot_slug"] == lexus.slug
    assert lexus_hold["reserved_price"] == 48000  # the server's fleet price, not the hint
    assert (lexus_hold["monthly_payment"], lexus_hold["due_at_signing"]) == (610, 3999)
    assert lexus_hold["deposit_amount"] == 97.49 and lexus_hold["deposit_paid"] is False
    assert lexus_hold["application_id"] is None

    # ---- Dashboard: "Cancel" one hold, "Apply for Financing" on the other (§4.7.3, §4.7.4)
    cancelled = site.delete(f"/api/reservations/{other_hold.json()['reservation_id']}")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"ok": True, "message": "Reservation cancelled"}
    converted = site.post(f"/api/reservations/{hold['reservation_id']}/convert")
    assert converted.status_code == 200, converted.text
    assert (
        converted.json()["ok"] is True and converted.json()["message"] == "Application submitted successfully"
    )
    after = {r["id"]: r for r in site.get("/api/reservations").json()["reservations"]}
    assert after[hold["reservation_id"]]["status"] == "converted"
    assert after[hold["reservation_id"]]["application_id"] == converted.json()["application_id"]
    assert after[other_hold.json()["reservation_id"]]["status"] == "cancelled"
    not_active = site.delete(f"/api/reservations/{hold['reservation_id']}")
    assert (not_active.status_code, detail_of(not_active)) == (400, "Reservation is not active")
    apps = {a["id"]: a for a in site.get("/api/applications").json()["applications"]}
    from_hold = apps[converted.json()["application_id"]]
    assert from_hold["lot_data"]["fleet_price"] == lexus_hold["reserved_price"]
    assert from_hold["reservation_id"] == hold["reservation_id"]

    # ---- Dashboard sidebar trade-in form (§4.6.3)
    trade_body = {
        "vin": "",
        "year": 2024,
        "make": "Honda",
        "model": "Civic",
        "mileage": 20000,
        "condition": "excellent",
        "photos": [],
    }
    traded = site.post(f"/api/applications/{application_id}/trade-in", json=trade_body)
    assert traded.status_code == 200, traded.text
    age = max(0, datetime.now(PACIFIC).year - 2024)
    factor = Decimal(1) - Decimal("0.15") * age - Decimal("0.20") * Decimal(20000) / Decimal(100000)
    expected = max(0, int((Decimal(30000) * factor).to_integral_value(rounding=ROUND_FLOOR)))
    assert traded.json() == {"ok": True, "trade_in_value": expected, "message": "Trade-in added successfully"}
    empty_mileage = site.post(
        f"/api/applications/{application_id}/trade-in", json={**trade_body, "mileage": None}
    )
    assert (empty_mileage.status_code, detail_of(empty_mileage)) == (422, "mileage is required")

    # ---- Schedule-pickup page before approval, then after a finance manager approves (§4.6.5, §4.6.6)
    slots = site.get("/api/admin/pickup-slots")
    assert slots.status_code == 200
    offered = slots.json()["slots"]
    early = site.post(
        f"/api/applications/{application_id}/schedule-pickup", json={"pickup_slot": offered[0]["datetime"]}
    )
    assert (early.status_code, detail_of(early)) == (400, "Application must be approved first")
    manager = make_user(role="finance_manager", email="fm.contract@example.com")
    application_review.approve(
        application_id,
        actor=audit.actor_for(manager),
        apr=Decimal("3.9"),
        loan_term=60,
        down_payment=Decimal(3000),
        monthly_payment=Decimal("512.40"),
        admin_notes="Bring your licence.",
    )
    approved = {a["id"]: a for a in site.get("/api/applications").json()["applications"]}[application_id]
    assert approved["status"] == "approved" and approved["pickup_status"] == "ready_for_pickup"
    assert approved["pickup_slot"] is None and approved["admin_notes"] == "Bring your licence."
    terms = approved["approval_details"]
    assert (terms["apr"], terms["money_factor"], terms["loan_term"]) == (3.9, None, 60)
    assert (terms["down_payment"], terms["monthly_payment"]) == (3000, 512.4)
    assert approved["trade_in"]["kbb_value"] == expected

    offered = site.get("/api/admin/pickup-slots").json()["slots"]
    assert offered and all(slot["available"] is True for slot in offered)
    for slot in offered:
        start = datetime.fromisoformat(slot["datetime"].replace("Z", "+00:00"))
        local = start.astimezone(PACIFIC)
        assert start.utcoffset() == timedelta(0) and start > utcnow()
        assert local.weekday() != 6 and 9 <= local.hour <= 16 and local.minute == 0
        assert slot["display"] == local.strftime("%A, %B %d at %I:%M %p")
    assert [slot["datetime"] for slot in offered] == sorted(slot["datetime"] for slot in offered)
    chosen = offered[1]["datetime"]  # not the very next start, which could begin while the test runs
    booked = site.post(f"/api/applications/{application_id}/schedule-pickup", json={"pickup_slot": chosen})
    assert booked.status_code == 200, booked.text
    assert booked.json() == {
        "ok": True,
        "message": "Pickup time scheduled successfully",
        "pickup_slot": chosen,
    }
    assert chosen not in [slot["datetime"] for slot in site.get("/api/admin/pickup-slots").json()["slots"]]
    again = site.post(
        f"/api/applications/{application_id}/schedule-pickup", json={"pickup_slot": offered[2]["datetime"]}
    )
    assert (again.status_code, detail_of(again)) == (400, "Pickup already scheduled")
    scheduled = {a["id"]: a for a in site.get("/api/applications").json()["applications"]}[application_id]
    assert scheduled["pickup_status"] == "scheduled" and scheduled["pickup_slot"] == chosen

    # ---- Car page "Model Alerts" box (§4.8): create, list, delete
    subscribed = site.post(
        "/api/subscriptions",
        json={
            "makes": [lexus_card["make"]],
            "models": [lexus_card["model"]],
            "max_price": None,
            "phone": None,
            "telegram_id": None,
            "notify_email": True,
            "notify_sms": False,
            "notify_telegram": False,
        },
    )
    assert subscribed.status_code == 200, subscribed.text
    assert subscribed.json()["ok"] is True and subscribed.json()["message"] == "Subscribed to Lexus, RX350"
    subscription_id = subscribed.json()["subscription_id"]
    alerts = site.get("/api/subscriptions").json()
    assert set(alerts) == {"subscriptions", "total"} and alerts["total"] == 1
    alert = alerts["subscriptions"][0]
    assert SUBSCRIPTION_KEYS <= set(alert)
    assert (alert["id"], alert["makes"], alert["models"], alert["max_price"]) == (
        subscription_id,
        ["Lexus"],
        ["RX350"],
        None,
    )
    assert alert["email"] == "pat.customer@example.com" and alert["notify_email"] is True
    stranger = signed_up(server, "stranger@example.com", origin=SITE_ORIGIN)
    refused = stranger.delete(f"/api/subscriptions/{subscription_id}")
    assert (refused.status_code, detail_of(refused)) == (403, "Not authorized")
    stranger.close()
    removed = site.delete(f"/api/subscriptions/{subscription_id}")
    assert removed.json() == {"ok": True, "message": "Unsubscribed successfully"}
    assert site.get("/api/subscriptions").json() == {"subscriptions": [], "total": 0}

    # ---- Car page "Get Your Offer" (§4.10.1) and dashboard "Request Callback" (§4.10.2)
    lead = site.post(
        "/api/lead",
        auth=False,
        json={
            "name": "Pat Customer",
            "phone": "(949) 555-0134",
            "email": "pat.customer@example.com",
            "message": "",
            "consent": True,
            "carId": card["id"],
            "carTitle": card["title"],
        },
    )
    assert lead.status_code == 200, lead.text
    assert lead.json()["ok"] is True and HEX24.match(lead.json()["id"])
    callback = site.post("/api/callback-request", json={"phone": "9495550134", "preferred_time": "asap"})
    assert callback.status_code == 200
    assert callback.json()["ok"] is True and callback.json()["message"] == "Callback requested"

    # ---- Lot editor's OTD preview (§4.10.3) and the preview page (§4.2.3)
    calc = site.post(
        "/api/calc",
        auth=False,
        json={"msrp": 30000, "state": "CA", "creditScore": "good", "downPayment": 0, "term": 60},
    )
    assert calc.json() == {"estOtdoor": 32382, "tax": 2175, "fees": 206.75, "apr": 3.5, "monthlyPayment": 589}
    editor = make_user(role="editor", email="editor.contract@example.com")
    token = previews.create_preview(lot_id=main.pk, actor=audit.actor_for(editor))
    preview = site.get(f"/api/preview/{token}")
    assert preview.status_code == 200
    assert preview.headers["X-Robots-Tag"] == "noindex, nofollow"
    shown = preview.json()
    assert (shown["id"], shown["previewToken"], shown["isPreview"]) == (f"preview-{token}", token, True)
    assert shown["dealer"] == "Fleet Preview" and shown["slug"] == main.slug
    assert shown["lease"] == card["lease"] and shown["finance"] == card["finance"]
    assert isinstance(shown["gallery"], list) and isinstance(shown["specs"]["year"], str)
    for per_state in ("CA", "NV", "AZ", "OR"):
        assert site.get(f"/api/tax-fees/{per_state}").status_code == 200

    # ---- Header "Logout" (§4.4.4): JSON {} in credentials mode; the old tokens stop working
    old_access, old_refresh = site.access_token, site.refresh_token
    logged_out = site.post("/api/auth/logout", json={}, credentials=True)
    assert logged_out.json() == {"ok": True, "message": "Logged out successfully"}
    rejected = site.get("/api/auth/me", auth=f"Bearer {old_access}")
    assert (rejected.status_code, detail_of(rejected)) == (401, "Invalid or expired token")
    no_refresh = site.post("/api/auth/refresh", auth=False, json={"refresh_token": old_refresh})
    assert (no_refresh.status_code, detail_of(no_refresh)) == (401, "Invalid or expired refresh token")
    site.close()


# --------------------------------------------------------------------------------------------------------
# §1.2 where parameters come from


def test_apply_accepts_a_json_null_body_and_a_json_object(server: str) -> None:
    lot_a, lot_b = camry(), make_lot(slug="2025-honda-accord-ex", make="Honda", model="Accord", trim="EX")
    customer = signed_up(server, "null.body@example.com")
    assert customer.put("/api/user/profile", json=WIZARD_BODY).json()["profile_completed"] is True
    # axios sends a literal ``null`` with a JSON content type when the data argument is null
    with_null = customer.post(
        "/api/applications",
        params={"lot_id": lot_a.slug},
        raw=b"null",
        headers={"Content-Type": "application/json"},
    )
    assert with_null.status_code == 200, with_null.text
    by_json = customer.post("/api/applications", json={"lot_id": str(lot_b.pk)})
    assert by_json.status_code == 200, by_json.text
    missing = customer.post("/api/applications")
    assert (missing.status_code, detail_of(missing)) == (422, "lot_id is required")
    customer.close()


def test_apply_checks_come_in_the_contracts_order(server: str) -> None:
    lot = camry()
    draft = make_lot(slug="draft-only", status="draft", published_at=None)
    customer = signed_up(server, "order@example.com")
    incomplete = customer.post("/api/applications", params={"lot_id": "no-such-car"})
    assert (incomplete.status_code, detail_of(incomplete)) == (
        400,
        "Please complete your profile before applying",
    )
    customer.put("/api/user/profile", json=WIZARD_BODY)
    for ref in ("no-such-car", draft.slug, str(draft.pk)):
        missing = customer.post("/api/applications", params={"lot_id": ref})
        assert (missing.status_code, detail_of(missing)) == (404, "Car not found"), ref
    assert customer.post("/api/applications", params={"lot_id": lot.slug}).status_code == 200
    customer.close()


def test_body_wins_over_query_and_the_query_form_works(server: str) -> None:
    lot_a, lot_b = (
        camry(),
        make_lot(slug="2025-mazda-cx5-touring", make="Mazda", model="CX-5", trim="Touring"),
    )
    customer = signed_up(server, "both.places@example.com")
    both = customer.post(
        "/api/reservations", params={"lot_slug": "no-such-car"}, json={"lot_slug": lot_a.slug}
    )
    assert both.status_code == 200, both.text
    by_query = customer.post("/api/reservations", params={"lot_slug": lot_b.slug, "monthly_payment": "329"})
    assert by_query.status_code == 200, by_query.text
    slugs = {r["lot_slug"] for r in customer.get("/api/reservations").json()["reservations"]}
    assert slugs == {lot_a.slug, lot_b.slug}

    # Subscriptions by query: repeated makes/models, booleans as true/false/1/0 in any case
    query = [
        ("makes", "Lexus"),
        ("makes", "Toyota"),
        ("models", "RX350"),
        ("notify_email", "FALSE"),
        ("notify_sms", "0"),
    ]
    created = customer.post("/api/subscriptions", params=query)
    assert created.status_code == 200, created.text
    assert created.json()["message"] == "Subscribed to Lexus, Toyota, RX350"
    alert = customer.get("/api/subscriptions").json()["subscriptions"][0]
    assert (alert["makes"], alert["notify_email"], alert["notify_sms"]) == (["Lexus", "Toyota"], False, False)
    nothing = customer.post("/api/subscriptions", json={"makes": [" "], "models": []})
    assert (nothing.status_code, detail_of(nothing)) == (422, "Choose at least one make or model")
    no_phone = customer.post("/api/subscriptions", json={"makes": ["Kia"], "notify_sms": True, "phone": None})
    assert (no_phone.status_code, detail_of(no_phone)) == (422, "A phone number is required for SMS alerts")
    customer.close()


def test_schedule_pickup_by_query_string_and_its_refusals(server: str) -> None:
    lot = camry()
    owner = signed_up(server, "owner.pickup@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
    manager = make_user(role="finance_manager", email="fm.query@example.com")
    application_review.approve(
        application_id,
        actor=audit.actor_for(manager),
        money_factor=Decimal("0.00125"),
        loan_term=36,
        down_payment=0,
        monthly_payment=Decimal(399),
    )
    offered = owner.get("/api/admin/pickup-slots").json()["slots"]
    path = f"/api/applications/{application_id}/schedule-pickup"
    for bad in ({"pickup_slot": "next tuesday"}, {"pickup_slot": None}, {}):
        refused = owner.post(path, json=bad)
        assert (refused.status_code, detail_of(refused)) == (400, "Invalid datetime format")
    unknown = owner.post(
        "/api/applications/0123456789abcdef01234567/schedule-pickup",
        json={"pickup_slot": offered[0]["datetime"]},
    )
    assert (unknown.status_code, detail_of(unknown)) == (404, "Application not found")
    intruder = signed_up(server, "intruder.pickup@example.com")
    stolen = intruder.post(path, json={"pickup_slot": offered[0]["datetime"]})
    assert (stolen.status_code, detail_of(stolen)) == (403, "Not authorized")
    intruder.close()
    off_grid = datetime.fromisoformat(offered[0]["datetime"].replace("Z", "+00:00")) + timedelta(minutes=30)
    not_offered = owner.post(path, json={"pickup_slot": off_grid.isoformat()})
    assert (not_offered.status_code, detail_of(not_offered)) == (400, "Selected time is not available")
    # The same instant written with a Pacific offset, sent in the query string (with a null body)
    start = datetime.fromisoformat(offered[2]["datetime"].replace("Z", "+00:00")).astimezone(PACIFIC)
    booked = owner.post(path, params={"pickup_slot": start.isoformat()})
    assert booked.status_code == 200, booked.text
    assert booked.json()["pickup_slot"] == offered[2]["datetime"]
    terms = owner.get("/api/applications").json()["applications"][0]["approval_details"]
    assert terms["apr"] is None and terms["money_factor"] == 0.00125
    owner.close()


def test_pickup_slots_query_parameters(server: str) -> None:
    customer = signed_up(server, "slots@example.com")
    anonymous = customer.get("/api/admin/pickup-slots", auth=False)
    assert (anonymous.status_code, detail_of(anonymous)) == (401, "Authentication required")
    later = (datetime.now(PACIFIC) + timedelta(days=30)).date()
    listed = customer.get(
        "/api/admin/pickup-slots", params={"date": later.isoformat(), "application_id": "whatever"}
    )
    assert listed.status_code == 200
    days = {
        datetime.fromisoformat(s["datetime"].replace("Z", "+00:00")).astimezone(PACIFIC).date()
        for s in listed.json()["slots"]
    }
    assert min(days) >= later and max(days) < later + timedelta(days=14)
    assert len(listed.json()["slots"]) == 96  # 12 open days × 8 hourly starts
    bad = customer.get("/api/admin/pickup-slots", params={"date": "17/11/2025"})
    assert (bad.status_code, detail_of(bad)) == (400, "Invalid date format")
    customer.close()


# --------------------------------------------------------------------------------------------------------
# §1.3 authentication edge cases


BEARER_ENDPOINTS = [
    ("GET", "/api/auth/me"),
    ("GET", "/api/user/profile"),
    ("PUT", "/api/user/profile"),
    ("POST", "/api/applications"),
    ("GET", "/api/applications"),
    ("GET", "/api/admin/pickup-slots"),
    ("POST", "/api/reservations"),
    ("GET", "/api/reservations"),
    ("POST", "/api/subscriptions"),
    ("GET", "/api/subscriptions"),
    ("POST", "/api/callback-request"),
    ("POST", "/api/appointments"),
]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Bearer null", "Bearer undefined"])
def test_missing_tokens_are_authentication_required(tab: Browser, header: str | None) -> None:
    for method, path in BEARER_ENDPOINTS:
        sent = {} if header is None else {"Authorization": header}
        response = tab.call(method, path, auth=False, headers=sent, json={} if method != "GET" else None)
        assert (response.status_code, detail_of(response)) == (401, "Authentication required"), (method, path)


def test_bad_refresh_and_deactivated_tokens(server: str, tab: Browser) -> None:
    customer = signed_up(server, "tokens@example.com")
    for token in ("garbage", customer.refresh_token, customer.access_token + "x"):
        response = tab.get("/api/auth/me", auth=f"Bearer {token}")
        assert (response.status_code, detail_of(response)) == (401, "Invalid or expired token")
    # Refresh rotates both tokens; the old refresh token is then refused
    rotated = tab.post("/api/auth/refresh", auth=False, json={"refresh_token": customer.refresh_token})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["message"] == "Token refreshed"
    assert rotated.json()["refresh_token"] != customer.refresh_token
    reused = tab.post("/api/auth/refresh", auth=False, json={"refresh_token": customer.refresh_token})
    assert (reused.status_code, detail_of(reused)) == (401, "Invalid or expired refresh token")
    by_header = tab.post("/api/auth/refresh", auth=f"Bearer {customer.access_token}")
    assert (by_header.status_code, detail_of(by_header)) == (401, "Invalid or expired refresh token")
    none_given = tab.post("/api/auth/refresh", auth=False, json={})
    assert none_given.status_code == 422

    other = signed_up(server, "deactivated@example.com")
    User.objects(email="deactivated@example.com").update_one(set__is_active=False)
    response = tab.get("/api/auth/me", auth=f"Bearer {other.access_token}")
    assert (response.status_code, detail_of(response)) == (401, "Account is deactivated")
    login = tab.post(
        "/api/auth/login", auth=False, json={"email": "deactivated@example.com", "password": PASSWORD}
    )
    assert (login.status_code, detail_of(login)) == (403, "Account is deactivated")
    customer.close()
    other.close()


def test_auth_none_endpoints_ignore_any_authorization_header(tab: Browser) -> None:
    lot = camry()
    for header in ("Bearer null", "Bearer undefined", "Bearer not-a-jwt", "Basic abc"):
        assert tab.get("/api/cars", auth=header).status_code == 200
        assert tab.get(f"/api/cars/{lot.slug}", auth=header).status_code == 200
        assert tab.get("/api/tax-fees/CA", auth=header).status_code == 200
        assert tab.post("/api/calc", auth=header, json={"msrp": 1000, "state": "TX"}).status_code == 200
    logout = tab.post("/api/auth/logout", auth="Bearer not-a-jwt", json={})
    assert logout.json() == {"ok": True, "message": "Logged out successfully"}
    assert tab.post("/api/auth/logout", auth=False).status_code == 200


def test_login_validation_and_magic_link(tab: Browser) -> None:
    short = tab.post(
        "/api/auth/register", json={"email": "short@example.com", "password": "abc", "name": "S"}
    )
    assert (short.status_code, detail_of(short)) == (422, "Password must be at least 8 characters")
    no_name = tab.post("/api/auth/register", json={"email": "noname@example.com", "password": PASSWORD})
    assert no_name.status_code == 422 and "name" in detail_of(no_name)
    no_password = tab.post("/api/auth/login", json={"email": "someone@example.com"})
    assert no_password.status_code == 422
    sent = tab.post("/api/auth/magic", json={"email": "nobody@example.com"})
    assert sent.status_code == 200
    assert sent.json() == {"ok": True, "message": "Magic link sent to your email"}
    assert tab.post("/api/auth/magic", json={"email": "not an address"}).status_code == 422
    unknown = tab.post("/api/auth/verify", json={"token": "x" * 43})
    assert (unknown.status_code, detail_of(unknown)) == (404, "Invalid or expired magic link")


def test_oauth_exchange_refuses_a_missing_session_in_credentials_mode(cross_tab: Browser) -> None:
    response = cross_tab.post("/api/auth/oauth/session", auth=False, json={}, credentials=True)
    assert (response.status_code, detail_of(response)) == (400, "session_id is required")


# --------------------------------------------------------------------------------------------------------
# §1.2 malformed ids, §1.5 error bodies


def test_malformed_and_unknown_ids_are_404(server: str) -> None:
    customer = signed_up(server, "ids@example.com")
    for bad in ("not-an-id", "123", "0123456789abcdef01234567", "zzzzzzzzzzzzzzzzzzzzzzzz"):
        cases = [
            (
                "POST",
                f"/api/applications/{bad}/trade-in",
                {"year": 2020, "make": "A", "model": "B", "mileage": 1, "condition": "good"},
                "Application not found",
            ),
            ("GET", f"/api/applications/{bad}/auto-alternatives", None, "Application not found"),
            (
                "POST",
                f"/api/applications/{bad}/schedule-pickup",
                {"pickup_slot": "2030-01-07T17:00:00Z"},
                "Application not found",
            ),
            ("DELETE", f"/api/reservations/{bad}", None, "Reservation not found"),
            ("POST", f"/api/reservations/{bad}/convert", None, "Reservation not found"),
            ("DELETE", f"/api/subscriptions/{bad}", None, "Subscription not found"),
            ("GET", f"/api/cars/{bad}", None, "Car not found"),
            ("GET", f"/api/preview/{bad}", None, "Preview not found or expired"),
        ]
        for method, path, body, message in cases:
            response = customer.call(method, path, json=body)
            assert (response.status_code, detail_of(response)) == (404, message), (method, path)
    appointment = customer.post(
        "/api/appointments",
        json={
            "application_id": "not-an-id",
            "appointment_type": "video",
            "date": "2099-01-05",
            "time": "10:00 AM",
        },
    )
    assert (appointment.status_code, detail_of(appointment)) == (404, "Application not found")
    customer.close()


def test_error_bodies_are_json_with_a_string_detail(tab: Browser) -> None:
    unknown = tab.get("/api/no/such/route")
    assert unknown.status_code == 404
    wrong_method = tab.call("PATCH", "/api/cars")
    assert wrong_method.status_code == 405
    malformed = tab.post("/api/lead", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert (malformed.status_code, detail_of(malformed)) == (400, "Malformed JSON body")
    customer_body = tab.post(
        "/api/auth/register", json={"email": "errors@example.com", "password": PASSWORD, "name": "E"}
    )
    tab.store(customer_body.json())
    out_of_range = tab.put("/api/user/profile", json={"credit_score": 900})
    assert (out_of_range.status_code, detail_of(out_of_range)) == (
        422,
        "credit_score must be an integer between 300 and 850",
    )
    as_text = tab.put("/api/user/profile", json={"credit_score": "720", "annual_income": "85000"})
    assert as_text.status_code == 200
    assert (as_text.json()["credit_score"], as_text.json()["annual_income"]) == (720, 85000)


def test_rate_limit_on_the_lead_form_is_per_path(tab: Browser) -> None:
    body = {
        "name": "Spam",
        "phone": "3105550100",
        "email": "spam@example.com",
        "consent": True,
        "carId": "x",
        "carTitle": "X",
    }
    statuses = [tab.post("/api/lead", json=body).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert tab.post("/api/calc", json={"msrp": 1000, "state": "CA"}).status_code == 200


def test_lead_form_rules(tab: Browser) -> None:
    base = {
        "name": "Lee",
        "phone": "(310) 555-0101",
        "email": "lee@example.com",
        "message": "",
        "consent": True,
        "carId": "demo-1",
        "carTitle": "Demo",
    }
    refused = tab.post("/api/lead", json={**base, "consent": False})
    assert (refused.status_code, detail_of(refused)) == (422, "Consent is required")
    bad_phone = tab.post("/api/lead", json={**base, "phone": "555-01"})
    assert bad_phone.status_code == 422 and "phone" in detail_of(bad_phone)
    trapped = tab.post("/api/lead", json={**base, "website": "http://spam.example"})
    assert trapped.status_code == 200 and trapped.json()["ok"] is True


# --------------------------------------------------------------------------------------------------------
# §1.6 CORS


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/reservations", "/api/no/such/path", "/api"])
def test_preflights_answer_204_for_listed_and_unlisted_origins(server: str, path: str) -> None:
    request_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with requests.Session() as http:
        listed = http.options(server + path, headers={"Origin": SITE_ORIGIN, **request_headers}, timeout=30)
        assert listed.status_code == 204
        assert listed.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
        assert listed.headers["Access-Control-Allow-Credentials"] == "true"
        assert listed.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        assert listed.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
        assert listed.headers["Access-Control-Max-Age"] == "600"
        assert "Origin" in listed.headers["Vary"]
        unlisted = http.options(
            server + path, headers={"Origin": FOREIGN_ORIGIN, **request_headers}, timeout=30
        )
        assert unlisted.status_code == 204
        # "An origin not in the list gets no CORS headers" (§1.6), on the preflight too
        assert not [name for name in unlisted.headers if name.lower().startswith("access-control-")]
        tool = http.options(server + path, timeout=30)  # not a browser preflight: no Origin at all
        assert tool.status_code == 204 and tool.headers["Access-Control-Max-Age"] == "600"


def test_unlisted_origin_gets_no_cors_headers_on_real_requests(server: str) -> None:
    camry()
    with requests.Session() as http:
        response = http.get(server + "/api/cars", headers={"Origin": FOREIGN_ORIGIN}, timeout=30)
        check_conventions("GET", "/api/cars", response)
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
        for_site = http.get(server + "/api/cars", headers={"Origin": SITE_ORIGIN}, timeout=30)
        assert for_site.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
        assert "Origin" in for_site.headers["Vary"]


# --------------------------------------------------------------------------------------------------------
# §4.3 the tax-and-fee table, §4.10.3 calc, §4.2.3 preview, §4.6.4 alternatives


def test_tax_fee_table_exactly(tab: Browser) -> None:
    ca = tab.get("/api/tax-fees/ca")
    assert list(ca.json().items()) == [
        ("state_code", "CA"),
        ("state_name", "California"),
        ("sales_tax_rate", 7.25),
        ("dmv_registration", 65),
        ("title_fee", 23),
        ("doc_fee", 85),
        ("tire_fee", 8.75),
        ("smog_fee", 25),
        ("local_tax_note", "Local tax rates vary by county (typically 1-2.5%)"),
        ("total_estimate_note", "Total may vary based on county and city"),
    ]
    fallback = tab.get("/api/tax-fees/zz").json()
    assert (fallback["state_code"], fallback["state_name"]) == ("ZZ", "ZZ")
    assert (
        fallback["sales_tax_rate"],
        fallback["dmv_registration"],
        fallback["title_fee"],
        fallback["doc_fee"],
    ) == (7.0, 100, 50, 150)
    assert fallback["note"] == "State-specific data not available. Showing estimates."
    assert detail_of(tab.get("/api/tax-fees/CAL")) == "State not found"
    table = tab.get("/api/tax-fees").json()
    assert [row["state_code"] for row in table["states"]] == ["CA", "TX", "FL", "NY", "AZ", "NV", "WA", "OR"]
    assert table["total"] == 8
    for row in table["states"]:
        for key, value in row.items():
            if not key.endswith("note") and key not in ("state_code", "state_name"):
                assert money(value), (row["state_code"], key)
    texas = table["states"][1]
    assert texas["inspection_fee"] == 25.5 and "tire_fee" not in texas


def test_calc_defaults_and_validation(tab: Browser) -> None:
    estimate = tab.post("/api/calc", json={"msrp": 25000, "state": "OR"}).json()
    assert estimate["tax"] == 0 and estimate["apr"] == 4.5
    assert estimate["fees"] == 122 + 77 + 115 + 25
    assert estimate["estOtdoor"] == 25000 + 339
    rate = Decimal("4.5") / 1200
    expected = Decimal(25339) * rate / (1 - (1 + rate) ** -60)
    assert estimate["monthlyPayment"] == int(expected.to_integral_value())
    for bad in (
        {"state": "CA"},
        {"msrp": 0, "state": "CA"},
        {"msrp": 1000, "state": "California"},
        {"msrp": 1000, "state": "CA", "term": 6},
    ):
        assert tab.post("/api/calc", json=bad).status_code == 422, bad


def test_preview_of_unsaved_data_and_expiry(tab: Browser) -> None:
    editor = make_user(role="editor", email="editor.snapshot@example.com")
    snapshot = {
        "make": "Hyundai",
        "model": "Ioniq 5",
        "year": 2025,
        "trim": "",
        "msrp": 45000,
        "discount": 5000,
        "lease": {"monthly": 299, "due_at_signing": 3999, "term_months": 24, "miles_per_year": 10000},
        "finance": {"apr": 2.9, "term_months": 60, "down_payment": 2000},
    }
    token = previews.create_preview(snapshot=snapshot, actor=audit.actor_for(editor))
    shown = tab.get(f"/api/preview/{token}")
    assert shown.status_code == 200 and shown.headers["X-Robots-Tag"] == "noindex, nofollow"
    body = shown.json()
    assert body["slug"] == "2025-hyundai-ioniq-5-preview"
    assert body["title"] == "2025 Hyundai Ioniq 5"
    assert body["lease"] == {"monthly": 299, "dueAtSigning": 3999, "termMonths": 24, "milesPerYear": 10000}
    assert body["finance"] == {"apr": 2.9, "termMonths": 60, "downPayment": 2000}
    assert (body["fleet"], body["isPreview"]) == (40000, True)
    assert isinstance(body["gallery"], list) and body["gallery"] and body["specs"]["year"] == "2025"
    old = previews.create_preview(
        snapshot=snapshot, actor=audit.actor_for(editor), now=utcnow() - timedelta(hours=2, seconds=1)
    )
    expired = tab.get(f"/api/preview/{old}")
    assert (expired.status_code, detail_of(expired)) == (404, "Preview not found or expired")


def test_auto_alternatives_without_a_basis_and_with_one(server: str) -> None:
    zero = camry(
        lease=LeaseTerms(monthly=Decimal(0), due_at_signing=Decimal(0), term_months=36, miles_per_year=10000)
    )
    make_lot(
        slug="2025-kia-k5-gt",
        make="Kia",
        model="K5",
        trim="GT",
        lease=LeaseTerms(
            monthly=Decimal(350), due_at_signing=Decimal(0), term_months=36, miles_per_year=10000
        ),
    )
    owner = signed_up(server, "alt.owner@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": zero.slug}).json()["application_id"]
    empty = owner.get(f"/api/applications/{application_id}/auto-alternatives")
    assert empty.status_code == 200
    assert empty.json() == {
        "ok": True,
        "alternatives": {"cheaper": None, "similar": None, "luxury": None, "count": 0},
        "count": 0,
    }
    stranger = signed_up(server, "alt.stranger@example.com")
    refused = stranger.get(f"/api/applications/{application_id}/auto-alternatives")
    assert (refused.status_code, detail_of(refused)) == (403, "Not authorized")
    stranger.close()

    based = make_lot(
        slug="2025-toyota-rav4-xle",
        make="Toyota",
        model="RAV4",
        trim="XLE",
        lease=LeaseTerms(
            monthly=Decimal(500), due_at_signing=Decimal(0), term_months=36, miles_per_year=10000
        ),
    )
    second = owner.post("/api/applications", params={"lot_id": based.slug}).json()["application_id"]
    result = owner.get(f"/api/applications/{second}/auto-alternatives").json()
    assert result["count"] == result["alternatives"]["count"] == 1
    cheaper = result["alternatives"]["cheaper"]
    assert (
        cheaper["type"] == "cheaper"
        and cheaper["title"] == "2025 Kia K5"
        and cheaper["slug"] == "2025-kia-k5-gt"
    )
    assert cheaper["monthly"] == 350 and cheaper["savings_vs_original"] == 150
    owner.close()


def test_trade_in_and_convert_refusals(server: str) -> None:
    lot = camry()
    owner = signed_up(server, "refusals@example.com")
    stranger = signed_up(server, "refusals.stranger@example.com")
    held = owner.post("/api/reservations", json={"lot_slug": str(lot.pk), "deposit_paid": False}).json()
    assert held["ok"] is True
    assert (stranger.post(f"/api/reservations/{held['reservation_id']}/convert").status_code) == 403
    assert detail_of(stranger.delete(f"/api/reservations/{held['reservation_id']}")) == "Not authorized"
    application_id = owner.post(f"/api/reservations/{held['reservation_id']}/convert").json()[
        "application_id"
    ]
    again = owner.post(f"/api/reservations/{held['reservation_id']}/convert")
    assert (again.status_code, detail_of(again)) == (400, "Reservation is not active")
    body = {
        "vin": "1hgcm82633a004352",
        "year": 2019,
        "make": "Honda",
        "model": "Accord",
        "mileage": 60000,
        "condition": "good",
        "photos": [],
    }
    assert stranger.post(f"/api/applications/{application_id}/trade-in", json=body).status_code == 403
    wrong_condition = owner.post(
        f"/api/applications/{application_id}/trade-in", json={**body, "condition": "mint"}
    )
    assert wrong_condition.status_code == 422 and "condition" in detail_of(wrong_condition)
    bad_vin = owner.post(
        f"/api/applications/{application_id}/trade-in", json={**body, "vin": "1HGCM82633A00435O"}
    )
    assert bad_vin.status_code == 422
    ok = owner.post(f"/api/applications/{application_id}/trade-in", json=body)
    assert ok.status_code == 200 and whole(ok.json()["trade_in_value"]) and ok.json()["trade_in_value"] >= 0
    no_lot = owner.post("/api/reservations", json={"deposit_paid": False})
    assert (no_lot.status_code, detail_of(no_lot)) == (422, "lot_slug is required")
    unknown_lot = owner.post("/api/reservations", json={"lot_slug": "no-such-car"})
    assert (unknown_lot.status_code, detail_of(unknown_lot)) == (404, "Car not found")
    owner.close()
    stranger.close()


def test_datetimes_read_back_from_the_database_keep_their_offset(server: str) -> None:
    lot = camry(offer_ends_at=datetime(2030, 1, 1, 7, 59, 59, tzinfo=UTC))
    customer = signed_up(server, "offsets@example.com")
    assert customer.get(f"/api/cars/{lot.slug}").json()["endsAt"] == "2030-01-01T07:59:59Z"
    customer.post("/api/reservations", json={"lot_slug": lot.slug})
    hold = customer.get("/api/reservations").json()["reservations"][0]
    for key in ("expires_at", "created_at"):
        assert EXPLICIT_OFFSET.search(hold[key]), hold[key]
    me = customer.get("/api/auth/me").json()
    assert EXPLICIT_OFFSET.search(me["last_login"] or "Z") and EXPLICIT_OFFSET.search(me["created_at"])
    customer.close()


def test_appointments_accept_the_widgets_json(server: str) -> None:
    lot = camry()
    owner = signed_up(server, "appointments@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
    day = (datetime.now(PACIFIC) + timedelta(days=3)).date().isoformat()
    booked = owner.post(
        "/api/appointments",
        json={"application_id": application_id, "appointment_type": "video", "date": day, "time": "10:00 AM"},
    )
    assert booked.status_code == 200, booked.text
    assert booked.json()["message"] == f"video scheduled for {day} at 10:00 AM"
    assert HEX24.match(booked.json()["appointment_id"])
    wrong_time = owner.post(
        "/api/appointments",
        json={"application_id": application_id, "appointment_type": "video", "date": day, "time": "10:30 AM"},
    )
    assert wrong_time.status_code == 422
    owner.close()


# --------------------------------------------------------------------------------------------------------
# Tokens, sessions and the remaining rules of each endpoint


def _claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without verifying it (the client's view of an opaque token)."""
    payload = token.split(".")[1]
    return json_module.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_token_claims_and_lifetimes(server: str) -> None:
    customer = signed_up(server, "claims@example.com")
    access, refresh = _claims(customer.access_token), _claims(customer.refresh_token)
    for claims, kind in ((access, "access"), (refresh, "refresh")):
        assert {"sub", "type", "jti", "sid", "iat", "exp"} <= set(claims)
        assert claims["type"] == kind and claims["sub"] == customer.user["id"]
    assert access["exp"] - access["iat"] == 30 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert access["sid"] == refresh["sid"]
    User.objects(email="claims@example.com").update_one(set__role="admin")
    assert customer.get("/api/auth/me").json()["role"] == "admin"  # read from the database, not the token
    customer.close()


def test_logout_revokes_a_refresh_token_named_in_the_body_and_expires_the_legacy_cookie(server: str) -> None:
    first = signed_up(server, "logout.body@example.com")
    second = Browser(server)
    second.store(
        second.post("/api/auth/login", json={"email": "logout.body@example.com", "password": PASSWORD}).json()
    )
    response = first.post(
        "/api/auth/logout",
        json={"refresh_token": second.refresh_token},
        headers={"Cookie": "session_token=abc"},
    )
    assert response.json() == {"ok": True, "message": "Logged out successfully"}
    cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("session_token=") and (
        "Max-Age=0" in cookie or "Expires=Thu, 01 Jan 1970" in cookie
    )
    for browser in (first, second):
        assert browser.get("/api/auth/me").status_code == 401
    first.close()
    second.close()


def test_unknown_profile_keys_are_ignored_and_phone_is_formatted(server: str) -> None:
    customer = signed_up(server, "unknown.keys@example.com")
    saved = customer.put(
        "/api/user/profile",
        json={
            "role": "admin",
            "is_active": False,
            "profile_completed": True,
            "email": "x@example.com",
            "phone": "+1 (714) 555-0199",
        },
    )
    assert saved.status_code == 200
    user = saved.json()
    assert (user["role"], user["is_active"], user["profile_completed"]) == ("user", True, False)
    assert user["email"] == "unknown.keys@example.com" and user["phone"] == "(714) 555-0199"
    stored = User.objects(email="unknown.keys@example.com").first()
    assert stored is not None and "x@example.com" not in stored.to_json()
    cleared = customer.put("/api/user/profile", json={"phone": None}).json()
    assert cleared["phone"] is None
    too_young = customer.put(
        "/api/user/profile",
        json={"date_of_birth": datetime.now(PACIFIC).date().replace(year=2015).isoformat()},
    )
    assert too_young.status_code == 422 and "date_of_birth" in detail_of(too_young)
    customer.close()


def test_subscription_rules(server: str) -> None:
    customer = signed_up(server, "alerts@example.com")
    first = customer.post(
        "/api/subscriptions", json={"makes": ["Lexus"], "models": ["RX350"], "max_price": 0}
    ).json()
    same = customer.post(
        "/api/subscriptions",
        json={
            "makes": [" lexus "],
            "models": ["rx350"],
            "max_price": None,
            "notify_sms": True,
            "phone": "7145550100",
        },
    )
    assert same.status_code == 200
    assert same.json()["subscription_id"] == first["subscription_id"]
    alerts = customer.get("/api/subscriptions").json()
    assert alerts["total"] == 1
    alert = alerts["subscriptions"][0]
    assert alert["max_price"] is None and alert["notify_sms"] is True and alert["phone"] == "(714) 555-0100"
    assert alert["sms_consent_status"] == "pending"
    eleven = customer.post("/api/subscriptions", json={"makes": [f"Make{i}" for i in range(11)]})
    assert eleven.status_code == 422
    negative = customer.post("/api/subscriptions", json={"makes": ["Kia"], "max_price": -1})
    assert negative.status_code == 422
    newer = customer.post(
        "/api/subscriptions", json={"makes": ["Kia"], "models": [], "max_price": 30000}
    ).json()
    listed = customer.get("/api/subscriptions").json()["subscriptions"]
    assert [s["id"] for s in listed] == [newer["subscription_id"], first["subscription_id"]]
    assert listed[0]["max_price"] == 30000
    customer.delete(f"/api/subscriptions/{first['subscription_id']}")
    gone = customer.delete(f"/api/subscriptions/{first['subscription_id']}")
    assert (gone.status_code, detail_of(gone)) == (404, "Subscription not found")
    customer.close()


def test_reservation_cap_expiry_and_sold_lot(server: str) -> None:
    from app.models import Reservation

    lot = camry()
    holders = [signed_up(server, f"holder{i}@example.com") for i in range(6)]
    for holder in holders[:5]:
        assert holder.post("/api/reservations", json={"lot_slug": lot.slug}).status_code == 200
    capped = holders[5].post("/api/reservations", json={"lot_slug": lot.slug})
    assert (capped.status_code, detail_of(capped)) == (400, "This vehicle cannot be reserved right now")

    first = holders[0]
    hold_id = first.get("/api/reservations").json()["reservations"][0]["id"]
    Reservation.objects(pk=hold_id).update_one(set__expires_at=utcnow() - timedelta(minutes=1))
    expired = first.post(f"/api/reservations/{hold_id}/convert")
    assert (expired.status_code, detail_of(expired)) == (400, "Reservation has expired")
    assert first.get("/api/reservations").json()["reservations"][0]["status"] == "expired"
    # An expired hold no longer blocks a new one
    assert first.post("/api/reservations", json={"lot_slug": lot.slug}).status_code == 200

    second = holders[1]
    second_id = second.get("/api/reservations").json()["reservations"][0]["id"]
    Lot.objects(pk=lot.pk).update_one(set__status="sold")
    sold = second.post(f"/api/reservations/{second_id}/convert")
    assert (sold.status_code, detail_of(sold)) == (404, "Car not found")
    for holder in holders:
        holder.close()


def test_trade_in_refused_on_closed_applications(server: str) -> None:
    from app.models import Application

    lot = camry()
    owner = signed_up(server, "closed.trade@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
    Application.objects(pk=application_id).update_one(set__status="rejected", set__is_open=False)
    body = {
        "vin": "",
        "year": 2020,
        "make": "Honda",
        "model": "Fit",
        "mileage": 1000,
        "condition": "fair",
        "photos": [],
    }
    refused = owner.post(f"/api/applications/{application_id}/trade-in", json=body)
    assert (refused.status_code, detail_of(refused)) == (400, "Trade-in cannot be added to this application")
    # A rejected application no longer blocks a new one for the same lot
    assert owner.post("/api/applications", params={"lot_id": lot.slug}).status_code == 200
    owner.close()


def test_document_upload_and_download(server: str) -> None:
    lot = camry()
    owner = signed_up(server, "docs@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
    path = f"/api/applications/{application_id}/upload-document"
    pdf = b"%PDF-1.4\n" + b"0" * 2048
    with requests.Session() as http:
        auth = {"Authorization": f"Bearer {owner.access_token}"}
        uploaded = http.post(
            server + path,
            headers=auth,
            files={"file": ("paystub.pdf", pdf)},
            data={"doc_type": "paystub"},
            timeout=30,
        )
        check_conventions("POST", path, uploaded)
        assert uploaded.status_code == 200, uploaded.text
        body = uploaded.json()
        assert body["ok"] is True and body["message"] == "Document uploaded"
        assert body["url"] == f"/api/applications/{application_id}/documents/{body['id']}"
        downloaded = http.get(server + body["url"], headers=auth, timeout=30)
        assert downloaded.status_code == 200 and downloaded.content == pdf
        by_query = http.post(
            server + path + "?doc_type=other",
            headers=auth,
            files={"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"1" * 100)},
            timeout=30,
        )
        assert by_query.status_code == 200, by_query.text
        text = http.post(
            server + path,
            headers=auth,
            files={"file": ("a.pdf", b"hello")},
            data={"doc_type": "other"},
            timeout=30,
        )
        check_conventions("POST", path, text)
        assert (text.status_code, text.json()["detail"]) == (415, "Unsupported file type")
        no_type = http.post(server + path, headers=auth, files={"file": ("a.pdf", pdf)}, timeout=30)
        check_conventions("POST", path, no_type)
        assert (no_type.status_code, no_type.json()["detail"]) == (422, "doc_type is required")
        huge = http.post(
            server + path,
            headers=auth,
            files={"file": ("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024))},
            data={"doc_type": "other"},
            timeout=60,
        )
        check_conventions("POST", path, huge)
        assert (huge.status_code, huge.json()["detail"]) == (413, "File too large (max 10 MB)")
        stranger = signed_up(server, "docs.stranger@example.com")
        other = http.get(
            server + body["url"], headers={"Authorization": f"Bearer {stranger.access_token}"}, timeout=30
        )
        check_conventions("GET", body["url"], other)
        assert (other.status_code, other.json()["detail"]) == (403, "Not authorized")
        stranger.close()
    owner.close()


def test_lead_accepts_unknown_car_ids_and_callback_needs_a_valid_time(server: str, tab: Browser) -> None:
    lead = tab.post(
        "/api/lead",
        json={
            "name": "Demo",
            "phone": "310 555 0111",
            "email": "demo@example.com",
            "message": "hi",
            "consent": True,
            "carId": "demo-car-2",
            "carTitle": "2024 Demo Car",
        },
    )
    assert lead.status_code == 200
    customer = signed_up(server, "callback@example.com")
    bad = customer.post("/api/callback-request", json={"phone": "3105550111", "preferred_time": "midnight"})
    assert bad.status_code == 422 and "preferred_time" in detail_of(bad)
    bad_phone = customer.post("/api/callback-request", json={"phone": "12", "preferred_time": "morning"})
    assert bad_phone.status_code == 422 and "phone" in detail_of(bad_phone)
    customer.close()


def test_failed_logins_lock_the_account(tab: Browser) -> None:
    tab.post("/api/auth/register", json={"email": "lockout@example.com", "password": PASSWORD, "name": "L"})
    statuses = [
        tab.post(
            "/api/auth/login", json={"email": "lockout@example.com", "password": "wrong-password-1"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_competitor_prices_older_than_30_days_are_omitted(tab: Browser) -> None:
    lot = camry(
        competitor_prices=CompetitorPrices(
            autobandit=CompetitorPrice(
                monthly=Decimal(389),
                due_at_signing=Decimal(3500),
                term=36,
                updated_at=utcnow() - timedelta(days=31),
            ),
            dealer_average=CompetitorPrice(
                monthly=Decimal(420),
                due_at_signing=Decimal(4000),
                term=36,
                updated_at=utcnow() - timedelta(days=1),
            ),
        )
    )
    prices = tab.get(f"/api/cars/{lot.slug}").json()["competitor_prices"]
    assert set(prices) == {"dealerAverage"}
    assert prices["dealerAverage"]["monthly"] == 420 and prices["dealerAverage"]["term"] == 36


def test_preview_of_a_draft_and_a_deleted_lot(tab: Browser) -> None:
    editor = make_user(role="editor", email="editor.draft@example.com")
    draft = camry(status="draft", published_at=None)
    token = previews.create_preview(lot_id=draft.pk, actor=audit.actor_for(editor))
    assert tab.get(f"/api/preview/{token}").status_code == 200
    assert tab.get(f"/api/cars/{draft.slug}").status_code == 404
    Lot.objects(pk=draft.pk).update_one(set__status="deleted")
    gone = tab.get(f"/api/preview/{token}")
    assert (gone.status_code, detail_of(gone)) == (404, "Preview not found or expired")


def test_forged_tokens_refresh_by_header_and_register_validation(server: str, tab: Browser) -> None:
    from flask_jwt_extended import create_access_token

    customer = signed_up(server, "forged@example.com")
    sid = _claims(customer.access_token)["sid"]
    forged = [
        create_access_token(identity="not-an-object-id", additional_claims={"sid": sid}),
        create_access_token(identity=customer.user["id"]),  # no session
        create_access_token(
            identity=customer.user["id"], additional_claims={"sid": sid}, expires_delta=timedelta(seconds=-5)
        ),
        create_access_token(identity="0123456789abcdef01234567", additional_claims={"sid": sid}),
    ]
    for token in forged:
        response = tab.get("/api/auth/me", auth=f"Bearer {token}")
        assert (response.status_code, detail_of(response)) == (401, "Invalid or expired token")
    by_header = tab.post("/api/auth/refresh", auth=f"Bearer {customer.refresh_token}")
    assert by_header.status_code == 200, by_header.text
    assert tab.get("/api/openapi.json").status_code == 200
    camry()
    assert len(tab.get("/api/cars", params={"limit": 1, "page": 9, "make": "Nope"}).json()) == 1
    for body in (
        {"email": "long@example.com", "password": "x" * 129, "name": "L"},
        {"email": "not-an-email", "password": PASSWORD, "name": "L"},
        {"email": "common@example.com", "password": "password123", "name": "L"},
        {"email": "longname@example.com", "password": PASSWORD, "name": "n" * 101},
        {"email": "blank@example.com", "password": PASSWORD, "name": "   "},
    ):
        assert tab.post("/api/auth/register", json=body).status_code == 422, body
    customer.close()


def test_partial_lease_and_finance_blocks_get_per_key_defaults(tab: Browser) -> None:
    lot = camry(lease=LeaseTerms(monthly=Decimal(299)), finance=FinanceTerms(apr=Decimal("1.9")))
    card = tab.get("/api/cars").json()[0]
    assert card["lease"] == {"monthly": 299, "dueAtSigning": 3000, "termMonths": 36, "milesPerYear": 7500}
    assert card["finance"] == {"apr": 1.9, "termMonths": 60, "downPayment": 3000}
    assert tab.get(f"/api/cars/{lot.slug}").json()["lease"] == card["lease"]
    bare = make_lot(slug="bare-lot", lease=None, finance=None, images=[])
    page = tab.get(f"/api/cars/{bare.slug}").json()
    assert page["lease"] == {"monthly": 0, "dueAtSigning": 3000, "termMonths": 36, "milesPerYear": 7500}
    assert page["finance"] == {"apr": 9.75, "termMonths": 60, "downPayment": 3000}
    assert page["image"] == "" and len(page["gallery"]) == 1 and isinstance(page["gallery"][0], str)


def test_reservation_price_hints_never_block_a_reservation(server: str) -> None:
    lots = [camry(), make_lot(slug="hint-2"), make_lot(slug="hint-3"), make_lot(slug="hint-4")]
    customer = signed_up(server, "hints@example.com")
    bodies = [
        {"reserved_price": -1, "monthly_payment": -12.5, "due_at_signing": -3000},
        {"reserved_price": "29400", "monthly_payment": "329", "due_at_signing": "2999"},
        {"reserved_price": None, "monthly_payment": None, "due_at_signing": None},
        {"reserved_price": 1e12, "monthly_payment": 484.123456789, "due_at_signing": 3000},
    ]
    for lot, hints in zip(lots, bodies, strict=True):
        response = customer.post(
            "/api/reservations", json={"lot_slug": lot.slug, **hints, "deposit_paid": False}
        )
        assert response.status_code == 200, (hints, response.text)
    for hold in customer.get("/api/reservations").json()["reservations"]:
        assert hold["reserved_price"] == 29400 and hold["due_at_signing"] == 2999
    customer.close()


def test_appointment_dates_document_ids_and_numeric_car_ids(server: str, tab: Browser) -> None:
    lot = camry()
    owner = signed_up(server, "round4@example.com")
    owner.put("/api/user/profile", json=WIZARD_BODY)
    application_id = owner.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
    yesterday = (datetime.now(PACIFIC) - timedelta(days=1)).date().isoformat()
    past = owner.post(
        "/api/appointments",
        json={
            "application_id": application_id,
            "appointment_type": "pickup",
            "date": yesterday,
            "time": "9:00 AM",
        },
    )
    assert past.status_code == 422, past.text
    by_query = owner.post(
        "/api/appointments",
        params={
            "application_id": application_id,
            "appointment_type": "test_drive",
            "date": (datetime.now(PACIFIC) + timedelta(days=1)).date().isoformat(),
            "time": "5:00 PM",
        },
    )
    assert by_query.status_code == 200, by_query.text
    for bad in ("not-an-id", "0123456789abcdef01234567", "0123456789ABCDEF01234567"):
        response = owner.get(f"/api/applications/{application_id}/documents/{bad}")
        assert response.status_code == 404, (bad, response.text)
        response = owner.get(f"/api/applications/{bad}/documents/{bad}")
        assert response.status_code == 404, (bad, response.text)
    weird = owner.get("/api/reservations/%24ne")
    assert weird.status_code in (404, 405)
    lead = tab.post(
        "/api/lead",
        json={
            "name": "Demo",
            "phone": "3105550111",
            "email": "d@example.com",
            "consent": True,
            "carId": 2,
            "carTitle": "2024 Demo",
        },
    )
    assert lead.status_code == 200, lead.text
    owner.close()


def test_subscription_null_entries_count_as_empty(server: str) -> None:
    customer = signed_up(server, "null.entries@example.com")
    created = customer.post(
        "/api/subscriptions", json={"makes": [None], "models": ["RX350"], "max_price": None}
    )
    assert created.status_code == 200, created.text
    assert created.json()["message"] == "Subscribed to RX350"
    nothing = customer.post("/api/subscriptions", json={"makes": [None], "models": [None, "  "]})
    assert (nothing.status_code, detail_of(nothing)) == (422, "Choose at least one make or model")
    customer.close()


def test_preview_404_is_not_indexed_either(tab: Browser) -> None:
    missing = tab.get("/api/preview/" + "a" * 43)
    assert (missing.status_code, detail_of(missing)) == (404, "Preview not found or expired")
    assert missing.headers["X-Robots-Tag"] == "noindex, nofollow"


def test_racing_customers_get_one_slot_and_the_others_a_clear_refusal(server: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    manager = make_user(role="finance_manager", email="fm.race@example.com")
    racers: list[tuple[Browser, str]] = []
    for index in range(4):
        lot = make_lot(slug=f"race-lot-{index}")
        racer = signed_up(server, f"racer{index}@example.com")
        racer.put("/api/user/profile", json=WIZARD_BODY)
        application_id = racer.post("/api/applications", params={"lot_id": lot.slug}).json()["application_id"]
        application_review.approve(
            application_id,
            actor=audit.actor_for(manager),
            apr=Decimal("4.9"),
            loan_term=60,
            down_payment=0,
            monthly_payment=Decimal(450),
        )
        racers.append((racer, application_id))
    slot = racers[0][0].get("/api/admin/pickup-slots").json()["slots"][1]["datetime"]

    def book(entry: tuple[Browser, str]) -> requests.Response:
        racer, application_id = entry
        return racer.post(f"/api/applications/{application_id}/schedule-pickup", json={"pickup_slot": slot})

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        results = list(pool.map(book, racers))
    outcomes = sorted((r.status_code, detail_of(r) if r.status_code != 200 else "") for r in results)
    assert outcomes[0] == (200, "") and [o[0] for o in outcomes].count(200) == 1
    for status, detail in outcomes[1:]:
        assert (status, detail) in (
            (409, "This time slot is no longer available"),
            (400, "Selected time is not available"),
        )
    for racer, _ in racers:
        racer.close()


def test_tokens_and_previews_work_on_another_worker(server: str, test_settings: dict) -> None:
    from app import create_app

    other_app = create_app(test_settings)
    other = make_server("127.0.0.1", 0, other_app, threaded=True)
    thread = threading.Thread(target=other.serve_forever, name="second-worker", daemon=True)
    thread.start()
    try:
        second = f"http://127.0.0.1:{other.server_port}"
        lot = camry()
        editor = make_user(role="editor", email="editor.worker@example.com")
        token = previews.create_preview(lot_id=lot.pk, actor=audit.actor_for(editor))
        customer = signed_up(server, "two.workers@example.com")
        elsewhere = Browser(second)
        elsewhere.access_token = customer.access_token
        assert elsewhere.get(f"/api/preview/{token}").json()["previewToken"] == token
        assert elsewhere.get("/api/auth/me").json()["email"] == "two.workers@example.com"
        customer.post("/api/auth/logout", json={})
        assert detail_of(elsewhere.get("/api/auth/me")) == "Invalid or expired token"
        customer.close()
        elsewhere.close()
    finally:
        other.shutdown()
        thread.join(timeout=10)
        other.server_close()


def test_rate_limits_are_shared_by_workers_and_ignore_spoofed_forwarding(
    server: str, test_settings: dict
) -> None:
    from app import create_app

    other_app = create_app(test_settings)
    other = make_server("127.0.0.1", 0, other_app, threaded=True)
    thread = threading.Thread(target=other.serve_forever, name="second-worker-limits", daemon=True)
    thread.start()
    try:
        body = {
            "name": "Spam",
            "phone": "3105550100",
            "email": "spam@example.com",
            "consent": True,
            "carId": "x",
            "carTitle": "X",
        }
        first, second = Browser(server), Browser(f"http://127.0.0.1:{other.server_port}")
        assert [first.post("/api/lead", json=body).status_code for _ in range(5)] == [200] * 5
        assert second.post("/api/lead", json=body).status_code == 429
        spoofed = second.post("/api/lead", json=body, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429
        first.close()
        second.close()
    finally:
        other.shutdown()
        thread.join(timeout=10)
        other.server_close()


def test_google_sign_in_exchange_against_a_stand_in_provider(server: str, app: Flask) -> None:
    from werkzeug.wrappers import Request, Response

    seen: list[str | None] = []

    @Request.application
    def provider(request: Request) -> Response:
        session_id = request.headers.get("X-Session-ID")
        seen.append(session_id)
        if session_id == "good":
            body = '{"id": "google-subject-42", "email": "Google.User@Example.com", "name": "Goo Gle", "picture": "https://img.example/p.png"}'
            return Response(body, mimetype="application/json")
        if session_id == "broken":
            return Response("oops", status=500)
        return Response('{"detail": "bad"}', status=401, mimetype="application/json")

    provider_server = make_server("127.0.0.1", 0, provider, threaded=True)
    thread = threading.Thread(target=provider_server.serve_forever, name="identity-provider", daemon=True)
    thread.start()
    previous = app.config.get("OAUTH_SESSION_URL")
    app.config["OAUTH_SESSION_URL"] = f"http://127.0.0.1:{provider_server.server_port}/session-data"
    site = Browser(server, origin=SITE_ORIGIN)
    try:
        signed = site.post(
            "/api/auth/oauth/session", auth=False, json={"session_id": "good"}, credentials=True
        )
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["message"] == "OAuth session processed successfully"
        assert HEX24.match(body["user"]["id"]) and body["user"]["id"] != "google-subject-42"
        assert (body["user"]["email"], body["user"]["role"], body["user"]["profile_completed"]) == (
            "google.user@example.com",
            "user",
            False,
        )
        assert body["user"]["picture"] == "https://img.example/p.png"
        assert "Set-Cookie" not in signed.headers
        site.access_token = body["access_token"]
        assert site.get("/api/auth/me").json()["email"] == "google.user@example.com"
        again = site.post(
            "/api/auth/oauth/session", auth=False, json={"session_id": "good"}, credentials=True
        )
        assert again.json()["user"]["id"] == body["user"]["id"]  # upserted by e-mail, not duplicated
        rejected = site.post(
            "/api/auth/oauth/session", auth=False, json={"session_id": "forged"}, credentials=True
        )
        assert (rejected.status_code, detail_of(rejected)) == (400, "Invalid session ID")
        down = site.post(
            "/api/auth/oauth/session", auth=False, json={"session_id": "broken"}, credentials=True
        )
        assert (down.status_code, detail_of(down)) == (502, "Authentication provider unavailable")
        assert seen == ["good", "good", "forged", "broken"]
        User.objects(email="google.user@example.com").update_one(set__is_active=False)
        blocked = site.post(
            "/api/auth/oauth/session", auth=False, json={"session_id": "good"}, credentials=True
        )
        assert (blocked.status_code, detail_of(blocked)) == (403, "Account is deactivated")
    finally:
        app.config["OAUTH_SESSION_URL"] = previous
        site.close()
        provider_server.shutdown()
        thread.join(timeout=10)
        provider_server.server_close()


def test_per_user_and_auth_rate_limits(server: str, tab: Browser) -> None:
    first = signed_up(server, "busy@example.com")
    second = signed_up(server, "calm@example.com")
    body = {"makes": ["Lexus"], "models": ["RX350"], "max_price": None}
    statuses = [first.post("/api/subscriptions", json=body).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert second.post("/api/subscriptions", json=body).status_code == 200  # per user, not per address
    assert first.get("/api/subscriptions").status_code == 200  # other paths keep working
    # Two sign-ups above plus eight more reach the 10-per-minute limit of the auth endpoints
    codes = [
        tab.post(
            "/api/auth/register", json={"email": f"flood{i}@example.com", "password": PASSWORD, "name": "F"}
        ).status_code
        for i in range(9)
    ]
    assert codes == [200] * 8 + [429]
    first.close()
    second.close()


def test_magic_link_from_the_email_signs_in_once(tab: Browser) -> None:
    from urllib.parse import parse_qs, urlparse

    from app.models import MagicLinkToken, Notification

    sent = tab.post("/api/auth/magic", json={"email": "Link.Person@Example.com"})
    assert sent.json() == {"ok": True, "message": "Magic link sent to your email"}
    assert User.objects(email="link.person@example.com").first() is None  # accounts appear at verify time
    link = Notification.objects(template="magic_link").get().payload["link"]
    assert link.startswith("https://cargwin.example/auth/verify?token=")
    token = parse_qs(urlparse(link).query)["token"][0]
    signed = tab.post("/api/auth/verify", json={"token": token})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["message"] == "Logged in successfully"
    assert (body["user"]["email"], body["user"]["name"], body["user"]["role"]) == (
        "link.person@example.com",
        "link.person",
        "user",
    )
    used = tab.post("/api/auth/verify", json={"token": token})
    assert (used.status_code, detail_of(used)) == (404, "Magic link has already been used")
    tab.post("/api/auth/magic", json={"email": "link.person@example.com"})
    newest = Notification.objects(template="magic_link").order_by("-created_at").first()
    late = parse_qs(urlparse(newest.payload["link"]).query)["token"][0]
    MagicLinkToken.objects(used_at=None).update(set__expires_at=utcnow() - timedelta(seconds=1))
    expired = tab.post("/api/auth/verify", json={"token": late})
    assert (expired.status_code, detail_of(expired)) == (404, "Magic link has expired")
