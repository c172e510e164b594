"""``flask --app wsgi worker`` and ``flask --app wsgi scheduler``."""

from __future__ import annotations

import click
from flask import Flask, current_app

from app.db import get_redis
from app.tasks import QUEUE_NAMES, get_queue


@click.command("worker")
@click.option(
    "--queues", "-q", multiple=True, help=f"Queues to listen on (default: {', '.join(QUEUE_NAMES)})."
)
@click.option("--burst", is_flag=True, help="Run the jobs already queued, then exit.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
def worker_command(queues: tuple[str, ...], burst: bool, name: str | None) -> None:
    """Run an RQ worker inside the application."""
    from workers.worker import CargwinWorker

    for queue in queues:
        if queue not in QUEUE_NAMES:
            raise click.BadParameter(f"unknown queue {queue!r}", param_hint="--queues")
    worker = CargwinWorker([get_queue(q) for q in (queues or QUEUE_NAMES)], connection=get_redis(), name=name)
    worker.work(burst=burst, with_scheduler=True, logging_level=current_app.config["LOG_LEVEL"])


@click.command("scheduler")
def scheduler_command() -> None:
    """Run the one scheduler process that enqueues periodic jobs."""
    from workers.scheduler import run_scheduler

    run_scheduler()


def register_worker_cli(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
