"""Template preview: render a message template against a sample event, so authors see the text before saving."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.domain.notify.template_preview import preview, preview_event, preview_rule
from services.common.template_pool import off_loop
from services.gateway import row_codec
from services.gateway.auth import Principal, viewer
from services.gateway.rest.bodies import read_object
from services.gateway.rest.problems import invalid_field
from services.gateway.routes.rules import visible_rule

router = APIRouter(tags=["templates"])
_KEYS = frozenset({"template", "event", "rule_id"})


class TemplatePreviewBody(BaseModel):
    """A template, optional event fields to render against, and optionally a stored rule for `rule`."""

    template: str = Field(description="a Jinja2 message template (sandboxed; a missing variable is an error)")
    event: dict[str, Any] | None = Field(
        default=None,
        description="event fields replacing the sample event's (event_id, rule_name, severity, payload, ...)",
    )
    rule_id: str | None = Field(default=None, description="a stored rule: its fields fill the event and `rule`")


class TemplatePreviewError(BaseModel):
    kind: str = Field(description="template")
    detail: str


class TemplatePreview(BaseModel):
    """The rendered text, or why the template does not render (a 200 either way)."""

    ok: bool
    rendered: str | None = None
    error: TemplatePreviewError | None = None


@router.post(
    "/cep/templates/preview",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TemplatePreviewBody.model_json_schema()}},
        }
    },
    responses={200: {"model": TemplatePreview, "description": "the rendered text, or the template error"}},
)
async def preview_template(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Render `template` against the sample event (see docs/notifications.md) with `event`'s fields applied."""
    data = await read_object(request)
    for key in data:
        if key not in _KEYS:
            raise invalid_field((str(key),), "unknown field")
    template = data.get("template")
    if not isinstance(template, str):
        raise invalid_field(("template",), "required: a template string")
    fields = data.get("event")
    if fields is not None and not isinstance(fields, dict):
        raise invalid_field(("event",), "an object of event fields")
    rule = await _rule(request, principal, data.get("rule_id"))
    event = preview_event(fields, rule, principal.tenant)
    return JSONResponse(await off_loop(preview, template, event, preview_rule(event, rule)))


async def _rule(request: Request, principal: Principal, rule_id: Any) -> dict[str, Any] | None:
    if rule_id is None:
        return None
    if not isinstance(rule_id, str) or not rule_id:
        raise invalid_field(("rule_id",), "a rule id")
    row = await visible_rule(request, principal.tenant, rule_id)
    return row_codec.rule_from_row(row).canonical()
