"""Every back-office URL against every role, walked from the application's ``url_map`` (business rules §10).

``EXPECTED`` lists, for every endpoint under ``/admin``, the roles that may open it (GET answers 200) and the
roles that may post to it. The walk fails on any endpoint missing from the table, so a view added later
cannot ship without a decision on who may use it. For every role that is *not* allowed, the request is
made for real (a valid CSRF token and a plausible form) and must be refused on the server: 403, a redirect
away (Flask-Admin's answer for a disabled capability), 404 or 405, never a 200 page, and a POST must leave
every collection exactly as it was.

Roles: ``anonymous`` (no session), ``password_step_only`` (an admin between the password and the code
steps: the second factor cannot be skipped by opening a URL), ``user`` (a staff session whose account was made a customer without
ending the session: the role is read again on every request), ``finance_manager``, ``editor``, ``admin``.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from bson import BSON

from app.db import get_db
from app.models import Notification, ScrapedOffer, ScrapeRun, User
from app.services import documents
from tests.admin.conftest import VALID_VIN, make_application, signed_in, token
from tests.factories import DEFAULT_PASSWORD, make_lot, make_user
from tests.foundation.test_admin_auth import csrf_from, enrol_mfa

ANONYMOUS, USER, FINANCE_MANAGER, EDITOR, ADMIN = "anonymous", "user", "finance_manager", "editor", "admin"
PASSWORD_ONLY = "password_step_only"  # an admin who passed the password step but not the second factor
ROLES = (ANONYMOUS, PASSWORD_ONLY, USER, FINANCE_MANAGER, EDITOR, ADMIN)
NOBODY: frozenset[str] = frozenset()
STAFF = frozenset({FINANCE_MANAGER, EDITOR, ADMIN})
EDITORS = frozenset({EDITOR, ADMIN})
FINANCE = frozenset({FINANCE_MANAGER, ADMIN})
ADMINS = frozenset({ADMIN})
PUBLIC = frozenset(ROLES)

# The generic endpoints Flask-Admin adds to every model view.
GENERIC = (
    "index_view",
    "create_view",
    "edit_view",
    "details_view",
    "delete_view",
    "action_view",
    "export",
    "ajax_lookup",
    "ajax_update",
    "api_file_view",
)


def model_view(
    name: str,
    *,
    view: frozenset[str],
    create: frozenset[str] = NOBODY,
    edit: frozenset[str] = NOBODY,
    details: frozenset[str] = NOBODY,
    delete: frozenset[str] = NOBODY,
    actions: frozenset[str] = NOBODY,
    export: frozenset[str] = NOBODY,
) -> dict[str, dict[str, frozenset[str]]]:
    """Expectations for the generic endpoints of one model view: ``{endpoint: {method: roles}}``."""
    return {
        f"{name}.index_view": {"GET": view},
        f"{name}.create_view": {"GET": create, "POST": create},
        f"{name}.edit_view": {"GET": edit, "POST": edit},
        f"{name}.details_view": {"GET": details},
        f"{name}.delete_view": {"POST": delete},
        f"{name}.action_view": {"POST": actions},
        f"{name}.export": {"GET": export},
        f"{name}.ajax_lookup": {"GET": NOBODY},
        f"{name}.ajax_update": {"POST": NOBODY},
        f"{name}.api_file_view": {"GET": NOBODY},
    }


EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    # Sign-in pages are public (they carry their own checks); static files of the admin theme too.
    "admin.static": {"GET": PUBLIC},
    "admin_auth.login": {"GET": PUBLIC, "POST": PUBLIC},
    "admin_auth.verify": {"GET": frozenset({PASSWORD_ONLY}), "POST": frozenset({PASSWORD_ONLY})},
    "admin_auth.enrol": {"GET": NOBODY, "POST": NOBODY},
    "admin_auth.logout": {"POST": PUBLIC},
    "admin_auth.recovery_codes": {"GET": STAFF, "POST": STAFF},
    "admin.index": {"GET": STAFF},
    # Lots: editors and admins; the trash is admin-only.
    **model_view("lot", view=EDITORS, create=EDITORS, edit=EDITORS, actions=EDITORS, export=EDITORS),
    "lot.transition_view": {"POST": EDITORS},
    "lot.image_upload_view": {"POST": EDITORS},
    "lot.image_update_view": {"POST": EDITORS},
    "lot.calculator_view": {"GET": EDITORS},
    "lot.vin_decode_view": {"GET": EDITORS},
    "lot.preview_view": {"POST": EDITORS},
    "lot.duplicate_view": {"POST": EDITORS},
    "lot.import_view": {"GET": EDITORS, "POST": EDITORS},
    **model_view("lot_trash", view=ADMINS),
    **model_view("scraper", view=EDITORS),
    "scraper.start_view": {"POST": EDITORS},
    "scraper.run_view": {"GET": EDITORS},
    "scraper.progress_view": {"GET": EDITORS},
    "scraper.draft_view": {"POST": EDITORS},
    # Finance: finance managers and admins; editors never.
    **model_view("application", view=FINANCE, actions=FINANCE, export=FINANCE),
    "application.review_view": {"GET": FINANCE},
    "application.document_view": {"GET": FINANCE},
    **{
        f"application.{name}": {"POST": FINANCE}
        for name in (
            "status_view",
            "approve_view",
            "prescore_view",
            "income_view",
            "comment_view",
            "notes_view",
            "alternatives_view",
            "pickup_ready_view",
            "pickup_release_view",
            "reveal_view",
            "fleet_view",
        )
    },
    **model_view("reservation", view=FINANCE, details=FINANCE),
    **model_view("appointment", view=FINANCE, edit=FINANCE, details=FINANCE),
    **model_view("lead", view=FINANCE, details=FINANCE),
    "lead.status_view": {"GET": FINANCE, "POST": FINANCE},
    # Admin only.
    **model_view("user", view=ADMINS, actions=ADMINS),
    "user.manage_view": {"GET": ADMINS, "POST": ADMINS},
    **model_view("audit_log", view=ADMINS, details=ADMINS, export=ADMINS),
    **model_view("subscription", view=ADMINS, details=ADMINS),
    **model_view("notification", view=ADMINS, details=ADMINS, actions=ADMINS),
    "notification.resend_view": {"POST": ADMINS},
    "jobs.index": {"GET": ADMINS},
    "jobs.retry": {"POST": ADMINS},
    "system.index": {"GET": ADMINS},
    "system.test_notification": {"POST": ADMINS},
}

# Batch actions, per model view and action name: who may run each one (the action endpoint above only
# says who may post to it at all). Flask-Admin's built-in "delete" exists on every model view.
ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    "lot": {"publish": EDITORS, "unpublish": EDITORS, "archive": EDITORS, "delete": ADMINS},
    "application": {"prescore": FINANCE},
    "user": {"deactivate": ADMINS, "reactivate": ADMINS, "reset_mfa": ADMINS},
    "notification": {"resend": ADMINS},
}

# Roles of the table that must hold whatever the table says (business rules §10, as a second line).
EDITOR_NEVER = (
    "application.",
    "lead.",
    "reservation.",
    "appointment.",
    "subscription.",
    "user.",
    "audit_log.",
)
FINANCE_NEVER_POSTS = ("lot.", "lot_trash.", "scraper.")


def test_the_table_follows_the_rules_of_section_10():
    for endpoint, methods in EXPECTED.items():
        for _method, roles in methods.items():
            if endpoint.startswith(EDITOR_NEVER):
                assert EDITOR not in roles, endpoint
            if endpoint.startswith(("user.", "audit_log.")):
                assert roles <= ADMINS, endpoint
            assert USER not in roles or roles == PUBLIC, endpoint
            if not endpoint.startswith("admin_auth."):
                assert PASSWORD_ONLY not in roles or roles == PUBLIC, endpoint
        if endpoint.startswith(FINANCE_NEVER_POSTS):
            assert FINANCE_MANAGER not in methods.get("POST", NOBODY), endpoint


@pytest.fixture
def world(app) -> dict[str, str]:
    """One record of each kind, so every URL that takes an id gets a real one."""
    from datetime import timedelta
    from decimal import Decimal

    from app.models import Appointment, AuditLog, Lead, Reservation, Subscription
    from app.models.base import utcnow
    from app.services.notifications import queue_message

    lot = make_lot(vin=VALID_VIN)
    application = make_application(lot=lot)
    customer = application.user
    document = documents.upload(
        application.pk,
        customer,
        doc_type="paystub",
        stream=io.BytesIO(b"%PDF-1.4\n% a pay stub\n"),
        filename="paystub.pdf",
    )
    run = ScrapeRun(status="succeeded", start_url="http://127.0.0.1/deals").save()
    offer = ScrapedOffer(
        external_id="kia-k5", title="2025 Kia K5", year=2025, make="Kia", model="K5", last_run=run.pk
    ).save()
    message = queue_message(
        channel="email", recipient="x@example.com", template="test_message", idempotency_key="k", send=False
    )
    Notification.objects(pk=message.pk).update_one(set__status="failed")
    reservation = Reservation(
        user=customer,
        lot=lot,
        lot_slug=lot.slug,
        reserved_price=Decimal(29400),
        monthly_payment=Decimal(329),
        due_at_signing=Decimal(2999),
        expires_at=utcnow() + timedelta(hours=48),
    ).save()
    appointment = Appointment(
        user=customer,
        application=application,
        appointment_type="video",
        date="2030-01-02",
        time="9:00 AM",
        starts_at=utcnow() + timedelta(days=3),
    ).save()
    lead = Lead(kind="lead", name="Pat Lee", phone="(949) 555-0100", email="pat@example.com").save()
    subscription = Subscription(user=customer, makes=["Toyota"], email=customer.email).save()
    return {
        "lot": str(lot.pk),
        "lot_trash": str(make_lot(status="deleted").pk),
        "application": str(application.pk),
        "document": str(document.pk),
        "user": str(customer.pk),
        "scraper": str(run.pk),
        "offer": str(offer.pk),
        "notification": str(message.pk),
        "reservation": str(reservation.pk),
        "appointment": str(appointment.pk),
        "lead": str(lead.pk),
        "subscription": str(subscription.pk),
        "audit_log": str(AuditLog.objects.first().pk),
        "image": lot.images[0].image_id if lot.images else "",
    }


def fingerprint() -> str:
    """A digest of every document of every collection but the audit log (which records refusals too)."""
    db = get_db()
    digest = hashlib.sha256()
    for name in sorted(db.list_collection_names()):
        if name in ("audit_logs", "migrations") or name.startswith("system."):
            continue
        digest.update(name.encode())
        for document in db[name].find({}).sort("_id", 1):
            digest.update(BSON.encode(document))
    return digest.hexdigest()


def url_for_rule(rule: Any, world: dict[str, str]) -> str:
    """A concrete URL for a rule, with the id of a real record of the view's model."""
    view = rule.endpoint.split(".", 1)[0]
    path = rule.rule.replace("<export_type>", "csv").replace(
        "<path:filename>", "admin/css/bootstrap4/admin.css"
    )
    record_id = world.get(view, world["lot"])
    params = {"id": record_id}
    if rule.endpoint == "application.document_view":
        params["doc"] = world["document"]
    if rule.endpoint == "scraper.draft_view":
        params["id"] = world["offer"]
    if rule.endpoint == "lot.calculator_view":
        params.update(
            msrp="35000", selling_price="32500", residual_percent="58", money_factor="0.002", term="36"
        )
    if rule.endpoint == "lot.vin_decode_view":
        params["vin"] = "too short"  # refused before any network call: 422 for those who may use it
    return path + "?" + "&".join(f"{key}={value}" for key, value in params.items())


