"""The RQ worker used by ``flask --app wsgi worker``."""

from __future__ import annotations

from rq import Queue, Worker
from rq.job import Job

from app.db import reset_after_fork


class CargwinWorker(Worker):
    """Forks a work horse per job; the horse drops any MongoDB client inherited from the parent, because
    PyMongo clients are not fork-safe. (The parent never queries MongoDB, so normally there is none.)"""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        reset_after_fork()
        super().main_work_horse(job, queue)
