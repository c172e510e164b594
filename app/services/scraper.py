"""The competitor scraper's runs and scraped offers (issue 5 §3), on top of ``app.integrations.autobandit``.

* :func:`start_run` records a queued run (at most one queued or running run at a time, enforced by a
  partial unique index) and enqueues ``workers.jobs.scraper.run_scrape`` with its id.
* :func:`execute_run` (the job) crawls the competitor politely (robots.txt, a delay between requests,
  timeouts far below the job timeout, limited retries, a time budget), writing its progress to the run as
  it goes so the back office can show it. A **sync guard** compares the number of offers with the last
  good run: a run that finds far fewer (or none, or could not read the listing) changes nothing and says
  why. Otherwise every offer is stored (one ``ScrapedOffer`` per competitor deal, upserted by its id) and
  matched to our lots on (year, make, model); matched lots get ``competitor_prices.autobandit`` updated.
* :func:`create_draft_lot` turns an unmatched offer into a draft lot (the editor's one-click button).
* :func:`progress` is the run's state as plain values: what the back office's run page polls.

Starting a run and making a draft are for editors and admins (and the scheduler, as the system actor);
both check the actor's role themselves, whatever the caller.

Competitor figures are stored as read; whether they may be shown next to ours stays an editor's call
(§2.4, §3.9): the public API omits comparisons older than 30 days, and each scrape re-dates what it
re-confirms.
"""

from __future__ import annotations

import logging
import time as _time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from mongoengine import NotUniqueError

from app.errors import Conflict, NotFound, PermissionDenied, RuleViolation, UpstreamUnavailable
from app.integrations.autobandit import (
    CrawlResult,
    FetcherConfig,
    GuardDecision,
    PoliteFetcher,
    ScrapedOfferData,
    crawl,
    match_key,
    sync_guard,
)
from app.models import Lot, ScrapedOffer, ScrapeRun
from app.models.base import as_utc, parse_object_id, utcnow
from app.models.lot import CompetitorPrice
from app.services import audit, catalog
from app.tasks import JOBS

log = logging.getLogger(__name__)

RUN_JOB = "workers.jobs.scraper.run_scrape"
MATCHABLE_STATUSES = ("draft", "scheduled", "published", "archived")
MAX_LOGGED = 200
PROGRESS_EVERY_SECONDS = 1.0
# A run still "running" this long after its last progress was left by a worker that died.
STALE_RUN = timedelta(seconds=JOBS[RUN_JOB].job_timeout + 300)
START_ROLES = ("editor", "admin", "system")
DRAFT_ROLES = ("editor", "admin")


