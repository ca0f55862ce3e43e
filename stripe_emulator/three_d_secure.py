"""3-D Secure on the hosted page, for Stripe's test card ``4000 0027 6000 3184``.

Paying with it leaves the PaymentIntent ``requires_action`` and sends the buyer to an
authentication page (``/c/authenticate/<session id>``) with two buttons, as Stripe's test
challenge has. Completing it charges the card and completes the session; failing it leaves
the session open and the PaymentIntent ``requires_payment_method`` with
``payment_intent_authentication_failure`` in ``last_payment_error``. No charge is made for
a failed authentication.
"""

from __future__ import annotations

import copy
from typing import Any

from .cards import Card
from .core import EmulatorCore
from .paying import Paying, PaymentResult

AUTHENTICATION_FAILED = ("The provided PaymentMethod has failed authentication. You can provide "
                         "payment_method_data or a new PaymentMethod to attempt to fulfill this "
                         "PaymentIntent again.")
#: What Checkout's page says after a failed challenge.
PAGE_MESSAGE = ("We are unable to authenticate your payment method. Please choose a different "
                "payment method and try again.")


class AuthenticationNotPending(Exception):
    """The session's PaymentIntent is not waiting for 3-D Secure (the page goes back)."""


class ThreeDSecure(Paying, EmulatorCore):
    """The challenge step between the card form and the charge."""

    def _require_authentication(self, intent: dict[str, Any], method: dict[str, Any]
                                ) -> PaymentResult:
        before = copy.deepcopy(intent)
        intent.update(status="requires_action", payment_method=method["id"],
                      last_payment_error=None, next_action={
                          "type": "use_stripe_sdk",
                          "use_stripe_sdk": {"type": "three_d_secure_redirect",
                                             "stripe_js": "", "source": method["id"]}})
        self._emit("payment_intent.requires_action", intent, self._changes(before, intent))
        return PaymentResult(status="requires_action")

    def authenticate(self, session_id: str, complete: bool) -> PaymentResult:
        """The buyer's answer to the challenge: ``complete`` or fail.

        :raises StripeError: 404 for an unknown session.
        :raises SessionNotPayable: the session is expired or complete.
        :raises AuthenticationNotPending: nothing waits for authentication.
        """
        with self.change():
            session = self._open_session(session_id)
            intent = self.payment_intents.get(session["payment_intent"] or "")
            if intent is None or intent["status"] != "requires_action":
                raise AuthenticationNotPending(session_id)
            method = self.payment_methods[intent["payment_method"]]
            if complete:
                intent["next_action"] = None
                return self._charge(session, intent, method, Card(three_d_secure=True))
            before = copy.deepcopy(intent)
            intent.update(status="requires_payment_method", payment_method=None, next_action=None,
                          last_payment_error={
                              "type": "invalid_request_error",
                              "code": "payment_intent_authentication_failure",
                              "message": AUTHENTICATION_FAILED,
                              "doc_url": "https://stripe.com/docs/error-codes/"
                                         "payment-intent-authentication-failure",
                              "payment_method": self.view(method)})
            self._emit("payment_intent.payment_failed", intent, self._changes(before, intent))
            return PaymentResult(error=PAGE_MESSAGE, code="payment_intent_authentication_failure")
