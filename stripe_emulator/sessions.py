"""Checkout Sessions: creating, updating and expiring them, and the clock that expires them."""

from __future__ import annotations

import copy
import re
from typing import Any

from . import objects, versions
from .core import EmulatorCore, merge_metadata
from .ids import new_id
from .money import MAXIMUM, check_amount, check_currency, check_minor_units, display
from .wire import StripeError, check_known, integer, invalid, metadata, missing, no_such, text

MIN_SESSION_LIFETIME = 30 * 60
MAX_SESSION_LIFETIME = 24 * 60 * 60
EMULATED_METHOD_TYPES = ("card", "sepa_debit")


class Sessions(EmulatorCore):
    """Checkout Sessions (``/v1/checkout/sessions``) and their expiry."""

    SESSION_PARAMS = ("mode", "line_items", "success_url", "cancel_url", "customer_email",
                      "client_reference_id", "metadata", "payment_intent_data", "expires_at",
                      "payment_method_types", "locale", "submit_type", "ui_mode")

    def create_session(self, params: dict[str, Any], base_url: str,
                       api_version: str | None = None) -> dict[str, Any]:
        """``POST /v1/checkout/sessions``: validate everything, then store an open session.

        :param api_version: the request's ``Stripe-Version`` (names the ``ui_mode`` values).
        """
        check_known(params, self.SESSION_PARAMS)
        mode = text(params, "mode", required=True)
        if mode != "payment":
            raise invalid("mode", f"Invalid mode: {mode}; this emulator supports only payment",
                          "parameter_invalid_empty")
        ui_mode = text(params, "ui_mode")
        accepted = versions.ui_modes(api_version or self.settings.api_version)
        if ui_mode is not None and ui_mode not in accepted:
            raise invalid("ui_mode", f"Invalid ui_mode: {ui_mode}; the emulator has only "
                          f"{accepted[0]} in this API version")
        success_url = self._url(params, "success_url", required=True)
        assert success_url is not None
        cancel_url = self._url(params, "cancel_url")
        items = self._line_items(params)
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid("line_items", "All line items must use the same currency.")
        total = sum(item["amount_total"] for item in items)
        if total:
            # A session of 0 completes without a payment (no_payment_required).
            check_amount(total, items[0]["currency"], None,
                         "The Checkout Session's total amount due")
        types = self._method_types(params, items[0]["currency"])
        email = text(params, "customer_email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise invalid("customer_email", f"Invalid email address: {email}", "email_invalid")
        reference = text(params, "client_reference_id", max_length=200)
        meta = metadata(params) or {}
        intent_params = params.get("payment_intent_data") or {}
        if not isinstance(intent_params, dict):
            raise invalid("payment_intent_data", "Invalid hash")
        check_known(intent_params, ("metadata", "description", "receipt_email"),
                    "payment_intent_data")
        intent_data = {
            "metadata": metadata(intent_params, param="payment_intent_data[metadata]") or {},
            "description": text(intent_params, "description"),
            "receipt_email": text(intent_params, "receipt_email"),
        }
        submit_type = text(params, "submit_type")
        if submit_type not in (None, "auto", "book", "donate", "pay", "subscribe"):
            raise invalid("submit_type", f"Invalid submit_type: {submit_type}")
        with self.change():
            self.expire_due_sessions()
            created = self.now()
            expires_at = integer(params, "expires_at")
            if expires_at is None:
                expires_at = created + MAX_SESSION_LIFETIME
            elif expires_at < created + MIN_SESSION_LIFETIME:
                raise invalid("expires_at", "The `expires_at` timestamp must be at least 30 "
                              "minutes from Checkout Session creation.", "parameter_invalid_integer")
            elif expires_at > created + MAX_SESSION_LIFETIME:
                raise invalid("expires_at", "The `expires_at` timestamp must be less than 24 "
                              "hours from Checkout Session creation.", "parameter_invalid_integer")
            session_id = new_id("cs_test_")
            session = objects.checkout_session(
                session_id=session_id, created=created, expires_at=expires_at,
                url=f"{(self.settings.public_url or base_url).rstrip('/')}/c/pay/{session_id}",
                success_url=success_url, cancel_url=cancel_url,
                amount_total=total,
                currency=items[0]["currency"], customer_email=email,
                client_reference_id=reference, metadata=meta, locale=text(params, "locale"),
                submit_type=submit_type, payment_method_types=types)
            self.sessions[session_id] = session
            self.line_items[session_id] = items
            self.intent_data[session_id] = intent_data
            return self.view(session)

    @staticmethod
    def _method_types(params: dict[str, Any], currency: str) -> list[str]:
        """What the page offers: without ``payment_method_types``, what a test account
        enables for the currency (cards, and SEPA Debit for ``eur``)."""
        types = params.get("payment_method_types")
        if types is None:
            return ["card", "sepa_debit"] if currency == "eur" else ["card"]
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not types:
            raise invalid("payment_method_types", "Invalid array")
        for index, kind in enumerate(types):
            if kind not in EMULATED_METHOD_TYPES:
                raise invalid(f"payment_method_types[{index}]",
                              f"Invalid payment_method_types[{index}]: the emulator supports "
                              f"{', '.join(EMULATED_METHOD_TYPES)}", "parameter_invalid_string")
        if "sepa_debit" in types and currency != "eur":
            raise invalid("payment_method_types",
                          f"The currency provided ({currency}) is invalid for one or more "
                          "payment method types on this Checkout Session. The payment method "
                          "type sepa_debit supports the following currencies: eur.")
        return list(dict.fromkeys(types))

    @staticmethod
    def _url(params: dict[str, Any], name: str, required: bool = False) -> str | None:
        value = text(params, name, required=required, max_length=5000)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise invalid(name, "Not a valid URL", "url_invalid")
        return value

    def _line_items(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        raw = params.get("line_items")
        if raw is None:
            raise missing("line_items")
        if not isinstance(raw, list) or not raw:
            raise invalid("line_items", "Invalid array")
        items = []
        for index, item in enumerate(raw):
            label = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise invalid(label, "Invalid hash")
            check_known(item, ("price_data", "quantity", "price"), label)
            if "price" in item:
                raise no_such("price", str(item["price"]), f"{label}[price]")
            quantity = integer(item, "quantity", required=True, param=f"{label}[quantity]",
                               minimum=1)
            price = item.get("price_data")
            if not isinstance(price, dict):
                raise missing(f"{label}[price_data]")
            price_label = f"{label}[price_data]"
            check_known(price, ("currency", "unit_amount", "product_data", "tax_behavior"),
                        price_label)
            currency = text(price, "currency", required=True, param=f"{price_label}[currency]")
            assert currency is not None
            currency = check_currency(currency, f"{price_label}[currency]")
            amount = integer(price, "unit_amount", required=True,
                             param=f"{price_label}[unit_amount]", minimum=0)
            assert amount is not None
            check_minor_units(amount, currency, f"{price_label}[unit_amount]")
            if amount > MAXIMUM:
                raise StripeError(f"Amount must be no more than {display(MAXIMUM, currency)}",
                                  code="amount_too_large", param=f"{price_label}[unit_amount]")
            product = price.get("product_data")
            if not isinstance(product, dict):
                raise missing(f"{price_label}[product_data]")
            check_known(product, ("name", "description", "metadata", "images"),
                        f"{price_label}[product_data]")
            name = text(product, "name", required=True,
                        param=f"{price_label}[product_data][name]")
            assert name is not None and amount is not None and quantity is not None
            items.append(objects.line_item(name=name, unit_amount=amount, quantity=quantity,
                                           currency=currency, created=self.now()))
        return items

    def update_session(self, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("metadata",))
        with self.change():
            session = self._require("sessions", session_id)
            session["metadata"] = merge_metadata(session["metadata"], params)
            return self.view(session)

    def expire_session(self, session_id: str) -> dict[str, Any]:
        """``POST .../expire``: only an open session can be expired."""
        with self.change():
            self.expire_due_sessions()
            session = self._require("sessions", session_id)
            if session["status"] != "open":
                raise StripeError(
                    f"Only Checkout Sessions with a status in [\"open\"] can be expired. "
                    f"This Checkout Session has a status of \"{session['status']}\".",
                    code="checkout_session_not_open")
            self._expire(session)
            return self.view(session)

    def _expire(self, session: dict[str, Any]) -> None:
        intent = self.payment_intents.get(session["payment_intent"] or "")
        if intent is not None and intent["status"] != "succeeded":
            before = copy.deepcopy(intent)
            intent.update(status="canceled", canceled_at=self.now(),
                          cancellation_reason="abandoned")
            self._emit("payment_intent.canceled", intent, self._changes(before, intent))
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", session)

    def expire_due_sessions(self) -> list[str]:
        """Expire every open session whose ``expires_at`` the clock has reached."""
        with self.lock:
            now = self.now()
            due = [s for s in self.sessions.values()
                   if s["status"] == "open" and s["expires_at"] <= now]
            if not due:
                return []
            with self.change():
                for session in due:
                    self._expire(session)
            return [session["id"] for session in due]
