"""Settings: production refuses missing or weak secrets; development keeps generated ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import BASE_DIR, SETTINGS, load_settings, new_pii_key_entry
from app.errors import ConfigurationError

STRONG = "k3Jq9vZr2LmX8pWt5YbN1cQe7HsDfGa4"
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": STRONG,
    "JWT_SECRET_KEY": STRONG[::-1],
    "PII_ENCRYPTION_KEYS": new_pii_key_entry("k1"),
    "MONGODB_URI": "mongodb://db.internal:27017/cargwin",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def test_production_starts_with_strong_secrets():
    settings = load_settings(PRODUCTION, environ={})
    assert settings["LOG_FORMAT"] == "json"


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "JWT_SECRET_KEY", "PII_ENCRYPTION_KEYS", "MONGODB_URI", "REDIS_URL"]
)
def test_production_refuses_a_missing_setting_and_names_it(name):
    overrides = {k: v for k, v in PRODUCTION.items() if k != name}
    with pytest.raises(ConfigurationError, match=name):
        load_settings(overrides, environ={})


@pytest.mark.parametrize(
    "weak", ["changeme", "secret", "short-but-random-9f", "your-secret-key-please-change-it-now", "a" * 40]
)
def test_production_refuses_a_weak_jwt_secret(weak):
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        load_settings({**PRODUCTION, "JWT_SECRET_KEY": weak}, environ={})


def test_production_refuses_magic_link_debug():
    with pytest.raises(ConfigurationError, match="MAGIC_LINK_DEBUG"):
        load_settings({**PRODUCTION, "MAGIC_LINK_DEBUG": "true"}, environ={})


def test_production_ignores_the_dotenv_file(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"SECRET_KEY={STRONG}\n")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings(
            {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}, environ={}, dotenv_path=dotenv
        )


def test_malformed_pii_key_is_refused():
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_settings({"APP_ENV": "test", "PII_ENCRYPTION_KEYS": "k1:c2hvcnQ"}, environ={})


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path):
    first = load_settings({"VAR_DIR": str(tmp_path)}, environ={}, dotenv_path=tmp_path / "none")
    second = load_settings({"VAR_DIR": str(tmp_path)}, environ={}, dotenv_path=tmp_path / "none")
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "PII_ENCRYPTION_KEYS"):
        assert first[name] and first[name] == second[name]
    secrets_file = tmp_path / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_dotenv_values_apply_in_development_and_environment_wins(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FRONTEND_URL=https://from-dotenv.example\nLOG_LEVEL=DEBUG\n")
    settings = load_settings({"VAR_DIR": str(tmp_path)}, environ={"LOG_LEVEL": "WARNING"}, dotenv_path=dotenv)
    assert settings["FRONTEND_URL"] == "https://from-dotenv.example"
    assert settings["LOG_LEVEL"] == "WARNING"


def test_bad_typed_values_are_reported_by_name(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="MAX_UPLOAD_SIZE"):
        load_settings({"VAR_DIR": str(tmp_path), "MAX_UPLOAD_SIZE": "ten megabytes"}, environ={})


def test_env_example_documents_every_setting():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.M))
    missing = {s.name for s in SETTINGS} - documented
    assert not missing, f".env.example does not document {sorted(missing)}"
