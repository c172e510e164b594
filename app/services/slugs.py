"""Lot slugs (business rules §2.7): one rule for the back office, imports and migrations.

A slug is one or more groups of ``[a-z0-9]`` joined by single dashes, at most 100 characters. It is built
from ``"{year} {make} {model} {trim}"``; accented letters are folded to ASCII, every other run of
characters becomes one dash. Uniqueness is checked by the caller through a predicate, so this module stays
free of the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "MAX_SLUG_LENGTH",
    "is_valid_slug",
    "lot_slug_base",
    "normalise_editor_slug",
    "resolve_collision",
    "slugify",
    "truncate_slug",
]

MAX_SLUG_LENGTH = 100

# Numeric suffixes tried before giving up; only a broken ``is_taken`` could exhaust them.
_MAX_NUMERIC_SUFFIX = 100_000

_VALID_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NOT_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_NOT_VIN_CHARS = re.compile(r"[^A-Za-z0-9]")

# Latin letters that Unicode does not decompose into a base letter plus accents, so NFKD alone would turn
# them into dashes ("Škoda Ølby" must still read "skoda-olby").
_FOLD_EXTRA = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
    }
)


def _fold_to_ascii(text: str) -> str:
    """Lower-case ``text`` and replace accented Latin letters by their ASCII base letters."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return without_marks.translate(_FOLD_EXTRA)


def truncate_slug(slug: str, limit: int = MAX_SLUG_LENGTH) -> str:
    """Shorten a valid slug to at most ``limit`` characters, cutting at the last dash before the limit.

    A slug that already fits is returned unchanged. A first word longer than the limit is cut hard, since
    there is no dash to cut at.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(slug) <= limit:
        return slug
    # A dash right after the limit (index ``limit``) still means the first ``limit`` characters are whole
    # words, hence the search over ``limit + 1`` characters.
    cut = slug.rfind("-", 0, limit + 1)
    if cut <= 0:
        return slug[:limit]
    return slug[:cut]


def slugify(text: str) -> str:
    """Normalise free text by §2.7: fold accents, lower-case, collapse other characters to single dashes.

    The result is a valid slug of at most 100 characters, or ``""`` when ``text`` holds no letter or digit.
    """
    folded = _fold_to_ascii(text)
    dashed = _NOT_SLUG_CHARS.sub("-", folded).strip("-")
    return truncate_slug(dashed)


def lot_slug_base(year: int, make: str, model: str, trim: str | None = None) -> str:
    """The slug a lot would get before any collision handling: ``"{year} {make} {model} {trim}"``.

    An empty or missing trim is left out (so ``2024 Kia Niro`` gives ``2024-kia-niro`` without a trailing
    dash).
    """
    parts = [str(year), make, model]
    if trim and trim.strip():
        parts.append(trim)
    return slugify(" ".join(parts))


def is_valid_slug(slug: str) -> bool:
    """True when ``slug`` is already in valid form: ``[a-z0-9]`` groups joined by single dashes, ≤ 100 long."""
    return isinstance(slug, str) and len(slug) <= MAX_SLUG_LENGTH and _VALID_SLUG.fullmatch(slug) is not None


def normalise_editor_slug(slug: str) -> str:
    """Normalise a slug typed by an editor by the same rule as :func:`slugify` and check the result.

    Raises ``ValueError`` when nothing valid is left (for example the input has no letter or digit).
    """
    normalised = slugify(slug)
    if not is_valid_slug(normalised):
        raise ValueError("slug must contain at least one letter or digit")
    return normalised


def _with_suffix(base: str, suffix: str) -> str:
    return truncate_slug(base, MAX_SLUG_LENGTH - len(suffix)) + suffix


def resolve_collision(base: str, vin: str | None, is_taken: Callable[[str], bool]) -> str:
    """Return a free slug for ``base``, asking ``is_taken`` which slugs exist (across all lots).

    ``base`` itself when free; otherwise ``base`` plus ``-`` and the VIN's last five characters (lower-cased)
    when there is a VIN and that slug is free; otherwise ``base-2``, ``base-3``, … The base is shortened at a
    dash when needed so that base and suffix together stay within 100 characters.

    The caller still relies on the unique index: between this check and the insert another lot may take the
    slug, and the insert must then be retried.
    """
    if not is_valid_slug(base):
        raise ValueError(f"base slug is not valid: {base!r}")
    if not is_taken(base):
        return base
    vin_chars = _NOT_VIN_CHARS.sub("", vin or "")
    if len(vin_chars) >= 5:
        candidate = _with_suffix(base, "-" + vin_chars[-5:].lower())
        if not is_taken(candidate):
            return candidate
    for number in range(2, _MAX_NUMERIC_SUFFIX):
        candidate = _with_suffix(base, f"-{number}")
        if not is_taken(candidate):
            return candidate
    raise RuntimeError(f"no free slug found for {base!r}")
