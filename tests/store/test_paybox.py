"""The pay box (issue 22): preset amounts, the beat-the-average bonus album with a threshold
that cannot move under the buyer, and the split a buyer chooses (checked on the server, kept
on the order, shown on the order page, the receipt and the stats)."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from shop.extensions import db
from shop.models import Order, Pack
from shop.splits import Artist, Split, bonus_threshold, equal_shares, split_amounts
from shop.store.paybox import THRESHOLD_HELD, honoured_threshold, sign_threshold
from tests import factories

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

THRESHOLD_FIELD = re.compile(r'name="threshold" value="([^"]+)"')


def form_errors(html: str) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]*)<', html)


def shown_threshold(html: str) -> str:
    match = re.search(r'data-stat="threshold">([^<]*)<', html)
    assert match, "no threshold on the page"
    return match.group(1)


def threshold_token(html: str) -> str:
    match = THRESHOLD_FIELD.search(html)
    assert match, "no threshold field in the form"
    return match.group(1)


def order_count() -> int:
    return int(db.session.scalar(select(func.count(Order.id))) or 0)


def newest_order() -> Order:
    order = db.session.scalar(select(Order).order_by(Order.id.desc()).limit(1))
    assert order is not None
    db.session.refresh(order)
    return order


def paid_orders(app: Flask, pack: Pack, *amounts: int) -> None:
    for n, cents in enumerate(amounts):
        factories.make_order(app, pack, email=f"fan{n}-{cents}-{time.monotonic_ns()}@example.com", amount_cents=cents)


@pytest.fixture
def bonus_pack(app: Flask) -> Pack:
    """On sale, $1.00 minimum, $5.00 suggested, a charity, the second album the bonus."""
    pack = factories.make_pack(app, slug="bonus-pack", min_price_cents=100, suggested_price_cents=500)
    pack.charity_name, pack.charity_min_percent, pack.store_min_percent = "Open Strings", 5, 5
    pack.split_artists, pack.split_charity, pack.split_store = 80, 10, 10
    pack.albums[1].is_bonus = True
    db.session.commit()
    return pack


def buy(client: FlaskClient, pack: Pack, **fields: str) -> Any:
    return client.post(f"/packs/{pack.slug}/buy", data={"email": "fan@example.com", **fields})


# ------------------------------------------------------------------------------- the rule


def test_the_threshold_rule() -> None:
    assert bonus_threshold(0, 0, 500) == 500  # no orders: the suggested price
    assert bonus_threshold(3, 1000, 500) == 500  # an average of $3.34 is below it
    assert bonus_threshold(9, 9 * 1200, 500) == 1200
    assert bonus_threshold(10, 1001, 5000) == 101  # from 10 orders: the average alone, rounded up
    assert bonus_threshold(10, 1000, 5000) == 100


def test_split_amounts_add_up_to_what_was_paid() -> None:
    artists = (Artist(1, "A"), Artist(2, "B"), Artist(3, "C"))
    split = Split(80, 13, 7, tuple(zip(artists, equal_shares(3), strict=True)))
    for amount in (0, 1, 99, 100, 901, 12345, 99_999_999):
        parts = split_amounts(amount, split)
        assert parts.artists + parts.charity + parts.store == amount
        assert sum(cents for _, cents in parts.per_artist) == parts.artists
    assert split_amounts(1000, split).per_artist == (("A", 272), ("B", 264), ("C", 264))
    assert equal_shares(3) == [34, 33, 33]


# ------------------------------------------------------------------------------- presets


def test_preset_buttons_carry_their_amounts_without_javascript(app: Flask, client: FlaskClient,
                                                               bonus_pack: Pack) -> None:
    paid_orders(app, bonus_pack, 1200, 1250)  # average $12.25: the third preset is $13.00
    html = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    presets = re.findall(r'<button type="submit" class="button preset" name="preset" value="([^"]+)"', html)
    assert presets == ["1.00", "5.00", "13.00"]
    # Enter in a field submits the first submit button: the plain "Buy", never a preset.
    first_submit = re.search(r'<button type="submit"[^>]*>', html)
    assert first_submit and 'name="preset"' not in first_submit.group(0)
    response = buy(client, bonus_pack, amount="7.00", preset="13.00")
    assert response.status_code == 303, form_errors(response.get_data(as_text=True))
    assert newest_order().amount_cents == 1300
    # A preset is checked like any amount.
    refused = buy(client, bonus_pack, amount="7.00", preset="0.10")
    assert refused.status_code == 400 and "minimum" in " ".join(form_errors(refused.get_data(as_text=True)))


def test_the_operators_presets_replace_the_defaults(app: Flask, client: FlaskClient, bonus_pack: Pack) -> None:
    bonus_pack.preset_amounts = "700 1500 4000"
    db.session.commit()
    html = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    assert re.findall(r'name="preset" value="([^"]+)"', html) == ["7.00", "15.00", "40.00"]


# ------------------------------------------------------------------------------- beat the average


def test_a_shown_threshold_holds_after_the_average_rises(app: Flask, client: FlaskClient, bonus_pack: Pack) -> None:
    """Shown $9.01; the average then rises to $12.00; paying $9.02 with the page's form still
    gets the bonus album. The same payment without the signed field does not."""
    paid_orders(app, bonus_pack, *([900] * 9), 910)  # 10 orders, average $9.01
    page = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    assert shown_threshold(page) == "$9.01"
    token = threshold_token(page)
    paid_orders(app, bonus_pack, *([1499] * 10))  # 20 orders, average $12.00
    assert client.get(f"/packs/{bonus_pack.slug}/stats.json").json["threshold_cents"] == 1200

    assert buy(client, bonus_pack, amount="9.02", threshold=token).status_code == 303
    held = newest_order()
    assert (held.amount_cents, held.bonus_unlocked, held.bonus_threshold_cents) == (902, True, 901)

    assert buy(client, bonus_pack, amount="9.02", email="late@example.com").status_code == 303
    late = newest_order()
    assert (late.bonus_unlocked, late.bonus_threshold_cents) == (False, 1200)


def test_exactly_the_threshold_does_not_beat_it(app: Flask, client: FlaskClient, bonus_pack: Pack) -> None:
    paid_orders(app, bonus_pack, *([900] * 9), 910)
    token = threshold_token(client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True))
    buy(client, bonus_pack, amount="9.01", threshold=token)
    assert newest_order().bonus_unlocked is False
    buy(client, bonus_pack, amount="9.02", threshold=token, email="other@example.com")
    assert newest_order().bonus_unlocked is True


def test_below_ten_orders_the_suggested_price_is_the_floor(app: Flask, client: FlaskClient,
                                                          bonus_pack: Pack) -> None:
    paid_orders(app, bonus_pack, 100, 100)
    page = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    assert shown_threshold(page) == "$5.00"
    assert "at least the suggested price" in page
    buy(client, bonus_pack, amount="5.00", threshold=threshold_token(page))
    assert newest_order().bonus_unlocked is False


@pytest.mark.parametrize("forge", ["tampered", "expired", "other pack", "garbage"])
def test_a_forged_or_stale_threshold_is_not_honoured(app: Flask, client: FlaskClient, bonus_pack: Pack,
                                                     forge: str) -> None:
    paid_orders(app, bonus_pack, *([1200] * 10))  # the current threshold is $12.00
    token = threshold_token(client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True))
    value, _, rest = token.partition(":")
    assert value == str(bonus_pack.id) and rest.startswith("1200.")
    forged = {
        "tampered": f"{bonus_pack.id}:100" + rest[len("1200"):],
        "expired": sign_threshold(bonus_pack.id, 100, at=time.time() - THRESHOLD_HELD.total_seconds() - 1),
        "other pack": sign_threshold(bonus_pack.id + 1, 100),
        "garbage": "x" * 5000,
    }[forge]
    response = buy(client, bonus_pack, amount="9.02", threshold=forged)
    assert response.status_code == 303  # falls back to the current threshold: no error, no bonus
    order = newest_order()
    assert (order.bonus_unlocked, order.bonus_threshold_cents) == (False, 1200)


def test_the_hold_lasts_sixty_minutes() -> None:
    app = Flask(__name__)
    app.secret_key = "k"
    with app.app_context():
        signed_at = 1_800_000_000.0
        token = sign_threshold(7, 901, at=signed_at)
        hold = THRESHOLD_HELD.total_seconds()
        assert honoured_threshold(token, 7, 1200, now=signed_at + hold - 1) == 901
        assert honoured_threshold(token, 7, 1200, now=signed_at + hold + 1) == 1200
        assert honoured_threshold(token, 7, 800, now=signed_at) == 800  # a falling average helps too
        app.secret_key = "another key"
        assert honoured_threshold(token, 7, 1200, now=signed_at) == 1200


def test_a_pack_without_a_bonus_album_unlocks_nothing(app: Flask, client: FlaskClient, pack: Pack) -> None:
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert "Beat the average" not in page
    buy(client, pack, amount="900.00", threshold=threshold_token(page))
    order = newest_order()
    assert (order.bonus_unlocked, order.bonus_threshold_cents) == (False, None)


# ------------------------------------------------------------------------------- the split

def artist_fields(pack: Pack, first: str, second: str) -> dict[str, str]:
    return {f"split_artist_{pack.albums[0].id}": first, f"split_artist_{pack.albums[1].id}": second}


def test_the_page_starts_from_the_packs_split_with_the_minimums_shown(client: FlaskClient, bonus_pack: Pack) -> None:
    html = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    for name, value in (("split_artists", "80"), ("split_charity", "10"), ("split_store", "10")):
        assert re.search(rf'<label for="{name}">', html), name
        assert re.search(rf'name="{name}" type="number" min="\d+" max="100" step="1"[^>]*value="{value}"', html)
    assert "At least 5 % to the store." in html and "At least 5 % to Open Strings." in html
    assert "Adjust per artist" in html
    for album in bonus_pack.albums:  # one slider per artist, starting equal
        assert re.search(rf'name="split_artist_{album.id}"[^>]*value="50"', html)


def amounts_shown(html: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="split-amount" data-amount-of="([a-z_0-9]+)">([^<]*)</span>', html))


def test_the_page_writes_what_each_share_gives_of_the_price(client: FlaskClient, bonus_pack: Pack) -> None:
    """The words beside each split field come with the page (the script only keeps them up to
    date), with the script's arithmetic: charity and store rounded down, the rest to the
    artists, each artist's part of that rounded down."""
    first, second = (album.id for album in bonus_pack.albums[:2])
    shown = amounts_shown(client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True))
    assert shown == {
        "split_artists": "80 %: $4.00 to the artists", "split_charity": "10 %: $0.50 to Open Strings",
        "split_store": "10 %: $0.50 to the store",
        f"split_artist_{first}": f"50 %: $2.00 to {bonus_pack.albums[0].artist}",
        f"split_artist_{second}": f"50 %: $2.00 to {bonus_pack.albums[1].artist}",
    }
    # A form sent back with an error shows the amounts of what was typed; $12.35 at 79/10/11:
    # $1.23 to the charity, $1.35 to the store, the $9.77 left to the artists, 70 % of it $6.83.
    html = buy(client, bonus_pack, amount="12.35", split_artists="79", split_charity="10", split_store="11",
               **artist_fields(bonus_pack, "70", "31")).get_data(as_text=True)
    assert form_errors(html)
    shown = amounts_shown(html)
    assert shown["split_charity"] == "10 %: $1.23 to Open Strings"
    assert shown["split_store"] == "11 %: $1.35 to the store"
    assert shown["split_artists"] == "79 %: $9.77 to the artists"
    assert shown[f"split_artist_{first}"] == f"70 %: $6.83 to {bonus_pack.albums[0].artist}"
    # Nothing typed that reads as an amount: nothing to share.
    html = buy(client, bonus_pack, amount="lots", split_artists="x").get_data(as_text=True)
    assert amounts_shown(html)["split_artists"] == "0 %: $0.00 to the artists"


