"""OpenAPI schema post-processing (drf-spectacular's POSTPROCESSING_HOOKS).

The operations that need a body say that it is required.

The API refuses unknown keys in every JSON object it reads, so every object schema reachable
from a request body says so (`additionalProperties: false`): a client or a fuzzer reading
the schema knows that an extra key is an error, as it is (schemathesis' positive and
negative data checks, mindpulse/tests/test_schema_fuzz.py).
"""

from __future__ import annotations

REF = "#/components/schemas/"
# Operations whose body cannot be empty (POST /api/retrain's note is optional).
BODY_REQUIRED = {"predict", "predict_batch", "feedback"}


def close_request_objects(result, generator, request, public):
    schemas = result.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody")
            if body and operation.get("operationId") in BODY_REQUIRED:
                body["required"] = True  # an empty body is a 400
            content = operation.get("requestBody", {}).get("content", {})
            for media_type, body in content.items():
                if media_type == "application/json":
                    _close(body.get("schema", {}), schemas, seen)
    return result


def _close(schema, schemas: dict, seen: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref", "")
    if ref.startswith(REF):
        name = ref[len(REF) :]
        if name not in seen and name in schemas:
            seen.add(name)
            _close(schemas[name], schemas, seen)
        return
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for key in ("properties",):
        for child in schema.get(key, {}).values():
            _close(child, schemas, seen)
    for key in ("items",):
        _close(schema.get(key), schemas, seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for child in schema.get(key, []):
            _close(child, schemas, seen)
