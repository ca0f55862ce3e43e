"""Login throttling (review finding L5) and how refusals reach the audit log (L6).

The clock stands still (time-machine) unless a test moves it with :func:`time_passes`: the
waits are seconds long, and a loaded machine may take that long between two requests.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from shop.admin import logins, operators
from shop.crypto import get_token_box
from shop.extensions import db
from shop.models import RateLimitHit
from tests.admin.conftest import PASSWORD, audit_rows

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"
WRONG = "wrong password!"


def login(app, email, password, client=OWNER, code=""):
    return app.test_client().post("/admin/login", data={"email": email, "password": password, "code": code},
                                  environ_base={"REMOTE_ADDR": client})


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    return time_machine


@pytest.fixture
def time_passes(frozen_clock):
    def passes(seconds: float) -> None:
        frozen_clock.shift(timedelta(seconds=seconds))

    return passes


def retry_after(response) -> int:
    assert response.status_code == 429, response.data
    return int(response.headers["Retry-After"])


def test_failures_from_elsewhere_never_lock_out_the_owner(app, operator, time_passes):
    """The review's reproduction: five failures from one address, then the owner from another."""
    statuses = [login(app, operator.email, WRONG, ATTACKER).status_code for _ in range(5)]
    assert statuses == [401] * logins.FREE_FAILURES_PER_ACCOUNT + [429] * 2
    owner = login(app, operator.email, PASSWORD, OWNER)
    wait = retry_after(owner)  # a short wait for the account, not a lockout
    assert wait <= logins.FIRST_DELAY.total_seconds() and b"Wait 2 seconds" in owner.data
    time_passes(wait)
    assert login(app, operator.email, PASSWORD, OWNER).status_code == 302


def test_an_attacker_who_keeps_trying_never_locks_out_the_owner(app, operator, time_passes):
    """Attempts inside the wait are not counted for the account, so hammering does not lengthen
    it; after it, the owner's right password is checked and opens the console."""
    for _ in range(logins.FREE_FAILURES_PER_ACCOUNT):
        login(app, operator.email, WRONG, ATTACKER)
    first = retry_after(login(app, operator.email, WRONG, "203.0.113.10"))
    for i in range(10):
        assert retry_after(login(app, operator.email, WRONG, f"203.0.113.{20 + i}")) <= first
    time_passes(first)
    assert login(app, operator.email, PASSWORD, OWNER).status_code == 302


def test_the_delay_doubles_with_each_checked_failure_up_to_a_cap(app, operator, time_passes):
    clients = (f"192.0.2.{i}" for i in range(1, 200))
    for _ in range(logins.FREE_FAILURES_PER_ACCOUNT):
        assert login(app, operator.email, WRONG, next(clients)).status_code == 401
    waits = []
    for _ in range(10):
        wait = retry_after(login(app, operator.email, WRONG, next(clients)))
        waits.append(wait)
        time_passes(wait)
        assert login(app, operator.email, WRONG, next(clients)).status_code == 401
    cap = int(logins.LONGEST_DELAY.total_seconds())
    assert waits[:4] == [2, 4, 8, 16] and waits[-1] == cap and all(b <= 2 * a for a, b in itertools.pairwise(waits))


def test_inside_the_wait_a_right_password_alone_looks_like_a_wrong_one(app, operator):
    for _ in range(logins.FREE_FAILURES_PER_ACCOUNT):
        login(app, operator.email, WRONG, ATTACKER)
    right, wrong = login(app, operator.email, PASSWORD, OWNER), login(app, operator.email, WRONG, OWNER)
    assert right.status_code == wrong.status_code == 429 and right.data == wrong.data


def test_inside_the_wait_the_right_password_with_the_right_totp_code_gets_through(app, operator):
    operators.enable_totp(operator.email)
    secret = get_token_box().decrypt(operators.get(operator.email).totp_secret_enc)
    for _ in range(logins.FREE_FAILURES_PER_ACCOUNT + 3):
        login(app, operator.email, WRONG, ATTACKER)
    assert login(app, operator.email, PASSWORD, OWNER, code="000000" if pyotp.TOTP(secret).now() != "000000"
                 else "111111").status_code == 429
    assert login(app, operator.email, PASSWORD, OWNER, code=pyotp.TOTP(secret).now()).status_code == 302


def test_the_hard_limit_is_per_account_and_client(app, operator, time_passes):
    for _ in range(logins.FAILURES_PER_ACCOUNT_AND_CLIENT):
        time_passes(60)  # never inside the account's wait (2 s, then 4 s), all inside the window
        assert login(app, operator.email, WRONG, ATTACKER).status_code == 401
    time_passes(60)
    refused = login(app, operator.email, PASSWORD, ATTACKER)
    assert retry_after(refused) == logins.WINDOW.total_seconds() and b"from here" in refused.data
    assert login(app, operator.email, PASSWORD, OWNER).status_code == 302
    # Once the window has passed the address may try again.
    time_passes(logins.WINDOW.total_seconds())
    assert login(app, operator.email, PASSWORD, ATTACKER).status_code == 302


def test_successes_count_against_nothing(app, operator):
    client = app.test_client()
    for _ in range(8):
        assert client.post("/admin/login", data={"email": operator.email, "password": PASSWORD}).status_code == 302
        client.post("/admin/logout")
    assert db.session.scalar(db.select(db.func.count(RateLimitHit.id))) == 0


def test_flask_operators_unlock_is_the_way_back_in(app, runner, operator):
    for i in range(logins.FREE_FAILURES_PER_ACCOUNT + 2):
        login(app, operator.email, WRONG, f"192.0.2.{i}")
    retry_after(login(app, operator.email, PASSWORD, OWNER))
    result = runner.invoke(args=["operators", "unlock", operator.email.upper()])
    assert result.exit_code == 0 and "forgotten for ops@example.com" in result.output, result.output
    assert login(app, operator.email, PASSWORD, OWNER).status_code == 302
    row = [e for e in audit_rows() if e.action == "operator.unlock"][0]
    assert row.operator_id is None and row.target == "ops@example.com" and row.details["cli_user"]


@pytest.mark.parametrize("account", ["nobody@example.com", "ops@example.com"])
def test_refused_attempts_are_counted_in_a_few_rows_not_one_each(app, operator, account):
    """The review's 200 attempts from one address: a handful of audit rows whose counts add up."""
    for _ in range(200):
        assert login(app, account, WRONG, ATTACKER).status_code in (401, 429)
    rows = audit_rows()
    assert [e.action for e in rows] == ["login.failed"] * 3 + ["login.delayed", "login.throttled"]
    assert all(e.target == account and e.ip == ATTACKER for e in rows)
    assert 3 + sum(e.details["count"] for e in rows[3:]) == 200