SPLIT_ERRORS = {
    "sums to 99": ({"split_artists": "79", "split_charity": "10", "split_store": "10"}, "add up to 99 %"),
    "store minimum": ({"split_artists": "88", "split_charity": "10", "split_store": "2"},
                      "At least 5 % goes to the store"),
    "charity minimum": ({"split_artists": "94", "split_charity": "1", "split_store": "5"},
                        "At least 5 % goes to Open Strings"),
    "not whole": ({"split_artists": "79.5", "split_charity": "10.5", "split_store": "10"}, "whole percentage"),
    "negative": ({"split_artists": "-10", "split_charity": "100", "split_store": "10"}, "whole percentage"),
    "missing one": ({"split_artists": "90", "split_store": "10", "split_charity": ""}, "whole percentage"),
}


@pytest.mark.parametrize("fields, message", list(SPLIT_ERRORS.values()), ids=list(SPLIT_ERRORS))
def test_a_bad_split_is_a_form_error_that_keeps_every_value(client: FlaskClient, bonus_pack: Pack,
                                                            fields: dict[str, str], message: str) -> None:
    sent = {"amount": "23.45", "email": "keep@example.com", **fields, **artist_fields(bonus_pack, "70", "30")}
    response = buy(client, bonus_pack, **sent)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert any(message in error for error in form_errors(html)), form_errors(html)
    for name, value in sent.items():
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', html), (name, value)
    assert order_count() == 0


