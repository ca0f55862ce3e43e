"""Builders for the objects the emulator serves, with every top-level field of Stripe's
published fixtures (``stripe/openapi``, ``fixtures3.json``); fields the emulator does not
model are ``null``, empty, or the value a card payment in test mode has.
"""

from __future__ import annotations

from typing import Any

from .ids import new_id


def _address() -> dict[str, None]:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None,
            "state": None}


def checkout_session(*, session_id: str, created: int, expires_at: int, url: str,
                     success_url: str, cancel_url: str | None, amount_total: int, currency: str,
                     customer_email: str | None, client_reference_id: str | None,
                     metadata: dict[str, str], locale: str | None,
                     submit_type: str | None) -> dict[str, Any]:
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
        "payment_method_types": ["card"],
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
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str | None) -> dict[str, Any]:
    return {"address": _address(), "business_name": None, "email": email,
            "individual_name": None, "name": None, "phone": None, "tax_exempt": "none",
            "tax_ids": []}


def line_item(*, name: str, unit_amount: int, quantity: int, currency: str) -> dict[str, Any]:
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
            "billing_scheme": "per_unit", "created": None, "currency": currency,
            "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
            "nickname": None, "product": new_id("prod_"), "recurring": None,
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "one_time", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def payment_intent(*, created: int, amount: int, currency: str, metadata: dict[str, str],
                   description: str | None, receipt_email: str | None) -> dict[str, Any]:
    intent_id = new_id("pi_")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{new_id('')}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None,
                                            "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(number: str, amount: int) -> dict[str, Any]:
    return {
        "card": {
            "amount_authorized": amount, "authorization_code": None, "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034,
            "extended_authorization": {"status": "disabled"},
            "fingerprint": f"emu{number[-8:]}", "funding": "credit",
            "incremental_authorization": {"status": "unavailable"}, "installments": None,
            "last4": number[-4:], "mandate": None, "multicapture": {"status": "unavailable"},
            "network": "visa", "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated", "three_d_secure": None, "wallet": None,
        },
        "type": "card",
    }


def charge(*, created: int, intent: dict[str, Any], payment_method: str, number: str,
           email: str | None, failure: tuple[str, str, str] | None) -> dict[str, Any]:
    """A card charge for ``intent``; ``failure`` is ``(code, decline_code, message)``."""
    charge_id = new_id("ch_")
    paid = failure is None
    amount = intent["amount"]
    outcome = {
        "advice_code": None, "network_advice_code": None, "network_decline_code": None,
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": None if paid else failure[1],  # type: ignore[index]
        "risk_level": "normal", "risk_score": 20,
        "seller_message": "Payment complete." if paid
        else "The bank did not return any further details with this decline.",
        "type": "authorized" if paid else "issuer_declined",
    }
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if paid else None,
        "billing_details": {"address": _address(), "email": email, "name": None, "phone": None,
                            "tax_id": None},
        "calculated_statement_descriptor": "INDIE PACKS",
        "captured": paid,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if paid else failure[0],  # type: ignore[index]
        "failure_message": None if paid else failure[2],  # type: ignore[index]
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": card_details(number, amount),
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                    "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(*, created: int, charge: dict[str, Any], amount: int, reason: str | None,
           metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {"card": {"reference_status": "pending", "reference_type":
                                         "acquirer_reference_number", "type": "refund"},
                                "type": "card"},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def dispute(*, created: int, charge: dict[str, Any], reason: str) -> dict[str, Any]:
    evidence_fields = (
        "access_activity_log", "billing_address", "cancellation_policy",
        "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
        "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
        "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
        "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
        "refund_refusal_explanation", "service_date", "service_documentation",
        "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation",
        "shipping_tracking_number", "uncategorized_file", "uncategorized_text")
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(evidence_fields), "enhanced_evidence": {}},
        "evidence_details": {"due_by": created + 7 * 86_400, "enhanced_eligibility": {},
                             "has_evidence": False, "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                            "network_reason_code": "10.4"},
                                   "type": "card"},
        "reason": reason,
        "status": "needs_response",
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
          idempotency_key: str | None, pending_webhooks: int) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
