"""A real ``flask payouts run`` process killed between the transfer and its record.

The emulator is wrapped so that a transfer is made and its answer then held back: the process
is waiting for Stripe's answer when it is killed (SIGKILL: no clean-up of any kind), exactly
the moment when Stripe has moved the money and the store has not written it down. The next
run must finish that payout with the same transfer, not make a second one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

import stripe_emulator
from emulator_common import ServerThread
from shop.extensions import db
from shop.ledger.models import PayoutStatus
from tests.payments.conftest import API_KEY, fast_settings, stripe_command_env
from tests.payouts.conftest import balance, earn, fund_platform, payouts_of, stripe_artist, transfers_to
from tests.services import ROOT

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


class HeldTransfers:
    """WSGI middleware: ``POST /v1/transfers`` is carried out, then its answer waits for
    :attr:`release` (``made`` is set in between)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.made = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") != "/v1/transfers" \
                or self.release.is_set():
            return self.app(environ, start_response)
        started: list[Any] = []
        body = b"".join(self.app(environ, lambda *args: started.append(args)))
        self.made.set()
        self.release.wait(60)
        start_response(*started[0])
        return [body]


@pytest.fixture
def held() -> Iterator[HeldTransfers]:
    app = stripe_emulator.create_app(api_keys=[API_KEY], settings=fast_settings())
    gate = HeldTransfers(app)
    try:
        yield gate
    finally:
        gate.release.set()
        app.extensions["stripe_emulator"].close()


@pytest.fixture
def stripe_server(held: HeldTransfers) -> Iterator[ServerThread]:
    with ServerThread(held) as server:
        yield server


def command_env(app: Any) -> dict[str, str]:
    return stripe_command_env(app.config)


def test_a_run_killed_while_stripe_answers_pays_once(app, emulated, held: HeldTransfers):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 4200)
    db.session.commit()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "shop", "payouts", "run"],
                               env=command_env(app), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        assert held.made.wait(90), "the run never asked Stripe for the transfer"
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        held.release.set()
    assert process.returncode == -signal.SIGKILL, output
    [made] = transfers_to(emulated, ada.stripe_account_id)
    [pending] = payouts_of(ada.id)
    assert (pending.status, pending.amount_cents, pending.reference) == (PayoutStatus.PENDING.value, 4200, None)
    assert balance(ada.id) == 4200   # not recorded: still owed, as far as the ledger knows

    result = app.test_cli_runner().invoke(args=["payouts", "run"])
    db.session.rollback()
    assert result.exit_code == 0, result.output
    assert [t.id for t in transfers_to(emulated, ada.stripe_account_id)] == [made.id]
    [payout] = payouts_of(ada.id)
    assert (payout.status, payout.reference) == (PayoutStatus.SENT.value, made.id)
    assert balance(ada.id) == 0
