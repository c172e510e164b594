"""Cargwin: the application factory.

``create_app(config)`` builds everything: settings, logging, connections, extensions, the public API, the
back office, error handlers and CLI commands. Nothing is created at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson import ObjectId
from flask import Flask, Response, abort, jsonify, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import BASE_DIR, load_settings
from app.logging_setup import configure_logging, init_request_logging
from app.metrics import init_metrics

__version__ = "1.0.0"

log = logging.getLogger(__name__)


class CargwinJSONProvider(DefaultJSONProvider):
    """JSON with exact money and explicit UTC offsets.

    Integral decimals become JSON integers (``65``), others numbers (``8.75``); datetimes are ISO 8601 in UTC
    with ``Z``; key order is kept because the contract fixes it for some responses.
    """

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        if isinstance(o, datetime):
            aware = o if o.tzinfo else o.replace(tzinfo=UTC)
            return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, ObjectId):
            return str(o)
        return DefaultJSONProvider.default(o)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings (tests pass their own)."""
    settings = load_settings(config)
    # /static/ belongs to the React build behind nginx; the app's own files live under /app-static/.
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder="static",
        static_url_path="/app-static",
    )
    app.json_provider_class = CargwinJSONProvider
    app.json = CargwinJSONProvider(app)
    app.config.update(settings)
    app.config.update(
        TESTING=settings["APP_ENV"] == "test",
        MAX_CONTENT_LENGTH=settings["MAX_UPLOAD_SIZE"] + 1024 * 1024,  # multipart overhead on top of the file
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["APP_ENV"] == "production",
        SESSION_COOKIE_NAME="cargwin_session",
        COMPANY_POSTAL_ADDRESS="Cargwin LLC, 2855 Michelle Dr, Office 180, Irvine, CA 92606",
        VERSION=__version__,
    )
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    for directory in ("UPLOAD_DIR", "PRIVATE_UPLOAD_DIR"):
        Path(app.config[directory]).mkdir(parents=True, exist_ok=True)

    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)  # type: ignore[method-assign]

    register_services(app)
    register_extensions(app)
    init_request_logging(app)
    init_metrics(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_security_headers(app)
    return app


def register_services(app: Flask) -> None:
    from app.db import init_db, resolve_service_urls
    from app.pii import PiiCipher

    resolve_service_urls(app)
    init_db(app)
    app.extensions["pii_cipher"] = PiiCipher.from_setting(app.config["PII_ENCRYPTION_KEYS"])
    if app.config.get("SENTRY_DSN"):
        import sentry_sdk
        from sentry_sdk.integrations.flask import FlaskIntegration

        # send_default_pii stays off: request bodies and user details never leave the server.
        sentry_sdk.init(
            dsn=app.config["SENTRY_DSN"],
            integrations=[FlaskIntegration()],
            send_default_pii=False,
            environment=app.config["APP_ENV"],
        )


def register_extensions(app: Flask) -> None:
    from app.extensions import jwt, limiter, login_manager

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "cargwin-rl")
    jwt.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)


def register_blueprints(app: Flask) -> None:
    from admin import init_admin
    from app.webhooks import webhooks_blueprint
    from public_api import api_blueprint

    app.register_blueprint(api_blueprint, url_prefix="/api")
    # Provider callbacks and the one-click unsubscribe link (/webhooks/..., /unsubscribe/...).
    app.register_blueprint(webhooks_blueprint)
    init_admin(app)

    @app.get("/health")
    def liveness() -> Response:
        """Liveness: the process answers. No I/O, so a slow database never restarts healthy workers."""
        return jsonify({"status": "alive"})

    @app.get("/uploads/<path:filename>")
    def uploaded_image(filename: str) -> Response:
        # send_from_directory refuses paths that escape UPLOAD_DIR; nginx serves these in production.
        if filename.startswith(".") or "/." in filename:
            abort(404)
        return send_from_directory(app.config["UPLOAD_DIR"], filename, max_age=86400)


def register_errorhandlers(app: Flask) -> None:
    from app.errors_http import register_error_envelope

    register_error_envelope(app)


def register_commands(app: Flask) -> None:
    from app.cli import register_cli
    from workers.cli import register_worker_cli

    register_cli(app)
    register_worker_cli(app)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api") and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        return response
