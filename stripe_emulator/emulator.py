"""The :class:`Emulator`: one object with every resource family's operations.

Each family is a mixin in its own module over :class:`~.core.EmulatorCore` (state,
persistence, reads, events): :mod:`.sessions`, :mod:`.paying`, :mod:`.delayed`, :mod:`.three_d_secure`, :mod:`.refunds`,
:mod:`.disputes`, :mod:`.endpoints`, :mod:`.accounts` (Connect accounts and onboarding),
:mod:`.transfers` (transfers, reversals, balances). The API, the hosted page and the control API all call
the same methods.
"""

from __future__ import annotations

from .accounts import Accounts, LinkState
from .cards import CARDS, TEST_PAYMENT_METHODS, Card, luhn_valid
from .core import DEFAULT_API_VERSION, Settings, current_request, merge_metadata
from .delayed import TEST_IBANS, DelayedPayments
from .disputes import Disputes
from .endpoints import Endpoints
from .money import format_amount
from .paying import PaymentResult, SessionNotPayable
from .refunds import Refunds
from .sessions import Sessions
from .three_d_secure import AuthenticationNotPending, ThreeDSecure
from .transfers import Transfers

__all__ = ["CARDS", "DEFAULT_API_VERSION", "TEST_IBANS", "TEST_PAYMENT_METHODS",
           "AuthenticationNotPending", "Card", "Emulator", "LinkState", "PaymentResult", "SessionNotPayable",
           "Settings", "current_request", "format_amount", "luhn_valid", "merge_metadata"]


class Emulator(Sessions, DelayedPayments, ThreeDSecure, Refunds, Disputes, Endpoints, Accounts,
               Transfers):
    """All state behind :attr:`lock`; :meth:`close` stops the webhook thread.

    :param data_dir: keep ``state.json`` there (``None``: memory only).
    """

    def tick(self) -> dict[str, list[str]]:
        """Do what the clock has made due: expire sessions, settle delayed payments.

        The webhook thread calls it every ``tick_interval``; a clock advance calls it at once.
        """
        with self.lock:
            return {"expired_sessions": self.expire_due_sessions(),
                    "settled_payments": self.settle_due_payments()}

    def advance_clock(self, seconds: float) -> dict[str, list[str]]:
        """Move the clock forward; returns what expired and what settled."""
        with self.change():
            self.clock.advance(seconds)
            return self.tick()
