"""Disputes: opened by the card network (a test card or the control API) and moved through
Stripe's lifecycle by the control API.

* An **inquiry** runs ``warning_needs_response`` -> ``warning_under_review`` ->
  ``warning_closed``; no money moves, and it can escalate to a chargeback
  (``needs_response``) at either open step.
* A **chargeback** withdraws the amount and the dispute fee when it opens
  (``charge.dispute.funds_withdrawn``) and runs ``needs_response`` -> ``under_review`` ->
  ``won`` (the amount comes back: ``charge.dispute.funds_reinstated``) or ``lost``.
* A **prevented** dispute was resolved before it became a chargeback (Visa RDR): the amount
  goes back to the cardholder without a dispute fee, and nothing more happens.

Each money movement is a balance transaction listed in the dispute's
``balance_transactions``.
"""

from __future__ import annotations

from typing import Any

from . import payment_objects
from .core import EmulatorCore
from .money import decimals

OPENING_STATUSES = ("needs_response", "warning_needs_response", "prevented")
#: status -> the statuses the control API may move it to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "warning_needs_response": ("warning_under_review", "warning_closed", "needs_response"),
    "warning_under_review": ("warning_closed", "needs_response"),
    "needs_response": ("under_review", "won", "lost"),
    "under_review": ("won", "lost"),
}
#: The dispute fee, in minor units by the currency's decimals.
DISPUTE_FEES = {0: 2000, 2: 1500, 3: 15000}


class Disputes(EmulatorCore):
    """Disputes on succeeded charges."""

    def _open_dispute(self, charge: dict[str, Any], reason: str,
                      status: str = "needs_response") -> dict[str, Any]:
        dispute = payment_objects.dispute(created=self.now(), charge=charge, reason=reason,
                                          status=status)
        self.disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        self._emit("charge.dispute.created", dispute)
        if status in ("needs_response", "prevented"):
            self._withdraw(dispute, charged_fee=status == "needs_response")
        return dispute

    def _withdraw(self, dispute: dict[str, Any], charged_fee: bool) -> None:
        fee = DISPUTE_FEES[decimals(dispute["currency"])] if charged_fee else 0
        moved = self._move_balance(-dispute["amount"], dispute["currency"], "adjustment",
                                   "dispute", dispute["id"], fee=fee,
                                   fee_description="Dispute fee",
                                   description=f"Chargeback withdrawal for {dispute['charge']}")
        dispute["balance_transactions"].append(dict(moved))
        self._emit("charge.dispute.funds_withdrawn", dispute)

    def _reinstate(self, dispute: dict[str, Any]) -> None:
        moved = self._move_balance(dispute["amount"], dispute["currency"], "adjustment",
                                   "dispute_reversal", dispute["id"],
                                   description=f"Chargeback reversal for {dispute['charge']}")
        dispute["balance_transactions"].append(dict(moved))
        self._emit("charge.dispute.funds_reinstated", dispute)

    def open_dispute(self, charge_id: str, reason: str = "fraudulent",
                     status: str = "needs_response") -> dict[str, Any]:
        """Control: the card network opens a dispute on a succeeded charge.

        :param status: ``needs_response`` (a chargeback), ``warning_needs_response`` (an
            inquiry) or ``prevented``.
        """
        if status not in OPENING_STATUSES:
            raise ValueError(f"status must be one of {', '.join(OPENING_STATUSES)}")
        with self.change():
            charge = self._require("charges", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise ValueError(f"charge {charge_id} did not succeed")
            if any(d["charge"] == charge_id for d in self.disputes.values()):
                raise ValueError(f"charge {charge_id} already has a dispute")
            return self.view(self._open_dispute(charge, reason, status))

    def move_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        """Control: the next step of the lifecycle (evidence submitted, escalation, outcome)."""
        with self.change():
            dispute = self._require("disputes", dispute_id)
            current = dispute["status"]
            allowed = TRANSITIONS.get(current, ())
            if not allowed:
                raise ValueError(f"dispute {dispute_id} is already {current}")
            if status not in allowed:
                raise ValueError(f"dispute {dispute_id} is {current}; it can move to "
                                 f"{', '.join(allowed)}")
            previous = {"status": current}
            dispute["status"] = status
            if status in ("warning_under_review", "under_review"):
                details = dispute["evidence_details"]
                details.update(has_evidence=True, submission_count=details["submission_count"] + 1)
                self._emit("charge.dispute.updated", dispute, previous)
            elif status == "needs_response":
                dispute["is_charge_refundable"] = False
                dispute["payment_method_details"]["card"]["case_type"] = "chargeback"
                previous["is_charge_refundable"] = True
                self._emit("charge.dispute.updated", dispute, previous)
                self._withdraw(dispute, charged_fee=True)
            else:
                self._emit("charge.dispute.closed", dispute, previous)
                if status == "won":
                    self._reinstate(dispute)
            return self.view(dispute)

    def close_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        """Control: close a dispute as ``won`` or ``lost`` (a chargeback) or
        ``warning_closed`` (an inquiry)."""
        if outcome not in ("won", "lost", "warning_closed"):
            raise ValueError("outcome must be 'won', 'lost' or 'warning_closed'")
        return self.move_dispute(dispute_id, outcome)
