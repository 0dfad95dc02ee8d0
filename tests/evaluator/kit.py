"""Builders for evaluator tests: work messages on a real nats-server, the stored alerts, and the pure-core oracle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event, parse_time
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule
from services.common.messages import codec
from services.common.messages.alerts import alert
from services.common.messages.work import RuleChange, event_from_dict
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from tests.support.nats import read

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def make_rule(body: dict[str, Any], rule_id: str, *, tenant: str = "acme", version: int = 1, **fields: Any) -> Rule:
    """A stored rule from a create body (validated like the API does)."""
    spec = parse_rule({"name": rule_id, "active": True, **body, **fields})
    values = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    stamps = {"created_at": T0, "updated_at": T0 + timedelta(seconds=version)}
    return Rule.model_validate({**values, "rule_id": rule_id, "tenant": tenant, "version": version} | stamps)


def change(rule: Rule, op: str = "upsert") -> RuleChange:
    """The rule change the gateway publishes for this rule version."""
    return RuleChange(
        "delete" if op == "delete" else "upsert",
        rule.tenant,
        rule.rule_id,
        rule.version,
        None if op == "delete" else rule.canonical(),
        rule.updated_at,
    )


def event(n: int, payload: dict[str, Any], when: datetime, *, tenant: str = "acme", kind: str | None = None) -> Event:
    return Event(f"ev-{n}", tenant, when, payload, kind)


async def connect(url: str) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js)
    return nc, js


async def publish(js: JetStreamContext, subject: str, bodies: Sequence[bytes], slice_size: int = 500) -> list[int]:
    """Publish in order of slices (concurrently within one); return the stream sequences in input order."""
    seqs: list[int] = []
    for start in range(0, len(bodies), slice_size):
        acks = await asyncio.gather(*(js.publish(subject, body) for body in bodies[start : start + slice_size]))
        seqs += [ack.seq for ack in acks]
    return seqs


async def publish_in_order(js: JetStreamContext, subject: str, bodies: Sequence[bytes]) -> list[int]:
    """Publish one at a time, so stream order is input order (rule changes before the events that need them)."""
    return [(await js.publish(subject, body)).seq for body in bodies]


async def alerts(js: JetStreamContext) -> list[dict[str, Any]]:
    """Every alert message on CEP_ALERTS (duplicates included), as JSON."""
    return [codec.loads(data) for _, data in await read(js, subjects.ALERTS_STREAM, f"{subjects.ALERTS_PREFIX}.>")]


def oracle(work: Sequence[tuple[int, bytes]]) -> list[dict[str, Any]]:
    """What the pure core computes for a shard's recorded input, one item at a time, as alert JSON.

    Written independently of the actor's code path: its own decoding, one engine call per item.
    """
    engine, actions = RuleEngine(), dict[str, list[dict[str, Any]]]()
    out: list[dict[str, Any]] = []
    for _, data in work:
        try:
            kind, item = _decode(data)
        except (ValueError, KeyError, TypeError):
            continue  # poison: the shard skips it too
        produced: list[Any] = []
        rule_actions: list[dict[str, Any]] | None = None
        if kind == "event":
            try:
                produced = engine.on_events([item])
            except Exception:
                continue  # poison too: the shard isolates it and goes on
        elif kind == "tick":
            produced = engine.on_tick(item)
        elif kind == "rule" and item.op == "delete":
            rule_actions = actions.pop(item.rule_id, [])
            produced = engine.remove_rule(item.rule_id, at=item.at)
        elif kind == "rule":
            rule = Rule.model_validate(item.rule)
            actions[rule.rule_id] = [a.model_dump(mode="json", exclude_none=True) for a in rule.action_spec]
            produced = engine.upsert_rule(rule, at=item.at)
        elif kind == "trigger" and item[0] in actions:
            produced = engine.trigger(*item).transitions
        for transition in produced:
            chosen = rule_actions if rule_actions is not None else actions.get(transition.rule_id, [])
            out.append(codec.loads(alert(transition, chosen)))
    return out


def _decode(data: bytes) -> tuple[str, Any]:
    body = codec.loads(data)
    kind = body["kind"]
    if kind == "event":
        return kind, event_from_dict(body["event"])
    if kind == "tick":
        return kind, parse_time(body["now"])
    if kind == "rule":
        return kind, RuleChange.decode(body["change"])
    if kind == "trigger":
        return kind, (body["rule_id"], event_from_dict(body["event"]))
    raise ValueError(kind)


def by_id(messages: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Alerts by transition id; asserts that every copy of one id has the same content."""
    out: dict[str, dict[str, Any]] = {}
    for message in messages:
        first = out.setdefault(message["transition_id"], message)
        assert first == message, f"two contents for transition {message['transition_id']}"
    return out


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
