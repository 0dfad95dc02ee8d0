"""Save-time template checks: a rule's or channel's template that does not parse, or that spends its budget on the
sample event, is a 422 naming the field. A variable the sample lacks is no reason (it depends on the event).

The check renders, so it runs off the event loop (services/common/template_pool.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.template_preview import save_error
from services.common.domain.rules.errors import FieldError
from services.common.domain.rules.model import RuleSpec
from services.common.template_pool import off_loop
from services.gateway.rest.problems import invalid


async def check_rule(spec: RuleSpec, prefix: Sequence[str | int] = ()) -> None:
    """A 422 naming `action_spec.N.message` for each message template that cannot be saved."""
    messages = {index: action.message for index, action in enumerate(spec.action_spec) if action.message is not None}
    errors = await off_loop(_problems, {("action_spec", index, "message"): text for index, text in messages.items()})
    if errors:
        raise invalid(errors, prefix)


async def check_channel(body: Any) -> None:
    """A 422 naming `config.<field>` for each template field (api_call's `body`) that cannot be saved.

    Runs on the raw body, before the config is validated (which reports anything else that is wrong).
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("config"), Mapping):
        return
    channel_type = TYPES.get(str(body.get("type")))
    if channel_type is None:
        return
    config = body["config"]
    templates: dict[tuple[str | int, ...], str] = {
        ("config", spec.name): config[spec.name]
        for spec in channel_type.fields
        if spec.kind == "template" and isinstance(config.get(spec.name), str)
    }
    errors = await off_loop(_problems, templates)
    if errors:
        raise invalid(errors)


def _problems(templates: Mapping[tuple[str | int, ...], str]) -> list[FieldError]:
    found = ((loc, save_error(text)) for loc, text in templates.items())
    return [FieldError(loc, problem) for loc, problem in found if problem is not None]
