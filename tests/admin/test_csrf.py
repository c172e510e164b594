"""Every state-changing back-office request needs the session CSRF token (one mechanism: WTForms
SessionCSRF through Flask-Admin's SecureForm). Without it, or with a token from another session, nothing
changes."""

from __future__ import annotations

import pytest

from app.models import Application, AuditLog, Lot, Notification, ScrapeRun, User
from tests.admin.conftest import VALID_VIN, make_application, signed_in, token
from tests.admin.test_lots_service import DRAFT
from tests.factories import make_lot


@pytest.fixture
def world(app):
    lot = make_lot(vin=VALID_VIN)
    draft = make_lot(status="draft", vin=None, trim="Draft")
    application = make_application()
    from app.services.notifications import queue_message

    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    return {
        "lot": lot,
        "draft": draft,
        "application": application,
        "message": message,
        "lots": Lot.objects.count(),
    }


def requests(world):
    lot, app_, msg = world["lot"], world["application"], world["message"]
    return [
        ("/admin/lot/new/", {**DRAFT, "trim": "Forged"}, lambda: Lot.objects(trim="Forged").count() == 0),
        (
            f"/admin/lot/edit/?id={lot.pk}",
            {**DRAFT, "trim": "Forged"},
            lambda: Lot.objects(trim="Forged").count() == 0,
        ),
        (
            "/admin/lot/action/",
            {"action": "archive", "rowid": str(lot.pk)},
            lambda: lot.reload().status == "published",
        ),
        (
            f"/admin/lot/transition/?id={lot.pk}",
            {"to": "archived"},
            lambda: lot.reload().status == "published",
        ),
        (f"/admin/lot/duplicate/?id={lot.pk}", {}, lambda: Lot.objects.count() == world["lots"]),
        (
            f"/admin/lot/preview/?id={lot.pk}",
            {},
            lambda: AuditLog.objects(action="preview_created").count() == 0,
        ),
        (
            f"/admin/lot/images/update/?id={lot.pk}",
            {"delete": lot.images[0].image_id},
            lambda: len(lot.reload().images) == 1,
        ),
        ("/admin/lot/import/", {}, lambda: Lot.objects.count() == world["lots"]),
        ("/admin/scraper/start/", {}, lambda: ScrapeRun.objects.count() == 0),
        (
            f"/admin/application/review/status/?id={app_.pk}",
            {"status": "contacted"},
            lambda: app_.reload().status == "pending",
        ),
        (
            f"/admin/application/review/approve/?id={app_.pk}",
            {
                "rate_kind": "apr",
                "rate": "5",
                "loan_term": "60",
                "down_payment": "0",
                "monthly_payment": "500",
            },
            lambda: app_.reload().status == "pending",
        ),
        (
            f"/admin/application/review/reveal/?id={app_.pk}",
            {"field": "ssn", "reason": "customer_request"},
            lambda: AuditLog.objects(action="pii_reveal").count() == 0,
        ),
        (
            f"/admin/application/review/fleet/?id={app_.pk}",
            {"reason": "fleet_submission"},
            lambda: AuditLog.objects(action="copy_to_fleet").count() == 0,
        ),
        (f"/admin/application/review/prescore/?id={app_.pk}", {}, lambda: not app_.reload().prescoring_data),
        (
            f"/admin/application/review/comment/?id={app_.pk}",
            {"comment": "x"},
            lambda: not app_.reload().manager_comments,
        ),
        (
            "/admin/application/action/",
            {"action": "prescore", "rowid": str(app_.pk)},
            lambda: not app_.reload().prescoring_data,
        ),
        (
            f"/admin/user/manage/?id={app_.user.pk}",
            {"op": "role", "role": "editor"},
            lambda: User.objects.get(pk=app_.user.pk).role == "user",
        ),
        (
            "/admin/user/action/",
            {"action": "deactivate", "rowid": str(app_.user.pk)},
            lambda: User.objects.get(pk=app_.user.pk).is_active,
        ),
        (
            "/admin/notification/action/",
            {"action": "resend", "rowid": str(msg.pk)},
            lambda: msg.reload().status == "failed",
        ),
        (
            "/admin/jobs/retry/",
            {"queue": "images", "job_id": "x"},
            lambda: AuditLog.objects(action="job_retry").count() == 0,
        ),
        ("/admin/system/test-notification", {}, lambda: Notification.objects.count() == 1),
        (
            "/admin/account/recovery-codes",
            {},
            lambda: AuditLog.objects(action="mfa_recovery_codes_renewed").count() == 0,
        ),
        ("/admin/logout", {}, lambda: True),
    ]


def test_no_state_changes_without_the_csrf_token(client, world):
    signed_in(client, "admin")
    for path, data, unchanged in requests(world):
        response = client.post(path, data=data)
        assert response.status_code in (200, 302, 400), path
        assert unchanged(), f"{path} changed state without a CSRF token"
    assert client.get("/admin/").status_code == 200  # the forged sign-out did nothing either


def test_a_token_from_another_session_is_refused(app, client, world):
    other = app.test_client()
    signed_in(other, "admin")
    foreign = token(other)
    signed_in(client, "admin")
    lot = world["lot"]
    client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "archived", "csrf_token": foreign})
    assert lot.reload().status == "published"
    client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "archived", "csrf_token": token(client)})
    assert lot.reload().status == "archived"


def test_the_lot_form_keeps_its_csrf_field(client):
    """Flask-Admin drops fields missing from a form's rules; the CSRF token must survive that."""
    signed_in(client, "editor")
    page = client.get("/admin/lot/new/").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    response = client.post("/admin/lot/new/", data={**DRAFT, "trim": "No Token"})
    assert response.status_code == 200 and Lot.objects(trim="No Token").count() == 0
    assert Application.objects.count() == 0
