"""Silences and inhibit rules written into their buckets exactly as the gateway's publishers write them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from nats.js.client import JetStreamContext

from services.common.db.tables import InhibitRuleRow, SilenceRow
from services.common.nats import subjects
from services.gateway.publishers.inhibit_rule_publisher import InhibitRules
from services.gateway.publishers.silence_publisher import Silences

CREATED = datetime(2025, 1, 1, tzinfo=UTC)


def matcher(name: str, value: str, kind: str = "=") -> dict[str, str]:
    """A matcher in its stored form."""
    return {"name": name, "type": kind, "value": value}


async def put_silence(
    js: JetStreamContext,
    tenant: str,
    matchers: list[dict[str, str]],
    starts_at: datetime,
    ends_at: datetime | None,
    recurrence: dict[str, Any] | None = None,
) -> str:
    """Store a silence of `tenant` in `cep-silences` as the gateway mirrors it; its id."""
    row = SilenceRow(
        silence_id=str(uuid.uuid4()),
        tenant=tenant,
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        recurrence=recurrence,
        created_by="ops",
        comment="maintenance",
        version=1,
        created_at=CREATED,
        updated_at=CREATED,
    )
    mirrored = Silences()
    kv = await js.key_value(subjects.SILENCES_BUCKET)
    await kv.put(mirrored.key(row), mirrored.entry(row))
    return row.silence_id


async def put_inhibit_rule(
    js: JetStreamContext,
    tenant: str,
    source: list[dict[str, str]],
    target: list[dict[str, str]],
    equal: list[str] | None = None,
) -> str:
    """Store an inhibit rule of `tenant` in `cep-inhibit-rules` as the gateway mirrors it; its id."""
    spec = {"source_matchers": source, "target_matchers": target, "equal": equal or [], "description": None}
    row = InhibitRuleRow(
        rule_id=uuid.uuid4().hex, tenant=tenant, spec=spec, version=1, created_at=CREATED, updated_at=CREATED
    )
    mirrored = InhibitRules()
    kv = await js.key_value(subjects.INHIBIT_RULES_BUCKET)
    await kv.put(mirrored.key(row), mirrored.entry(row))
    return row.rule_id
