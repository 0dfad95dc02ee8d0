"""Alertmanager's v2 alert routes, per tenant: what Prometheus posts to and `amtool alert query|add` reads.

`POST /api/v2/alerts` reads `postableAlerts` into events of type `alertmanager.alert` (posted_alerts/postable.py)
and makes them durable through the ingest path of `POST /cep/ingest` (quota, then PubAcks) before its 200. The
tenant's built-in rule (posted_alerts/builtin_rule.py), created on the first post, turns them into events.
`GET /api/v2/alerts` and `GET /api/v2/alerts/groups` list ALL the tenant's open events as `gettableAlert`s, with
the silences and open events that mute each one at this moment (muting_now.py). A bad body or filter is
Alertmanager's 400 with the reason as a JSON string.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import RuleRow
from services.common.domain.conditions.regex import PatternError, compile_pattern
from services.common.domain.labels.matchers import Matcher, matches_all
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matchers
from services.common.domain.posted_alerts.postable import PostableError, posted_alert_events
from services.common.domain.routing.policy_delivery import STORED_POLICY_LIMITS
from services.common.domain.routing.policy_document import PolicyDocumentError, parse_policy
from services.common.domain.routing.tree import Route
from services.gateway.auth import Principal, editor, viewer
from services.gateway.builtin_alert_rule import ensure_builtin_rule
from services.gateway.muting_now import muting_inputs, muting_of
from services.gateway.rest.bodies import read_json
from services.gateway.routes.ingest import ingest_batch
from services.gateway.schemas.alertmanager_v2 import BAD_REQUEST_V2, alert_groups_v2, alert_v2, policy_alert_groups
from services.gateway.state import state_of
from services.gateway.store import channels as channel_store
from services.gateway.store import notification_policies as policy_store
from services.gateway.store.open_events import open_event, open_event_rows

router = APIRouter(prefix="/api/v2", tags=["alertmanager"])
NO_RECEIVER = "blackhole"  # the receiver of an event whose rule notifies no channel (as /api/v2/status names it)
_PAGE = 1000
Flag = Annotated[str | None, Query(description="`true` (the default) or `false`")]
_BOOLEANS = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}
_POSTABLE = {
    "requestBody": {
        "required": True,
        "description": "Alertmanager's `postableAlerts`: a JSON array of alerts",
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["labels"],
                        "properties": {
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                            "startsAt": {"type": "string", "format": "date-time"},
                            "endsAt": {"type": "string", "format": "date-time"},
                            "generatorURL": {"type": "string"},
                        },
                    },
                }
            }
        },
    }
}
Filter = Annotated[list[str] | None, Query(description="matchers in amtool's syntax; an alert passes them all")]
Receiver = Annotated[str | None, Query(max_length=1024, description="a regex (RE2) the receiver's name matches")]


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(message, status_code=400)


@router.post(
    "/alerts",
    openapi_extra=_POSTABLE,
    response_class=Response,
    responses={200: {"description": "every alert is durable (no body)"}, **BAD_REQUEST_V2},
)
async def post_alerts(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Take `postableAlerts`: 200 once every alert is durable, as Alertmanager answers (never 202)."""
    now = datetime.now(UTC)
    state = state_of(request)
    try:
        events = posted_alert_events(await read_json(request), state.settings.post_limits, now)
    except PostableError as exc:
        return _bad_request(str(exc))
    if events:
        await ensure_builtin_rule(state, principal)
        # Prometheus re-sends identical bodies: the receipt time keeps a re-send from being a JetStream duplicate.
        await ingest_batch(request, principal.tenant, events, await request.body() + str(time.time_ns()).encode())
    return Response(status_code=200)


@router.get("/alerts", responses=BAD_REQUEST_V2)
async def get_alerts(
    request: Request,
    principal: Principal = Depends(viewer),
    active: Flag = None,
    silenced: Flag = None,
    inhibited: Flag = None,
    unprocessed: Flag = None,
    filter: Filter = None,
    receiver: Receiver = None,
) -> Response:
    """The tenant's open events as `gettableAlerts`, filtered as Alertmanager filters (every flag defaults to true)."""
    parsed = _listing(filter, receiver, active=active, silenced=silenced, inhibited=inhibited, unprocessed=unprocessed)
    if isinstance(parsed, JSONResponse):
        return parsed
    selection, flags = parsed
    alerts = await _alerts(request, principal.tenant, *selection)
    return JSONResponse([a for a in alerts if _shown(a["status"], **flags)])


@router.get("/alerts/groups", responses=BAD_REQUEST_V2)
async def get_alert_groups(
    request: Request,
    principal: Principal = Depends(viewer),
    active: Flag = None,
    silenced: Flag = None,
    inhibited: Flag = None,
    filter: Filter = None,
    receiver: Receiver = None,
) -> Response:
    """The open events as `alertGroups`: grouped by the tenant's notification policy (each matched route's receiver
    and `group_by` labels) when it has one, else one group per receiver (the root route's `group_by: []`)."""
    parsed = _listing(filter, receiver, active=active, silenced=silenced, inhibited=inhibited, unprocessed=None)
    if isinstance(parsed, JSONResponse):
        return parsed
    selection, flags = parsed
    root = await _policy_route(request, principal.tenant)
    by_rule = selection if root is None else (selection[0], None)  # the policy's receivers are the groups'
    alerts = await _alerts(request, principal.tenant, *by_rule)
    kept = [a for a in alerts if _shown(a["status"], **flags)]
    groups = alert_groups_v2(kept) if root is None else policy_alert_groups(kept, root)
    if selection[1] is not None:
        groups = [g for g in groups if selection[1].search(g["receiver"]["name"]) is not None]
    return JSONResponse(groups)


