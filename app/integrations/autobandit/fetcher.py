"""Polite HTTP fetching for the competitor scraper.

:class:`PoliteFetcher` wraps a :class:`requests.Session` and:

* obeys ``robots.txt`` (RFC 9309): a 4xx robots.txt (missing) allows everything, a 5xx or an
  unreachable one disallows everything for the run, ``Crawl-delay`` lengthens the delay (capped);
* waits a minimum delay between two requests to the same host, counted from the end of the previous
  request (the clock and sleep are injectable, so tests run on a fake clock);
* uses connect/read timeouts far below the 10-minute job timeout, and a total-time limit per response;
* retries connection errors, timeouts, 429 and 5xx a limited number of times with exponential backoff,
  honouring ``Retry-After``; a server asking for a longer wait than the cap gets no retry at all;
* follows redirects itself so every hop is checked against robots.txt and the per-host delay;
* refuses bodies larger than ``max_bytes`` (after decompression).

Errors are typed: :class:`FetchError`, and its subclasses :class:`DisallowedByRobots` and
:class:`ResponseTooLarge`. A fetcher is meant for one run and is not thread-safe.
"""

from __future__ import annotations

import codecs
import re
import time
import urllib.robotparser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import requests

__all__ = [
    "DEFAULT_USER_AGENT",
    "DisallowedByRobots",
    "FetchError",
    "FetchedPage",
    "FetcherConfig",
    "PoliteFetcher",
    "RequestRecord",
    "ResponseTooLarge",
]

DEFAULT_USER_AGENT = "CargwinBot/1.0 (+https://cargwin.com; competitor price check)"

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_CHUNK = 64 * 1024


class _SlowResponse(Exception):
    """The body took longer than ``total_timeout``; retried like a timeout."""


# Failures worth another attempt: the server or the network may do better a moment later.
_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class FetchError(Exception):
    """A page could not be fetched. ``status`` is the HTTP status when there was a response."""

    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message
        self.status = status


class DisallowedByRobots(FetchError):
    """robots.txt forbids the URL, or could not be read (5xx/unreachable), which forbids everything."""


class ResponseTooLarge(FetchError):
    """The response body is larger than ``FetcherConfig.max_bytes``."""


def _float(value: object) -> float:
    return float(str(value))


