"""Split competitor titles into year/make/model and build keys to match them with our lots.

:func:`match_key` is the one place that decides whether a scraped offer and a lot describe the same car.
It ignores case, spacing, punctuation and accents, and folds a few make aliases ("Chevy",
"VW", "Mercedes"), so ``(2025, "Mercedes-Benz", "GLC 300")`` and ``("2025", "mercedes benz", "glc300")``
give the same key.
"""

from __future__ import annotations

import re
import unicodedata

from app.integrations.autobandit.text import clean_text

__all__ = ["KNOWN_MAKES", "match_key", "normalise_token", "split_title"]

# Makes sold new in the US.
KNOWN_MAKES: tuple[str, ...] = (
    "Acura", "Alfa Romeo", "Aston Martin", "Audi", "Bentley", "BMW", "Buick", "Cadillac",
    "Chevrolet", "Chrysler", "Dodge", "Ferrari", "Fiat", "Fisker", "Ford", "Genesis", "GMC",
    "Honda", "Hyundai", "Infiniti", "Jaguar", "Jeep", "Kia", "Lamborghini", "Land Rover", "Lexus",
    "Lincoln", "Lotus", "Lucid", "Maserati", "Mazda", "McLaren", "Mercedes-Benz", "Mercedes-AMG",
    "MINI", "Mitsubishi", "Nissan", "Polestar", "Porsche", "Ram", "Rivian", "Rolls-Royce",
    "Subaru", "Tesla", "Toyota", "VinFast", "Volkswagen", "Volvo",
)  # fmt: skip

# Spellings seen in listings and legacy data that mean one of the makes above (normalised form).
_MAKE_ALIASES = {
    "chevy": "chevrolet",
    "vw": "volkswagen",
    "mercedes": "mercedesbenz",
    "mercedesamg": "mercedesbenz",
    "alfa": "alfaromeo",
}

_YEAR_PREFIX = re.compile(r"^((?:19|20)\d{2})\b\s*")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def _known_make_tokens() -> frozenset[str]:
    return frozenset({normalise_token(make) for make in KNOWN_MAKES} | set(_MAKE_ALIASES))


def normalise_token(value: object) -> str:
    """Lower-case ``value`` and drop accents, spaces and punctuation: ``"IONIQ 5"`` -> ``"ioniq5"``."""
    if value is None:
        return ""
    text = clean_text(str(value))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return _NON_ALNUM.sub("", text.replace("&", "and"))


_KNOWN_MAKE_TOKENS = _known_make_tokens()


def match_key(year: int | str | None, make: str | None, model: str | None, trim: str | None = None) -> str:
    """Return the key used to match a scraped offer with lots: ``"2025|hyundai|ioniq5|"``.

    Every part goes through :func:`normalise_token`, so case, spaces, hyphens, dots and accents do not
    matter, and common make aliases fold to one name. ``trim`` is optional and sits last: AutoBandit
    cards name no trim, so the matching job compares ``match_key(offer.year, offer.make, offer.model)``
    with ``match_key(lot.year, lot.make, lot.model)`` (trim left out on both sides) and only passes a
    trim when both sides have one. A missing year gives an empty first part; such keys are still
    comparable but match only other year-less keys, which is deliberate (a year-less card is ambiguous).
    """
    year_part = normalise_token(year)
    make_part = normalise_token(make)
    make_part = _MAKE_ALIASES.get(make_part, make_part)
    return "|".join((year_part, make_part, normalise_token(model), normalise_token(trim)))


def split_title(title: str) -> tuple[int | None, str | None, str | None, bool]:
    """Split ``"2025 Hyundai IONIQ 5"`` into ``(2025, "Hyundai", "IONIQ 5", True)``.

    The make is matched on up to three leading words, ignoring case and punctuation ("Mercedes Benz",
    "Land Rover", aliases such as "Chevy"). The last item says whether the make was recognised; when it
    was not, the first word is taken as the make. The model keeps its spaces ("Tacoma 2WD"). Years outside 1900-2099 are not years.
    """
    rest = clean_text(title)
    year: int | None = None
    found = _YEAR_PREFIX.match(rest)
    if found:
        year = int(found.group(1))
        rest = rest[found.end() :]
    if not rest:
        return year, None, None, False
    words = rest.split(" ")
    # Try the longest prefix first so "Land Rover Defender" is not read as make "Land".
    for size in (3, 2, 1):
        if len(words) < size:
            continue
        if normalise_token(" ".join(words[:size])) in _KNOWN_MAKE_TOKENS:
            model = " ".join(words[size:]).strip(" -") or None
            return year, " ".join(words[:size]), model, True
    return year, words[0], " ".join(words[1:]).strip() or None, False
