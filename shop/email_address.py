"""E-mail addresses as buyers type them: validated and normalised for matching."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254


class EmailError(ValueError):
    """Not a usable address; ``str(exc)`` is a message for the form."""


def normalize_email(raw: str | None) -> str:
    """Return the address lower-cased, so one buyer's orders match however they type it.

    :raises EmailError: for empty, malformed or over-long addresses.
    """
    text = (raw or "").strip()
    if not text:
        raise EmailError("Enter your e-mail address: your download link goes there.")
    if len(text) > MAX_EMAIL_LENGTH:
        raise EmailError("That e-mail address is too long.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise EmailError("Enter a valid e-mail address, like you@example.com.") from None
    return result.normalized.lower()
