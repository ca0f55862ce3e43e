"""Connect: transfers from the platform's balance to Express accounts, their reversals, and
the balances both sides see (``GET /v1/balance``).

A balance is worked out from balance transactions: the ``net`` of those whose
``available_on`` has passed is available, the rest pending. A transfer takes its amount from
the platform's available balance in that currency (or, with ``source_transaction``, from
that charge, whatever the balance) and adds it to the connected account's balance as a
``payment``; a reversal moves it back.
"""

from __future__ import annotations

import copy
from typing import Any

from . import connect_objects
from .core import EmulatorCore, merge_metadata
from .money import check_currency, format_amount
from .wire import StripeError, check_known, integer, metadata, no_such, text

INSUFFICIENT_FUNDS = ("You have insufficient available funds in your Stripe account. Try "
                      "adding funds directly to your available balance by creating Charges "
                      "using the 4000000000000077 test card. See: "
                      "https://stripe.com/docs/testing#available-balance")


class Transfers(EmulatorCore):
    """``/v1/transfers``, ``/v1/transfers/{id}/reversals`` and ``/v1/balance``."""

    TRANSFER_PARAMS = ("amount", "currency", "destination", "description", "metadata",
                       "transfer_group", "source_transaction", "source_type")

    # -- balances -------------------------------------------------------------------------------

    def balance_amounts(self, account: str | None) -> tuple[dict[str, int], dict[str, int]]:
        """``(available, pending)`` per currency of ``account`` (``None``: the platform)."""
        available: dict[str, int] = {}
        pending: dict[str, int] = {}
        now = self.now()
        with self.lock:
            for transaction in self.balance_transactions.values():
                if self.transaction_accounts.get(transaction["id"]) != account:
                    continue
                bucket = available if transaction["available_on"] <= now else pending
                currency = transaction["currency"]
                bucket[currency] = bucket.get(currency, 0) + transaction["net"]
        return available, pending

    def balance(self, account: str | None) -> dict[str, Any]:
        """``GET /v1/balance`` for the platform or (``Stripe-Account``) a connected account."""
        with self.lock:
            available, pending = self.balance_amounts(account)
            currency = "usd" if account is None else self.accounts[account]["default_currency"]
            return connect_objects.balance(available, pending, account is None, currency)

    def make_funds_available(self) -> int:
        """Control: every pending balance transaction becomes available now; returns how
        many did."""
        with self.change():
            now = self.now()
            due = [t for t in self.balance_transactions.values() if t["available_on"] > now]
            for transaction in due:
                transaction["available_on"] = now
            return len(due)

    def balance_transaction_for(self, transaction_id: str, account: str | None
                                ) -> dict[str, Any]:
        """``GET /v1/balance_transactions/{id}`` as ``account`` sees it."""
        with self.lock:
            if self.transaction_accounts.get(transaction_id) != account:
                raise no_such("balance_transaction", transaction_id)
            return self.get("balance_transactions", transaction_id)

    # -- transfers ------------------------------------------------------------------------------

    def create_transfer(self, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, self.TRANSFER_PARAMS)
        amount = integer(params, "amount", required=True, minimum=1)
        currency_text = text(params, "currency", required=True)
        destination = text(params, "destination", required=True)
        assert amount is not None and currency_text is not None and destination is not None
        currency = check_currency(currency_text, "currency")
        description = text(params, "description")
        group = text(params, "transfer_group")
        source_id = text(params, "source_transaction")
        source_type = text(params, "source_type")
        if source_type not in (None, "card", "bank_account", "fpx"):
            raise StripeError("Invalid source_type: must be one of bank_account, card, or fpx",
                              param="source_type", validation=True)
        meta = metadata(params) or {}
        with self.change():
            account = self.accounts.get(destination)
            if account is None:
                raise StripeError(f"No such destination: '{destination}'", param="destination")
            if account["capabilities"].get("transfers") != "active":
                raise StripeError(
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer", param="destination")
            available_on = self.now()
            if source_id is not None:
                charge = self._source_charge(source_id, amount, currency)
                group = (group or charge.get("transfer_group")
                         or f"group_{charge['payment_intent']}")
                available_on = self.balance_transactions[charge["balance_transaction"]][
                    "available_on"]
            else:
                available, _ = self.balance_amounts(None)
                if available.get(currency, 0) < amount:
                    raise StripeError(INSUFFICIENT_FUNDS, code="balance_insufficient")
            transfer = connect_objects.transfer(
                created=self.now(), amount=amount, currency=currency, destination=destination,
                description=description, metadata=meta, transfer_group=group,
                source_transaction=source_id)
            transfer["balance_transaction"] = self._move_balance(
                -amount, currency, "transfer", "transfer", transfer["id"],
                available_on=self.now())["id"]
            self._move_balance(amount, currency, "payment", "charge",
                               transfer["destination_payment"], available_on=available_on,
                               account=destination)
            self.transfers[transfer["id"]] = transfer
            self._emit("transfer.created", transfer)
            return self.view(transfer)

    def _source_charge(self, charge_id: str, amount: int, currency: str) -> dict[str, Any]:
        """The charge a transfer draws on: succeeded, same currency, not yet transferred."""
        if not charge_id.startswith("ch_"):
            raise StripeError(f"No such charge: '{charge_id}'", param="source_transaction")
        charge = self.charges.get(charge_id)
        if charge is None:
            raise StripeError(f"No such charge: '{charge_id}'", param="source_transaction")
        if charge["status"] != "succeeded" or not charge["balance_transaction"]:
            raise StripeError(f"The source_transaction {charge_id} has not succeeded.",
                              param="source_transaction")
        if charge["currency"] != currency:
            raise StripeError(f"The currency of source_transaction's balance transaction "
                              f"({charge['currency']}) must be the same as the transfer "
                              f"currency ({currency})", param="currency")
        used = sum(t["amount"] for t in self.transfers.values()
                   if t["source_transaction"] == charge_id)
        if used + amount > charge["amount"]:
            left = charge["amount"] - used
            raise StripeError(f"Insufficient funds in the source transaction {charge_id}: "
                              f"{format_amount(left, currency)} left to transfer.",
                              code="balance_insufficient", param="amount")
        return charge

    def update_transfer(self, transfer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/transfers/{id}``: ``description`` and ``metadata`` only."""
        check_known(params, ("description", "metadata"))
        with self.change():
            transfer = self._require("transfers", transfer_id, "transfer")
            before = copy.deepcopy(transfer)
            if "description" in params:
                transfer["description"] = text(params, "description")
            transfer["metadata"] = merge_metadata(transfer["metadata"], params)
            if before != transfer:
                self._emit("transfer.updated", transfer, self._changes(before, transfer))
            return self.view(transfer)

    def transfers_to(self, destination: str | None) -> list[dict[str, Any]]:
        return self.listing("transfers", destination=destination)

    # -- reversals ------------------------------------------------------------------------------

    def reverse_transfer(self, transfer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/transfers/{id}/reversals``: ``amount`` (default: what is left),
        ``description``, ``metadata``, ``refund_application_fee``."""
        check_known(params, ("amount", "description", "metadata", "refund_application_fee"))
        amount = integer(params, "amount", minimum=1)
        meta = metadata(params) or {}
        with self.change():
            transfer = self._require("transfers", transfer_id, "transfer")
            currency = transfer["currency"]
            left = transfer["amount"] - transfer["amount_reversed"]
            if left <= 0:
                raise StripeError(f"Transfer {transfer_id} has already been fully reversed.",
                                  param="amount")
            if amount is None:
                amount = left
            elif amount > left:
                raise StripeError(f"Transfer reversal amount ({format_amount(amount, currency)}) "
                                  f"is greater than the amount left to reverse "
                                  f"({format_amount(left, currency)}).", param="amount")
            destination = transfer["destination"]
            available, _ = self.balance_amounts(destination)
            if available.get(currency, 0) < amount:
                raise StripeError(f"Insufficient funds in the destination account "
                                  f"{destination} to reverse this transfer.",
                                  code="balance_insufficient", param="amount")
            reversal = connect_objects.transfer_reversal(
                created=self.now(), amount=amount, currency=currency, transfer=transfer_id,
                metadata=meta)
            reversal["balance_transaction"] = self._move_balance(
                amount, currency, "transfer_refund", "transfer_reversal", reversal["id"])["id"]
            self._move_balance(-amount, currency, "payment_refund", "refund",
                               reversal["destination_payment_refund"], account=destination)
            self.transfer_reversals[reversal["id"]] = reversal
            previous = {"amount_reversed": transfer["amount_reversed"],
                        "reversed": transfer["reversed"]}
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            self._emit("transfer.reversed", transfer, previous)
            return self.view(reversal)

    def reversals_of(self, transfer_id: str) -> list[dict[str, Any]]:
        self.get("transfers", transfer_id)
        return self.listing("transfer_reversals", transfer=transfer_id)

    def reversal(self, transfer_id: str, reversal_id: str) -> dict[str, Any]:
        found = self.get("transfer_reversals", reversal_id)
        if found["transfer"] != transfer_id:
            raise no_such("transfer_reversal", reversal_id)
        return found

    def update_reversal(self, transfer_id: str, reversal_id: str, params: dict[str, Any]
                        ) -> dict[str, Any]:
        check_known(params, ("metadata",))
        with self.change():
            reversal = self._require("transfer_reversals", reversal_id)
            if reversal["transfer"] != transfer_id:
                raise no_such("transfer_reversal", reversal_id)
            reversal["metadata"] = merge_metadata(reversal["metadata"], params)
            return self.view(reversal)
