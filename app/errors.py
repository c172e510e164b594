"""Domain errors raised by services.

Services never know which surface called them. The API turns these into ``{"detail": ...}`` responses with
the status below; the back office turns them into flashed messages or form errors; jobs log them.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``detail`` is a human-readable sentence safe to show to the caller."""

    status_code = 400

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class RuleViolation(DomainError):
    """A business rule refuses the action (400)."""

    status_code = 400


class AuthenticationFailed(DomainError):
    """The caller is not (or no longer) authenticated (401)."""

    status_code = 401


class PermissionDenied(DomainError):
    """The caller is authenticated but not allowed (403)."""

    status_code = 403


class NotFound(DomainError):
    """The object does not exist or is not visible to the caller (404)."""

    status_code = 404


class Conflict(DomainError):
    """A limited resource was taken a moment ago (409)."""

    status_code = 409


class PayloadTooLarge(DomainError):
    """An upload exceeds the configured size (413)."""

    status_code = 413


class UnsupportedMediaType(DomainError):
    """An upload's content is not an accepted type (415)."""

    status_code = 415


class ValidationFailed(DomainError):
    """A field value is invalid (422). ``field`` names it when known."""

    status_code = 422


class UpstreamUnavailable(DomainError):
    """An external provider could not be reached (502)."""

    status_code = 502


class ConfigurationError(RuntimeError):
    """The application cannot start with the given settings."""
