"""Dead-letter routes (admins, tenant scoped): list, read, replay and delete what the platform could not process.

Letters come from CEP_DEAD through the dead-letter recorder (services/gateway/recorders/dead_letter_recorder.py).
A replay republishes the original to where it came from with a new message id (`replay:<id>:<n>`), records it,
and is audited; a second replay is a 409 unless `force=true`.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.db.tables import DeadLetterRow
from services.common.messages import codec
from services.common.messages.dead_letters import Replay
from services.common.nats import subjects
from services.gateway import row_codec
from services.gateway.auth import Principal, admin
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, not_found
from services.gateway.schemas.dead_letters import DeadLetterList, DeadLetterRecord, DeadLetterReplayed
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import dead_letters as store

router = APIRouter(tags=["operations"])
SourceFilter = Literal[
    "rule_failure", "series_refused", "undecodable", "poison", "alert_dropped", "max_deliveries", "delivery_failed"
]


@router.get("/cep/dead-letters", responses={200: {"model": DeadLetterList, "description": "newest first"}})
async def list_dead_letters(
    request: Request,
    principal: Principal = Depends(admin),
    source: Annotated[SourceFilter | None, Query(description="only letters of this source")] = None,
    rule_id: Annotated[str | None, Query(max_length=64, description="only letters of this rule")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """The tenant's dead letters, newest first (by `at`), filtered by source and rule."""
    before = decode_time_cursor(cursor) if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_letters(
            session, principal.tenant, store.LetterFilter(source, rule_id), limit, before
        )
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.at, last.id) if last else None
    return JSONResponse(Page([letter_json(r) for r in rows], total, next_cursor).as_dict())


@router.get("/cep/dead-letters/{letter_id}", responses={200: {"model": DeadLetterRecord, "description": "one"}})
async def get_dead_letter(request: Request, letter_id: str, principal: Principal = Depends(admin)) -> Response:
    """One dead letter of the tenant (404 for any other id)."""
    async with state_of(request).db.read() as session:
        row = await store.get_letter(session, principal.tenant, letter_id)
    if row is None:
        raise not_found(f"dead letter {letter_id!r}")
    return JSONResponse(letter_json(row))


@router.post(
    "/cep/dead-letters/{letter_id}/replay",
    responses={200: {"model": DeadLetterReplayed, "description": "republished"}},
)
async def replay_dead_letter(
    request: Request,
    letter_id: str,
    principal: Principal = Depends(admin),
    force: Annotated[bool, Query(description="replay again a letter already replayed")] = False,
) -> Response:
    """Republish the original message to where it came from, with a new message id; 409 when already replayed."""
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await store.get_letter(session, principal.tenant, letter_id)
        if row is None:
            raise not_found(f"dead letter {letter_id!r}")
        if row.replay is None:
            raise Problem(409, f"dead letter {letter_id!r} has nothing to replay ({row.source})", kind="not-replayable")
        if row.replay_count and not force:
            detail = f"dead letter {letter_id!r} was replayed at {row_codec.rfc3339(row.replayed_at)}; pass force=true"
            raise Problem(409, detail, kind="already-replayed")
        replay = Replay.from_dict(row.replay)
        if subjects.owning_tenant(replay.subject) != row.tenant and not principal.platform_admin:
            raise Problem(409, f"{replay.subject} is not a subject of tenant {row.tenant}", kind="not-replayable")
        msg_id = f"replay:{row.id}:{row.replay_count + 1}"
        ack = await state_of(request).bus.js.publish(
            replay.subject, replay.data, headers={**replay.headers, subjects.MSG_ID: msg_id}
        )
        await store.mark_replayed(session, row, principal.name, now)
        published = {"subject": replay.subject, "msg_id": msg_id, "stream": ack.stream, "seq": ack.seq}
        await audit.record(
            session,
            tenant=row.tenant,
            actor=principal.actor,
            kind="dead_letter",
            resource_id=row.id,
            action="replayed",
            change={"replay_count": {"before": row.replay_count - 1, "after": row.replay_count}, **published},
            at=now,
        )
        body = {"dead_letter": letter_json(row), "published": published}
    return JSONResponse(body)


@router.delete("/cep/dead-letters/{letter_id}", status_code=204, responses={204: {"description": "deleted"}})
async def delete_dead_letter(request: Request, letter_id: str, principal: Principal = Depends(admin)) -> Response:
    """Forget a dead letter (its message stays in CEP_DEAD until the stream's retention drops it)."""
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await store.get_letter(session, principal.tenant, letter_id)
        if row is None:
            raise not_found(f"dead letter {letter_id!r}")
        before = {"source": row.source, "rule_id": row.rule_id, "error": row.error}
        await store.delete_letter(session, row)
        await audit.record(
            session,
            tenant=principal.tenant,
            actor=principal.actor,
            kind="dead_letter",
            resource_id=letter_id,
            action="deleted",
            change={"before": before},
            at=now,
        )
    return Response(status_code=204)


def letter_json(row: DeadLetterRow) -> dict[str, Any]:
    """A dead letter as the API shows it."""
    return {
        "id": row.id,
        "tenant": row.tenant,
        "source": row.source,
        "rule_id": row.rule_id,
        "error": row.error,
        "at": row_codec.rfc3339(row.at),
        "recorded_at": row_codec.rfc3339(row.recorded_at),
        "event": row.event,
        "origin": row.origin,
        "replay": None if row.replay is None else _replay_json(Replay.from_dict(row.replay)),
        "replay_count": row.replay_count,
        "replayed_at": row_codec.rfc3339(row.replayed_at),
        "replayed_by": row.replayed_by,
    }


def _replay_json(replay: Replay) -> dict[str, Any]:
    try:
        payload = codec.loads(replay.data)
    except ValueError:
        payload = None
    return {
        "subject": replay.subject,
        "headers": replay.headers,
        "payload": payload,
        "data_base64": base64.b64encode(replay.data).decode(),
    }
