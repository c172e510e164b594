"""deploy/systemd and deploy/supervisor: the units verify, and both run the same processes the same way.

``systemd-analyze verify`` checks unit syntax, unknown keys, bad values, dependencies between the units and
that every Exec*= binary is executable. The units name /opt/cargwin/.venv/bin/{gunicorn,flask}, which do
not exist on a test machine, so the units are copied into a temporary directory with /opt/cargwin replaced
by a temporary install root holding stand-in executables. Only that one path changes, so the check is
the real one (a missing binary, a typo in a key or a bad dependency still fails it), and its output must
be empty: systemd reports unknown keys as warnings with exit status 0.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY_DIR, ENV_EXAMPLE, python_with_supervisor

SYSTEMD_DIR = DEPLOY_DIR / "systemd"
SERVICES = (
    "cargwin-migrate.service",
    "cargwin-web.service",
    "cargwin-worker@.service",
    "cargwin-scheduler.service",
    "cargwin-backup.service",
)
LONG_RUNNING = ("cargwin-web.service", "cargwin-worker@.service", "cargwin-scheduler.service")
FLASK = "/opt/cargwin/.venv/bin/flask --app wsgi"

HARDENING = {
    "User": "cargwin",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "ReadWritePaths": "/var/lib/cargwin -/opt/cargwin/var",
    "CapabilityBoundingSet": "",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values (a key may repeat). Comments and blank lines are skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, (section, key, values)
    return values[0]


def hardening_block(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Hardening:"))
    block = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("["):
            break
        block.append(line)
    return block


def systemd_analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze not found; install it with: apt-get install -y systemd")
    return binary


def verify(units_dir: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *(str(units_dir / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=units_dir,
    )


def staged_units(tmp_path: Path) -> Path:
    """The units, with /opt/cargwin pointing at a temporary install root whose binaries exist."""
    install = tmp_path / "opt-cargwin"
    (install / ".venv" / "bin").mkdir(parents=True)
    for name in ("gunicorn", "flask"):
        binary = install / ".venv" / "bin" / name
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for source in SYSTEMD_DIR.glob("cargwin*"):
        if source.suffix in (".service", ".timer", ".target"):
            (units / source.name).write_text(source.read_text().replace("/opt/cargwin", str(install)))
    # An instance of the worker template, as cargwin.target starts it.
    (units / "cargwin-worker@1.service").symlink_to("cargwin-worker@.service")
    return units


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    units = staged_units(tmp_path)
    names = [*SERVICES, "cargwin-worker@1.service", "cargwin-backup.timer", "cargwin.target"]
    result = verify(units, names)
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_verify_catches_a_typo_and_a_missing_binary(tmp_path: Path) -> None:
    """Control for the test above: the same harness reports what it is meant to catch."""
    units = staged_units(tmp_path)
    web = units / "cargwin-web.service"
    web.write_text(web.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    typo = verify(units, ["cargwin-web.service"])
    assert "Unknown key" in typo.stderr
    web.write_text(web.read_text().replace(".venv/bin/gunicorn", ".venv/bin/gunicorn-missing"))
    assert verify(units, ["cargwin-web.service"]).returncode != 0


def test_services_run_the_documented_commands() -> None:
    commands = {name: one(parse_unit(SYSTEMD_DIR / name), "Service", "ExecStart") for name in SERVICES}
    assert commands == {
        "cargwin-migrate.service": f"{FLASK} migrate",
        "cargwin-web.service": "/opt/cargwin/.venv/bin/gunicorn -c deploy/gunicorn.conf.py wsgi:app",
        "cargwin-worker@.service": f"{FLASK} worker",
        "cargwin-scheduler.service": f"{FLASK} scheduler",
        "cargwin-backup.service": f"{FLASK} backup create",
    }


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened_alike(name: str) -> None:
    unit = parse_unit(SYSTEMD_DIR / name)
    service = unit["Service"]
    assert one(unit, "Service", "WorkingDirectory") == "/opt/cargwin"
    assert one(unit, "Service", "EnvironmentFile") == "/etc/cargwin/cargwin.env"
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    assert hardening_block(SYSTEMD_DIR / name) == hardening_block(SYSTEMD_DIR / SERVICES[0])


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart_on_failure_after_migrations(name: str) -> None:
    unit = parse_unit(SYSTEMD_DIR / name)
    assert one(unit, "Service", "Restart") == "on-failure"
    assert "cargwin-migrate.service" in one(unit, "Unit", "Requires").split()
    assert "cargwin-migrate.service" in one(unit, "Unit", "After").split()
    assert one(unit, "Unit", "PartOf") == "cargwin.target"
    assert one(unit, "Install", "WantedBy") == "cargwin.target"


def test_web_listens_on_loopback_behind_nginx() -> None:
    unit = parse_unit(SYSTEMD_DIR / "cargwin-web.service")
    environment = one(unit, "Service", "Environment").split()
    assert "BIND_HOST=127.0.0.1" in environment
    assert "TRUSTED_PROXY_COUNT=1" in environment
    assert one(unit, "Service", "Type") == "notify"


def test_worker_stops_warm_and_the_scheduler_is_single() -> None:
    worker = parse_unit(SYSTEMD_DIR / "cargwin-worker@.service")
    # Only RQ's main process gets SIGTERM, so the running job may finish.
    assert one(worker, "Service", "KillMode") == "mixed"
    assert not list(SYSTEMD_DIR.glob("cargwin-scheduler@*"))
    target = parse_unit(SYSTEMD_DIR / "cargwin.target")
    wants = one(target, "Unit", "Wants").split()
    assert [name for name in wants if "scheduler" in name] == ["cargwin-scheduler.service"]
    assert {"cargwin-web.service", "cargwin-worker@1.service", "cargwin-backup.timer"} <= set(wants)


def test_backup_timer_runs_nightly_and_catches_up() -> None:
    timer = parse_unit(SYSTEMD_DIR / "cargwin-backup.timer")
    assert one(timer, "Timer", "Unit") == "cargwin-backup.service"
    assert one(timer, "Timer", "Persistent") == "true"
    result = subprocess.run(
        [systemd_analyze(), "calendar", one(timer, "Timer", "OnCalendar")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    backup = parse_unit(SYSTEMD_DIR / "cargwin-backup.service")
    assert one(backup, "Service", "Type") == "oneshot"
    assert one(backup, "Service", "UMask") == "0077"


def test_state_directories_match_the_units() -> None:
    entries = [
        line.split()
        for line in (SYSTEMD_DIR / "cargwin.tmpfiles.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    modes = {path: mode for _, path, mode, *_ in entries}
    assert modes == {
        "/var/lib/cargwin": "0751",
        "/var/lib/cargwin/uploads": "0755",
        "/var/lib/cargwin/private-uploads": "0700",
        "/var/lib/cargwin/backups": "0700",
    }
    assert all(entry[3:5] == ["cargwin", "cargwin"] for entry in entries)


# ---- supervisor ---------------------------------------------------------------------------------------------

SUPERVISOR_CONF = DEPLOY_DIR / "supervisor" / "cargwin.conf"
DOTENV_PREFIX = ["/opt/cargwin/.venv/bin/dotenv", "-f", "/etc/cargwin/cargwin.env", "run", "--"]

# Runs in the interpreter that has supervisor; prints the processes supervisord would start.
READ_SUPERVISOR = """
import json, shlex, sys
from supervisor.options import ServerOptions
options = ServerOptions()
options.realize(args=["-c", sys.argv[1]])
print(json.dumps([
    {"group": group.name, "name": process.name, "argv": shlex.split(process.command),
     "directory": process.directory, "environment": process.environment or {},
     "stopsignal": int(process.stopsignal), "stopwaitsecs": process.stopwaitsecs,
     "stopasgroup": process.stopasgroup, "killasgroup": process.killasgroup, "umask": process.umask}
    for group in options.process_group_configs for process in group.process_configs
]))
"""


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    python = python_with_supervisor()
    if python is None:
        pytest.skip("supervisor not found; install it with: apt-get install -y supervisor")
    base = tmp_path_factory.mktemp("supervisor")
    # supervisord refuses unknown users; the dedicated user does not exist on a test machine.
    me = pwd.getpwuid(os.getuid()).pw_name
    program_file = base / "cargwin.conf"
    program_file.write_text(SUPERVISOR_CONF.read_text().replace("user=cargwin", f"user={me}"))
    main = base / "supervisord.conf"
    main.write_text(
        f"[supervisord]\nlogfile={base}/supervisord.log\npidfile={base}/supervisord.pid\n"
        f"[include]\nfiles = {program_file}\n"
    )
    result = subprocess.run(
        [python, "-c", READ_SUPERVISOR, str(main)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return {process["name"]: process for process in json.loads(result.stdout)}


def test_supervisor_runs_the_same_processes(supervised: dict[str, dict]) -> None:
    assert set(supervised) == {"cargwin-web", "cargwin-worker-1", "cargwin-worker-2", "cargwin-scheduler"}
    assert {process["group"] for process in supervised.values()} == {"cargwin"}
    for process in supervised.values():
        assert process["argv"][:5] == DOTENV_PREFIX
        assert process["directory"] == "/opt/cargwin"
    flask = FLASK.split()
    assert supervised["cargwin-scheduler"]["argv"][5:] == [*flask, "scheduler"]
    assert supervised["cargwin-worker-1"]["argv"][5:] == [*flask, "worker"]
    web = supervised["cargwin-web"]["argv"][5:]
    assert web[:2] == ["/bin/sh", "-c"]
    assert web[2] == (
        f"{FLASK} migrate && exec /opt/cargwin/.venv/bin/gunicorn -c deploy/gunicorn.conf.py wsgi:app"
    )
    assert supervised["cargwin-web"]["environment"]["BIND_HOST"] == "127.0.0.1"
    assert supervised["cargwin-web"]["environment"]["TRUSTED_PROXY_COUNT"] == "1"


def test_supervisor_stops_like_systemd(supervised: dict[str, dict]) -> None:
    worker = supervised["cargwin-worker-1"]
    assert worker["stopsignal"] == 15 and worker["stopasgroup"] is False and worker["killasgroup"] is True
    assert worker["stopwaitsecs"] == 120
    web_unit = parse_unit(SYSTEMD_DIR / "cargwin-web.service")
    assert supervised["cargwin-web"]["stopwaitsecs"] == int(one(web_unit, "Service", "TimeoutStopSec"))
    assert supervised["cargwin-web"]["umask"] == 0o022


def test_dotenv_loads_the_env_file_over_the_process_environment(tmp_path: Path) -> None:
    """The supervisor wrapper: python-dotenv's CLI reads the env file and the file wins, as under systemd."""
    dotenv_cli = Path(sys.executable).parent / "dotenv"
    if not dotenv_cli.is_file():
        pytest.skip("python-dotenv's command line is not installed in this environment")
    show = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('APP_ENV', 'FRONTEND_URL', 'BIND_HOST')}))"
    result = subprocess.run(
        [str(dotenv_cli), "-f", str(ENV_EXAMPLE), "run", "--", sys.executable, "-c", show],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "APP_ENV": "development", "BIND_HOST": "127.0.0.1"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "APP_ENV": "production",
        "FRONTEND_URL": "https://cargwin.example.com",
        "BIND_HOST": "127.0.0.1",
    }
