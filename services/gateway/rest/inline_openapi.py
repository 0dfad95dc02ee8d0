"""OpenAPI entries for routes whose models are described inline rather than listed in `schemas.core.DOCUMENTED`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def inline_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` describing the JSON request body of a route that reads the body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def answers(status: int, model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry for a JSON answer of this model."""
    return {status: {"model": model, "description": description}}
