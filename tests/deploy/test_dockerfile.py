"""deploy/Dockerfile and .dockerignore, read as text (no Docker engine runs on the test machines)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.conftest import DEPLOY_DIR, REPO_ROOT

DOCKERFILE = (DEPLOY_DIR / "Dockerfile").read_text()
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n\s*", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def stages() -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    current = ""
    for line in INSTRUCTIONS:
        match = re.match(r"FROM \S+ AS (\w+)$", line, re.I)
        if match:
            current = match.group(1)
            result[current] = []
        elif current:
            result[current].append(line)
    return result


def test_multi_stage_with_a_slim_runtime() -> None:
    assert list(stages()) == ["builder", "runtime"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, re.M)
    runtime = stages()["runtime"]
    # The compiler stays in the builder; the runtime only copies the finished virtualenv.
    assert not any("build-essential" in line for line in runtime)
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime


def test_installs_only_the_runtime_requirements() -> None:
    for line in INSTRUCTIONS:
        if line.startswith(("RUN", "COPY")):
            assert "requirements-dev" not in line and "requirements-embedded" not in line, line
    builder = " ".join(stages()["builder"])
    assert "pip wheel --wheel-dir /wheels -r requirements.txt" in builder
    assert "--no-index --find-links /wheels -r requirements.txt" in builder


def test_runs_as_a_non_root_user_with_a_health_check() -> None:
    runtime = stages()["runtime"]
    users = [line for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split()[1].split(":")[0] not in ("root", "0")
    healthcheck = next(line for line in runtime if line.startswith("HEALTHCHECK"))
    assert '"/opt/cargwin/deploy/healthcheck.py", "web"' in healthcheck
    assert 'f"http://127.0.0.1:{port}/health"' in (DEPLOY_DIR / "healthcheck.py").read_text()
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]' in runtime


def test_python_environment() -> None:
    env = " ".join(line for line in stages()["runtime"] if line.startswith("ENV"))
    for setting in (
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        "APP_ENV=production",
        "PATH=/opt/venv/bin:$PATH",
    ):
        assert setting in env


def test_dockerignore_keeps_secrets_and_tooling_out() -> None:
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (
        ".git",
        ".venv",
        ".env",
        ".env.*",
        "var",
        "deploy/.env*",
        "tests",
        "requirements-dev.txt",
    ):
        assert pattern in patterns, pattern
    # What the image needs must not be ignored.
    for needed in ("requirements.txt", "wsgi.py", "app", "deploy", "deploy/gunicorn.conf.py"):
        assert needed not in patterns, needed
    assert not any(pattern in ("*", "**") for pattern in patterns)


def test_copied_paths_exist() -> None:
    for line in INSTRUCTIONS:
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                if source != ".":
                    assert (REPO_ROOT / source).exists(), source
    assert Path(REPO_ROOT / "requirements.txt").is_file()
