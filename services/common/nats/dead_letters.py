"""Dead letters (CEP_DEAD `cep.dead.<tenant>`): building each source's letter, and reporting undecodable messages.

The envelope and its decoding are services/common/messages/dead_letters.py. Sources: `rule_failure` (a rule raised
on an event), `series_refused` (a rule's new group keys refused by the active-series quota: one letter per rule and
quota at most every minute, with the count), `pattern_dropped` (partial matches a pattern rule dropped at its cap per
key: one letter per rule at most every minute, with the count), `undecodable` (a message a consumer could not
decode: a work message, an alert, a job, a result, a feed message; the error names the field), `poison` (a work
item the shard could not apply), `alert_dropped` (an alert that could not be published), `max_deliveries` (a
message past its consumer's max_deliver, from JetStream's advisory) and `delivery_failed` (a notification job that
failed for good: the notifier's `{"job", "result"}` letters, read as such).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.quotas.series_quota import SeriesRefusals
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages import codec
from services.common.messages.dead_letters import ERROR_LIMIT, DeadLetter, Replay, letter_id
from services.common.nats import subjects

log = logging.getLogger(__name__)
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"  # .<stream>.<consumer>


def rule_failure_letter(failure: RuleFailure, at: datetime) -> DeadLetter:
    """A rule that raised on an event; a replay sends the event's payload in again (ingest, or internal).

    As a new arrival: the event time is the payload's own `timestamp`, else the time of the replay.
    """
    described = failure.describe()
    event = failure.event
    internal = (event.event_type or "").startswith("cep.")
    subject = (subjects.internal_subject if internal else subjects.ingest_subject)(failure.tenant)
    return DeadLetter(
        id=letter_id("rule_failure", failure.tenant, failure.rule_id, failure.event_id),
        tenant=failure.tenant,
        source="rule_failure",
        error=failure.error,
        at=at,
        rule_id=failure.rule_id,
        event=described["event"],
        replay=Replay(subject, codec.dumps(dict(event.payload))),
    )


def series_refused_letter(refusals: SeriesRefusals, shard: int, at: datetime) -> DeadLetter:
    """New series of a rule refused by a quota (counted on the rule like a failure); nothing to replay.

    Each report is its own letter (the id holds its time): the recorder counts every report once.
    """
    return DeadLetter(
        id=letter_id("series_refused", refusals.tenant, refusals.rule_id, refusals.quota, shard, at.isoformat()),
        tenant=refusals.tenant,
        source="series_refused",
        error=refusals.message(),
        at=at,
        rule_id=refusals.rule_id,
        event={"group_key": refusals.last_key, "refused": refusals.count, "quota": refusals.quota},
        origin={"shard": shard},
    )


def pattern_dropped_letter(drops: PatternDrops, shard: int, at: datetime) -> DeadLetter:
    """Partial matches of a pattern rule dropped at its cap (counted on the rule like a failure); nothing to replay."""
    return DeadLetter(
        id=letter_id("pattern_dropped", drops.tenant, drops.rule_id, shard, at.isoformat()),
        tenant=drops.tenant,
        source="pattern_dropped",
        error=drops.message(),
        at=at,
        rule_id=drops.rule_id,
        event={"group_key": drops.last_key, "dropped": drops.count, "cap": drops.cap},
        origin={"shard": shard},
    )


PLATFORM_TENANT = "default"  # where a letter goes whose tenant its subject does not name


def undecodable_letter(
    consumer: str, msg: Msg, reason: str, at: datetime, source: Literal["undecodable", "poison"] = "undecodable"
) -> DeadLetter:
    """A message a consumer could not decode (`reason` names the field), or decoded but could not apply
    (`source="poison"`): kept with its bytes, to look at or replay once what reads it is fixed. One letter per
    stream message (the id holds its stream and sequence)."""
    subject = str(msg.subject)
    try:
        stream, seq = msg.metadata.stream, msg.metadata.sequence.stream
    except Exception:  # not a JetStream message
        stream, seq = None, None
    try:
        body = codec.loads(msg.data or b"")
    except ValueError:
        body = None
    data = msg.data or b""
    shown: dict[str, Any] = {"subject": subject}
    shown.update({"payload": body} if isinstance(body, dict) else {"text": data[:ERROR_LIMIT].decode(errors="replace")})
    tenant = subjects.owning_tenant(subject, body if isinstance(body, dict) else None) or PLATFORM_TENANT
    headers = {k: v for k, v in (msg.headers or {}).items() if k != subjects.MSG_ID}
    return DeadLetter(
        id=letter_id(source, consumer, stream, seq, subject, data if seq is None else ""),
        tenant=tenant,
        source=source,
        error=f"{consumer}: {reason}",
        at=at,
        event=shown,
        origin={"stream": stream, "seq": seq, "subject": subject, "consumer": consumer},
        replay=Replay(subject, data, headers),
    )


async def dead_letter_undecodable(
    js: JetStreamContext,
    consumer: str,
    msg: Msg,
    reason: str,
    source: Literal["undecodable", "poison"] = "undecodable",
) -> None:
    """Report a message `consumer` could not decode (or apply: `poison`) to CEP_DEAD (msg id = letter id); a publish
    that fails is logged and given up: the caller acks the message either way, so a bad message never comes back."""
    letter = undecodable_letter(consumer, msg, reason, datetime.now(UTC), source)
    log.warning("%s: dead-lettering a message (%s) on %s: %s", consumer, source, letter.origin, reason)
    try:
        await js.publish(letter.subject(), letter.encode(), headers={subjects.MSG_ID: letter.id}, timeout=2.0)
    except Exception as exc:
        log.error("%s: the dead letter of an undecodable message was not stored: %s", consumer, exc)
