"""Check real responses against openapi.yaml (OpenAPI 3.0, with its `nullable`)."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml

from tests.helpers import REPO


def _to_json_schema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0's `nullable: true` as JSON Schema's `type: [T, "null"]`."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def document() -> dict[str, Any]:
    return _to_json_schema(yaml.safe_load((REPO / "openapi.yaml").read_text()))


def check_response(method: str, status: int, body: Any) -> None:
    """Raise unless ``body`` is what openapi.yaml promises for this method and status."""
    doc = document()
    responses = doc["paths"]["/"][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {status} is not documented"
    response = responses[str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**doc, **schema})
