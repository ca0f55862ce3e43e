"""One amount grammar for buyers and operators (``shop.money``)."""

from __future__ import annotations

import pytest

from shop.catalog.pack_settings import InvalidPackSetting, parse_price
from shop.money import plain_cents
from shop.store.money import AmountError, parse_amount

GOOD = [
    ("0", 0), ("8", 800), ("8.5", 850), ("8.05", 805), (".50", 50), (" 12.34 ", 1234),
    ("999999999.99", 99999999999),
]
BAD = ["", "-1", "+1", "1e3", "1,00", "1.005", "NaN", "inf", "١٠", "１０", "$5", "1 000", "1234567890", "8."]


@pytest.mark.parametrize(("text", "cents"), GOOD)
def test_plain_amounts_give_cents(text: str, cents: int) -> None:
    assert plain_cents(text) == cents


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_refused_by_both_parsers(text: str) -> None:
    assert plain_cents(text) is None
    with pytest.raises(InvalidPackSetting):
        parse_price(text)
    with pytest.raises(AmountError):
        parse_amount(text, minimum_cents=0, maximum_cents=10**12)


@pytest.mark.parametrize(("text", "cents"), GOOD)
def test_buyer_and_operator_read_an_amount_alike(text: str, cents: int) -> None:
    assert parse_price(text) == cents
    assert parse_amount(text, minimum_cents=0, maximum_cents=10**12) == cents
