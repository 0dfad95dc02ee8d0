"""Rules CRUD routes: list, create, read, replace, merge-patch, delete, and the version history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.db.tables import RuleRow
from services.common.domain.rules.model import Rule, RuleSpec
from services.common.domain.rules.triggers import TriggerType
from services.gateway import row_codec, template_checks
from services.gateway.auth import Principal, editor, viewer
from services.gateway.policy_checks import enforce_activation
from services.gateway.rest.bodies import read_json, read_object
from services.gateway.rest.merge import expected_versions
from services.gateway.rest.openapi import body, ref, reply
from services.gateway.rest.paging import (
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    time_cursor,
)
from services.gateway.rest.problems import not_found
from services.gateway.rule_changes import patched, validate
from services.gateway.rule_errors import error_state
from services.gateway.schemas.core import RuleList, RulePatch, RuleReplace, RuleVersionList, StoredRule
from services.gateway.state import state_of
from services.gateway.store import rule_firings
from services.gateway.store import rules as store

router = APIRouter(tags=["rules"])
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]
_VERSIONED = {"description": "the rule", "headers": {"ETag": {"schema": {"type": "string"}}}}


def rule_response(rule: Rule, status: int = 200, stored: RuleRow | None = None) -> JSONResponse:
    """A Rule as JSON with its error state (of `stored`), its version as the ETag (usable in If-Match)."""
    headers = {"ETag": f'"{rule.version}"'}
    if status == 201:
        headers["Location"] = f"/cep/rules/{rule.rule_id}"
    return JSONResponse({**rule.canonical(), **error_state(stored)}, status_code=status, headers=headers)


def _listed(row: RuleRow, fired: rule_firings.Firings) -> dict[str, object]:
    """A rule as listed: the Rule, its error state and its firing record (`firing_count`, `last_fired_at`)."""
    rule = row_codec.rule_from_row(row)
    fields = {"firing_count": fired.count, "last_fired_at": row_codec.rfc3339(fired.last_fired_at)}
    return {**rule.canonical(), **error_state(row), **fields}


@router.get("/cep/rules", responses=reply(200, RuleList, "the tenant's rules, oldest first"))
async def list_rules(
    request: Request,
    principal: Principal = Depends(viewer),
    active: bool | None = None,
    trigger_type: TriggerType | None = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of name or description")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """List rules, filtered by `active`, `trigger_type` and `q`, in a stable order (creation, then id)."""
    after = decode_time_cursor(cursor) if cursor else None
    filters = store.RuleFilter(active=active, trigger_type=trigger_type, q=q)
    async with state_of(request).db.read() as session:
        rows, total = await store.list_rules(session, principal.tenant, filters, limit, after)
        fired = await rule_firings.firings(session, principal.tenant, [r.rule_id for r in rows])
    items = [_listed(r, fired.get(r.rule_id, rule_firings.Firings())) for r in rows]
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.rule_id) if last else None
    return JSONResponse(Page(items, total, next_cursor).as_dict())


@router.post(
    "/cep/rules",
    status_code=201,
    openapi_extra=body(RuleSpec),
    responses={201: {**_VERSIONED, "content": {"application/json": {"schema": ref(StoredRule)}}}},
)
async def create_rule(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create a rule (201, version 1)."""
    spec = validate(await read_json(request))
    await template_checks.check_rule(spec, limits=state_of(request).settings.label_limits)
    await enforce_activation(request, principal.tenant, None, spec)
    rule = await state_of(request).rule_writer.create(principal.tenant, principal.actor, spec, datetime.now(UTC))
    return rule_response(rule, 201)


@router.get("/cep/rules/{rule_id}", responses=reply(200, StoredRule, "the rule, with its error state"))
async def get_rule(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Read one rule."""
    row = await visible_rule(request, principal.tenant, rule_id)
    return rule_response(row_codec.rule_from_row(row), stored=row)


@router.put(
    "/cep/rules/{rule_id}", openapi_extra=body(RuleReplace), responses=reply(200, StoredRule, "the new version")
)
async def replace_rule(
    request: Request, rule_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Replace every writable field; `version` (body) or `If-Match` make it conditional (409 when stale)."""
    current = await visible_rule(request, principal.tenant, rule_id)
    data = await read_object(request)
    expected = expected_versions(data, if_match)
    spec = validate(data)
    expected = await _judged(request, principal.tenant, current, spec, expected)
    rule = await state_of(request).rule_writer.replace(
        principal.tenant, principal.actor, rule_id, spec, expected, datetime.now(UTC)
    )
    return rule_response(rule, stored=current)  # a new version keeps the rule's error state


@router.patch(
    "/cep/rules/{rule_id}",
    openapi_extra=body(RulePatch, media_types=("application/json", "application/merge-patch+json")),
    responses=reply(200, StoredRule, "the new version"),
)
async def patch_rule(
    request: Request, rule_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Apply a JSON merge patch to the rule; `version` (body) or `If-Match` make it conditional."""
    current = await visible_rule(request, principal.tenant, rule_id)
    patch = await read_object(request)
    expected = expected_versions(patch, if_match)
    patch.pop("version", None)
    spec = patched(current.spec, patch)
    expected = await _judged(request, principal.tenant, current, spec, expected)
    rule = await state_of(request).rule_writer.patch(
        principal.tenant, principal.actor, rule_id, patch, expected, datetime.now(UTC)
    )
    return rule_response(rule, stored=current)  # a new version keeps the rule's error state


@router.delete("/cep/rules/{rule_id}", status_code=204, responses=reply(204, None, "deleted"))
async def delete_rule(
    request: Request, rule_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Delete a rule (its history stays readable in the audit log); `If-Match` makes it conditional."""
    data = await read_json(request) if await request.body() else None
    expected = expected_versions(data if isinstance(data, dict) else None, if_match)
    await state_of(request).rule_writer.delete(principal.tenant, principal.actor, rule_id, expected, datetime.now(UTC))
    return Response(status_code=204)


@router.get("/cep/rules/{rule_id}/versions", responses=reply(200, RuleVersionList, "every version, newest first"))
async def list_versions(
    request: Request, rule_id: str, principal: Principal = Depends(viewer), limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """The rule's versions, newest first, each with the full rule JSON of that version."""
    before = decode_cursor(cursor, (int,))[0] if cursor else None
    async with state_of(request).db.read() as session:
        if await store.get_rule(session, principal.tenant, rule_id) is None:
            raise not_found(f"rule {rule_id!r}")
        rows, total = await store.list_versions(session, principal.tenant, rule_id, limit, before)
    next_cursor = encode_cursor([rows[-1].version]) if len(rows) == limit else None
    return JSONResponse(Page([row_codec.version_json(r) for r in rows], total, next_cursor).as_dict())


async def _judged(request: Request, tenant: str, current: RuleRow, spec: RuleSpec, expected: list[int]) -> list[int]:
    """Check a new version's templates and the team policies; return the versions the write must find. A write
    the policies judged is conditional on the version they judged, even without `If-Match` or `version`."""
    await template_checks.check_rule(spec, limits=state_of(request).settings.label_limits)
    if await enforce_activation(request, tenant, current, spec):
        return expected or [current.version]
    return expected


async def visible_rule(request: Request, tenant: str, rule_id: str) -> RuleRow:
    """The tenant's stored rule, or a 404. Routes read it before they judge a body: the client learns nothing
    about ids it cannot see."""
    async with state_of(request).db.read() as session:
        row = await store.get_rule(session, tenant, rule_id)
    if row is None:
        raise not_found(f"rule {rule_id!r}")
    return row
