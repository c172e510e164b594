"""deploy/docker-compose.yml, as Docker Compose itself resolves it with the example settings.

``docker compose config`` validates the file against the Compose specification and interpolates every
``${VAR}``; the JSON it prints is what ``docker compose up`` would run, so the assertions read that.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from tests.deploy.conftest import APP_SETTINGS, DEPLOY_DIR, ENV_EXAMPLE

COMPOSE_FILE = DEPLOY_DIR / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "scheduler")
LONG_RUNNING = ("mongo", "redis", "web", "worker", "scheduler", "nginx")


def compose_config(
    compose_cmd: list[str], env_file: Path = ENV_EXAMPLE, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *compose_cmd,
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE_FILE),
            *extra,
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(compose_cmd: list[str]) -> dict[str, Any]:
    result = compose_config(compose_cmd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, Any]:
    return config["services"]


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == {"mongo", "redis", "migrate", "web", "worker", "scheduler", "nginx"}


def test_only_nginx_publishes_ports(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    assert {port["target"] for port in services["nginx"]["ports"]} == {80, 443}


def test_databases_sit_on_an_internal_network_only(config: dict[str, Any], services: dict[str, Any]) -> None:
    for name in ("mongo", "redis"):
        networks = set(services[name]["networks"])
        assert networks, name
        assert all(config["networks"][network].get("internal") is True for network in networks), name
    # nginx cannot reach the databases at all.
    assert not set(services["nginx"]["networks"]) & set(services["mongo"]["networks"])


def test_mongo_7_requires_authentication(services: dict[str, Any]) -> None:
    mongo = services["mongo"]
    assert mongo["image"].startswith("mongo:7")
    assert "--auth" in mongo["command"]
    assert mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"]
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"]
    init_mounts = [m for m in mongo["volumes"] if m["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert len(init_mounts) == 1
    assert init_mounts[0]["target"].endswith(".js")
    assert Path(init_mounts[0]["source"]) == DEPLOY_DIR / "mongo" / "init-cargwin.js"


def test_redis_7_keeps_an_append_only_file_and_has_a_password(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    conf_mount = next(m for m in redis["volumes"] if m["target"] == "/usr/local/etc/redis/redis.conf")
    conf = Path(conf_mount["source"]).read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    assert re.search(r"^include /run/redis/auth\.conf$", conf, re.M)
    script = "\n".join(redis["command"])
    assert "requirepass" in script and "/run/redis/auth.conf" in script
    assert "redis-server /usr/local/etc/redis/redis.conf" in script
    assert redis["environment"]["REDIS_PASSWORD"]
    data = next(m for m in redis["volumes"] if m["target"] == "/data")
    assert data["type"] == "volume" and data["source"] == "redis-data"


def test_exactly_one_scheduler(services: dict[str, Any]) -> None:
    scheduler = services["scheduler"]
    assert scheduler["command"] == ["flask", "--app", "wsgi", "scheduler"]
    assert scheduler.get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in scheduler
    others = [
        name
        for name, s in services.items()
        if name != "scheduler" and "scheduler" in (s.get("command") or [])
    ]
    assert others == []


def test_process_commands(services: dict[str, Any]) -> None:
    assert services["web"]["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]
    assert services["worker"]["command"] == ["flask", "--app", "wsgi", "worker"]
    assert services["migrate"]["command"] == ["flask", "--app", "wsgi", "migrate"]


def test_migrations_run_once_before_the_app(services: dict[str, Any]) -> None:
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    for name in APP_SERVICES:
        for database in ("mongo", "redis"):
            assert services[name]["depends_on"][database]["condition"] == "service_healthy", name


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        healthcheck = services[name].get("healthcheck", {})
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test") and healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name
    # The one-shot migrate container exits; a health status would be meaningless there.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_app_healthchecks_use_the_shipped_script(services: dict[str, Any]) -> None:
    script = DEPLOY_DIR / "healthcheck.py"
    assert script.is_file()
    for name, kind in (("web", "web"), ("worker", "worker"), ("scheduler", "scheduler")):
        assert services[name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "/opt/cargwin/deploy/healthcheck.py",
            kind,
        ]


def test_state_lives_in_named_volumes(config: dict[str, Any], services: dict[str, Any]) -> None:
    assert {"mongo-data", "redis-data", "uploads", "private-uploads", "backups"} <= set(config["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            if mount["type"] == "volume":
                assert mount.get("source") in config["volumes"], f"anonymous volume in {name}: {mount}"
    mongo_targets = {m["target"]: m for m in services["mongo"]["volumes"]}
    assert mongo_targets["/data/db"]["source"] == "mongo-data"
    for name in APP_SERVICES:
        sources = {m["source"]: m["target"] for m in services[name]["volumes"] if m["type"] == "volume"}
        assert sources == {
            "uploads": "/var/lib/cargwin/uploads",
            "private-uploads": "/var/lib/cargwin/private-uploads",
            "backups": "/var/lib/cargwin/backups",
        }, name


def test_nginx_serves_the_site_build_and_public_uploads_only(services: dict[str, Any]) -> None:
    nginx = services["nginx"]
    mounts = {m["target"]: m for m in nginx["volumes"]}
    assert mounts["/var/lib/cargwin/uploads"]["source"] == "uploads"
    assert mounts["/var/lib/cargwin/uploads"].get("read_only") is True
    assert all(m.get("source") not in ("private-uploads", "backups") for m in nginx["volumes"])
    site = mounts["/var/www/cargwin"]
    assert site["type"] == "bind" and site["read_only"] is True
    assert Path(site["source"]) == DEPLOY_DIR / "site-build"
    # A missing build folder must fail the start, not be created empty (compose omits the false default).
    assert not site.get("bind", {}).get("create_host_path", False)
    assert (
        Path(mounts["/etc/nginx/templates/default.conf.template"]["source"])
        == DEPLOY_DIR / "nginx" / "cargwin.conf"
    )
    assert Path(mounts["/etc/nginx/snippets/cargwin"]["source"]) == DEPLOY_DIR / "nginx" / "snippets"
    assert nginx["environment"]["CARGWIN_UPSTREAM"] == "web:8000"


def test_site_build_dir_comes_from_the_environment(compose_cmd: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(ENV_EXAMPLE.read_text() + f"\nSITE_BUILD_DIR={tmp_path / 'build'}\n")
    result = compose_config(compose_cmd, env_file)
    assert result.returncode == 0, result.stderr
    mounts = {m["target"]: m for m in json.loads(result.stdout)["services"]["nginx"]["volumes"]}
    assert mounts["/var/www/cargwin"]["source"] == str(tmp_path / "build")


def test_app_containers_get_every_setting_and_no_database_root_secret(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        missing = [setting for setting in APP_SETTINGS if setting not in environment]
        assert missing == [], name
        assert not [key for key in environment if key.startswith(("MONGO_INITDB", "MONGO_ROOT"))], name
        assert environment["APP_ENV"] == "production"
        assert environment["TRUSTED_PROXY_COUNT"] == "1"
        assert environment["MAX_UPLOAD_SIZE"] == "10485760"
        assert environment["MONGODB_URI"].startswith("mongodb://cargwin:")
        assert "@mongo:27017/cargwin?authSource=cargwin" in environment["MONGODB_URI"]
        assert re.fullmatch(r"redis://:[^@]+@redis:6379/0", environment["REDIS_URL"])
        assert int(environment["WEB_CONCURRENCY"]) >= 1  # gunicorn crashes on an empty value


def test_missing_secret_stops_compose(compose_cmd: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    lines = ENV_EXAMPLE.read_text().splitlines()
    env_file.write_text("\n".join(line for line in lines if not line.startswith("REDIS_PASSWORD=")))
    result = compose_config(compose_cmd, env_file)
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stderr


def test_backup_service_is_opt_in(compose_cmd: list[str]) -> None:
    result = compose_config(compose_cmd, ENV_EXAMPLE, "--profile", "backup")
    assert result.returncode == 0, result.stderr
    backup = json.loads(result.stdout)["services"]["backup"]
    assert backup["command"] == ["flask", "--app", "wsgi", "backup", "create"]
    assert backup["restart"] == "no"
    assert {m["source"] for m in backup["volumes"] if m["type"] == "volume"} >= {"backups"}


def test_example_env_documents_every_variable() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, re.M))
    compose_lines = [
        line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    used_by_compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", "\n".join(compose_lines)))
    assert {"MONGO_ROOT_PASSWORD", "REDIS_PASSWORD", "SITE_BUILD_DIR", "CARGWIN_DOMAIN"} <= used_by_compose
    assert used_by_compose - documented == set()
    assert set(APP_SETTINGS) - documented == set()


def test_example_env_holds_no_real_secret() -> None:
    values = dotenv_values(ENV_EXAMPLE)
    for key in ("SECRET_KEY", "JWT_SECRET_KEY", "PII_ENCRYPTION_KEYS", "MONGO_ROOT_PASSWORD"):
        assert "replace" in (values[key] or ""), key
    for key in ("MONGO_APP_PASSWORD", "REDIS_PASSWORD"):
        assert "replace" in (values[key] or ""), key
    for key in ("SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN", "SENTRY_DSN"):
        assert values[key] == "", key


def test_compose_and_dotenv_read_the_example_alike(services: dict[str, Any]) -> None:
    """The same file feeds compose, systemd's EnvironmentFile and python-dotenv (supervisor)."""
    values = dotenv_values(ENV_EXAMPLE)
    environment = services["web"]["environment"]
    for key in (
        "SECRET_KEY",
        "JWT_SECRET_KEY",
        "PII_ENCRYPTION_KEYS",
        "FRONTEND_URL",
        "LOG_LEVEL",
        "SENTRY_DSN",
    ):
        assert environment[key] == values[key], key
    assert services["nginx"]["environment"]["CARGWIN_DOMAIN"] == values["CARGWIN_DOMAIN"]
