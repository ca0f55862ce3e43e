"""How often the console's login form may be tried (review finding L5). No request objects here.

Three buckets in :mod:`shop.ratelimit`, all counting failed attempts in a sliding window
(a successful login gives its slots back):

* per client address: a hard limit over every account, against one machine spraying;
* per account *and* client: a hard limit, so five failures from elsewhere never refuse the
  right operator's own attempts;
* per account, whatever the client: no hard limit but a growing delay (free attempts first,
  then a wait that doubles, to a cap). An attempt inside the wait is not counted for the
  account, so hammering never lengthens it, and it is answered "wait" whatever its password;
  only the operator's right password *with* their right TOTP code gets through inside it.
  Once the wait is over any attempt is checked as usual, so the right credentials tried
  after it always open the console. ``flask operators unlock`` clears all of an account's
  buckets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shop import ratelimit

WINDOW = timedelta(minutes=15)
FAILURES_PER_CLIENT = 20
FAILURES_PER_ACCOUNT_AND_CLIENT = 5
FREE_FAILURES_PER_ACCOUNT = 3
FIRST_DELAY = timedelta(seconds=2)
LONGEST_DELAY = timedelta(minutes=5)


def account_bucket(email: str) -> str:
    return "admin-login:account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def account_and_client_bucket(email: str, client: str | None) -> str:
    # Starts with the account's bucket name, so unlocking the account clears this one too.
    return f"{account_bucket(email)}:client:{client or 'unknown'}"


def client_bucket(client: str | None) -> str:
    return f"admin-login:client:{client or 'unknown'}"


@dataclass(frozen=True)
class Turn:
    """The outcome of :func:`take_turn`.

    ``refused`` names the hard limit that refused the attempt (``"client"`` or
    ``"account+client"``); otherwise ``wait`` is how long the account still asks to wait
    (zero: the attempt is checked as usual).
    """

    refused: str | None = None
    wait: timedelta = timedelta(0)
    taken: tuple[str, ...] = field(default=())

    @property
    def waiting(self) -> bool:
        return self.refused is None and self.wait > timedelta(0)


def take_turn(email: str, client: str | None, now: datetime | None = None) -> Turn:
    """Count one login attempt against its buckets (the caller commits right away)."""
    taken: list[str] = []
    for bucket, limit, name in ((client_bucket(client), FAILURES_PER_CLIENT, "client"),
                                (account_and_client_bucket(email, client), FAILURES_PER_ACCOUNT_AND_CLIENT,
                                 "account+client")):
        if not ratelimit.allow(bucket, limit, WINDOW, now=now):
            return Turn(refused=name, taken=tuple(taken))
        taken.append(bucket)
    wait = ratelimit.backoff(account_bucket(email), FREE_FAILURES_PER_ACCOUNT, FIRST_DELAY, LONGEST_DELAY,
                             WINDOW, now=now)
    if not wait:
        taken.append(account_bucket(email))
    return Turn(wait=wait, taken=tuple(taken))


def give_back(turn: Turn) -> None:
    """After a successful login: its attempt counts against no bucket (the caller commits)."""
    for bucket in turn.taken:
        ratelimit.forget_last(bucket)


def unlock(email: str) -> int:
    """Clear every login bucket of this account (from any client); the caller commits.

    :returns: how many counted failures were dropped.
    """
    return ratelimit.forget_bucket(account_bucket(email))
