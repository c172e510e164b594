"""The public JSON API under ``/api``, consumed unchanged by the company's React site.

Layout: ``routing`` (the ``@api_route`` registry), ``parsing`` (pydantic request validation),
``security`` (bearer authentication on Flask-JWT-Extended), ``limits`` (Flask-Limiter), ``cors``,
``responses`` (cacheable public JSON), ``schemas`` (response shapes), ``openapi`` (the document and the
docs page), and one module of routes per endpoint group. Business rules live in ``app.services``.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState

api_blueprint = Blueprint("api", __name__)


@api_blueprint.record_once
def _configure(state: BlueprintSetupState) -> None:
    app: Flask = state.app
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=int(app.config["JWT_ACCESS_TOKEN_MINUTES"]))
    app.config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=int(app.config["JWT_REFRESH_TOKEN_DAYS"]))
    app.config["JWT_TOKEN_LOCATION"] = ["headers"]
    app.config["JWT_ERROR_MESSAGE_KEY"] = "detail"
    from public_api.cors import init_cors

    init_cors(app)


# Route modules attach themselves to the blueprint on import.
from public_api import (  # noqa: E402,F401
    applications,
    auth,
    cars,
    leads,
    limits,
    openapi,
    profile,
    reservations,
    service,
    subscriptions,
)
