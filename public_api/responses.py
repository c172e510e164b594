"""Response helpers: cacheable public JSON (ETag + ``Cache-Control``) and the shared small shapes."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.services.catalog import CachedBody, encode, make_etag

PUBLIC_CACHE = "public, max-age=60"


def public_json(cached: CachedBody) -> Response:
    """A public catalogue body with its ETag; ``304`` when the client already has it (consumer-api §1.7)."""
    response = Response(cached.body, mimetype="application/json")
    response.headers["ETag"] = cached.etag
    response.headers["Cache-Control"] = PUBLIC_CACHE
    if request.if_none_match.contains_weak(cached.etag.strip('"')):
        response.status_code = 304
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
    return response


def public_value(value: Any) -> Response:
    """Serialise plain JSON values as a cacheable public response."""
    body = encode(value)
    return public_json(CachedBody(body=body, etag=make_etag(body)))


def ok(message: str, **extra: Any) -> dict[str, Any]:
    """``{"ok": true, ...extra, "message": ...}`` in the contract's key order."""
    return {"ok": True, **extra, "message": message}
