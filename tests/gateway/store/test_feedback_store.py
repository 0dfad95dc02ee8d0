"""Rule precision from event feedback on SQLite and PostgreSQL: one grouped query, the latest label counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.common.db.sql_engine import Database, open_database
from services.gateway.recorders import event_record
from services.gateway.store.event_filters import EventFilter
from services.gateway.store.feedback import rule_precision
from services.gateway.store.tokens import ensure_tenant
from tests.gateway.live_gateway import T0, Episode

# (tenant, rule, labels of its events: None = not labelled)
EVENTS = [
    ("acme", "noisy", ["false_positive", "false_positive", "true_positive", None]),
    ("acme", "sharp", ["true_positive", "true_positive"]),
    ("acme", "quiet", [None]),
    ("other", "noisy", ["true_positive"]),  # the same rule id in another tenant never counts for acme
]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = open_database(db_url)
    async with database.write() as session:
        for tenant in ("acme", "other"):
            await ensure_tenant(session, tenant, T0)
        for tenant, rule_id, labels in EVENTS:
            for n, label in enumerate(labels):
                episode = Episode(tenant, rule_id=rule_id, started_at=T0 + timedelta(minutes=n))
                row = event_record.open_event(episode.transition("fired"), [])
                if label is not None:
                    event_record.set_feedback(row, "true_positive", None, "alice", T0)  # relabelled below
                    event_record.set_feedback(row, label, "second look", "bob", T0 + timedelta(hours=1))
                session.add(row)
    yield database
    await database.dispose()


async def test_precision_per_rule(db: Database) -> None:
    async with db.read() as session:
        every = await rule_precision(session, "acme")
        some = await rule_precision(session, "acme", ["sharp", "never-fired"])
    shown = {rule_id: figures.as_dict() for rule_id, figures in every.items()}
    assert shown["noisy"] == {
        "rule_id": "noisy",
        "events": 4,
        "labelled": 3,
        "true_positive": 1,
        "false_positive": 2,
        "precision": pytest.approx(1 / 3),
    }
    assert shown["sharp"]["precision"] == 1.0 and shown["quiet"]["precision"] is None
    assert sorted(some) == ["never-fired", "sharp"]
    assert some["never-fired"].as_dict()["events"] == 0 and some["never-fired"].precision is None


async def test_precision_over_the_events_a_filter_lists(db: Database) -> None:
    """The dashboard's form: only labelled events (`feedback=any`), so a rule without labels is left out."""
    async with db.read() as session:
        labelled = await rule_precision(session, "acme", filters=EventFilter(feedback="any"))
        early = await rule_precision(session, "acme", ["noisy"], EventFilter(until=T0 + timedelta(minutes=1)))
    assert sorted(labelled) == ["noisy", "sharp"]
    noisy = labelled["noisy"]
    assert (noisy.events, noisy.labelled, noisy.true_positive, noisy.false_positive) == (3, 3, 1, 2)
    assert noisy.rule_name and noisy.precision == pytest.approx(1 / 3)
    assert (early["noisy"].events, early["noisy"].false_positive) == (2, 2)  # the first two, both false positives
