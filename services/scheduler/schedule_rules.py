"""The active schedule rules of every tenant, kept current from the rule bucket (a KV watch)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from services.common import codec, subjects
from services.common.domain.rules import Rule

log = logging.getLogger(__name__)

RuleKey = tuple[str, str]  # (tenant, rule_id)
WATCH_WAIT_SECONDS = 5.0
RETRY_SECONDS = 1.0
_DELETED = ("DEL", "PURGE")


def schedulable(key: str, rule: Rule) -> bool:
    """Whether a bucket entry is a rule the scheduler fires: active, a schedule, and names that fit subjects."""
    return (
        rule.active
        and rule.trigger_type == "schedule"
        and key == f"{rule.tenant}.{rule.rule_id}"
        and subjects.valid_tenant(rule.tenant)
        and bool(subjects.RULE_ID_PATTERN.match(rule.rule_id))
    )


class ScheduleRules:
    """Rules by (tenant, rule_id); `changed` is set on every change so the leader recomputes at once."""

    def __init__(self) -> None:
        self.rules: dict[RuleKey, Rule] = {}
        self.loaded = asyncio.Event()  # the bucket's content at start has been read
        self.changed = asyncio.Event()

    def apply(self, key: str, value: bytes | None, deleted: bool) -> None:
        """Take one bucket entry (a put or a deletion) into the set."""
        tenant, _, rule_id = key.partition(".")
        if deleted or not value:
            if self.rules.pop((tenant, rule_id), None) is not None:
                self.changed.set()
            return
        try:
            rule = Rule.model_validate(codec.loads(value))
        except (ValueError, ValidationError) as exc:
            log.warning("unreadable rule %s in the rule bucket skipped: %s", key, exc)
            return
        if schedulable(key, rule):
            held = self.rules.get((tenant, rule_id))
            if held is None or held.version <= rule.version:
                self.rules[(tenant, rule_id)] = rule
                self.changed.set()
        elif self.rules.pop((tenant, rule_id), None) is not None:
            self.changed.set()

    async def follow(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Watch the rule bucket until `stop`; a failed watch starts over from the bucket's content."""
        while not stop.is_set():
            try:
                await self._watch(js, stop)
            except Exception as exc:
                log.warning("watching the rule bucket failed (%s); starting over", exc)
                await _sleep(stop, RETRY_SECONDS)

    async def _watch(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        kv = await js.key_value(subjects.RULES_BUCKET)
        watcher = await kv.watchall()
        seen: set[RuleKey] = set()
        initial = True
        try:
            while not stop.is_set():
                try:
                    entry = await watcher.updates(timeout=WATCH_WAIT_SECONDS)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # the end of what the bucket held when the watch started
                    if initial:
                        self._forget_except(seen)
                        initial = False
                        self.loaded.set()
                    continue
                tenant, _, rule_id = entry.key.partition(".")
                seen.add((tenant, rule_id))
                self.apply(entry.key, entry.value, entry.operation in _DELETED)
        finally:
            await watcher.stop()

    def _forget_except(self, seen: set[RuleKey]) -> None:
        # After a restarted watch, rules that vanished while we were not watching are gone.
        for key in [k for k in self.rules if k not in seen]:
            del self.rules[key]
            self.changed.set()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
