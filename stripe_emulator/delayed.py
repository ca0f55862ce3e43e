"""Delayed payment methods: SEPA Debit on the hosted page.

Paying with an IBAN completes the session at once with ``payment_status=unpaid`` and a
``processing`` PaymentIntent whose charge is ``pending``. After ``Settings.async_delay``
seconds of emulator clock (so a clock advance settles it at once) the debit succeeds or
fails as the test IBAN says, and ``checkout.session.async_payment_succeeded`` or
``checkout.session.async_payment_failed`` follows, as Stripe sends them days later.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from . import payment_objects
from .core import EmulatorCore
from .paying import Paying, PaymentResult

#: Stripe's test IBANs: does the debit succeed?
TEST_IBANS: dict[str, bool] = {
    "DE89370400440532013000": True,
    "DE62370400440532013001": False,
}

#: What a failed debit leaves on the charge and on the PaymentIntent.
DEBIT_FAILURE = ("insufficient_funds", None,
                 "The customer's account has insufficient funds to cover this payment.")
ATTEMPT_FAILED = ("The latest payment attempt of this PaymentIntent has failed or been "
                  "canceled, and the attached payment method has been removed. You can try "
                  "confirming again with a new payment method.")


def iban_valid(iban: str) -> bool:
    """The shape and the ISO 13616 check digits (mod 97)."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


class DelayedPayments(Paying, EmulatorCore):
    """SEPA Debit payments and their settlement on the emulator clock."""

    def pay_sepa(self, session_id: str, iban: str, name: str | None = None) -> PaymentResult:
        """Pay an open session by SEPA Debit, as the hosted page's IBAN form does.

        :raises StripeError: 404 for an unknown session.
        :raises SessionNotPayable: the session is expired or complete.
        """
        iban = re.sub(r"\s", "", iban or "").upper()
        with self.change():
            session = self._open_session(session_id)
            if session["amount_total"] == 0:
                return PaymentResult(status="paid",
                                     redirect=self._complete(session, "no_payment_required"))
            if "sepa_debit" not in session["payment_method_types"]:
                return PaymentResult(error="SEPA Debit is not available for this payment.",
                                     code="payment_method_unavailable")
            if not iban_valid(iban):
                return PaymentResult(error="Your IBAN is incorrect.", code="invalid_iban")
            succeeds = TEST_IBANS.get(iban)
            if succeeds is None:
                return PaymentResult(
                    error="Your request was in test mode, but used a non test IBAN. Use one "
                          "of Stripe's test IBANs.", code="invalid_iban")
            intent = self._intent_for(session)
            method = payment_objects.sepa_payment_method(
                created=self.now(), iban=iban, name=name, email=session["customer_email"])
            self.payment_methods[method["id"]] = method
            charge = payment_objects.charge(created=self.now(), intent=intent, method=method,
                                            status="pending")
            self.charges[charge["id"]] = charge
            before = copy.deepcopy(intent)
            intent.update(status="processing", payment_method=method["id"],
                          latest_charge=charge["id"], last_payment_error=None)
            self._emit("charge.pending", charge)
            self._emit("payment_intent.processing", intent, self._changes(before, intent))
            redirect = self._complete(session, "unpaid")
            self.settlements[intent["id"]] = {
                "due": self.clock.now() + self.settings.async_delay, "succeeds": succeeds,
                "session": session["id"]}
            return PaymentResult(status="processing", redirect=redirect)

    def settle_due_payments(self) -> list[str]:
        """Settle every delayed payment whose time has come; returns the intents' ids."""
        with self.lock:
            now = self.clock.now()
            due = [intent_id for intent_id, plan in self.settlements.items() if plan["due"] <= now]
            if not due:
                return []
            with self.change():
                for intent_id in due:
                    self._settle(intent_id, self.settlements.pop(intent_id))
            return due

    def _settle(self, intent_id: str, plan: dict[str, Any]) -> None:
        intent = self.payment_intents[intent_id]
        charge = self.charges[intent["latest_charge"]]
        session = self.sessions[plan["session"]]
        before = copy.deepcopy(intent)
        if plan["succeeds"]:
            self._succeed(intent, charge, before)
            session["payment_status"] = "paid"
            self._emit("checkout.session.async_payment_succeeded", session,
                       {"payment_status": "unpaid"})
            return
        code, _, message = DEBIT_FAILURE
        charge.update(status="failed", paid=False, captured=False, amount_captured=0,
                      failure_code=code, failure_message=message,
                      outcome=payment_objects.outcome("failed", DEBIT_FAILURE))
        method = self.payment_methods[intent["payment_method"]]
        intent.update(status="requires_payment_method", payment_method=None, last_payment_error={
            "type": "invalid_request_error", "code": "payment_intent_payment_attempt_failed",
            "message": ATTEMPT_FAILED, "charge": charge["id"],
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-payment-attempt-failed",
            "payment_method": self.view(method)})
        self._emit("charge.failed", charge, {"status": "pending"})
        self._emit("payment_intent.payment_failed", intent, self._changes(before, intent))
        self._emit("checkout.session.async_payment_failed", session)