def form_for(endpoint: str, world: dict[str, str], csrf: str) -> dict[str, Any]:
    """A plausible, complete form for a POST: what a user of that page would send."""
    data: dict[str, Any] = {"csrf_token": csrf, "id": world.get(endpoint.split(".")[0], world["lot"])}
    view, _, name = endpoint.partition(".")
    if name == "action_view":
        data.update(
            action={"user": "deactivate", "notification": "resend", "application": "prescore"}.get(
                view, "delete"
            ),
            rowid=data["id"],
        )
    data.update(
        {
            "lot.transition_view": {"to": "archived"},
            "lot.image_update_view": {"delete": world["image"]},
            "lot.create_view": {"make": "Kia", "model": "K5", "year": "2025", "trim": "Forged"},
            "lot.edit_view": {"make": "Kia", "model": "K5", "year": "2025", "trim": "Forged"},
            "application.status_view": {"status": "contacted"},
            "application.approve_view": {
                "rate_kind": "apr",
                "rate": "5",
                "loan_term": "60",
                "down_payment": "0",
                "monthly_payment": "500",
            },
            "application.comment_view": {"comment": "forged"},
            "application.notes_view": {"admin_notes": "forged"},
            "application.income_view": {"verified_income": "9000"},
            "application.reveal_view": {"field": "ssn", "reason": "identity_verification"},
            "application.fleet_view": {"reason": "fleet_submission"},
            "lead.status_view": {"status": "contacted"},
            "appointment.edit_view": {"status": "cancelled", "notes": "forged"},
            "user.manage_view": {"op": "role", "role": "admin"},
            "jobs.retry": {"queue": "images", "job_id": "x"},
        }.get(endpoint, {})
    )
    return data


