"""The competitor scraper in the back office: runs list, start, a run's page and its progress (JSON and the
no-JavaScript refresh), offers with their match, and a draft lot from an unmatched offer in one click.
Editors and admins only; every POST needs the CSRF token. Runs are executed by a real worker in burst mode
against the local competitor site."""

from __future__ import annotations

import re

import pytest
from rq import Queue

from app.db import get_redis
from app.models import AuditLog, Lot, ScrapedOffer, ScrapeRun
from app.models.base import utcnow
from app.services import audit, scraper
from tests.admin.conftest import ROLES, signed_in, token
from tests.factories import make_lot, make_user
from tests.workers.conftest import run_worker

EDITORS = {"editor", "admin"}
DEALS = 14  # distinct deals on the fixture's deals.html (tests/workers/test_scraper.py)


def start(client):
    return client.post("/admin/scraper/start/", data={"csrf_token": token(client)})


def finished_run(competitor) -> ScrapeRun:
    """A run started by an editor and executed by a real worker against the local competitor site."""
    run = scraper.start_run(actor=audit.actor_for(make_user(role="editor")))
    assert run_worker("scraper")
    run.reload()
    assert run.status == "succeeded"
    return run


# ------------------------------------------------------------------------------------------------ roles


@pytest.fixture
def a_run(app):
    return ScrapeRun(status="succeeded", trigger="manual", start_url="http://x/deals", guard_ok=True).save()


@pytest.mark.parametrize("role", ROLES)
def test_only_editors_and_admins_reach_the_scraper(client, a_run, role):
    offer = ScrapedOffer(
        external_id="kia-k5", title="2025 Kia K5", year=2025, make="Kia", model="K5", last_run=a_run.pk
    ).save()
    signed_in(client, role)
    allowed = role in EDITORS
    for path in (
        "/admin/scraper/",
        f"/admin/scraper/run/?id={a_run.pk}",
        f"/admin/scraper/progress/?id={a_run.pk}",
    ):
        assert client.get(path).status_code == (200 if allowed else 403), path
    csrf = token(client)
    response = client.post("/admin/scraper/start/", data={"csrf_token": csrf})
    assert ScrapeRun.objects.count() == (2 if allowed else 1)
    response = client.post(f"/admin/scraper/offer/draft/?id={offer.pk}", data={"csrf_token": csrf})
    assert Lot.objects.count() == (1 if allowed else 0)
    if not allowed:
        assert response.status_code == 403
    page = client.get("/admin/").get_data(as_text=True)
    assert ('href="/admin/scraper/"' in page) == allowed


