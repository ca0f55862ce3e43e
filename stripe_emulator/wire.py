"""Stripe's wire format: bracket-nested form bodies, the error envelope, list objects.

Handlers raise :class:`StripeError` (or a subclass); the API blueprint turns it into
``{"error": {...}}`` with the matching status, which the SDK maps to its exceptions
(400/404 ``InvalidRequestError``, 401 ``AuthenticationError``, 402 ``CardError``,
``idempotency_error`` ``IdempotencyError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from werkzeug.datastructures import MultiDict

DOC_BASE = "https://stripe.com/docs/error-codes/"

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class StripeError(Exception):
    """An API error: ``status`` and the envelope's fields (``None`` fields are left out)."""

    def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 decline_code: str | None = None, extra: dict[str, Any] | None = None,
                 validation: bool = False) -> None:
        super().__init__(message)
        #: Raised while checking the parameters, before the request began executing: an
        #: idempotency key does not remember it (Stripe stores every other result).
        self.validation = validation
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param, validation=True)


def invalid(param: str, message: str, code: str = "parameter_invalid_empty") -> StripeError:
    return StripeError(message, code=code, param=param, validation=True)


def unknown_param(param: str) -> StripeError:
    return StripeError(f"Received unknown parameter: {param}", code="parameter_unknown",
                       param=param, validation=True)


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    """404 ``resource_missing``: ``No such checkout.session: 'cs_test_...'``."""
    return StripeError(f"No such {kind}: '{object_id}'", status=404, code="resource_missing",
                       param=param)


# -- form bodies ---------------------------------------------------------------------------


def parse_params(pairs: MultiDict[str, str] | Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``a[b][0][c]=v`` pairs into nested dicts and lists.

    ``x[]=1&x[]=2`` and ``x[0]=1&x[1]=2`` both give ``{"x": ["1", "2"]}``; a dict whose
    keys are all digits becomes a list in index order. Values stay strings, as on the wire.

    :raises StripeError: on a key that is not ``name`` or ``name[..]..``.
    """
    items = pairs.items(multi=True) if isinstance(pairs, MultiDict) else pairs
    root: dict[str, Any] = {}
    for raw_key, value in items:
        match = _KEY.match(raw_key)
        if match is None:
            raise StripeError(f"Invalid parameter name: {raw_key}", param=raw_key, validation=True)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: dict[str, Any] = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            following = None if last else path[index + 1]
            if following == "":
                bucket = node.setdefault(part, {})
                if not isinstance(bucket, dict):
                    raise StripeError(f"Invalid array: {raw_key}", param=raw_key, validation=True)
                bucket[str(len(bucket))] = value
                break
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(f"Invalid hash: {raw_key}", param=raw_key, validation=True)
                node = child
    parsed: dict[str, Any] = _lists(root)
    return parsed


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# -- reading parameters --------------------------------------------------------------------


def check_known(params: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Reject any key outside ``allowed`` (``expand`` is always allowed at the top)."""
    known = set(allowed) | ({"expand"} if not prefix else set())
    for key in params:
        if key not in known:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def text(params: dict[str, Any], name: str, *, required: bool = False, param: str | None = None,
         max_length: int = 5000) -> str | None:
    value = params.get(name)
    label = param or name
    if value is None or value == "":
        if required:
            raise missing(label)
        return None
    if not isinstance(value, str):
        raise StripeError(f"Invalid string: {label}", code="parameter_invalid_string", param=label, validation=True)
    if len(value) > max_length:
        raise StripeError(f"Invalid {label}: must be at most {max_length} characters",
                          code="parameter_invalid_string", param=label, validation=True)
    return value


def integer(params: dict[str, Any], name: str, *, required: bool = False,
            param: str | None = None, minimum: int | None = None) -> int | None:
    value = params.get(name)
    label = param or name
    if value is None or value == "":
        if required:
            raise missing(label)
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeError(f"Invalid integer: {value}", code="parameter_invalid_integer",
                          param=label, validation=True)
    number = int(value)
    if minimum is not None and number < minimum:
        raise StripeError(f"This value must be greater than or equal to {minimum}.",
                          code="parameter_invalid_integer", param=label, validation=True)
    return number


def metadata(params: dict[str, Any], name: str = "metadata", param: str | None = None
             ) -> dict[str, str] | None:
    """Stripe's metadata rules: at most 50 keys, keys <= 40 and values <= 500 characters."""
    value = params.get(name)
    label = param or name
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
        raise StripeError("Invalid object", code="parameter_invalid_empty", param=label, validation=True)
    if len(value) > 50:
        raise StripeError("Invalid metadata: must have at most 50 keys", param=label, validation=True)
    for key, item in value.items():
        if len(key) > 40:
            raise StripeError(f"Invalid metadata key: {key} is longer than 40 characters",
                              param=f"{label}[{key}]", validation=True)
        if len(item) > 500:
            raise StripeError("Invalid metadata value: must be at most 500 characters",
                              param=f"{label}[{key}]", validation=True)
    return {key: item for key, item in value.items() if item != ""}


def expand_paths(params: dict[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise StripeError("Invalid array", param="expand", validation=True)
    return value


def list_object(items: list[dict[str, Any]], url: str, params: dict[str, Any]) -> dict[str, Any]:
    """One page of ``items`` (newest first), honouring ``limit``/``starting_after``/``ending_before``."""
    limit = integer(params, "limit", minimum=1)
    limit = 10 if limit is None else limit
    if limit > 100:
        raise StripeError("This value must be less than or equal to 100.",
                          code="parameter_invalid_integer", param="limit", validation=True)
    after = text(params, "starting_after")
    before = text(params, "ending_before")
    ids = [item["id"] for item in items]
    if after is not None:
        if after not in ids:
            raise no_such("object", after, "starting_after")
        page_items = items[ids.index(after) + 1:]
        page, has_more = page_items[:limit], len(page_items) > limit
    elif before is not None:
        if before not in ids:
            raise no_such("object", before, "ending_before")
        page_items = items[: ids.index(before)]
        page, has_more = page_items[-limit:], len(page_items) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}
