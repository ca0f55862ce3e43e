"""Disputes: opened by the card network (a test card or the control API), closed by the control API."""

from __future__ import annotations

from typing import Any

from . import payment_objects
from .core import EmulatorCore


class Disputes(EmulatorCore):
    """Disputes on succeeded charges."""

    def _open_dispute(self, charge: dict[str, Any], reason: str) -> dict[str, Any]:
        dispute = payment_objects.dispute(created=self.now(), charge=charge, reason=reason)
        self.disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        self._emit("charge.dispute.created", dispute)
        return dispute

    def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """Control: the card network opens a dispute on a succeeded charge."""
        with self.change():
            charge = self._require("charges", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise ValueError(f"charge {charge_id} did not succeed")
            if any(d["charge"] == charge_id for d in self.disputes.values()):
                raise ValueError(f"charge {charge_id} already has a dispute")
            return self.view(self._open_dispute(charge, reason))

    def close_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        """Control: close an open dispute as ``won`` or ``lost``."""
        if outcome not in ("won", "lost"):
            raise ValueError("outcome must be 'won' or 'lost'")
        with self.change():
            dispute = self._require("disputes", dispute_id)
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            previous = {"status": dispute["status"]}
            dispute["status"] = outcome
            dispute["evidence_details"]["has_evidence"] = True
            self._emit("charge.dispute.closed", dispute, previous)
            return self.view(dispute)

