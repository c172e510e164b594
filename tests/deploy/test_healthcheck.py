"""deploy/healthcheck.py: the container health checks, against a real HTTP server and a real Redis."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
import redis
from rq import Worker

from tests.deploy.conftest import DEPLOY_DIR, free_port

SCRIPT = DEPLOY_DIR / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cargwin_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    Health.status = 200


def test_web_is_healthy_when_health_answers_200(healthcheck: ModuleType, web_port: int) -> None:
    assert healthcheck.check_web(web_port) is None


def test_web_is_unhealthy_on_errors_and_when_down(healthcheck: ModuleType, web_port: int) -> None:
    Health.status = 503
    assert "503" in healthcheck.check_web(web_port)
    assert "unreachable" in healthcheck.check_web(free_port())


def test_command_line_exit_status(web_port: int) -> None:
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "web"], env={"PORT": str(web_port)}, capture_output=True
    )
    assert ok.returncode == 0
    down = subprocess.run(
        [sys.executable, str(SCRIPT), "web"], env={"PORT": str(free_port())}, capture_output=True, text=True
    )
    assert down.returncode == 1
    assert down.stderr.startswith("unhealthy:")
    unknown = subprocess.run([sys.executable, str(SCRIPT), "nope"], capture_output=True, text=True)
    assert unknown.returncode == 1


def write_proc(root: Path, pid: int, argv: list[str]) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(arg.encode() for arg in argv) + b"\0")


def test_scheduler_process_is_found_by_whole_argument(healthcheck: ModuleType, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    # Mentions of the word are not the process: the check's own python -c, a grep, another flask command.
    write_proc(proc, 7, ["python", "-c", "import healthcheck; check('scheduler')"])
    write_proc(proc, 9, ["grep", "scheduler"])
    write_proc(proc, 10, ["/opt/venv/bin/python", "/opt/venv/bin/flask", "--app", "wsgi", "worker"])
    assert "no 'flask ... scheduler'" in healthcheck.check_process("scheduler", proc)
    write_proc(proc, 8, ["/opt/venv/bin/python", "/opt/venv/bin/flask", "--app", "wsgi", "scheduler"])
    assert healthcheck.check_process("scheduler", proc) is None


def test_scheduler_check_sees_a_real_process(healthcheck: ModuleType, tmp_path: Path) -> None:
    fake_flask = tmp_path / "flask"
    fake_flask.write_text("import time\ntime.sleep(30)\n")
    process = subprocess.Popen([sys.executable, str(fake_flask), "--app", "wsgi", "scheduler"])
    try:
        deadline = time.monotonic() + 5
        while healthcheck.check_process("scheduler") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert healthcheck.check_process("scheduler") is None
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis, so RQ's global worker registry is ours alone."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not found; install it with: apt-get install -y redis-server")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(redis.Redis.from_url(url), process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_redis(client: redis.Redis, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_worker_is_healthy_only_while_registered_from_this_host(
    healthcheck: ModuleType, redis_url: str
) -> None:
    connection = redis.Redis.from_url(redis_url)
    assert "no RQ worker" in healthcheck.check_worker(redis_url, socket.gethostname())
    worker = Worker(["default"], connection=connection)
    worker.register_birth()
    try:
        assert healthcheck.check_worker(redis_url, socket.gethostname()) is None
        assert "no RQ worker" in healthcheck.check_worker(redis_url, "another-container")
    finally:
        worker.register_death()
    assert "no RQ worker" in healthcheck.check_worker(redis_url, socket.gethostname())


def test_redis_checks_report_an_unreachable_server(healthcheck: ModuleType) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert "Redis unreachable" in healthcheck.check_redis(url)
    assert "Redis unreachable" in healthcheck.check_worker(url, socket.gethostname())
    assert healthcheck.run("worker", {}) == "REDIS_URL is not set"


def test_production_redis_conf_requires_the_password_and_keeps_an_aof(tmp_path: Path) -> None:
    """deploy/redis/redis.conf on a real redis-server, with the auth file written as the container does."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not found; install it with: apt-get install -y redis-server")
    port = free_port()
    auth = tmp_path / "auth.conf"
    conf = (DEPLOY_DIR / "redis" / "redis.conf").read_text()
    conf = conf.replace("bind 0.0.0.0", "bind 127.0.0.1").replace("port 6379", f"port {port}")
    conf = conf.replace("dir /data", f"dir {tmp_path}").replace("/run/redis/auth.conf", str(auth))
    (tmp_path / "redis.conf").write_text(conf)

    missing = subprocess.run(
        [binary, str(tmp_path / "redis.conf")], capture_output=True, text=True, timeout=30
    )
    assert missing.returncode != 0  # no password file: no server, rather than an open one

    auth.write_text('requirepass "s3cr3tpassw0rd"\n')
    process = subprocess.Popen([binary, str(tmp_path / "redis.conf")], stdout=subprocess.DEVNULL)
    try:
        authed = redis.Redis(host="127.0.0.1", port=port, password="s3cr3tpassw0rd")
        wait_for_redis(authed, process)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        assert authed.config_get("appendonly") == {"appendonly": "yes"}
        assert authed.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert authed.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    finally:
        process.terminate()
        process.wait(timeout=10)
