"""The three back-office journeys in a real browser: staff sign-in with TOTP; an editor creates and
publishes a lot with an image and it appears on ``GET /api/cars``; a finance manager approves an
application and the customer sees the approval through the API."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from PIL import Image

from app.models import Application, Lot, User
from app.models.base import utcnow
from app.services import staff_auth
from tests.admin.conftest import VALID_VIN, make_application, make_customer
from tests.admin.test_lots_service import DRAFT
from tests.factories import DEFAULT_PASSWORD, make_lot, make_user
from tests.foundation.test_admin_auth import enrol_mfa

pytestmark = pytest.mark.browser


def password_step(page: Any, email: str) -> None:
    page.goto("/admin/login")
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")


def sign_in_with_code(page: Any, user: User, secret: str, when=None) -> None:
    password_step(page, user.email)
    page.wait_for_url("**/admin/login/verify")
    page.fill("#code", staff_auth.totp_code(secret, when or utcnow()))
    page.click("[data-testid=verify-code]")
    page.wait_for_url("**/admin/")


def test_staff_sign_in_with_totp_enrolment_then_a_code(page):
    user = make_user(role="finance_manager", email="fm.browser@example.com")
    password_step(page, user.email)
    page.wait_for_url("**/admin/login/enrol")
    assert page.locator("[data-testid=mfa-qr] svg").count() == 1  # rendered by the server, no CDN
    secret = page.inner_text("[data-testid=mfa-secret]").replace(" ", "")
    page.fill("#code", staff_auth.totp_code(secret, utcnow()))
    page.click("[data-testid=confirm-enrolment]")
    assert page.locator("[data-testid=recovery-codes] li").count() == 10
    page.click("[data-testid=continue]")
    page.wait_for_url("**/admin/")
    assert "Welcome" in page.inner_text("body")

    page.click("[data-testid=logout]")
    page.wait_for_url("**/admin/login")
    # A later code (the next 30-second step): the one used at enrolment cannot be replayed.
    sign_in_with_code(page, user.reload(), secret, utcnow() + timedelta(seconds=30))
    assert "finance manager" in page.inner_text("body")
    assert page.goto("/admin/lot/").status == 403  # a finance manager never edits lots


def jpeg_file(tmp_path) -> str:
    path = tmp_path / "front.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 800), "navy").save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_an_editor_creates_and_publishes_a_lot_that_appears_on_the_api(page, live_server, tmp_path):
    editor = make_user(role="editor", email="ed.browser@example.com")
    secret = enrol_mfa(editor)
    sign_in_with_code(page, editor, secret)

    page.goto("/admin/lot/new/")
    fields = {**DRAFT, "trim": "SE Browser", "vin": VALID_VIN}
    for name, value in fields.items():
        selector = f"form.admin-form [name={name}]"
        if page.locator(selector).evaluate("element => element.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.set_input_files("form.admin-form [name=new_images]", jpeg_file(tmp_path))
    page.click("[data-testid=save-publish]")
    page.wait_for_url("**/admin/lot/edit/**")
    assert page.inner_text("[data-testid=lot-status]") == "published"
    assert page.locator("[data-testid=image-row]").count() == 1

    lot = Lot.objects.get(trim="SE Browser")
    cars = requests.get(f"{live_server}/api/cars", timeout=10).json()
    listed = next(car for car in cars if car["id"] == lot.slug)
    assert listed["title"] == "2025 Toyota Camry SE Browser" and listed["lease"]["monthly"] == 329
    image = requests.get(live_server + listed["image"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"


def test_a_finance_manager_approves_and_the_customer_sees_it(page, live_server):
    customer = make_customer(email="casey.browser@example.com", name="Casey Browser")
    application = make_application(customer=customer, lot=make_lot(vin=VALID_VIN))
    manager = make_user(role="finance_manager", email="fm2.browser@example.com")
    secret = enrol_mfa(manager)
    sign_in_with_code(page, manager, secret)

    page.goto("/admin/application/")
    page.click("text=Casey Browser")
    page.wait_for_url("**/admin/application/review/**")
    assert "***-**-3456" in page.inner_text("body")
    page.fill("[data-testid=approval-rate]", "5.9")
    page.fill("[data-testid=approval-term]", "60")
    page.fill("[data-testid=approval-down]", "3000")
    page.fill("[data-testid=approval-monthly]", "509.16")
    page.fill("#approval-notes", "Approved: bring your licence")
    page.click("[data-testid=approve]")
    page.wait_for_load_state()
    assert page.inner_text("[data-testid=app-status]") == "approved"
    assert Application.objects.get(pk=application.pk).status == "approved"

    login = requests.post(
        f"{live_server}/api/auth/login",
        json={"email": customer.email, "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    mine = requests.get(f"{live_server}/api/applications", headers=headers, timeout=10).json()["applications"]
    seen = next(item for item in mine if item["id"] == str(application.pk))
    assert seen["status"] == "approved" and seen["pickup_status"] == "ready_for_pickup"
    assert seen["approval_details"]["apr"] == 5.9 and seen["approval_details"]["money_factor"] is None
    assert Decimal(str(seen["approval_details"]["monthly_payment"])) == Decimal("509.16")
    assert seen["admin_notes"] == "Approved: bring your licence"


def test_an_editor_follows_a_scraper_run_and_drafts_a_lot_from_an_offer(page, competitor):
    from app.models import ScrapeRun
    from tests.workers.conftest import run_worker

    editor = make_user(role="editor", email="scraper.browser@example.com")
    sign_in_with_code(page, editor, enrol_mfa(editor))
    page.goto("/admin/scraper/")
    page.click("[data-testid=start-scrape]")
    page.wait_for_url("**/admin/scraper/run/?id=*")
    assert page.inner_text("[data-testid=run-status]") == "queued"
    assert page.inner_text("[data-testid=progress-message]") == "waiting for a worker"

    # A worker runs it; the page's script sees the run end through the progress endpoint and reloads.
    assert run_worker("scraper")
    assert ScrapeRun.objects.get().status == "succeeded"
    page.wait_for_selector("[data-testid=run-offers]")
    assert page.inner_text("[data-testid=run-status]") == "succeeded"
    assert "Sync guard: results applied." in page.inner_text("[data-testid=run-guard]")

    page.click("tr[data-offer=toyota-tacoma-2wd] [data-testid=create-draft]")
    page.wait_for_url("**/admin/lot/edit/?id=*")
    lot = Lot.objects.get(model="Tacoma 2WD")
    assert lot.status == "draft" and str(lot.pk) in page.url
