"""The customer's account and credit profile as the API shows and edits it (consumer-api §2.1, §4.5).

The three sensitive values (SSN, licence number, date of birth) are accepted, validated, stored encrypted
and never returned: the user object carries ``*_on_file`` booleans instead. An empty value for one of them
keeps what is stored, since the site can never show them. ``profile_completed`` is recomputed on every
save, and the audit entry names the changed fields only.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.errors import ValidationFailed
from app.models import User
from app.models.base import utcnow
from app.models.user import SENSITIVE_FIELDS
from app.pii import age_on
from app.services import audit
from app.services.catalog import iso, number
from app.services.trade_in import pacific_today

# Plain profile fields a customer may set, with None meaning "clear".
PROFILE_FIELDS = (
    "credit_score",
    "auto_loan_history",
    "employment_type",
    "annual_income",
    "monthly_income_pretax",
    "employment_duration_months",
    "time_at_job_months",
    "residence_duration_months",
    "current_address_duration_months",
    "monthly_expenses",
    "down_payment_ready",
    "employer_name",
    "job_title",
    "address",
    "current_address",
    "previous_address",
    "phone",
    "immigration_status",
)
MONEY_FIELDS = ("annual_income", "monthly_income_pretax", "monthly_expenses", "down_payment_ready")

_NON_DIGITS = re.compile(r"\D")
_LICENCE = re.compile(r"[A-Za-z0-9]{1,20}")
_SSN = re.compile(r"\d{3}-?\d{2}-?\d{4}")


# --------------------------------------------------------------------------------------------------------
# Field rules (also used by the API's request models, so there is one definition of each)


def normalise_phone(value: str, field: str = "phone") -> str:
    """10 US digits after removing formatting (a leading ``1`` / ``+1`` is allowed) → ``(xxx) xxx-xxxx``."""
    digits = _NON_DIGITS.sub("", value or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise ValidationFailed(f"{field} must be a 10-digit US phone number", field=field)
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def normalise_ssn(value: str) -> str:
    """``123-45-6789`` from 9 digits (dashes optional); impossible numbers are refused."""
    text = value.strip()
    if not _SSN.fullmatch(text):
        raise ValidationFailed("ssn must be 9 digits (dashes optional)", field="ssn")
    digits = _NON_DIGITS.sub("", text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000":
        raise ValidationFailed("ssn is not a valid Social Security number", field="ssn")
    return f"{area}-{group}-{serial}"


def normalise_licence(value: str) -> str:
    text = value.strip()
    if not _LICENCE.fullmatch(text):
        raise ValidationFailed(
            "drivers_license_number must be 1-20 letters or digits", field="drivers_license_number"
        )
    return text.upper()


def normalise_date_of_birth(value: str, today: date | None = None) -> str:
    """An ISO date for someone aged 18 to 120 today (Pacific)."""
    message = "date_of_birth must be a date (YYYY-MM-DD) for an age between 18 and 120"
    text = value.strip()
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(message, field="date_of_birth") from None
    if len(text) != 10:
        raise ValidationFailed(message, field="date_of_birth")
    age = age_on(born.isoformat(), today or pacific_today())
    if not 18 <= age <= 120:
        raise ValidationFailed(message, field="date_of_birth")
    return born.isoformat()


# --------------------------------------------------------------------------------------------------------
# The user object (consumer-api §2.1)


def public_user(user: User) -> dict[str, Any]:
    """The user object the site reads. Never the sensitive values, hashes, MFA or OAuth subject ids."""
    return {
        "id": str(user.pk),
        "email": user.email,
        "name": user.name or user.email.split("@", 1)[0],
        "role": user.role,
        "is_active": bool(user.is_active),
        "profile_completed": bool(user.profile_completed),
        "picture": user.picture or "",
        "last_login": iso(user.last_login),
        "created_at": iso(user.created_at),
        "credit_score": user.credit_score,
        "annual_income": number(user.annual_income),
        "auto_loan_history": user.auto_loan_history,
        "employment_type": user.employment_type,
        "employer_name": user.employer_name,
        "job_title": user.job_title,
        "time_at_job_months": user.time_at_job_months,
        "monthly_income_pretax": number(user.monthly_income_pretax),
        "employment_duration_months": user.employment_duration_months,
        "immigration_status": user.immigration_status,
        "phone": user.phone,
        "address": user.address,
        "current_address": user.current_address,
        "current_address_duration_months": user.current_address_duration_months,
        "residence_duration_months": user.residence_duration_months,
        "previous_address": user.previous_address,
        "monthly_expenses": number(user.monthly_expenses),
        "down_payment_ready": number(user.down_payment_ready),
        "ssn_on_file": user.has_sensitive("ssn"),
        "drivers_license_on_file": user.has_sensitive("drivers_license_number"),
        "date_of_birth_on_file": user.has_sensitive("date_of_birth"),
    }


# --------------------------------------------------------------------------------------------------------
# Saving


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value).normalize()
    return value


def update_profile(user: User, changes: dict[str, Any], *, now: datetime | None = None) -> User:
    """Apply a partial update (consumer-api §4.5.2).

    ``changes`` holds only the keys the client sent, already validated. For plain fields ``None`` clears
    the value; for the sensitive ones ``None``, ``""`` and whitespace keep what is stored. Text fields are
    trimmed, the phone is normalised, and the sensitive values are validated and encrypted here.
    """
    changed: list[str] = []
    for name, value in changes.items():
        if name in SENSITIVE_FIELDS:
            if value is None or not str(value).strip():
                continue
            normalise = {
                "ssn": normalise_ssn,
                "drivers_license_number": normalise_licence,
                "date_of_birth": normalise_date_of_birth,
            }[name]
            clean = normalise(str(value))
            if user.decrypt_sensitive(name) != clean:
                user.set_sensitive(name, clean)
                changed.append(name)
            continue
        if name not in PROFILE_FIELDS:
            continue
        if isinstance(value, str):
            value = value.strip() or None
        if name == "phone" and value is not None:
            value = normalise_phone(value)
        if name in MONEY_FIELDS and value is not None:
            value = Decimal(value)
        if _comparable(getattr(user, name)) != _comparable(value):
            setattr(user, name, value)
            changed.append(name)
    user.profile_completed = user.compute_profile_completed()
    user.profile_updated_at = now or utcnow()
    user.save()
    audit.record(
        "profile_updated",
        "user",
        user.pk,
        actor=audit.actor_for(user),
        details={"fields": sorted(changed), "profile_completed": user.profile_completed},
    )
    return user
