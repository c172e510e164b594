"""Automatic alternatives for an application (business rules §5.8, consumer API §4.6.4).

Given the monthly lease payment of the applied-for lot (the *basis*) and the other public lots, pick at most
one cheaper, one similar (other make) and one luxury lot. The selection is pure: the caller loads the public
lots and passes them in as :class:`Candidate` values. Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from app.services.money import to_decimal

__all__ = [
    "Alternative",
    "AlternativesResult",
    "Candidate",
    "basis_monthly",
    "select_alternatives",
]

_CHEAPER_BELOW = Decimal("0.80")
_SIMILAR_WITHIN = Decimal("0.10")
_LUXURY_ABOVE = Decimal("1.30")
_CHEAPER_BAND_FLOOR = Decimal("0.60")
_LUXURY_BAND_CEILING = Decimal("1.60")

_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A public lot that may be suggested. ``monthly`` is its ``lease.monthly`` (None or 0: never suggested)."""

    lot_id: str
    slug: str
    year: int
    make: str
    model: str
    monthly: Decimal | int | None
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class Alternative:
    """One suggested lot. Exactly one of the three difference fields is set, matching ``type``."""

    type: Literal["cheaper", "similar", "luxury"]
    lot_id: str
    slug: str
    title: str
    monthly: Decimal
    savings_vs_original: Decimal | None = None
    price_diff: Decimal | None = None
    upgrade_cost: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        """The API object: ``type``, ``lot_id``, ``slug``, ``title``, ``monthly`` and the type's extra key."""
        result: dict[str, Any] = {
            "type": self.type,
            "lot_id": self.lot_id,
            "slug": self.slug,
            "title": self.title,
            "monthly": self.monthly,
        }
        if self.type == "cheaper":
            result["savings_vs_original"] = self.savings_vs_original
        elif self.type == "similar":
            result["price_diff"] = self.price_diff
        else:
            result["upgrade_cost"] = self.upgrade_cost
        return result


@dataclass(frozen=True, slots=True)
class AlternativesResult:
    """The three slots (each may be None) and how many are filled."""

    cheaper: Alternative | None = None
    similar: Alternative | None = None
    luxury: Alternative | None = None

    @property
    def count(self) -> int:
        """Number of non-null slots."""
        return sum(slot is not None for slot in (self.cheaper, self.similar, self.luxury))

    def as_dict(self) -> dict[str, Any]:
        """``{"cheaper": {...} | None, "similar": ..., "luxury": ..., "count": n}``.

        Amounts are Decimals; the JSON layer renders them as numbers (see ``money.json_number``).
        """
        return {
            "cheaper": self.cheaper.as_dict() if self.cheaper else None,
            "similar": self.similar.as_dict() if self.similar else None,
            "luxury": self.luxury.as_dict() if self.luxury else None,
            "count": self.count,
        }


def _positive(value: Decimal | int | None) -> Decimal | None:
    if value is None:
        return None
    amount = to_decimal(value)
    return amount if amount > 0 else None


def basis_monthly(
    current_lot_monthly: Decimal | int | None, snapshot_monthly: Decimal | int | None
) -> Decimal | None:
    """The original lot's current ``lease.monthly`` if > 0, else the snapshot's if > 0, else None."""
    return _positive(current_lot_monthly) or _positive(snapshot_monthly)


def _published(candidate: Candidate) -> datetime:
    stamp = candidate.published_at
    if stamp is None:
        return _OLDEST
    # Stored datetimes are UTC; a naive one from the database is read as such.
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _pick(
    entries: list[tuple[Candidate, Decimal]],
    primary: Callable[[tuple[Candidate, Decimal]], Decimal],
) -> tuple[Candidate, Decimal] | None:
    """The best entry by ``primary`` (ascending), ties to the most recently published, then by lot id."""
    if not entries:
        return None
    # Stable sorts, least significant key first.
    ordered = sorted(entries, key=lambda e: e[0].lot_id)
    ordered.sort(key=lambda e: _published(e[0]), reverse=True)
    ordered.sort(key=primary)
    return ordered[0]


def _title(candidate: Candidate) -> str:
    return f"{candidate.year} {candidate.make} {candidate.model}"


def select_alternatives(
    basis_monthly: Decimal | int | None,
    original_make: str | None,
    candidates: Sequence[Candidate],
    optional_bands: bool = False,
    *,
    exclude_lot_id: str | None = None,
) -> AlternativesResult:
    """Pick the cheaper, similar and luxury alternatives for a lot whose monthly payment is ``basis_monthly``.

    With ``b`` the basis and ``m`` a candidate's monthly:

    * cheaper: ``m < 0.80 b``, the highest ``m``;
    * similar: a different make (case-insensitive) and ``|m − b| ≤ 0.10 b``, the smallest ``|m − b|``;
    * luxury: ``m > 1.30 b``, the lowest ``m``.

    Ties go to the most recently published lot (then the lower lot id, so the result is deterministic).
    With ``optional_bands``, cheaper also needs ``m ≥ 0.60 b`` and luxury ``m ≤ 1.60 b``. Candidates with
    a zero or missing monthly, and ``exclude_lot_id`` (the original lot), are ignored. Without a positive
    basis every slot is None. Never raises for missing data.
    """
    basis = _positive(basis_monthly)
    if basis is None:
        return AlternativesResult()
    original = (original_make or "").strip().casefold()

    priced: list[tuple[Candidate, Decimal]] = []
    for candidate in candidates:
        if exclude_lot_id is not None and candidate.lot_id == exclude_lot_id:
            continue
        monthly = _positive(candidate.monthly)
        if monthly is not None:
            priced.append((candidate, monthly))

    cheaper_entries = [e for e in priced if e[1] < _CHEAPER_BELOW * basis]
    luxury_entries = [e for e in priced if e[1] > _LUXURY_ABOVE * basis]
    if optional_bands:
        cheaper_entries = [e for e in cheaper_entries if e[1] >= _CHEAPER_BAND_FLOOR * basis]
        luxury_entries = [e for e in luxury_entries if e[1] <= _LUXURY_BAND_CEILING * basis]
    similar_entries = [
        e
        for e in priced
        if e[0].make.strip().casefold() != original and abs(e[1] - basis) <= _SIMILAR_WITHIN * basis
    ]

    cheaper = _pick(cheaper_entries, lambda e: -e[1])
    similar = _pick(similar_entries, lambda e: abs(e[1] - basis))
    luxury = _pick(luxury_entries, lambda e: e[1])

    return AlternativesResult(
        cheaper=(
            Alternative(
                type="cheaper",
                lot_id=cheaper[0].lot_id,
                slug=cheaper[0].slug,
                title=_title(cheaper[0]),
                monthly=cheaper[1],
                savings_vs_original=basis - cheaper[1],
            )
            if cheaper
            else None
        ),
        similar=(
            Alternative(
                type="similar",
                lot_id=similar[0].lot_id,
                slug=similar[0].slug,
                title=_title(similar[0]),
                monthly=similar[1],
                price_diff=similar[1] - basis,
            )
            if similar
            else None
        ),
        luxury=(
            Alternative(
                type="luxury",
                lot_id=luxury[0].lot_id,
                slug=luxury[0].slug,
                title=_title(luxury[0]),
                monthly=luxury[1],
                upgrade_cost=luxury[1] - basis,
            )
            if luxury
            else None
        ),
    )
