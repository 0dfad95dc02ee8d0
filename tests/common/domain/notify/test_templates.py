"""Sandboxed, strict message templates and their context."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.notify.templates import TemplateError, check, render, template_context

EVENT = {
    "event_id": "ev-1",
    "rule_id": "r-1",
    "rule_name": "cpu_high_alert",
    "tenant": "default",
    "severity": "high",
    "status": "open",
    "group_key": "host=gt-01",
    "summary": "cpu_usage > 85 for 5m",
    "fired_at": "2024-05-01T12:00:00Z",
    "count": 3,
    "payload": {"cpu_usage": 92, "host": "gt-01", "tags": ["a", "b"]},
}
RULE = {"rule_id": "r-1", "name": "cpu_high_alert", "owner": "sre-team", "priority": "P2"}
CONTEXT = template_context(EVENT, RULE)

RENDERS = [
    ("CPU threshold exceeded", "CPU threshold exceeded"),
    ("{{ rule_name }} on {{ payload.host }}: {{ payload.cpu_usage }}%", "cpu_high_alert on gt-01: 92%"),
    ("{{ payload['host'] }} x{{ count }}", "gt-01 x3"),
    ("{{ rule.owner }} / {{ rule.priority }}", "sre-team / P2"),
    ("{{ event.event_id }} == {{ event_id }}", "ev-1 == ev-1"),
    ("{{ tenant }}", "default"),  # every top-level Event field, not only the listed ones
    ("{{ severity | upper }} {{ summary }}", "HIGH cpu_usage > 85 for 5m"),
    ("{% for t in payload.tags %}[{{ t }}]{% endfor %}", "[a][b]"),
    ("{{ payload.missing | default('n/a') }}", "n/a"),
    ("{{ '<b>' }}", "<b>"),  # no autoescape: messages are not HTML
    ("{{ 'ab' * 3 }}", "ababab"),
    ("{{ 2 ** 10 }}", "1024"),
    ("line\n", "line\n"),
]


@pytest.mark.parametrize(("template", "text"), RENDERS)
def test_render(template: str, text: str) -> None:
    assert render(template, CONTEXT) == text


FAILURES = [
    ("{{ hostname }}", "'hostname' is undefined"),
    ("{{ payload.nope }}", "'dict object' has no attribute 'nope'"),
    ("{{ payload.host", "syntax error at line 1"),
    ("{% if %}", "syntax error at line 1"),
    ("{{ ''.__class__.__mro__ }}", "not allowed in templates"),
    ("{{ payload.__class__ }}", "not allowed in templates"),
    ("{{ 'x' * 1000000 }}", "not allowed in templates: result longer than"),
    ("{{ 9 ** 999999 }}", "not allowed in templates: exponent too large"),
    ("{{ range(10 ** 7) | list }}", "Range too big"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ count + 'a' }}", "TypeError"),
]


@pytest.mark.parametrize(("template", "detail"), FAILURES)
def test_render_errors_are_template_errors(template: str, detail: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, CONTEXT)
    assert info.value.kind == "template"
    assert detail in info.value.detail
    assert info.value.as_dict() == {"kind": "template", "detail": info.value.detail}


def test_missing_event_fields_are_none_not_errors() -> None:
    """A partial Event (simulate) still renders templates that use the contract's fields."""
    context = template_context({"payload": {"x": 1}}, {"name": "r"})
    assert render("{{ event_id }}|{{ payload.x }}|{{ rule.name }}", context) == "None|1|r"


def test_check_reports_syntax_only() -> None:
    assert check("{{ anything_undefined }}") is None
    assert check("{{ x") is not None


def test_non_string_template() -> None:
    bad: Any = 42
    with pytest.raises(TemplateError):
        render(bad, CONTEXT)
