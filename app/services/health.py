"""Readiness checks of the services the app depends on."""

from __future__ import annotations

import logging

import pymongo
import redis

from app.db import get_db, get_redis

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0


def readiness() -> dict[str, str]:
    """``{"database": "ok"|"error", "redis": "ok"|"error"}``; failures are logged, not returned."""
    checks: dict[str, str] = {}
    try:
        with pymongo.timeout(CHECK_TIMEOUT_SECONDS):
            get_db().command("ping")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "error"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except (redis.RedisError, OSError) as exc:
        log.warning("readiness: redis check failed: %s", type(exc).__name__)
        checks["redis"] = "error"
    return checks