ARTIST_ERRORS = {
    "artists sum to 99": (("60", "39"), "add up to 99 %"),
    "not a number": (("sixty", "40"), "whole percentage"),
}


@pytest.mark.parametrize("shares, message", list(ARTIST_ERRORS.values()), ids=list(ARTIST_ERRORS))
def test_a_bad_artist_split_is_a_form_error(client: FlaskClient, bonus_pack: Pack, shares: tuple[str, str],
                                            message: str) -> None:
    sent = {"amount": "10.00", **artist_fields(bonus_pack, *shares)}
    response = buy(client, bonus_pack, **sent)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and any(message in e for e in form_errors(html)), form_errors(html)
    assert '<details class="per-artist" open>' in html
    for name, value in sent.items():
        assert re.search(rf'name="{name}"[^>]*value="{value}"', html)
    assert order_count() == 0


def test_an_unknown_or_missing_artist_is_refused(client: FlaskClient, bonus_pack: Pack) -> None:
    other = factories.make_pack(client.application, slug="other-pack")
    unknown = buy(client, bonus_pack, amount="10.00", **artist_fields(bonus_pack, "50", "40"),
                  **{f"split_artist_{other.albums[0].id}": "10"})
    assert unknown.status_code == 400 and "not an artist of this pack" in unknown.get_data(as_text=True)
    missing = buy(client, bonus_pack, amount="10.00", **{f"split_artist_{bonus_pack.albums[0].id}": "100"})
    assert missing.status_code == 400 and "every artist" in missing.get_data(as_text=True)
    assert order_count() == 0


