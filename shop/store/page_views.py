"""The store's own pages: about and contact, terms, privacy, refunds (see
:mod:`shop.store.policy_pages`)."""

from __future__ import annotations

from flask import current_app, render_template

from shop.store import bp
from shop.store.policy_pages import PAGES, load_page


@bp.app_template_global("policy_pages")
def policy_pages() -> dict[str, str]:
    """``{name: footer label}`` of the store's own pages, in footer order."""
    return PAGES


def show(name: str) -> str:
    page = load_page(name, current_app.config.get("PAGES_DIR"))
    return render_template("store/policy.html", page=page)


for _name in PAGES:
    bp.add_url_rule(f"/{_name}", _name, lambda name=_name: show(name), methods=["GET"])
