"""Fixtures of the worker tests: a local server that plays SendGrid, Twilio and Telegram (and the
competitor site), the provider settings pointing at it, a real RQ worker in burst mode, and an app with the
webhooks blueprint.

The provider server runs in a thread of the test process. The worker forks a work horse per job; the horse
calls the server over TCP and the thread (in the parent) answers, so the real SDKs are exercised end to end.
Every request is recorded, and a script of answers per provider lets a test make it fail, time out or refuse.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from rq import Queue
from rq.registry import ScheduledJobRegistry

from app.db import get_redis
from app.tasks import QUEUE_NAMES
from workers.worker import CargwinWorker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "autobandit"
SENDGRID_KEY = "SG.test-key-0123456789"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-auth-token-0123456789"
TWILIO_FROM = "+19495550000"
TELEGRAM_TOKEN = "123456:test-telegram-token"
TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"


@dataclass
class Answer:
    """One scripted answer: an HTTP status (and body), optionally after a delay (to cause timeouts)."""

    status: int
    body: dict[str, Any] | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    provider: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class ProviderState:
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def script(self, provider: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[provider] = list(answers)

    def next_answer(self, provider: str) -> Answer | None:
        with self.lock:
            queue = self.scripts.get(provider) or []
            return queue.pop(0) if queue else None

    def sent(self, provider: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.provider == provider]


class _ProviderHandler(BaseHTTPRequestHandler):
    server: _ProviderServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base-class signature
        """Quiet."""

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        state = self.server.state
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/v3/mail/send":
            provider = "sendgrid"
        elif path.startswith("/2010-04-01/Accounts/"):
            provider = "twilio"
        elif path.startswith("/bot"):
            provider = "telegram"
        else:
            self._reply(404, {"error": "unknown"})
            return
        answer = state.next_answer(provider)
        if answer is not None and answer.delay:
            time.sleep(answer.delay)
        with state.lock:
            state.counter += 1
            number = state.counter
            state.requests.append(Recorded(provider, "POST", path, dict(self.headers.items()), body))
        status = answer.status if answer else 0
        if provider == "sendgrid":
            if answer is None or 200 <= status < 300:
                self._reply(202, None, {"X-Message-Id": f"sg-{number}"})
            else:
                self._reply(status, answer.body or {"errors": [{"message": f"scripted {status}"}]})
        elif provider == "twilio":
            if answer is None or 200 <= status < 300:
                self._reply(
                    201, {"sid": f"SM{number:032d}", "status": "queued", "body": "", "to": "", "from": ""}
                )
            else:
                self._reply(
                    status, answer.body or {"code": 20500, "message": f"scripted {status}", "status": status}
                )
        else:
            if answer is None or 200 <= status < 300:
                self._reply(200, {"ok": True, "result": {"message_id": number}})
            else:
                self._reply(
                    status, answer.body or {"ok": False, "error_code": status, "description": "scripted"}
                )


class _ProviderServer(ThreadingHTTPServer):
    daemon_threads = True
    state: ProviderState

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out closes the socket mid-answer: expected in the timeout tests."""


@dataclass
class Providers:
    base: str
    state: ProviderState

    def script(self, provider: str, *answers: Answer) -> None:
        self.state.script(provider, *answers)

    def sent(self, provider: str) -> list[Recorded]:
        return self.state.sent(provider)


@pytest.fixture
def providers(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Providers]:
    """Real provider SDKs configured against a local server that plays the three providers."""
    server = _ProviderServer(("127.0.0.1", 0), _ProviderHandler)
    server.state = ProviderState()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for key, value in {
        "SENDGRID_API_KEY": SENDGRID_KEY,
        "SENDGRID_API_HOST": base,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE": base,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE": base,
        "PROVIDER_TIMEOUT_SECONDS": 1,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    try:
        yield Providers(base=base, state=server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------- the worker


def run_worker(*queue_names: str) -> bool:
    """A real ``CargwinWorker`` in burst mode with its scheduler: it first moves due scheduled jobs (RQ
    retries) to their queues, then runs everything queued. Returns whether any job ran."""
    redis = get_redis()
    queues = [Queue(name, connection=redis) for name in (queue_names or QUEUE_NAMES)]
    return CargwinWorker(queues, connection=redis).work(
        burst=True, with_scheduler=True, logging_level="WARNING"
    )


def scheduled_jobs(queue_name: str = "notifications") -> list[tuple[str, datetime]]:
    """(job id, when) of the jobs RQ holds for later on a queue: retries waiting for their back-off."""
    registry = ScheduledJobRegistry(queue_name, connection=get_redis())
    return [
        (job_id.decode() if isinstance(job_id, bytes) else job_id, datetime.fromtimestamp(score, UTC))
        for job_id, score in get_redis().zrange(registry.key, 0, -1, withscores=True)
    ]


def make_scheduled_jobs_due(queue_name: str = "notifications") -> int:
    """Fast-forward RQ's clock for waiting retries: their back-off is checked first with
    :func:`scheduled_jobs`; tests never sleep for it."""
    registry = ScheduledJobRegistry(queue_name, connection=get_redis())
    redis = get_redis()
    due = time.time() - 1
    ids = redis.zrange(registry.key, 0, -1)
    for job_id in ids:
        redis.zadd(registry.key, {job_id: due})
    return len(ids)


def queued_job_ids(queue_name: str) -> list[str]:
    return Queue(queue_name, connection=get_redis()).job_ids


# --------------------------------------------------------------------------------------- webhooks app


@pytest.fixture(scope="session")
def webhook_app(app: Flask) -> Flask:
    """The application, which registers the webhooks blueprint itself."""
    return app


@pytest.fixture
def webhook_client(webhook_app: Flask):  # type: ignore[no-untyped-def]
    return webhook_app.test_client()


# ---------------------------------------------------------------------------------- competitor site


@dataclass
class CompetitorSite:
    base: str
    root: Path
    hits: list[str] = field(default_factory=list)
    listing: str = "deals.html"
    robots: str = "User-agent: *\nDisallow: /private/\n"


class _SiteHandler(BaseHTTPRequestHandler):
    server: _SiteServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        site = self.server.site
        path = urlsplit(self.path).path
        site.hits.append(path)
        if path == "/robots.txt":
            self._send(200, site.robots.encode(), "text/plain")
        elif path == "/deals":
            self._send(200, (site.root / site.listing).read_bytes())
        elif path.startswith("/deals/"):
            page = site.root / f"deal-{path.removeprefix('/deals/')}.html"
            self._send(200, page.read_bytes()) if page.is_file() else self._send(404, b"not found")
        else:
            self._send(404, b"not found")


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site: CompetitorSite


@pytest.fixture
def competitor(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CompetitorSite]:
    """The AutoBandit fixture pages served locally, and the scraper settings pointing at them."""
    root = tmp_path / "autobandit"
    shutil.copytree(FIXTURES, root)
    server = _SiteServer(("127.0.0.1", 0), _SiteHandler)
    server.site = CompetitorSite(base=f"http://127.0.0.1:{server.server_address[1]}", root=root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setitem(app.config, "COMPETITOR_BASE_URL", server.site.base)
    monkeypatch.setitem(app.config, "SCRAPER_START_PATH", "/deals")
    monkeypatch.setitem(app.config, "SCRAPER_MIN_DELAY", 0.0)
    try:
        yield server.site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def pacific(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware UTC datetime for a Pacific wall-clock time."""
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(UTC)


def later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)
