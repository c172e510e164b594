"""GET /api/cars and GET /api/cars/{slug_or_id}: shapes, visibility, images, caching."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.db import get_db, get_redis
from app.models import Lot, LotSlugRedirect
from app.models.base import utcnow
from app.models.lot import CompetitorPrice, CompetitorPrices, FinanceTerms, LeaseTerms, LotImage
from app.services import catalog
from tests.factories import make_lot

LIST_KEYS = {
    "id", "slug", "title", "make", "model", "year", "trim", "msrp", "discount", "fleet", "savings",
    "dealer_addons", "fees_hint", "stockLeft", "image", "dealer", "endsAt", "isDrop", "lease", "finance",
}  # fmt: skip


def test_the_list_is_a_bare_array_of_public_lots_newest_first(client):
    now = utcnow()
    older = make_lot(published_at=now - timedelta(days=2))
    newer = make_lot(published_at=now - timedelta(hours=1))
    due = make_lot(status="scheduled", published_at=None, publish_at=now - timedelta(minutes=5))
    for status in ("draft", "archived", "sold", "deleted"):
        make_lot(status=status)
    make_lot(status="scheduled", published_at=None, publish_at=now + timedelta(hours=3))

    response = client.get("/api/cars?page=2&limit=1")  # query parameters are ignored
    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body, list)
    assert [item["id"] for item in body] == [due.slug, newer.slug, older.slug]
    assert all(set(item) == LIST_KEYS for item in body)


def test_an_empty_catalogue_is_an_empty_array(client):
    assert client.get("/api/cars").get_json() == []


def test_a_list_item_carries_the_lots_own_numbers(client):
    lot = make_lot(
        make="Kia",
        model="Niro",
        trim="",
        year=2024,
        slug="2024-kia-niro",
        msrp=Decimal(31000),
        discount=Decimal(2500),
        dealer_addons=Decimal(1900),
        fees_hint=Decimal(2200),
        is_weekly_drop=True,
        lease=LeaseTerms(
            monthly=Decimal(289), due_at_signing=Decimal(2499), term_months=36, miles_per_year=7500
        ),
        finance=FinanceTerms(apr=Decimal("4.49"), term_months=72, down_payment=Decimal(2000)),
        offer_ends_at=utcnow().replace(microsecond=0) + timedelta(days=3),
    )
    [item] = client.get("/api/cars").get_json()
    assert item["id"] == item["slug"] == "2024-kia-niro"
    assert item["title"] == "2024 Kia Niro"  # no trailing space without a trim
    assert item["trim"] == ""
    assert (item["msrp"], item["discount"], item["fleet"], item["savings"]) == (31000, 2500, 28500, 2500)
    assert (item["dealer_addons"], item["fees_hint"], item["stockLeft"], item["isDrop"]) == (
        1900,
        2200,
        1,
        True,
    )
    assert item["dealer"] == "Fleet Dealer"
    assert item["lease"] == {"monthly": 289, "dueAtSigning": 2499, "termMonths": 36, "milesPerYear": 7500}
    assert item["finance"] == {"apr": 4.49, "termMonths": 72, "downPayment": 2000}
    assert item["endsAt"] == lot.offer_ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(item["msrp"], int) and isinstance(item["lease"]["monthly"], int)


def test_missing_lease_and_finance_keys_get_safety_net_defaults_per_key(client):
    make_lot(
        lease=LeaseTerms(monthly=Decimal(399)), finance=FinanceTerms(apr=Decimal("2.9")), offer_ends_at=None
    )
    [item] = client.get("/api/cars").get_json()
    assert item["lease"] == {"monthly": 399, "dueAtSigning": 3000, "termMonths": 36, "milesPerYear": 7500}
    assert item["finance"] == {"apr": 2.9, "termMonths": 60, "downPayment": 3000}
    assert item["endsAt"] is None


def test_images_use_the_variants_and_the_hero_comes_first(client, app):
    lot = make_lot(
        images=[
            LotImage(image_id="a", original="images/original/a.jpg", position=0, variants={"medium": "images/processed/a_medium.jpg", "large": "images/processed/a_large.jpg"}),
            LotImage(image_id="b", original="images/original/b.jpg", position=1, is_hero=True, variants={"medium": "images/processed/b_medium.jpg"}),
        ]
    )  # fmt: skip
    [item] = client.get("/api/cars").get_json()
    assert item["image"] == "/uploads/images/processed/b_medium.jpg"
    detail = client.get(f"/api/cars/{lot.slug}").get_json()
    assert detail["image"] == item["image"]
    # The hero has no large variant yet: its original is shown until the worker makes one.
    assert detail["gallery"] == ["/uploads/images/original/b.jpg", "/uploads/images/processed/a_large.jpg"]


def test_a_lot_without_images_has_an_empty_image_and_a_placeholder_gallery(client, app):
    lot = make_lot(images=[], status="published")
    assert client.get("/api/cars").get_json()[0]["image"] == ""
    assert client.get(f"/api/cars/{lot.slug}").get_json()["gallery"] == [app.config["PLACEHOLDER_IMAGE_URL"]]


def test_the_detail_has_every_list_value_plus_the_car_page_keys(client):
    now = utcnow()
    lot = make_lot(
        vin="4T1DAACK5SU000000",
        engine="2.5L I4 Hybrid",
        transmission="CVT",
        drivetrain="FWD",
        exterior_color="White",
        interior_color="Black",
        state="CA",
        competitor_prices=CompetitorPrices(
            autobandit=CompetitorPrice(monthly=Decimal(389), due_at_signing=Decimal(3500), term=36, updated_at=now - timedelta(days=2)),
            dealer_average=CompetitorPrice(monthly=Decimal(0), due_at_signing=Decimal(4000), term=36, updated_at=now),
        ),
    )  # fmt: skip
    listed = client.get("/api/cars").get_json()[0]
    response = client.get(f"/api/cars/{lot.slug}")
    assert response.status_code == 200
    detail = response.get_json()
    assert {key: detail[key] for key in LIST_KEYS} == listed
    assert detail["specs"] == {
        "year": "2025", "make": "Toyota", "model": "Camry", "trim": lot.trim, "engine": "2.5L I4 Hybrid",
        "transmission": "CVT", "drivetrain": "FWD", "exteriorColor": "White", "interiorColor": "Black",
        "vin": "4T1DAACK5SU000000",
    }  # fmt: skip
    assert detail["description"] == lot.description
    assert detail["addonsAvg"] == detail["fees_hint"] == 3200
    assert detail["state"] == "CA"
    assert detail["cash"] == {"incentives": 500, "total": detail["fleet"]}
    # dealerAverage has no positive monthly: not shown.
    assert list(detail["competitor_prices"]) == ["autobandit"]
    assert detail["competitor_prices"]["autobandit"]["monthly"] == 389
    assert detail["competitor_prices"]["autobandit"]["dueAtSigning"] == 3500
    assert detail["competitor_prices"]["autobandit"]["updatedAt"].endswith("Z")


def test_competitor_figures_older_than_30_days_are_not_published(client):
    lot = make_lot(
        competitor_prices=CompetitorPrices(
            autobandit=CompetitorPrice(
                monthly=Decimal(389), term=36, updated_at=utcnow() - timedelta(days=31)
            )
        )
    )
    assert client.get(f"/api/cars/{lot.slug}").get_json()["competitor_prices"] == {}


def test_the_detail_is_found_by_slug_by_id_and_by_an_imported_old_slug(client):
    lot = make_lot()
    LotSlugRedirect(old_slug="2025-toyota-camry-se-", lot=lot).save()
    for key in (lot.slug, str(lot.pk), "2025-toyota-camry-se-"):
        response = client.get(f"/api/cars/{key}")
        assert response.status_code == 200, key
        assert response.get_json()["id"] == lot.slug


@pytest.mark.parametrize("status", ["draft", "archived", "sold", "deleted"])
def test_a_lot_that_is_not_public_is_404(client, status):
    lot = make_lot(status=status)
    for key in (lot.slug, str(lot.pk)):
        response = client.get(f"/api/cars/{key}")
        assert response.status_code == 404
        assert response.get_json() == {"detail": "Car not found"}


@pytest.mark.parametrize("key", ["no-such-car", "0123456789abcdef01234567", "not-an-id-%24ne", "x" * 300])
def test_unknown_and_malformed_ids_are_404(client, key):
    response = client.get(f"/api/cars/{key}")
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Car not found"}


def test_a_future_scheduled_lot_is_404_and_a_due_one_is_public(client):
    future = make_lot(status="scheduled", published_at=None, publish_at=utcnow() + timedelta(hours=1))
    due = make_lot(status="scheduled", published_at=None, publish_at=utcnow() - timedelta(seconds=1))
    assert client.get(f"/api/cars/{future.slug}").status_code == 404
    assert client.get(f"/api/cars/{due.slug}").status_code == 200


# --------------------------------------------------------------------------------------------------------
# HTTP caching


@pytest.mark.parametrize("path", ["/api/cars", "/api/cars/{slug}", "/api/tax-fees", "/api/tax-fees/CA"])
def test_public_gets_send_etag_and_cache_control_and_honour_if_none_match(client, path):
    lot = make_lot()
    url = path.format(slug=lot.slug)
    first = client.get(url)
    assert first.headers["Cache-Control"] == "public, max-age=60"
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag


# --------------------------------------------------------------------------------------------------------
# The catalogue cache


def _raw_rename(lot: Lot, model: str) -> None:
    """Change a lot behind MongoEngine's back (no signal), as a raw pymongo write would."""
    get_db()["lots"].update_one({"_id": lot.pk}, {"$set": {"model": model}})


