"""Rule authoring tools: form preview and save, and simulation of drafts and stored rules (nothing is sent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.common.domain.evaluation import simulate
from services.common.domain.rules import forms
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import Rule, parse_rule
from services.common.domain.rules.policies import simulation_basis
from services.common.template_pool import off_loop
from services.gateway import row_codec, template_checks
from services.gateway.auth import Principal, editor, viewer
from services.gateway.policy_checks import enforce_activation
from services.gateway.rest.bodies import parse_model, read_json, read_object
from services.gateway.rest.openapi import body, reply
from services.gateway.rest.problems import invalid, invalid_field
from services.gateway.routes.rules import rule_response, visible_rule
from services.gateway.rule_changes import validate
from services.gateway.schemas.core import (
    Preview,
    RuleForm,
    SimulateDraft,
    SimulateStored,
    Simulation,
    SimulationStats,
)
from services.gateway.state import state_of
from services.gateway.store import rules as store

router = APIRouter(tags=["rules"])


@router.post("/cep/rules/preview", openapi_extra=body(RuleForm), responses=reply(200, Preview, "what would be stored"))
async def preview_form(request: Request, _: Principal = Depends(viewer)) -> Response:
    """Preview a form body: the canonical rule, a summary, warnings and field errors (200 even when invalid)."""
    form = await read_object(request)
    preview = await off_loop(forms.preview, form)  # it compiles every message template
    answer = preview.as_dict()
    if preview.rule is not None:  # what saving would refuse beyond the model: templates over budget, label limits
        spec = parse_rule(preview.rule)
        problems = await template_checks.rule_problems(spec, state_of(request).settings.label_limits)
        answer["errors"] += [problem.as_dict() for problem in problems]
    return JSONResponse(answer)


@router.post(
    "/cep/rules/form", status_code=201, openapi_extra=body(RuleForm), responses=reply(201, Rule, "the stored rule")
)
async def save_form(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Save a form body as a new rule: the same conversion as preview, then the same create as POST /cep/rules."""
    form = await read_object(request)
    try:
        rule_body = forms.form_to_body(form)
    except RuleValidationError as exc:
        raise invalid(exc.errors) from None
    spec = validate(rule_body)
    await template_checks.check_rule(spec, limits=state_of(request).settings.label_limits)
    await enforce_activation(request, principal.tenant, None, spec)
    rule = await state_of(request).rule_writer.create(principal.tenant, principal.actor, spec, datetime.now(UTC))
    return rule_response(rule, 201)


@router.post(
    "/cep/rules/simulate", openapi_extra=body(SimulateDraft), responses=reply(200, Simulation, "the simulation")
)
async def simulate_draft(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Simulate a draft rule (a create body under `rule`) over `payload` or `payloads`."""
    request_body = parse_model(SimulateDraft, await read_json(request))
    payloads = _payloads(request_body.payload, request_body.payloads)
    spec = validate(request_body.rule, prefix=("rule",))
    result = await off_loop(simulate.simulate, spec, payloads, datetime.now(UTC), tenant=principal.tenant)
    return JSONResponse(result.as_dict())


@router.post(
    "/cep/rules/{rule_id}/simulate",
    openapi_extra=body(SimulateStored),
    responses=reply(200, Simulation, "the simulation"),
)
async def simulate_stored(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Simulate a stored rule (active or not) over `payload` or `payloads`; counts toward its simulation record."""
    row = await visible_rule(request, principal.tenant, rule_id)
    request_body = parse_model(SimulateStored, await read_json(request))
    payloads = _payloads(request_body.payload, request_body.payloads)
    rule = row_codec.rule_from_row(row)
    now = datetime.now(UTC)
    result = await off_loop(
        simulate.simulate, rule.spec, payloads, now, rule_id=rule_id, tenant=rule.tenant, version=rule.version
    )
    async with state_of(request).db.write() as session:
        await store.count_simulation(session, principal.tenant, rule_id, now, simulation_basis(row.spec))
    return JSONResponse(result.as_dict())


@router.get("/cep/rules/{rule_id}/simulations", responses=reply(200, SimulationStats, "the simulation record"))
async def simulation_stats(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """How often a rule was simulated, and when last (team policy: simulate at least 3 times before deploying)."""
    row = await visible_rule(request, principal.tenant, rule_id)
    current = row.basis_simulations if row.simulation_basis == simulation_basis(row.spec) else 0
    return JSONResponse(
        {
            "rule_id": rule_id,
            "count": row.simulation_count,
            "last_simulated_at": row_codec.rfc3339(row.last_simulated_at),
            "since_last_change": current,
        }
    )


def _payloads(payload: dict[str, Any] | None, payloads: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if payload is not None and payloads is not None:
        raise invalid_field(("payloads",), "send either payload or payloads, not both")
    if payload is None and payloads is None:
        raise invalid_field(("payload",), "required: the payload to simulate (or payloads, a list of them)")
    return [payload] if payload is not None else list(payloads or [])
