"""The audit log (business rules §11): who did what, from where, with a masked diff of what changed.

Every service that changes state calls ``record``. The request context (client address, user agent,
request id) is filled in automatically; jobs pass ``actor=SYSTEM``. Each entry is also written as one JSON
line to the ``cargwin.audit`` logger, the separate sink the rules ask for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from flask import g, has_request_context, request

from app.models import AuditLog

REDACTED = "[redacted]"
# Field names whose values never enter the audit log, in any resource.
ALWAYS_REDACTED = frozenset(
    {
        "ssn",
        "ssn_encrypted",
        "drivers_license_number",
        "drivers_license_number_encrypted",
        "date_of_birth",
        "date_of_birth_encrypted",
        "password",
        "password_hash",
        "mfa_secret_encrypted",
        "mfa_recovery_code_hashes",
        "telegram_link_code_hash",
    }
)

audit_sink = logging.getLogger("cargwin.audit")


@dataclass(frozen=True)
class Actor:
    id: str
    email: str | None = None
    role: str | None = None


SYSTEM = Actor(id="system", email=None, role="system")


def actor_for(user: Any) -> Actor:
    """An ``Actor`` for a ``User`` document."""
    return Actor(id=str(user.pk), email=user.email, role=user.role)


def set_request_actor(user: Any) -> None:
    """Remember who is acting in this request (called by the API and back-office auth layers)."""
    g.audit_actor = actor_for(user) if user is not None else None
    g.log_user_id = str(user.pk) if user is not None else None


def current_actor() -> Actor | None:
    return getattr(g, "audit_actor", None) if has_request_context() else None


def _plain(value: Any) -> Any:
    """A JSON/BSON-friendly copy of a value for the ``changes`` map."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "to_mongo"):
        return _plain(value.to_mongo().to_dict())
    return value


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, redact: Iterable[str] = (), names_only: bool = False
) -> dict[str, Any]:
    """``{field: {"old": ..., "new": ...}}`` for the fields whose value changed.

    Sensitive fields (and those in ``redact``) show ``[redacted]``; ``names_only`` keeps only field names
    (profile updates, business rules §11.1).
    """
    hidden = ALWAYS_REDACTED | set(redact)
    changes: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        before, after = _plain(old.get(key)), _plain(new.get(key))
        if before == after:
            continue
        if names_only or key in hidden:
            changes[key] = {"old": REDACTED, "new": REDACTED}
        else:
            changes[key] = {"old": before, "new": after}
    return changes


def record(
    action: str,
    resource_type: str,
    resource_id: Any = None,
    *,
    actor: Actor | None = None,
    changes: Mapping[str, Any] | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Append one audit entry. ``actor`` defaults to the request's signed-in user (or anonymous)."""
    actor = actor or current_actor()
    entry = AuditLog(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else None,
        actor_role=actor.role if actor else None,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        changes=_plain(dict(changes or {})),
        reason=reason,
        details=_plain(dict(details or {})),
    )
    if has_request_context():
        entry.ip_address = request.remote_addr
        entry.user_agent = (request.user_agent.string or "")[:400]
        entry.request_id = getattr(g, "request_id", None)
    entry.save(force_insert=True)
    # The sink line identifies the entry without personal data (no e-mail, address or values): the full
    # record stays in the database, where access is controlled.
    audit_sink.info(
        "audit %s %s %s",
        resource_type,
        action,
        entry.resource_id,
        extra={
            "fields": {
                "audit_id": str(entry.pk),
                "actor_id": entry.actor_id,
                "actor_role": entry.actor_role,
                "action": action,
                "resource_type": resource_type,
                "resource_id": entry.resource_id,
                "changed_fields": sorted(entry.changes or {}),
                "request_id": entry.request_id,
            }
        },
    )
    return entry
