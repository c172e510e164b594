"""AutoBandit (competitor site) scraper: parsing, polite fetching and crawling, with no database.

Typical use from a job::

    with PoliteFetcher(FetcherConfig.from_mapping(app.config)) as fetcher:
        result = crawl("https://autobandit.com/deals", fetcher, max_pages=30, progress=report)
    decision = sync_guard(len(result.offers), last_good_count)
    if decision.ok:
        ...  # store result.offers, matching them to lots with match_key(...)

Modules: :mod:`.parser` (HTML -> dataclasses), :mod:`.images` (which pictures are cars),
:mod:`.text` (money and invisible characters), :mod:`.matching` (title splitting, lot keys),
:mod:`.fetcher` (robots.txt, delays, retries), :mod:`.crawler` (crawl and sync guard).
"""

from app.integrations.autobandit.crawler import ProgressCallback, crawl, sync_guard
from app.integrations.autobandit.fetcher import (
    DisallowedByRobots,
    FetchedPage,
    FetcherConfig,
    FetchError,
    PoliteFetcher,
    ResponseTooLarge,
)
from app.integrations.autobandit.images import is_ignored_image, unwrap_image_url
from app.integrations.autobandit.matching import match_key, split_title
from app.integrations.autobandit.models import (
    CrawlError,
    CrawlResult,
    DealPage,
    GuardDecision,
    ImageRef,
    ListingPage,
    ScrapedOfferData,
    SkippedCard,
)
from app.integrations.autobandit.parser import (
    dedupe_offers,
    merge_offers,
    parse_deal_page,
    parse_listing,
)
from app.integrations.autobandit.text import clean_text, parse_money

__all__ = [
    "CrawlError",
    "CrawlResult",
    "DealPage",
    "DisallowedByRobots",
    "FetchError",
    "FetchedPage",
    "FetcherConfig",
    "PoliteFetcher",
    "ProgressCallback",
    "ResponseTooLarge",
    "crawl",
    "sync_guard",
    "GuardDecision",
    "ImageRef",
    "ListingPage",
    "ScrapedOfferData",
    "SkippedCard",
    "clean_text",
    "dedupe_offers",
    "is_ignored_image",
    "match_key",
    "merge_offers",
    "parse_deal_page",
    "parse_listing",
    "parse_money",
    "split_title",
    "unwrap_image_url",
]
