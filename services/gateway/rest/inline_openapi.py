"""OpenAPI entries for routes whose models are described inline rather than listed in `schemas.core.DOCUMENTED`.

A model's nested models are written out in place (its `$defs` resolved), so the document holds no reference to a
schema it does not define. Only models without recursion are described this way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every `$ref` to its own `$defs` replaced by the definition."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def inline_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` describing the JSON request body of a route that reads the body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}}


def answers(status: int, model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry for a JSON answer of this model."""
    return {status: {"model": model, "description": description}}
