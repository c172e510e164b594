"""Gunicorn settings for the Cargwin web process: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Everything is read from the environment so the same file serves the container and a systemd host.
Importing this module only reads environment variables and computes values: it opens no file, socket or
connection, so tests (and ``gunicorn --check-config``) can load it freely.

Environment variables read here (all optional):

- ``PORT`` (default 8000) and ``BIND_HOST`` (default ``0.0.0.0``; the systemd unit sets ``127.0.0.1``).
- ``WEB_CONCURRENCY``: upper bound on the number of worker processes (unset or 0: 2*CPU+1 unbounded).
  Never set it to an empty string: gunicorn itself parses it at import and fails on "".
- ``GUNICORN_THREADS`` (default 4), ``GUNICORN_TIMEOUT`` (default 60), ``GUNICORN_GRACEFUL_TIMEOUT``
  (default 30), ``GUNICORN_KEEPALIVE`` (default 5), ``GUNICORN_MAX_REQUESTS`` (default 1000) and
  ``GUNICORN_MAX_REQUESTS_JITTER`` (default 100).
- ``FORWARDED_ALLOW_IPS`` (default ``127.0.0.1,::1``): addresses whose ``X-Forwarded-Proto`` gunicorn
  trusts. Compose sets ``*`` because the web port is reachable only on the private compose network.
- ``LOG_LEVEL`` (default ``info``).
- ``PROMETHEUS_MULTIPROC_DIR``: where each worker writes its metrics so ``/metrics`` can add them up;
  emptied when gunicorn starts, and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import os


def _int_env(name: str, default: int, *, minimum: int = 0) -> int:
    """Read a non-negative integer from the environment; a malformed value is an error, not a default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def available_cpus() -> int:
    """CPUs this process may run on (honours cgroup cpusets and taskset, unlike ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(cpus: int, cap: int | None) -> int:
    """The classic 2*CPU+1, bounded by ``cap`` (``WEB_CONCURRENCY``) when it is set."""
    workers = 2 * cpus + 1
    if cap is not None:
        workers = min(workers, cap)
    return max(1, workers)


_cap = _int_env("WEB_CONCURRENCY", 0, minimum=0) or None

bind = [f"{os.environ.get('BIND_HOST', '0.0.0.0').strip() or '0.0.0.0'}:{_int_env('PORT', 8000, minimum=1)}"]
workers = worker_count(available_cpus(), _cap)
# Threads let a worker keep serving while one request waits on MongoDB or an outside API.
worker_class = "gthread"
threads = _int_env("GUNICORN_THREADS", 4, minimum=1)

# nginx gives up after 90 s (proxy_read_timeout), so gunicorn must answer or kill a stuck worker first.
timeout = _int_env("GUNICORN_TIMEOUT", 60, minimum=1)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
# Longer than nginx's upstream keepalive_timeout (4 s) so nginx, not gunicorn, closes idle connections and
# never sends a request down a connection gunicorn is closing.
keepalive = _int_env("GUNICORN_KEEPALIVE", 5, minimum=1)

# Recycle workers now and then to bound slow leaks; the jitter keeps them from restarting together.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int_env("GUNICORN_MAX_REQUESTS_JITTER", 100)

# PyMongo clients are not fork-safe: each worker must build the app (and its client) after the fork.
preload_app = False

# Trust X-Forwarded-Proto only from the reverse proxy; the app applies TRUSTED_PROXY_COUNT for the rest.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The heartbeat file lives on tmpfs when there is one: a container's overlay disk can stall it and get
# healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Gunicorn >= 25 opens a control socket under $HOME by default. Nothing here uses gunicornc, the service
# user's home is read-only under systemd's ProtectSystem=strict, and an unused socket is one more door.
control_socket_disable = True

loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
accesslog = "-"
errorlog = "-"
# Path without the query string (%(U)s): query strings can carry tokens and personal data. %(M)s is the
# request time in milliseconds; the request id ties the line to the app's own logs.
access_log_format = (
    '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(f)s" "%(a)s" '
    'xff="%({x-forwarded-for}i)s" rid=%({x-request-id}i)s'
)

proc_name = "cargwin-web"


def on_starting(server: object) -> None:
    """Empty the metrics directory: files left by a previous run would be added to this one's figures."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server: object, worker: object) -> None:
    """A worker that exited (max_requests, crash) must not keep reporting its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
