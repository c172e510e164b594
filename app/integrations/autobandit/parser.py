"""Parse AutoBandit listing and per-model pages into :class:`ScrapedOfferData`.

The site is a Next.js app. A deal is an element whose class list contains ``js-offer-card``; everything
else on the page (banners, skeleton placeholders, request forms, blog teasers) is ignored, because the
old heuristics ("any div whose class says card/deal") scraped exactly those decoys.

Cards are read *without* the cards nested inside them (a missing ``</div>`` on a broken page puts the
next card inside the previous one) and without ``<script>``/``<style>`` text (JSON-LD inside a card
carries stale prices). Numbers come from the card's visible text:

* MSRP: ``MSRP from $23,945``;
* monthly: ``From $173/mo.``; a number without its ``/mo`` suffix is not a monthly payment;
* incentives: ``Up to $5,250 in incentives``;
* due at signing, term and mileage when the page shows them (``$2,999 due at signing``, ``36 months``,
  ``10,000 mi/yr``); per-model pages mark them with ``data-field`` attributes.

Nothing here raises on bad markup: what cannot be read becomes ``None`` plus a warning on the card.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urljoin, urlsplit

from bs4 import (
    BeautifulSoup,
    CData,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)

from app.integrations.autobandit.images import collect_images
from app.integrations.autobandit.matching import match_key, split_title
from app.integrations.autobandit.models import (
    DealPage,
    ImageRef,
    ListingPage,
    ScrapedOfferData,
    SkippedCard,
)
from app.integrations.autobandit.text import MONEY_NUMBER, clean_text, parse_int, parse_money

__all__ = [
    "CARD_CLASS",
    "dedupe_offers",
    "merge_offers",
    "parse_card",
    "parse_deal_page",
    "parse_listing",
]

CARD_CLASS = "js-offer-card"
PROMO_CLASS = "js-offer-card--promo"

# Subtrees whose text is never visible content.
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg", "head", "title", "iframe"})
# Elements that start a new line of text; used so "$23,945" and a following "2 trims" never merge.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "button", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "section", "summary", "table", "td", "th", "tr",
        "ul",
    }
)  # fmt: skip
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_TEXT_TYPES = (NavigableString, CData)
_MAX_BADGE_LENGTH = 40

_NUMBER_AT = re.compile(r"\s*(" + MONEY_NUMBER + ")")
_MSRP_LABEL = re.compile(r"\bMSRP\b[^$]{0,25}?\$", re.IGNORECASE)
_MONTHLY = re.compile(r"\$\s*(" + MONEY_NUMBER + r")\s*/\s*mo(?:nth)?\b", re.IGNORECASE)
_MONTHLY_BROKEN = re.compile(r"\$\s*([^\s/$]{1,15})\s*/\s*mo(?:nth)?\b", re.IGNORECASE)
_INCENTIVES_LABEL = re.compile(r"\bup\s+to\s*\$", re.IGNORECASE)
_INCENTIVES_SUFFIX = re.compile(
    r"\$\s*(" + MONEY_NUMBER + r")\s+(?:in\s+)?(?:incentives|rebates)\b", re.IGNORECASE
)
_DAS = re.compile(
    r"\$\s*(" + MONEY_NUMBER + r")\s*(?:due\s+at\s+signing|das)\b"
    r"|due\s+at\s+signing\s*:?\s*\$\s*(" + MONEY_NUMBER + ")",
    re.IGNORECASE,
)
_TERM = re.compile(r"(?<![\d$.,/])(\d{2})\s*-?\s*(?:months?|mos?\.?)(?![a-z/])", re.IGNORECASE)
_MILES = re.compile(
    r"(?<![\d$.,])(\d{1,3}(?:,\d{3})+|\d{4,6}|\d{1,3}\s*k)\s*(?:mi|miles)\.?\s*(?:/|per|a)\s*(?:yr|year)\b",
    re.IGNORECASE,
)
_TRIM_COUNT = re.compile(r"(?:\bshow\s+)?(\d{1,3})\s+trims?\b", re.IGNORECASE)
_LINK_LABEL = re.compile(r"^see\s+(.+?)\s+(?:offers?|deals?)$", re.IGNORECASE)
_DEAL_PATH = re.compile(r"^/deals/[^/?#]+/?$")
_NEXT_LABELS = frozenset({"next", "next page", "›", "»", ">", "→"})

# Plausible ranges; anything outside is a parsing accident, not an offer.
_TERM_RANGE = range(6, 97)
_MILES_RANGE = range(3_000, 50_001)


# --------------------------------------------------------------------------------------------- soup


def _soup(html: str) -> BeautifulSoup:
    # bs4 warns (for humans in a REPL) when the markup looks like a file name or XML; with warnings as
    # errors that would turn an odd response body into a crash, so those two are silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(html or "", "lxml")


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    if value is None:
        return []
    return value.split() if isinstance(value, str) else list(value)


def _is_card(tag: Tag) -> bool:
    return CARD_CLASS in _classes(tag)


@dataclass(slots=True)
class _OwnContent:
    """A card's own tags and text, excluding nested cards and non-visible subtrees."""

    tags: list[Tag] = field(default_factory=list)
    raw_text: str = ""
    block_text: str = ""
    # Text seen before the first heading, one entry per text node (badge candidates).
    before_heading: list[str] = field(default_factory=list)


