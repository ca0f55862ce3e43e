"""Builders for Checkout Sessions, line items, webhook endpoints and events, with every
top-level field of Stripe's published fixtures (``stripe/openapi``, ``fixtures3.json``);
fields the emulator does not model are ``null`` or empty. Payment objects are in
:mod:`.payment_objects`.
"""

from __future__ import annotations

from typing import Any

from .ids import new_id


def address() -> dict[str, None]:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None,
            "state": None}


def checkout_session(*, session_id: str, created: int, expires_at: int, url: str,
                     success_url: str, cancel_url: str | None, amount_total: int, currency: str,
                     customer_email: str | None, client_reference_id: str | None,
                     metadata: dict[str, str], locale: str | None,
                     submit_type: str | None, payment_method_types: list[str]
                     ) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {"enabled": False, "invoice_data": {
            "account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
            "issuer": None, "metadata": {}, "rendering_options": None}},
        "livemode": False,
        "locale": locale,
        "managed_payments": None,
        "metadata": metadata,
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": payment_method_types,
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str | None) -> dict[str, Any]:
    return {"address": address(), "business_name": None, "email": email,
            "individual_name": None, "name": None, "phone": None, "tax_exempt": "none",
            "tax_ids": []}


def line_item(*, name: str, unit_amount: int, quantity: int, currency: str, created: int
              ) -> dict[str, Any]:
    """An ``item`` of a session's ``line_items`` list."""
    total = unit_amount * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "price": {
            "id": new_id("price_"), "object": "price", "active": False,
            "billing_scheme": "per_unit", "created": created, "currency": currency,
            "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
            "nickname": None, "product": new_id("prod_"), "recurring": None,
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "one_time", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def webhook_endpoint(*, created: int, url: str, enabled_events: list[str],
                     description: str | None, metadata: dict[str, str],
                     api_version: str | None, secret: str) -> dict[str, Any]:
    """The stored endpoint; :func:`public_endpoint` hides ``secret`` outside creation."""
    return {
        "id": new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata,
        "secret": secret,
        "status": "enabled",
        "url": url,
    }


def public_endpoint(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in endpoint.items() if key != "secret"}


def event(*, created: int, event_type: str, obj: dict[str, Any],
          previous: dict[str, Any] | None, api_version: str, request_id: str | None,
          idempotency_key: str | None, pending_webhooks: int, account: str | None = None
          ) -> dict[str, Any]:
    """An event; ``account`` (only on events that happened on a connected account)."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    connect: dict[str, Any] = {} if account is None else {"account": account}
    return {
        "id": new_id("evt_"),
        "object": "event",
        **connect,
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
