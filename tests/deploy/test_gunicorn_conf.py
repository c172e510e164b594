"""deploy/gunicorn.conf.py: importable without side effects, valid for gunicorn, consistent with its neighbours."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gunicorn.config import Config

from tests.deploy.conftest import DEPLOY_DIR

CONF = DEPLOY_DIR / "gunicorn.conf.py"
ENV_NAMES = (
    "PORT",
    "BIND_HOST",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "FORWARDED_ALLOW_IPS",
    "LOG_LEVEL",
)


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("cargwin_gunicorn_conf", CONF)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_of(module: ModuleType) -> dict[str, object]:
    """What gunicorn takes from a config file: its public, non-callable, non-module globals."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "annotations"
        and not callable(value)
        and not isinstance(value, ModuleType)
    }


def gunicorn_config(module: ModuleType) -> Config:
    config = Config()
    for name, value in settings_of(module).items():
        config.set(name, value)  # runs gunicorn's own validators
    return config


def test_every_name_is_a_gunicorn_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # gunicorn silently ignores unknown names in a config file, so a typo would go unnoticed.
    unknown = set(settings_of(load(monkeypatch))) - set(Config().settings)
    assert unknown == set()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(monkeypatch)
    config = gunicorn_config(module)
    assert config.bind == ["0.0.0.0:8000"]
    assert config.workers == 2 * module.available_cpus() + 1
    assert config.worker_class_str == "gthread"
    assert config.preload_app is False  # PyMongo is not fork-safe
    assert config.max_requests == 1000 and config.max_requests_jitter == 100
    assert config.accesslog == "-" and config.errorlog == "-"
    assert config.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert config.control_socket_disable is True
    assert 0 < config.graceful_timeout <= config.timeout


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(
        monkeypatch,
        PORT="9001",
        BIND_HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        GUNICORN_TIMEOUT="45",
        FORWARDED_ALLOW_IPS="*",
        LOG_LEVEL="WARNING",
    )
    config = gunicorn_config(module)
    assert config.bind == ["127.0.0.1:9001"]
    assert config.workers == min(2, 2 * module.available_cpus() + 1)
    assert config.timeout == 45
    assert config.forwarded_allow_ips == ["*"]
    assert config.loglevel == "warning"


@pytest.mark.parametrize(
    ("cpus", "cap", "expected"), [(1, None, 3), (2, None, 5), (4, None, 9), (4, 3, 3), (1, 8, 3), (2, 0, 1)]
)
def test_worker_count_is_2_cpus_plus_1_capped(
    cpus: int, cap: int | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load(monkeypatch).worker_count(cpus, cap) == expected


@pytest.mark.parametrize("bad", ["abc", "-1", "2.5"])
def test_malformed_numbers_are_refused(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="GUNICORN_THREADS"):
        load(monkeypatch, GUNICORN_THREADS=bad)


def test_access_log_has_request_time_and_no_query_string(monkeypatch: pytest.MonkeyPatch) -> None:
    log_format = load(monkeypatch).access_log_format
    assert "%(M)s" in log_format  # request time in milliseconds
    assert "%(s)s" in log_format and "%(U)s" in log_format
    # %(r)s and %(q)s carry the query string, where tokens and personal data can travel.
    assert "%(r)s" not in log_format and "%(q)s" not in log_format


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ENV_NAMES}
    result = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_path({str(CONF)!r})"],
        cwd=tmp_path,
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["home"]


def test_timeouts_fit_nginx_systemd_and_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(monkeypatch)
    proxy = (DEPLOY_DIR / "nginx" / "snippets" / "proxy.conf").read_text()
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", proxy).group(1))
    # gunicorn must end a stuck request before nginx gives up on it.
    assert module.timeout < read_timeout
    site = (DEPLOY_DIR / "nginx" / "cargwin.conf").read_text()
    upstream_idle = int(re.search(r"keepalive_timeout (\d+)s;", site).group(1))
    # nginx closes idle upstream connections before gunicorn does, never the other way round.
    assert upstream_idle < module.keepalive
    unit = (DEPLOY_DIR / "systemd" / "cargwin-web.service").read_text()
    assert module.graceful_timeout < int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    compose = (DEPLOY_DIR / "docker-compose.yml").read_text()
    web = compose[compose.index("\n  web:") : compose.index("\n  worker:")]
    assert module.graceful_timeout < int(re.search(r"stop_grace_period: (\d+)s", web).group(1))
    # MAX_UPLOAD_SIZE (10 MB) and nginx's body limit agree.
    assert "client_max_body_size 10m;" in site
