"""The rule store on SQLite and PostgreSQL: the version guard, the live-name index, soft delete, keyset order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from services.common.db.sql_engine import Database, open_database
from services.common.domain.rules.model import parse_rule
from services.gateway import row_codec
from services.gateway.store import rules as store
from services.gateway.store.tokens import ensure_tenant

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SPEC = parse_rule(
    {"name": "cpu", "trigger_type": "metric", "trigger_spec": {"metric_name": "cpu", "operator": ">", "threshold": 1}}
)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = open_database(db_url)
    async with database.write() as session:
        await ensure_tenant(session, "acme", T0)
        await ensure_tenant(session, "acme", T0)  # idempotent
    yield database
    await database.dispose()


async def _insert(db: Database, rule_id: str, name: str = "cpu", at: datetime = T0) -> None:
    spec = SPEC.model_copy(update={"name": name})
    async with db.write() as session:
        await store.insert_rule(session, row_codec.new_rule_row(spec, rule_id=rule_id, tenant="acme", now=at))


async def test_update_where_version_lets_exactly_one_concurrent_writer_win(db: Database) -> None:
    await _insert(db, "r1")

    async def write(threshold: int) -> bool:
        async with db.write() as session:  # no row lock taken: the UPDATE's WHERE clause alone decides
            values = {"version": 2, "spec": {**SPEC.canonical(), "trigger_spec": {"threshold": threshold}}}
            await asyncio.sleep(0)
            return await store.update_rule(session, "acme", "r1", 1, values)

    results = await asyncio.gather(*(write(t) for t in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    async with db.read() as session:
        row = await store.get_rule(session, "acme", "r1")
    assert row is not None and row.version == 2


async def test_live_names_are_unique_but_deleted_ones_free_their_name(db: Database) -> None:
    await _insert(db, "r1")
    with pytest.raises(IntegrityError):
        await _insert(db, "r2")
    async with db.write() as session:
        assert await store.update_rule(session, "acme", "r1", 1, {"version": 2, "deleted_at": T0})
    await _insert(db, "r2")
    async with db.read() as session:
        assert await store.get_rule(session, "acme", "r1") is None
        assert await store.name_taken(session, "acme", "cpu")
        assert not await store.name_taken(session, "acme", "cpu", except_rule_id="r2")


async def test_list_order_is_creation_then_id_and_survives_equal_timestamps(db: Database) -> None:
    for rule_id in ("c", "a", "b"):
        await _insert(db, rule_id, name=f"n-{rule_id}", at=T0)
    await _insert(db, "0", name="early", at=datetime(2025, 1, 1, tzinfo=UTC))
    async with db.read() as session:
        rows, total = await store.list_rules(session, "acme", store.RuleFilter(), 10, None)
        assert [r.rule_id for r in rows] == ["0", "a", "b", "c"]
        assert total == 4
        rows, _ = await store.list_rules(session, "acme", store.RuleFilter(), 10, (T0, "a"))
        assert [r.rule_id for r in rows] == ["b", "c"]


async def test_simulation_counts_do_not_touch_the_version(db: Database) -> None:
    await _insert(db, "r1")
    for _ in range(3):
        async with db.write() as session:
            assert await store.count_simulation(session, "acme", "r1", T0, "basis-1")
    async with db.read() as session:
        row = await store.get_rule(session, "acme", "r1")
    assert row is not None
    assert (row.simulation_count, row.last_simulated_at, row.version) == (3, T0, 1)
    async with db.write() as session:
        assert not await store.count_simulation(session, "other", "r1", T0, "basis-1")
