"""``make run``: the whole system in the foreground for development.

Starts (or attaches to) the embedded MongoDB-compatible server and Redis when no URIs are configured,
applies migrations, loads demo data into an empty database, then runs the web app, one RQ worker and the
scheduler as child processes sharing those servers. Ctrl-C (or any child exiting) stops everything, the
embedded servers last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.config import BASE_DIR, load_settings
from app.embedded import embedded_mongodb, embedded_redis

CHILD_STOP_SECONDS = 15


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def main() -> int:
    settings = load_settings()
    var_dir = Path(settings["VAR_DIR"])
    env = os.environ.copy()
    owned = []
    if not settings["MONGODB_URI"]:
        server = embedded_mongodb(var_dir)
        env["MONGODB_URI"] = server.ensure(own=False)
        owned.append(server)
        print(f"* embedded MongoDB-compatible server: {env['MONGODB_URI']} (data in {server.data_dir})")
    if not settings["REDIS_URL"]:
        server = embedded_redis(var_dir)
        env["REDIS_URL"] = server.ensure(own=False)
        owned.append(server)
        print(f"* embedded Redis: {env['REDIS_URL']} (data in {server.data_dir})")

    children: list[tuple[str, subprocess.Popen]] = []
    stop_requested: list[int] = []
    # Ctrl-C reaches every process in the terminal's foreground group; the children stop on their own and
    # this process only has to notice, wait for them, and stop the servers.
    signal.signal(signal.SIGINT, lambda signum, _frame: stop_requested.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop_requested.append(signum))
    try:
        subprocess.run(_flask("migrate"), env=env, cwd=BASE_DIR, check=True)
        subprocess.run(_flask("demo", "load", "--if-empty"), env=env, cwd=BASE_DIR, check=True)
        port = str(settings["PORT"])
        commands = {
            "web": _flask("run", "--host", "127.0.0.1", "--port", port, "--no-reload", "--with-threads"),
            "worker": _flask("worker"),
            "scheduler": _flask("scheduler"),
        }
        for name, command in commands.items():
            children.append((name, subprocess.Popen(command, env=env, cwd=BASE_DIR)))
        print(
            f"\n* Cargwin is running: site API http://127.0.0.1:{port}/api/  back office http://127.0.0.1:{port}/admin/\n"
            "* Press Ctrl-C to stop the web app, the worker, the scheduler and the embedded servers.\n",
            flush=True,
        )
        while not stop_requested and all(process.poll() is None for _, process in children):
            time.sleep(0.5)
        if stop_requested:
            print("\n* stopping...", flush=True)
            return 0
        stopped = [name for name, process in children if process.poll() is not None]
        print(f"* {', '.join(stopped)} stopped; shutting down the rest", flush=True)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"* start-up step failed: {' '.join(exc.cmd[3:])}", file=sys.stderr)
        return 1
    finally:
        _stop_children(children)
        # Only servers this process started are stopped; ones that were already running are left alone.
        for server in reversed(owned):
            server.stop()


def _stop_children(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_SECONDS
    for _, process in children:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
