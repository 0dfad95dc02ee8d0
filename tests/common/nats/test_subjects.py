"""Which tenant owns a subject (and a work message): only the known tenant shapes, never a last token by chance."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.nats import subjects


def trigger(tenant: str) -> dict[str, Any]:
    return {"kind": "trigger", "event": {"tenant": tenant, "payload": {}}, "rule_id": "r1", "reply": "x"}


def batch(*tenants: str) -> dict[str, Any]:
    return {"kind": "events", "events": [{"seq": 1, "index": n, "event": {"tenant": t}} for n, t in enumerate(tenants)]}


OWNERS: list[tuple[str, dict[str, Any] | None, str | None]] = [
    # the tenant shapes
    ("cep.ingest.team-a", None, "team-a"),
    ("cep.internal.acme", None, "acme"),
    ("cep.alerts.acme", None, "acme"),
    ("cep.acks.acme", None, "acme"),
    ("cep.dead.acme", None, "acme"),
    ("cep.deliver.acme", None, "acme"),
    ("cep.results.acme", None, "acme"),
    ("cep.feed.acme", None, "acme"),
    ("cep.produce.acme", None, "acme"),
    ("cep.scheduler.runs.acme.r-1", None, "acme"),
    ("cep.alerts.acme", {"tenant": "other"}, "acme"),  # a body never overrides the subject
    # tenant shapes with a bad tenant token, or extra or missing tokens
    ("cep.ingest.ACME", None, None),
    ("cep.ingest.a.b", None, None),
    ("cep.ingest", None, None),
    ("cep.ingest.", None, None),
    ("cep.scheduler.runs.acme", None, None),
    ("cep.scheduler.runs.acme.r1.x", None, None),
    # the platform's own subjects, whatever their last token looks like
    ("cep.control.rules", None, None),
    ("cep.control.rules", {"op": "upsert", "tenant": "acme"}, None),
    ("cep.work.epoch", None, None),
    ("cep.trigger.reply.abc", None, None),
    ("cep.notifier.test", None, None),
    ("cep.reports.daily", None, None),
    ("$KV.cep-rules.acme.r1", None, None),
    ("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CEP_WORK.shard-0", None, None),
    ("test.maxdel.acme", None, None),
    ("acme", None, None),
    # work messages: the tenant the message names, when it names exactly one
    ("cep.work.3", None, None),
    ("cep.work.3", trigger("acme"), "acme"),
    ("cep.work.3", {**trigger("acme"), "kind": "event"}, "acme"),
    ("cep.work.0", {"kind": "rule", "change": {"op": "delete", "tenant": "acme"}}, "acme"),
    ("cep.work.1", batch("acme", "acme"), "acme"),
    ("cep.work.1", batch("acme", "globex"), None),
    ("cep.work.1", batch(), None),
    ("cep.work.1", {"kind": "tick", "now": "2024-05-01T12:00:00Z"}, None),
    ("cep.work.1", trigger("ACME"), None),
    ("cep.work.1", {"kind": "trigger", "event": "acme"}, None),
    ("cep.work.1", {"kind": "events", "events": "acme"}, None),
    ("cep.work.1", {"kind": "events", "events": [{"event": None}]}, None),
    ("cep.work.1", {"tenant": "acme"}, None),
    ("cep.work.epoch", trigger("acme"), None),
]


@pytest.mark.parametrize(("subject", "body", "expected"), OWNERS)
def test_owning_tenant(subject: str, body: dict[str, Any] | None, expected: str | None) -> None:
    assert subjects.owning_tenant(subject, body) == expected


def test_every_tenant_subject_builder_maps_back_to_its_tenant() -> None:
    builders = [
        subjects.ingest_subject,
        subjects.internal_subject,
        subjects.alerts_subject,
        subjects.acks_subject,
        subjects.dead_subject,
        subjects.delivery_subject,
        subjects.results_subject,
        subjects.feed_subject,
        subjects.produce_subject,
        lambda tenant: subjects.schedule_runs_subject(tenant, "rule-1"),
    ]
    assert [subjects.owning_tenant(build("team-a")) for build in builders] == ["team-a"] * len(builders)
