"""Sending mail: SMTP when ``MAIL_URL`` is set, else ``.eml`` files in the outbox folder.

``MAIL_URL`` forms: ``smtp://host:port`` (plain), ``smtp://user:pass@host:587?starttls=1``,
``smtps://user:pass@host:465`` (implicit TLS).
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, render_template

from shop.text_safety import for_header

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """A mail that could not be built or sent; callers treat both alike (log, carry on)."""


def compose(to: str, subject: str, template: str, **context: Any) -> EmailMessage:
    """Render ``template + ".txt"`` and ``template + ".html"`` with ``context`` and build the mail.

    :raises MailError: for anything that goes wrong while building it (a template error, a
        header that cannot be encoded, ...): a mail that cannot be built is a mail that was
        not sent, never a failed payment or page.
    """
    try:
        return build_message(to=to, subject=subject, text=render_template(f"{template}.txt", **context),
                             html=render_template(f"{template}.html", **context))
    except Exception as exc:
        raise MailError(f"could not build the mail {template!r}: {exc.__class__.__name__}: {exc}") from exc


def build_message(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = to
    if current_app.config.get("MAIL_REPLY_TO"):
        msg["Reply-To"] = current_app.config["MAIL_REPLY_TO"]
    # A title typed or stored with a line break or an escape stays on one line.
    msg["Subject"] = for_header(subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="shop.local")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(msg: EmailMessage) -> None:
    """Deliver ``msg``. Logs where it went, never its body (it holds secret links).

    :raises MailError: when the SMTP server cannot be reached or refuses the message, the
        outbox cannot be written, or the message cannot be serialised.
    """
    url = current_app.config.get("MAIL_URL")
    try:
        if url:
            _send_smtp(url, msg)
            log.info("mail %s sent over SMTP to %s", msg["Message-ID"], msg["To"])
        else:
            path = _write_outbox(Path(current_app.config["OUTBOX_DIR"]), msg)
            log.info("mail %s written to %s", msg["Message-ID"], path)
    except MailError:
        raise
    except Exception as exc:
        # Serialising happens only now (a header that cannot be encoded), or the outbox is
        # not writable: the mail was not sent, like any other refusal.
        raise MailError(f"could not send mail {msg['Message-ID']}: {exc.__class__.__name__}") from exc


def _send_smtp(url: str, msg: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise MailError("SHOP_MAIL_URL must look like smtp://host:port or smtps://user:pass@host:465")
    options = parse_qs(parts.query)
    timeout = 15
    try:
        if parts.scheme == "smtps":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                parts.hostname, parts.port or 465, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=timeout)
        with server:
            if options.get("starttls", ["0"])[0] in {"1", "true", "yes"}:
                server.starttls(context=ssl.create_default_context())
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail via {parts.hostname}: {exc.__class__.__name__}") from exc


def _write_outbox(folder: Path, msg: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{msg['Date'].datetime:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
    path = folder / name
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msg.as_bytes())
    tmp.replace(path)
    return path
