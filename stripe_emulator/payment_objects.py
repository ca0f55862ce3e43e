"""Builders for PaymentIntents, PaymentMethods, Charges, Refunds and Disputes, with every
top-level field of Stripe's published fixtures; fields the emulator does not model are
``null``, empty, or what a test-mode card or SEPA Debit payment has.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .ids import new_id
from .objects import address

#: ``(code, decline_code, message)`` of a failed attempt.
Failure = tuple[str, str | None, str]


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def billing_details(email: str | None, name: str | None = None) -> dict[str, Any]:
    return {"address": address(), "email": email, "name": name, "phone": None, "tax_id": None}


def payment_intent(*, created: int, amount: int, currency: str, metadata: dict[str, str],
                   description: str | None, receipt_email: str | None,
                   payment_method_types: list[str] | None = None) -> dict[str, Any]:
    intent_id = new_id("pi_")
    types = payment_method_types or ["card"]
    options: dict[str, Any] = {"card": {"installments": None, "mandate_options": None,
                                        "network": None, "request_three_d_secure": "automatic"}}
    if "sepa_debit" in types:
        options["sepa_debit"] = {}
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
        "payment_method_options": options,
        "payment_method_types": list(types),
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def card_payment_method(*, created: int, number: str, email: str | None) -> dict[str, Any]:
    """A ``card`` PaymentMethod for a test card number (Visa, expiring 12/2034)."""
    return _payment_method(created, "card", email, None, {
        "brand": "visa",
        "checks": {"address_line1_check": None, "address_postal_code_check": None,
                   "cvc_check": "unchecked"},
        "country": "US", "display_brand": "visa", "exp_month": 12, "exp_year": 2034,
        "fingerprint": _fingerprint(number), "funding": "credit", "generated_from": None,
        "last4": number[-4:], "networks": {"available": ["visa"], "preferred": None},
        "regulated_status": "unregulated", "three_d_secure_usage": {"supported": True},
        "wallet": None,
    })


def sepa_payment_method(*, created: int, iban: str, name: str | None, email: str | None
                        ) -> dict[str, Any]:
    """A ``sepa_debit`` PaymentMethod for an IBAN (its bank code is the German BLZ)."""
    return _payment_method(created, "sepa_debit", email, name, {
        "bank_code": iban[4:12], "branch_code": "", "country": iban[:2],
        "fingerprint": _fingerprint(iban), "generated_from": {"charge": None,
                                                              "setup_attempt": None},
        "last4": iban[-4:],
    })


def _payment_method(created: int, kind: str, email: str | None, name: str | None,
                    details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "limited",
        "billing_details": billing_details(email, name),
        kind: details,
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": kind,
    }


def method_details(method: dict[str, Any], amount: int, mandate: str | None = None
                   ) -> dict[str, Any]:
    """A charge's ``payment_method_details`` for a PaymentMethod."""
    if method["type"] == "sepa_debit":
        sepa = method["sepa_debit"]
        return {"sepa_debit": {"bank_code": sepa["bank_code"], "branch_code": sepa["branch_code"],
                               "country": sepa["country"], "fingerprint": sepa["fingerprint"],
                               "last4": sepa["last4"], "mandate": mandate},
                "type": "sepa_debit"}
    card = method["card"]
    return {
        "card": {
            "amount_authorized": amount, "authorization_code": None, "brand": card["brand"],
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": card["country"], "exp_month": card["exp_month"],
            "exp_year": card["exp_year"], "extended_authorization": {"status": "disabled"},
            "fingerprint": card["fingerprint"], "funding": card["funding"],
            "incremental_authorization": {"status": "unavailable"}, "installments": None,
            "last4": card["last4"], "mandate": None, "multicapture": {"status": "unavailable"},
            "network": "visa", "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated", "three_d_secure": None, "wallet": None,
        },
        "type": "card",
    }


def three_d_secure_details() -> dict[str, Any]:
    """A card charge's ``three_d_secure`` after the buyer passed a challenge."""
    return {"authentication_flow": "challenge", "electronic_commerce_indicator": "05",
            "exemption_indicator": None, "result": "authenticated", "result_reason": None,
            "transaction_id": str(uuid.uuid4()), "version": "2.2.0"}


def outcome(status: str, failure: Failure | None) -> dict[str, Any]:
    """A charge's ``outcome``: authorized (``succeeded``/``pending``) or declined."""
    declined = status == "failed"
    return {
        "advice_code": None, "network_advice_code": None, "network_decline_code": None,
        "network_status": "declined_by_network" if declined else "approved_by_network",
        "reason": failure[1] if declined and failure else None,
        "risk_level": "normal", "risk_score": 20,
        "seller_message": "The bank did not return any further details with this decline."
        if declined else "Payment complete.",
        "type": "issuer_declined" if declined else "authorized",
    }


def charge(*, created: int, intent: dict[str, Any], method: dict[str, Any], status: str,
           failure: Failure | None = None, balance_transaction: str | None = None
           ) -> dict[str, Any]:
    """A charge for ``intent``: ``status`` is ``succeeded``, ``pending`` or ``failed``."""
    charge_id = new_id("ch_")
    paid = status == "succeeded"
    amount = intent["amount"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if status != "failed" else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": dict(method["billing_details"]),
        "calculated_statement_descriptor": "INDIE PACKS",
        "captured": status != "failed",
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure[0] if failure else None,
        "failure_message": failure[2] if failure else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome(status, failure),
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": method_details(
            method, amount, new_id("mandate_") if method["type"] == "sepa_debit" else None),
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False,
                    "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(*, created: int, charge: dict[str, Any], amount: int, reason: str | None,
           metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
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


def balance_transaction(*, created: int, amount: int, currency: str, kind: str, category: str,
                        source: str, fee: int = 0, fee_description: str = "Stripe processing fees",
                        description: str | None = None, available_on: int | None = None
                        ) -> dict[str, Any]:
    """A movement of an account's balance: ``kind`` is the ``type`` (``charge``, ``refund``,
    ``refund_failure``, ``adjustment``, ``transfer``, ``transfer_refund``, ``payment``,
    ``payment_refund``); ``status`` is worked out when it is served, from ``available_on``
    (default: two days later)."""
    fee_details = [] if fee == 0 else [{"amount": fee, "application": None, "currency": currency,
                                         "description": fee_description, "type": "stripe_fee"}]
    return {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 86_400 if available_on is None else available_on,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "pending",
        "type": kind,
    }


CASE_TYPES = {"needs_response": "chargeback", "warning_needs_response": "inquiry",
              "prevented": "resolution"}


def dispute(*, created: int, charge: dict[str, Any], reason: str, status: str
            ) -> dict[str, Any]:
    """``status`` is ``needs_response`` (a chargeback), ``warning_needs_response`` (an
    inquiry) or ``prevented``."""
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
        "is_charge_refundable": status == "warning_needs_response",
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": CASE_TYPES[status],
                                            "network": "visa",
                                            "network_reason_code": "10.4"},
                                   "type": "card"},
        "reason": reason,
        "status": status,
    }

