"""Paying: the hosted page's form and PaymentIntents confirmed through the API."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from . import objects, payment_objects
from .cards import CARDS, TEST_PAYMENT_METHODS, Card, luhn_valid
from .core import EmulatorCore
from .money import check_amount, check_currency, check_minor_units, fee
from .wire import StripeError, check_known, integer, invalid, metadata, no_such, text


@dataclass
class PaymentResult:
    """What the hosted page does next.

    ``status`` is ``paid``, ``processing`` (a delayed method: the session is complete but
    unpaid), ``requires_action`` (3-D Secure: send the buyer to the authentication page) or
    ``declined`` (show ``error``, a sentence, and let the buyer try again). ``redirect`` is
    the store's ``success_url`` once the session is complete.
    """

    status: str = "declined"
    redirect: str | None = None
    error: str | None = None
    code: str | None = None
    decline_code: str | None = None


class SessionNotPayable(Exception):
    """The session is expired or already complete; the hosted page says so."""

    def __init__(self, session: dict[str, Any]) -> None:
        super().__init__(session["status"])
        self.session = session


class Paying(EmulatorCore):
    """The hosted page's card payments and PaymentIntents through the API."""

    def session_for_page(self, session_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with self.lock:
            self.expire_due_sessions()
            session = self._require("sessions", session_id)
            return self.view(session), copy.deepcopy(self.line_items.get(session_id, []))

    def _open_session(self, session_id: str) -> dict[str, Any]:
        self.expire_due_sessions()
        session = self._require("sessions", session_id)
        if session["status"] != "open":
            raise SessionNotPayable(self.view(session))
        return session

    def pay(self, session_id: str, card_number: str) -> PaymentResult:
        """Pay an open session with a test card, as the hosted page's form does.

        :raises StripeError: 404 for an unknown session.
        :raises SessionNotPayable: the session is expired or complete.
        """
        number = re.sub(r"[\s-]", "", card_number or "")
        with self.change():
            session = self._open_session(session_id)
            if session["amount_total"] == 0:
                return PaymentResult(status="paid",
                                     redirect=self._complete(session, "no_payment_required"))
            if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
                return PaymentResult(error="Your card number is incorrect.",
                                     code="incorrect_number")
            card = CARDS.get(number)
            if card is None:
                return PaymentResult(
                    error="Your card was declined. Your request was in test mode, but used a "
                          "non test (live) card.",
                    code="card_declined", decline_code="test_mode_live_card")
            intent = self._intent_for(session)
            method = self._new_card_method(number, session["customer_email"])
            if card.three_d_secure:
                return self._require_authentication(intent, method)
            return self._charge(session, intent, method, card)

    def _require_authentication(self, intent: dict[str, Any], method: dict[str, Any]
                                ) -> PaymentResult:
        """Filled in by :class:`~.three_d_secure.ThreeDSecure`."""
        raise NotImplementedError

    def _new_card_method(self, number: str, email: str | None) -> dict[str, Any]:
        method = payment_objects.card_payment_method(created=self.now(), number=number,
                                                     email=email)
        self.payment_methods[method["id"]] = method
        return method

    def _intent_for(self, session: dict[str, Any]) -> dict[str, Any]:
        existing = self.payment_intents.get(session["payment_intent"] or "")
        if existing is not None:
            return existing
        data = self.intent_data.get(session["id"], {})
        intent = payment_objects.payment_intent(
            created=self.now(), amount=session["amount_total"], currency=session["currency"],
            metadata=dict(data.get("metadata", {})), description=data.get("description"),
            receipt_email=data.get("receipt_email"),
            payment_method_types=session["payment_method_types"])
        self.payment_intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        self._emit("payment_intent.created", intent)
        return intent

    def _attempt(self, intent: dict[str, Any], method: dict[str, Any], card: Card
                 ) -> dict[str, Any]:
        """Charge ``intent`` with a test card: a charge, the intent's new state, their events."""
        failure = card.failure
        charge = payment_objects.charge(created=self.now(), intent=intent, method=method,
                                        status="failed" if failure else "succeeded",
                                        failure=failure)
        if card.three_d_secure:
            charge["payment_method_details"]["card"]["three_d_secure"] = (
                payment_objects.three_d_secure_details())
        self.charges[charge["id"]] = charge
        before = copy.deepcopy(intent)
        intent["latest_charge"] = charge["id"]
        intent["payment_method"] = method["id"]
        if failure is not None:
            code, decline_code, message = failure
            intent["status"] = "requires_payment_method"
            intent["payment_method"] = None
            intent["last_payment_error"] = {
                "type": "card_error", "code": code, "decline_code": decline_code,
                "message": message, "charge": charge["id"],
                "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                "payment_method": self.view(method),
            }
            self._emit("charge.failed", charge)
            self._emit("payment_intent.payment_failed", intent, self._changes(before, intent))
            return charge
        self._succeed(intent, charge, before, available_now=card.bypass_pending)
        return charge

    def _succeed(self, intent: dict[str, Any], charge: dict[str, Any],
                 before: dict[str, Any], available_now: bool = False) -> None:
        """The money is in: the charge and the intent succeed, with their events.

        :param available_now: the funds are available at once (Stripe's bypass-pending card),
            not after :attr:`~.core.Settings.funds_pending`.
        """
        previous = {"status": charge["status"]} if charge["status"] != "succeeded" else None
        charge.update(status="succeeded", paid=True, outcome=payment_objects.outcome(
            "succeeded", None))
        charge["balance_transaction"] = self._move_balance(
            charge["amount"], charge["currency"], "charge", "charge", charge["id"],
            fee=fee(charge["amount"], charge["currency"]), description=charge["description"],
            available_on=self.now() if available_now else None)["id"]
        intent.update(status="succeeded", amount_received=intent["amount"],
                      last_payment_error=None, processing=None)
        self._emit("charge.succeeded", charge, previous)
        self._emit("payment_intent.succeeded", intent, self._changes(before, intent))

    def _complete(self, session: dict[str, Any], payment_status: str) -> str:
        """The buyer is done on the page: the session completes; returns the redirect."""
        session.update(status="complete", payment_status=payment_status,
                       customer_details=objects.customer_details(session["customer_email"]),
                       url=None)
        self._emit("checkout.session.completed", session)
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])

    def _charge(self, session: dict[str, Any], intent: dict[str, Any], method: dict[str, Any],
                card: Card) -> PaymentResult:
        charge = self._attempt(intent, method, card)
        if card.failure is not None:
            code, decline_code, message = card.failure
            return PaymentResult(error=message, code=code, decline_code=decline_code)
        redirect = self._complete(session, "paid")
        if card.dispute is not None:
            self._open_dispute(charge, card.dispute,
                               "warning_needs_response" if card.inquiry else "needs_response")
        return PaymentResult(status="paid", redirect=redirect)

    # -- PaymentIntents through the API (test payment methods) ---------------------------------

    INTENT_PARAMS = ("amount", "currency", "metadata", "description", "receipt_email",
                     "payment_method", "confirm", "payment_method_types")

    def create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/payment_intents``; with ``confirm=true`` it is charged at once.

        :raises StripeError: 402 ``card_error`` when the test payment method is declined.
        """
        check_known(params, self.INTENT_PARAMS)
        amount = integer(params, "amount", required=True)
        raw_currency = text(params, "currency", required=True)
        assert amount is not None and raw_currency is not None
        currency = check_currency(raw_currency, "currency")
        check_minor_units(amount, currency, "amount")
        check_amount(amount, currency, "amount", "Amount")
        types = params.get("payment_method_types")
        if types is not None and types != ["card"]:
            raise invalid("payment_method_types", "Only payment_method_types[0]=card is emulated.")
        confirm = self._boolean(params, "confirm")
        method = text(params, "payment_method")
        if method is not None:
            self._test_card(method)
        with self.change():
            intent = payment_objects.payment_intent(
                created=self.now(), amount=amount, currency=currency,
                metadata=metadata(params) or {}, description=text(params, "description"),
                receipt_email=text(params, "receipt_email"))
            if method is not None:
                intent["status"] = "requires_confirmation"
            self.payment_intents[intent["id"]] = intent
            self._emit("payment_intent.created", intent)
            if confirm:
                return self._confirm(intent, method)
            return self.view(intent)

    def confirm_intent(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/payment_intents/{id}/confirm`` with a test ``payment_method``."""
        check_known(params, ("payment_method", "receipt_email"))
        with self.change():
            intent = self._require("payment_intents", intent_id)
            return self._confirm(intent, text(params, "payment_method"))

    def _confirm(self, intent: dict[str, Any], method: str | None) -> dict[str, Any]:
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeError(
                "This PaymentIntent's payment_method could not be updated because it has a "
                f"status of {intent['status']}. You may only update the payment_method of a "
                "PaymentIntent with one of the following statuses: requires_payment_method, "
                "requires_confirmation, requires_action.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": self.view(intent)})
        if method is None:
            raise StripeError("You cannot confirm this PaymentIntent because it's missing a "
                              "payment method.", code="payment_intent_unexpected_state",
                              param="payment_method")
        number, card = self._test_card(method)
        charge = self._attempt(intent, self._new_card_method(number, intent["receipt_email"]),
                               card)
        if card.failure is not None:
            code, decline_code, message = card.failure
            raise StripeError(message, status=402, type="card_error", code=code,
                              decline_code=decline_code,
                              extra={"charge": charge["id"],
                                     "payment_intent": self.view(intent),
                                     "payment_method": intent["last_payment_error"]
                                     ["payment_method"]})
        if card.dispute is not None:
            self._open_dispute(charge, card.dispute,
                               "warning_needs_response" if card.inquiry else "needs_response")
        return self.view(intent)

    @staticmethod
    def _boolean(params: dict[str, Any], name: str) -> bool:
        value = params.get(name)
        if value in (None, "false"):
            return False
        if value == "true":
            return True
        raise invalid(name, f"Invalid boolean: {value}", "parameter_invalid_boolean")

    @staticmethod
    def _test_card(method: str) -> tuple[str, Card]:
        number = TEST_PAYMENT_METHODS.get(method)
        if number is None:
            raise no_such("PaymentMethod", method, "payment_method")
        return number, CARDS[number]

