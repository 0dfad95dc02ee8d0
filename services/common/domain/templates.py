"""Message templates: sandboxed Jinja2, strict about missing variables, compiled once per text."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

# The Event fields the contract puts at the top level of every template context.
EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "rule_id",
    "rule_name",
    "severity",
    "status",
    "group_key",
    "summary",
    "fired_at",
    "count",
    "payload",
)
MAX_SEQUENCE = 100_000  # longest string or list a template may build with `*` (the sandbox caps range() alike)
MAX_OUTPUT = 1_000_000  # characters; a notification body larger than this is a template bug


@dataclass
class TemplateError(Exception):
    """A template that cannot render: bad syntax, a missing variable or a sandbox violation."""

    detail: str
    kind: str = "template"

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, str]:
        """The `error` object of a channel test or a delivery attempt."""
        return {"kind": self.kind, "detail": self.detail}


class _Environment(SandboxedEnvironment):
    """The sandbox, plus a cap on `*` and `**` so `'x' * 10**10` cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64 and isinstance(left, int) and abs(left) > 1:
                raise jinja2.sandbox.SecurityError("exponent too large")
            return operator.pow(left, right)
        if _sequence_size(left, right) > MAX_SEQUENCE or _sequence_size(right, left) > MAX_SEQUENCE:
            raise jinja2.sandbox.SecurityError(f"result longer than {MAX_SEQUENCE}")
        return operator.mul(left, right)


def _sequence_size(sequence: Any, times: Any) -> int:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        return len(sequence) * times
    return 0


_ENV = _Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a template against a context; raise TemplateError naming what went wrong."""
    compiled = compile_template(template)
    try:
        text = compiled.render(dict(context))
    except jinja2.UndefinedError as exc:
        raise TemplateError(str(exc.message)) from None
    except jinja2.sandbox.SecurityError as exc:
        raise TemplateError(f"not allowed in templates: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(str(exc)) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}") from None
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"rendered message longer than {MAX_OUTPUT} characters")
    return text


def check(template: str) -> str | None:
    """The syntax error of a template, or None when it compiles (for previews and channel tests)."""
    try:
        compile_template(template)
    except TemplateError as exc:
        return exc.detail
    return None


def compile_template(template: str) -> jinja2.Template:
    """The compiled template (cached); TemplateError for a syntax error."""
    if not isinstance(template, str):
        raise TemplateError("a template is a string")
    try:
        return _compiled(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error at line {exc.lineno}: {exc.message}") from None


@lru_cache(maxsize=1024)
def _compiled(template: str) -> jinja2.Template:
    return _ENV.from_string(template)


def template_context(event: Mapping[str, Any], rule: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's context: every top-level Event field, plus `rule` (the Rule) and `event` (the Event)."""
    context: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    context.update(event)
    context["rule"] = dict(rule)
    context["event"] = dict(event)
    return context
