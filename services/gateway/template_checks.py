"""Save-time template checks: a rule's or channel's template that does not parse, or that spends its budget on the
sample event, is a 422 naming the field. A variable the sample lacks is no reason (it depends on the event).

A rule's templates are its action messages and its annotations; its labels and annotations are also held to the
gateway's limits (`LabelLimits` from the settings) here, since both are checked when a rule is saved.

The check renders, so it runs off the event loop (services/common/template_pool.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.domain.labels.rule_labels import LabelLimits
from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.template_preview import save_error
from services.common.domain.rules.errors import FieldError
from services.common.domain.rules.model import RuleSpec
from services.common.template_pool import off_loop
from services.gateway.rest.problems import invalid


async def check_rule(spec: RuleSpec, prefix: Sequence[str | int] = (), limits: LabelLimits | None = None) -> None:
    """A 422 naming `action_spec.N.message` or `annotations.<name>` for each template that cannot be saved, and
    `labels.<name>` / `annotations.<name>` for each label limit exceeded."""
    errors = await rule_problems(spec, limits or LabelLimits())
    if errors:
        raise invalid(errors, prefix)


async def rule_problems(spec: RuleSpec, limits: LabelLimits) -> list[FieldError]:
    """What `check_rule` refuses, as field errors (the preview lists them)."""
    errors = limits.problems(spec.labels, spec.annotations)
    refused = {error.loc for error in errors}
    templates: dict[tuple[str | int, ...], str] = {
        ("action_spec", index, "message"): action.message
        for index, action in enumerate(spec.action_spec)
        if action.message is not None
    }
    # An annotation already over its size limit is not rendered as well.
    templates.update({("annotations", name): text for name, text in spec.annotations.items()})
    templates = {loc: text for loc, text in templates.items() if loc not in refused}
    return errors + await off_loop(_problems, templates)


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
