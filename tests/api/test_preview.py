"""GET /api/preview/{token}: saved lots, unsaved snapshots, expiry, headers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.models import AuditLog, Lot, PreviewToken
from app.models.base import utcnow
from app.models.lot import FinanceTerms, LeaseTerms
from app.services import audit, previews
from tests.factories import make_lot, make_user


@pytest.fixture
def editor_actor(app):
    return audit.actor_for(make_user(role="editor"))


def test_a_saved_lot_preview_shows_its_current_data_even_as_a_draft(client, editor_actor):
    lot = make_lot(status="draft")
    token = previews.create_preview(lot_id=lot.pk, actor=editor_actor)
    lot.lease.monthly = Decimal(345)
    lot.save()

    response = client.get(f"/api/preview/{token}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == f"preview-{token}"
    assert body["slug"] == lot.slug
    assert body["isPreview"] is True and body["previewToken"] == token
    assert body["dealer"] == "Fleet Preview"
    assert body["title"] == lot.title
    assert body["lease"]["monthly"] == 345
    assert isinstance(body["gallery"], list) and isinstance(body["specs"], dict)
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unsaved_snapshot_preview_shows_the_captured_values(client, editor_actor):
    draft = Lot(
        make="Lexus",
        model="RX 350",
        year=2025,
        trim="",
        msrp=Decimal(52000),
        discount=Decimal(3000),
        lease=LeaseTerms(
            monthly=Decimal(599), due_at_signing=Decimal(3999), term_months=36, miles_per_year=10000
        ),
        finance=FinanceTerms(apr=Decimal("5.9"), term_months=60, down_payment=Decimal(5000)),
    )
    token = previews.create_preview(snapshot=draft.to_mongo().to_dict(), actor=editor_actor)
    body = client.get(f"/api/preview/{token}").get_json()
    assert body["slug"] == "2025-lexus-rx-350-preview"
    assert body["title"] == "2025 Lexus RX 350"
    assert body["fleet"] == 49000
    assert body["lease"] == {"monthly": 599, "dueAtSigning": 3999, "termMonths": 36, "milesPerYear": 10000}
    assert body["finance"] == {"apr": 5.9, "termMonths": 60, "downPayment": 5000}
    assert body["specs"]["year"] == "2025"


def test_tokens_are_stored_hashed_and_creation_is_audited(app, editor_actor):
    lot = make_lot()
    token = previews.create_preview(lot_id=lot.pk, actor=editor_actor)
    row = PreviewToken.objects.get()
    assert row.token_hash == previews.token_hash(token) and token not in row.to_json()
    assert len(token) >= 43  # 256 random bits, URL-safe
    entry = AuditLog.objects(action="preview_created").get()
    assert entry.resource_id == str(lot.pk) and entry.actor_id == editor_actor.id


@pytest.mark.parametrize("token", ["nope", "x" * 43, "a" * 500])
def test_unknown_tokens_are_404(client, token):
    response = client.get(f"/api/preview/{token}")
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Preview not found or expired"}
    # The endpoint's headers hold for its 404 too (consumer-api §4.2.3).
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_expired_token_is_404_with_the_same_message(client, editor_actor):
    lot = make_lot()
    token = previews.create_preview(
        lot_id=lot.pk, actor=editor_actor, now=utcnow() - timedelta(hours=2, seconds=1)
    )
    response = client.get(f"/api/preview/{token}")
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Preview not found or expired"}


def test_a_preview_of_a_deleted_lot_is_404(client, editor_actor):
    lot = make_lot()
    token = previews.create_preview(lot_id=lot.pk, actor=editor_actor)
    lot.update(set__status="deleted")
    assert client.get(f"/api/preview/{token}").status_code == 404


def test_create_preview_needs_exactly_one_source(app, editor_actor):
    from app.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed):
        previews.create_preview(actor=editor_actor)
    with pytest.raises(ValidationFailed):
        previews.create_preview(lot_id=make_lot().pk, snapshot={"make": "Kia"}, actor=editor_actor)
    with pytest.raises(NotFound):
        previews.create_preview(lot_id="0123456789abcdef01234567", actor=editor_actor)