def client_as(app: Any, role: str) -> Any:
    client = app.test_client()
    if role == ANONYMOUS:
        return client
    if role == PASSWORD_ONLY:
        account = make_user(role=ADMIN)
        enrol_mfa(account)
        page = client.get("/admin/login").get_data(as_text=True)
        response = client.post(
            "/admin/login",
            data={"email": account.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf_from(page)},
        )
        assert response.headers["Location"] == "/admin/login/verify"
        return client
    if role == USER:
        account = signed_in(client, EDITOR)
        # The account becomes a customer while its session stays open (no session generation bump): every
        # request must read the role again.
        User.objects(pk=account.pk).update_one(set__role="user")
        return client
    signed_in(client, role)
    return client


def admin_rules(app: Any) -> list[Any]:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")), key=lambda r: r.rule
    )


def test_every_back_office_endpoint_has_a_decision(app):
    missing = sorted({rule.endpoint for rule in admin_rules(app)} - set(EXPECTED))
    assert not missing, (
        f"back-office endpoints without an entry in EXPECTED (decide who may use them): {missing}"
    )
    for rule in admin_rules(app):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method in EXPECTED[rule.endpoint], f"{method} {rule.rule}: no decision"


# What an allowed GET answers when it is not a plain page.
EXPECTED_STATUS = {
    **{("lot.vin_decode_view", role): 422 for role in EDITORS},  # the VIN is refused before any network call
    **{("admin_auth.login", role): 302 for role in STAFF},  # a signed-in staff member goes to the dashboard
}