_END = object()


def _own_content(root: Tag) -> _OwnContent:
    """Walk ``root`` in document order without recursion (broken pages nest deeply)."""
    out = _OwnContent()
    raw: list[str] = []
    blocks: list[str] = []
    heading_seen = False
    stack: list[object] = list(reversed(root.contents))
    while stack:
        node = stack.pop()
        if node is _END:
            blocks.append("\n")
            continue
        if isinstance(node, Tag):
            if node.name in _SKIP_TAGS or _is_card(node):
                continue
            out.tags.append(node)
            if node.name in _HEADINGS:
                heading_seen = True
            if node.name in _BLOCK_TAGS:
                blocks.append("\n")
                stack.append(_END)
            stack.extend(reversed(node.contents))
        elif type(node) in _TEXT_TYPES:
            text = str(node)
            raw.append(text)
            blocks.append(text)
            if not heading_seen:
                out.before_heading.append(text)
    out.raw_text = "".join(raw)
    out.block_text = "\n".join(
        line for line in (clean_text(chunk) for chunk in "".join(blocks).split("\n")) if line
    )
    return out


# -------------------------------------------------------------------------------------------- fields


@dataclass(slots=True)
class _Figures:
    msrp: Decimal | None = None
    monthly: Decimal | None = None
    due_at_signing: Decimal | None = None
    term_months: int | None = None
    miles_per_year: int | None = None
    incentives: Decimal | None = None
    trim_count: int | None = None
    warnings: list[str] = field(default_factory=list)

    def any_price(self) -> bool:
        return any(value is not None for value in (self.msrp, self.monthly, self.incentives))


def _snippet(text: str, start: int) -> str:
    """The token at ``start`` (such as ``$—`` or ``$undefined``), for warnings."""
    return text[start:].split(None, 1)[0][:20] if text[start:].strip() else ""


def _labelled_amount(
    text: str, label: re.Pattern[str], name: str, figures: _Figures
) -> tuple[bool, Decimal | None]:
    """Read the amount right after ``label`` (which ends at the ``$``). Returns (label found, amount)."""
    found = label.search(text)
    if found is None:
        return False, None
    number = _NUMBER_AT.match(text, found.end())
    if number is None:
        figures.warnings.append(f"{name}: unreadable amount {_snippet(text, found.end() - 1)!r}")
        return True, None
    return True, parse_money("$" + number.group(1))


def _positive(value: Decimal | None, name: str, figures: _Figures) -> Decimal | None:
    if value is not None and value <= 0:
        figures.warnings.append(f"{name}: non-positive amount {value} ignored")
        return None
    return value


