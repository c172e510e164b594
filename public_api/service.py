"""Service endpoints: hello and readiness (consumer-api §4.1)."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from app.models.base import utcnow
from app.services.health import readiness
from public_api import api_blueprint


@api_blueprint.get("")
@api_blueprint.get("/")
def hello() -> Response:
    return jsonify({"message": "Hello World"})


@api_blueprint.get("/health")
def health() -> Response | tuple[Response, int]:
    """Readiness: the database and Redis answer. 503 names what failed, never the error text."""
    checks = readiness()
    if all(state == "ok" for state in checks.values()):
        return jsonify(
            {
                "status": "healthy",
                "timestamp": utcnow(),
                "version": current_app.config["VERSION"],
                "checks": checks,
            }
        )
    return jsonify({"detail": "Service unavailable", "status": "unhealthy", "checks": checks}), 503
