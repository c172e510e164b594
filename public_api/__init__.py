"""The public JSON API under ``/api``, consumed unchanged by the company's React site."""

from __future__ import annotations

from flask import Blueprint

api_blueprint = Blueprint("api", __name__)

# Route modules attach themselves to the blueprint on import.
from public_api import service  # noqa: E402,F401
