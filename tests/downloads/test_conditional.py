"""Range and precondition rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.http import http_date

from shop.downloads.conditional import Decision, evaluate, parse_range

ETAG = "abc123"
MODIFIED = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
SIZE = 1000


def decide(method: str = "GET", **headers: str) -> Decision:
    return evaluate(method, SIZE, ETAG, MODIFIED, **headers)


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-0", (0, 0)),
    ("bytes=0-999", (0, 999)),
    ("bytes=999-999", (999, 999)),
    ("bytes=999-", (999, 999)),
    ("bytes=10-", (10, 999)),
    ("bytes=10-5000", (10, 999)),  # a last position past the end is cut to the end
    ("BYTES = 5 - 6", (5, 6)),  # unit is case-insensitive; optional whitespace
])
def test_single_ranges_are_served(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, SIZE) == expected
    assert decide(range_header=header) == Decision(206, *expected)


@pytest.mark.parametrize("header, expected", [
    ("bytes=-500", (500, 999)),  # the last 500 bytes
    ("bytes=-1", (999, 999)),
    ("bytes=-999", (1, 999)),
    ("bytes=-1000", (0, 999)),
    ("bytes=-1001", (0, 999)),  # longer than the resource: all of it
    ("bytes=-" + "9" * 19, (0, 999)),
    ("Bytes = - 7 ", (993, 999)),
])
def test_suffix_ranges_are_served(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, SIZE) == expected
    assert decide(range_header=header) == Decision(206, *expected)
    assert decide("HEAD", range_header=header) == Decision(206, *expected)


def test_nineteen_digits_are_still_a_number() -> None:
    assert parse_range("bytes=0-" + "9" * 19, SIZE) == (0, 999)
    assert parse_range("bytes=" + "0" * 18 + "7-", SIZE) == (7, 999)


@pytest.mark.parametrize("header", [
    "bytes=", "bytes=-", "bytes=abc", "bytes=1-2-3", "bytes 0-1", "bytes=0x10-", "bytes=+1-2",
    "bytes=0-1,3-4", "bytes=0-1, 5-", "bytes=-0", "bytes=-000", "bytes=-500,-100", "bytes=0-1,-5",
    "bytes=--5", "bytes=-5-", "bytes=-+5", "bytes=10-5", "bytes=1000-", "bytes=1000-1000",
    "bytes=5000-6000", "bytes=١-٢", "bytes=-١", "bytes=0-1;x", "=0-1", "",
    # Finding L3: more than 19 digits is unsatisfiable, never a ValueError from int().
    "bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000,
    "bytes=" + "9" * 20 + "-", "bytes=0-" + "9" * 20, "bytes=-" + "9" * 20, "bytes=" + "0" * 20 + "-",
])
def test_other_byte_ranges_are_not_satisfiable(header: str) -> None:
    assert decide(range_header=header).status == 416


def test_unknown_range_units_are_ignored() -> None:
    assert decide(range_header="items=0-5") == Decision(200, 0, SIZE - 1)


def test_empty_resource_has_no_satisfiable_range() -> None:
    assert evaluate("GET", 0, ETAG, MODIFIED) == Decision(200, 0, -1)
    assert evaluate("GET", 0, ETAG, MODIFIED, range_header="bytes=0-").status == 416
    assert evaluate("GET", 0, ETAG, MODIFIED, range_header="bytes=-5").status == 416


def test_range_ignored_for_other_methods() -> None:
    assert decide("POST", range_header="bytes=0-1").status == 200


@pytest.mark.parametrize("if_none_match", ['"abc123"', 'W/"abc123"', '"x", "abc123"', "*"])
def test_if_none_match_gives_304(if_none_match: str) -> None:
    assert decide(if_none_match=if_none_match).status == 304


def test_if_none_match_mismatch_serves_and_beats_if_modified_since() -> None:
    later = http_date(MODIFIED + timedelta(days=1))
    assert decide(if_none_match='"other"', if_modified_since=later).status == 200


@pytest.mark.parametrize("since, status", [
    (MODIFIED.replace(microsecond=0), 304),
    (MODIFIED + timedelta(hours=1), 304),
    (MODIFIED - timedelta(seconds=1), 200),
])
def test_if_modified_since(since: datetime, status: int) -> None:
    assert decide(if_modified_since=http_date(since)).status == status


def test_garbage_dates_are_ignored() -> None:
    assert decide(if_modified_since="yesterday").status == 200
    assert decide(range_header="bytes=0-1", if_range="yesterday").status == 200


@pytest.mark.parametrize("if_range, status", [
    ('"abc123"', 206),
    ('"stale"', 200),
    ('W/"abc123"', 200),  # weak tags never match in If-Range
    (http_date(MODIFIED), 206),
    (http_date(MODIFIED - timedelta(seconds=1)), 200),
    (http_date(MODIFIED + timedelta(seconds=1)), 200),  # must be exact, not "not newer"
])
def test_if_range(if_range: str, status: int) -> None:
    assert decide(range_header="bytes=5-", if_range=if_range).status == status


@pytest.mark.parametrize("if_range, expected", [
    ('"abc123"', Decision(206, 500, 999)),
    (http_date(MODIFIED), Decision(206, 500, 999)),
    ('"stale"', Decision(200, 0, 999)),
    ('W/"abc123"', Decision(200, 0, 999)),
])
def test_if_range_with_a_suffix_range(if_range: str, expected: Decision) -> None:
    assert decide(range_header="bytes=-500", if_range=if_range) == expected


def test_failing_if_range_ignores_even_a_bad_range() -> None:
    assert decide(range_header="bytes=0-1,5-6", if_range='"stale"').status == 200


def test_if_match_and_if_unmodified_since() -> None:
    assert decide(if_match='"abc123"').status == 200
    assert decide(if_match="*").status == 200
    assert decide(if_match='W/"abc123"').status == 412
    assert decide(if_match='"nope"').status == 412
    assert decide(if_unmodified_since=http_date(MODIFIED - timedelta(days=1))).status == 412
    assert decide(if_unmodified_since=http_date(MODIFIED)).status == 200
