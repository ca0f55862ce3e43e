"""The operator's words on the pack page: an album's description and credits and a track's
lyrics, written in Markdown in the console and shown as HTML.

Two locks, one after the other. markdown-it renders CommonMark with raw HTML off (a ``<script>``
typed in the text comes out as text) and refuses ``javascript:``-style links; then ``nh3`` (the
Rust ``ammonia`` sanitiser) keeps only the tags and attributes listed here, links only to
``http``, ``https`` and ``mailto`` addresses, each with ``rel="noopener noreferrer nofollow"``.
Whatever markdown-it lets through by mistake, the allow-list still stands.

Headings and images are off: the album's title is the page's heading, and an image from
elsewhere would be blocked by the store's CSP and tell a third party who looked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

#: Most characters each text may have (the console says so; the forms stay far below the
#: app's 64 KiB form cap even in three-byte UTF-8, percent-encoded).
LIMITS = {"description": 3000, "credits": 3000, "lyrics": 6000}

ALLOWED_TAGS = frozenset({"p", "br", "em", "strong", "a", "ul", "ol", "li", "blockquote", "code", "pre", "hr"})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"


@functools.cache
def _markdown() -> MarkdownIt:
    # "breaks": a line break in lyrics or credits stays a line break.
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).disable(["heading", "lheading", "image"])


def sanitise(html: str) -> str:
    """``html`` cut down to :data:`ALLOWED_TAGS` and their :data:`ALLOWED_ATTRIBUTES`
    (everything else removed; the content of ``script`` and ``style`` too)."""
    return nh3.clean(
        html, tags=set(ALLOWED_TAGS), attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, clean_content_tags={"script", "style"},
        strip_comments=True,
    )


def render(text: str) -> Markup:
    """``text`` (the operator's Markdown) as safe HTML; the empty text gives the empty string."""
    if not text.strip():
        return Markup("")
    return Markup(sanitise(_markdown().render(text)))


@dataclass(frozen=True)
class TextError:
    field: str
    message: str


def clean_text(value: str) -> str:
    """A posted text as it is stored: line ends made ``\\n``, NUL and other control characters
    (bar tab and line feed) dropped, surrounding blank space trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in value if c in "\n\t" or c >= " " and c != "\x7f").strip()


def check_length(field: str, value: str, label: str, verb: str = "is") -> TextError | None:
    """An error naming ``label`` ("The credits", with ``verb`` "are") when ``value`` is longer
    than the field's limit."""
    limit = LIMITS[field]
    if len(value) > limit:
        return TextError(field, f"{label} {verb} {len(value):,} characters long; at most {limit:,} are allowed.")
    return None
