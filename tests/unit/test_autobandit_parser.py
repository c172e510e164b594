"""AutoBandit parser: every card of ``shared/data/autobandit/expected.json``, images, money, matching."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.integrations.autobandit import (
    ListingPage,
    ScrapedOfferData,
    clean_text,
    is_ignored_image,
    match_key,
    merge_offers,
    parse_deal_page,
    parse_listing,
    parse_money,
    split_title,
    unwrap_image_url,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "autobandit"
ZWJ, NBSP, THIN, NARROW_NBSP = "\u200d", "\u00a0", "\u2009", "\u202f"


@cache
def expected() -> dict[str, Any]:
    return json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


@cache
def parsed(fname: str) -> tuple[list[ScrapedOfferData], ListingPage | None]:
    """Offers of a fixture page in document order (listing cards or similar-deal cards)."""
    page = expected()["pages"][fname]
    html = (FIXTURES / fname).read_text(encoding="utf-8")
    if page["kind"] == "model":
        return parse_deal_page(html, page["url"]).similar, None
    listing = parse_listing(html, page["url"])
    return listing.offers, listing


def _cards() -> list[Any]:
    params = []
    for fname, page in expected()["pages"].items():
        for card in page["cards"]:
            params.append(pytest.param(fname, card, id=f"{fname}#{card['index']}"))
    return params


def _money(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# ------------------------------------------------------------------------------ expected.json, card by card


@pytest.mark.parametrize(("fname", "card"), _cards())
def test_every_card_yields_what_expected_json_lists(fname: str, card: dict[str, Any]) -> None:
    offers, listing = parsed(fname)
    offer = next((o for o in offers if o.card_index == card["index"]), None)

    if card["kind"] != "deal":
        assert offer is None, "promo and empty cards are not deals"
        assert listing is not None
        assert [s.kind for s in listing.skipped if s.index == card["index"]] == [card["kind"]]
        return
    if offer is None and card.get("accept_skip"):
        return
    assert offer is not None, "a deal card must produce an offer"

    assert offer.title == card["title"]
    assert offer.year == card["year"]
    assert offer.make == card["make"]
    assert offer.model == card["model"]
    for name in ("msrp", "monthly", "incentives"):
        value = getattr(offer, name)
        assert value == _money(card[name]), name
        assert value is None or isinstance(value, Decimal)
    assert offer.detail_url == card["detail_url"]

    if card["image_url"] is None:
        assert offer.images == ()
    else:
        first = offer.images[0]
        assert first.url == card["image_url"]
        assert first.attr == card["image_attr"]
        assert first.origin_url == card["image_origin_url"]
        assert offer.image_urls[0] == card["image_origin_url"]
        if "image_src" in card:
            assert first.raw == card["image_src"]
        # One picture per card: the brand logo and the badge icons are not car images.
        assert len(offer.images) == 1

    for name in ("badges", "trim_count"):
        if name in card:
            got = getattr(offer, name)
            assert (list(got) if name == "badges" else got) == card[name], name
    if "text" in card:
        assert offer.raw_text == card["text"]
    assert offer.source_url == expected()["pages"][fname]["url"]


@pytest.mark.parametrize("fname", list(expected()["pages"]))
def test_card_counts_match(fname: str) -> None:
    page = expected()["pages"][fname]
    offers, listing = parsed(fname)
    deal_indexes = {c["index"] for c in page["cards"] if c["kind"] == "deal" and not c.get("accept_skip")}
    assert deal_indexes <= {o.card_index for o in offers}
    assert len(offers) <= page["deal_cards"]
    if listing is not None:
        assert listing.card_elements == page["card_elements"]


@pytest.mark.parametrize("fname", ["deal-hyundai-elantra.html", "deal-kia-niro-ev.html"])
def test_model_page_summary(fname: str) -> None:
    page = expected()["pages"][fname]
    summary = page["summary"]
    result = parse_deal_page((FIXTURES / fname).read_text(encoding="utf-8"), page["url"])
    offer = result.offer
    assert offer is not None
    assert offer.title == summary["title"]
    assert (offer.year, offer.make, offer.model) == (summary["year"], summary["make"], summary["model"])
    assert offer.msrp == Decimal(summary["msrp"])
    assert offer.monthly == Decimal(summary["monthly"])
    assert offer.incentives == Decimal(summary["incentives"])
    assert offer.term_months == summary["term_months"] == 36
    assert offer.miles_per_year == summary["miles_per_year"] == 10_000
    assert offer.due_at_signing is None  # "Varies by trim"
    assert result.trim_count == offer.trim_count == summary["trim_count"]
    assert result.trims == summary["trims"] == []
    assert list(offer.badges) == summary["badges"]
    assert [image.url for image in offer.images] == summary["images"]
    assert offer.image_urls == [summary["image_origin_url"]]
    assert offer.external_id == page["url"].rsplit("/", 1)[-1]
    assert offer.warnings == ()


def test_listing_dedupes_desktop_and_mobile_and_lists_model_pages() -> None:
    _offers, listing = parsed("deals.html")
    assert listing is not None
    page = expected()["pages"]["deals.html"]
    assert len(listing.offers) == page["deal_cards"] == 28
    unique = listing.unique_offers
    assert len(unique) == page["unique_deals"] == 14
    assert listing.detail_urls == [link["url"] for link in page["model_links"]]
    assert [o.external_id for o in unique][:2] == ["hyundai-elantra", "hyundai-elantra-hybrid"]
    # Both copies of a deal carry the same figures, so merging them adds no warnings.
    assert all(offer.warnings == () for offer in unique)
    assert listing.next_page_url is None
    assert listing.warnings == []


def test_no_ignored_image_is_ever_taken() -> None:
    ignored = expected()["pages"]["deals.html"]["ignored_images"]
    base = expected()["pages"]["deals.html"]["url"]
    offers, _ = parsed("deals.html")
    taken = {url for o in offers for image in o.images for url in (image.url, image.origin_url, image.raw)}
    for url in ignored:
        assert is_ignored_image(url, base), url
        assert url not in taken
        assert unwrap_image_url(url, base) not in taken


def test_search_page_with_decoys_yields_nothing() -> None:
    offers, listing = parsed("search-2025-lexus-rx.html")
    assert offers == []
    assert listing is not None
    assert listing.unique_offers == [] and listing.detail_urls == []
    assert listing.card_elements == 0
    assert listing.warnings, "an empty listing must be flagged"


# ---------------------------------------------------------------------------------------- malformed page


def test_malformed_page_gives_warnings_not_exceptions() -> None:
    offers, listing = parsed("malformed.html")
    assert listing is not None
    by_index = {o.card_index: o for o in offers}
    # JSON-LD inside the card says $40,000: script text is never read.
    assert by_index[0].msrp == Decimal(42705)
    assert by_index[0].warnings == ()
    assert "monthly: not found" in by_index[1].warnings  # "Call for pricing"
    kicks = by_index[2]
    assert "Corolla" not in kicks.raw_text, "the nested card is not part of its parent"
    assert kicks.msrp is None and kicks.images == ()
    assert {"msrp: not found", "images: no car image"} <= set(kicks.warnings)
    assert "year: not in title" in by_index[3].warnings
    venue = by_index[4].warnings
    assert any(w.startswith("msrp: unreadable") and "$—" in w for w in venue)
    assert any(w.startswith("monthly: unreadable") and "NaN" in w for w in venue)
    assert any(w.startswith("incentives: unreadable") and "undefined" in w for w in venue)
    assert [(s.index, s.kind) for s in listing.skipped] == [(5, "empty")]
    # Truncated mid-price ("$2"): a number without /mo is not a monthly payment.
    if 6 in by_index:
        assert by_index[6].monthly is None
        assert "monthly: not found" in by_index[6].warnings


@pytest.mark.parametrize(
    "html",
    [
        "",
        "not html at all",
        "https://autobandit.com/deals",
        "<html><body><div class='js-offer-card'>",
        "<div class='js-offer-card'><h3>2025 Kia K4</h3><p>MSRP from $</p>",
        "<div class='js-offer-card'>" * 3000 + "<h3>2025 Kia K4</h3>",
        "\x00\x01\x02<div class=js-offer-card><img src=data:,><h3>\ufffd</h3>",
        "<?xml version='1.0'?><rss><item>MSRP from $1</item></rss>",
    ],
    ids=["empty", "text", "url", "unclosed", "no-amount", "deep-nesting", "binary", "xml"],
)
def test_garbage_never_raises(html: str) -> None:
    listing = parse_listing(html, "https://autobandit.com/deals")
    assert all(isinstance(offer, ScrapedOfferData) for offer in listing.offers)
    deal = parse_deal_page(html, "https://autobandit.com/deals/x")
    assert deal.offer is None or isinstance(deal.offer, ScrapedOfferData)


def test_card_price_only_in_script_is_not_read() -> None:
    html = """<div class="js-offer-card"><h3>2025 Kia K4</h3>
      <script>window.x = "MSRP from $99,999 From $1/mo."</script><style>.a:after{content:"$5/mo"}</style>
      <template><p>MSRP from $1</p></template></div>"""
    (offer,) = parse_listing(html, "https://autobandit.com/deals").offers
    assert offer.msrp is None and offer.monthly is None
    assert "99,999" not in offer.raw_text


# -------------------------------------------------------------------------------------------- images


BASE = "https://autobandit.com/deals?page=2"
INNER = "http://media.chromedata.com/a/b/cc_2025KIC211930940_01_2100_B2R.png"
ENCODED = "http%3A%2F%2Fmedia.chromedata.com%2Fa%2Fb%2Fcc_2025KIC211930940_01_2100_B2R.png"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        (f"/_next/image?url={ENCODED}&w=3840&q=100", INNER),
        (f"/_next/image?url={INNER}&w=320&q=75", INNER),
        (f"https://autobandit.com/_next/image?q=75&url={ENCODED}", INNER),
        (
            "/_next/image?url=%2Fimages%2Fcars%2Fk4.png&w=640&q=75",
            "https://autobandit.com/images/cars/k4.png",
        ),
        ("/_next/image?url=cars%2Fk4.png&w=640", "https://autobandit.com/cars/k4.png"),
        ("/_next/image?url=https%3A%2F%2Fcdn.x%2Fa%2Bb.png&w=640", "https://cdn.x/a+b.png"),
        ("/_next/image?url=https://cdn.x/a+b.png&w=640", "https://cdn.x/a+b.png"),
        ("//cdn.example.com/car.jpg", "https://cdn.example.com/car.jpg"),
        ("cars/k4.jpg", "https://autobandit.com/cars/k4.jpg"),
        ("/_next/image?w=640", "https://autobandit.com/_next/image?w=640"),
    ],
)
def test_unwrap_image_url(url: str, origin: str) -> None:
    assert unwrap_image_url(url, BASE) == origin


@pytest.mark.parametrize(
    ("url", "ignored"),
    [
        ("data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", True),
        ("/sprites/ui.svg#arrow", True),
        ("/favicon.ico", True),
        ("/images/placeholder.png", True),
        ("/_next/image?url=%2Fimages%2Fplaceholder-car.png&w=640&q=75", True),
        ("/_next/image?url=%2Fimages%2Fbrands%2Fkia-logo.png&w=640&q=75", True),
        ("/_next/image?url=%2Fcars%2Fk4.png&w=64&q=75", True),
        ("/icons/tag-icon.svg", True),
        ("", True),
        (f"/_next/image?url={ENCODED}&w=320&q=75", False),
        (
            "https://leasebandit-image.s3.amazonaws.com/2025/Hyundai/IONIQ6_Black_18x7.5JAlloy_front.png",
            False,
        ),
        ("/images/cars/iconic-red-k4.png", False),
    ],
)
def test_image_ignore_rules(url: str, ignored: bool) -> None:
    assert is_ignored_image(url, BASE) is ignored


def _card_images(imgs: str) -> list[tuple[str, str]]:
    html = f'<div class="js-offer-card"><h3>2025 Kia K4</h3><p>From $275/mo.</p>{imgs}</div>'
    (offer,) = parse_listing(html, BASE).offers
    return [(image.attr, image.origin_url) for image in offer.images]


def test_lazy_attributes_are_used_when_src_is_a_stub() -> None:
    gif = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
    assert _card_images(f'<img src="{gif}" data-src="/cars/a.png">') == [
        ("data-src", "https://autobandit.com/cars/a.png")
    ]
    assert _card_images('<img src="" data-lazy-src="/cars/b.png">') == [
        ("data-lazy-src", "https://autobandit.com/cars/b.png")
    ]
    assert _card_images('<img src="/images/placeholder.png" data-src="/cars/c.png">') == [
        ("data-src", "https://autobandit.com/cars/c.png")
    ]
    assert _card_images(
        '<img srcset="/cars/d-640.png 640w, /cars/d-1920.png 1920w, /cars/d-1024.png 1024w">'
    ) == [("srcset", "https://autobandit.com/cars/d-1920.png")]
    # A real src wins over lazy attributes.
    assert _card_images('<img src="/cars/e.png" data-src="/cars/f.png">') == [
        ("src", "https://autobandit.com/cars/e.png")
    ]


def test_images_are_deduplicated_in_order_and_chrome_dropped() -> None:
    imgs = (
        '<img alt="Kia logo" src="/cars/brand-mark.png">'
        f'<img src="/_next/image?url={ENCODED}&amp;w=640&amp;q=75">'
        '<img src="/cars/second.png" width="640">'
        f'<img src="/_next/image?url={ENCODED}&amp;w=3840&amp;q=100">'
        '<img src="/cars/tiny.png" width="16" height="16">'
        '<img src="/icons/fire-icon.7d9e0c1b.svg">'
    )
    assert [origin for _attr, origin in _card_images(imgs)] == [
        INNER,
        "https://autobandit.com/cars/second.png",
    ]


# --------------------------------------------------------------------------------- money and characters


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        (f"From${173}{ZWJ}/mo.", 173),
        (f"MSRP{NBSP}from{NBSP}$23,945", 23945),
        (f"$23{THIN}945", 23945),
        (f"$23{NARROW_NBSP}945", 23945),
        (f"${ZWJ}1{ZWJ},{ZWJ}234", 1234),
        ("\ufeff$\u200b42,705\u2060", 42705),
        ("＄288", 288),
        ("$172.50/mo", 173),
        ("$172.49", 172),
        ("$0", 0),
        ("Up to $5,250 in incentives", 5250),
        ("10,000", 10000),
        ("$—", None),
        ("$NaN/mo.", None),
        ("$undefined", None),
        ("Call for pricing", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_money(text: str | None, amount: int | None) -> None:
    result = parse_money(text)
    assert result == _money(amount)
    if result is not None:
        assert isinstance(result, Decimal) and result == result.to_integral_value()


@settings(database=None)  # keep the run from writing a .hypothesis/ directory into the repository
@given(
    st.integers(min_value=0, max_value=9_999_999),
    st.lists(st.sampled_from([ZWJ, "\u200b", "\u2060", "\ufeff"]), max_size=3),
)
def test_parse_money_survives_invisible_characters(amount: int, junk: list[str]) -> None:
    text = "From $" + f"{amount:,}" + "".join(junk) + "/mo."
    spliced = text[:7] + "".join(junk) + text[7:]
    assert parse_money(spliced) == Decimal(amount)


def test_invisible_characters_in_a_card() -> None:
    html = (
        '<div class="js-offer-card"><a href="/deals/kia-k4"></a>'
        f"<h3>2025{NBSP}Kia{NARROW_NBSP}K4{ZWJ}</h3>"
        f"<p>MSRP&#160;from&#8203;$24{THIN}185</p>"
        f"<div><span>From</span><span>$2&zwj;75&zwj;<span>/mo.</span></span></div>"
        f"<p>Up&nbsp;to $3,455&#x200D; in incentives</p>"
        "<p>$2,999 due at signing · 36-month lease · 10k mi/yr</p></div>"
    )
    (offer,) = parse_listing(html, "https://autobandit.com/deals").offers
    assert (offer.title, offer.year, offer.make, offer.model) == ("2025 Kia K4", 2025, "Kia", "K4")
    assert (offer.msrp, offer.monthly, offer.incentives) == (Decimal(24185), Decimal(275), Decimal(3455))
    assert (offer.due_at_signing, offer.term_months, offer.miles_per_year) == (Decimal(2999), 36, 10_000)
    assert offer.external_id == "kia-k4"


def test_clean_text_keeps_plain_spaces_between_numbers() -> None:
    assert clean_text(f"  Show{NBSP} 6{ZWJ}  Trims ") == "Show 6 Trims"
    assert parse_money("$2 3 trims") == Decimal(2)


# ------------------------------------------------------------------------------------ titles and matching


@pytest.mark.parametrize(
    ("title", "parts"),
    [
        ("2025 Toyota Tacoma 2WD", (2025, "Toyota", "Tacoma 2WD", True)),
        ("2025 Hyundai IONIQ 5", (2025, "Hyundai", "IONIQ 5", True)),
        ("Toyota Corolla", (None, "Toyota", "Corolla", True)),
        ("2024 Mercedes-Benz GLC 300", (2024, "Mercedes-Benz", "GLC 300", True)),
        ("2024 Land Rover Defender 110", (2024, "Land Rover", "Defender 110", True)),
        ("2026 Zorp Glider", (2026, "Zorp", "Glider", False)),
    ],
)
def test_split_title(title: str, parts: tuple[Any, ...]) -> None:
    assert split_title(title) == parts


def test_match_key_ignores_case_space_punctuation_and_aliases() -> None:
    key = match_key(2025, "Hyundai", "IONIQ 5")
    assert key == "2025|hyundai|ioniq5|"
    assert match_key("2025", " hyundai ", "Ioniq-5") == key
    assert match_key(2025, "HYUNDAI", f"IONIQ{NBSP}5{ZWJ}", None) == key
    assert match_key(2024, "Mercedes Benz", "GLC300") == match_key(2024, "Mercedes-Benz", "GLC 300")
    assert match_key(2025, "Chevy", "Bolt EV") == match_key(2025, "Chevrolet", "Bolt EV")
    assert match_key(2025, "Škoda", "Octavia") == match_key(2025, "skoda", "octavia")
    # What must stay distinct.
    assert match_key(2026, "Hyundai", "IONIQ 5") != key
    assert match_key(2025, "Hyundai", "IONIQ 6") != key
    assert match_key(2025, "Hyundai", "IONIQ 5", "SEL") != key
    assert match_key(2025, "Hyundai", "IONIQ 5", "SEL") == match_key(2025, "hyundai", "ioniq 5", "S.E.L.")
    assert match_key(None, "Toyota", "Corolla") == "|toyota|corolla|"


# ----------------------------------------------------------------------------------- merging, pagination


def test_model_page_overrides_and_completes_its_card() -> None:
    card = ScrapedOfferData(
        title="2025 Kia K4",
        year=2025,
        make="Kia",
        model="K4",
        msrp=Decimal(24185),
        monthly=None,
        external_id="kia-k4",
        warnings=("monthly: not found",),
    )
    detail = card.replace(msrp=Decimal(24000), monthly=Decimal(275), term_months=36, warnings=())
    merged = merge_offers(card, detail, prefer_extra=True)
    assert (merged.msrp, merged.monthly, merged.term_months) == (Decimal(24000), Decimal(275), 36)
    assert merged.warnings == ()
    # A duplicate card only fills gaps; a disagreement is reported, the first value kept.
    filled = merge_offers(card, detail)
    assert (filled.msrp, filled.monthly) == (Decimal(24185), Decimal(275))
    assert any("msrp" in w and "24000" in w for w in filled.warnings)


def test_fingerprint_tracks_figures() -> None:
    offers, listing = parsed("deals.html")
    assert listing is not None
    desktop, mobile = offers[0], offers[14]
    assert desktop.external_id == mobile.external_id == "hyundai-elantra"
    assert desktop.fingerprint == mobile.fingerprint
    assert desktop.replace(monthly=Decimal(174)).fingerprint != desktop.fingerprint


@pytest.mark.parametrize(
    "nav",
    [
        '<link rel="next" href="/deals?page=2">',
        '<nav aria-label="Pagination"><a href="/deals?page=1">1</a><a href="?page=2">Next</a></nav>',
        '<div class="pagination"><a href="/deals?page=2" aria-label="Next page">›</a></div>',
    ],
)
def test_next_page_link(nav: str) -> None:
    listing = parse_listing(f"<html><head></head><body>{nav}</body></html>", "https://autobandit.com/deals")
    assert listing.next_page_url == "https://autobandit.com/deals?page=2"
