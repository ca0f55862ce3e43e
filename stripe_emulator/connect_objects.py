"""Builders for the Connect objects: Express accounts, Account Links, transfers, transfer
reversals and the balance, with the top-level fields of Stripe's published fixtures
(``stripe/openapi`` ``fixtures3.json``); what the emulator does not model is ``null`` or empty.
"""

from __future__ import annotations

from typing import Any

from .ids import new_id

#: What an Express account must still provide before onboarding is done (Stripe asks for
#: these in its hosted onboarding for an individual in the US; the emulator uses one list).
ONBOARDING_REQUIREMENTS = ["business_type", "external_account", "individual.address.city",
                           "individual.address.line1", "individual.address.postal_code",
                           "individual.dob.day", "individual.dob.month", "individual.dob.year",
                           "individual.email", "individual.first_name", "individual.last_name",
                           "individual.phone", "tos_acceptance.date", "tos_acceptance.ip"]

#: The settlement currency of an account in each country the emulator knows; others: usd.
COUNTRY_CURRENCIES = {
    "US": "usd", "CA": "cad", "GB": "gbp", "AU": "aud", "NZ": "nzd", "CH": "chf", "NO": "nok",
    "SE": "sek", "DK": "dkk", "PL": "pln", "CZ": "czk", "HU": "huf", "RO": "ron", "BG": "bgn",
    "JP": "jpy", "SG": "sgd", "HK": "hkd", "MX": "mxn",
    **{code: "eur" for code in ("AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR",
                                "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK")},
}


def requirements(due: list[str]) -> dict[str, Any]:
    """``requirements``/``future_requirements``: ``due`` is currently (and eventually) due."""
    return {"alternatives": [], "current_deadline": None, "currently_due": list(due),
            "disabled_reason": "requirements.past_due" if due else None, "errors": [],
            "eventually_due": list(due), "past_due": list(due), "pending_verification": []}


def account(*, created: int, country: str, email: str | None, default_currency: str,
            business_type: str | None, capabilities: dict[str, str],
            metadata: dict[str, str]) -> dict[str, Any]:
    """A new Express account: nothing submitted yet, every requested capability inactive."""
    account_id = new_id("acct_")
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {"annual_revenue": None, "estimated_worker_count": None,
                             "mcc": None, "minority_owned_business_designation": None,
                             "name": None, "product_description": None, "support_address": None,
                             "support_email": None, "support_phone": None, "support_url": None,
                             "url": None},
        "business_type": business_type,
        "capabilities": capabilities,
        "charges_enabled": False,
        "controller": {"fees": {"payer": "application_express"}, "is_controller": True,
                       "losses": {"payments": "application"},
                       "requirement_collection": "stripe",
                       "stripe_dashboard": {"type": "express"}, "type": "application"},
        "country": country,
        "created": created,
        "default_currency": default_currency,
        "details_submitted": False,
        "email": email,
        "external_accounts": {"object": "list", "data": [], "has_more": False,
                              "url": f"/v1/accounts/{account_id}/external_accounts"},
        "future_requirements": requirements([]),
        "metadata": metadata,
        "payouts_enabled": False,
        "requirements": requirements(ONBOARDING_REQUIREMENTS if capabilities else []),
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None,
                         "secondary_color": None},
            "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": False},
                              "statement_descriptor_prefix": None,
                              "statement_descriptor_prefix_kana": None,
                              "statement_descriptor_prefix_kanji": None},
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "payments": {"statement_descriptor": None, "statement_descriptor_kana": None,
                         "statement_descriptor_kanji": None},
            "payouts": {"debit_negative_balances": True,
                        "schedule": {"delay_days": 2, "interval": "daily"},
                        "statement_descriptor": None},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "express",
    }


def platform_account(*, account_id: str, created: int) -> dict[str, Any]:
    """``GET /v1/account`` without ``Stripe-Account``: the store's own (platform) account."""
    shown = account(created=created, country="US", email=None, default_currency="usd",
                    business_type="company", capabilities={"card_payments": "active",
                                                           "transfers": "active"}, metadata={})
    shown.update(id=account_id, type="standard", charges_enabled=True, payouts_enabled=True,
                 details_submitted=True, requirements=requirements([]),
                 controller={"is_controller": False, "type": "account"})
    shown["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
    return shown


def account_link(*, created: int, expires_at: int, url: str) -> dict[str, Any]:
    return {"object": "account_link", "created": created, "expires_at": expires_at, "url": url}


def transfer(*, created: int, amount: int, currency: str, destination: str,
             description: str | None, metadata: dict[str, str], transfer_group: str | None,
             source_transaction: str | None) -> dict[str, Any]:
    """A transfer from the platform's balance; ``reversals`` is filled in when served."""
    transfer_id = new_id("tr_")
    return {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": None,
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": new_id("py_"),
        "livemode": False,
        "metadata": metadata,
        "reversals": {"object": "list", "data": [], "has_more": False,
                      "url": f"/v1/transfers/{transfer_id}/reversals"},
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def transfer_reversal(*, created: int, amount: int, currency: str, transfer: str,
                      metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "id": new_id("trr_"),
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": None,
        "created": created,
        "currency": currency,
        "destination_payment_refund": new_id("pyr_"),
        "metadata": metadata,
        "source_refund": None,
        "transfer": transfer,
    }


def balance(available: dict[str, int], pending: dict[str, int], platform: bool,
            default_currency: str) -> dict[str, Any]:
    """The ``balance`` object: one entry per currency (the default currency when empty)."""
    currencies = sorted(set(available) | set(pending)) or [default_currency]

    def funds(amounts: dict[str, int]) -> list[dict[str, Any]]:
        return [{"amount": amounts.get(currency, 0), "currency": currency,
                 "source_types": {"card": amounts.get(currency, 0)}} for currency in currencies]

    shown: dict[str, Any] = {"object": "balance", "available": funds(available)}
    if platform:
        shown["connect_reserved"] = [{"amount": 0, "currency": currency,
                                      "source_types": {"card": 0}} for currency in currencies]
    shown.update(livemode=False, pending=funds(pending))
    return shown