def _read_figures(text: str) -> _Figures:
    """Extract every figure we know from a card's block text."""
    figures = _Figures()

    _, msrp = _labelled_amount(text, _MSRP_LABEL, "msrp", figures)
    figures.msrp = _positive(msrp, "msrp", figures)

    monthly = _MONTHLY.search(text)
    if monthly is not None:
        figures.monthly = _positive(parse_money("$" + monthly.group(1)), "monthly", figures)
    else:
        broken = _MONTHLY_BROKEN.search(text)
        if broken is not None:
            figures.warnings.append(f"monthly: unreadable amount {broken.group(0)!r}")

    found, incentives = _labelled_amount(text, _INCENTIVES_LABEL, "incentives", figures)
    if not found:
        suffixed = _INCENTIVES_SUFFIX.search(text)
        incentives = parse_money("$" + suffixed.group(1)) if suffixed else None
    figures.incentives = incentives

    das = _DAS.search(text)
    if das is not None:
        figures.due_at_signing = parse_money("$" + (das.group(1) or das.group(2)))

    figures.term_months = _read_term(text, figures)
    figures.miles_per_year = _read_miles(text, figures)

    trims = _TRIM_COUNT.search(text)
    if trims is not None:
        figures.trim_count = int(trims.group(1))
    return figures


def _read_term(text: str, figures: _Figures) -> int | None:
    found = _TERM.search(text)
    if found is None:
        return None
    term = int(found.group(1))
    if term not in _TERM_RANGE:
        figures.warnings.append(f"term_months: implausible term {term}")
        return None
    return term


def _read_miles(text: str, figures: _Figures) -> int | None:
    found = _MILES.search(text)
    if found is None:
        return None
    raw = found.group(1).replace(" ", "").lower()
    miles = int(raw[:-1]) * 1000 if raw.endswith("k") else parse_int(raw)
    if miles is None or miles not in _MILES_RANGE:
        figures.warnings.append(f"miles_per_year: implausible mileage {found.group(0)!r}")
        return None
    return miles


def _heading_title(tags: Iterable[Tag]) -> str | None:
    for tag in tags:
        if tag.name in _HEADINGS:
            title = clean_text(tag.get_text())
            if title:
                return title
    return None


def _label_title(tags: Iterable[Tag]) -> str | None:
    for tag in tags:
        if tag.name == "a":
            label = tag.get("aria-label")
            if isinstance(label, str):
                found = _LINK_LABEL.match(clean_text(label))
                if found:
                    return found.group(1)
    return None


def _detail_url(tags: Iterable[Tag], base_url: str) -> str | None:
    """The per-model page a card links to: a ``/deals/<slug>`` link, else the first real link."""
    fallback: str | None = None
    for tag in tags:
        if tag.name != "a":
            continue
        href = tag.get("href")
        if not isinstance(href, str) or not href.strip():
            continue
        href = href.strip()
        if href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        absolute = urljoin(base_url, href)
        if _DEAL_PATH.match(urlsplit(absolute).path):
            return absolute
        fallback = fallback or absolute
    return fallback


def _badges(candidates: Iterable[str]) -> tuple[str, ...]:
    badges: list[str] = []
    for raw in candidates:
        text = clean_text(raw)
        if not text or len(text) > _MAX_BADGE_LENGTH or "$" in text or text.isdigit():
            continue
        if text not in badges:
            badges.append(text)
    return tuple(badges)


def _external_id(detail_url: str | None, year: int | None, make: str | None, model: str | None) -> str:
    if detail_url:
        path = urlsplit(detail_url).path
        if _DEAL_PATH.match(path):
            return path.rstrip("/").rsplit("/", 1)[-1].lower()
    return "key:" + match_key(year, make, model)


def _title_parts(title: str, warnings_out: list[str]) -> tuple[int | None, str | None, str | None, bool]:
    year, make, model, known = split_title(title)
    if year is None:
        warnings_out.append("year: not in title")
    if make is not None and not known:
        warnings_out.append(f"make: {make!r} is not a known make")
    if model is None:
        warnings_out.append("model: not in title")
    return year, make, model, known


# --------------------------------------------------------------------------------------------- cards