def _int(value: object) -> int:
    return int(str(value))


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    """Settings of :class:`PoliteFetcher`; durations are seconds.

    The defaults keep the worst case for one page (:attr:`worst_case_seconds`, about two minutes)
    well under a 10-minute job timeout, so a job can crawl a listing and a handful of model pages.
    """

    user_agent: str = DEFAULT_USER_AGENT
    min_delay: float = 3.0
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    total_timeout: float = 45.0
    max_retries: int = 2
    backoff_base: float = 2.0
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    max_crawl_delay: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5

    # Config keys read by from_mapping (env vars / Flask config) and how to coerce them. Not annotated,
    # so the dataclass machinery leaves it alone as a plain class constant.
    _KEYS = {
        "user_agent": ("AUTOBANDIT_USER_AGENT", str),
        "min_delay": ("AUTOBANDIT_MIN_DELAY", _float),
        "connect_timeout": ("AUTOBANDIT_CONNECT_TIMEOUT", _float),
        "read_timeout": ("AUTOBANDIT_READ_TIMEOUT", _float),
        "total_timeout": ("AUTOBANDIT_TOTAL_TIMEOUT", _float),
        "max_retries": ("AUTOBANDIT_MAX_RETRIES", _int),
        "retry_after_cap": ("AUTOBANDIT_RETRY_AFTER_CAP", _float),
        "max_bytes": ("AUTOBANDIT_MAX_BYTES", _int),
    }

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("user_agent must not be empty")
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("min_delay", "backoff_base", "backoff_max", "retry_after_cap", "max_crawl_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 <= self.max_retries <= 5:
            raise ValueError("max_retries must be between 0 and 5")
        if self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes must be positive and max_redirects not negative")

    @classmethod
    def from_mapping(cls, config: Mapping[str, object]) -> FetcherConfig:
        """Build from a Flask config or ``os.environ``; missing or empty keys keep their defaults.

        Keys: ``AUTOBANDIT_USER_AGENT``, ``AUTOBANDIT_MIN_DELAY``, ``AUTOBANDIT_CONNECT_TIMEOUT``,
        ``AUTOBANDIT_READ_TIMEOUT``, ``AUTOBANDIT_TOTAL_TIMEOUT``, ``AUTOBANDIT_MAX_RETRIES``,
        ``AUTOBANDIT_RETRY_AFTER_CAP``, ``AUTOBANDIT_MAX_BYTES``.
        """
        values: dict[str, object] = {}
        for name, (key, convert) in cls._KEYS.items():
            raw = config.get(key)
            if raw is not None and str(raw).strip() != "":
                values[name] = convert(raw)
        return cls(**values)

    @property
    def worst_case_seconds(self) -> float:
        """Upper bound of the time one :meth:`PoliteFetcher.fetch` can take, redirects aside."""
        attempts = self.max_retries + 1
        per_attempt = self.min_delay + self.connect_timeout + self.total_timeout
        waits = self.max_retries * max(self.backoff_max, self.retry_after_cap)
        return attempts * per_attempt + waits


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A successful (2xx) response. ``final_url`` differs from ``url`` after redirects."""

    url: str
    final_url: str
    status: int
    text: str
    encoding: str
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP attempt, for tests and the run log. ``started_at`` is on the fetcher's clock."""

    url: str
    started_at: float
    status: int | None
    error: str | None = None


@dataclass(slots=True)
class _RobotsPolicy:
    parser: urllib.robotparser.RobotFileParser | None
    disallow_reason: str | None = None
    crawl_delay: float = 0.0

    def allows(self, url: str, user_agent: str) -> bool:
        if self.disallow_reason is not None:
            return False
        return self.parser is None or self.parser.can_fetch(user_agent, url)


@dataclass(slots=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _decode(body: bytes, content_type: str) -> tuple[str, str]:
    """Decode with the header charset, else a ``<meta charset>``, else UTF-8.

    requests would assume ISO-8859-1 for ``text/html`` without a charset, which garbles the U+200D and
    U+00A0 characters the competitor puts inside prices.
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8"
    candidates: list[str] = []
    header = _CHARSET.search(content_type or "")
    if header:
        candidates.append(header.group(1))
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", errors="ignore"))
    for name in candidates:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        return body.decode(codec, errors="replace"), codec
    return body.decode("utf-8", errors="replace"), "utf-8"


class PoliteFetcher:
    """Fetch pages politely; see the module docstring for the rules.

    ``clock`` must be monotonic seconds and ``sleep`` must wait that many seconds (tests pass a fake
    clock whose ``sleep`` advances it). Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        config: FetcherConfig | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or FetcherConfig()
        self.clock = clock
        self._sleep = sleep
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._robots: dict[str, _RobotsPolicy] = {}
        self._last_request_end: dict[str, float] = {}
        self.history: list[RequestRecord] = []
        self.retries = 0

    # ----------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the session if this fetcher created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        """HTTP attempts made so far, robots.txt and retries included."""
        return len(self.history)

    # -------------------------------------------------------------------------------------- public

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets us fetch ``url`` (reads and caches robots.txt on first use)."""
        return self._robots_for(url).allows(url, self.config.user_agent)

    def fetch(self, url: str) -> FetchedPage:
        """GET ``url`` and return the decoded page.

        Raises :class:`DisallowedByRobots` before any request to a forbidden URL (or redirect target),
        :class:`ResponseTooLarge` for oversized bodies and :class:`FetchError` for everything else
        (non-2xx after retries, timeouts, connection errors, too many redirects).
        """
        current = url
        for _hop in range(self.config.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise FetchError(current, "only absolute http(s) URLs can be fetched")
            policy = self._robots_for(current)
            if not policy.allows(current, self.config.user_agent):
                reason = policy.disallow_reason or "disallowed by robots.txt"
                raise DisallowedByRobots(current, reason)
            response = self._get(current)
            location = response.headers.get("location")
            if response.status in _REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise FetchError(current, f"HTTP {response.status}", status=response.status)
            text, encoding = _decode(response.body, response.headers.get("content-type", ""))
            return FetchedPage(
                url=url,
                final_url=current,
                status=response.status,
                text=text,
                encoding=encoding,
                headers=response.headers,
                size=len(response.body),
            )
        raise FetchError(url, f"more than {self.config.max_redirects} redirects")

    # ------------------------------------------------------------------------------------- robots

    def _robots_for(self, url: str) -> _RobotsPolicy:
        origin = _origin(url)
        policy = self._robots.get(origin)
        if policy is None:
            policy = self._load_robots(origin)
            self._robots[origin] = policy
        return policy

    def _load_robots(self, origin: str) -> _RobotsPolicy:
        robots_url = origin + "/robots.txt"
        try:
            response = self._get(robots_url)
            # RFC 9309 asks crawlers to follow at least five redirects for robots.txt.
            for _hop in range(5):
                location = response.headers.get("location")
                if response.status not in _REDIRECT_STATUSES or not location:
                    break
                robots_url = urljoin(robots_url, location.strip())
                response = self._get(robots_url)
        except FetchError as exc:
            status = f"HTTP {exc.status}" if exc.status else exc.message
            return _RobotsPolicy(None, f"robots.txt unavailable ({status}): the site is off limits")
        if response.status >= 500 or response.status in _REDIRECT_STATUSES:
            return _RobotsPolicy(
                None, f"robots.txt unavailable (HTTP {response.status}): the site is off limits"
            )
        if response.status >= 400:
            # A missing robots.txt (404, 410, even 401/403 per RFC 9309) means no restriction.
            return _RobotsPolicy(None)
        text, _encoding = _decode(response.body, response.headers.get("content-type", ""))
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(text.splitlines())
        delay = parser.crawl_delay(self.config.user_agent)
        crawl_delay = min(float(delay), self.config.max_crawl_delay) if delay else 0.0
        return _RobotsPolicy(parser, crawl_delay=crawl_delay)

    # --------------------------------------------------------------------------------------- http

    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc.lower()
        last = self._last_request_end.get(host)
        if last is None:
            return
        policy = self._robots.get(_origin(url))
        delay = max(self.config.min_delay, policy.crawl_delay if policy else 0.0)
        remaining = last + delay - self.clock()
        if remaining > 0:
            self._sleep(remaining)

    def _backoff(self, attempt: int) -> float:
        return min(self.config.backoff_max, self.config.backoff_base * (2**attempt))

    def _get(self, url: str) -> _Response:
        """One GET with retries; redirects are returned, not followed; non-retryable statuses too."""
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            last_attempt = attempt == attempts - 1
            self._wait_turn(url)
            started = self.clock()
            try:
                response = self._attempt(url, started)
            except ResponseTooLarge:
                self._finish(url, started, None, "too large")
                raise
            except (*_TRANSIENT_ERRORS, _SlowResponse) as exc:
                kind = "timeout" if isinstance(exc, requests.Timeout | _SlowResponse) else "connection error"
                self._finish(url, started, None, f"{kind}: {type(exc).__name__}")
                if last_attempt:
                    raise FetchError(url, f"{kind} after {attempts} attempt(s)") from exc
                self._pause(self._backoff(attempt))
                continue
            except requests.RequestException as exc:
                self._finish(url, started, None, type(exc).__name__)
                raise FetchError(url, f"request failed: {type(exc).__name__}: {exc}") from exc
            self._finish(url, started, response.status, None)
            if response.status not in _RETRY_STATUSES:
                return response
            wait = self._backoff(attempt)
            asked = _retry_after_seconds(response.headers.get("retry-after"))
            if asked is not None:
                if asked > self.config.retry_after_cap:
                    # Retrying sooner than asked would be rude, waiting longer would stall the job.
                    raise FetchError(
                        url,
                        f"HTTP {response.status} with Retry-After {asked:.0f}s, "
                        f"more than the {self.config.retry_after_cap:.0f}s cap",
                        status=response.status,
                    )
                wait = max(wait, asked)
            if last_attempt:
                raise FetchError(
                    url, f"HTTP {response.status} after {attempts} attempt(s)", status=response.status
                )
            self._pause(wait)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _pause(self, seconds: float) -> None:
        self.retries += 1
        if seconds > 0:
            self._sleep(seconds)

    def _finish(self, url: str, started: float, status: int | None, error: str | None) -> None:
        self.history.append(RequestRecord(url=url, started_at=started, status=status, error=error))
        self._last_request_end[urlsplit(url).netloc.lower()] = self.clock()

    def _attempt(self, url: str, started: float) -> _Response:
        config = self.config
        headers = {
            "User-Agent": config.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.5",
            "Accept-Language": "en-US,en;q=0.8",
        }
        with self._session.get(
            url,
            headers=headers,
            timeout=(config.connect_timeout, config.read_timeout),
            stream=True,
            allow_redirects=False,
        ) as response:
            response_headers = {key.lower(): value for key, value in response.headers.items()}
            if not 200 <= response.status_code < 300:
                # Redirects, errors and retry answers are judged on status and headers alone.
                return _Response(response.status_code, response_headers, b"")
            declared = response_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > config.max_bytes:
                raise ResponseTooLarge(url, f"body of {declared} bytes exceeds {config.max_bytes}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > config.max_bytes:
                    raise ResponseTooLarge(url, f"body exceeds {config.max_bytes} bytes")
                if self.clock() - started > config.total_timeout:
                    # The read timeout is per socket read; a server dripping bytes could hold us forever.
                    raise _SlowResponse(url)
                chunks.append(chunk)
            return _Response(response.status_code, response_headers, b"".join(chunks))