def _require(actor: audit.Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise PermissionDenied(f"Your role may not {what}")


def start_url(config: Any | None = None) -> str:
    config = config or current_app.config
    return (
        config["COMPETITOR_BASE_URL"].rstrip("/")
        + "/"
        + (config.get("SCRAPER_START_PATH") or "/deals").lstrip("/")
    )


def fetcher_config(config: Any | None = None) -> FetcherConfig:
    config = config or current_app.config
    return FetcherConfig(
        user_agent=config.get("SCRAPER_USER_AGENT") or FetcherConfig().user_agent,
        min_delay=float(config.get("SCRAPER_MIN_DELAY", 3.0)),
    )


def time_budget(fetcher: FetcherConfig) -> float:
    """Seconds the crawl may start new pages: the job timeout minus one worst-case page and a margin, so
    the run ends (and records why) before RQ would kill it."""
    return max(60.0, JOBS[RUN_JOB].job_timeout - fetcher.worst_case_seconds - 60.0)


def _fail_stale_runs(now: datetime) -> None:
    for run in ScrapeRun.objects(active=True):
        last = as_utc(run.progress_at or run.started_at or run.created_at)
        if last is not None and now - last > STALE_RUN:
            ScrapeRun.objects(pk=run.pk, active=True).update_one(
                set__status="failed",
                unset__active=True,
                set__finished_at=now,
                set__error="the worker stopped before the run ended",
                set__updated_at=now,
            )


def start_run(*, actor: audit.Actor, trigger: str = "manual", now: datetime | None = None) -> ScrapeRun:
    """Queue a scraper run. Raises ``Conflict`` while another run is queued or running, and
    ``PermissionDenied`` for an actor who is neither an editor, an admin nor the system."""
    from app.tasks import enqueue

    _require(actor, START_ROLES, "start scraper runs")
    now = now or utcnow()
    _fail_stale_runs(now)
    run = ScrapeRun(
        status="queued",
        active=True,
        trigger=trigger,
        triggered_by=actor.email or actor.id,
        start_url=start_url(),
        progress_message="waiting for a worker",
        progress_at=now,
    )
    try:
        run.save(force_insert=True)
    except NotUniqueError:
        raise Conflict("A scraper run is already queued or running") from None
    try:
        job = enqueue(RUN_JOB, str(run.pk), job_id=f"scrape-{run.pk}")
    except Exception as exc:  # noqa: BLE001 - Redis down: the run must not stay "queued" forever
        ScrapeRun.objects(pk=run.pk).update_one(
            set__status="failed",
            unset__active=True,
            set__error=f"could not queue the run: {type(exc).__name__}",
        )
        raise UpstreamUnavailable("The job queue is unavailable; try again shortly") from None
    run.update(set__job_id=job.id)
    audit.record("scrape_started", "scraper", run.pk, actor=actor, details={"trigger": trigger})
    run.reload()
    return run


def get_run(run_id: Any) -> ScrapeRun:
    oid = parse_object_id(str(run_id))
    run = ScrapeRun.objects(pk=oid).first() if oid else None
    if run is None:
        raise NotFound("Scraper run not found")
    return run


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def progress(run: ScrapeRun) -> dict[str, Any]:
    """The run's state as JSON-ready values: progress while it runs, then its log (counts, guard decision,
    errors count, duration). Nothing personal: URLs of the competitor's site and numbers only."""
    done, total = run.progress_done or 0, run.progress_total or 0
    return {
        "id": str(run.pk),
        "status": run.status,
        "final": run.is_final,
        "trigger": run.trigger,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "progress": {
            "done": done,
            "total": total,
            "percent": min(100, done * 100 // total) if total else None,
            "message": run.progress_message or "",
            "at": _iso(run.progress_at),
        },
        "counts": dict(run.counts or {}),
        "offers_found": run.offers_found or 0,
        "offers_matched": run.offers_matched or 0,
        "offers_unmatched": run.offers_unmatched or 0,
        "lots_updated": run.lots_updated or 0,
        "errors": len(run.errors or []),
        "warnings": len(run.warnings or []),
        "guard_ok": run.guard_ok,
        "guard_reason": run.guard_reason or "",
        "error": run.error or "",
    }


def offers_of_run(
    run_id: Any, *, status: str | None = None, offset: int = 0, limit: int = 50
) -> list[ScrapedOffer]:
    """Offers last seen by a run (index ``last_run``), optionally of one status, a page at a time.

    A later run that sees an offer again takes it over, so an old run keeps only the offers not seen since;
    a guarded run stored none.
    """
    query = ScrapedOffer.objects(last_run=parse_object_id(str(run_id)))
    if status:
        query = query.filter(status=status)
    return list(query.order_by("title", "external_id").skip(max(0, offset)).limit(limit))


class _Progress:
    """Writes crawl progress to the run, at most once a second (and always the last step)."""

    def __init__(self, run_id: Any) -> None:
        self.run_id = run_id
        self.last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        moment = _time.monotonic()
        if moment - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = moment
        ScrapeRun.objects(pk=self.run_id).update_one(
            set__progress_done=done,
            set__progress_total=total,
            set__progress_message=message[:500],
            set__progress_at=utcnow(),
        )


def execute_run(run_id: Any, *, fetcher: PoliteFetcher | None = None) -> ScrapeRun | None:
    """Run a queued scraper run to its end (the job). A run that is not ``queued`` is left alone."""
    oid = parse_object_id(str(run_id))
    started = utcnow()
    run = ScrapeRun.objects(pk=oid, status="queued").modify(
        set__status="running",
        set__started_at=started,
        set__progress_message="starting",
        set__progress_at=started,
        new=True,
    )
    if run is None:
        return ScrapeRun.objects(pk=oid).first()
    t0 = _time.monotonic()
    try:
        config = fetcher_config()
        own = fetcher is None
        fetcher = fetcher or PoliteFetcher(config)
        try:
            result = crawl(
                run.start_url,
                fetcher,
                max_pages=int(current_app.config.get("SCRAPER_MAX_PAGES", 30)),
                progress=_Progress(run.pk),
                time_budget=time_budget(config),
            )
        finally:
            if own:
                fetcher.close()
        decision = guard(run, result)
        applied = apply_offers(run, result.offers) if decision.ok else {}
        status = "succeeded" if decision.ok else "guarded"
        _finish(run, status, result, decision, applied, _time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001 - the run log is the record; a crash must not leave it "running"
        log.exception("scraper run %s failed", run.pk)
        ScrapeRun.objects(pk=run.pk).update_one(
            set__status="failed",
            unset__active=True,
            set__finished_at=utcnow(),
            set__duration_seconds=round(_time.monotonic() - t0, 3),
            set__error=f"{type(exc).__name__}: {exc}"[:1000],
            set__updated_at=utcnow(),
        )
    run.reload()
    audit.record("scrape_finished", "scraper", run.pk, actor=audit.SYSTEM, details={"status": run.status})
    return run


def guard(run: ScrapeRun, result: CrawlResult) -> GuardDecision:
    """The sync guard: may this run's results change stored data? (A run that could not read the listing,
    or found far fewer offers than the last good run, may not.)"""
    if not result.listing_ok:
        return GuardDecision(False, "the listing page could not be read: nothing changed")
    last_good = ScrapeRun.objects(status="succeeded", pk__ne=run.pk).order_by("-created_at").first()
    ratio = float(current_app.config.get("SCRAPER_MIN_RATIO", 0.5))
    return sync_guard(len(result.offers), last_good.offers_found if last_good else None, min_ratio=ratio)


def _finish(
    run: ScrapeRun,
    status: str,
    result: CrawlResult,
    decision: GuardDecision,
    applied: dict[str, int],
    duration: float,
) -> None:
    errors = [
        {"url": e.url, "kind": e.kind, "message": e.message[:500], "status": e.status}
        for e in result.errors[:MAX_LOGGED]
    ]
    ScrapeRun.objects(pk=run.pk).update_one(
        set__status=status,
        unset__active=True,
        set__finished_at=utcnow(),
        set__duration_seconds=round(duration, 3),
        set__counts=result.counts(),
        set__offers_found=len(result.offers),
        set__offers_matched=applied.get("matched", 0),
        set__offers_unmatched=applied.get("unmatched", 0),
        set__lots_updated=applied.get("lots_updated", 0),
        set__errors=errors,
        set__warnings=[w[:500] for w in result.warnings[:MAX_LOGGED]],
        set__guard_ok=decision.ok,
        set__guard_reason=decision.reason[:500],
        set__progress_message=decision.reason[:500],
        set__progress_at=utcnow(),
        set__updated_at=utcnow(),
    )
    log.info("scraper run %s %s: %s", run.pk, status, decision.reason)


def _lot_index() -> dict[str, list[Lot]]:
    index: dict[str, list[Lot]] = {}
    for lot in Lot.objects(status__in=MATCHABLE_STATUSES).only(
        "id", "year", "make", "model", "competitor_prices", "slug"
    ):
        index.setdefault(match_key(lot.year, lot.make, lot.model), []).append(lot)
    return index


def _money(value: Decimal | None) -> Decimal | None:
    return Decimal(int(value)) if value is not None else None


def _numbers(price: CompetitorPrice | None) -> tuple[Any, Any, Any]:
    if price is None:
        return (None, None, None)
    return (
        Decimal(price.monthly) if price.monthly is not None else None,
        Decimal(price.due_at_signing) if price.due_at_signing is not None else None,
        price.term,
    )


def apply_offers(
    run: ScrapeRun, offers: list[ScrapedOfferData], now: datetime | None = None
) -> dict[str, int]:
    """Store every offer and update the matched lots' AutoBandit comparison; returns the counts."""
    now = now or utcnow()
    index = _lot_index()
    matched = unmatched = 0
    updated_lots: set[Any] = set()
    for offer in offers:
        key = match_key(offer.year, offer.make, offer.model)
        # A card without a year is ambiguous (which model year?): stored, never matched.
        lots = index.get(key, []) if offer.year else []
        values = {
            "title": offer.title[:300],
            "year": offer.year,
            "make": offer.make,
            "model": offer.model,
            "trim": offer.trim,
            "msrp": _money(offer.msrp),
            "monthly": _money(offer.monthly),
            "due_at_signing": _money(offer.due_at_signing),
            "term_months": offer.term_months,
            "miles_per_year": offer.miles_per_year,
            "incentives": _money(offer.incentives),
            "image_urls": offer.image_urls[:20],
            "source_url": offer.source_url[:1000],
            "detail_url": (offer.detail_url or "")[:1000] or None,
            "badges": list(offer.badges)[:10],
            "trim_count": offer.trim_count,
            "warnings": [w[:300] for w in offer.warnings[:20]],
            "fingerprint": offer.fingerprint,
            "match_key": key,
            "matched_lots": [lot.pk for lot in lots],
            "last_seen_at": now,
            "last_run": run.pk,
        }
        existing = ScrapedOffer.objects(external_id=offer.external_id).first()
        if existing is None:
            try:
                ScrapedOffer(
                    external_id=offer.external_id,
                    status="matched" if lots else "unmatched",
                    first_seen_at=now,
                    **values,
                ).save(force_insert=True)
            except NotUniqueError:
                existing = ScrapedOffer.objects(external_id=offer.external_id).first()
        if existing is not None:
            # A full save, so every field is validated as on insert.
            for name, value in values.items():
                setattr(existing, name, value)
            if existing.status != "draft_created":
                existing.status = "matched" if lots else "unmatched"
            existing.save()
        if lots:
            matched += 1
        else:
            unmatched += 1
        if not lots or offer.monthly is None:
            continue  # "Call for pricing": nothing to compare with
        new_price = CompetitorPrice(
            monthly=_money(offer.monthly),
            due_at_signing=_money(offer.due_at_signing),
            term=offer.term_months,
            updated_at=now,
            source_url=(offer.detail_url or offer.source_url)[:1000],
        )
        for lot in lots:
            old = lot.competitor_prices.autobandit if lot.competitor_prices else None
            Lot.objects(pk=lot.pk).update_one(
                set__competitor_prices__autobandit=new_price, set__updated_at=now
            )
            updated_lots.add(lot.pk)
            if _numbers(old) != _numbers(new_price):
                audit.record(
                    "update",
                    "lot",
                    lot.pk,
                    actor=audit.SYSTEM,
                    changes=audit.diff(
                        {
                            "autobandit": dict(
                                zip(("monthly", "due_at_signing", "term"), _numbers(old), strict=True)
                            )
                        },
                        {
                            "autobandit": dict(
                                zip(("monthly", "due_at_signing", "term"), _numbers(new_price), strict=True)
                            )
                        },
                    ),
                    reason=f"competitor scraper run {run.pk}",
                )
    if updated_lots:
        # Conditional updates skip the save signal the catalogue cache listens to.
        catalog.invalidate()
    return {"matched": matched, "unmatched": unmatched, "lots_updated": len(updated_lots)}


def create_draft_lot(offer_id: Any, *, actor: audit.Actor) -> Lot:
    """Turn a scraped offer into a draft lot (year, make, model, trim, MSRP and the AutoBandit comparison);
    an editor completes and publishes it. Idempotent: a second click returns the same draft.

    Our own lease and finance terms are never copied from the competitor: they come from the lessor.
    Competitor photos are not copied either (copyright, business rules §16.11).
    """
    from app.services import lots  # the back office's service: slug, validation, price history, audit

    _require(actor, DRAFT_ROLES, "create lots")
    offer = ScrapedOffer.objects(pk=parse_object_id(str(offer_id))).first()
    if offer is None:
        raise NotFound("Scraped offer not found")
    if offer.draft_lot is not None:
        return Lot.objects(pk=offer.draft_lot.pk).first() or offer.draft_lot
    if not (offer.year and offer.make and offer.model):
        raise RuleViolation("This offer has no year, make or model to build a lot from; create it by hand")
    claimed = ScrapedOffer.objects(pk=offer.pk, status__ne="draft_created").modify(
        set__status="draft_created", new=True
    )
    if claimed is None:
        raise Conflict("A draft is being created from this offer; reload in a moment")
    data: dict[str, Any] = {
        "make": offer.make,
        "model": offer.model,
        "year": offer.year,
        "trim": offer.trim or "",
    }
    if offer.msrp is not None:
        data["msrp"] = Decimal(int(offer.msrp))
    if offer.monthly is not None:
        data["autobandit_monthly"] = Decimal(int(offer.monthly))
        if offer.due_at_signing is not None:
            data["autobandit_due_at_signing"] = Decimal(int(offer.due_at_signing))
        if offer.term_months:
            data["autobandit_term"] = offer.term_months
    try:
        lot = lots.create_lot(data, actor=actor, source="scraper")
    except Exception:
        ScrapedOffer.objects(pk=offer.pk).update_one(
            set__status="unmatched" if not offer.matched_lots else "matched"
        )
        raise
    ScrapedOffer.objects(pk=offer.pk).update_one(set__draft_lot=lot.pk, set__updated_at=utcnow())
    audit.record(
        "draft_from_scrape",
        "scraper",
        offer.pk,
        actor=actor,
        details={"lot_id": str(lot.pk), "title": offer.title},
    )
    return lot
