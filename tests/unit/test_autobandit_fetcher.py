"""PoliteFetcher and crawl against a local HTTP server serving the AutoBandit fixture pages.

The server runs in a thread on 127.0.0.1 (port 0) and serves a temporary copy of the fixture directory
with a robots.txt added. ``/deals`` is the listing, ``/deals/<slug>`` the ``deal-<slug>.html`` model page
(404 when the fixture does not exist), ``/search`` the empty search page. A few extra routes misbehave
on purpose. The fetcher runs on a fake
clock, so delays, backoff and Retry-After are checked without waiting.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.integrations.autobandit import (
    DisallowedByRobots,
    FetcherConfig,
    FetchError,
    PoliteFetcher,
    ResponseTooLarge,
    crawl,
    sync_guard,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "autobandit"
USER_AGENT = "CargwinTestBot/1.0 (+https://cargwin.example/bot)"
ROBOTS = "User-agent: *\nDisallow: /private/\n"


@dataclass
class SiteState:
    """What the test server does, and what it saw."""

    root: Path
    robots_status: int = 200
    # path -> failing answers still to give (503, or 429 with Retry-After on /limited)
    failures: dict[str, int] = field(default_factory=dict)
    retry_after: str = "7"
    slow_seconds: float = 1.0
    hits: list[tuple[str, str]] = field(default_factory=list)  # (path, User-Agent)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ua in self.hits]

    def take_failure(self, path: str) -> bool:
        with self.lock:
            left = self.failures.get(path, 0)
            if left:
                self.failures[path] = left - 1
            return left > 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep the test output clean."""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        merged = {"Content-Type": "text/html", "Content-Length": str(len(body))} | (headers or {})
        for key, value in merged.items():
            if value:
                self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        state = self.server.state
        path = urlsplit(self.path).path
        with state.lock:
            state.hits.append((path, self.headers.get("User-Agent", "")))
        if path == "/limited":
            if state.take_failure(path):
                self._send(429, headers={"Retry-After": state.retry_after})
            else:
                self._send(200, b"<p>ok</p>")
        elif state.take_failure(path):
            self._send(503, b"busy")
        elif path == "/robots.txt":
            if state.robots_status == 200:
                self._send(200, (state.root / "robots.txt").read_bytes(), {"Content-Type": "text/plain"})
            else:
                self._send(state.robots_status)
        elif path == "/deals":
            # Served as "text/html" without a charset, like http.server would: the fetcher must not
            # fall back to ISO-8859-1 (requests' default), which would garble U+200D and U+00A0.
            self._send(200, (state.root / "deals.html").read_bytes())
        elif path == "/search":
            self._send(200, (state.root / "search-2025-lexus-rx.html").read_bytes())
        elif path.startswith("/deals/"):
            page = state.root / f"deal-{path.removeprefix('/deals/')}.html"
            self._send(200, page.read_bytes()) if page.is_file() else self._send(404, b"not found")
        elif path == "/flaky":
            self._send(200, b"<p>ok</p>")
        elif path == "/slow":
            time.sleep(state.slow_seconds)
            self._send(200, b"<p>late</p>")
        elif path == "/big":
            self._send(200, b"x" * 50_000)
        elif path == "/big-unannounced":
            self._send(200, b"x" * 50_000, {"Content-Length": ""})
        elif path == "/to-private":
            self._send(302, headers={"Location": "/private/page"})
        elif path == "/to-deals":
            self._send(301, headers={"Location": "/deals/kia-niro-ev"})
        else:
            self._send(404, b"not found")


class _Server(ThreadingHTTPServer):
    state: SiteState

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out closes the socket mid-answer; that is expected here."""


@dataclass
class Site:
    base: str
    state: SiteState

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "autobandit"
    shutil.copytree(FIXTURES, root)
    (root / "robots.txt").write_text(ROBOTS, encoding="utf-8")
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = SiteState(root=root)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="autobandit-test-server",
        daemon=True,
    )
    thread.start()
    try:
        yield Site(base=f"http://127.0.0.1:{server.server_address[1]}", state=server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class FakeClock:
    """Monotonic seconds that only move when the fetcher sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def make_fetcher(clock: FakeClock, **overrides: Any) -> PoliteFetcher:
    settings: dict[str, Any] = {
        "user_agent": USER_AGENT,
        "min_delay": 0.0,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "max_retries": 2,
        "backoff_base": 2.0,
    }
    return PoliteFetcher(FetcherConfig(**(settings | overrides)), clock=clock, sleep=clock.sleep)


# ----------------------------------------------------------------------------------------------- robots


