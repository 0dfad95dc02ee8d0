"""The dead-letter recorder: CEP_DEAD into SQL (`dead_letters`), counting rule failures on their rules.

A durable consumer (`recorder-dead-letters`) on the whole stream: envelopes and the notifier's letters on
`cep.dead.<tenant>`, and JetStream's MAX_DELIVERIES advisories, which the stream captures. An advisory names the
stream and sequence of a message its consumer gave up on; the original is read back from that stream and recorded
as a letter of source `max_deliveries` (a replay sends it to its subject again). One write transaction per batch,
then the acks: a crash repeats work that is idempotent (letters are keyed by id).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from services.common.db.sql_engine import Database
from services.common.domain.events.model import parse_time
from services.common.messages import codec
from services.common.messages.dead_letters import DeadLetter, Replay, decode, letter_id
from services.common.nats import subjects
from services.common.nats.dead_letters import MAX_DELIVERIES_ADVISORY, dead_letter_undecodable
from services.gateway.auth import PLATFORM_TENANT
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.pulling import ConsumerComponent, gateway_consumer, recorder_config
from services.gateway.store import dead_letters as store

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 30.0
RETRY_DELAY_SECONDS = 1.0


class DeadLetterRecorder(ConsumerComponent):
    """A gateway component: the durable consumer of CEP_DEAD."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        config = recorder_config(subjects.DEAD_LETTERS_CONSUMER, ">", ACK_WAIT_SECONDS)
        super().__init__(gateway_consumer(bus, subjects.DEAD_STREAM, config, self.on_letters), "recorder-dead-letters")

    async def on_letters(self, msgs: list[Msg]) -> None:
        """Record a batch in one transaction, then ack; a malformed message becomes an `undecodable` letter of its
        own (well-formed, so recorded next time round) and is acked; a failed batch is nak'ed."""
        good: list[tuple[Msg, DeadLetter | None]] = []
        for msg in msgs:
            try:
                good.append((msg, await self._letter(msg)))
            except (KeyError, TypeError, ValueError) as exc:
                reason = f"{exc.args[0]}: field required" if isinstance(exc, KeyError) else str(exc)
                await dead_letter_undecodable(self.bus.js, subjects.DEAD_LETTERS_CONSUMER, msg, reason)
                await msg.ack()
        letters = [letter for _, letter in good if letter is not None]
        try:
            async with self.db.write() as session:
                await store.record(session, letters, datetime.now(UTC))
        except Exception as exc:
            log.error("recording %d dead letters failed, they come back: %s", len(letters), exc)
            for msg, _ in good:
                await msg.nak(delay=RETRY_DELAY_SECONDS)
            return
        for msg, _ in good:
            await msg.ack()

    async def _letter(self, msg: Msg) -> DeadLetter | None:
        if msg.subject.startswith(MAX_DELIVERIES_ADVISORY + "."):
            return await self._gave_up(codec.loads(msg.data))
        if not msg.subject.startswith(subjects.DEAD_PREFIX + "."):
            return None  # some other advisory: nothing to record
        letter = decode(msg.data, (msg.headers or {}).get(subjects.MSG_ID))
        if letter.tenant != subjects.owning_tenant(msg.subject):
            raise ValueError(f"dead letter of tenant {letter.tenant!r} on {msg.subject}")
        return letter

    async def _gave_up(self, advisory: dict[str, Any]) -> DeadLetter:
        """The message a consumer gave up on (its MAX_DELIVERIES advisory), read back from its stream."""
        stream, seq, consumer = str(advisory["stream"]), int(advisory["stream_seq"]), str(advisory["consumer"])
        deliveries = advisory.get("deliveries")
        error = f"consumer {consumer} on {stream} gave up after {deliveries} deliveries"
        at = _time(advisory.get("timestamp"))
        origin = {"stream": stream, "seq": seq, "consumer": consumer}
        ident = letter_id("max_deliveries", stream, seq, consumer)
        try:
            raw = await self.bus.js.get_msg(stream, seq)
        except NotFoundError:
            return DeadLetter(
                ident, PLATFORM_TENANT, "max_deliveries", f"{error}; the message is gone", at, origin=origin
            )
        subject = str(raw.subject)
        origin["subject"] = subject
        headers = {k: v for k, v in (raw.headers or {}).items() if k != subjects.MSG_ID}
        body = _json_object(raw.data)
        # Only a tenant's own subjects (or a work message naming one tenant) make a tenant's letter: the others,
        # `cep.control.rules` and the like, are the platform's, whatever their last token spells.
        tenant = subjects.owning_tenant(subject, body) or PLATFORM_TENANT
        found = body.get("transition")
        transition: dict[str, Any] = found if isinstance(found, dict) else {}
        rule_id = body.get("rule_id") or transition.get("rule_id")
        return DeadLetter(
            ident,
            tenant,
            "max_deliveries",
            error,
            at,
            rule_id=None if rule_id is None else str(rule_id)[:64],
            event={"subject": subject, "payload": body} if body else None,
            origin=origin,
            replay=Replay(subject, raw.data or b"", headers),
        )


def _json_object(data: bytes | None) -> dict[str, Any]:
    try:
        body = codec.loads(data or b"")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _time(value: Any) -> datetime:
    """An advisory's timestamp (RFC 3339, maybe with nanoseconds), else now."""
    if isinstance(value, str):
        head, dot, rest = value.partition(".")
        text = f"{head}.{rest.rstrip('Z')[:6]}Z" if dot else value
        try:
            return parse_time(text)
        except ValueError:
            pass
    return datetime.now(UTC)
