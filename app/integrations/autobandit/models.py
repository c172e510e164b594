"""Plain data returned by the AutoBandit parser and crawler.

Nothing here touches the database: the job that stores scraped offers maps these dataclasses onto its
own documents. Money is whole dollars as :class:`~decimal.Decimal`; absent figures are ``None``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

__all__ = [
    "CardKind",
    "CrawlError",
    "CrawlResult",
    "DealPage",
    "GuardDecision",
    "ImageRef",
    "ListingPage",
    "ScrapedOfferData",
    "SkippedCard",
]

CardKind = Literal["deal", "promo", "empty"]


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One car image found on a page.

    ``url`` is the link as the page gives it (absolute; for Next.js this is the ``/_next/image``
    optimiser URL), ``origin_url`` the picture itself (the decoded ``url=`` parameter, absolute),
    ``attr`` the attribute it came from (``src``, ``data-src``, ``data-lazy-src``, ``srcset``...) and
    ``raw`` the attribute value as written (HTML entities already decoded).
    """

    url: str
    origin_url: str
    attr: str
    raw: str


@dataclass(frozen=True, slots=True)
class ScrapedOfferData:
    """One competitor offer read from a deal card or a per-model page.

    ``external_id`` identifies the offer across runs (the slug of its per-model page, e.g.
    ``hyundai-elantra``, else ``key:`` plus :func:`match_key`). ``fingerprint`` changes whenever a
    stored figure changes, so a job can skip unchanged offers. ``warnings`` lists what could not be read
    (``"monthly: not found"``); a card with warnings is still returned.
    """

    title: str
    year: int | None
    make: str | None
    model: str | None
    trim: str | None = None
    msrp: Decimal | None = None
    monthly: Decimal | None = None
    due_at_signing: Decimal | None = None
    term_months: int | None = None
    miles_per_year: int | None = None
    incentives: Decimal | None = None
    images: tuple[ImageRef, ...] = ()
    source_url: str = ""
    detail_url: str | None = None
    external_id: str = ""
    badges: tuple[str, ...] = ()
    trim_count: int | None = None
    raw_text: str = ""
    card_index: int | None = None
    detail_merged: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def image_urls(self) -> list[str]:
        """The pictures' own URLs (``/_next/image`` unwrapped), de-duplicated, in page order."""
        return [image.origin_url for image in self.images]

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the figures we store; equal fingerprints mean nothing changed."""
        payload = {
            "id": self.external_id,
            "title": self.title,
            "year": self.year,
            "make": self.make,
            "model": self.model,
            "trim": self.trim,
            "msrp": _money_str(self.msrp),
            "monthly": _money_str(self.monthly),
            "das": _money_str(self.due_at_signing),
            "term": self.term_months,
            "miles": self.miles_per_year,
            "incentives": _money_str(self.incentives),
            "images": self.image_urls,
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def replace(self, **changes: object) -> ScrapedOfferData:
        """Return a copy with ``changes`` applied (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)


def _money_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class SkippedCard:
    """A ``js-offer-card`` element that is not a deal (promo tile, empty shell, unparseable)."""

    index: int
    kind: CardKind
    reason: str


@dataclass(slots=True)
class ListingPage:
    """Result of :func:`parse_listing`.

    ``offers`` holds every deal card in document order, duplicates included (the site renders each deal
    twice, for desktop and mobile); ``unique_offers`` merges those on ``external_id``, later copies only
    filling gaps in the first. ``detail_urls`` are the per-model
    pages the deal cards link to, in order, without duplicates.
    """

    url: str
    offers: list[ScrapedOfferData] = field(default_factory=list)
    unique_offers: list[ScrapedOfferData] = field(default_factory=list)
    skipped: list[SkippedCard] = field(default_factory=list)
    detail_urls: list[str] = field(default_factory=list)
    next_page_url: str | None = None
    card_elements: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DealPage:
    """Result of :func:`parse_deal_page` for a per-model page such as ``/deals/hyundai-elantra``.

    ``offer`` is the page's own summary (``None`` if the page has no recognisable heading), ``similar``
    the "Similar deals" cards, ``trims`` the trim rows present in the HTML (the live site loads them
    client-side, so this is usually empty while ``trim_count`` still says how many there are).
    """

    url: str
    offer: ScrapedOfferData | None
    similar: list[ScrapedOfferData] = field(default_factory=list)
    trim_count: int | None = None
    trims: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CrawlError:
    """A page the crawl could not use. ``kind`` is ``robots``, ``fetch``, ``parse`` or ``budget``."""

    url: str
    kind: Literal["robots", "fetch", "parse", "budget"]
    message: str
    status: int | None = None


@dataclass(slots=True)
class CrawlResult:
    """What one crawl found, plus the numbers the run log needs.

    ``listing_ok`` is false when the listing page itself could not be fetched or parsed: the offers list
    is then empty and the caller must not treat the run as "the competitor has no deals". ``warnings``
    holds page-level parser remarks (``"<url>: no js-offer-card element ..."``); per-offer remarks stay on
    each offer.
    """

    start_url: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    listing_ok: bool
    offers: list[ScrapedOfferData] = field(default_factory=list)
    errors: list[CrawlError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages_fetched: int = 0
    pages_failed: int = 0
    pages_skipped: int = 0
    cards_seen: int = 0
    deal_cards: int = 0
    requests: int = 0
    retries: int = 0

    @property
    def offers_with_warnings(self) -> int:
        """How many offers carry at least one parse warning."""
        return sum(1 for offer in self.offers if offer.warnings)

    def counts(self) -> dict[str, int | float | bool]:
        """Flat numbers for the run log."""
        return {
            "listing_ok": self.listing_ok,
            "offers": len(self.offers),
            "offers_with_warnings": self.offers_with_warnings,
            "cards_seen": self.cards_seen,
            "deal_cards": self.deal_cards,
            "pages_fetched": self.pages_fetched,
            "pages_failed": self.pages_failed,
            "pages_skipped": self.pages_skipped,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "requests": self.requests,
            "retries": self.retries,
            "duration_seconds": round(self.duration_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """Whether a run's results may be applied, and why (for the run log and the editor)."""

    ok: bool
    reason: str
