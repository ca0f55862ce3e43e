"""A small validator for the part of OpenAPI 3.0 that Stripe's ``spec3`` uses for objects.

It understands ``type``, ``nullable``, ``enum``, ``maxLength``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``anyOf`` (how the spec writes expandable fields: an id
string or the object) and ``$ref``. An object schema without ``additionalProperties`` is
closed: a key it does not list is an error, so an emulator field Stripe does not send is
caught. Schemas the subset marks ``x-subset-partial`` list only some properties, so there
unknown keys are not judged. A ``$ref`` to a schema the subset does not hold is not judged
either; :attr:`Validator.unjudged` names them, so a test can say what it could not check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The spec subset beside the repository (``../shared/`` here and in CI; no internet there).
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "stripe-spec3-subset.json"

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


class Validator:
    """Validate JSON values against ``components.schemas`` of one spec file."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        self.version: str = spec["info"]["version"]
        self.unjudged: set[str] = set()

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Validator:
        return cls(json.loads(path.read_text()))

    def errors(self, value: Any, schema_name: str) -> list[str]:
        """Every disagreement between ``value`` and the named schema (empty: it conforms)."""
        return self._check(value, {"$ref": f"#/components/schemas/{schema_name}"}, schema_name)

    def _check(self, value: Any, schema: dict[str, Any], path: str) -> list[str]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            target = self.schemas.get(name)
            if target is None:
                self.unjudged.add(name)
                return []
            return self._check(value, target, path)
        if value is None:
            return [] if schema.get("nullable") else [f"{path}: null is not allowed"]
        if "anyOf" in schema:
            # Branches in order, as they are written (an id string before the object); a
            # branch that is not judged counts only when no judged one matches.
            failures = []
            unjudged = set(self.unjudged)
            for branch in schema["anyOf"]:
                before = set(self.unjudged)
                failed = self._check(value, branch, path)
                if not failed and self.unjudged == before:
                    self.unjudged = unjudged
                    return []
                failures.append(failed)
            if any(not failed for failed in failures):
                return []
            return [f"{path}: matches no anyOf branch ({'; '.join(f[0] for f in failures)})"]
        expected = schema.get("type")
        if expected is not None:
            kinds = _TYPES[expected]
            if not isinstance(value, kinds) or (expected != "boolean" and isinstance(value, bool)):
                return [f"{path}: {type(value).__name__} is not {expected}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of {schema['enum']}"]
        if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
            return [f"{path}: longer than {schema['maxLength']}"]
        if isinstance(value, list):
            items = schema.get("items", {})
            return [error for index, item in enumerate(value)
                    for error in self._check(item, items, f"{path}[{index}]")]
        if isinstance(value, dict):
            return self._object(value, schema, path)
        return []

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        errors = [f"{path}: missing {key}" for key in schema.get("required", [])
                  if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        closed = extra is None and "properties" in schema and not schema.get("x-subset-partial")
        for key, item in value.items():
            if key in properties:
                errors += self._check(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += self._check(item, extra, f"{path}.{key}")
            elif closed:
                errors.append(f"{path}: {key} is not in the spec")
        return errors
