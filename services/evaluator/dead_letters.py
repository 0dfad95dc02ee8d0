"""The shard's dead letters: rule failures, undecodable or poison work, dropped alerts -> CEP_DEAD.

Reporting never blocks the shard: a publish that fails is logged and given up (the failure stays in the shard's
log, counters and `recent_poison`). Ids are stable, so a shard replaying after a restart reports a failure once
(JetStream de-duplicates within its window; the gateway's store keeps one row per id after that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from nats.js.client import JetStreamContext

from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.quotas.series_quota import SeriesRefusals
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages import codec
from services.common.messages.dead_letters import DeadLetter, Replay, letter_id
from services.common.messages.work import event_to_dict
from services.common.nats import subjects
from services.common.nats.dead_letters import pattern_dropped_letter, rule_failure_letter, series_refused_letter
from services.evaluator.work import EventWork, RuleWork, TriggerWork, Work

log = logging.getLogger(__name__)

PLATFORM_TENANT = "default"  # where a letter goes whose tenant is unknown (an undecodable work message)
PUBLISH_TIMEOUT = 2.0
RETRY_SECONDS = (0.2, 5.0)  # back-off between retries of rule-failure letters: first, and at most
_pending: set[asyncio.Task[None]] = set()


async def publish(js: JetStreamContext | None, letters: Sequence[DeadLetter]) -> int:
    """Publish letters at once (msg id = letter id) and await the PubAcks; how many were stored. Never raises."""
    return sum(await _publish_each(js, letters))


async def publish_until_stored(js: JetStreamContext | None, letters: Sequence[DeadLetter]) -> int:
    """Publish letters, retrying those not stored (NATS down, a timeout) with back-off until every one is.

    As `publish_alerts` does for transitions: the batch they belong to is not acknowledged before, so a
    failure report is never lost. The letter id is the msg id, so a retry stored twice is stored once.
    """
    left, stored, delay = list(letters), 0, RETRY_SECONDS[0]
    while left and js is not None:
        results = await _publish_each(js, left)
        stored += sum(results)
        left = [letter for letter, ok in zip(left, results, strict=True) if not ok]
        if left:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_SECONDS[1])
    return stored


async def _publish_each(js: JetStreamContext | None, letters: Sequence[DeadLetter]) -> list[bool]:
    if js is None or not letters:
        return []

    async def one(letter: DeadLetter) -> bool:
        try:
            headers = {subjects.MSG_ID: letter.id}
            await js.publish(letter.subject(), letter.encode(), headers=headers, timeout=PUBLISH_TIMEOUT)
            return True
        except Exception as exc:
            log.error("dead letter %s (%s) not published: %s", letter.id, letter.source, exc)
            return False

    return list(await asyncio.gather(*(one(letter) for letter in letters)))


async def publish_rule_failures(js: JetStreamContext | None, shard: int, failures: Sequence[RuleFailure]) -> int:
    """Each rule failure of a batch as a dead letter (with the event), before the batch is acknowledged."""
    if not failures:
        return 0
    now = datetime.now(UTC)
    for failure in failures:
        log.error(
            "rule %s failed on event %s: %s",
            failure.rule_id,
            failure.event_id,
            failure.error,
            extra={"shard": shard, "tenant": failure.tenant, "rule_id": failure.rule_id},
        )
    return await publish_until_stored(js, [rule_failure_letter(failure, now) for failure in failures])


def report_series_refused(js: JetStreamContext | None, shard: int, refusals: Sequence[SeriesRefusals]) -> None:
    """New series refused by a quota: logged, and an error on each rule (a dead letter), in the background.

    Not awaited before the ack, unlike rule failures: the refusal is also in the shard's counters, and the caller
    already lets out at most one report per rule and quota a minute.
    """
    now = datetime.now(UTC)
    for refused in refusals:
        context = {"shard": shard, "tenant": refused.tenant, "rule_id": refused.rule_id}
        log.warning("rule %s: %s", refused.rule_id, refused.message(), extra=context)
    if refusals:
        _spawn(publish(js, [series_refused_letter(refused, shard, now) for refused in refusals]))


def report_pattern_drops(js: JetStreamContext | None, shard: int, drops: Sequence[PatternDrops]) -> None:
    """Partial matches dropped at a pattern rule's cap: logged, and an error on each rule, in the background
    (as refused series are: the caller lets out at most one report per rule a minute)."""
    now = datetime.now(UTC)
    for dropped in drops:
        context = {"shard": shard, "tenant": dropped.tenant, "rule_id": dropped.rule_id}
        log.warning("rule %s: %s", dropped.rule_id, dropped.message(), extra=context)
    if drops:
        _spawn(publish(js, [pattern_dropped_letter(dropped, shard, now) for dropped in drops]))


def report_poison(js: JetStreamContext | None, shard: int, seq: int, index: int, error: str, item: Work | None) -> None:
    """A work item that did not decode (`item` None) or could not be applied: a dead letter, in the background."""
    _spawn(_poison(js, shard, seq, index, error, item))


def report_dropped(js: JetStreamContext | None, shard: int, seq: int, transition: Transition, error: Exception) -> None:
    """An alert JetStream refused for good (too large): a dead letter, in the background (nothing to replay)."""
    letter = DeadLetter(
        id=letter_id("alert_dropped", transition.tenant, transition.transition_id),
        tenant=transition.tenant,
        source="alert_dropped",
        error=f"alert dropped: {error}",
        at=datetime.now(UTC),
        rule_id=transition.rule_id,
        event={"transition_id": transition.transition_id, "kind": transition.kind, "event_id": transition.event_id},
        origin={"stream": subjects.WORK_STREAM, "seq": seq, "subject": subjects.work_subject(shard)},
    )
    _spawn(publish(js, [letter]))


async def _poison(js: JetStreamContext | None, shard: int, seq: int, index: int, error: str, item: Work | None) -> None:
    origin = {"stream": subjects.WORK_STREAM, "seq": seq, "index": index, "subject": subjects.work_subject(shard)}
    tenant, rule_id, event = PLATFORM_TENANT, None, None
    if item is None and js is not None:  # the raw bytes are still on the work stream: find the item's event there
        try:
            event = _raw_event((await js.get_msg(subjects.WORK_STREAM, seq)).data, index)
        except Exception as exc:
            log.warning("work message %d not readable for its dead letter: %s", seq, exc, extra={"shard": shard})
    elif isinstance(item, EventWork | TriggerWork):
        event = event_to_dict(item.event)
        rule_id = item.rule_id if isinstance(item, TriggerWork) else None
    elif isinstance(item, RuleWork):
        tenant, rule_id = item.change.tenant, item.change.rule_id
    if event is not None and isinstance(event.get("tenant"), str):
        tenant = event["tenant"]
    tenant = tenant if subjects.valid_tenant(tenant) else PLATFORM_TENANT
    letter = DeadLetter(
        id=letter_id("work", shard, seq, index, error),
        tenant=tenant,
        source="undecodable" if item is None else "poison",
        error=error,
        at=datetime.now(UTC),
        rule_id=rule_id,
        event=event,
        origin=origin,
        # Work is never republished as it was (the shard skips copies of raw positions it has done): an event
        # goes back in through ingest with a new id; a trigger was answered, a rule change is saved again instead.
        replay=None if isinstance(item, TriggerWork | RuleWork) else _event_replay(event),
    )
    await publish(js, [letter])


def _raw_event(data: bytes | None, index: int) -> dict[str, Any] | None:
    """The `event` object of item `index` of a raw work message, when there is one to find."""
    try:
        body: Any = codec.loads(data or b"")
    except Exception:
        return None
    if isinstance(body, dict) and body.get("kind") == "events" and isinstance(body.get("events"), list):
        found = body["events"][index] if index < len(body["events"]) else None
        body = found if isinstance(found, dict) else {}
    event = body.get("event") if isinstance(body, dict) else None
    return event if isinstance(event, dict) else None


def _event_replay(event: dict[str, Any] | None) -> Replay | None:
    """An event's payload back to the ingest (or, for `cep.*` types, internal) subject of its tenant."""
    if event is None or not isinstance(event.get("payload"), dict):
        return None
    tenant = event.get("tenant")
    if not isinstance(tenant, str) or not subjects.valid_tenant(tenant):
        return None
    internal = str(event.get("event_type") or "").startswith("cep.")
    subject = (subjects.internal_subject if internal else subjects.ingest_subject)(tenant)
    return Replay(subject, codec.dumps(event["payload"]))  # a new arrival: its own timestamp, else now


def _spawn(coro: Any) -> None:
    try:
        task = asyncio.get_running_loop().create_task(coro)
    except RuntimeError:  # no loop (a unit test calling the shell's sync parts): nothing to publish with
        coro.close()
        return
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain() -> None:
    """Wait for the letters being published in the background (tests, shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
