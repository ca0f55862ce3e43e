"""Operator accounts: creating them, checking passwords and TOTP codes. No request objects here.

Passwords are hashed with werkzeug's scrypt (``generate_password_hash``'s default since
Werkzeug 3): a memory-hard KDF from a library the store already depends on, so no new
native dependency. The hash string names its method and parameters, so raising them
later leaves older hashes verifiable.
"""

from __future__ import annotations

import hmac
import time

import pyotp
from sqlalchemy import or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from shop.admin.models import Operator
from shop.crypto import get_token_box
from shop.email_address import normalize_email
from shop.extensions import db
from shop.models import utcnow

MIN_PASSWORD_LENGTH = 12
ISSUER = "Indie Packs"
# Hashed for unknown addresses, so a login for an unknown account costs what a wrong password costs.
_DUMMY_HASH = generate_password_hash("not a password: equal timing for unknown accounts")


class OperatorError(ValueError):
    """A request about operators that cannot be done; ``str(exc)`` says why."""


def normalize(email: str) -> str:
    """An operator's address as stored: validated and lower-cased.

    :raises shop.email_address.EmailError: when it is not an address.
    """
    return normalize_email(email)


def find(email: str) -> Operator | None:
    return db.session.scalar(select(Operator).where(Operator.email == email.strip().lower()))


def check_password_strength(password: str) -> None:
    """:raises OperatorError: for a password shorter than :data:`MIN_PASSWORD_LENGTH`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def create(email: str, password: str) -> Operator:
    """Add an operator (committed).

    :raises OperatorError: for a short password or an address already taken.
    :raises shop.email_address.EmailError: for an address that is not one.
    """
    address = normalize(email)
    check_password_strength(password)
    if find(address) is not None:
        raise OperatorError(f"an operator {address} already exists")
    operator = Operator(email=address, password_hash=generate_password_hash(password))
    db.session.add(operator)
    db.session.commit()
    return operator


def get(email: str) -> Operator:
    """:raises OperatorError: when no operator has this address."""
    operator = find(email)
    if operator is None:
        raise OperatorError(f"no operator {email.strip().lower()}")
    return operator


def end_sessions(operator: Operator) -> None:
    """End every session of ``operator``, copied cookies included, by raising its session
    version (one UPDATE, so two at once both count). The caller commits."""
    db.session.execute(
        update(Operator).where(Operator.id == operator.id)
        .values(session_version=Operator.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(operator, ["session_version"])


def set_disabled(email: str, disabled: bool = True) -> Operator:
    """Disable (or enable) an operator (committed); either way their sessions end."""
    operator = get(email)
    operator.disabled = disabled
    end_sessions(operator)
    db.session.commit()
    return operator


def set_password(email: str, password: str) -> Operator:
    """Give the operator a new password (committed) and end their sessions.

    :raises OperatorError: for an unknown operator or a short password.
    """
    operator = get(email)
    check_password_strength(password)
    operator.password_hash = generate_password_hash(password)
    end_sessions(operator)
    db.session.commit()
    return operator


def all_operators() -> list[Operator]:
    return list(db.session.scalars(select(Operator).order_by(Operator.email)))


def enable_totp(email: str) -> tuple[str, str]:
    """Give the operator a new TOTP secret (committed) and end their sessions; return
    ``(secret, otpauth_uri)``.

    The secret is shown once, by the caller; it is stored encrypted.
    """
    operator = get(email)
    secret = pyotp.random_base32()
    operator.totp_secret_enc = get_token_box().encrypt(secret)
    operator.totp_last_step = None
    end_sessions(operator)
    db.session.commit()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=operator.email, issuer_name=ISSUER)


def disable_totp(email: str) -> Operator:
    """Turn TOTP off (committed) and end the operator's sessions."""
    operator = get(email)
    operator.totp_secret_enc = None
    operator.totp_last_step = None
    end_sessions(operator)
    db.session.commit()
    return operator


def password_matches(operator: Operator | None, password: str) -> bool:
    """Check ``password``; for ``None`` (unknown address) hash it anyway and answer False."""
    if operator is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(operator.password_hash, password)


def accept_totp(operator: Operator, code: str, now: float | None = None) -> bool:
    """True when ``code`` is the operator's current TOTP code (one step of clock drift either
    way) and no code of that step or a later one was accepted before.

    The step is recorded with one conditional UPDATE, so two requests with the same code
    cannot both pass (replay protection). Commits when it accepts.
    """
    if operator.totp_secret_enc is None:
        return True
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(get_token_box().decrypt(operator.totp_secret_enc))
    moment = time.time() if now is None else now
    current = int(moment // totp.interval)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            claimed = db.session.execute(
                update(Operator)
                .where(Operator.id == operator.id,
                       or_(Operator.totp_last_step.is_(None), Operator.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            db.session.refresh(operator)
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
    return False


def authenticate(email: str, password: str, code: str, second_factor_required: bool = False) -> Operator | None:
    """The operator these credentials open, or None.

    Unknown addresses, disabled accounts, wrong passwords and wrong or replayed TOTP codes
    all cost one password hash and give the same None. With ``second_factor_required`` an
    operator without TOTP gets None too (a password alone is not enough then).
    """
    operator = find(email)
    if not password_matches(operator, password) or operator is None or operator.disabled:
        return None
    if second_factor_required and not operator.totp_enabled:
        return None
    if not accept_totp(operator, code):
        return None
    operator.last_login_at = utcnow()
    db.session.commit()
    return operator
