"""Text clean-up and money parsing for scraped competitor pages.

The competitor renders amounts with typographic characters that break naive parsing: a no-break space
in ``MSRP from $23,945``, a zero-width joiner in ``$173‍/mo.``, thin spaces as thousands separators.
Everything that reads numbers out of page text goes through :func:`clean_text` first.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["clean_text", "parse_money", "parse_int", "MONEY_NUMBER"]

# Invisible characters that carry no meaning for us: zero-width space/non-joiner/joiner, word joiner,
# byte-order mark, soft hyphen, and the bidi marks some CMSs sprinkle around currency signs.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)

# Typographic spaces used as thousands separators ("23 945"). A plain space between digits is left
# alone: "$2 trims" must not become "$2" glued to the next number.
_DIGIT_GROUP_SPACE = re.compile(r"(?<=\d)[\u00a0\u2007\u2009\u202f](?=\d{3}(?!\d))")
_WHITESPACE = re.compile(r"\s+")

# A whole-dollar amount with optional thousands separators and optional cents. The grouped form comes
# first so "23,945" is read whole; the lookahead refuses to stop in the middle of a longer number.
MONEY_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?!\d|,\d)"
_MONEY_AFTER_DOLLAR = re.compile(r"\$\s*(" + MONEY_NUMBER + ")")
_MONEY_ANY = re.compile(r"(?<![\d.,])(" + MONEY_NUMBER + ")")
_WHOLE_DOLLAR = Decimal(1)


def clean_text(text: str, *, collapse: bool = True) -> str:
    """Return ``text`` with invisible characters removed and exotic spaces/symbols normalised.

    NFKC folds no-break and thin spaces to plain spaces and full-width ``＄`` to ``$``. With
    ``collapse`` (the default) runs of whitespace become one space and the ends are stripped; pass
    ``collapse=False`` to keep line breaks that separate page blocks.
    """
    text = _DIGIT_GROUP_SPACE.sub("", text)
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    if collapse:
        return _WHITESPACE.sub(" ", text).strip()
    return text


def _to_whole_dollars(number: str) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    # Lot money is whole dollars; a "$173.50/mo." figure rounds half-up like the rest of the business.
    return value.quantize(_WHOLE_DOLLAR, rounding=ROUND_HALF_UP)


def parse_money(text: str | None) -> Decimal | None:
    """Parse a dollar amount such as ``"From$173\u200d/mo."`` or ``"MSRP from $23,945"``.

    Returns whole dollars as a :class:`~decimal.Decimal` (half-up rounding of cents), or ``None`` when
    the text holds no number (``"$—"``, ``"$NaN"``, ``"Call for pricing"``). When a ``$`` is present the
    number right after the first ``$`` is taken, so labels containing digits do not confuse it; a ``$``
    followed by garbage yields ``None`` rather than some other number further on.
    """
    if not text:
        return None
    cleaned = clean_text(text)
    if "$" in cleaned:
        match = _MONEY_AFTER_DOLLAR.match(cleaned, cleaned.index("$"))
    else:
        match = _MONEY_ANY.search(cleaned)
    if match is None:
        return None
    return _to_whole_dollars(match.group(1))


def parse_int(text: str | None) -> int | None:
    """Return the first integer in ``text`` (thousands separators allowed), or ``None``."""
    if not text:
        return None
    match = _MONEY_ANY.search(clean_text(text))
    if match is None:
        return None
    value = _to_whole_dollars(match.group(1))
    return None if value is None else int(value)
