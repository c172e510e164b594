"""Container health checks: ``python deploy/healthcheck.py web|worker|scheduler``; exit status 0 = healthy.

Docker runs one of these every interval, so each check is cheap and never imports the application (that
would open a MongoDB client per run). Only the standard library, ``redis`` and ``rq`` are used.

- ``web``: ``GET /health`` on the local gunicorn answers 200 (liveness, no I/O in the app).
- ``worker``: Redis answers, and an RQ worker started on this host (container) is registered. RQ drops a
  worker's registration when its heartbeat stops, so a hung or disconnected worker turns unhealthy.
- ``scheduler``: a ``flask ... scheduler`` process runs in this container and Redis answers.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


def check_web(port: int, timeout: float = 3.0) -> str | None:
    """Return ``None`` when ``GET /health`` answers 200, else a one-line reason."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url} unreachable: {exc}"
    return None


def process_argvs(proc_root: Path = Path("/proc")) -> list[list[str]]:
    """The argument vectors of the processes visible in ``proc_root`` (unreadable ones are skipped)."""
    argvs: list[list[str]] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # the process exited while we looked, or belongs to someone else
            continue
        if raw:
            argvs.append([part.decode("utf-8", "replace") for part in raw.rstrip(b"\0").split(b"\0")])
    return argvs


def is_flask_command(argv: Sequence[str], subcommand: str) -> bool:
    """True for ``flask ... <subcommand>`` (also when started as ``python .../flask``).

    The subcommand must be a whole argument: the health check's own ``python -c`` text or a grep that
    merely mentions the word must not count as the process it looks for.
    """
    return subcommand in argv and any(Path(arg).name == "flask" for arg in argv)


def check_process(subcommand: str, proc_root: Path = Path("/proc")) -> str | None:
    """Return ``None`` when a ``flask ... <subcommand>`` process runs, else a reason."""
    if any(is_flask_command(argv, subcommand) for argv in process_argvs(proc_root)):
        return None
    return f"no 'flask ... {subcommand}' process is running"


def check_redis(redis_url: str) -> str | None:
    """Return ``None`` when Redis answers PING."""
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable: {exc}"
    return None


def check_worker(redis_url: str, hostname: str) -> str | None:
    """Return ``None`` when Redis answers and an RQ worker of ``hostname`` is registered there."""
    import redis
    from rq import Worker

    connection = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        workers = Worker.all(connection=connection)
    except redis.RedisError as exc:
        return f"Redis unreachable: {exc}"
    if not any(worker.hostname == hostname for worker in workers):
        return f"no RQ worker of host {hostname!r} is registered"
    return None


def run(kind: str, environ: dict[str, str]) -> str | None:
    """Run the check named ``kind`` with settings from ``environ``; ``None`` means healthy."""
    checks: dict[str, Callable[[], str | None]] = {
        "web": lambda: check_web(int(environ.get("PORT") or 8000)),
        "worker": lambda: check_worker(environ["REDIS_URL"], socket.gethostname()),
        "scheduler": lambda: check_process("scheduler") or check_redis(environ["REDIS_URL"]),
    }
    if kind not in checks:
        return f"unknown check {kind!r}; expected one of {', '.join(checks)}"
    try:
        return checks[kind]()
    except KeyError as exc:
        return f"{exc.args[0]} is not set"


def main(argv: Sequence[str]) -> int:
    """Command-line entry: print the reason and exit 1 when unhealthy."""
    problem = run(argv[1] if len(argv) > 1 else "web", dict(os.environ))
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
