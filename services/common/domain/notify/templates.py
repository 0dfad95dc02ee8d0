"""Message templates: sandboxed Jinja2 with a budget per render, strict about missing variables, compiled once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2

from services.common.domain.notify.template_budget import Limits, OverBudget
from services.common.domain.notify.template_sandbox import BudgetedEnvironment

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
# Every render's budget (template_sandbox.py checks them while it renders, not after).
MAX_ITERATIONS = 100_000  # loop iterations, all loops of a render together (nested loops multiply)
MAX_VALUE = 1_000_000  # characters or items of any string or container a template builds (`~`, `+`, join, ...)
MAX_DEPTH = 50  # calls within calls (a macro calling itself): about 300 Python frames, well under its 1000
MAX_SECONDS = 1.0  # wall-clock time of one render
MAX_TEMPLATE = 16_384  # characters of template text; compiling costs about 10 ms a kilobyte

LIMITS = Limits(
    iterations=MAX_ITERATIONS,
    output=MAX_OUTPUT,
    value=MAX_VALUE,
    sequence=MAX_SEQUENCE,
    depth=MAX_DEPTH,
    seconds=MAX_SECONDS,
)


@dataclass
class TemplateError(Exception):
    """A template that cannot render: bad syntax, a missing variable, a sandbox violation or its budget spent."""

    detail: str
    kind: str = "template"

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, str]:
        """The `error` object of a channel test or a delivery attempt."""
        return {"kind": self.kind, "detail": self.detail}


@dataclass
class TemplateBudgetError(TemplateError):
    """A render that went past its budget (loop iterations, sizes, call depth or time)."""


_ENV = BudgetedEnvironment(LIMITS, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
# For the budget check when a template is saved: a variable the sample event lacks is empty, not an error.
_TRIAL_ENV = BudgetedEnvironment(
    LIMITS, undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=True
)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a template against a context within its budget; raise TemplateError naming what went wrong."""
    return _render(_ENV, template, context)


def over_budget(template: str, context: Mapping[str, Any]) -> str | None:
    """The budget a template exceeds against `context` (missing variables read as empty), else None.

    Other render errors (a missing variable, `1 / 0`) depend on the event, so they are not reported here.
    """
    try:
        _render(_TRIAL_ENV, template, context)
    except TemplateBudgetError as exc:
        return exc.detail
    except TemplateError:
        return None
    return None


def _render(environment: BudgetedEnvironment, template: str, context: Mapping[str, Any]) -> str:
    compiled = _compile(environment, template)
    try:
        return compiled.render(dict(context))
    except OverBudget as exc:
        raise TemplateBudgetError(str(exc)) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(str(exc.message)) from None
    except jinja2.sandbox.SecurityError as exc:
        raise TemplateError(f"not allowed in templates: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(str(exc)) from None
    except RecursionError:
        raise TemplateError("template nested too deeply: Python's recursion limit was reached") from None
    except MemoryError:
        raise TemplateError("template ran out of memory") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}") from None


def check(template: str) -> str | None:
    """The syntax error of a template, or None when it compiles (for previews and channel tests)."""
    try:
        compile_template(template)
    except TemplateError as exc:
        return exc.detail
    return None


def compile_template(template: str) -> jinja2.Template:
    """The compiled template (cached); TemplateError for a syntax error or a template too large to compile."""
    return _compile(_ENV, template)


def _compile(environment: BudgetedEnvironment, template: str) -> jinja2.Template:
    if not isinstance(template, str):
        raise TemplateError("a template is a string")
    if len(template) > MAX_TEMPLATE:
        raise TemplateError(f"template longer than {MAX_TEMPLATE} characters")
    try:
        return _compiled(environment, template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error at line {exc.lineno}: {exc.message}") from None
    except (RecursionError, SyntaxError) as exc:  # Python's parser and compiler limit how deeply blocks nest
        detail = exc.msg if isinstance(exc, SyntaxError) else "maximum recursion depth exceeded"
        raise TemplateError(f"template nested too deeply: {detail}") from None


@lru_cache(maxsize=512)
def _compiled(environment: BudgetedEnvironment, template: str) -> jinja2.Template:
    return environment.from_string(template)


def template_context(event: Mapping[str, Any], rule: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's context: every top-level Event field, plus `rule` (the Rule) and `event` (the Event)."""
    context: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    context.update(event)
    context["rule"] = dict(rule)
    context["event"] = dict(event)
    return context
