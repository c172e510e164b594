"""Settings, read from the environment (and a ``.env`` file outside production).

Every setting is declared once in ``SETTINGS`` with its default and a one-line description; ``.env.example``
documents the same list and a test keeps the two in step. Secrets have no default: production refuses to
start without strong values, development generates them once and keeps them under ``var/`` so restarts keep
sessions and encrypted data readable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type | str = str  # str, int, bool, float or "list"
    doc: str = ""
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", "development", doc="development, test or production"),
    Setting("MONGODB_URI", None, doc="MongoDB URI; empty starts the embedded server under var/db"),
    Setting("MONGODB_DB", "cargwin", doc="Database name used when the URI names none"),
    Setting("REDIS_URL", None, doc="Redis URL; empty starts the embedded Redis under var/redis"),
    Setting("SECRET_KEY", None, doc="Flask session signing key (>= 32 chars)", secret=True),
    Setting("JWT_SECRET_KEY", None, doc="JWT signing key (>= 32 chars)", secret=True),
    Setting(
        "PII_ENCRYPTION_KEYS",
        None,
        doc="Comma-separated KEYID:BASE64URL(32 bytes); the first encrypts, all decrypt",
        secret=True,
    ),
    Setting("CORS_ORIGINS", "", "list", doc="Comma-separated origins allowed to call /api from a browser"),
    Setting(
        "FRONTEND_URL", "http://localhost:3000", doc="Public site URL used in links (car pages, magic link)"
    ),
    Setting(
        "PUBLIC_BASE_URL", "http://127.0.0.1:8000", doc="URL of this server (image and unsubscribe links)"
    ),
    Setting("VAR_DIR", str(BASE_DIR / "var"), doc="Writable state: embedded databases, dev secrets, logs"),
    Setting("UPLOAD_DIR", None, doc="Public lot images (served at /uploads/); default VAR_DIR/uploads"),
    Setting("PRIVATE_UPLOAD_DIR", None, doc="Customer documents, never served; default VAR_DIR/private"),
    Setting("MAX_UPLOAD_SIZE", 10 * 1024 * 1024, int, doc="Largest accepted upload in bytes"),
    Setting("BACKUP_DIR", None, doc="Where `flask backup create` writes archives; default VAR_DIR/backups"),
    Setting("BACKUP_KEEP", 14, int, doc="Newest backups kept by `backup prune` (0: no count limit)"),
    Setting("BACKUP_MAX_AGE_DAYS", 35, int, doc="Backups older than this are pruned (0: no age limit)"),
    Setting("LOG_LEVEL", "INFO", doc="DEBUG, INFO, WARNING or ERROR"),
    Setting("LOG_FORMAT", None, doc="text or json; default json in production, text elsewhere"),
    Setting("TRUSTED_PROXY_COUNT", 0, int, doc="Reverse proxies in front of the app (1 behind nginx)"),
    Setting("JWT_ACCESS_TOKEN_MINUTES", 30, int, doc="Lifetime of API access tokens"),
    Setting("JWT_REFRESH_TOKEN_DAYS", 7, int, doc="Lifetime of API refresh tokens"),
    Setting(
        "MAGIC_LINK_DEBUG", False, bool, doc="Return magic-link tokens in responses (never in production)"
    ),
    Setting("OAUTH_SESSION_URL", "", doc="Identity provider session-data endpoint for Google sign-in"),
    Setting("RATELIMIT_ENABLED", True, bool, doc="Apply the API rate limits"),
    Setting("STAFF_SESSION_IDLE_MINUTES", 30, int, doc="Back-office idle timeout"),
    Setting("STAFF_SESSION_MAX_HOURS", 12, int, doc="Back-office absolute session lifetime"),
    Setting(
        "PLACEHOLDER_IMAGE_URL", "/app-static/img/placeholder-car.svg", doc="Gallery image for lots with none"
    ),
    Setting("MAIL_FROM", "Cargwin <deals@cargwin.com>", doc="From address of e-mails"),
    Setting("MAIL_REPLY_TO", "support@cargwin.com", doc="Reply-To address of e-mails"),
    Setting("SENDGRID_API_KEY", "", doc="SendGrid key; empty uses the console backend", secret=True),
    Setting("SENDGRID_API_HOST", "https://api.sendgrid.com", doc="SendGrid API base URL"),
    Setting("TWILIO_ACCOUNT_SID", "", doc="Twilio account SID; empty uses the console backend"),
    Setting("TWILIO_AUTH_TOKEN", "", doc="Twilio auth token", secret=True),
    Setting("TWILIO_FROM_NUMBER", "", doc="Twilio sending number (E.164)"),
    Setting("TWILIO_API_BASE", "", doc="Override of the Twilio API host (tests)"),
    Setting("TELEGRAM_BOT_TOKEN", "", doc="Telegram bot token; empty uses the console backend", secret=True),
    Setting("TELEGRAM_API_BASE", "https://api.telegram.org", doc="Telegram Bot API base URL"),
    Setting("TELEGRAM_BOT_USERNAME", "", doc="Bot username for link codes (t.me/<name>?start=<code>)"),
    Setting(
        "TELEGRAM_WEBHOOK_SECRET",
        "",
        doc="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; empty disables the bot webhook",
        secret=True,
    ),
    Setting("PROVIDER_TIMEOUT_SECONDS", 10, int, doc="Timeout of one call to SendGrid, Twilio or Telegram"),
    Setting("ALERT_DAILY_CAP", 5, int, doc="Most alert messages one customer gets per day (Pacific)"),
    Setting("SMS_SEND_FROM_HOUR", 8, int, doc="Alert texts wait until this hour (recipient's time, Pacific)"),
    Setting("SMS_SEND_UNTIL_HOUR", 21, int, doc="Alert texts stop at this hour (recipient's time, Pacific)"),
    Setting(
        "PII_REVEAL_ALERT_THRESHOLD", 20, int, doc="Reveals by one staff member in an hour that alert admins"
    ),
    Setting("VIN_DECODER_URL", "https://vpic.nhtsa.dot.gov/api", doc="NHTSA vPIC base URL"),
    Setting("COMPETITOR_BASE_URL", "https://autobandit.com", doc="Competitor site read by the scraper"),
    Setting("SCRAPER_USER_AGENT", "CargwinPriceCheck/1.0 (+https://cargwin.com)", doc="Scraper User-Agent"),
    Setting("SCRAPER_START_PATH", "/deals", doc="Competitor listing page the scraper starts from"),
    Setting("SCRAPER_MIN_DELAY", 3.0, float, doc="Seconds between two requests to the competitor"),
    Setting("SCRAPER_MAX_PAGES", 30, int, doc="Most pages one scraper run fetches"),
    Setting(
        "SCRAPER_MIN_RATIO", 0.5, float, doc="Sync guard: fewer offers than this share of the last good run"
    ),
    Setting(
        "SCRAPER_INTERVAL_HOURS", 0, int, doc="Scheduled scraper runs every N hours; 0 runs only on demand"
    ),
    Setting("SENTRY_DSN", "", doc="Optional Sentry DSN for error reporting", secret=True),
    Setting("METRICS_ENABLED", True, bool, doc="Serve Prometheus metrics at /metrics (keep it private)"),
    Setting("PORT", 8000, int, doc="Port of the development web server"),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET_KEY", "PII_ENCRYPTION_KEYS")

# Values that appear in tutorials and example files. A secret equal to (or built around) one of them is
# as good as public.
KNOWN_PLACEHOLDERS = {
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "secret-key",
    "your-secret-key",
    "dev",
    "development",
    "test",
    "password",
    "supersecret",
    "jwt-secret",
    "replace-me",
}
MIN_SECRET_LENGTH = 32


def _coerce(setting: Setting, raw: Any) -> Any:
    if raw is None:
        return None
    if not isinstance(raw, str):
        return raw
    raw = raw.strip()
    if setting.kind == "list":
        return [item.strip() for item in raw.split(",") if item.strip()]
    if raw == "":
        return setting.default if setting.kind in (int, bool, float) else ""
    if setting.kind is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{setting.name} must be true or false, got {raw!r}")
    if setting.kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{setting.name} must be an integer, got {raw!r}") from None
    if setting.kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(f"{setting.name} must be a number, got {raw!r}") from None
    return raw


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> dict[str, Any]:
    """Resolve every setting: overrides > process environment > ``.env`` (not in production) > default.

    Secrets are checked (production) or generated and persisted (development, test) here, so nothing
    downstream ever sees a missing secret.
    """
    overrides = dict(overrides or {})
    environ = os.environ if environ is None else environ
    app_env = str(overrides.get("APP_ENV") or environ.get("APP_ENV") or "development").strip().lower()
    if app_env not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")

    dotenv: dict[str, str] = {}
    if app_env != "production":
        dotenv = _read_dotenv(dotenv_path or BASE_DIR / ".env")

    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw = overrides[setting.name]
        elif setting.name in environ:
            raw = environ[setting.name]
        elif setting.name in dotenv:
            raw = dotenv[setting.name]
        else:
            raw = setting.default
        value = _coerce(setting, raw)
        values[setting.name] = None if value == "" and setting.default is None else value
    values["APP_ENV"] = app_env
    # Keys that are not settings (Flask or extension options a test passes in) go through unchanged.
    for key, value in overrides.items():
        if key not in SETTINGS_BY_NAME:
            values[key] = value

    var_dir = Path(values["VAR_DIR"])
    values["UPLOAD_DIR"] = values["UPLOAD_DIR"] or str(var_dir / "uploads")
    values["PRIVATE_UPLOAD_DIR"] = values["PRIVATE_UPLOAD_DIR"] or str(var_dir / "private")
    values["BACKUP_DIR"] = values["BACKUP_DIR"] or str(var_dir / "backups")
    if not values["LOG_FORMAT"]:
        values["LOG_FORMAT"] = "json" if app_env == "production" else "text"

    if app_env == "production":
        check_production(values)
    else:
        _fill_development_secrets(values, var_dir, persist=app_env == "development")
    parse_pii_keys(values["PII_ENCRYPTION_KEYS"])  # fail early on a malformed key list
    return values


def check_production(values: Mapping[str, Any]) -> None:
    """Refuse to start production with a missing or weak secret, or with development-only switches."""
    problems: list[str] = []
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        problem = secret_problem(values.get(name))
        if problem:
            problems.append(f"{name} {problem}")
    pii = values.get("PII_ENCRYPTION_KEYS")
    if not pii:
        problems.append("PII_ENCRYPTION_KEYS is missing")
    else:
        try:
            parse_pii_keys(pii)
        except ConfigurationError as exc:
            problems.append(str(exc))
    for name in ("MONGODB_URI", "REDIS_URL"):
        if not values.get(name):
            problems.append(f"{name} is missing (production never starts embedded servers)")
    if values.get("MAGIC_LINK_DEBUG"):
        problems.append("MAGIC_LINK_DEBUG must be off in production")
    if problems:
        raise ConfigurationError("Refusing to start in production: " + "; ".join(problems))


def secret_problem(value: Any) -> str | None:
    """Say what is wrong with a signing secret, or None when it is acceptable."""
    if not value:
        return "is missing"
    text = str(value)
    lowered = text.lower()
    if lowered in KNOWN_PLACEHOLDERS or any(word in lowered for word in ("change", "replace", "example")):
        return "is a known placeholder"
    if len(text) < MIN_SECRET_LENGTH:
        return f"is too short (at least {MIN_SECRET_LENGTH} characters)"
    if len(set(text)) < 8:
        return "is too repetitive"
    return None


def parse_pii_keys(raw: str | None) -> list[tuple[str, bytes]]:
    """Parse ``KEYID:BASE64URL`` entries into (key id, 32-byte key); the first entry is the active key."""
    if not raw:
        return []
    keys: list[tuple[str, bytes]] = []
    for entry in str(raw).split(","):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id or not key_id.isalnum() or len(key_id) > 16:
            raise ConfigurationError("PII_ENCRYPTION_KEYS entries must look like KEYID:BASE64KEY")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            raise ConfigurationError(f"PII_ENCRYPTION_KEYS key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise ConfigurationError(f"PII_ENCRYPTION_KEYS key {key_id!r} must be 32 bytes")
        if any(existing == key_id for existing, _ in keys):
            raise ConfigurationError(f"PII_ENCRYPTION_KEYS repeats key id {key_id!r}")
        keys.append((key_id, key))
    return keys


def new_pii_key_entry(key_id: str) -> str:
    """A fresh ``KEYID:BASE64URL`` entry, for the dev secrets file and the rotation runbook."""
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"


def _fill_development_secrets(values: dict[str, Any], var_dir: Path, *, persist: bool) -> None:
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if not missing:
        return
    generated: dict[str, str] = {}
    secrets_file = var_dir / "secrets.json"
    if persist and secrets_file.is_file():
        generated = json.loads(secrets_file.read_text())
    fresh = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "PII_ENCRYPTION_KEYS": lambda: new_pii_key_entry("dev1"),
    }
    changed = False
    for name in missing:
        if name not in generated:
            generated[name] = fresh[name]()
            changed = True
        values[name] = generated[name]
    if persist and changed:
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = secrets_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(generated, fh, indent=2)
        os.replace(tmp, secrets_file)