def parse_card(card: Tag, base_url: str, index: int = 0) -> ScrapedOfferData | SkippedCard:
    """Read one ``js-offer-card`` element. Returns a :class:`SkippedCard` for promo and empty cards.

    Cards nested inside ``card`` (broken markup) are not read as part of it.
    """
    if PROMO_CLASS in _classes(card):
        return SkippedCard(index=index, kind="promo", reason="promo card")
    own = _own_content(card)
    imgs = [tag for tag in own.tags if tag.name == "img"]
    if not clean_text(own.raw_text) and not imgs:
        return SkippedCard(index=index, kind="empty", reason="empty card")

    card_warnings: list[str] = []
    title = _heading_title(own.tags)
    if title is None:
        title = _label_title(own.tags)
        if title is not None:
            card_warnings.append("title: no heading, read from the link label")
    figures = _read_figures(own.block_text)
    if title is None:
        if figures.any_price():
            card_warnings.append("title: not found")
        else:
            return SkippedCard(index=index, kind="promo", reason="no title and no price")

    year, make, model, known_make = _title_parts(title or "", card_warnings)
    if year is None and not known_make and not figures.any_price():
        # Neither a model year, a known make nor a price: a marketing tile, not a deal.
        return SkippedCard(index=index, kind="promo", reason="no year, known make or price")

    images = collect_images(imgs, base_url)
    card_warnings.extend(figures.warnings)
    for name, value in (("msrp", figures.msrp), ("monthly", figures.monthly)):
        if value is None and not any(w.startswith(name + ":") for w in card_warnings):
            card_warnings.append(f"{name}: not found")
    if not images:
        card_warnings.append("images: no car image")
    detail_url = _detail_url(own.tags, base_url)
    return ScrapedOfferData(
        title=title or "",
        year=year,
        make=make,
        model=model,
        msrp=figures.msrp,
        monthly=figures.monthly,
        due_at_signing=figures.due_at_signing,
        term_months=figures.term_months,
        miles_per_year=figures.miles_per_year,
        incentives=figures.incentives,
        images=tuple(images),
        source_url=base_url,
        detail_url=detail_url,
        external_id=_external_id(detail_url, year, make, model),
        badges=_badges(own.before_heading),
        trim_count=figures.trim_count,
        raw_text=own.raw_text,
        card_index=index,
        warnings=tuple(card_warnings),
    )


def _safe_parse_card(card: Tag, base_url: str, index: int) -> ScrapedOfferData | SkippedCard:
    # One odd card must not cost the whole page: an unexpected error becomes a skipped card whose
    # reason lands in the run log, where someone will see the layout changed.
    try:
        return parse_card(card, base_url, index)
    except Exception as exc:  # noqa: BLE001 - deliberate boundary, see above
        return SkippedCard(index=index, kind="empty", reason=f"parse error: {type(exc).__name__}: {exc}")


def _iter_cards(root: Tag) -> Iterator[Tag]:
    for tag in root.find_all(True):
        if _is_card(tag):
            yield tag


# -------------------------------------------------------------------------------------------- merging

_MERGED_FIELDS = (
    "year",
    "make",
    "model",
    "trim",
    "msrp",
    "monthly",
    "due_at_signing",
    "term_months",
    "miles_per_year",
    "incentives",
    "trim_count",
)


def merge_offers(
    base: ScrapedOfferData, extra: ScrapedOfferData, *, prefer_extra: bool = False
) -> ScrapedOfferData:
    """Combine two readings of the same offer.

    With ``prefer_extra`` (a per-model page over its listing card) every figure ``extra`` has replaces
    ``base``'s; otherwise ``extra`` only fills ``base``'s gaps and a disagreement becomes a warning.
    Images and badges are united (``base`` first). Warnings about fields that end up filled are dropped.
    """
    changes: dict[str, object] = {}
    notes: list[str] = []
    for name in _MERGED_FIELDS:
        mine, theirs = getattr(base, name), getattr(extra, name)
        if theirs is None or theirs == mine:
            continue
        if mine is None or prefer_extra:
            changes[name] = theirs
        else:
            notes.append(f"{name}: duplicate card says {theirs}, kept {mine}")
    if prefer_extra and extra.title:
        changes["title"] = extra.title
    elif not base.title and extra.title:
        changes["title"] = extra.title

    seen = {image.origin_url for image in base.images}
    images: list[ImageRef] = list(base.images)
    for image in extra.images:
        if image.origin_url not in seen:
            seen.add(image.origin_url)
            images.append(image)
    changes["images"] = tuple(images)
    changes["badges"] = tuple(dict.fromkeys(base.badges + extra.badges))
    if base.detail_url is None and extra.detail_url is not None:
        changes["detail_url"] = extra.detail_url

    merged = base.replace(**changes)
    kept = [w for w in base.warnings + extra.warnings if not _warning_resolved(w, merged)]
    return merged.replace(warnings=tuple(dict.fromkeys(kept + notes)))


