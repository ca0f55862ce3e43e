"""Template filters (money, sizes, durations, dates) and the globals every template sees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app

from shop.currencies import format_grouped, format_plain
from shop.formats import FORMAT_COUNT_IN_WORDS, FORMAT_NAMES_IN_WORDS, FORMATS, BuyerFormat, get_format

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(cents: int, currency: str = "USD") -> str:
    """An amount in ``currency``'s minor unit as a person reads it: ``1234, "USD"`` → ``$12.34``,
    ``500, "JPY"`` → ``¥500``, ``12340, "KWD"`` → ``12.340 KWD`` (other currencies keep their code)."""
    sign = "-" if cents < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = format_grouped(abs(int(cents)), currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def filesize(size: int) -> str:
    """Bytes in binary units, one decimal above KiB: ``1536`` → ``1.5 KB``."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(ms: int) -> str:
    """Milliseconds as ``m:ss`` (or ``h:mm:ss``)."""
    seconds = int(round(ms / 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(noun: str, count: int, many: str | None = None) -> str:
    """``noun`` for one, else its plural (``many``, or ``noun`` + "s"): ``"hour", 2`` → ``hours``."""
    return noun if count == 1 else (many or noun + "s")


def counted(count: int, noun: str, many: str | None = None) -> str:
    """``1, "hour"`` → ``1 hour``; ``3, "hour"`` → ``3 hours``."""
    return f"{count:,} {plural(noun, count, many)}"


def isodate(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def humandate(value: datetime) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC")


def template_globals() -> dict[str, Any]:
    """Available in every template: which payment provider runs (pages label the test one), and
    the buyer formats in words (``format_count`` "eight", ``format_names`` "MP3 V0 or 320, AAC, …")."""
    return {"payment_provider": current_app.config.get("PAYMENT_PROVIDER"),
            "format_count": FORMAT_COUNT_IN_WORDS, "format_names": FORMAT_NAMES_IN_WORDS}


def buyer_formats() -> tuple[BuyerFormat, ...]:
    """Every buyer format in display order, with labels and descriptions, for templates."""
    return FORMATS


def register(app: Flask) -> None:
    app.context_processor(template_globals)
    app.add_template_global(buyer_formats)
    app.add_template_global(get_format, "buyer_format")
    app.add_template_filter(money)
    app.add_template_filter(format_plain, "plain_amount")
    app.add_template_filter(filesize)
    app.add_template_filter(duration)
    app.add_template_filter(plural)
    app.add_template_filter(counted)
    app.add_template_filter(isodate)
    app.add_template_filter(humandate)