def test_anonymous_visitors_are_sent_to_sign_in(client, a_run):
    for path in (
        "/admin/scraper/",
        f"/admin/scraper/run/?id={a_run.pk}",
        f"/admin/scraper/progress/?id={a_run.pk}",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login"), path
    response = client.post("/admin/scraper/start/", data={})
    assert response.status_code == 302 and ScrapeRun.objects.count() == 1


def test_the_services_refuse_other_roles_whoever_calls_them(app, a_run):
    finance = audit.actor_for(make_user(role="finance_manager"))
    with pytest.raises(Exception, match="start scraper runs"):
        scraper.start_run(actor=finance)
    assert ScrapeRun.objects.count() == 1


# ------------------------------------------------------------------------------------------------- CSRF


def test_posts_without_the_csrf_token_change_nothing(client, a_run):
    offer = ScrapedOffer(
        external_id="kia-k5", title="2025 Kia K5", year=2025, make="Kia", model="K5", last_run=a_run.pk
    ).save()
    signed_in(client, "editor")
    assert client.post("/admin/scraper/start/", data={}).status_code == 400
    assert client.post(f"/admin/scraper/offer/draft/?id={offer.pk}", data={}).status_code == 400
    assert client.post("/admin/scraper/start/", data={"csrf_token": "forged"}).status_code == 400
    assert ScrapeRun.objects.count() == 1 and Lot.objects.count() == 0


# ---------------------------------------------------------------------------------------- start a run


def test_start_queues_one_job_and_refuses_a_second_run_while_it_waits(client, competitor):
    user = signed_in(client, "editor")
    response = start(client)
    run = ScrapeRun.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/scraper/run/?id={run.pk}")
    assert (run.status, run.trigger, run.triggered_by) == ("queued", "manual", user.email)
    assert Queue("scraper", connection=get_redis()).job_ids == [f"scrape-{run.pk}"]
    entry = AuditLog.objects.get(action="scrape_started")
    assert entry.actor_id == str(user.pk) and entry.resource_id == str(run.pk)

    # The run's page while it waits: progress JSON polled by our script, and a refresh without JavaScript.
    page = client.get(f"/admin/scraper/run/?id={run.pk}").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh"' in page
    assert 'src="/app-static/admin/scraper_run.js"' in page
    assert not re.search(r'<script[^>]+src="(https?:)?//', page)  # no CDN
    assert client.get("/app-static/admin/scraper_run.js").status_code == 200
    state = client.get(f"/admin/scraper/progress/?id={run.pk}").get_json()
    assert (state["status"], state["final"], state["progress"]["message"]) == (
        "queued",
        False,
        "waiting for a worker",
    )

    # One run at a time: the service says so and the page shows it.
    response = start(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/scraper/")
    assert "already queued or running" in client.get("/admin/scraper/").get_data(as_text=True)
    assert ScrapeRun.objects.count() == 1


def test_progress_while_a_run_is_running(client, a_run):
    run = ScrapeRun(
        status="running",
        active=True,
        start_url="http://x/deals",
        started_at=utcnow(),
        progress_done=3,
        progress_total=12,
        progress_message="model page 3 of 12",
        progress_at=utcnow(),
    ).save()
    signed_in(client, "admin")
    state = client.get(f"/admin/scraper/progress/?id={run.pk}").get_json()
    assert state["final"] is False and state["progress"] == {
        "done": 3,
        "total": 12,
        "percent": 25,
        "message": "model page 3 of 12",
        "at": state["progress"]["at"],
    }
    page = client.get(f"/admin/scraper/run/?id={run.pk}").get_data(as_text=True)
    assert 'aria-valuenow="25"' in page and "model page 3 of 12" in page
    assert 'http-equiv="refresh"' in page
    listing = client.get("/admin/scraper/").get_data(as_text=True)
    assert "3 / 12 pages" in listing
    assert client.get("/admin/scraper/progress/?id=5f0000000000000000000000").status_code == 404


# ------------------------------------------------------------------------------- a run, end to end


def test_a_run_by_a_real_worker_shows_its_log_progress_and_offers(client, competitor):
    elantra = make_lot(make="Hyundai", model="Elantra", year=2025, trim="SEL")
    signed_in(client, "editor")
    start(client)
    run = ScrapeRun.objects.get()
    assert run_worker("scraper")
    run.reload()
    assert run.status == "succeeded"

    state = client.get(f"/admin/scraper/progress/?id={run.pk}").get_json()
    assert state["status"] == "succeeded" and state["final"] is True
    assert (state["offers_found"], state["offers_matched"], state["offers_unmatched"]) == (
        DEALS,
        1,
        DEALS - 1,
    )
    assert state["lots_updated"] == 1 and state["guard_ok"] is True
    assert state["progress"]["done"] == state["progress"]["total"] > 0 and state["progress"]["percent"] == 100
    assert state["duration_seconds"] > 0 and state["errors"] == len(run.errors) > 0
    assert state["counts"]["pages_fetched"] >= 3

    listing = client.get("/admin/scraper/").get_data(as_text=True)
    assert f"{DEALS} offers: 1 matched, {DEALS - 1} unmatched; 1 lots updated" in listing
    assert "succeeded" in listing and run.guard_reason in listing

    page = client.get(f"/admin/scraper/run/?id={run.pk}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page  # an ended run stays put
    assert "Sync guard: results applied." in page
    matched_row = _row(page, "hyundai-elantra")
    assert (
        f'/admin/lot/edit/?id={elantra.pk}"' in matched_row
        and 'data-testid="create-draft"' not in matched_row
    )
    assert 'data-testid="create-draft"' in _row(page, "toyota-tacoma-2wd")
    assert page.count('data-testid="create-draft"') == DEALS - 1
    unmatched = client.get(f"/admin/scraper/run/?id={run.pk}&offers=unmatched").get_data(as_text=True)
    assert 'data-offer="hyundai-elantra"' not in unmatched and 'data-offer="toyota-tacoma-2wd"' in unmatched


def _row(page: str, external_id: str) -> str:
    match = re.search(rf'<tr data-offer="{re.escape(external_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {external_id}"
    return match.group(1)


def test_create_draft_lot_in_one_click_and_a_second_click_opens_the_same(client, competitor):
    run = finished_run(competitor)
    offer = ScrapedOffer.objects.get(external_id="toyota-tacoma-2wd")
    user = signed_in(client, "editor")
    csrf = token(client)
    response = client.post(
        f"/admin/scraper/offer/draft/?id={offer.pk}", data={"csrf_token": csrf, "run": str(run.pk)}
    )
    lot = Lot.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/lot/edit/?id={lot.pk}")
    assert (lot.status, lot.year, lot.make, lot.model) == ("draft", 2025, "Toyota", "Tacoma 2WD")
    assert "Draft lot created" in client.get(response.headers["Location"]).get_data(as_text=True)
    entry = AuditLog.objects.get(action="draft_from_scrape")
    assert entry.actor_id == str(user.pk) and entry.details["lot_id"] == str(lot.pk)

    again = client.post(f"/admin/scraper/offer/draft/?id={offer.pk}", data={"csrf_token": csrf})
    assert again.headers["Location"] == response.headers["Location"]
    assert "already made from this offer" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert Lot.objects.count() == 1 and AuditLog.objects(action="draft_from_scrape").count() == 1

    # The run's page now links the draft instead of offering the button.
    row = _row(client.get(f"/admin/scraper/run/?id={run.pk}").get_data(as_text=True), "toyota-tacoma-2wd")
    assert f'/admin/lot/edit/?id={lot.pk}"' in row and 'data-testid="create-draft"' not in row


def test_an_offer_without_a_year_is_refused_clearly(client, competitor):
    competitor.listing = "malformed.html"
    run = finished_run(competitor)
    yearless = ScrapedOffer.objects.get(year=None, model="Corolla")
    signed_in(client, "editor")
    response = client.post(
        f"/admin/scraper/offer/draft/?id={yearless.pk}", data={"csrf_token": token(client)}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/admin/scraper/run/?id={run.pk}"
    )
    assert "no year, make or model" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert Lot.objects.count() == 0
