"""The field types and the base model every part of the rule model is built on: durations, paths, numbers.

Also the two helpers their validators share: whether a value comes from a client (stricter checks), and a
model-level error that names its field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, WithJsonSchema

from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.paths import validate_path


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _number(value: Any) -> int | float:
    """Accept a JSON number or a numeric string (forms send strings); keep integers integral."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
FieldPath = Annotated[str, AfterValidator(validate_path)]
Number = Annotated[Any, PlainValidator(_number), WithJsonSchema({"type": "number"})]
GroupBy = Annotated[list[FieldPath], Field(min_length=1)]


class Frozen(BaseModel):
    """Base of every domain model: immutable, unknown fields refused (a typo is an error, not ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def from_client(info: ValidationInfo) -> bool:
    """Whether a model is validated from a client's body (`parse_rule`), not read back from storage."""
    return isinstance(info.context, Mapping) and info.context.get("client_input") is True


def field_error(field: str, msg: str) -> ValueError:
    """A model-level error that names its field (errors.py moves the tag into the error's path)."""
    # pydantic reports model-level ValueErrors at the model's location; prefix the field so the path is exact.
    return ValueError(f"[{field}] {msg}")
