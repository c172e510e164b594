"""Accounts: customers and staff, with the customer's credit profile (business rules §5.1, §10, §12)."""

from __future__ import annotations

from typing import Any

from flask_login import UserMixin
from mongoengine import (
    BooleanField,
    DateTimeField,
    EmailField,
    IntField,
    ListField,
    QuerySet,
    StringField,
)

from app.models.base import MoneyField, TimestampedDocument
from app.pii import DecryptionError, get_cipher

ROLES = ("user", "finance_manager", "editor", "admin")
STAFF_ROLES = ("finance_manager", "editor", "admin")
LANGUAGES = ("en", "ru")
EMPLOYMENT_TYPES = ("W2", "1099", "self", "other")
IMMIGRATION_STATUSES = ("citizen", "green_card", "asylum", "other")

# Stored encrypted, never returned by the API, masked in the back office (business rules §12).
SENSITIVE_FIELDS = ("ssn", "drivers_license_number", "date_of_birth")


def normalise_email(email: str) -> str:
    return email.strip().lower()


class SensitiveFieldsMixin:
    """Encrypted storage of the three sensitive values, under ``<name>_encrypted``.

    Plaintext never lives on the document: callers set and read values through these methods, which keeps
    every decryption visible in code review (and auditable where it reveals a value to staff).
    """

    def set_sensitive(self, name: str, value: str | None) -> None:
        if name not in SENSITIVE_FIELDS:
            raise KeyError(name)
        setattr(self, f"{name}_encrypted", get_cipher().encrypt(value, name) if value else None)

    def has_sensitive(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_encrypted"))

    def decrypt_sensitive(self, name: str) -> str | None:
        token = getattr(self, f"{name}_encrypted")
        if not token:
            return None
        try:
            return get_cipher().decrypt(token, name)
        except DecryptionError:
            return None


class UserQuerySet(QuerySet):
    def staff(self) -> QuerySet:
        return self.filter(role__in=STAFF_ROLES)

    def by_email(self, email: str) -> User | None:
        return self.filter(email=normalise_email(email)).first()


class User(SensitiveFieldsMixin, UserMixin, TimestampedDocument):
    meta = {
        "collection": "users",
        "queryset_class": UserQuerySet,
        "auto_create_index": False,
        "indexes": [
            {"fields": ["email"], "unique": True},
            "role",
            "-created_at",
            {"fields": ["oauth_subject"], "sparse": True},
            {"fields": ["telegram_chat_id"], "sparse": True},
        ],
        "ordering": ["-created_at"],
    }

    email = EmailField(required=True, max_length=254)
    name = StringField(required=True, max_length=100)
    password_hash = StringField()
    role = StringField(required=True, choices=ROLES, default="user")
    is_active = BooleanField(default=True, required=True)
    picture = StringField(default="", max_length=500)
    language = StringField(choices=LANGUAGES, default="en")
    last_login = DateTimeField()
    deactivated_at = DateTimeField()
    oauth_provider = StringField(max_length=30)
    oauth_subject = StringField(max_length=200)

    # Credit profile (business rules §5.1; consumer-api §4.5.2).
    credit_score = IntField(min_value=300, max_value=850)
    auto_loan_history = BooleanField(null=True)
    employment_type = StringField(choices=EMPLOYMENT_TYPES)
    employer_name = StringField(max_length=200)
    job_title = StringField(max_length=200)
    time_at_job_months = IntField(min_value=0, max_value=1200)
    employment_duration_months = IntField(min_value=0, max_value=1200)
    monthly_income_pretax = MoneyField(max_value=1_000_000)
    annual_income = MoneyField(max_value=10_000_000)
    monthly_expenses = MoneyField(max_value=10_000_000)
    down_payment_ready = MoneyField(max_value=10_000_000)
    immigration_status = StringField(choices=IMMIGRATION_STATUSES)
    phone = StringField(max_length=20)
    address = StringField(max_length=300)
    current_address = StringField(max_length=300)
    current_address_duration_months = IntField(min_value=0, max_value=1200)
    residence_duration_months = IntField(min_value=0, max_value=1200)
    previous_address = StringField(max_length=300)
    profile_completed = BooleanField(default=False, required=True)
    profile_updated_at = DateTimeField()

    ssn_encrypted = StringField()
    drivers_license_number_encrypted = StringField()
    date_of_birth_encrypted = StringField()

    # Staff sign-in security (business rules §10): TOTP secret (encrypted), recovery codes (hashed),
    # lockout counters, and a session generation that invalidates every back-office session when bumped.
    mfa_secret_encrypted = StringField()
    mfa_enrolled_at = DateTimeField()
    mfa_recovery_code_hashes = ListField(StringField())
    mfa_last_totp_step = IntField()  # the last accepted TOTP time step: a code is never accepted twice
    failed_login_count = IntField(default=0)
    locked_until = DateTimeField()
    session_generation = IntField(default=0)

    # Telegram chat linked through the bot's one-time link code (business rules §7.4).
    telegram_chat_id = StringField(max_length=40)
    telegram_link_code_hash = StringField()

    def clean(self) -> None:
        if self.email:
            self.email = normalise_email(self.email)
        if self.name:
            self.name = self.name.strip()
        if not self.name and self.email:
            self.name = self.email.split("@", 1)[0]

    # Flask-Login: the session stores "<id>:<generation>" so that bumping the generation (deactivation,
    # role change, password or MFA reset) ends every existing back-office session at once.
    def get_id(self) -> str:
        return f"{self.pk}:{self.session_generation or 0}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]

    def compute_profile_completed(self) -> bool:
        """Complete when credit score, employment type and an address are stored (business rules §5.1)."""
        has_address = bool((self.address or "").strip() or (self.current_address or "").strip())
        return self.credit_score is not None and bool(self.employment_type) and has_address

    def to_log(self) -> dict[str, Any]:
        """What may identify this account in a log line: the id, never the e-mail or name."""
        return {"user_id": str(self.pk)}
