"""Crawl the competitor's listing and model pages, and decide whether a run may be applied.

:func:`crawl` never raises for a bad page: fetch, robots and parse failures become
:class:`CrawlError` entries so the job can log them. :func:`sync_guard` protects stored data from a
run that found suspiciously few offers (a layout change, a blocked request, an empty search page).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from app.integrations.autobandit.fetcher import (
    DisallowedByRobots,
    FetchedPage,
    FetchError,
    PoliteFetcher,
)
from app.integrations.autobandit.models import CrawlError, CrawlResult, GuardDecision, ScrapedOfferData
from app.integrations.autobandit.parser import (
    dedupe_offers,
    merge_offers,
    parse_deal_page,
    parse_listing,
)

__all__ = ["ProgressCallback", "crawl", "sync_guard"]

ProgressCallback = Callable[[int, int, str], None]


def _same_host(url: str, start_url: str) -> bool:
    return urlsplit(url).netloc.lower() == urlsplit(start_url).netloc.lower()


class _Crawl:
    """State of one crawl; :func:`crawl` is the public entry point."""

    def __init__(
        self,
        start_url: str,
        fetcher: PoliteFetcher,
        max_pages: int,
        progress: ProgressCallback | None,
        time_budget: float | None,
    ) -> None:
        self.start_url = start_url
        self.fetcher = fetcher
        self.max_pages = max_pages
        self.progress = progress
        self.time_budget = time_budget
        self.t0 = fetcher.clock()
        self.started_at = datetime.now(UTC)
        self.requests0 = fetcher.request_count
        self.retries0 = fetcher.retries
        self.errors: list[CrawlError] = []
        self.warnings: list[str] = []
        self.attempted = 0
        self.fetched = 0
        self.failed = 0
        self.skipped = 0
        self.cards_seen = 0
        self.deal_cards = 0
        self.listing_queue: list[str] = [start_url]
        self.listing_seen: set[str] = {start_url}
        self.detail_queue: list[str] = []
        self.listing_ok = False

    # ----------------------------------------------------------------------------------- plumbing

    def planned(self) -> int:
        remaining = len(self.listing_queue) + len(self.detail_queue)
        return self.attempted + min(remaining, max(self.max_pages - self.attempted, 0))

    def report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.attempted, max(self.planned(), self.attempted), message)

    def may_fetch(self, pending: int, what: str) -> bool:
        """False (and the rest counted as skipped) once the page cap or the time budget is reached."""
        if self.attempted >= self.max_pages:
            reason = f"max_pages ({self.max_pages}) reached"
        elif self.time_budget is not None and self.fetcher.clock() - self.t0 >= self.time_budget:
            reason = f"time budget of {self.time_budget:.0f}s used up"
        else:
            return True
        self.skipped += pending
        message = f"{reason}: {pending} {what} not fetched"
        self.errors.append(CrawlError(url=self.start_url, kind="budget", message=message))
        return False

    def get(self, url: str) -> FetchedPage | None:
        """Fetch ``url``; on failure record the error and return ``None``."""
        self.attempted += 1
        try:
            page = self.fetcher.fetch(url)
        except DisallowedByRobots as exc:
            self.failed += 1
            self.errors.append(CrawlError(url=url, kind="robots", message=exc.message))
            self.report(f"{url}: disallowed by robots.txt")
            return None
        except FetchError as exc:
            self.failed += 1
            self.errors.append(CrawlError(url=url, kind="fetch", message=exc.message, status=exc.status))
            self.report(f"{url}: {exc.message}")
            return None
        self.fetched += 1
        return page

    def parse_error(self, url: str, exc: Exception) -> None:
        # Parsers are written not to raise; this is the net for a bug or a wholly unexpected page.
        self.errors.append(CrawlError(url=url, kind="parse", message=f"{type(exc).__name__}: {exc}"))
        self.report(f"{url}: could not be parsed")

    # -------------------------------------------------------------------------------------- steps

    def crawl_listings(self) -> list[ScrapedOfferData]:
        offers: list[ScrapedOfferData] = []
        first = True
        while self.listing_queue:
            if not self.may_fetch(len(self.listing_queue), "listing page(s)"):
                self.listing_queue.clear()
                break
            url = self.listing_queue.pop(0)
            fetched = self.get(url)
            if fetched is None:
                first = False
                continue
            try:
                listing = parse_listing(fetched.text, fetched.final_url)
            except Exception as exc:  # noqa: BLE001 - see parse_error
                self.parse_error(url, exc)
                first = False
                continue
            if first:
                self.listing_ok = True
            first = False
            self.warnings.extend(f"{url}: {warning}" for warning in listing.warnings)
            self.cards_seen += listing.card_elements
            self.deal_cards += len(listing.offers)
            offers.extend(listing.offers)
            for detail in listing.detail_urls:
                if _same_host(detail, self.start_url) and detail not in self.detail_queue:
                    self.detail_queue.append(detail)
            nxt = listing.next_page_url
            if nxt and _same_host(nxt, self.start_url) and nxt not in self.listing_seen:
                self.listing_seen.add(nxt)
                self.listing_queue.append(nxt)
            self.report(f"{url}: {len(listing.offers)} deal card(s)")
        return dedupe_offers(offers)

    def crawl_details(self, offers: list[ScrapedOfferData]) -> list[ScrapedOfferData]:
        by_id: dict[str, ScrapedOfferData] = {offer.external_id: offer for offer in offers}
        id_by_url = {offer.detail_url: offer.external_id for offer in offers if offer.detail_url}
        while self.detail_queue:
            if not self.may_fetch(len(self.detail_queue), "model page(s)"):
                self.detail_queue.clear()
                break
            url = self.detail_queue.pop(0)
            fetched = self.get(url)
            if fetched is None:
                continue
            try:
                page = parse_deal_page(fetched.text, fetched.final_url)
            except Exception as exc:  # noqa: BLE001 - see parse_error
                self.parse_error(url, exc)
                continue
            self.warnings.extend(f"{url}: {warning}" for warning in page.warnings)
            if page.offer is not None:
                key = id_by_url.get(url, page.offer.external_id)
                card = by_id.get(key)
                detail = page.offer.replace(external_id=key, source_url=card.source_url if card else url)
                merged = detail if card is None else merge_offers(card, detail, prefer_extra=True)
                by_id[key] = merged.replace(detail_merged=True)
            for similar in page.similar:
                # Similar-deal cards repeat listing cards; they only fill gaps, or add a deal the
                # listing did not show (its own page is not fetched: we do not crawl outward).
                current = by_id.get(similar.external_id)
                by_id[similar.external_id] = similar if current is None else merge_offers(current, similar)
            self.report(f"{url}: model page read")
        return list(by_id.values())

    def result(self, offers: list[ScrapedOfferData]) -> CrawlResult:
        return CrawlResult(
            start_url=self.start_url,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            duration_seconds=max(0.0, self.fetcher.clock() - self.t0),
            listing_ok=self.listing_ok,
            offers=offers,
            errors=self.errors,
            warnings=self.warnings,
            pages_fetched=self.fetched,
            pages_failed=self.failed,
            pages_skipped=self.skipped,
            cards_seen=self.cards_seen,
            deal_cards=self.deal_cards,
            requests=self.fetcher.request_count - self.requests0,
            retries=self.fetcher.retries - self.retries0,
        )


def crawl(
    start_url: str,
    fetcher: PoliteFetcher,
    max_pages: int = 30,
    progress: ProgressCallback | None = None,
    *,
    follow_details: bool = True,
    time_budget: float | None = None,
) -> CrawlResult:
    """Fetch the listing at ``start_url`` (and its ``next`` pages), then the model pages it links to.

    A model page's summary overrides/completes its listing card (term, mileage, gallery image...);
    its "similar deals" cards fill gaps. Only links on the start URL's host are followed.

    ``max_pages`` caps page fetches (listing and model pages, failures included; robots.txt not
    counted); ``time_budget`` (seconds on the fetcher's clock) stops the crawl early so it ends inside
    the job timeout. Pages not fetched because of either are counted in ``pages_skipped`` and noted
    as a ``budget`` error. ``progress(done, total, message)`` is called after every page; ``total`` is
    an estimate that grows as links are discovered. Exceptions from ``progress`` propagate.

    The result's ``offers`` are de-duplicated on ``external_id``. When the listing itself fails,
    ``listing_ok`` is false and there are no offers.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    run = _Crawl(start_url, fetcher, max_pages, progress, time_budget)
    offers = run.crawl_listings()
    if run.listing_ok and follow_details:
        offers = run.crawl_details(offers)
    return run.result(offers if run.listing_ok else [])


def sync_guard(found: int, last_good: int | None, min_ratio: float = 0.5) -> GuardDecision:
    """Decide whether a run that found ``found`` offers may change stored data.

    A run finding nothing is never applied (an empty page is far likelier to be a block or a layout
    change than a competitor with no deals). With a previous good run of ``last_good`` offers, a run
    finding fewer than ``min_ratio`` of that is refused too. The reason is written for the run log.
    """
    if not 0 < min_ratio <= 1:
        raise ValueError("min_ratio must be in (0, 1]")
    if found < 0 or (last_good is not None and last_good < 0):
        raise ValueError("offer counts cannot be negative")
    if found == 0:
        return GuardDecision(False, "found no offers: nothing changed (blocked, empty page or new layout?)")
    if not last_good:
        return GuardDecision(True, f"found {found} offer(s); no previous good run to compare with")
    if found < last_good * min_ratio:
        return GuardDecision(
            False,
            f"found {found} offer(s), fewer than {min_ratio:.0%} of the last good run ({last_good}): "
            "nothing changed",
        )
    return GuardDecision(True, f"found {found} offer(s); last good run had {last_good}")
