"""Inhibit rules: list, create, read, replace, delete, versions, and a preview of what inhibits what right now.

An inhibit rule mutes the tenant's events its target matchers accept while an open event its source matchers
accept has the same values of the `equal` labels (services/common/domain/inhibition/inhibit_rules.py). Rules are
versioned (`/versions`), audited (kind `inhibit_rule`) and mirrored into the `cep-inhibit-rules` bucket. Editors
write, viewers read; another tenant's rule is a 404 like an unknown one. A tenant holds at most its quota
`inhibit_rules` (1,000 by default, `CEP_QUOTA_INHIBIT_RULES`): every notification's muting check reads them all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.db.tables import InhibitRuleRow
from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited
from services.common.domain.rules.errors import FieldError
from services.common.nats import subjects
from services.gateway.auth import Principal, editor, viewer
from services.gateway.rest.bodies import read_json, read_object
from services.gateway.rest.inline_openapi import answers, inline_body
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, invalid
from services.gateway.routes.versioned import Resource, row_with
from services.gateway.schemas.inhibit_rules import (
    InhibitRuleBody,
    InhibitRuleList,
    StoredInhibitRule,
    inhibit_rule_json,
    inhibit_version_json,
    parse_inhibit_rule,
    to_domain,
)
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import inhibit_rules as store
from services.gateway.store.open_events import OpenEvent, open_event_labels

router = APIRouter(tags=["silences"])
BASE = "/cep/inhibit-rules"
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]
RULE = Resource(noun="inhibit rule", short="inhibit rule", kind="inhibit_rule", base=BASE)


class PreviewBody(BaseModel):
    rules: list[InhibitRuleBody] | None = Field(default=None, description="draft rules; default: the stored ones")


class PreviewInhibited(BaseModel):
    event_id: str
    rule_name: str
    labels: dict[str, str]
    inhibited_by: list[str] = Field(description="ids of the open events that inhibit this one")


class InhibitPreview(BaseModel):
    inhibited: list[PreviewInhibited]
    truncated: bool = Field(description="more open events than CEP_PREVIEW_OPEN_EVENTS: only the newest were read")


@router.get(BASE, responses=answers(200, InhibitRuleList, "the tenant's inhibit rules"))
async def list_inhibit_rules(
    request: Request, principal: Principal = Depends(viewer), limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """List the tenant's inhibit rules, oldest first."""
    after = decode_time_cursor(cursor) if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_rules(session, principal.tenant, limit, after)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.rule_id) if last else None
    return JSONResponse(Page([inhibit_rule_json(r) for r in rows], total, next_cursor).as_dict())


