"""One amount grammar for buyers and operators (``shop.money``)."""

from __future__ import annotations

import re

import pytest

from shop.catalog.pack_settings import InvalidPackSetting, PackSettings, parse_price
from shop.currencies import STRIPE_MAXIMUM, format_plain, stripe_refusal
from shop.formatting import money
from shop.money import plain_cents
from shop.store.money import AmountError, parse_amount

GOOD = [
    ("0", 0), ("8", 800), ("8.5", 850), ("8.05", 805), (".50", 50), (" 12.34 ", 1234),
    ("999999.99", 99999999),
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


def test_the_grammar_allows_nine_digits_but_stripe_charges_at_most_99_999_999_minor_units() -> None:
    assert plain_cents("999999999.99") == 99999999999
    with pytest.raises(AmountError, match="The most we accept"):
        parse_amount("1000000.00", minimum_cents=0, maximum_cents=10**12)
    assert stripe_refusal(STRIPE_MAXIMUM, "USD") is None and stripe_refusal(STRIPE_MAXIMUM + 1, "USD")


# -- L3: every currency scaled as Stripe scales it --------------------------------------------

@pytest.mark.parametrize(("currency", "text", "minor", "shown"), [
    ("USD", "12.50", 1250, "$12.50"),
    ("EUR", "12.5", 1250, "€12.50"),
    ("JPY", "500", 500, "¥500"),
    ("JPY", "12345", 12345, "¥12,345"),
    ("KWD", "12.34", 12340, "12.340 KWD"),
    ("KWD", "12.340", 12340, "12.340 KWD"),
    ("BHD", ".5", 500, "0.500 BHD"),
])
def test_amounts_are_read_and_shown_in_the_currency_s_minor_unit(currency, text, minor, shown) -> None:
    assert plain_cents(text, currency) == minor
    assert parse_price(text, currency) == minor
    assert parse_amount(text, minimum_cents=0, maximum_cents=10**8, currency=currency) == minor
    assert money(minor, currency) == shown
    assert plain_cents(format_plain(minor, currency), currency) == minor


@pytest.mark.parametrize(("currency", "text", "message"), [
    ("JPY", "500.00", "whole numbers"),
    ("JPY", "5.5", "whole numbers"),
    ("USD", "1.005", "at most two decimal places"),
    ("KWD", "1.2345", "at most three decimal places"),
    # Stripe charges three-decimal currencies in steps of 10 thousandths.
    ("KWD", "12.345", "steps of 0.010 KWD"),
])
def test_more_decimals_than_the_currency_has_are_a_form_error(currency, text, message) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text, minimum_cents=0, maximum_cents=10**8, currency=currency)


@pytest.mark.parametrize(("currency", "below", "minimum"), [
    ("USD", "0.49", "$0.50"), ("EUR", "0.20", "€0.50"), ("JPY", "49", "¥50"), ("GBP", "0.29", "£0.30"),
])
def test_a_buyer_amount_under_stripe_s_minimum_is_a_form_error_naming_it(currency, below, minimum) -> None:
    with pytest.raises(AmountError, match=f"smallest payment .* in {currency} is {re.escape(minimum)}"):
        parse_amount(below, minimum_cents=0, maximum_cents=10**8, currency=currency)


@pytest.mark.parametrize(("currency", "minimum", "named"), [
    ("USD", 49, "0.50 USD"), ("EUR", 20, "0.50 EUR"), ("JPY", 10, "50 JPY"),
])
def test_a_pack_minimum_under_stripe_s_minimum_is_refused_naming_it(currency, minimum, named) -> None:
    with pytest.raises(InvalidPackSetting, match=f"below Stripe's minimum charge of {named}"):
        PackSettings(slug="p", currency=currency, min_price_cents=minimum, suggested_price_cents=10_000).validate()
    PackSettings(slug="p", currency=currency, min_price_cents=0, suggested_price_cents=10_000).validate()


def test_a_pack_in_a_currency_stripe_cannot_scale_is_refused() -> None:
    with pytest.raises(InvalidPackSetting, match="not one the store can take payments in"):
        PackSettings(slug="p", currency="XYZ").validate()
    with pytest.raises(InvalidPackSetting, match="cannot take payments in 'XYZ'"):
        parse_price("1.00", "XYZ")
