"""Extension singletons, created unbound and bound in the application factory."""

from __future__ import annotations

from flask import request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_login import LoginManager


def client_address() -> str:
    """The caller's address. ``ProxyFix`` has already applied ``TRUSTED_PROXY_COUNT``, so forwarded headers
    from untrusted clients are ignored."""
    return request.remote_addr or "unknown"


jwt = JWTManager()
login_manager = LoginManager()
limiter = Limiter(key_func=client_address, headers_enabled=True, strategy="moving-window")
