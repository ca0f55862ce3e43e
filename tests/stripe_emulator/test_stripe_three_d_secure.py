"""3-D Secure: Stripe's test card 4000 0027 6000 3184 goes through an authentication page."""

from __future__ import annotations

import requests
import stripe

from emulator_common import ServerThread

from .conftest import Control, Idle, NewSession, Pay, Receiver

SECURE_CARD = "4000 0027 6000 3184"


def challenge_url(session: stripe.checkout.Session) -> str:
    assert session.url is not None
    return session.url.replace("/c/pay/", "/c/authenticate/")


def test_completing_the_challenge_pays(client: stripe.StripeClient, new_session: NewSession,
                                       pay: Pay, web: requests.Session, idle: Idle,
                                       receiver: Receiver, endpoint: stripe.WebhookEndpoint
                                       ) -> None:
    session = new_session()
    answer = pay(session, SECURE_CARD)
    assert answer.status_code == 303 and answer.headers["Location"] == challenge_url(session)
    waiting = client.v1.checkout.sessions.retrieve(session.id,
                                                   params={"expand": ["payment_intent"]})
    assert waiting.status == "open"
    assert waiting.payment_intent.status == "requires_action"
    assert waiting.payment_intent.next_action is not None
    page = web.get(challenge_url(session), timeout=10)
    assert page.status_code == 200 and "Complete authentication" in page.text

    done = web.post(challenge_url(session), data={"outcome": "complete"}, allow_redirects=False,
                    timeout=10)
    assert done.status_code == 303
    assert done.headers["Location"] == f"http://shop.test/orders/paid?session_id={session.id}"
    paid = client.v1.checkout.sessions.retrieve(session.id, params={
        "expand": ["payment_intent.latest_charge"]})
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    intent = paid.payment_intent
    assert intent.status == "succeeded" and intent.next_action is None
    charge = intent.latest_charge
    assert charge.status == "succeeded"
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"
    assert charge.payment_method_details.card.last4 == "3184"
    idle()
    assert receiver.types() == ["payment_intent.created", "payment_intent.requires_action",
                                "charge.succeeded", "payment_intent.succeeded",
                                "checkout.session.completed"]
    # The challenge is over: its page sends the buyer back to the (paid) payment page.
    again = web.get(challenge_url(session), allow_redirects=False, timeout=10)
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/c/pay/{session.id}")


def test_failing_the_challenge_leaves_the_session_open(
        client: stripe.StripeClient, new_session: NewSession, pay: Pay, web: requests.Session,
        idle: Idle, receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    session = new_session()
    assert pay(session, SECURE_CARD).status_code == 303
    failed = web.post(challenge_url(session), data={"outcome": "fail"}, allow_redirects=False,
                      timeout=10)
    assert failed.status_code == 402
    assert "unable to authenticate your payment method" in failed.text
    retrieved = client.v1.checkout.sessions.retrieve(session.id,
                                                     params={"expand": ["payment_intent"]})
    assert retrieved.status == "open" and retrieved.payment_status == "unpaid"
    intent = retrieved.payment_intent
    assert intent.status == "requires_payment_method" and intent.payment_method is None
    assert intent.latest_charge is None
    error = intent.last_payment_error
    assert error.code == "payment_intent_authentication_failure"
    method = client.v1.payment_methods.retrieve(error.payment_method.id)
    assert method.type == "card" and method.card.last4 == "3184"
    assert error.payment_method.to_dict() == method.to_dict()
    assert client.v1.charges.list().data == []
    idle()
    assert receiver.types()[-1] == "payment_intent.payment_failed"

    # The buyer tries another card on the same session.
    assert pay(session, "4242424242424242").status_code == 303
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_control_api_answers_the_challenge(new_session: NewSession, control: Control) -> None:
    session = new_session()
    paid = control("POST", f"/checkout/sessions/{session.id}/pay", {"card": "4000002760003184"})
    assert (paid["status"], paid["paid"]) == ("requires_action", False)
    answer = control("POST", f"/checkout/sessions/{session.id}/authenticate",
                     {"outcome": "complete"})
    assert answer["paid"] is True and answer["redirect"].endswith(session.id)


def test_no_challenge_without_a_waiting_payment(new_session: NewSession, web: requests.Session,
                                                server: ServerThread) -> None:
    session = new_session()
    page = web.get(challenge_url(session), allow_redirects=False, timeout=10)
    assert page.status_code == 303
    refused = web.post(f"{server.base_url}/__emulator__/checkout/sessions/{session.id}/authenticate",
                       json={"outcome": "complete"}, timeout=10)
    assert refused.status_code == 400 and "not waiting" in refused.json()["error"]
