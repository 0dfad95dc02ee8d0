"""A rule's `labels` and `annotations`: what a name may be, and the limits a client's rule is held to.

Label names follow Prometheus' classic syntax; names starting with `__` are reserved (Prometheus and
Alertmanager keep them for internal use), so a rule may not set them. Values are strings. Annotations are
named like labels; each value is a message template (notify/templates.py), rendered when the event fires.

The limits bound what one rule adds to every event it opens (its labels are copied onto each one) and what the
recorder renders per event. They are settings of the gateway (`CEP_RULE_MAX_LABELS`, ...), checked when a
client saves a rule; a rule read back from storage is never refused for them (a lowered limit applies to the
next save).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.rules.errors import FieldError

MAX_LABELS = 32  # labels of one rule
MAX_LABEL_NAME = 128  # characters of a label or annotation name
MAX_LABEL_VALUE = 1_024  # characters of a label value
MAX_ANNOTATIONS = 32  # annotations of one rule
MAX_ANNOTATION = 4_096  # characters of an annotation's template text


def name_problem(name: str) -> str | None:
    """Why a label or annotation name cannot be used, or None."""
    if not is_valid_name(name):
        return "a label name matches [a-zA-Z_][a-zA-Z0-9_]* (Prometheus' syntax)"
    if name.startswith("__"):
        return "names starting with __ are reserved"
    return None


def _checked_name(name: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


# A label or annotation name in the rule model: pydantic reports a bad one at `labels.<name>`.
LabelName = Annotated[str, AfterValidator(_checked_name)]


@dataclass(frozen=True)
class LabelLimits:
    """How many labels and annotations a client's rule may have, and how long their names and values may be."""

    labels: int = MAX_LABELS
    name: int = MAX_LABEL_NAME
    value: int = MAX_LABEL_VALUE
    annotations: int = MAX_ANNOTATIONS
    annotation: int = MAX_ANNOTATION

    def problems(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> list[FieldError]:
        """Every limit the rule's labels and annotations exceed, each naming `labels.<name>` (or `labels`)."""
        errors: list[FieldError] = []
        for field, items, count, size in (
            ("labels", labels, self.labels, self.value),
            ("annotations", annotations, self.annotations, self.annotation),
        ):
            if len(items) > count:
                errors.append(FieldError((field,), f"at most {count} {field}, got {len(items)}"))
            for name, text in items.items():
                if len(name) > self.name:
                    errors.append(FieldError((field, name), f"a name is at most {self.name} characters"))
                if len(text) > size:
                    errors.append(FieldError((field, name), f"a value is at most {size} characters, got {len(text)}"))
        return errors
