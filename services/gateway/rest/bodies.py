"""Reading JSON request bodies defensively: malformed is a 400, wrong shape a 422 naming the field, never a 500."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from services.common.domain.rules.errors import from_pydantic
from services.gateway.rest.problems import Problem, invalid, invalid_field, malformed

MAX_DEPTH = 64  # far deeper than any rule needs; bounds recursion in every later step
ModelT = TypeVar("ModelT", bound=BaseModel)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes) -> Any:
    """Decode JSON strictly (UTF-8; no NaN/Infinity; finite numbers); raise Problem 400 when it is not JSON."""
    if not raw.strip():
        raise malformed("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise malformed("the request body is not UTF-8") from None
    except RecursionError:
        raise malformed("the request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, out-of-range numbers, oversized integers
        raise malformed(f"the request body is not valid JSON: {_short(exc)}") from None
    if depth(value) > MAX_DEPTH:
        raise invalid_field((), f"the body is nested more than {MAX_DEPTH} levels deep")
    return value


def _short(exc: ValueError) -> str:
    return str(exc).split("\n", 1)[0][:200]


def depth(value: Any) -> int:
    """The nesting depth of a decoded JSON value (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if level + 1 <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


async def read_json(request: Request) -> Any:
    """The decoded JSON body of a request (400 when it is not JSON)."""
    return loads(await request.body())


async def read_object(request: Request) -> dict[str, Any]:
    """The decoded body, which must be a JSON object (422 otherwise)."""
    value = await read_json(request)
    if not isinstance(value, dict):
        raise invalid_field((), f"the body must be a JSON object, not {_json_kind(value)}")
    return value


def parse_model(model: type[ModelT], data: Any, prefix: Sequence[str | int] = ()) -> ModelT:
    """Validate data into a pydantic model; a 422 naming each bad field (under `prefix`) otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(from_pydantic(exc), prefix) from None
    except RecursionError:
        raise Problem(422, "the body is nested too deeply", kind="validation") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
