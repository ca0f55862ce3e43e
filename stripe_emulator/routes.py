"""The ``/v1/`` routes: one thin function per Stripe endpoint over the :class:`Emulator`."""

from __future__ import annotations

from flask import Response, g, request

from emulator_common import json_response

from .api import answer, bp, current_emulator, list_page, retrieve
from .wire import check_known, list_object


@bp.post("/checkout/sessions")
def create_session() -> Response:
    return answer(current_emulator().create_session(g.params, request.host_url, g.api_version))


@bp.get("/checkout/sessions")
def list_sessions() -> Response:
    return list_page("sessions", "/v1/checkout/sessions",
                 ("payment_intent", "status", "client_reference_id", "customer_email"))


@bp.get("/checkout/sessions/<session_id>")
def retrieve_session(session_id: str) -> Response:
    return retrieve("sessions", session_id)


@bp.post("/checkout/sessions/<session_id>")
def update_session(session_id: str) -> Response:
    return answer(current_emulator().update_session(session_id, g.params))


@bp.post("/checkout/sessions/<session_id>/expire")
def expire_session(session_id: str) -> Response:
    check_known(g.params, ())
    return answer(current_emulator().expire_session(session_id))


@bp.get("/checkout/sessions/<session_id>/line_items")
def session_line_items(session_id: str) -> Response:
    emulator = current_emulator()
    emulator.get("sessions", session_id)
    params = g.params
    check_known(params, ("limit", "starting_after", "ending_before"))
    with emulator.lock:
        items = list(emulator.line_items.get(session_id, []))
    return json_response(list_object(items, f"/v1/checkout/sessions/{session_id}/line_items",
                                      params))


# -- payments --------------------------------------------------------------------------------


@bp.get("/payment_intents/<intent_id>")
def retrieve_payment_intent(intent_id: str) -> Response:
    return retrieve("payment_intents", intent_id)


@bp.get("/payment_intents")
def list_payment_intents() -> Response:
    return list_page("payment_intents", "/v1/payment_intents")


@bp.post("/payment_intents")
def create_payment_intent() -> Response:
    return answer(current_emulator().create_intent(g.params))


@bp.post("/payment_intents/<intent_id>/confirm")
def confirm_payment_intent(intent_id: str) -> Response:
    return answer(current_emulator().confirm_intent(intent_id, g.params))


@bp.get("/payment_methods/<method_id>")
def retrieve_payment_method(method_id: str) -> Response:
    return retrieve("payment_methods", method_id)


@bp.get("/charges/<charge_id>")
def retrieve_charge(charge_id: str) -> Response:
    return retrieve("charges", charge_id)


@bp.get("/charges")
def list_charges() -> Response:
    return list_page("charges", "/v1/charges", ("payment_intent",))


@bp.post("/refunds")
def create_refund() -> Response:
    return answer(current_emulator().create_refund(g.params))


@bp.get("/refunds")
def list_refunds() -> Response:
    return list_page("refunds", "/v1/refunds", ("charge", "payment_intent"))


@bp.get("/refunds/<refund_id>")
def retrieve_refund(refund_id: str) -> Response:
    return retrieve("refunds", refund_id)


@bp.post("/refunds/<refund_id>")
def update_refund(refund_id: str) -> Response:
    return answer(current_emulator().update_refund(refund_id, g.params))


@bp.get("/balance_transactions/<transaction_id>")
def retrieve_balance_transaction(transaction_id: str) -> Response:
    return retrieve("balance_transactions", transaction_id)


@bp.get("/balance_transactions")
def list_balance_transactions() -> Response:
    return list_page("balance_transactions", "/v1/balance_transactions", ("source", "type"))


@bp.get("/disputes/<dispute_id>")
def retrieve_dispute(dispute_id: str) -> Response:
    return retrieve("disputes", dispute_id)


@bp.get("/disputes")
def list_disputes() -> Response:
    return list_page("disputes", "/v1/disputes", ("charge", "payment_intent"))


# -- webhooks and events ---------------------------------------------------------------------


@bp.post("/webhook_endpoints")
def create_webhook_endpoint() -> Response:
    return answer(current_emulator().create_endpoint(g.params))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints() -> Response:
    return list_page("webhook_endpoints", "/v1/webhook_endpoints")


@bp.get("/webhook_endpoints/<endpoint_id>")
def retrieve_webhook_endpoint(endpoint_id: str) -> Response:
    return retrieve("webhook_endpoints", endpoint_id)


@bp.post("/webhook_endpoints/<endpoint_id>")
def update_webhook_endpoint(endpoint_id: str) -> Response:
    return answer(current_emulator().update_endpoint(endpoint_id, g.params))


@bp.delete("/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str) -> Response:
    return json_response(current_emulator().delete_endpoint(endpoint_id))


@bp.get("/events/<event_id>")
def retrieve_event(event_id: str) -> Response:
    return retrieve("events", event_id)


@bp.get("/events")
def list_events() -> Response:
    return list_page("events", "/v1/events", ("type",))
