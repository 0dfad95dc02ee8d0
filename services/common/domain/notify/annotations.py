"""A rule's annotations rendered for one event: each template against the event, as a message template is.

A template that fails (a missing variable, its budget spent) gives its error text in place of the value, so the
event keeps every annotation name and the reader sees why one is missing; a failure never stops the others.
Once the caller's time is out (`out_of_time`, the caller's clock: each render has its own budget, this bounds
them all together), the remaining ones are not rendered and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.common.domain.notify.templates import TemplateError, render, template_context

ERROR_PREFIX = "template error: "
NOT_RENDERED = ERROR_PREFIX + "not rendered: the time for rendering annotations ran out"


def render_annotations(
    templates: Mapping[str, str],
    event: Mapping[str, Any],
    rule: Mapping[str, Any],
    out_of_time: Callable[[], bool] | None = None,
) -> dict[str, str]:
    """Each annotation rendered against the event (the contract's template context), or its error text."""
    context = template_context(event, rule)
    out: dict[str, str] = {}
    for name, template in templates.items():
        if out_of_time is not None and out_of_time():
            out[name] = NOT_RENDERED
            continue
        try:
            out[name] = render(template, context)
        except TemplateError as exc:
            out[name] = ERROR_PREFIX + exc.detail
    return out
