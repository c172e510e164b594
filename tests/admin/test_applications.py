"""Finance managers' work: the queue (filters, counts), the application page with masked PII, the audited
reveal and fleet copy, status changes that notify the customer, approval, prescoring, alternatives,
income and comments, pickup and the timeline (business rules §5, §6, §12)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.errors import RuleViolation, ValidationFailed
from app.models import Application, AuditLog, Notification, PickupBooking
from app.models.base import utcnow
from app.services import application_review as review
from app.services import audit
from tests.admin.conftest import make_application, make_customer, signed_in, token
from tests.factories import make_lot

FM = audit.Actor(id="000000000000000000000009", email="fm@example.com", role="finance_manager")


def post(client, path, **data):
    return client.post(path, data={**data, "csrf_token": token(client)})


def test_the_queue_filters_by_status_tier_result_and_age_with_counts(finance_client):
    old = make_application(customer=make_customer(name="Olivia Old"))
    Application.objects(pk=old.pk).update_one(set__created_at=utcnow() - timedelta(days=10))
    fresh = make_application(customer=make_customer(name="Fred Fresh", credit_score=600))
    review.prescore(fresh.pk, actor=FM)
    contacted = make_application(customer=make_customer(name="Carla Contacted"))
    review.change_status(contacted.pk, "contacted", actor=FM)

    def names(query):
        page = finance_client.get("/admin/application/" + query).get_data(as_text=True)
        return sorted(n for n in ("Olivia Old", "Fred Fresh", "Carla Contacted") if n in page)

    assert names("") == ["Carla Contacted", "Fred Fresh", "Olivia Old"]
    assert names("?flt0_status_is=contacted") == ["Carla Contacted"]
    assert names("?flt0_prescoring_tier_is=Tier+3") == ["Fred Fresh"]
    assert names("?flt0_prescoring_result_is=Low") == ["Fred Fresh"]
    assert names("?flt0_age_is=old") == ["Olivia Old"]
    assert names("?flt0_age_is=1d") == ["Carla Contacted", "Fred Fresh"]
    assert names("?search=fred") == ["Fred Fresh"]
    page = finance_client.get("/admin/application/").get_data(as_text=True)
    assert (
        'data-testid="status-counts"' in page and 'pending <span class="badge badge-light">2</span>' in page
    )


def test_the_page_masks_sensitive_values(finance_client):
    application = make_application()
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    assert "***-**-3456" in page and "*****4567" in page and "****-**-**" in page
    assert "900-12-3456" not in page and "D1234567" not in page and "1985-06-15" not in page
    assert "(age " in page


def test_reveal_needs_a_reason_is_logged_and_never_cached(finance_client):
    application = make_application()
    path = f"/admin/application/review/reveal/?id={application.pk}"
    response = post(finance_client, path, field="ssn", reason="")
    assert response.status_code == 422 and AuditLog.objects(action="pii_reveal").count() == 0
    response = post(finance_client, path, field="ssn", reason="other", other_reason="")
    assert response.status_code == 422
    response = post(finance_client, path, field="date_of_birth", reason="identity_verification")
    assert response.status_code == 200 and response.get_json() == {
        "field": "date_of_birth",
        "value": "1985-06-15",
        "expires_in": 60,
    }
    assert response.headers["Cache-Control"] == "no-store"
    entry = AuditLog.objects.get(action="pii_reveal")
    assert entry.resource_type == "pii" and entry.reason == "identity_verification"
    assert entry.details["field"] == "date_of_birth" and entry.details["application_id"] == str(
        application.pk
    )
    assert entry.actor_role == "finance_manager" and entry.ip_address and entry.user_agent is not None
    assert "1985-06-15" not in str(entry.to_mongo())


def test_copy_to_fleet_counts_as_a_reveal_of_every_sensitive_field(finance_client):
    application = make_application()
    response = post(
        finance_client, f"/admin/application/review/fleet/?id={application.pk}", reason="fleet_submission"
    )
    text = response.get_json()["text"]
    assert (
        "SSN: 900-12-3456" in text
        and "Driver's licence: D1234567" in text
        and application.lot_data.title in text
    )
    entry = AuditLog.objects.get(action="copy_to_fleet")
    assert entry.details["fields"] == ["ssn", "drivers_license_number", "date_of_birth"]
    assert entry.reason == "fleet_submission"


def test_many_reveals_alert_the_admins(app):
    make_customer()  # not an admin
    from tests.factories import make_user

    make_user(role="admin", email="owner@example.com")
    application = make_application()
    threshold = app.config["PII_REVEAL_ALERT_THRESHOLD"]
    for _ in range(threshold):
        review.reveal(application.pk, "ssn", actor=FM, reason="customer_request")
    assert Notification.objects(template="staff_alert").count() == 0
    review.reveal(application.pk, "ssn", actor=FM, reason="customer_request")
    assert Notification.objects(template="staff_alert", recipient="owner@example.com").count() == 1


def test_status_changes_follow_the_table_and_notify_the_customer(finance_client):
    application = make_application()
    path = f"/admin/application/review/status/?id={application.pk}"
    post(finance_client, path, status="contacted", note="Called at 10")
    application.reload()
    assert application.status == "contacted" and application.contacted_at is not None
    assert application.status_history[-1].by_email and application.status_history[-1].note == "Called at 10"
    assert (
        Notification.objects(application=application.pk, template="application_status_contacted").count() == 1
    )
    assert AuditLog.objects(action="status_change", resource_id=str(application.pk)).count() == 1

    post(finance_client, path, status="approved")  # approval only through its own form
    assert application.reload().status == "contacted"
    post(finance_client, path, status="rejected")  # a reason code is required
    assert application.reload().status == "contacted"
    post(finance_client, path, status="rejected", reason_code="insufficient_income")
    application.reload()
    assert application.status == "rejected" and application.rejection_reason_code == "insufficient_income"
    assert application.is_open is False
    post(finance_client, path, status="pending")  # reopening needs a note
    assert application.reload().status == "rejected"
    post(finance_client, path, status="pending", note="Customer sent a new paystub")
    assert application.reload().status == "pending" and application.is_open


def test_approval_with_exactly_one_rate_and_the_customer_sees_it(finance_client):
    application = make_application()
    path = f"/admin/application/review/approve/?id={application.pk}"
    with pytest.raises(ValidationFailed):
        review.validate_terms(
            apr="4", money_factor="0.002", loan_term=36, down_payment=0, monthly_payment=400
        )
    with pytest.raises(ValidationFailed):
        review.validate_terms(loan_term=36, down_payment=0, monthly_payment=400)
    response = post(
        finance_client,
        path,
        rate_kind="apr",
        rate="5.9",
        loan_term="60",
        down_payment="3000",
        monthly_payment="500",
        admin_notes="Bring your licence",
    )
    assert response.status_code == 302
    application.reload()
    assert application.status == "approved" and application.pickup_status == "ready_for_pickup"
    assert (
        application.approval_details.apr == Decimal("5.9")
        and application.approval_details.money_factor is None
    )
    assert application.approval_details.monthly_payment == Decimal(500)
    assert application.admin_notes == "Bring your licence"
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    assert "differs by more than $1" in page  # 26,400 at 5.9 % over 60 months is 509.16, not 500
    assert (
        Notification.objects(application=application.pk, template="application_status_approved").count() == 1
    )

    # Terms can be replaced while approved (audited), with a money factor shown as a rate equivalent.
    post(
        finance_client,
        path,
        rate_kind="money_factor",
        rate="0.00150",
        loan_term="36",
        down_payment="0",
        monthly_payment="399",
    )
    application.reload()
    assert (
        application.approval_details.money_factor == Decimal("0.00150")
        and application.approval_details.apr is None
    )
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    assert "approx. rate equivalent 3.6" in page
    assert AuditLog.objects(action="approve", resource_id=str(application.pk)).count() == 2

    review.change_status(application.pk, "contract_sent", actor=FM)
    with pytest.raises(RuleViolation, match="locked"):
        review.approve(application.pk, actor=FM, apr="4", loan_term=36, down_payment=0, monthly_payment=400)


def test_prescoring_is_stored_with_the_placeholders_marked(finance_client):
    application = make_application(
        customer=make_customer(credit_score=690, monthly_income_pretax=None, annual_income=Decimal(90000))
    )
    post(finance_client, f"/admin/application/review/prescore/?id={application.pk}")
    application.reload()
    data = application.prescoring_data
    assert data["credit_tier"] == "Tier 2" and data["approval_probability"] == "Medium"
    assert data["max_approved_amount"] == 40500 and data["provider"] == "local_model"
    assert application.prescoring_tier == "Tier 2" and data["checked_by"]
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    assert "not available" in page
    with pytest.raises(ValidationFailed):
        review.prescore_many([application.pk] * 51, actor=FM)


def test_alternatives_are_suggested_and_picked(finance_client):
    original = make_lot(make="Toyota", lease=None)
    from app.models.lot import LeaseTerms

    def priced(make, monthly):
        return make_lot(
            make=make,
            lease=LeaseTerms(
                monthly=Decimal(monthly), due_at_signing=Decimal(1), term_months=36, miles_per_year=10000
            ),
        )

    original = priced("Toyota", 500)
    cheaper, similar, luxury = priced("Kia", 350), priced("Honda", 480), priced("Lexus", 700)
    application = make_application(lot=original)
    suggestions = review.suggest_alternatives(application)
    assert (suggestions.cheaper.slug, suggestions.similar.slug, suggestions.luxury.slug) == (
        cheaper.slug,
        similar.slug,
        luxury.slug,
    )
    post(
        finance_client,
        f"/admin/application/review/alternatives/?id={application.pk}",
        alt_lot_1=cheaper.slug,
        alt_reason_1="Budget",
        alt_lot_2=str(luxury.pk),
        alt_lot_3="",
    )
    application.reload()
    assert [a.lot_slug for a in application.alternatives] == [cheaper.slug, luxury.slug]
    assert application.alternatives[0].reason == "Budget" and application.alternatives[0].monthly == Decimal(
        350
    )
    with pytest.raises(ValidationFailed):
        review.set_alternatives(application.pk, [("no-such-lot", None)], actor=FM)


def test_income_comments_and_customer_notes(finance_client):
    application = make_application()
    base = f"/admin/application/review/{{}}/?id={application.pk}"
    post(finance_client, base.format("income"), verified_income="7250.50")
    post(finance_client, base.format("comment"), comment="Paystub looks fine")
    post(finance_client, base.format("notes"), admin_notes="We will call you tomorrow")
    application.reload()
    assert application.verified_income == Decimal("7250.50")
    assert application.manager_comments[0].text == "Paystub looks fine"
    assert application.admin_notes == "We will call you tomorrow"
    actions = set(AuditLog.objects(resource_id=str(application.pk)).distinct("action"))
    assert {"verified_income_set", "comment_added", "update"} <= actions


def test_pickup_reschedule_releases_the_slot(finance_client):
    application = make_application()
    review.approve(application.pk, actor=FM, apr="4", loan_term=60, down_payment=0, monthly_payment=541)
    slot = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    PickupBooking(slot_start=slot, application=application, user=application.user).save()
    Application.objects(pk=application.pk).update_one(set__pickup_status="scheduled", set__pickup_slot=slot)
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    assert "this application" in page
    post(
        finance_client,
        f"/admin/application/review/pickup-release/?id={application.pk}",
        note="Customer asked",
    )
    application.reload()
    assert application.pickup_status == "ready_for_pickup" and application.pickup_slot is None
    assert PickupBooking.objects.count() == 0
    assert AuditLog.objects(action="pickup_released").first().reason == "Customer asked"


def test_rejecting_an_approved_application_releases_its_slot(app):
    application = make_application()
    review.approve(application.pk, actor=FM, apr="4", loan_term=60, down_payment=0, monthly_payment=541)
    slot = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    PickupBooking(slot_start=slot, application=application, user=application.user).save()
    Application.objects(pk=application.pk).update_one(set__pickup_status="scheduled", set__pickup_slot=slot)
    review.change_status(application.pk, "rejected", actor=FM, reason_code="financing_fell_through")
    application.reload()
    assert application.pickup_status is None and application.pickup_slot is None
    assert PickupBooking.objects.count() == 0


def test_the_timeline_shows_what_happened(finance_client):
    application = make_application()
    review.change_status(application.pk, "contacted", actor=FM, note="First call")
    review.add_comment(application.pk, "Waiting for documents", actor=FM)
    review.reveal(application.pk, "ssn", actor=FM, reason="customer_request")
    page = finance_client.get(f"/admin/application/review/?id={application.pk}").get_data(as_text=True)
    timeline = page.split('data-testid="timeline"', 1)[1]
    for text in (
        "Application submitted",
        "pending → contacted",
        "First call",
        "Waiting for documents",
        "pii reveal",
        "email message",
    ):
        assert text in timeline


def test_application_export_never_contains_sensitive_values(finance_client):
    make_application()
    response = finance_client.get("/admin/application/export/csv/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "applicant" in body.lower()
    assert "3456" not in body and "D1234567" not in body and "1985" not in body
    assert AuditLog.objects(action="export", resource_type="application").count() == 1


def test_editors_never_see_applications(client):
    application = make_application()
    signed_in(client, "editor")
    assert client.get(f"/admin/application/review/?id={application.pk}").status_code == 403
    assert client.get("/admin/application/export/csv/").status_code == 403
    page = client.get("/admin/").get_data(as_text=True)
    assert application.user_data.name not in page


def test_unknown_application_is_404(finance_client):
    assert finance_client.get("/admin/application/review/?id=nope").status_code == 404
