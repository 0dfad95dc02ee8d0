"""Storm digests: when a rule's budget window ends, one message with the counts and top keys per channel.

The timer is a message in the delivery stream, held back (nak with a delay) until the window ends, so it survives
a notifier restart like any pending retry. When it fires, the window is taken from the noise state (marked as
digested) and one digest job per action channel is published; the state is saved after the publication, so a
crash repeats the publication (de-duplicated by message id) rather than losing the digest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.js.errors import KeyWrongLastSequenceError

from services.common.domain.events.model import format_time
from services.common.domain.notify.noise import NoisePolicy, StormWindow, digest_text, take_digest
from services.common.messages.alerts import actions_of, channel_actions
from services.common.messages.delivery import DigestJob
from services.notifier.compare_and_set import SAVE_TRIES
from services.notifier.delivery.directory import Rules
from services.notifier.stages.storm import StormStore

log = logging.getLogger(__name__)
GRACE_SECONDS = 1.0  # a timer fires this long after its window ends, so the last counts of the window are in


class Digests:
    def __init__(self, rules: Rules, store: StormStore, clock: Callable[[], float] = time.time) -> None:
        self.rules = rules
        self.store = store
        self.clock = clock

    def wait(self, timer: DigestJob) -> float:
        """Seconds until the timer is due (0 when it is)."""
        return max(0.0, timer.due + GRACE_SECONDS - self.clock())

    async def jobs(self, timer: DigestJob) -> list[DigestJob]:
        """The digest jobs of a due timer (none when there is nothing to report or nobody to tell)."""
        state, _ = await self.store.load(timer.tenant, timer.rule_id)
        window = take_digest(state, timer.start, self.clock(), _policy(timer))
        if window is None:
            return []
        rule = await self.rules.rule(timer.tenant, timer.rule_id)
        actions = actions_of(rule)
        name = str((rule or {}).get("name") or timer.rule_name)
        text = digest_text(name, window, _policy(timer))
        counts = _counts(window, timer)
        if not actions:
            log.warning("storm digest of rule %s has no channel to go to: %s", timer.rule_id, text)
        return [
            DigestJob(
                "digest",
                timer.tenant,
                timer.rule_id,
                name,
                timer.start,
                timer.due,
                index=index,
                action=action,
                text=text,
                window=counts,
            )
            for index, action, _ in channel_actions(actions)
        ]

    async def mark_sent(self, timer: DigestJob) -> None:
        """Record that the window's digest went out (compare-and-set, retried on a concurrent change)."""
        for _ in range(SAVE_TRIES):
            state, revision = await self.store.load(timer.tenant, timer.rule_id)
            if take_digest(state, timer.start, self.clock(), _policy(timer)) is None:
                return
            try:
                await self.store.save(timer.tenant, timer.rule_id, state, revision)
                return
            except KeyWrongLastSequenceError:
                continue
        log.warning("could not mark the digest of rule %s as sent; it may go out twice", timer.rule_id)


def _policy(timer: DigestJob) -> NoisePolicy:
    window = timer.window or {}
    return NoisePolicy(
        budget=int(window.get("budget", 20)), window=float(window.get("length", timer.due - timer.start))
    )


def _counts(window: StormWindow, timer: DigestJob) -> dict[str, Any]:
    return {
        **(timer.window or {}),
        "sent": window.sent,
        "suppressed": window.suppressed,
        "top_keys": [{"group_key": key, "count": count} for key, count in window.top()],
    }


def digest_view(job: DigestJob) -> dict[str, Any]:
    """The digest as senders see an event: the usual fields plus the window's counts and top keys."""
    window = job.window or {}
    start = format_time(datetime.fromtimestamp(job.start, UTC))
    return {
        "event_id": None,
        "transition_id": job.msg_id(),
        "kind": "digest",
        "tenant": job.tenant,
        "rule_id": job.rule_id,
        "rule_name": job.rule_name,
        "severity": "info",
        "priority": None,
        "status": "digest",
        "group_key": "",
        "fingerprint": None,
        "summary": job.text,
        "payload": {},
        "value": None,
        "fired_at": start,
        "at": format_time(datetime.fromtimestamp(job.due, UTC)),
        "count": int(window.get("sent", 0)) + int(window.get("suppressed", 0)),
        "window_start": start,
        "window_end": format_time(datetime.fromtimestamp(job.due, UTC)),
        "sent": window.get("sent", 0),
        "suppressed": window.get("suppressed", 0),
        "top_keys": window.get("top_keys", []),
    }