def _warning_resolved(warning: str, offer: ScrapedOfferData) -> bool:
    name = warning.split(":", 1)[0]
    if name == "images":
        return bool(offer.images)
    if name in _MERGED_FIELDS or name == "title":
        return getattr(offer, name) not in (None, "")
    return False


def dedupe_offers(offers: Iterable[ScrapedOfferData]) -> list[ScrapedOfferData]:
    """Merge offers sharing an ``external_id`` (first occurrence wins), keeping first-seen order."""
    merged: dict[str, ScrapedOfferData] = {}
    for offer in offers:
        current = merged.get(offer.external_id)
        merged[offer.external_id] = offer if current is None else merge_offers(current, offer)
    return list(merged.values())


# --------------------------------------------------------------------------------------------- pages


def _next_page_url(soup: BeautifulSoup, base_url: str) -> str | None:
    candidates: list[Tag] = list(soup.select('link[rel~="next"], a[rel~="next"]'))
    if not candidates:
        for link in soup.select('nav a[href], [class*="pagination"] a[href]'):
            label = clean_text(str(link.get("aria-label") or link.get_text())).casefold()
            if label in _NEXT_LABELS or label.startswith("next"):
                candidates.append(link)
    for tag in candidates:
        href = tag.get("href")
        if isinstance(href, str) and href.strip() and not href.startswith("#"):
            url = urljoin(base_url, href.strip())
            if url != base_url:
                return url
    return None


def _collect_cards(root: Tag, base_url: str) -> tuple[list[ScrapedOfferData], list[SkippedCard], int]:
    offers: list[ScrapedOfferData] = []
    skipped: list[SkippedCard] = []
    count = 0
    for index, card in enumerate(_iter_cards(root)):
        count += 1
        result = _safe_parse_card(card, base_url, index)
        if isinstance(result, SkippedCard):
            skipped.append(result)
        else:
            offers.append(result)
    return offers, skipped, count


def parse_listing(html: str, base_url: str) -> ListingPage:
    """Parse a deals listing page (``/deals``, ``/deals?page=2``, a search result).

    ``base_url`` is the URL the HTML was fetched from; every link is resolved against it. A page
    without any ``js-offer-card`` gets a warning, since that usually means the layout changed.
    """
    soup = _soup(html)
    offers, skipped, count = _collect_cards(soup, base_url)
    page = ListingPage(url=base_url, offers=offers, skipped=skipped, card_elements=count)
    page.unique_offers = dedupe_offers(offers)
    page.detail_urls = list(
        dict.fromkeys(offer.detail_url for offer in page.unique_offers if offer.detail_url)
    )
    page.next_page_url = _next_page_url(soup, base_url)
    if count == 0:
        page.warnings.append("no js-offer-card element on the page (empty result or changed layout)")
    return page


_FIELD_NAMES = {
    "msrp": ("msrp",),
    "monthly": ("payment", "monthly"),
    "term_months": ("term",),
    "miles_per_year": ("mileage", "miles"),
    "incentives": ("incentives",),
    "due_at_signing": ("das", "due-at-signing", "due_at_signing"),
}


def _data_fields(root: Tag) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in root.select("[data-field]"):
        if any(_is_card(parent) for parent in tag.parents if isinstance(parent, Tag)):
            continue
        name = str(tag.get("data-field")).strip().lower()
        values.setdefault(name, clean_text(tag.get_text()))
    return values