def test_a_pack_without_a_charity_gives_it_nothing(client: FlaskClient, pack: Pack) -> None:
    html = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert 'name="split_charity"' not in html
    refused = buy(client, pack, amount="10.00", split_artists="80", split_charity="10", split_store="10")
    assert refused.status_code == 400 and "no charity" in refused.get_data(as_text=True)
    assert buy(client, pack, amount="10.00", split_artists="95", split_store="5").status_code == 303
    order = newest_order()
    assert (order.split_artists, order.split_charity, order.split_store) == (95, 0, 5)


def test_the_order_keeps_its_split_and_shows_it(app: Flask, client: FlaskClient, bonus_pack: Pack) -> None:
    response = buy(client, bonus_pack, amount="20.00", split_artists="60", split_charity="30", split_store="10",
                   **artist_fields(bonus_pack, "75", "25"))
    assert response.status_code == 303
    order = newest_order()
    assert (order.split_artists, order.split_charity, order.split_store) == (60, 30, 10)
    confirmed = client.post(response.headers["Location"])  # the test provider's pay page
    page = client.get(confirmed.headers["Location"]).get_data(as_text=True)
    assert "Your split: 60 % to the artists, 30 % to Open Strings, 10 % to the store" in page
    first, second = (a.artist for a in bonus_pack.albums)
    assert f"$9.00 to {first}, $3.00 to {second}" in page.replace("&amp;", "&")
    assert "$6.00 to Open Strings" in page and "$2.00 to the store" in page
    mails = [p.read_bytes() for p in Path(app.config["OUTBOX_DIR"]).glob("*.eml")]
    assert len(mails) == 1
    receipt = message_from_bytes(mails[0], policy=policy.default)
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "$12.00 (60 %) to the artists" in text and "$6.00 (30 %) to Open Strings" in text


def test_a_form_without_split_fields_takes_the_packs_default(client: FlaskClient, bonus_pack: Pack) -> None:
    assert buy(client, bonus_pack, amount="10.00").status_code == 303
    order = newest_order()
    assert (order.split_artists, order.split_charity, order.split_store) == (80, 10, 10)


# ------------------------------------------------------------------------------- stats


def test_the_stats_show_the_threshold_and_the_split_of_all_money(app: Flask, client: FlaskClient,
                                                                  bonus_pack: Pack) -> None:
    paid_orders(app, bonus_pack, 1000)  # bought before the pay box: the pack's default 80/10/10
    order, _ = factories.make_order(app, bonus_pack, email="split@example.com", amount_cents=2000)
    order.split_artists, order.split_charity, order.split_store = 50, 40, 10
    order.refunded_cents = 1000  # net of refunds: 1000 left at 50/40/10
    db.session.commit()
    stats = client.get(f"/packs/{bonus_pack.slug}/stats.json").json
    assert stats["purchases"] == 2 and stats["total_cents"] == 2000
    assert (stats["artists_cents"], stats["charity_cents"], stats["store_cents"]) == (1300, 500, 200)
    assert stats["threshold_cents"] == 1000 and stats["charity"] == "Open Strings"
    page = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    assert re.search(r'data-stat="raised_artists">\$13.00<', page)
    assert re.search(r'data-stat="raised_charity">\$5.00<', page)
    assert re.search(r'data-stat="raised_store">\$2.00<', page)
    assert shown_threshold(page) == "$10.00"
    paid_orders(app, bonus_pack, 4000)  # fresh on the next view (the page itself is cached)
    page = client.get(f"/packs/{bonus_pack.slug}").get_data(as_text=True)
    assert shown_threshold(page) == "$20.00"
