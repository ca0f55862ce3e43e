"""Idempotency keys keep whatever a request produced once it began executing, errors
included, for 24 hours; a refusal of the parameters is not kept."""

from __future__ import annotations

import uuid

import pytest
import stripe

from .conftest import Control, PaidSession, session_params


def charge_id(client: stripe.StripeClient, session: stripe.checkout.Session) -> str:
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    return str(client.v1.payment_intents.retrieve(intent).latest_charge)


def test_a_refund_error_is_replayed_even_after_the_state_changed(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control) -> None:
    charge = charge_id(client, paid_session())
    first = client.v1.refunds.create(params={"charge": charge})
    key = str(uuid.uuid4())
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"charge": charge}, options={"idempotency_key": key})
    assert refused.value.code == "charge_already_refunded"
    original = refused.value.request_id
    # The bank sends the first refund back: a new refund would now succeed...
    control("POST", f"/refunds/{first.id}/fail")
    # ...but the retried request answers what it answered the first time.
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        client.v1.refunds.create(params={"charge": charge}, options={"idempotency_key": key})
    assert replayed.value.code == "charge_already_refunded"
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert replayed.value.headers["Original-Request"] == original
    assert client.v1.refunds.create(params={"charge": charge}).status == "succeeded"


def test_amount_too_large_is_replayed(client: stripe.StripeClient,
                                      paid_session: PaidSession) -> None:
    charge = charge_id(client, paid_session())
    key = str(uuid.uuid4())
    for attempt in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.refunds.create(params={"charge": charge, "amount": 99_999},
                                     options={"idempotency_key": key})
        assert caught.value.code == "amount_too_large"
        assert ("Idempotent-Replayed" in caught.value.headers) is (attempt == 1)


def test_a_missing_object_is_replayed(client: stripe.StripeClient) -> None:
    key = str(uuid.uuid4())
    for attempt in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.refunds.create(params={"charge": "ch_nope"},
                                     options={"idempotency_key": key})
        assert caught.value.http_status == 404
        assert ("Idempotent-Replayed" in caught.value.headers) is (attempt == 1)


def test_a_refused_parameter_is_not_kept(client: stripe.StripeClient) -> None:
    key = str(uuid.uuid4())
    params = session_params()
    del params["success_url"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert caught.value.code == "parameter_missing"
    created = client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                                 options={"idempotency_key": key})
    assert created.status == "open"
    assert "Idempotent-Replayed" not in created.last_response.headers


def test_a_key_on_another_endpoint_is_an_idempotency_error(client: stripe.StripeClient,
                                                           paid_session: PaidSession) -> None:
    charge = charge_id(client, paid_session())
    key = str(uuid.uuid4())
    client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                       options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create(params={"charge": charge}, options={"idempotency_key": key})
    assert client.v1.refunds.list().data == []


def test_keys_are_forgotten_after_24_hours_of_emulator_time(client: stripe.StripeClient,
                                                            control: Control) -> None:
    key = str(uuid.uuid4())
    first = client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                               options={"idempotency_key": key})
    control("POST", "/clock/advance", {"seconds": 23 * 3600})
    again = client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                               options={"idempotency_key": key})
    assert again.id == first.id
    control("POST", "/clock/advance", {"seconds": 3600 + 1})
    later = client.v1.checkout.sessions.create(
        params=session_params(client_reference_id="order-43"),  # type: ignore[arg-type]
        options={"idempotency_key": key})
    assert later.id != first.id and later.client_reference_id == "order-43"
