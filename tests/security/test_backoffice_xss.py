"""Text typed by customers, editors, the competitor's site or an attacker's browser (a lot's trim, a
customer's name, a lead's message, a scraped offer, a User-Agent header) comes out of every back-office page
escaped: the markup a payload carries never reaches the page as markup.

Each test puts the payloads in through the real entry point where there is one (the lot form, the sign-in
form), or in the stored record where the data comes from elsewhere (the public API, the scraper), and reads
the pages that show it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from app.models import Application, Lead, Lot, Notification, ScrapedOffer, ScrapeRun, User
from app.services.notifications import queue_message
from tests.admin.conftest import make_application, make_customer, signed_in, token
from tests.admin.test_lots_service import DRAFT
from tests.factories import make_lot, make_user
from tests.foundation.test_admin_auth import csrf_from

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT}{ATTRIBUTE}"


def assert_escaped(page: str, *, must_show: bool = True) -> None:
    """Neither payload appears as markup; when ``must_show``, its escaped text is on the page (the test saw
    the value, so the absence of the raw markup means something)."""
    assert "<script>alert(1)" not in page
    assert "<img src=x onerror" not in page
    assert 'onerror=alert(1)"' not in page
    if must_show:
        assert re.search(r"&lt;script&gt;alert\(1\)&lt;/script&gt;", page), "the payload is not on the page"
        assert re.search(r"(&#34;|&quot;)&gt;&lt;img src=x onerror=alert\(1\)&gt;", page)


def test_a_lot_typed_with_markup_is_shown_escaped_everywhere(app, client):
    signed_in(client, "admin")
    response = client.post(
        "/admin/lot/new/",
        data={**DRAFT, "vin": "", "trim": PAYLOAD[:60], "csrf_token": token(client, "/admin/lot/new/")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    lot = Lot.objects.get(trim=PAYLOAD[:60])
    make_application(lot=lot, ssn=None)
    for path in (
        "/admin/lot/",
        f"/admin/lot/edit/?id={lot.pk}",
        "/admin/application/",
        f"/admin/application/review/?id={Application.objects.first().pk}",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.get_data(as_text=True))
    Lot.objects(pk=lot.pk).update_one(set__status="deleted")
    assert_escaped(client.get("/admin/lot_trash/").get_data(as_text=True))


def test_a_lot_make_with_a_closing_script_tag_stays_inside_the_dashboard_data(app, client):
    make_lot(make="</script><script>alert(1)</script>")
    signed_in(client, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "</script><script>alert(1)" not in page


def test_customer_names_and_e_mails_are_shown_escaped(app, client):
    customer = make_customer(name=PAYLOAD)
    application = make_application(customer)
    Application.objects(pk=application.pk).update_one(set__user_data__name=PAYLOAD)
    signed_in(client, "admin")
    for path in (
        "/admin/application/",
        f"/admin/application/review/?id={application.pk}",
        "/admin/user/",
        f"/admin/user/manage/?id={customer.pk}",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.get_data(as_text=True), must_show="manage" in path or "application" in path)


def test_lead_messages_are_shown_escaped(app, client):
    lead = Lead(
        kind="lead", name=PAYLOAD[:100], phone="(949) 555-0100", message=PAYLOAD, car_title=PAYLOAD
    ).save()
    signed_in(client, "finance_manager")
    for path in ("/admin/lead/", f"/admin/lead/status/?id={lead.pk}", f"/admin/lead/details/?id={lead.pk}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.get_data(as_text=True))


def test_a_scraped_offer_cannot_inject_markup_or_a_script_link(app, client):
    run = ScrapeRun(status="succeeded", start_url="http://127.0.0.1/deals", error=PAYLOAD).save()
    run.update(set__guard_ok=None)
    ScrapedOffer(
        external_id="x1",
        title=PAYLOAD,
        year=2025,
        make="Kia",
        model="K5",
        last_run=run.pk,
        source_url="javascript:alert(1)",
    ).save()
    signed_in(client, "editor")
    assert_escaped(client.get("/admin/scraper/").get_data(as_text=True))
    page = client.get(f"/admin/scraper/run/?id={run.pk}").get_data(as_text=True)
    assert_escaped(page)
    assert 'href="javascript:alert(1)"' not in page


def test_a_forged_user_agent_and_e_mail_in_the_audit_log_are_shown_escaped(app, client):
    page = client.get("/admin/login").get_data(as_text=True)
    client.post(
        "/admin/login",
        data={"email": "x@example.com", "password": "wrong-password", "csrf_token": csrf_from(page)},
        headers={"User-Agent": PAYLOAD},
    )
    signed_in(client, "admin")
    from app.models import AuditLog

    entry = AuditLog.objects(action="login_failed").first()
    assert entry.user_agent == PAYLOAD
    AuditLog._get_collection().update_one(
        {"_id": entry.pk}, {"$set": {"changes": {"name": {"old": PAYLOAD, "new": PAYLOAD}}}}
    )
    assert_escaped(client.get("/admin/audit_log/").get_data(as_text=True), must_show=False)
    assert_escaped(client.get(f"/admin/audit_log/details/?id={entry.pk}").get_data(as_text=True))


def test_outbox_rows_are_shown_escaped(app, client):
    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status="failed", set__last_error=PAYLOAD)
    signed_in(client, "admin")
    assert_escaped(client.get("/admin/notification/").get_data(as_text=True))
    assert_escaped(client.get(f"/admin/notification/details/?id={message.pk}").get_data(as_text=True))


def test_reservations_and_subscriptions_show_customer_data_escaped(app, client):
    from datetime import timedelta

    from app.models import Reservation, Subscription
    from app.models.base import utcnow

    customer = make_user()
    # Stored as is, past the model's validation: the page must not rely on what was validated on the way in.
    User._get_collection().update_one({"_id": customer.pk}, {"$set": {"email": PAYLOAD}})
    lot = make_lot()
    Reservation(
        user=customer,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=Decimal(29400),
        monthly_payment=Decimal(329),
        due_at_signing=Decimal(2999),
        expires_at=utcnow() + timedelta(hours=48),
    ).save()
    Subscription(user=customer, makes=[PAYLOAD[:60]], email="x@example.com").save()
    signed_in(client, "admin")
    assert_escaped(client.get("/admin/reservation/").get_data(as_text=True))
    assert_escaped(client.get("/admin/subscription/").get_data(as_text=True))


def test_flash_messages_that_quote_the_request_are_escaped(app, client):
    """Messages that repeat what was sent (an invalid filter value, an uploaded file's name, a row id)."""
    import io

    lot = make_lot()
    signed_in(client, "admin")
    from urllib.parse import quote

    page = client.get(f"/admin/lot/?flt0_year_is={quote(PAYLOAD)}", follow_redirects=True)
    assert_escaped(page.get_data(as_text=True))
    response = client.post(
        f"/admin/lot/images/upload/?id={lot.pk}",
        data={"csrf_token": token(client), "new_images": (io.BytesIO(b"not an image"), PAYLOAD + ".jpg")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "not a readable" in response.get_data(as_text=True)
    assert_escaped(response.get_data(as_text=True), must_show=False)
    response = client.post(
        "/admin/lot/action/",
        data={"csrf_token": token(client), "action": "archive", "rowid": PAYLOAD},
        follow_redirects=True,
    )
    assert_escaped(response.get_data(as_text=True), must_show=False)