def _apply_data_fields(figures: _Figures, fields: dict[str, str]) -> None:
    """Per-model pages label their summary; a labelled value beats a regex over the whole page."""

    def value_of(target: str) -> str | None:
        for name in _FIELD_NAMES[target]:
            if name in fields:
                return fields[name]
        return None

    for target in ("msrp", "monthly", "incentives", "due_at_signing"):
        text = value_of(target)
        if text is None:
            continue
        amount = parse_money(text)
        if amount is None and "$" in text:
            figures.warnings.append(f"{target}: unreadable amount {text!r}")
        setattr(figures, target, amount)
    for target in ("term_months", "miles_per_year"):
        text = value_of(target)
        if text is not None:
            setattr(figures, target, parse_int(text))


def _summary_root(soup: BeautifulSoup) -> Tag:
    main = soup.find("main")
    if isinstance(main, Tag):
        return main
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _page_title(root: Tag) -> Tag | None:
    for heading in root.find_all("h1"):
        if not any(_is_card(parent) for parent in heading.parents if isinstance(parent, Tag)):
            return heading
    return None


def _summary_images(root: Tag, title: str, base_url: str) -> list[ImageRef]:
    galleries = [tag for tag in root.select(".gallery, [data-gallery]") if not _is_card(tag)]
    imgs: list[Tag] = []
    for gallery in galleries:
        imgs.extend(tag for tag in _own_content(gallery).tags if tag.name == "img")
    if not galleries:
        # No gallery container: fall back to pictures outside cards whose alt text names the car.
        wanted = clean_text(title).casefold()
        imgs = [
            tag
            for tag in _own_content(root).tags
            if tag.name == "img" and clean_text(str(tag.get("alt") or "")).casefold() == wanted
        ]
    return collect_images(imgs, base_url)


def parse_deal_page(html: str, base_url: str) -> DealPage:
    """Parse a per-model page (``/deals/hyundai-elantra``): its summary offer and similar-deal cards.

    The summary comes from the ``h1`` and the ``data-field`` elements (``msrp``, ``payment``, ``term``,
    ``mileage``, ``incentives``, ``das``), falling back to the page text outside cards. Trims are loaded
    client-side on the live site, so ``trims`` is empty unless rows are present in the HTML.
    """
    soup = _soup(html)
    root = _summary_root(soup)
    similar, _skipped, _count = _collect_cards(root, base_url)
    page = DealPage(url=base_url, offer=None, similar=similar)

    heading = _page_title(root)
    title = clean_text(heading.get_text()) if heading is not None else ""
    if not title:
        page.warnings.append("no h1 title: not a per-model page or the layout changed")
        return page

    own = _own_content(root)
    figures = _read_figures(own.block_text)
    _apply_data_fields(figures, _data_fields(root))
    page.trim_count = figures.trim_count
    offer_warnings: list[str] = []
    year, make, model, _known = _title_parts(title, offer_warnings)
    offer_warnings.extend(figures.warnings)
    for name, value in (("msrp", figures.msrp), ("monthly", figures.monthly)):
        if value is None and not any(w.startswith(name + ":") for w in offer_warnings):
            offer_warnings.append(f"{name}: not found")
    images = _summary_images(root, title, base_url)
    if not images:
        offer_warnings.append("images: no car image")
    parent = heading.parent if heading is not None and isinstance(heading.parent, Tag) else root
    badges = _badges(_own_content(parent).before_heading)

    page.offer = ScrapedOfferData(
        title=title,
        year=year,
        make=make,
        model=model,
        msrp=figures.msrp,
        monthly=figures.monthly,
        due_at_signing=figures.due_at_signing,
        term_months=figures.term_months,
        miles_per_year=figures.miles_per_year,
        incentives=figures.incentives,
        images=tuple(images),
        source_url=base_url,
        detail_url=base_url,
        external_id=_external_id(base_url, year, make, model),
        badges=badges,
        trim_count=figures.trim_count,
        raw_text=own.raw_text,
        warnings=tuple(offer_warnings),
    )
    return page