def test_the_list_is_served_from_the_cache_while_nothing_changed(client):
    lot = make_lot()
    first = client.get("/api/cars").get_data()
    _raw_rename(lot, "Corolla")  # invisible to the cache: no signal, no invalidate()
    assert client.get("/api/cars").get_data() == first
    catalog.invalidate()
    assert client.get("/api/cars").get_json()[0]["model"] == "Corolla"


def test_saving_a_lot_invalidates_the_list_and_the_detail_at_once(client):
    lot = make_lot()
    client.get("/api/cars")
    client.get(f"/api/cars/{lot.slug}")
    lot.lease.monthly = Decimal(301)
    lot.save()
    assert client.get("/api/cars").get_json()[0]["lease"]["monthly"] == 301
    assert client.get(f"/api/cars/{lot.slug}").get_json()["lease"]["monthly"] == 301


def test_archiving_or_deleting_a_lot_removes_it_at_once(client):
    kept, archived, deleted = make_lot(), make_lot(), make_lot()
    assert len(client.get("/api/cars").get_json()) == 3
    client.get(f"/api/cars/{archived.slug}")
    archived.status = "archived"
    archived.save()
    deleted.delete()
    assert [item["id"] for item in client.get("/api/cars").get_json()] == [kept.slug]
    assert client.get(f"/api/cars/{archived.slug}").status_code == 404


