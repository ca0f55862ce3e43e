"""The ``/v1/`` routes of Connect: accounts, Account Links, transfers and their reversals, and
the balance. A ``Stripe-Account`` header (see :func:`.api.acting_account`) makes
``GET /v1/account``, ``GET /v1/balance``, balance transactions and events those of the
connected account."""

from __future__ import annotations

from flask import Response, g, request

from .api import acting_account, answer, bp, current_emulator, list_page, retrieve
from .wire import StripeError, check_known, no_such


@bp.post("/accounts")
def create_account() -> Response:
    return answer(current_emulator().create_account(g.params))


@bp.get("/accounts")
def list_accounts() -> Response:
    if acting_account() is not None:
        # A connected account has no connected accounts of its own.
        return list_page("accounts", "/v1/accounts", items=[])
    return list_page("accounts", "/v1/accounts")


@bp.get("/accounts/<account_id>")
def retrieve_account(account_id: str) -> Response:
    acting = acting_account()
    if acting is not None and account_id != acting:
        raise StripeError(f"The account '{acting}' does not have access to account "
                          f"'{account_id}'.", status=403, code="account_invalid")
    if acting is not None:
        check_known(g.params, ())
        return answer(current_emulator().get("accounts", account_id))
    return retrieve("accounts", account_id)


@bp.get("/account")
def retrieve_own_account() -> Response:
    check_known(g.params, ())
    return answer(current_emulator().own_account(acting_account()))


@bp.post("/accounts/<account_id>")
def update_account(account_id: str) -> Response:
    return answer(current_emulator().update_account(account_id, g.params))


@bp.post("/account_links")
def create_account_link() -> Response:
    return answer(current_emulator().create_account_link(g.params, request.host_url))


# -- the balance -----------------------------------------------------------------------------


@bp.get("/balance")
def retrieve_balance() -> Response:
    check_known(g.params, ())
    return answer(current_emulator().balance(acting_account()))


# -- transfers -------------------------------------------------------------------------------


@bp.post("/transfers")
def create_transfer() -> Response:
    return answer(current_emulator().create_transfer(g.params))


@bp.get("/transfers")
def list_transfers() -> Response:
    return list_page("transfers", "/v1/transfers", ("destination", "transfer_group"))


@bp.get("/transfers/<transfer_id>")
def retrieve_transfer(transfer_id: str) -> Response:
    return retrieve("transfers", transfer_id)


@bp.post("/transfers/<transfer_id>")
def update_transfer(transfer_id: str) -> Response:
    return answer(current_emulator().update_transfer(transfer_id, g.params))


@bp.post("/transfers/<transfer_id>/reversals")
def create_transfer_reversal(transfer_id: str) -> Response:
    return answer(current_emulator().reverse_transfer(transfer_id, g.params))


@bp.get("/transfers/<transfer_id>/reversals")
def list_transfer_reversals(transfer_id: str) -> Response:
    items = current_emulator().reversals_of(transfer_id)
    return list_page("transfer_reversals", f"/v1/transfers/{transfer_id}/reversals",
                     items=items)


@bp.get("/transfers/<transfer_id>/reversals/<reversal_id>")
def retrieve_transfer_reversal(transfer_id: str, reversal_id: str) -> Response:
    check_known(g.params, ())
    if acting_account() is not None:
        raise no_such("transfer_reversal", reversal_id)
    return answer(current_emulator().reversal(transfer_id, reversal_id))


@bp.post("/transfers/<transfer_id>/reversals/<reversal_id>")
def update_transfer_reversal(transfer_id: str, reversal_id: str) -> Response:
    return answer(current_emulator().update_reversal(transfer_id, reversal_id, g.params))

