"""Every role against every back-office view and action: allowed or denied, decided on the server
(business rules §10). Anonymous visitors are sent to the sign-in page."""

from __future__ import annotations

import pytest

from app.models import AuditLog, Lot, Notification, ScrapeRun
from tests.admin.conftest import ROLES, VALID_VIN, make_application, signed_in, token
from tests.factories import make_lot

EDITORS = {"editor", "admin"}
FINANCE = {"finance_manager", "admin"}
ADMINS = {"admin"}
EVERYONE = set(ROLES)

# (path template, roles allowed). {lot} and {application} are filled with real ids.
PAGES = [
    ("/admin/", EVERYONE),
    ("/admin/lot/", EDITORS),
    ("/admin/lot/new/", EDITORS),
    ("/admin/lot/edit/?id={lot}", EDITORS),
    ("/admin/lot/import/", EDITORS),
    ("/admin/lot/export/csv/", EDITORS),
    ("/admin/lot/export/xlsx/", EDITORS),
    ("/admin/lot/export/json/", EDITORS),
    (
        "/admin/lot/calculator/?msrp=35000&selling_price=32500&residual_percent=58&money_factor=0.002&term=36",
        EDITORS,
    ),
    ("/admin/lot_trash/", ADMINS),
    ("/admin/scraper/", EDITORS),
    ("/admin/scraper/run/?id={run}", EDITORS),
    ("/admin/scraper/progress/?id={run}", EDITORS),
    ("/admin/application/", FINANCE),
    ("/admin/application/review/?id={application}", FINANCE),
    ("/admin/application/export/csv/", FINANCE),
    ("/admin/reservation/", FINANCE),
    ("/admin/appointment/", FINANCE),
    ("/admin/lead/", FINANCE),
    ("/admin/user/", ADMINS),
    ("/admin/user/manage/?id={application_user}", ADMINS),
    ("/admin/audit_log/", ADMINS),
    ("/admin/audit_log/export/csv/", ADMINS),
    ("/admin/subscription/", ADMINS),
    ("/admin/notification/", ADMINS),
    ("/admin/jobs/", ADMINS),
    ("/admin/system/", ADMINS),
]


@pytest.fixture
def ids(app):
    lot = make_lot(vin=VALID_VIN)
    application = make_application()
    run = ScrapeRun(status="succeeded", start_url="http://127.0.0.1/deals").save()
    return {
        "lot": lot.pk,
        "application": application.pk,
        "application_user": application.user.pk,
        "run": run.pk,
    }


@pytest.mark.parametrize(("path", "allowed"), PAGES, ids=[p for p, _ in PAGES])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(client, ids, path, allowed, role):
    signed_in(client, role)
    response = client.get(path.format(**ids))
    if role in allowed:
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("path", "allowed"), PAGES, ids=[p for p, _ in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(client, ids, path, allowed):
    response = client.get(path.format(**ids))
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_lists_only_what_the_role_may_open(client, role):
    signed_in(client, role)
    page = client.get("/admin/").get_data(as_text=True)
    assert ('href="/admin/lot/"' in page) == (role in EDITORS)
    assert ('href="/admin/application/"' in page) == (role in FINANCE)
    assert ('href="/admin/audit_log/"' in page) == (role in ADMINS)
    assert ('href="/admin/user/"' in page) == (role in ADMINS)


@pytest.mark.parametrize("role", ROLES)
def test_lot_batch_actions_by_role(client, role):
    lot = make_lot(status="draft", vin=VALID_VIN)
    signed_in(client, role)
    csrf = token(client)
    response = client.post(
        "/admin/lot/action/", data={"action": "publish", "rowid": str(lot.pk), "csrf_token": csrf}
    )
    assert (Lot.objects.get(pk=lot.pk).status == "published") == (role in EDITORS)
    if role not in EDITORS:
        assert response.status_code == 403
    response = client.post(
        "/admin/lot/action/", data={"action": "delete", "rowid": str(lot.pk), "csrf_token": csrf}
    )
    # Editors may open the view but the soft delete is admin-only: the action is refused on the server.
    assert (Lot.objects.get(pk=lot.pk).status == "deleted") == (role in ADMINS)


@pytest.mark.parametrize("role", ROLES)
def test_lot_transitions_and_trash_by_role(client, role):
    lot = make_lot(vin=VALID_VIN)
    signed_in(client, role)
    csrf = token(client)
    response = client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "archived", "csrf_token": csrf})
    assert (Lot.objects.get(pk=lot.pk).status == "archived") == (role in EDITORS)
    response = client.post(f"/admin/lot/transition/?id={lot.pk}", data={"to": "deleted", "csrf_token": csrf})
    if role == "admin":
        assert Lot.objects.get(pk=lot.pk).status == "deleted"
    else:
        assert response.status_code == 403 and Lot.objects.get(pk=lot.pk).status != "deleted"


@pytest.mark.parametrize("role", ROLES)
def test_revealing_personal_data_by_role(client, role):
    application = make_application()
    signed_in(client, role)
    response = client.post(
        f"/admin/application/review/reveal/?id={application.pk}",
        data={"field": "ssn", "reason": "identity_verification", "csrf_token": token(client)},
    )
    if role in FINANCE:
        assert response.status_code == 200 and response.get_json()["value"] == "900-12-3456"
    else:
        assert response.status_code == 403
        assert AuditLog.objects(action="pii_reveal").count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_application_actions_by_role(client, role):
    application = make_application()
    signed_in(client, role)
    response = client.post(
        f"/admin/application/review/status/?id={application.pk}",
        data={"status": "contacted", "csrf_token": token(client)},
    )
    application.reload()
    assert (application.status == "contacted") == (role in FINANCE)
    if role not in FINANCE:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_user_management_by_role(client, role):
    target = make_application().user
    signed_in(client, role)
    response = client.post(
        f"/admin/user/manage/?id={target.pk}",
        data={"op": "role", "role": "editor", "csrf_token": token(client)},
    )
    assert (target.reload().role == "editor") == (role in ADMINS)
    if role not in ADMINS:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_outbox_resend_by_role(client, role):
    from app.services.notifications import queue_message

    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    signed_in(client, role)
    response = client.post(
        "/admin/notification/action/",
        data={"action": "resend", "rowid": str(message.pk), "csrf_token": token(client)},
    )
    assert (message.reload().status == "queued") == (role in ADMINS)
    if role not in ADMINS:
        assert response.status_code == 403
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    response = client.post(f"/admin/notification/resend/?id={message.pk}", data={"csrf_token": token(client)})
    assert (message.reload().status == "queued") == (role in ADMINS)
    if role not in ADMINS:
        assert response.status_code == 403


def test_the_audit_log_cannot_be_changed_by_anyone(client):
    signed_in(client, "admin")
    entry = AuditLog.objects.first()
    csrf = token(client)
    assert client.get("/admin/audit_log/new/").status_code == 302
    assert client.get(f"/admin/audit_log/edit/?id={entry.pk}").status_code == 302
    client.post("/admin/audit_log/delete/", data={"id": str(entry.pk), "csrf_token": csrf})
    client.post(
        "/admin/audit_log/action/", data={"action": "delete", "rowid": str(entry.pk), "csrf_token": csrf}
    )
    assert AuditLog.objects(pk=entry.pk).count() == 1


def test_the_gridfs_route_of_flask_admin_is_closed(client):
    signed_in(client, "admin")
    assert client.get("/admin/lot/api/file/?id=x&coll=fs").status_code == 404
