"""Operational records: audit log, notification outbox, short-lived tokens, settings."""

from __future__ import annotations

from typing import Any

from mongoengine import (
    DateTimeField,
    DictField,
    Document,
    DynamicField,
    IntField,
    ObjectIdField,
    OperationError,
    ReferenceField,
    StringField,
)

from app.models.base import TimestampedDocument, utcnow
from app.models.lot import Lot
from app.models.user import User

AUDIT_RESOURCE_TYPES = (
    "lot",
    "user",
    "application",
    "reservation",
    "subscription",
    "lead",
    "auth",
    "pii",
    "privacy",
    "settings",
    "notification",
    "appointment",
    "document",
    "scraper",
    "system",
)


class AuditLog(Document):
    """Append-only record of who did what (business rules §11). Entries are inserted, never changed."""

    meta = {
        "collection": "audit_logs",
        "auto_create_index": False,
        "indexes": [
            "-timestamp",
            ("resource_type", "resource_id", "-timestamp"),
            ("actor_email", "-timestamp"),
            ("action", "-timestamp"),
            ("actor_id", "action", "-timestamp"),
        ],
        "ordering": ["-timestamp"],
    }

    timestamp = DateTimeField(default=utcnow, required=True)
    actor_id = StringField(max_length=40)  # user id, or "system"
    actor_email = StringField(max_length=254)
    actor_role = StringField(max_length=30)
    action = StringField(required=True, max_length=60)
    resource_type = StringField(required=True, choices=AUDIT_RESOURCE_TYPES)
    resource_id = StringField(max_length=100)
    changes = DictField()
    reason = StringField(max_length=1000)
    details = DictField()
    ip_address = StringField(max_length=64)
    user_agent = StringField(max_length=400)
    request_id = StringField(max_length=64)

    def save(self, *args: Any, **kwargs: Any) -> AuditLog:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise OperationError("audit entries are append-only")
        return super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        raise OperationError("audit entries are append-only")


NOTIFICATION_CHANNELS = ("email", "sms", "telegram")
NOTIFICATION_STATUSES = ("queued", "sending", "sent", "failed", "suppressed", "not_sent_no_provider")


class Notification(TimestampedDocument):
    """The outbox: every message is written here before anything is sent (business rules §7.5, §8)."""

    meta = {
        "collection": "notifications",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["idempotency_key"], "unique": True},
            ("status", "next_attempt_at"),
            ("status", "-created_at"),
            "-created_at",
            {"fields": ["application"], "sparse": True},
            ("user", "-created_at"),
            ("user", "category", "created_at"),
        ],
        "ordering": ["-created_at"],
    }

    idempotency_key = StringField(required=True, max_length=300)
    channel = StringField(required=True, choices=NOTIFICATION_CHANNELS)
    category = StringField(
        required=True, choices=("transactional", "alert", "system"), default="transactional"
    )
    recipient = StringField(required=True, max_length=254)
    template = StringField(required=True, max_length=80)
    language = StringField(choices=("en", "ru"), default="en")
    payload = DictField()  # template context; never holds SSN, licence number or date of birth
    subject = StringField(max_length=300)
    status = StringField(required=True, choices=NOTIFICATION_STATUSES, default="queued")
    attempts = IntField(default=0)
    provider = StringField(max_length=30)
    provider_message_id = StringField(max_length=200)
    last_error = StringField(max_length=1000)
    next_attempt_at = DateTimeField()
    sent_at = DateTimeField()
    user = ReferenceField(User)
    application = ObjectIdField()
    lot = ReferenceField(Lot)
    event_key = StringField(max_length=200)


class PreviewToken(TimestampedDocument):
    """A 2-hour preview link of a saved lot or of unsaved form data (business rules §2.10)."""

    meta = {
        "collection": "preview_tokens",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["token_hash"], "unique": True},
            {"fields": ["expires_at"], "expireAfterSeconds": 0},
        ],
    }

    token_hash = StringField(required=True, max_length=64)
    lot = ReferenceField(Lot)
    snapshot = DictField()
    created_by = ObjectIdField()
    expires_at = DateTimeField(required=True)


class MagicLinkToken(TimestampedDocument):
    """A single-use sign-in link, stored hashed, valid 15 minutes (consumer-api §4.4.6)."""

    meta = {
        "collection": "magic_link_tokens",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["token_hash"], "unique": True},
            "email",
            # Kept a day past expiry so that "has expired" can still be told apart from "unknown".
            {"fields": ["purge_at"], "expireAfterSeconds": 0},
        ],
    }

    token_hash = StringField(required=True, max_length=64)
    email = StringField(required=True, max_length=254)
    expires_at = DateTimeField(required=True)
    purge_at = DateTimeField(required=True)
    used_at = DateTimeField()


class AppSetting(TimestampedDocument):
    """Runtime-editable settings (pickup slot hours, holidays, alert thresholds...)."""

    meta = {
        "collection": "app_settings",
        "auto_create_index": False,
        "indexes": [{"fields": ["key"], "unique": True}],
    }

    key = StringField(required=True, max_length=100)
    value = DynamicField()
    updated_by = ObjectIdField()
