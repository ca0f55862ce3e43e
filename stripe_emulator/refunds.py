"""Refunds: creating, updating, and (control) failing them."""

from __future__ import annotations

import copy
from typing import Any

from . import payment_objects
from .core import EmulatorCore, merge_metadata
from .money import format_amount
from .wire import StripeError, check_known, integer, invalid, metadata, text

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
#: A charge with a dispute in one of these states cannot be refunded (an inquiry can).
BLOCKING_DISPUTES = frozenset({"needs_response", "under_review", "lost", "prevented"})


class Refunds(EmulatorCore):
    """``/v1/refunds`` and the control API's failed refunds."""

    REFUND_PARAMS = ("payment_intent", "charge", "amount", "reason", "metadata",
                     "instructions_email")

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, self.REFUND_PARAMS)
        intent_id = text(params, "payment_intent")
        charge_id = text(params, "charge")
        amount = integer(params, "amount", minimum=1)
        reason = text(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise invalid("reason", f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}")
        meta = metadata(params) or {}
        with self.change():
            if charge_id is None and intent_id is None:
                raise StripeError("One of the following params should be provided for this "
                                  "request: payment_intent or charge.", code="parameter_missing",
                                  validation=True)
            if intent_id is not None:
                intent = self._require("payment_intents", intent_id, "payment_intent")
                if intent["status"] != "succeeded" or not intent["latest_charge"]:
                    raise StripeError(f"This PaymentIntent ({intent_id}) does not have a "
                                      "successful charge to refund.",
                                      code="charge_not_refundable", param="payment_intent")
                if charge_id is not None and charge_id != intent["latest_charge"]:
                    raise invalid("charge", f"Charge {charge_id} does not belong to "
                                  f"PaymentIntent {intent_id}.")
                charge_id = intent["latest_charge"]
            assert charge_id is not None
            charge = self._require("charges", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise StripeError(f"Charge {charge_id} has not succeeded and cannot be refunded.",
                                  code="charge_not_refundable", param="charge")
            for dispute in self.disputes.values():
                if dispute["charge"] == charge_id and dispute["status"] in BLOCKING_DISPUTES:
                    raise StripeError(f"Charge {charge_id} has been charged back; cannot issue a "
                                      "refund.", code="charge_disputed", param="charge")
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise StripeError(f"Charge {charge_id} has already been refunded.",
                                  code="charge_already_refunded", param="charge")
            if amount is None:
                amount = remaining
            elif amount > remaining:
                currency = charge["currency"]
                raise StripeError(
                    f"Refund amount ({format_amount(amount, currency)}) is greater than "
                    f"unrefunded amount on charge ({format_amount(remaining, currency)})",
                    code="amount_too_large", param="amount")
            refund = payment_objects.refund(created=self.now(), charge=charge, amount=amount,
                                    reason=reason, metadata=meta)
            refund["balance_transaction"] = self._move_balance(
                -amount, charge["currency"], "refund", "refund", refund["id"])["id"]
            self.refunds[refund["id"]] = refund
            previous = {"amount_refunded": charge["amount_refunded"],
                        "refunded": charge["refunded"]}
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._emit("refund.created", refund)
            self._emit("charge.refunded", charge, previous)
            return self.view(refund)

    def update_refund(self, refund_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("metadata",))
        with self.change():
            refund = self._require("refunds", refund_id)
            before = copy.deepcopy(refund)
            refund["metadata"] = merge_metadata(refund["metadata"], params)
            if before != refund:
                self._emit("refund.updated", refund, self._changes(before, refund))
            return self.view(refund)

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        """Control: the bank returned the money (``failed``); the charge gets it back."""
        with self.change():
            refund = self._require("refunds", refund_id)
            if refund["status"] != "succeeded":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not succeeded")
            refund.update(status="failed", failure_reason="expired_or_canceled_card",
                          failure_balance_transaction=self._move_balance(
                              refund["amount"], refund["currency"], "refund_failure",
                              "refund_failure", refund["id"])["id"])
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self._emit("refund.updated", refund, {"status": "succeeded"})
            self._emit("charge.refund.updated", refund, {"status": "succeeded"})
            return self.view(refund)

