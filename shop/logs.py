"""Logging without secrets: order links, fetch links and OAuth codes are redacted.

The path of an order link (``/orders/<token>``) and of a signed fetch link
(``/dropbox/files/<token>``) is the secret itself, and an OAuth callback's ``code`` and
``state`` are single-use credentials. :class:`RedactingFilter` rewrites every record's
final message (format arguments included) and its exception text before any handler
formats it; :func:`redact` is the same rewriting for other logs (gunicorn's access log).
"""

from __future__ import annotations

import logging
import re

from flask import Flask

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/orders/[A-Za-z0-9_-]{20,}"), "/orders/<token>"),
    (re.compile(r"/dropbox/files/[^\s?#\"'/]+"), "/dropbox/files/<token>"),
    (re.compile(r"([?&](?:code|state)=)[^\s&#\"']+"), r"\1<redacted>"),
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """``text`` with order tokens, fetch tokens and OAuth ``code``/``state`` values replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts a record in place (message, arguments, exception and stack text); never drops it.

    The record is shared by every handler, so redacting it once covers them all.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Add one :class:`RedactingFilter` to each handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(app: Flask) -> None:
    """Log to stderr at INFO outside debug and tests, and redact secrets in every handler."""
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    install_redaction()