def view_actions(app: Any) -> dict[str, list[str]]:
    """``{endpoint: [action names]}`` for every model view of the back office."""
    found: dict[str, list[str]] = {}
    for admin in app.extensions["admin"]:
        for view in admin._views:
            names = [name for name, _text in getattr(view, "_actions", None) or []]
            if names:
                found[view.endpoint] = names
    return found


def test_every_batch_action_has_a_decision(app):
    for endpoint, names in view_actions(app).items():
        for name in names:
            if name == "delete" and name not in ACTIONS.get(endpoint, {}):
                continue  # Flask-Admin's own delete: nobody (checked below as NOBODY)
            assert name in ACTIONS.get(endpoint, {}), f"action {name!r} of {endpoint}: no decision in ACTIONS"


def refused(response: Any, path: str) -> bool:
    if response.status_code in (400, 403, 404, 405):
        return True
    if response.status_code == 302:
        location = response.headers["Location"]
        return location.split("?")[0] != path.split("?")[0] or "login" in location
    return False


@pytest.mark.parametrize("role", ROLES)
def test_every_back_office_url_answers_each_role_as_section_10_says(app, world, role):
    """Walks the url_map: a role outside an endpoint's roles is refused and changes nothing; a role inside
    them reaches the page."""
    client = client_as(app, role)
    # A CSRF token of the caller's own session, from a page that caller can open.
    token_page = (
        "/admin/login/verify" if role == PASSWORD_ONLY else "/admin/" if role in STAFF else "/admin/login"
    )
    csrf = token(client, token_page)
    problems: list[str] = []
    for rule in admin_rules(app):
        expected = EXPECTED[rule.endpoint]
        if rule.endpoint in ("admin_auth.logout",):
            continue  # signing out is open to anyone and changes only the caller's own session
        url = url_for_rule(rule, world)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            allowed = role in expected[method]
            if method == "GET":
                response = client.get(url)
                if allowed and response.status_code != EXPECTED_STATUS.get((rule.endpoint, role), 200):
                    problems.append(f"GET {url}: {response.status_code}, expected the page")
                if not allowed and not refused(response, url):
                    problems.append(f"GET {url}: {response.status_code}, expected a refusal")
            elif not allowed:
                before = fingerprint()
                response = client.post(url, data=form_for(rule.endpoint, world, csrf))
                if not refused(response, url):
                    problems.append(f"POST {url}: {response.status_code}, expected a refusal")
                if fingerprint() != before:
                    problems.append(f"POST {url}: changed the database for a {role}")
            if (
                role in (ANONYMOUS, PASSWORD_ONLY)
                and not allowed
                and not rule.endpoint.startswith("admin_auth.")
            ):
                # Not signed in: sent to the sign-in page (or the URL does not exist for anyone).
                if response.status_code not in (302, 404, 405):
                    problems.append(f"{method} {url}: {response.status_code} before sign-in")
    for endpoint, names in view_actions(app).items():
        for name in names:
            if role in ACTIONS.get(endpoint, {}).get(name, NOBODY):
                continue
            url = f"/admin/{endpoint}/action/"
            record_id = world.get(endpoint, world["lot"])
            before = fingerprint()
            response = client.post(url, data={"csrf_token": csrf, "action": name, "rowid": record_id})
            if not refused(response, url):
                problems.append(f"action {name} of {endpoint}: {response.status_code}, expected a refusal")
            if fingerprint() != before:
                problems.append(f"action {name} of {endpoint}: changed the database for a {role}")
    assert not problems, "\n".join(problems)