def _listing(
    filter: list[str] | None, receiver: str | None, **flags: str | None
) -> tuple[tuple[list[Matcher], Any], dict[str, bool]] | JSONResponse:
    """The query of both alert listings: the selection and the flags, or the 400 of the first bad part (the filter,
    then the receiver, then a flag: the order the answers always had)."""
    selection = _selection(filter, receiver)
    if isinstance(selection, JSONResponse):
        return selection
    parsed = _flags(**flags)
    if isinstance(parsed, JSONResponse):
        return parsed
    return selection, parsed


def _selection(filter: list[str] | None, receiver: str | None) -> tuple[list[Matcher], Any] | JSONResponse:
    """The filter matchers and the compiled receiver regex (anchored, as Alertmanager anchors it), or a 400."""
    try:
        matchers = [m for text in filter or () for m in parse_matchers(text)]
    except MatcherSyntaxError as exc:
        return _bad_request(f"filter: {exc}")
    try:
        pattern = None if receiver is None else compile_pattern(f"^(?:{receiver})$")
    except PatternError as exc:
        return _bad_request(f"receiver: invalid regular expression: {exc}")
    return matchers, pattern


def _flags(**raw: str | None) -> dict[str, bool] | JSONResponse:
    """Alertmanager's boolean query flags (absent: true), or its 400 naming the flag."""
    out: dict[str, bool] = {}
    for name, text in raw.items():
        if text is None:
            out[name] = True
            continue
        value = _BOOLEANS.get(text.lower())
        if value is None:
            return _bad_request(f"{name} in query must be of type boolean: {text[:40]!r}")
        out[name] = value
    return out


def _shown(status: dict[str, Any], active: bool, silenced: bool, inhibited: bool, unprocessed: bool) -> bool:
    """Alertmanager's flags: each `false` drops the alerts of that kind (an event is never `unprocessed` here)."""
    if not active and status["state"] == "active":
        return False
    if not unprocessed and status["state"] == "unprocessed":
        return False
    if not silenced and status["silencedBy"]:
        return False
    return inhibited or not status["inhibitedBy"]


async def _alerts(request: Request, tenant: str, matchers: list[Matcher], receiver: Any) -> list[dict[str, Any]]:
    """Every open event of the tenant (the newest `CEP_PREVIEW_OPEN_EVENTS`) that passes the filters, mapped."""
    state = state_of(request)
    now = datetime.now(UTC)
    async with state.db.read() as session:
        rows, truncated = await open_event_rows(session, tenant, state.settings.preview_open_events)
        silences, rules = await muting_inputs(session, tenant, now)
        receivers = await _receivers(session, tenant, {row.rule_id for row in rows})
    events = [open_event(row) for row in rows]
    muting = muting_of(events, truncated, silences, rules, now)
    base = str(request.base_url).rstrip("/")
    out = []
    for row, event in zip(rows, events, strict=True):
        names = receivers.get(row.rule_id) or [NO_RECEIVER]
        if receiver is not None and not any(receiver.search(name) for name in names):
            continue
        if not matches_all(matchers, event.labels):
            continue
        url = f"{base}/cep/events/{row.event_id}"
        alert = alert_v2(row, event.labels, muting.of(row.event_id), names, url)
        if datetime.fromisoformat(alert["endsAt"]) < now:
            continue  # a posted alert past its endsAt whose resolution is on its way: Alertmanager lists it no more
        out.append(alert)
    out.sort(key=lambda alert: alert["fingerprint"])
    return out


async def _policy_route(request: Request, tenant: str) -> Route | None:
    """The routing tree of the tenant's notification policy in force, None without one."""
    async with state_of(request).db.read() as session:
        row = policy_store.live(await policy_store.get_policy(session, tenant))
    if row is None:
        return None
    try:
        return parse_policy(row.document, STORED_POLICY_LIMITS).config.route
    except PolicyDocumentError:  # stored by an older version under other rules: the groups without it
        return None


async def _receivers(session: AsyncSession, tenant: str, rule_ids: Iterable[str]) -> dict[str, list[str]]:
    """The names of the channels each rule's actions name (a channel is named by id or name), sorted."""
    ids = sorted(set(rule_ids))
    if not ids:
        return {}
    query = select(RuleRow).where(col(RuleRow.tenant) == tenant, col(RuleRow.rule_id).in_(ids))
    rules = list((await session.execute(query)).scalars())
    names = await _channel_names(session, tenant)
    out: dict[str, list[str]] = {}
    for rule in rules:
        named = {str(a.get("channel")) for a in rule.spec.get("action_spec") or () if a.get("channel")}
        out[rule.rule_id] = sorted({names.get(ref, ref) for ref in named if ref in names})
    return out


async def _channel_names(session: AsyncSession, tenant: str) -> dict[str, str]:
    """Each live channel of the tenant by id and by name, to its name."""
    names: dict[str, str] = {}
    after = None
    while True:
        rows, _ = await channel_store.list_channels(session, tenant, _PAGE, after)
        for row in rows:
            names[row.channel_id] = names[row.name] = row.name
        if len(rows) < _PAGE:
            return names
        after = (rows[-1].created_at, rows[-1].channel_id)
