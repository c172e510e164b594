"""Which ``<img>`` of a competitor card is the car, and what its real URL is.

Rules (see ``shared/data/autobandit/README.md``):

* the link is ``src`` unless ``src`` is empty, a ``data:`` URI or a placeholder; then ``data-src``,
  ``data-lazy-src``, ``data-original`` and finally the largest ``srcset`` entry are tried;
* icons, logos, badges, avatars, banners, illustrations, placeholders, SVG sprites and ``data:`` URIs
  are skipped, whether they are plain links or wrapped in the Next.js optimiser;
* ``/_next/image?url=<inner>&w=..`` is unwrapped: the inner URL is percent-decoded and resolved against
  the page URL;
* duplicates (same picture at another size) are dropped, first occurrence wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import Tag

from app.integrations.autobandit.models import ImageRef

__all__ = ["collect_images", "image_source", "is_ignored_image", "unwrap_image_url"]

# Paths of image-optimiser endpoints whose real picture sits in the ``url`` query parameter.
_OPTIMISER_PATHS = ("/_next/image", "/_vercel/image")

# Words that mark a picture as chrome rather than a car photo. Matched against whole words of the path
# (split on non-alphanumerics), so an opaque id such as "MzI0NDIxXk1lZGlh" never triggers by accident.
_CHROME_WORDS = frozenset(
    {
        "avatar",
        "avatars",
        "badge",
        "badges",
        "banner",
        "banners",
        "blank",
        "brands",
        "favicon",
        "icon",
        "icons",
        "illustration",
        "illustrations",
        "loader",
        "loading",
        "logo",
        "logos",
        "noimage",
        "pixel",
        "placeholder",
        "placeholders",
        "spacer",
        "spinner",
        "sprite",
        "sprites",
    }
)
_CHROME_EXTENSIONS = (".svg", ".ico")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_ALT_CHROME = re.compile(r"\b(?:logo|icon|avatar|badge)\b", re.IGNORECASE)
# Brand logos are served at 64 px and icons at 12-28 px; the smallest car picture is 320 px wide.
_MAX_CHROME_WIDTH = 96
_FALLBACK_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url")
_SRCSET_ATTRS = ("srcset", "data-srcset")


def unwrap_image_url(url: str, base_url: str) -> str:
    """Return the picture behind an optimiser link, absolute; other links are just made absolute.

    ``/_next/image?url=http%3A%2F%2Fmedia.example%2Fcar.png&w=3840&q=100`` becomes
    ``http://media.example/car.png``; a relative inner URL (``%2Fimages%2Fcar.png``) is resolved against
    ``base_url``. The query is split by hand because ``parse_qs`` would turn a literal ``+`` into a space.
    """
    absolute = urljoin(base_url, url.strip())
    # Optimiser links are not nested in practice; the bound only guards against a pathological loop.
    for _ in range(3):
        parts = urlsplit(absolute)
        if not parts.path.rstrip("/").endswith(_OPTIMISER_PATHS):
            break
        inner = _query_param(parts.query, "url")
        if not inner:
            break
        # The optimiser only serves site-relative paths or absolute URLs, so the page URL is the base.
        absolute = urljoin(base_url or absolute, unquote(inner))
    return absolute


def _query_param(query: str, name: str) -> str | None:
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and key == name:
            return value
    return None


def _path_words(url: str) -> set[str]:
    return set(_WORD_SPLIT.split(urlsplit(url).path.lower()))


def is_ignored_image(url: str, base_url: str = "") -> bool:
    """True for links that are not car photos: ``data:`` URIs, SVG/ICO files, logos, icons, badges,
    avatars, banners, illustrations and placeholders, including when wrapped in ``/_next/image``."""
    raw = url.strip()
    if not raw or raw.lower().startswith(("data:", "blob:", "javascript:", "about:")):
        return True
    wrapper = urljoin(base_url, raw)
    width = _query_param(urlsplit(wrapper).query, "w")
    if width is not None and width.isdigit() and int(width) <= _MAX_CHROME_WIDTH:
        return True
    origin = unwrap_image_url(raw, base_url)
    if origin.lower().startswith("data:"):
        return True
    path = urlsplit(origin).path.lower()
    if path.endswith(_CHROME_EXTENSIONS):
        return True
    return bool(_path_words(origin) & _CHROME_WORDS)


def _largest_srcset_entry(srcset: str) -> str | None:
    best: tuple[float, str] | None = None
    for candidate in srcset.split(","):
        bits = candidate.split()
        if not bits:
            continue
        descriptor = bits[1] if len(bits) > 1 else "1x"
        try:
            size = float(descriptor[:-1])
        except ValueError:
            continue
        if best is None or size > best[0]:
            best = (size, bits[0])
    return None if best is None else best[1]


def _usable(value: str | None, base_url: str) -> bool:
    return bool(value and value.strip()) and not is_ignored_image(value or "", base_url)


def image_source(img: Tag, base_url: str) -> tuple[str, str] | None:
    """Pick the attribute holding ``img``'s real picture: ``(attribute name, raw value)`` or ``None``.

    ``src`` wins when it is a usable link; lazy-loading attributes are read only when ``src`` is empty,
    a ``data:`` stub or a placeholder (a ``src``-only rule finds nothing on JS-lazy cards).
    """
    src = _attr(img, "src")
    if _usable(src, base_url):
        return "src", (src or "").strip()
    for name in _FALLBACK_ATTRS:
        value = _attr(img, name)
        if _usable(value, base_url):
            return name, (value or "").strip()
    for name in _SRCSET_ATTRS:
        value = _attr(img, name)
        entry = _largest_srcset_entry(value) if value else None
        if entry and _usable(entry, base_url):
            return name, entry
    return None


def _attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    if isinstance(value, list):  # bs4 returns lists for multi-valued attributes such as class
        return " ".join(value)
    return value


def _is_chrome_tag(img: Tag) -> bool:
    alt = _attr(img, "alt") or ""
    if _ALT_CHROME.search(alt):
        return True
    for name in ("width", "height"):
        value = (_attr(img, name) or "").strip()
        if value.isdigit() and int(value) <= _MAX_CHROME_WIDTH // 2:
            return True
    return False


def collect_images(imgs: Iterable[Tag], base_url: str) -> list[ImageRef]:
    """Return the car pictures among ``imgs`` in order, one per distinct picture."""
    seen: set[str] = set()
    found: list[ImageRef] = []
    for img in imgs:
        if _is_chrome_tag(img):
            continue
        picked = image_source(img, base_url)
        if picked is None:
            continue
        attr, raw = picked
        origin = unwrap_image_url(raw, base_url)
        if origin in seen:
            continue
        seen.add(origin)
        found.append(ImageRef(url=urljoin(base_url, raw), origin_url=origin, attr=attr, raw=raw))
    return found