def test_robots_disallow_blocks_before_any_request(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        assert fetcher.allowed(site.url("/deals"))
        assert not fetcher.allowed(site.url("/private/page"))
        with pytest.raises(DisallowedByRobots):
            fetcher.fetch(site.url("/private/page"))
        # A redirect into a disallowed path is caught at the hop, before the request.
        with pytest.raises(DisallowedByRobots):
            fetcher.fetch(site.url("/to-private"))
    assert "/private/page" not in site.state.paths()
    assert site.state.paths().count("/robots.txt") == 1, "robots.txt is read once per run"


def test_robots_groups_match_our_user_agent(site: Site) -> None:
    (site.state.root / "robots.txt").write_text(
        "User-agent: CargwinTestBot\nDisallow: /deals/\n\nUser-agent: *\nDisallow:\n", encoding="utf-8"
    )
    with make_fetcher(FakeClock()) as fetcher:
        assert fetcher.fetch(site.url("/deals")).status == 200
        with pytest.raises(DisallowedByRobots):
            fetcher.fetch(site.url("/deals/kia-niro-ev"))
    with make_fetcher(FakeClock(), user_agent="SomeoneElse/2.0") as other:
        assert other.fetch(site.url("/deals/kia-niro-ev")).status == 200


@pytest.mark.parametrize("status", [503, 501])  # retried, then not retried
def test_robots_5xx_disallows_everything(site: Site, status: int) -> None:
    site.state.robots_status = status
    with make_fetcher(FakeClock(), max_retries=1) as fetcher:
        with pytest.raises(DisallowedByRobots, match="robots.txt unavailable"):
            fetcher.fetch(site.url("/deals"))
        assert not fetcher.allowed(site.url("/deals/kia-niro-ev"))
    assert set(site.state.paths()) == {"/robots.txt"}


@pytest.mark.parametrize("status", [404, 410, 403])
def test_missing_robots_allows(site: Site, status: int) -> None:
    site.state.robots_status = status
    with make_fetcher(FakeClock()) as fetcher:
        # The server answers 404 for this page: the request went out, robots.txt did not stop it.
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/private/page"))
        page = fetcher.fetch(site.url("/deals"))
    assert caught.value.status == 404 and not isinstance(caught.value, DisallowedByRobots)
    assert page.status == 200


def test_unreachable_site_is_a_fetch_error() -> None:
    clock = FakeClock()
    with make_fetcher(clock, max_retries=1, connect_timeout=0.5) as fetcher:
        # Nothing listens on port 9 of localhost (discard service is never enabled in CI images).
        with pytest.raises(FetchError, match="robots.txt unavailable"):
            fetcher.fetch("http://127.0.0.1:9/deals")
    assert clock.sleeps == [2.0], "one retry after a backoff"


# ------------------------------------------------------------------------------------------- politeness


def test_delay_between_requests_to_the_same_host(site: Site) -> None:
    clock = FakeClock()
    with make_fetcher(clock, min_delay=2.5) as fetcher:
        for path in ("/deals", "/deals/hyundai-elantra", "/deals/kia-niro-ev"):
            fetcher.fetch(site.url(path))
        starts = [record.started_at for record in fetcher.history]
    assert [urlsplit(r.url).path for r in fetcher.history] == [
        "/robots.txt",
        "/deals",
        "/deals/hyundai-elantra",
        "/deals/kia-niro-ev",
    ]
    assert all(later - earlier >= 2.5 for earlier, later in zip(starts, starts[1:], strict=False))
    assert clock.sleeps == [2.5, 2.5, 2.5]


def test_crawl_delay_from_robots_lengthens_the_delay(site: Site) -> None:
    (site.state.root / "robots.txt").write_text(
        "User-agent: *\nCrawl-delay: 5\nDisallow:\n", encoding="utf-8"
    )
    clock = FakeClock()
    with make_fetcher(clock, min_delay=1.0) as fetcher:
        fetcher.fetch(site.url("/deals"))
        fetcher.fetch(site.url("/deals/kia-niro-ev"))
    assert clock.sleeps == [5.0, 5.0]


def test_user_agent_and_encoding(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        page = fetcher.fetch(site.url("/deals"))
    assert {ua for _path, ua in site.state.hits} == {USER_AGENT}
    assert page.encoding == "utf-8"
    assert "$173\u200d<span" in page.text
    assert "MSRP\u00a0from\u00a0$23,945" in page.text


# ------------------------------------------------------------------------------------ retries and errors


def test_retries_on_503_then_succeeds(site: Site) -> None:
    site.state.failures["/flaky"] = 2
    clock = FakeClock()
    with make_fetcher(clock, max_retries=2) as fetcher:
        page = fetcher.fetch(site.url("/flaky"))
        assert fetcher.retries == 2
    assert page.text == "<p>ok</p>"
    assert site.state.paths().count("/flaky") == 3
    assert clock.sleeps == [2.0, 4.0], "exponential backoff"


def test_gives_up_after_limited_retries(site: Site) -> None:
    site.state.failures["/flaky"] = 10
    with make_fetcher(FakeClock(), max_retries=1) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/flaky"))
    assert caught.value.status == 503
    assert site.state.paths().count("/flaky") == 2


def test_not_found_is_not_retried(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/deals/hyundai-venue"))
    assert caught.value.status == 404
    assert site.state.paths().count("/deals/hyundai-venue") == 1


def test_timeout_is_a_fetch_error(site: Site) -> None:
    site.state.slow_seconds = 1.0
    with make_fetcher(FakeClock(), read_timeout=0.2, max_retries=1) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timeout"):
            fetcher.fetch(site.url("/slow"))
        assert time.monotonic() - started < 1.5, "the read timeout, not the server, ends the wait"
    assert site.state.paths().count("/slow") == 2


def test_retry_after_is_honoured(site: Site) -> None:
    site.state.failures["/limited"] = 1
    site.state.retry_after = "7"
    clock = FakeClock()
    with make_fetcher(clock) as fetcher:
        assert fetcher.fetch(site.url("/limited")).text == "<p>ok</p>"
    assert clock.sleeps == [7.0], "Retry-After (7 s) beats the 2 s backoff"


def test_retry_after_beyond_the_cap_gives_up(site: Site) -> None:
    site.state.failures["/limited"] = 1
    site.state.retry_after = "3600"
    clock = FakeClock()
    with make_fetcher(clock, retry_after_cap=60.0) as fetcher:
        with pytest.raises(FetchError, match="Retry-After") as caught:
            fetcher.fetch(site.url("/limited"))
    assert caught.value.status == 429
    assert clock.sleeps == []
    assert site.state.paths().count("/limited") == 1


@pytest.mark.parametrize("path", ["/big", "/big-unannounced"])
def test_max_response_size(site: Site, path: str) -> None:
    with make_fetcher(FakeClock(), max_bytes=10_000) as fetcher:
        with pytest.raises(ResponseTooLarge):
            fetcher.fetch(site.url(path))
    assert site.state.paths().count(path) == 1, "an oversized page is not retried"


def test_redirects_are_followed_and_reported(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        page = fetcher.fetch(site.url("/to-deals"))
    assert page.final_url == site.url("/deals/kia-niro-ev")
    assert "<h1" in page.text


def test_rejects_non_http_urls() -> None:
    with make_fetcher(FakeClock()) as fetcher:
        for url in ("file:///etc/passwd", "/deals", "ftp://autobandit.com/"):
            with pytest.raises(FetchError):
                fetcher.fetch(url)


def test_config_from_mapping_and_bounds() -> None:
    config = FetcherConfig.from_mapping(
        {
            "AUTOBANDIT_USER_AGENT": "X/1",
            "AUTOBANDIT_MIN_DELAY": "1.5",
            "AUTOBANDIT_MAX_RETRIES": "",
            "OTHER": 1,
        }
    )
    assert (config.user_agent, config.min_delay, config.max_retries) == ("X/1", 1.5, 2)
    # Defaults keep one page, retries and waits included, far inside a 10-minute job timeout.
    assert FetcherConfig().worst_case_seconds < 600 / 2
    assert FetcherConfig().read_timeout < 600
    with pytest.raises(ValueError):
        FetcherConfig(max_retries=50)
    with pytest.raises(ValueError):
        FetcherConfig(read_timeout=0)


# ----------------------------------------------------------------------------------------------- crawl


def _expected_deals() -> dict[str, dict[str, Any]]:
    pages = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["pages"]
    cards = [c for c in pages["deals.html"]["cards"] if c["kind"] == "deal"]
    return {c["detail_url"].rsplit("/", 1)[-1]: c for c in cards}


def test_crawl_listing_and_model_pages(site: Site) -> None:
    progress: list[tuple[int, int, str]] = []
    clock = FakeClock()
    with make_fetcher(clock, min_delay=1.0) as fetcher:
        result = crawl(site.url("/deals"), fetcher, max_pages=30, progress=lambda *a: progress.append(a))

    assert result.listing_ok
    assert (result.cards_seen, result.deal_cards) == (30, 28)
    assert (result.pages_fetched, result.pages_failed, result.pages_skipped) == (3, 12, 0)
    assert {(e.kind, e.status) for e in result.errors} == {("fetch", 404)}
    assert len(result.errors) == 12

    expected = _expected_deals()
    assert [o.external_id for o in result.offers] == list(expected)
    for offer in result.offers:
        card = expected[offer.external_id]
        assert (offer.title, offer.msrp, offer.monthly) == (
            card["title"],
            Decimal(card["msrp"]),
            Decimal(card["monthly"]),
        )
        assert offer.incentives == Decimal(card["incentives"])
        assert offer.detail_url == site.url(f"/deals/{offer.external_id}")
        assert offer.source_url == site.url("/deals")
        assert offer.image_urls[0] == card["image_origin_url"]
        assert offer.warnings == ()

    merged = {o.external_id: o for o in result.offers if o.detail_merged}
    assert set(merged) == {"hyundai-elantra", "kia-niro-ev"}
    for offer in merged.values():
        assert (offer.term_months, offer.miles_per_year) == (36, 10_000)
        assert len(offer.image_urls) == 1, "the gallery shows the same picture as the card"
    assert result.offers[1].term_months is None, "cards alone do not show a term"

    # Progress: one call per page, counting up to the final total.
    assert [done for done, _total, _msg in progress] == list(range(1, 16))
    assert progress[-1][:2] == (15, 15)
    assert result.requests == 16  # robots.txt + 15 pages
    assert result.duration_seconds == pytest.approx(15.0)  # 15 polite waits of 1 s on the fake clock
    assert result.warnings == []
    counts = result.counts()
    assert counts["offers"] == 14 and counts["errors"] == 12 and counts["listing_ok"] is True


def test_crawl_respects_max_pages_and_robots(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        capped = crawl(site.url("/deals"), fetcher, max_pages=3)
    assert (capped.pages_fetched + capped.pages_failed, capped.pages_skipped) == (3, 12)
    assert [e.kind for e in capped.errors][-1] == "budget"
    assert len(capped.offers) == 14, "the listing cards are kept even without their model pages"

    (site.state.root / "robots.txt").write_text("User-agent: *\nDisallow: /deals/\n", encoding="utf-8")
    site.state.hits.clear()
    with make_fetcher(FakeClock()) as fetcher:
        blocked = crawl(site.url("/deals"), fetcher)
    assert blocked.listing_ok and len(blocked.offers) == 14
    assert {e.kind for e in blocked.errors} == {"robots"} and len(blocked.errors) == 14
    assert not [p for p in site.state.paths() if p.startswith("/deals/")]


def test_crawl_time_budget(site: Site) -> None:
    with make_fetcher(FakeClock(), min_delay=10.0) as fetcher:
        result = crawl(site.url("/deals"), fetcher, time_budget=35.0)
    # Listing at t=10, model pages at 20, 30 and 40 s; at 40 s the 35 s budget is spent.
    assert result.pages_fetched + result.pages_failed == 4
    assert result.pages_skipped == 11
    assert "time budget" in result.errors[-1].message


def test_crawl_of_an_empty_listing_is_flagged(site: Site) -> None:
    with make_fetcher(FakeClock()) as fetcher:
        result = crawl(site.url("/search"), fetcher)
    assert result.listing_ok and result.offers == []
    assert any("no js-offer-card" in w for w in result.warnings)
    assert not sync_guard(len(result.offers), None).ok


def test_crawl_listing_failure_changes_nothing(site: Site) -> None:
    site.state.failures["/deals"] = 2
    with make_fetcher(FakeClock(), max_retries=1) as fetcher:
        result = crawl(site.url("/deals"), fetcher)
    assert not result.listing_ok
    assert result.offers == []
    assert [(e.kind, e.status) for e in result.errors] == [("fetch", 503)]
    assert not [p for p in site.state.paths() if p.startswith("/deals/")]
    assert not sync_guard(len(result.offers), 14).ok


# ------------------------------------------------------------------------------------------ sync guard


@pytest.mark.parametrize(
    ("found", "last_good", "ok", "phrase"),
    [
        (14, None, True, "no previous good run"),
        (14, 14, True, "last good run had 14"),
        (7, 14, True, "found 7"),
        (6, 14, False, "fewer than 50% of the last good run (14)"),
        (0, None, False, "found no offers"),
        (0, 14, False, "found no offers"),
        (3, 0, True, "no previous good run"),
    ],
)
def test_sync_guard(found: int, last_good: int | None, ok: bool, phrase: str) -> None:
    decision = sync_guard(found, last_good)
    assert decision.ok is ok
    assert phrase in decision.reason


def test_sync_guard_ratio_is_configurable_and_validated() -> None:
    assert not sync_guard(12, 14, min_ratio=0.9).ok
    assert sync_guard(13, 14, min_ratio=0.9).ok
    with pytest.raises(ValueError):
        sync_guard(1, 1, min_ratio=0)
    with pytest.raises(ValueError):
        sync_guard(-1, 1)
