"""Prescoring: a quick, indicative credit view for finance managers (business rules §6).

Today's :class:`LocalPrescorer` applies fixed thresholds to **self-reported** profile data; no credit bureau
is contacted, so ``pull_type`` is ``"none"`` and there is no consent id. A bureau-backed implementation can
replace it behind the :class:`Prescorer` protocol (it must then follow the FCRA consent rules of §14).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Protocol

__all__ = [
    "DEFAULT_CREDIT_SCORE",
    "LOCAL_MODEL_NOTES",
    "LocalPrescorer",
    "PLACEHOLDER_FIELDS",
    "PrescoreResult",
    "Prescorer",
    "monthly_income",
]

DEFAULT_CREDIT_SCORE = 650
LOCAL_MODEL_NOTES = "Estimate from self-reported data – no credit report was pulled"

PLACEHOLDER_FIELDS: tuple[str, ...] = ("debt_to_income_ratio", "open_accounts", "recent_inquiries")
"""Fields the local model cannot know; it fills constants and lists them as not available."""

_NO_INCOME_MAX_AMOUNT = 30_000
# 15% of gross monthly income as a payment budget, over 36 months.
_BUDGET_SHARE = Fraction(15, 100)
_BUDGET_MONTHS = 36


@dataclass(frozen=True, slots=True)
class PrescoreResult:
    """Every output of §6.2 plus the provenance fields the ``Prescorer`` interface requires.

    ``unavailable_fields`` names the outputs that are placeholders rather than data: the back office shows
    them as "not available" (the old system showed the constants as if they were real).
    """

    credit_score: int
    credit_tier: str
    payment_history: str
    approval_probability: str
    recommended_down_payment: int
    max_approved_amount: int
    debt_to_income_ratio: Decimal
    open_accounts: int
    recent_inquiries: int
    notes: str
    provider: str
    pull_type: str
    consent_id: str | None = None
    checked_at: datetime | None = None
    checked_by: str | None = None
    unavailable_fields: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """A plain dict for storage as ``prescoring_data`` (Decimal and datetime values are kept as such)."""
        return {
            "credit_score": self.credit_score,
            "credit_tier": self.credit_tier,
            "payment_history": self.payment_history,
            "approval_probability": self.approval_probability,
            "recommended_down_payment": self.recommended_down_payment,
            "max_approved_amount": self.max_approved_amount,
            "debt_to_income_ratio": self.debt_to_income_ratio,
            "open_accounts": self.open_accounts,
            "recent_inquiries": self.recent_inquiries,
            "notes": self.notes,
            "provider": self.provider,
            "pull_type": self.pull_type,
            "consent_id": self.consent_id,
            "checked_at": self.checked_at,
            "checked_by": self.checked_by,
            "unavailable_fields": list(self.unavailable_fields),
        }


class Prescorer(Protocol):
    """Anything that can prescore a customer profile."""

    def prescore(
        self,
        profile: Mapping[str, Any],
        *,
        checked_at: datetime | None = None,
        checked_by: str | None = None,
    ) -> PrescoreResult:
        """Assess ``profile`` (the stored profile fields, or an application's ``user_data`` snapshot)."""
        ...


def _number(profile: Mapping[str, Any], key: str) -> Fraction | None:
    """The profile value as an exact number, ``None`` when absent or null; ``ValueError`` when not numeric."""
    value = profile.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number")
    if isinstance(value, float):
        # Legacy documents may hold floats; their shortest repr is the number that was typed.
        value = repr(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{key} must be a number") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{key} must be a finite number")
        return Fraction(value)
    if isinstance(value, int):
        return Fraction(value)
    raise ValueError(f"{key} must be a number")


def monthly_income(profile: Mapping[str, Any]) -> Fraction:
    """``monthly_income_pretax`` if > 0, else ``annual_income ÷ 12`` if > 0, else 0 (exact, §6.1)."""
    monthly = _number(profile, "monthly_income_pretax")
    if monthly is not None and monthly > 0:
        return monthly
    annual = _number(profile, "annual_income")
    if annual is not None and annual > 0:
        return annual / 12
    return Fraction(0)


def _credit_score(profile: Mapping[str, Any]) -> int:
    score = _number(profile, "credit_score")
    if score is None:
        return DEFAULT_CREDIT_SCORE
    if score.denominator != 1:
        raise ValueError("credit_score must be an integer")
    return int(score)


class LocalPrescorer:
    """The §6 rules model over self-reported data."""

    provider = "local_model"
    pull_type = "none"

    def prescore(
        self,
        profile: Mapping[str, Any],
        *,
        checked_at: datetime | None = None,
        checked_by: str | None = None,
    ) -> PrescoreResult:
        """Apply the §6.2 thresholds. A missing or null credit score counts as 650.

        ``checked_at`` must be timezone-aware when given; the caller may instead fill it (and
        ``checked_by``) in when storing the result.
        """
        if checked_at is not None and checked_at.utcoffset() is None:
            raise ValueError("checked_at must be timezone-aware")
        score = _credit_score(profile)
        income = monthly_income(profile)
        if score >= 720:
            tier = "Tier 1"
        elif score >= 680:
            tier = "Tier 2"
        else:
            tier = "Tier 3"
        if score >= 700:
            probability = "High"
        elif score >= 650:
            probability = "Medium"
        else:
            probability = "Low"
        if income > 0:
            # Exact arithmetic: annual ÷ 12 × 36 × 0.15 must not come out a hair below a whole dollar.
            max_amount = math.floor(income * _BUDGET_MONTHS * _BUDGET_SHARE)
        else:
            max_amount = _NO_INCOME_MAX_AMOUNT
        return PrescoreResult(
            credit_score=score,
            credit_tier=tier,
            payment_history="Good" if score >= 700 else "Fair",
            approval_probability=probability,
            recommended_down_payment=3_000 if score >= 700 else 5_000,
            max_approved_amount=max_amount,
            debt_to_income_ratio=Decimal("0.35"),
            open_accounts=5,
            recent_inquiries=2,
            notes=LOCAL_MODEL_NOTES,
            provider=self.provider,
            pull_type=self.pull_type,
            consent_id=None,
            checked_at=checked_at,
            checked_by=checked_by,
            unavailable_fields=PLACEHOLDER_FIELDS,
        )
