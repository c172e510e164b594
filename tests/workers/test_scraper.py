"""The competitor scraper end to end: the fixture pages served locally, a run queued and executed by a real
worker, offers stored and matched, lots' AutoBandit comparison updated, progress and the run log, the sync
guard, one run at a time, and a draft lot from an unmatched offer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.errors import Conflict, RuleViolation
from app.models import AuditLog, Lot, ScrapedOffer, ScrapeRun
from app.services import audit, scraper
from tests.factories import make_lot, make_user
from tests.workers.conftest import run_worker

DEALS = 14  # distinct deals on deals.html (each rendered twice), per expected.json


@pytest.fixture
def editor(app):
    return make_user(role="editor")


def scrape(editor) -> ScrapeRun:
    run = scraper.start_run(actor=audit.actor_for(editor))
    assert run.status == "queued" and run.job_id == f"scrape-{run.pk}"
    assert run_worker("scraper")
    run.reload()
    return run


def test_a_run_reads_the_deals_and_updates_matching_lots(app, competitor, editor):
    elantra = make_lot(make="Hyundai", model="Elantra", year=2025, trim="SEL")
    ioniq = make_lot(make="HYUNDAI", model="Ioniq 5", year=2025, trim="SE")  # case and spacing differ
    older = make_lot(make="Hyundai", model="Tucson", year=2024)  # another model year: no match
    run = scrape(editor)

    assert run.status == "succeeded" and run.guard_ok is True
    assert run.offers_found == DEALS
    assert (run.offers_matched, run.offers_unmatched, run.lots_updated) == (2, DEALS - 2, 2)
    assert run.counts["pages_fetched"] >= 3 and run.counts["listing_ok"] is True
    assert run.duration_seconds > 0 and run.finished_at is not None and run.active is None
    # The progress the back office shows, as the crawl left it.
    assert run.progress_total > 0 and run.progress_done == run.progress_total
    # Model pages that do not exist in the fixtures are logged as errors, not fatal.
    assert any(error["kind"] == "fetch" and error["status"] == 404 for error in run.errors)

    elantra.reload()
    price = elantra.competitor_prices.autobandit
    assert (price.monthly, price.term) == (Decimal(173), 36)  # the term comes from the model page
    assert price.source_url == f"{competitor.base}/deals/hyundai-elantra"
    assert price.updated_at is not None
    ioniq.reload()
    assert ioniq.competitor_prices.autobandit.monthly == Decimal(256)
    older.reload()
    assert older.competitor_prices.autobandit is None

    offer = ScrapedOffer.objects.get(external_id="hyundai-elantra")
    assert (offer.status, offer.msrp, offer.monthly, offer.incentives) == (
        "matched",
        Decimal(23945),
        Decimal(173),
        Decimal(5250),
    )
    assert [lot.pk for lot in offer.matched_lots] == [elantra.pk]
    assert offer.image_urls[0].endswith("cc_2025HYC021979745_01_2100_M6T.png")
    assert ScrapedOffer.objects(status="unmatched").count() == DEALS - 2
    # The comparison change is audited on the lot, by the system.
    assert AuditLog.objects(resource_id=str(elantra.pk), action="update", actor_id="system").count() == 1


def test_the_public_car_page_shows_the_new_comparison_at_once(app, client, competitor, editor):
    elantra = make_lot(make="Hyundai", model="Elantra", year=2025, trim="SEL")
    before = client.get(f"/api/cars/{elantra.slug}").get_json()
    assert before["competitor_prices"] == {}
    scrape(editor)
    after = client.get(f"/api/cars/{elantra.slug}").get_json()  # no wait for the cache to expire
    assert after["competitor_prices"]["autobandit"]["monthly"] == 173
    # Polite: robots.txt first, our user agent, every page once.
    assert competitor.hits[0] == "/robots.txt"
    assert competitor.hits.count("/deals") == 1


def test_a_second_identical_run_changes_numbers_nowhere(app, competitor, editor):
    lot = make_lot(make="Kia", model="K4", year=2025)
    scrape(editor)
    second = scrape(editor)
    assert second.status == "succeeded"
    assert AuditLog.objects(resource_id=str(lot.pk), action="update").count() == 1  # numbers unchanged
    assert ScrapedOffer.objects.count() == DEALS
    assert set(ScrapedOffer.objects.scalar("last_run")) == {second.pk}


def test_the_sync_guard_keeps_data_when_a_run_finds_far_fewer(app, competitor, editor, monkeypatch):
    lot = make_lot(make="Nissan", model="Sentra", year=2025)
    assert scrape(editor).status == "succeeded"
    lot.reload()
    before = lot.competitor_prices.autobandit.updated_at

    competitor.listing = "search-2025-lexus-rx.html"  # the competitor's page now shows no cards
    run = scrape(editor)
    assert run.status == "guarded" and run.guard_ok is False
    assert run.offers_found == 0 and "nothing changed" in run.guard_reason
    lot.reload()
    assert lot.competitor_prices.autobandit.updated_at == before
    assert set(ScrapedOffer.objects.scalar("last_run")) != {run.pk}

    competitor.listing = "malformed.html"  # 8 offers (with its model page's similar deals) against 14
    monkeypatch.setitem(app.config, "SCRAPER_MIN_RATIO", 0.8)
    run = scrape(editor)
    assert run.status == "guarded" and run.offers_found == 8
    assert run.guard_reason == "found 8 offer(s), fewer than 80% of the last good run (14): nothing changed"
    monkeypatch.setitem(app.config, "SCRAPER_MIN_RATIO", 0.5)
    assert scrape(editor).status == "succeeded"


def test_robots_txt_is_obeyed(app, competitor, editor):
    competitor.robots = "User-agent: *\nDisallow: /deals\n"
    run = scrape(editor)
    assert run.status == "guarded"
    assert run.errors[0]["kind"] == "robots"
    assert "/deals" not in competitor.hits


def test_one_run_at_a_time(app, competitor, editor):
    scraper.start_run(actor=audit.actor_for(editor))
    with pytest.raises(Conflict):
        scraper.start_run(actor=audit.actor_for(editor))
    run_worker("scraper")
    scraper.start_run(actor=audit.actor_for(editor))  # the first ended: a new one may start


def test_an_unmatched_offer_becomes_a_draft_lot_in_one_click(app, competitor, editor):
    scrape(editor)
    offer = ScrapedOffer.objects.get(external_id="toyota-tacoma-2wd")
    lot = scraper.create_draft_lot(offer.pk, actor=audit.actor_for(editor))
    assert (lot.status, lot.year, lot.make, lot.model) == ("draft", 2025, "Toyota", "Tacoma 2WD")
    assert lot.msrp == Decimal(34548) and lot.slug == "2025-toyota-tacoma-2wd"
    assert lot.competitor_prices.autobandit.monthly == Decimal(251)
    assert lot.lease.monthly is None  # our terms come from the lessor, never from the competitor
    offer.reload()
    assert offer.status == "draft_created" and offer.draft_lot.pk == lot.pk
    assert scraper.create_draft_lot(offer.pk, actor=audit.actor_for(editor)).pk == lot.pk  # a second click
    assert Lot.objects.count() == 1
    # A later run keeps the link to the draft.
    scrape(editor)
    offer.reload()
    assert offer.status == "draft_created"


def test_only_editors_create_draft_lots_and_offers_need_a_year(app, competitor, editor):
    competitor.listing = "malformed.html"
    scrape(editor)
    yearless = ScrapedOffer.objects.get(year=None, model="Corolla")
    with pytest.raises(RuleViolation):
        scraper.create_draft_lot(yearless.pk, actor=audit.actor_for(editor))
    other = ScrapedOffer.objects(year__ne=None).first()
    with pytest.raises(Exception, match="create lots"):
        scraper.create_draft_lot(other.pk, actor=audit.actor_for(make_user(role="finance_manager")))
    other.reload()
    assert other.draft_lot is None and other.status != "draft_created"
