"""The store's own pages (about and contact, terms, privacy, refunds): Markdown the operator
edits, rendered to HTML with raw HTML turned off.

Each page is a file ``<name>.md``: the operator's copy in ``PAGES_DIR`` when there is one,
else the default shipped in ``shop/store/pages/``. The first ``# heading`` is the page title;
the first paragraph after it is the page's meta description.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

DEFAULTS = Path(__file__).resolve().parent / "pages"

#: name -> the footer's label, in footer order. Only these names are pages: a URL can never
#: name a file.
PAGES: dict[str, str] = {
    "about": "About & contact",
    "terms": "Terms",
    "privacy": "Privacy",
    "refunds": "Refunds",
}


@dataclass(frozen=True)
class PolicyPage:
    name: str
    title: str
    description: str
    html: Markup


@functools.cache
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML off: a <script> or <img onerror> in a page file is shown as
    # text, never run. markdown-it also refuses javascript:, vbscript: and data: links.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def page_path(name: str, pages_dir: str | None) -> Path:
    """The operator's copy of page ``name`` when it exists, else the shipped default.

    :raises KeyError: when ``name`` is not one of :data:`PAGES`.
    """
    if name not in PAGES:
        raise KeyError(name)
    if pages_dir:
        own = Path(pages_dir) / f"{name}.md"
        if own.is_file():
            return own
    return DEFAULTS / f"{name}.md"


def render_markdown(text: str) -> Markup:
    """``text`` (Markdown) as safe HTML: raw HTML in it is escaped."""
    return Markup(_markdown().render(text))


def load_page(name: str, pages_dir: str | None) -> PolicyPage:
    """Page ``name`` read and rendered (small files: read on every call, so an operator's
    edit shows at once).

    :raises KeyError: when ``name`` is not one of :data:`PAGES`.
    """
    text = page_path(name, pages_dir).read_text(encoding="utf-8")
    title, description = PAGES[name], ""
    tokens = _markdown().parse(text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and title == PAGES[name]:
            title = tokens[index + 1].content
        elif token.type == "paragraph_open" and not description:
            description = "".join(child.content for child in tokens[index + 1].children or ()
                                  if child.type in {"text", "code_inline"})
    plain = " ".join(description.split())
    return PolicyPage(name, title, plain[:200], render_markdown(text))
