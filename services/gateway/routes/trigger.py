"""`POST /cep/rules/{rule_id}/trigger`: evaluate one rule for real, in its shard, and answer with the verdict.

A request/reply through the event stream: the payload goes to `cep.internal.<tenant>` with the rule and a
fresh reply subject in its headers, so it is ordered after every rule change already answered (read your
writes); the router hands it to the rule's shard only, and the shard answers on the reply subject after
the transitions it caused are stored.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import nats.errors
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.common.domain.events.model import event_time, format_time
from services.common.messages import codec
from services.common.messages.codec import MessageError
from services.common.messages.work import TriggerReply
from services.common.nats import subjects
from services.gateway.auth import Principal, editor
from services.gateway.nats.bus import GatewayBus
from services.gateway.rest.bodies import parse_model, read_json
from services.gateway.rest.problems import Problem, invalid_field, not_found
from services.gateway.routes.rules import visible_rule
from services.gateway.state import state_of

router = APIRouter(tags=["rules"])

TRIGGER_TIMEOUT_SECONDS = 10.0  # how long the route waits for the shard's answer before a 504


class TriggerBody(BaseModel):
    """`{"payload": {...}}`: one occurrence; without `event_type` it counts as one of the rule's own type."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any]


class TriggerResult(BaseModel):
    """The rule's verdict on the occurrence; notifications follow as usual."""

    matched: bool
    event_id: str | None
    state: Literal["firing", "pending", "no_match"]
    errors: list[str] | None = None  # present when the occurrence could not be judged, with the reason


_DOC: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": TriggerBody.model_json_schema()}}}
}
_REPLY: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "the verdict of the rule's shard",
        "content": {"application/json": {"schema": TriggerResult.model_json_schema()}},
    },
    504: {"description": "the rule's shard did not answer in time"},
}


@router.post("/cep/rules/{rule_id}/trigger", status_code=202, openapi_extra=_DOC, responses=_REPLY)
async def trigger_rule(request: Request, rule_id: str, principal: Principal = Depends(editor)) -> Response:
    """Evaluate this rule only (active or not), for real, in its shard: 202 with matched, event_id and state."""
    await visible_rule(request, principal.tenant, rule_id)  # a 404 before the body is judged
    body = parse_model(TriggerBody, await read_json(request))
    now = datetime.now(UTC)
    try:
        event_time(body.payload, now)  # the router would drop it: say why here instead of timing out
    except ValueError as exc:
        raise invalid_field(("payload", "timestamp"), str(exc)) from None
    answer = await ask_shard(state_of(request).bus, principal.tenant, rule_id, body.payload, now)
    if answer.error is not None:
        if answer.error.kind == "unknown_rule":
            raise not_found(f"rule {rule_id!r}")
        raise Problem(
            500, f"the rule's shard could not evaluate the occurrence: {answer.error.detail}", kind="internal"
        )
    result: dict[str, Any] = {"matched": answer.matched, "event_id": answer.event_id, "state": answer.state}
    if answer.errors:  # why it could not be judged, e.g. "anomaly detection disabled: baseline 3 of 30"
        result["errors"] = answer.errors
    return JSONResponse(result, status_code=202)


async def ask_shard(bus: GatewayBus, tenant: str, rule_id: str, payload: dict[str, Any], now: datetime) -> TriggerReply:
    """Publish the occurrence for the rule's shard and wait for its answer (504 problem when none comes)."""
    client, js = bus.client, bus.js  # 503 problems while NATS is down
    reply = subjects.trigger_reply_subject(uuid.uuid4().hex)
    sub = await client.subscribe(reply, max_msgs=1)  # before the publish, so the answer cannot come first
    try:
        headers = {
            subjects.MSG_ID: uuid.uuid4().hex,
            subjects.TRIGGER_RULE: rule_id,
            subjects.TRIGGER_REPLY: reply,
            subjects.RECEIVED_AT: format_time(now),
        }
        try:
            await js.publish(subjects.internal_subject(tenant), codec.dumps(payload), headers=headers)
        except (nats.errors.Error, TimeoutError) as exc:
            raise Problem(
                503, f"the occurrence could not be stored ({exc}); retry shortly", kind="unavailable"
            ) from None
        try:
            msg = await sub.next_msg(timeout=TRIGGER_TIMEOUT_SECONDS)
        except (nats.errors.TimeoutError, TimeoutError):
            raise Problem(504, f"the shard of rule {rule_id!r} did not answer in time", kind="timeout") from None
        try:
            return TriggerReply.decode(msg.data)
        except MessageError as exc:
            raise Problem(500, f"the rule's shard answered what cannot be read: {exc}", kind="internal") from None
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
