"""Service endpoints: hello and readiness (consumer-api §4.1)."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from app.models.base import utcnow
from app.services.health import readiness
from public_api.routing import api_route
from public_api.schemas import Health, Message


# Probes are never rate limited: readiness must answer 503, not fail, while Redis is down.
@api_route("", summary="Hello", tags=["Service"], response=Message, documented=False, limits=())
def hello_bare() -> Response:
    return jsonify({"message": "Hello World"})


@api_route("/", summary="Hello", tags=["Service"], response=Message, limits=())
def hello() -> Response:
    """Answers ``{"message": "Hello World"}`` (also at ``/api``)."""
    return jsonify({"message": "Hello World"})


@api_route(
    "/health",
    summary="Readiness",
    tags=["Service"],
    response=Health,
    errors={503: "Service unavailable"},
    limits=(),
)
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