def test_the_list_cache_expires_no_later_than_the_next_scheduled_publication(client):
    make_lot()
    make_lot(status="scheduled", published_at=None, publish_at=utcnow() + timedelta(seconds=20))
    client.get("/api/cars")
    assert 0 < get_redis().ttl(catalog.LIST_KEY) <= 21
    get_redis().delete(catalog.LIST_KEY)
    Lot.objects(status="scheduled").delete()
    client.get("/api/cars")
    assert 21 < get_redis().ttl(catalog.LIST_KEY) <= catalog.CACHE_TTL_SECONDS


def test_the_catalogue_is_served_from_the_database_when_redis_is_down(client, monkeypatch):
    lot = make_lot()
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(redis.Redis, "mget", down)
    monkeypatch.setattr(redis.Redis, "set", down)
    assert client.get("/api/cars").get_json()[0]["id"] == lot.slug
    assert client.get(f"/api/cars/{lot.slug}").status_code == 200


def test_a_worker_keeps_the_current_body_and_only_asks_redis_which_one_is_current(client):
    make_lot()
    first = client.get("/api/cars")
    etag = first.headers["ETag"]
    # The body is stored once by content; this process no longer needs Redis to hold it.
    assert get_redis().get(catalog.BODY_KEY + etag.strip('"')) == first.get_data()
    get_redis().delete(catalog.BODY_KEY + etag.strip('"'))
    again = client.get("/api/cars")
    assert again.get_data() == first.get_data() and again.headers["ETag"] == etag