@router.post(
    BASE, status_code=201, openapi_extra=inline_body(InhibitRuleBody), responses=answers(201, StoredInhibitRule, "")
)
async def create_inhibit_rule(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create an inhibit rule; the notifier applies it from the response on. 429 past the tenant's quota
    `inhibit_rules`."""
    spec = parse_inhibit_rule(await read_json(request))
    now = datetime.now(UTC)
    row = InhibitRuleRow(
        rule_id=uuid.uuid4().hex, tenant=principal.tenant, spec=spec, version=1, created_at=now, updated_at=now
    )
    async with state_of(request).db.write() as session:
        await state_of(request).quotas.require_room(session, principal.tenant, "inhibit_rules")
        await store.insert_rule(session, row)
        await _record(session, principal, row, "created", {"after": spec}, now)
    await RULE.mirror(state_of(request).inhibit_rule_publisher, row, row.rule_id)
    return _response(row, 201)


@router.post(
    f"{BASE}/preview", openapi_extra=inline_body(PreviewBody), responses=answers(200, InhibitPreview, "verdicts")
)
async def preview_inhibition(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Which open events of the tenant would be inhibited, and by which, under draft rules or the stored ones."""
    data = await read_object(request)
    state = state_of(request)
    async with state.db.read() as session:
        if data.get("rules") is None:
            rules = [to_domain(row.spec) for row in await store.live_rules(session, principal.tenant)]
        else:
            rules = _draft_rules(data["rules"])
        events, truncated = await open_event_labels(session, principal.tenant, state.settings.preview_open_events)
    return JSONResponse({"inhibited": _verdicts(rules, events), "truncated": truncated})


@router.get(f"{BASE}/{{rule_id}}", responses=answers(200, StoredInhibitRule, "the inhibit rule"))
async def get_inhibit_rule(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Read one inhibit rule."""
    async with state_of(request).db.read() as session:
        row = await store.get_rule(session, principal.tenant, rule_id) if _well_formed(rule_id) else None
    if row is None:
        raise RULE.not_found(rule_id)
    return _response(row)


@router.get(f"{BASE}/{{rule_id}}/versions")
async def inhibit_rule_versions(request: Request, rule_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Every version of an inhibit rule (a deleted one's too), newest first."""
    async with state_of(request).db.read() as session:
        rows = await store.versions(session, principal.tenant, rule_id) if _well_formed(rule_id) else []
    if not rows:
        raise RULE.not_found(rule_id)
    return JSONResponse(Page([inhibit_version_json(r) for r in rows], len(rows), None).as_dict())


@router.put(
    f"{BASE}/{{rule_id}}",
    openapi_extra=inline_body(InhibitRuleBody),
    responses=answers(200, StoredInhibitRule, "the rule after the change"),
)
async def replace_inhibit_rule(
    request: Request, rule_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Replace an inhibit rule; `version` or `If-Match` make it conditional (409 when stale)."""
    data = await read_json(request)
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = RULE.current(await _locked(session, principal.tenant, rule_id), rule_id, data, if_match)
        spec = parse_inhibit_rule(data)
        if spec == row.spec:
            return _response(row)  # nothing changed: no new version
        values: dict[str, Any] = {"spec": spec, "version": row.version + 1, "updated_at": now}
        if not await store.update_rule(session, row.tenant, row.rule_id, row.version, values):
            raise RULE.busy()
        new = row_with(row, **values)
        change = audit.diff(row.spec, spec)
        change["version"] = {"before": row.version, "after": new.version}
        await _record(session, principal, new, "replaced", change, now)
    await RULE.mirror(state_of(request).inhibit_rule_publisher, new, new.rule_id)
    return _response(new)


@router.delete(f"{BASE}/{{rule_id}}", status_code=204, responses={204: {"description": "deleted"}})
async def delete_inhibit_rule(
    request: Request, rule_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Delete an inhibit rule: it stops inhibiting at once."""
    data = await read_json(request) if await request.body() else None
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = RULE.current(await _locked(session, principal.tenant, rule_id), rule_id, data, if_match)
        values = {"version": row.version + 1, "updated_at": now, "deleted_at": now}
        if not await store.update_rule(session, row.tenant, row.rule_id, row.version, values):
            raise RULE.busy()
        deleted = row_with(row, **values)
        await _record(session, principal, deleted, "deleted", {"before": row.spec}, now)
    await RULE.mirror(state_of(request).inhibit_rule_publisher, deleted, deleted.rule_id)
    return Response(status_code=204)


def _response(row: InhibitRuleRow, status: int = 200) -> JSONResponse:
    headers = RULE.headers(row.version, row.rule_id, created=status == 201)
    return JSONResponse(inhibit_rule_json(row), status_code=status, headers=headers)


def _well_formed(rule_id: str) -> bool:
    return bool(subjects.RULE_ID_PATTERN.match(rule_id))


async def _locked(session: Any, tenant: str, rule_id: str) -> InhibitRuleRow | None:
    return await store.get_rule(session, tenant, rule_id, for_update=True) if _well_formed(rule_id) else None


async def _record(
    session: Any, principal: Principal, row: InhibitRuleRow, action: str, change: dict[str, Any], at: datetime
) -> None:
    """The audit record and the version row of a change, in its transaction."""
    await RULE.audit(session, principal, (row.tenant, row.rule_id), action, change, at)
    await store.add_version(session, row, action, principal.actor, at)


def _draft_rules(raw: Any) -> list[InhibitRule]:
    if not isinstance(raw, list):
        raise invalid([FieldError(("rules",), "a list of inhibit rules")])
    rules: list[InhibitRule] = []
    for index, item in enumerate(raw):
        try:
            rules.append(to_domain(parse_inhibit_rule(item)))
        except Problem as exc:  # the fields of this draft, named under `rules.<index>`
            raise invalid(exc.errors, ("rules", index)) from None
    return rules


def _verdicts(rules: list[InhibitRule], events: list[OpenEvent]) -> list[dict[str, Any]]:
    by_fingerprint: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_fingerprint[event.fingerprint].append(event.event_id)
    sources = [event.labels for event in events]
    out: list[dict[str, Any]] = []
    for event in events:
        verdict = inhibited(event.labels, rules, sources)
        if verdict.muted:
            by = sorted({ident for fp in verdict.by for ident in by_fingerprint[fp] if ident != event.event_id})
            if by:
                out.append(
                    {
                        "event_id": event.event_id,
                        "rule_name": event.rule_name,
                        "labels": event.labels,
                        "inhibited_by": by,
                    }
                )
    return out