def test_no_post_changes_anything_without_the_session_csrf_token(app, world):
    """Walks every POST endpoint as an admin (who may use them all) with a complete form but no token, or
    a token of another session: nothing changes, and the session stays signed in."""
    client = client_as(app, ADMIN)
    other = client_as(app, ADMIN)
    foreign = token(other)
    problems = []
    for rule in admin_rules(app):
        if "POST" not in rule.methods:
            continue
        url = url_for_rule(rule, world)
        for csrf in (None, foreign, "forged"):
            form = form_for(rule.endpoint, world, csrf or "")
            if csrf is None:
                form.pop("csrf_token")
            before = fingerprint()
            response = client.post(url, data=form)
            if response.status_code >= 500:
                problems.append(f"POST {url} ({csrf!r}): {response.status_code}")
            if fingerprint() != before:
                problems.append(f"POST {url} changed the database with CSRF token {csrf!r}")
        view = rule.endpoint.split(".")[0]
        actions = view_actions(app).get(view, []) if rule.endpoint.endswith(".action_view") else []
        for name in actions:
            before = fingerprint()
            client.post(url, data={"action": name, "rowid": world.get(view, "")})
            if fingerprint() != before:
                problems.append(f"action {name} of {view} ran without a CSRF token")
    assert client.get("/admin/").status_code == 200, "a forged POST signed the admin out"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [ADMIN, PASSWORD_ONLY])
def test_no_get_changes_anything(app, world, role):
    """Walks every GET endpoint: reading a page, an export or a JSON answer never changes a record (the
    audit log, which records reads of personal data and exports, is the one exception)."""
    client = client_as(app, role)
    problems = []
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        url = url_for_rule(rule, world)
        before = fingerprint()
        response = client.get(url)
        if response.status_code >= 500:
            problems.append(f"GET {url}: {response.status_code}")
        if fingerprint() != before:
            problems.append(f"GET {url} changed the database")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [USER, FINANCE_MANAGER, EDITOR])
def test_account_management_services_refuse_non_admins(app, role):
    """The services check the role too, so a future caller (a view, a job, a script) cannot skip it."""
    from app.errors import PermissionDenied
    from app.services import audit, users

    actor = audit.actor_for(make_user(role=role))
    target = make_user(role=EDITOR)
    for call in (
        lambda: users.set_role(target, ADMIN, actor=actor),
        lambda: users.deactivate(target, actor=actor),
        lambda: users.reactivate(target, actor=actor),
        lambda: users.set_password(target, "a-new-password-123456", actor=actor),
    ):
        with pytest.raises(PermissionDenied):
            call()
    target.reload()
    assert target.role == EDITOR and target.is_active and (target.session_generation or 0) == 0
